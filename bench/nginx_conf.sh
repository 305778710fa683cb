# bench/nginx_conf.sh — sourced by the bench scripts (run.sh, ab.sh,
# nginx_callgrind.sh): the one nginx configuration they measure.
#
#   write_nginx_conf DIR PORT [BACKEND_PORT [KEEPALIVE]]
#
# Writes DIR/nginx.conf and DIR/html/index.html (1 KiB of 'x'), and makes
# DIR/logs and DIR/tmp. nginx runs as one process in the foreground
# (daemon off, master_process off: the worker is the process started, so
# LD_PRELOAD and the shim's exit-time flush apply to it directly), its pid
# file, error log and temporary files under DIR, no access log, a
# keep-alive connection good for a million requests, listening on
# 127.0.0.1:PORT. It serves DIR/html or, given BACKEND_PORT, is a reverse
# proxy to 127.0.0.1:BACKEND_PORT over keep-alive upstream connections
# (HTTP/1.1, no "Connection: close", a pool of KEEPALIVE, default 32), so
# that the proxy -> backend hop costs no connect per request, as in
# production. nginx moves its stderr onto DIR/logs/error.log once it runs:
# the shim's stats line at exit lands there.
write_nginx_conf() {
    local dir=$1 port=$2 site upstream=""
    mkdir -p "$dir/html" "$dir/logs" "$dir/tmp"
    head -c 1024 /dev/zero | tr '\0' 'x' >"$dir/html/index.html"
    if [ -n "${3:-}" ]; then
        upstream="upstream backend {
        server 127.0.0.1:$3;
        keepalive ${4:-32};
        keepalive_requests 1000000;
    }"
        site="location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
        }"
    else
        site="root $dir/html;"
    fi
    cat >"$dir/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    keepalive_requests 1000000;
    $upstream
    server {
        listen 127.0.0.1:$port;
        $site
    }
}
EOF
}
