#!/bin/bash
# setup.sh — fetch and prepare the real third-party decoders the exporter
# tests check our encoders against (DESIGN.md section 6):
#
#   bash tests/peers/setup.sh DIR
#
#   DIR/node_modules/jaeger-client/dist/src/jaeger-idl/thrift/  the Jaeger IDL
#   DIR/gen-py/                      Python code thrift-compiler generated from it
#   DIR/protos/                      the OpenTelemetry .proto files (for protoc)
#   DIR/node_modules/@opentelemetry/  an OpenTelemetry JS SDK with HTTP
#                                    instrumentation and the B3 propagator (the
#                                    B3 interop row of test_matrix.py)
#
# Needs npm and node, thrift (thrift-compiler) and protoc (protobuf-compiler), which
# scripts/install-deps.sh installs. Idempotent: a stamp file naming the
# package versions makes a second run a no-op.
set -euo pipefail

dir=${1:?usage: setup.sh DIR}
jaeger_pkg=jaeger-client@3.19.0
otlp_pkg=@opentelemetry/otlp-grpc-exporter-base@0.34.0
# The OpenTelemetry JS SDK for Node 20: the 2.x / 0.2xx lines (3.x / 0.3xx
# need Node >= 22.15); api 1.9.x is what the 2.12 packages' peer range allows.
otel_pkgs="@opentelemetry/api@1.9.1 @opentelemetry/sdk-trace-node@2.12.0
    @opentelemetry/sdk-trace-base@2.12.0 @opentelemetry/resources@2.12.0
    @opentelemetry/instrumentation@0.223.0 @opentelemetry/instrumentation-http@0.223.0
    @opentelemetry/propagator-b3@2.12.0"
stamp="$dir/.stamp"
want=$(echo $jaeger_pkg $otlp_pkg $otel_pkgs)
# Bump when what is generated from the packages changes.
stamp_text="$want generated:4"

say() { printf 'peers: %s\n' "$*" >&2; }

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$stamp_text" ]; then
    exit 0
fi
for tool in npm node thrift protoc; do
    command -v "$tool" >/dev/null || { say "error: $tool not found (run scripts/install-deps.sh)"; exit 1; }
done

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
say "installing $want into $dir (npm)"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# Trust the system's certificate store as well as node's own: a machine
# whose egress goes through a proxy with a local CA has it only there.
if [ -z "${NODE_EXTRA_CA_CERTS:-}" ] && [ -f /etc/ssl/certs/ca-certificates.crt ]; then
    export NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
fi
# --ignore-scripts: we only want files out of these packages, never to run them.
if ! (cd "$dir" && npm install --no-audit --no-fund --ignore-scripts --omit=dev --save-exact \
        --no-package-lock --prefix "$dir" $want) >"$log" 2>&1; then
    say "error: npm install failed:"
    tail -n 30 "$log" >&2
    exit 1
fi

idl="$dir/node_modules/jaeger-client/dist/src/jaeger-idl/thrift"
protos="$dir/node_modules/@opentelemetry/otlp-grpc-exporter-base/build/protos"
[ -f "$idl/agent.thrift" ] || { say "error: $idl/agent.thrift missing"; exit 1; }
[ -d "$protos/opentelemetry" ] || { say "error: $protos/opentelemetry missing"; exit 1; }
# The OTel SDK must load on this node before any test relies on it.
(cd "$dir" && node -e 'for (const m of ["@opentelemetry/api", "@opentelemetry/sdk-trace-node",
    "@opentelemetry/sdk-trace-base", "@opentelemetry/resources", "@opentelemetry/instrumentation",
    "@opentelemetry/instrumentation-http", "@opentelemetry/propagator-b3"]) require(m)') ||
    { say "error: the OpenTelemetry JS packages do not load with $(node --version)"; exit 1; }

rm -rf "$dir/gen-py"
mkdir -p "$dir/gen-py"
for f in jaeger.thrift zipkincore.thrift agent.thrift sampling.thrift; do
    thrift --gen py -out "$dir/gen-py" "$idl/$f"
done
rm -rf "$dir/protos"
cp -r "$protos" "$dir/protos"
# These protos predate opentelemetry-proto 1.1's span flags (Span field 16
# and Span.Link field 6, both fixed32), which the exporters write: declare
# them with their upstream numbers and types, so that protoc decodes them
# by name instead of as unknown fields, and rejects a wrong wire type.
trace_proto="$dir/protos/opentelemetry/proto/trace/v1/trace.proto"
if ! grep -q 'fixed32 flags = 16;' "$trace_proto"; then
    sed -i -e 's/^  Status status = 15;$/&\n  fixed32 flags = 16;/' \
        -e 's/^    uint32 dropped_attributes_count = 5;$/&\n    fixed32 flags = 6;/' "$trace_proto"
    grep -q 'fixed32 flags = 16;' "$trace_proto" && grep -q 'fixed32 flags = 6;' "$trace_proto" ||
        { say "error: could not declare the span flags in $trace_proto"; exit 1; }
fi
# protoc must accept the request type before any test relies on it.
printf '' | protoc -I "$dir/protos" \
    --decode=opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest \
    opentelemetry/proto/collector/trace/v1/trace_service.proto >/dev/null
printf '%s' "$stamp_text" >"$stamp"
say "ready"
