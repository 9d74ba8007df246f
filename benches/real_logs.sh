#!/usr/bin/env bash
# Precision of the default rules on CLEAN real logs (outside CI; a measurement,
# not a test). Bar: >= 1,000,000 lines of >= 10 kinds, <= 1 changed line per
# 100,000 with the default rules, every changed line listed.
#
# Usage: benches/real_logs.sh [DIR]            (DIR default /tmp/reallogs/logs)
# Environment:
#   REDACTD=path    redactd binary (default target/release/redactd, built with
#                   `cargo build --release` when missing)
#   KINDS="a b"     only these kinds (generation and measurement)
#   MEASURE_ONLY=1  do not generate missing kinds, measure what is there
# Rerun only the measurement: run the script again; a kind whose DIR/KIND.log
# exists is not generated again (delete the file to regenerate it). Generation
# scratch (configs, data dirs, the servers' own files) goes to DIR/work/.
#
# Every log is produced on this machine by RUNNING THE REAL SOFTWARE (Debian 12
# packages, installed with apt-get when missing; all traffic on 127.0.0.1;
# every server started here is stopped before its generator returns). The
# traffic drivers (benches/real_logs.py) send realistic, credential-free
# requests: varied paths, query strings (search terms, utm_*, ad click ids
# gclid/fbclid/msclkid, jQuery cache busters, UUIDs, content-hashed asset
# names), user agents, referers, X-Forwarded-For, harmless cookies; no
# Authorization header, password, API key or session cookie is ever sent, no
# database role has a password. Each kind is cut to a line cap (head -n).
#
#   kind           cap   how
#   nginx-access   200k  nginx 1.22, two servers: `combined` format and an
#                        extended format ($request_time, upstream times,
#                        $http_x_forwarded_for, $request_id), driven by wrk
#                        with a Lua script of 4,000 varied requests (static
#                        files, 301/403/404/405/502/503, proxy to a Python
#                        upstream)
#   nginx-error    100k  the same nginx: error_log at info (404s, upstream
#                        refusals, limit_req) and at debug for one server
#                        driven by 1,000 sequential urllib requests
#   postgresql     200k  PostgreSQL 15 (initdb in DIR/work as user postgres,
#                        unix socket only, trust auth, no passwords):
#                        log_statement=all, log_min_duration_statement=0,
#                        connections, checkpoints, autovacuum, lock waits,
#                        auto_explain for 5% of statements; pgbench -i, then
#                        pgbench in simple, extended and prepared modes, and an
#                        app-like SQL script with errors (unique violation,
#                        syntax error, division by zero)
#   redis          100k  redis-server 7 --loglevel verbose log, then
#                        `redis-cli monitor` captured while redis-benchmark and
#                        a redis-cli script run
#   memcached       80k  memcached -vv, an ascii client doing get/set/incr/
#                        delete/stats on cache keys (some Django cache_page
#                        keys with md5 hex)
#   jvm             80k  OpenJDK 17 unified logging (-Xlog gc*, safepoint,
#                        class+load, jit+compilation, os+thread...) of a small
#                        Java program (javac) using threads, collections, GC
#                        and the JDK's HTTP server/clients in-process
#   java-jul        40k  that program's java.util.logging output
#                        (SimpleFormatter): its own INFO/WARNING records and
#                        the JDK's own FINEST loggers (HttpURLConnection,
#                        com.sun.net.httpserver, jdk.httpclient)
#   apt            all   apt-get install/purge of small leaf packages with
#                        Debug::pkgDPkgPM, pkgProblemResolver and
#                        pkgDepCache::AutoInstall output, plus what it added
#                        to /var/log/dpkg.log, /var/log/apt/term.log and
#                        history.log (packages that were installed before are
#                        left alone)
#   pip             40k  `pip install -vv --no-cache-dir` of several PyPI
#                        packages into a throwaway venv
#   npm             40k  `npm install --loglevel silly` of several npm
#                        packages into a temp dir with an empty cache (npm
#                        logs sha512 integrity hashes)
#   sshd            80k  OpenSSH 9.2 sshd -D -e -o LogLevel=DEBUG3 on
#                        127.0.0.1:2222 (throwaway host keys); an ssh client
#                        makes key logins that succeed, that use a wrong key,
#                        and for users that do not exist (BatchMode, no
#                        passwords)
#   journal         60k  systemd-journald 252 run in a private mount namespace
#                        (a tmpfs on /run, its files in DIR/work): the kernel
#                        ring buffer, sshd (LogLevel VERBOSE) and memcached -v
#                        under systemd-cat while clients run, exported with
#                        `journalctl -o export` then `-o json`
#   git             50k  GIT_TRACE, GIT_TRACE_PACKET, GIT_TRACE_SETUP,
#                        GIT_TRACE_PERFORMANCE and GIT_TRACE2_EVENT/PERF of a
#                        --no-local clone of this repository, fetch, log,
#                        status, gc and fsck in the clone
#   cargo           30k  `cargo build -vv` (CARGO_LOG network/fingerprint
#                        debug) of a scratch crate depending on serde, regex,
#                        anyhow, log and itoa, with its own CARGO_HOME
#   python-http     50k  python3 -m http.server access/error log driven by
#                        wrk with the same request script
#   rsyslog         60k  rsyslogd 8.2302 -dn (debug output) with imfile
#                        reading this machine's dpkg/apt logs and imudp
#                        receiving nginx's syslog error/access messages, then
#                        the file rsyslog wrote
#   prometheus      20k  Prometheus 2.42 --log.level=debug scraping itself and
#                        a closed port, with a query log, while PromQL queries
#                        (good and bad) run; its log then the query log
#
# Generation takes about 15-20 minutes on 2 cores (most in cargo, pip, npm and
# sshd); measurement about a minute. The output is the table (kind, lines,
# changed lines, changed per 100k, TOTAL) then every changed line (kind, line
# number, rule ids of its [REDACTED:...] labels, the line in and out cut at 300
# characters), then the count of changed lines per rule id. Exit status 0
# unless something failed to run.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
helper="$here/benches/real_logs.py"
dir=$(mkdir -p "${1:-/tmp/reallogs/logs}" && cd "${1:-/tmp/reallogs/logs}" && pwd)
work=$dir/work
mkdir -p "$work"
ALL_KINDS="nginx-access nginx-error postgresql redis memcached jvm java-jul apt pip npm sshd journal git cargo python-http rsyslog prometheus"
kinds=${KINDS:-$ALL_KINDS}
failed=0
started=()    # pids of background processes this script started

note() { echo "== $(date -u +%T) $*" >&2; }
stop_started() {
    local p
    for p in "${started[@]}"; do kill "$p" 2>/dev/null; done
    sleep 0.5
    for p in "${started[@]}"; do kill -9 "$p" 2>/dev/null; done
    started=()
}
trap stop_started EXIT
bg() { "$@" & started+=($!); }   # start a background process and remember it
wait_port() { local i; for i in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.1; done; return 1; }
cap() { head -n "$1"; }
need_pkgs() {  # Debian packages, installed without starting their services
    local missing=() p
    for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    note "apt-get install ${missing[*]}"
    local prc=/usr/sbin/policy-rc.d made=0
    if [ ! -e $prc ]; then printf '#!/bin/sh\nexit 101\n' > $prc; chmod +x $prc; made=1; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" > "$work/apt-prereq.out" 2>&1
    local rc=$?
    [ $made = 1 ] && rm -f $prc
    return $rc
}
# --- generators: each writes DIR/KIND.log (via KIND.log.tmp) --------------

gen_nginx() {   # -> nginx-access, nginx-error
    need_pkgs nginx wrk || return 1
    local w=$work/nginx; rm -rf "$w"; mkdir -p "$w"/{logs,tmp,docroot}
    python3 "$helper" docroot "$w/docroot"
    python3 "$helper" wrk-lua 1 > "$w/req.lua"
    cat > "$w/nginx.conf" <<EOF
worker_processes 2;
pid $w/nginx.pid;
error_log $w/logs/error.log info;
events { worker_connections 512; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    client_body_temp_path $w/tmp/body; proxy_temp_path $w/tmp/proxy;
    fastcgi_temp_path $w/tmp/fcgi; uwsgi_temp_path $w/tmp/uwsgi; scgi_temp_path $w/tmp/scgi;
    sendfile on; keepalive_timeout 65; server_tokens off;
    log_format ext '\$remote_addr - \$remote_user [\$time_local] "\$request" \$status \$body_bytes_sent '
                   '"\$http_referer" "\$http_user_agent" "\$http_x_forwarded_for" rt=\$request_time '
                   'uct="\$upstream_connect_time" urt="\$upstream_response_time" ua="\$upstream_addr" rid=\$request_id';
    limit_req_zone \$binary_remote_addr zone=login:1m rate=5r/s;
    upstream app { server 127.0.0.1:18091; keepalive 8; }
    upstream down { server 127.0.0.1:18099; }
    map \$request_method \$bad_method { default 0; PROPFIND 1; }
    server {
        listen 127.0.0.1:18080; listen 127.0.0.1:18083;
        server_name shop.example.com www.example.com;
        root $w/docroot;
        access_log $w/logs/access.log combined;
        access_log $w/logs/access_ext.log ext if=\$server_port;
        location = /login { limit_req zone=login burst=5 nodelay; limit_req_status 503; try_files /index.html =404; }
        location /images/ { }
        location /assets/ { }
        location /old/ { return 301 https://shop.example.com/new/; }
        location /admin/ { deny all; }
        location /app/ { proxy_pass http://app/; proxy_http_version 1.1; proxy_set_header Connection ""; }
        location /down/ { proxy_pass http://down/; }
        location /api/ { default_type application/json; return 200 '{"ok":true}\n'; }
        location /products/ { try_files \$uri /index.html; }
        location /blog/ { try_files \$uri =404; }
        location / { if (\$bad_method) { return 405; } try_files \$uri \$uri/ =404; }
    }
    server {
        listen 127.0.0.1:18082;
        root $w/docroot;
        error_log $w/logs/debug.log debug;
        access_log $w/logs/access_dbg.log combined;
        location /app/ { proxy_pass http://app/; }
        location /down/ { proxy_pass http://down/; }
        location /admin/ { deny all; }
        location / { try_files \$uri \$uri/ =404; }
    }
}
EOF
    bg python3 -m http.server 18091 --bind 127.0.0.1 --directory "$w/docroot" > /dev/null 2>&1
    nginx -c "$w/nginx.conf" -e "$w/logs/error.log" || return 1
    wait_port 18080 && wait_port 18091 || return 1
    note "nginx: wrk on two servers"
    timeout 60 wrk -t2 -c8 -d6s -s "$w/req.lua" http://127.0.0.1:18080 > "$w/wrk1.out"
    timeout 60 wrk -t2 -c8 -d6s -s "$w/req.lua" http://127.0.0.1:18083 > "$w/wrk2.out"
    note "nginx: 1,000 requests at debug level"
    timeout 300 python3 "$helper" http-drive 18082 1000 2
    nginx -c "$w/nginx.conf" -e "$w/logs/error.log" -s quit
    sleep 1; stop_started
    { cap 120000 < "$w/logs/access.log"; cap 80000 < "$w/logs/access_ext.log"; } > "$dir/nginx-access.log.tmp"
    { cap 20000 < "$w/logs/error.log"; cap 80000 < "$w/logs/debug.log"; } > "$dir/nginx-error.log.tmp"
    mv "$dir/nginx-access.log.tmp" "$dir/nginx-access.log"
    mv "$dir/nginx-error.log.tmp" "$dir/nginx-error.log"
}

gen_postgresql() {
    local pgbin=/usr/lib/postgresql/15/bin
    [ -x $pgbin/postgres ] || need_pkgs postgresql-15 || return 1
    local w=$work/postgresql; rm -rf "$w"; mkdir -p "$w/sock"; chown -R postgres "$w"
    local as_pg="runuser -u postgres --"
    cd "$w" || return 1
    $as_pg $pgbin/initdb -D "$w/data" -A trust -U postgres --locale=C.UTF-8 > "$w/initdb.out" 2>&1 || return 1
    cat >> "$w/data/postgresql.conf" <<EOF
listen_addresses = ''
port = 15432
unix_socket_directories = '$w/sock'
log_line_prefix = '%m [%p] %q%u@%d %a '
log_statement = 'all'
log_min_duration_statement = 0
log_connections = on
log_disconnections = on
log_checkpoints = on
log_lock_waits = on
log_temp_files = 0
log_autovacuum_min_duration = 0
autovacuum_naptime = 2
checkpoint_timeout = 30
deadlock_timeout = 100ms
shared_preload_libraries = 'auto_explain'
auto_explain.log_min_duration = 0
auto_explain.sample_rate = 0.02
auto_explain.log_analyze = on
auto_explain.log_buffers = on
EOF
    $as_pg $pgbin/pg_ctl -D "$w/data" -l "$w/server.log" -w start > /dev/null || return 1
    local conn=(-h "$w/sock" -p 15432 -U postgres)
    note "postgresql: pgbench"
    $as_pg $pgbin/createdb "${conn[@]}" shop
    $as_pg $pgbin/pgbench "${conn[@]}" -i -s 2 shop > "$w/pgbench.out" 2>&1
    $as_pg $pgbin/pgbench "${conn[@]}" -c 4 -j 2 -t 700 -M simple shop >> "$w/pgbench.out" 2>&1
    $as_pg $pgbin/pgbench "${conn[@]}" -c 2 -j 2 -t 400 -M extended shop >> "$w/pgbench.out" 2>&1
    $as_pg $pgbin/pgbench "${conn[@]}" -c 4 -j 2 -t 400 -M prepared -C shop >> "$w/pgbench.out" 2>&1
    $as_pg $pgbin/pgbench "${conn[@]}" -c 2 -j 2 -t 1000 -S -M prepared shop >> "$w/pgbench.out" 2>&1
    note "postgresql: app-like SQL"
    python3 "$helper" app-sql > "$w/app.sql"
    $as_pg $pgbin/psql "${conn[@]}" -d shop -q -f "$w/app.sql" > /dev/null 2>&1
    $as_pg $pgbin/pg_ctl -D "$w/data" -w stop > /dev/null
    cd "$here" || return 1
    cap 200000 < "$w/server.log" > "$dir/postgresql.log.tmp" && mv "$dir/postgresql.log.tmp" "$dir/postgresql.log"
}

gen_redis() {
    need_pkgs redis-server redis-tools || return 1
    local w=$work/redis; rm -rf "$w"; mkdir -p "$w"
    bg redis-server --port 16379 --bind 127.0.0.1 --dir "$w" --loglevel verbose --logfile "$w/redis.log" \
        --save 10 100 --appendonly yes --daemonize no
    wait_port 16379 || return 1
    bg redis-cli -p 16379 monitor > "$w/monitor.log"
    sleep 0.5
    note "redis: redis-benchmark and redis-cli"
    redis-benchmark -p 16379 -q -n 2000 -r 100000 -c 20 -k 0 -t ping,set,get,incr,lpush,rpush,lpop,sadd,hset,zadd,lrange_100,mset > "$w/bench.out" 2>&1
    redis-benchmark -p 16379 -q -n 5000 -r 100000 -c 4 -d 64 -t set,get,hset,lpush >> "$w/bench.out" 2>&1
    python3 "$helper" redis-cmds | redis-cli -p 16379 > /dev/null
    redis-cli -p 16379 bgsave > /dev/null; redis-cli -p 16379 bgrewriteaof > /dev/null
    sleep 6
    redis-cli -p 16379 shutdown > /dev/null 2>&1; sleep 0.5
    stop_started
    { cat "$w/redis.log"; cat "$w/monitor.log"; } | cap 100000 > "$dir/redis.log.tmp" && mv "$dir/redis.log.tmp" "$dir/redis.log"
}

gen_memcached() {
    need_pkgs memcached || return 1
    local w=$work/memcached; rm -rf "$w"; mkdir -p "$w"
    bg memcached -vv -u nobody -l 127.0.0.1 -p 11311 -U 0 -m 64 -c 256 2> "$w/memcached.log"
    wait_port 11311 || return 1
    note "memcached: ascii client"
    python3 "$helper" memcached-load 11311 40000
    sleep 0.5; stop_started
    cap 80000 < "$w/memcached.log" > "$dir/memcached.log.tmp" && mv "$dir/memcached.log.tmp" "$dir/memcached.log"
}

# --- main -------------------------------------------------------------------
gen_for() {  # kind -> its generator
    case $1 in
        nginx-access|nginx-error) echo gen_nginx ;;
        jvm|java-jul) echo gen_java ;;
        *) echo "gen_${1//-/_}" ;;
    esac
}
t_gen=$(date +%s)
if [ "${MEASURE_ONLY:-0}" != 1 ]; then
    for k in $kinds; do
        [ -s "$dir/$k.log" ] && continue
        g=$(gen_for "$k")
        t0=$(date +%s)
        note "generating $k ($g)"
        if ! "$g"; then note "!! $g failed"; failed=1; fi
        stop_started
        note "$g done in $(( $(date +%s) - t0 )) s"
    done
fi
t_gen=$(( $(date +%s) - t_gen ))

bin=${REDACTD:-$here/target/release/redactd}
if [ -z "${REDACTD:-}" ] && [ ! -x "$bin" ]; then
    note "building $bin"
    cargo build --release --quiet --manifest-path "$here/Cargo.toml" || exit 1
fi
echo "# redactd real-logs precision, $(date -u +%FT%TZ), $bin ($(cd "$here" && git rev-parse --short HEAD 2>/dev/null)), logs in $dir"
[ $t_gen -gt 5 ] && echo "# generation took $t_gen s"
python3 "$helper" measure "$bin" "$dir" $kinds || failed=1
exit $failed
