#!/bin/bash
# install-deps.sh — install the Debian 12 packages that building traceshim,
# the demo (scripts/demo.sh) and the tests (scripts/test.sh) need.
#
#   bash scripts/install-deps.sh          everything: the build and every test
#   bash scripts/install-deps.sh --demo   the build and the demo only (about
#                                         35 MB installed, not 500)
#
# Idempotent: when every package is already installed it only asks dpkg and
# exits, without touching apt. Otherwise it must run as root; it runs
# `apt-get update` and installs the missing packages without recommends.
# Quiet when nothing is missing; otherwise it says on stderr what it installs
# and shows apt's output only if apt fails.
set -euo pipefail

say() { printf 'install-deps: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

demo_only=
case "${1-}" in
"") ;;
--demo) demo_only=1 ;;
*) die "unknown argument '$1' (usage: install-deps.sh [--demo])" ;;
esac
[ $# -le 1 ] || die "one argument at most (usage: install-deps.sh [--demo])"

# What each group is for; keep one reason per line so the list stays honest.
packages=(
    build-essential   # gcc, make, libc6-dev: the library, the viewer, the unit tests
    cmake pkg-config  # the build
    libcmocka-dev     # unit tests
    libunwind-dev libelf-dev libpcre2-dev # linked into the library
    clang             # fuzz targets (libFuzzer)
    libclang-rt-14-dev # libFuzzer and clang's sanitizer runtimes (only a Recommends of clang)
    python3           # /usr/bin/python3: integration tests, demo services
    curl wget ca-certificates # traced clients in the demo and the integration tests
    wget2             # a traced client that opens its connections by TCP Fast Open (test_wget.py)
    locales           # test_view, test_sampler: de_DE's source (/usr/share/i18n), built with localedef into a decimal-comma LC_NUMERIC (the JSON reader, the sampler's tags)
    faketime          # test_hostile.py: the shim's deadlines under libfaketime's faked clocks (the library only: tshelp.faked_clock_env)
    procps iproute2   # ps and ss: tests check processes and listening ports
    nginx-light       # integration tests (proxy and static server under the shim)
    libssl-dev libgnutls28-dev # integration tests: a C probe calls OpenSSL and GnuTLS (test_tls.py)
    haproxy           # compatibility matrix: a proxy in a chroot, as nobody, that forbids new threads
    apache2           # compatibility matrix: Apache 2.4 (event MPM, children as www-data), static files and mod_proxy_http
    squid             # compatibility matrix: a forward proxy (CONNECT tunnels), root given up for proxy
    lighttpd          # compatibility matrix: static files (sendfile, writev) and mod_proxy
    python3-gunicorn  # compatibility matrix: a prefork WSGI server (sync workers) calling downstream
    perl              # compatibility matrix: HTTP::Tiny (perl-modules) as a client
    ruby              # compatibility matrix: a net/http client under the shim
    php-cli php-curl  # test_deepbind.py: PHP loads its extensions with RTLD_DEEPBIND; php-curl traced; the matrix's php -S
    php-fpm           # test_fastcgi.py: nginx -> php-fpm over FastCGI (fastcgi_pass), php-curl calls from its workers
    redis-server redis-tools # compatibility matrix: a non-HTTP server and client must pass untouched
    python3-urllib3   # compatibility matrix: a urllib3 client (pooled connection, chunked upload)
    git               # compatibility matrix: git over smart HTTP to git-http-backend (Apache's CGI program)
    apt-utils         # compatibility matrix: apt-ftparchive makes the local repository apt's http method downloads from
    thrift-compiler python3-thrift # exporter tests: decode Jaeger datagrams with code generated from the Jaeger IDL
    protobuf-compiler # exporter tests: protoc --decode checks OTLP protobuf bodies
    golang-go         # traceshim check test: builds a Go program (standard library only) to check
    wrk valgrind      # bench/run.sh: HTTP load, and instructions per call (callgrind)
    dpkg-dev          # cpack -G DEB: dpkg-shlibdeps computes the package's Depends
    file              # cpack -G DEB: CPackDeb runs file(1) on the binaries before dpkg-shlibdeps
    debootstrap       # package test: a fresh Debian 12 root to install the .deb into
    groff-base        # docs lint: the manual page must format without warnings (groff -man -ww)
    chromium chromium-driver # the HTML report's test: a real browser (headless) driven over WebDriver
)
# npm fetches the Jaeger IDL and the OTLP .proto files (tests/peers/setup.sh).
# A machine that already has a Node.js with npm (e.g. from another source)
# keeps it: Debian's npm package would conflict with it.
if ! command -v npm >/dev/null 2>&1; then
    packages+=(nodejs npm)
fi
# What scripts/demo.sh needs (its build leaves the tests out: -DTS_TESTS=OFF).
if [ -n "$demo_only" ]; then
    packages=(
        build-essential cmake pkg-config # the build
        libunwind-dev libelf-dev libpcre2-dev # the library and the command
        python3 curl # the demo's services and its client
    )
fi

command -v dpkg-query >/dev/null 2>&1 ||
    die "dpkg-query not found: this script is for Debian 12 (bookworm)"

# Ask dpkg once for all of them; unknown names print nothing on stdout (and a
# complaint on stderr we do not need), so they simply count as missing.
declare -A state=()
while read -r name status; do
    [ -n "$name" ] && state[$name]=$status
done < <(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${packages[@]}" 2>/dev/null || true)

missing=()
for p in "${packages[@]}"; do
    [ "${state[$p]:-}" = installed ] || missing+=("$p")
done

[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    die "missing Debian packages: ${missing[*]}
install-deps: run this script as root (for example: su -c 'bash scripts/install-deps.sh'),
install-deps: or install them yourself: apt-get install --no-install-recommends ${missing[*]}"
fi
command -v apt-get >/dev/null 2>&1 || die "apt-get not found; install by hand: ${missing[*]}"

say "installing ${#missing[@]} package(s): ${missing[*]}"
say "(apt-get update and install; this can take a few minutes on a fresh machine)"

log=$(mktemp "${TMPDIR:-/tmp}/install-deps.XXXXXX")
policy=/usr/sbin/policy-rc.d
made_policy=
cleanup() {
    rm -f "$log"
    [ -z "$made_policy" ] || rm -f "$policy"
}
trap cleanup EXIT

# nginx-light's postinst would start a system nginx on port 80, apache2's a
# system Apache (its postinst runs `invoke-rc.d apache2 restart`). The tests
# run their own, so keep the packages from starting services — but only when
# the machine has no policy of its own (Debian's documented invoke-rc.d hook).
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# temporary, written by traceshim scripts/install-deps.sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    made_policy=1
fi

run_apt() {
    if ! "$@" >"$log" 2>&1; then
        say "error: '$*' failed; its output:"
        tail -n 40 "$log" >&2
        exit 1
    fi
}

export DEBIAN_FRONTEND=noninteractive
# A fresh machine's unattended-upgrades may hold apt's locks for a while:
# `update` fails at once then, so it is tried again (5 minutes at most);
# `install` waits for the dpkg lock itself.
updated=
for try in $(seq 30); do
    apt-get update >"$log" 2>&1 && { updated=1; break; }
    grep -q 'Could not get lock' "$log" || break
    [ "$try" -gt 1 ] || say "apt's lists are locked by another process; waiting for it"
    sleep 10
done
[ -n "$updated" ] || run_apt apt-get update # once more, and its output if it fails
run_apt apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends "${missing[@]}"

# Check, so a package apt skipped for some reason does not surface later as a
# confusing build error.
still=()
for p in "${missing[@]}"; do
    s=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [ "$s" = installed ] || still+=("$p")
done
[ ${#still[@]} -eq 0 ] || die "apt-get finished but these are still not installed: ${still[*]}"
say "done"
