#!/usr/bin/env bash
# Precision of the default rules on CLEAN real logs (outside CI; a measurement,
# not a test). Bar: >= 1,000,000 lines of >= 10 kinds, <= 1 changed line per
# 100,000 with the default rules, every changed line listed.
#
# Usage: benches/real_logs.sh [DIR]            (DIR default /tmp/reallogs/logs)
# Environment:
#   REDACTD=path    redactd binary (default target/release/redactd, built with
#                   `cargo build --release` when missing or older than HEAD)
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
#   kind (lines)   how it is generated
#   nginx-access   nginx 1.22, two servers on 127.0.0.1: `combined` format
#     (200k)       (120k lines) and an extended format ($request_time,
#                  upstream times, $http_x_forwarded_for, $request_id; 80k),
#                  driven by wrk with a Lua script of 4,000 varied requests
#                  (static files, 301/403/404/405/502/503, limit_req, proxy
#                  to a Python upstream and to a closed port)
#   nginx-error    the same nginx: error_log at info (404s, upstream
#     (100k)       refusals; 20k) and at debug for one server driven by
#                  1,000 sequential urllib requests (80k)
#   postgresql     PostgreSQL 15 (initdb in DIR/work as user postgres, unix
#     (~160k)      socket only, trust auth, no role has a password):
#                  log_statement=all, log_min_duration_statement=0,
#                  connections, checkpoints, autovacuum, auto_explain for 2%
#                  of statements; pgbench -i, pgbench in simple, extended
#                  (bind parameters) and prepared modes, then an app-like SQL
#                  script with example.com e-mails and errors (unique
#                  violation, syntax error, division by zero)
#   redis (100k)   redis-server 7 --loglevel verbose (50k), then `redis-cli
#                  monitor` (50k) while redis-benchmark and a redis-cli script
#                  of app-like commands (hashes, caches, queues) run
#   memcached      memcached -vv with an ascii client doing get/set/incr/
#     (80k)        delete/stats on app cache keys (some Django cache_page keys
#                  with md5 hex)
#   jvm (~62k)     OpenJDK 17 unified logging (-Xlog:all=info plus gc*,
#                  jit+compilation, class+load, safepoint, os, module,
#                  monitorinflation at debug) of javac compiling a small
#                  program (30k), then of that program's 25 s run (threads,
#                  GC pressure, the JDK's HTTP server and both HTTP clients)
#   java-jul (50k) that run's java.util.logging output (SimpleFormatter):
#                  the program's INFO/WARNING/SEVERE records with real stack
#                  traces and the JDK's own FINE..FINEST loggers
#                  (HttpURLConnection, com.sun.net.httpserver, jdk.httpclient
#                  headers incl. HTTP2-Settings)
#   apt (~21k)     apt-get install, --reinstall and purge of 13 small leaf
#                  packages and their dependencies (those already installed
#                  are left out; exactly what was added is purged) with dpkg
#                  --debug=13 and Debug::pkgProblemResolver/pkgDepCache
#                  output, then what that added to /var/log/dpkg.log,
#                  /var/log/apt/term.log and history.log
#   pip (~28k)     `pip install -vvv --no-cache-dir` of 9 PyPI packages
#                  (requests, flask, boto3, numpy...) into a throwaway venv
#   npm (~11k)     `npm install --loglevel silly` of 11 packages with an empty
#                  cache, `npm ci --loglevel silly`, then `npm pack --dry-run`
#                  in 120 installed packages (shasum, sha512 integrity)
#   sshd (~102k)   OpenSSH 9.2 `sshd -D -e` at LogLevel DEBUG3 on
#                  127.0.0.1:2222 (throwaway keys; 100k) while 420 clients log
#                  in with a good key, a wrong key, as users that do not exist
#                  (BatchMode, no passwords) and over sftp; then 12 `ssh -vvv`
#                  client logs
#   journal (~65k) systemd-journald 252 run in a private mount namespace (a
#                  tmpfs on /run, its files in DIR/work): the kernel ring
#                  buffer, sshd (VERBOSE), memcached -vv and python3 -m
#                  http.server under systemd-cat while clients run; `journalctl
#                  -o export` (60k) then `-o json`
#   containers     podman 4.3 (runc, cgroupfs, vfs storage) in a private mount
#     (~27k)       namespace: `podman --log-level=debug` import of a busybox
#                  image, `kube play` of a Kubernetes Pod (busybox httpd -vv,
#                  a wget -S client replaying 4,000 requests, a status loop),
#                  ps/exec/logs/top/stop/rm; then the containers' k8s-file
#                  logs (the CRI format of Kubernetes' /var/log/pods) and
#                  podman's events log
#   git (~21k)     GIT_TRACE, _PACKET, _SETUP, _PERFORMANCE, _REFS,
#                  _PACK_ACCESS and GIT_TRACE2_EVENT/PERF of --no-local clones
#                  of this repository (protocol v2 and v0), then checkout,
#                  fetch, commit, tag, push, gc, fsck and show/cat-file/
#                  diff-tree of 120 commits in the clone
#   cargo (~13k)   `cargo build -vv` (CARGO_LOG sources/network/fingerprint
#                  debug), a rebuild with fingerprint trace and `cargo build
#                  --release -vv` of a scratch crate depending on serde,
#                  regex, tokio, clap, chrono, rand, tracing... (own
#                  CARGO_HOME and target dir, downloads from crates.io)
#   python-http    python3 -m http.server access/error log driven for 25 s by
#     (80k)        wrk with the same kind of request script
#   rsyslog (~75k) rsyslogd 8.2302 -dn debug output (60k) with imfile reading
#                  this machine's dpkg/apt/alternatives logs, impstats, and
#                  imudp receiving an nginx's error and access logs over
#                  syslog; then the files rsyslog wrote
#   prometheus     Prometheus 2.42 --log.level=debug scraping itself and two
#     (~3k)        closed ports, recording and alerting rules, a config
#                  reload, 3,000 PromQL queries (some invalid); its log, then
#                  its JSON query log
#
# Generation takes about 10 minutes on 2 cores (most in cargo, sshd, npm);
# measurement a few seconds. Rerun only the measurement:
#   benches/real_logs.sh [DIR]        (or MEASURE_ONLY=1 benches/real_logs.sh)
# Regenerate one kind: rm DIR/KIND.log; KINDS=KIND benches/real_logs.sh [DIR]
# The output is the table (kind, lines, changed lines, changed per 100k,
# TOTAL), then every changed line (kind, line number, rule ids of its
# [REDACTED:...] labels, the line in and out cut at 300 characters), then the
# count of changed lines per rule id. Exit status 0 unless something failed
# to run (a generator, redactd, or a line-count mismatch).
#
# Side effects outside DIR: apt-get installs missing Debian packages (with a
# temporary policy-rc.d so that no service starts) and the apt kind installs
# and purges its test packages; nothing else is left running or installed.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
helper="$here/benches/real_logs.py"
dir=$(mkdir -p "${1:-/tmp/reallogs/logs}" && cd "${1:-/tmp/reallogs/logs}" && pwd)
work=$dir/work
mkdir -p "$work"
ALL_KINDS="nginx-access nginx-error postgresql redis memcached jvm java-jul apt pip npm sshd journal containers git cargo python-http rsyslog prometheus"
kinds=${KINDS:-$ALL_KINDS}
failed=0
started=()    # pids of background processes this script started

note() { echo "== $(date -u +%T) $*" >&2; }
stop_started() {  # TERM, up to 5 s, then KILL, every process this script started
    local p i
    for p in "${started[@]}"; do kill "$p" 2>/dev/null; done
    for i in $(seq 50); do
        local alive=0
        for p in "${started[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
        [ $alive = 0 ] && break
        sleep 0.1
    done
    for p in "${started[@]}"; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    started=()
}
trap stop_started EXIT
bg() { "$@" & started+=($!); }   # start a background process and remember it
wait_port() { local i; for i in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.1; done; return 1; }
emit() {  # emit KIND FILE:CAP... -> DIR/KIND.log: the first CAP lines of each FILE
    local kind=$1 spec; shift
    for spec; do head -n "${spec##*:}" "${spec%:*}" || return 1; done > "$dir/$kind.log.tmp" &&
        mv "$dir/$kind.log.tmp" "$dir/$kind.log"
}
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
    map \$server_port \$log_combined { 18080 1; default 0; }
    map \$server_port \$log_ext { 18083 1; default 0; }
    server {
        listen 127.0.0.1:18080; listen 127.0.0.1:18083;
        server_name shop.example.com www.example.com;
        root $w/docroot;
        access_log $w/logs/access.log combined if=\$log_combined;
        access_log $w/logs/access_ext.log ext if=\$log_ext;
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
    sleep 0.2; started+=($(cat "$w/nginx.pid"))   # so that a failure below still stops it
    wait_port 18080 && wait_port 18091 || return 1
    note "nginx: wrk on two servers"
    timeout 60 wrk -t2 -c8 -d6s -s "$w/req.lua" http://127.0.0.1:18080 > "$w/wrk1.out"
    timeout 60 wrk -t2 -c8 -d6s -s "$w/req.lua" http://127.0.0.1:18083 > "$w/wrk2.out"
    note "nginx: 1,000 requests at debug level"
    timeout 300 python3 "$helper" http-drive 18082 1000 2
    nginx -c "$w/nginx.conf" -e "$w/logs/error.log" -s quit
    sleep 1; stop_started
    emit nginx-access "$w/logs/access.log:120000" "$w/logs/access_ext.log:80000" &&
        emit nginx-error "$w/logs/error.log:20000" "$w/logs/debug.log:80000"
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
    started+=($(head -1 "$w/data/postmaster.pid"))   # so that a failure below still stops it
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
    rm -rf "$w/data"
    emit postgresql "$w/server.log:200000"
}

gen_redis() {
    need_pkgs redis-server redis-tools || return 1
    local w=$work/redis; rm -rf "$w"; mkdir -p "$w"
    bg redis-server --port 16379 --bind 127.0.0.1 --dir "$w" --loglevel verbose --logfile "$w/redis.log" \
        --save 10 100 --appendonly yes --daemonize no
    wait_port 16379 || return 1
    bg redis-cli -p 16379 monitor > "$w/monitor.log" 2> /dev/null
    sleep 0.5
    note "redis: redis-benchmark and redis-cli"
    redis-benchmark -p 16379 -q -n 2000 -r 100000 -c 20 -k 0 -t ping,set,get,incr,lpush,rpush,lpop,sadd,hset,zadd,lrange_100,mset > "$w/bench.out" 2>&1
    redis-benchmark -p 16379 -q -n 5000 -r 100000 -c 4 -d 64 -t set,get,hset,lpush >> "$w/bench.out" 2>&1
    python3 "$helper" redis-cmds | redis-cli -p 16379 > /dev/null
    redis-cli -p 16379 bgsave > /dev/null; redis-cli -p 16379 bgrewriteaof > /dev/null
    sleep 6
    redis-cli -p 16379 shutdown > /dev/null 2>&1; sleep 0.5
    stop_started
    emit redis "$w/redis.log:50000" "$w/monitor.log:50000"
}

gen_memcached() {
    need_pkgs memcached || return 1
    local w=$work/memcached; rm -rf "$w"; mkdir -p "$w"
    bg memcached -vv -u nobody -l 127.0.0.1 -p 11311 -U 0 -m 64 -c 256 2> "$w/memcached.log"
    wait_port 11311 || return 1
    note "memcached: ascii client"
    python3 "$helper" memcached-load 11311 40000
    sleep 0.5; stop_started
    emit memcached "$w/memcached.log:80000"
}

gen_java() {   # -> jvm, java-jul
    command -v javac > /dev/null || need_pkgs openjdk-17-jdk-headless || return 1
    local w=$work/java; rm -rf "$w"; mkdir -p "$w/classes"
    python3 "$helper" java-src "$w"
    local xlog="all=info,gc*=debug,jit+compilation=debug,class+load=debug,class+init=info,exceptions=info,safepoint*=debug,os*=debug,module=debug,cds=debug,codecache=debug,monitorinflation=debug,thread*=debug"
    note "java: javac with -Xlog"
    javac -J-XX:-UsePerfData "-J-Xlog:$xlog:file=$w/javac-jvm.log:uptime,tid,level,tags:filecount=0" \
        -d "$w/classes" "$w/src/com/example/shop/Shop.java" || return 1
    note "java: 25 s run of the program"
    timeout 120 java -XX:-UsePerfData -Xmx256m -XX:+UseG1GC "-Xlog:$xlog:file=$w/jvm.log:uptime,tid,level,tags:filecount=0" \
        -Djava.util.logging.config.file="$w/logging.properties" -Djdk.httpclient.HttpClient.log=requests,headers,errors \
        -cp "$w/classes" com.example.shop.Shop 25 > "$w/stdout.log" 2> "$w/jul.log" || return 1
    emit jvm "$w/javac-jvm.log:30000" "$w/jvm.log:50000" && emit java-jul "$w/jul.log:50000" "$w/stdout.log:10000"
}

gen_apt() {
    local w=$work/apt; rm -rf "$w"; mkdir -p "$w/archives/partial"
    local p pkgs=()
    for p in cowsay figlet sl tree htop ncdu toilet fortune-mod lynx units dos2unix rename pv; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || pkgs+=("$p")
    done
    [ ${#pkgs[@]} -gt 0 ] || { note "apt: all test packages already installed"; return 1; }
    local logs=(/var/log/dpkg.log /var/log/apt/term.log /var/log/apt/history.log) f
    for f in "${logs[@]}"; do touch "$f"; stat -c %s "$f" > "$w/$(basename "$f").offset"; done
    local prc=/usr/sbin/policy-rc.d made=0
    if [ ! -e $prc ]; then printf '#!/bin/sh\nexit 101\n' > $prc; chmod +x $prc; made=1; fi
    local dbg=(-o Debug::pkgProblemResolver=1 -o Debug::pkgDepCache::AutoInstall=1
               -o Debug::pkgDepCache::Marker=1 -o Debug::pkgPackageManager=1 -o Dir::Cache::Archives="$w/archives"
               -o DPkg::Options::=--debug=13)
    note "apt: install/purge ${pkgs[*]}"
    export DEBIAN_FRONTEND=noninteractive
    installed() { dpkg-query -W -f='${db:Status-Abbrev} ${binary:Package}\n' | awk '$1 == "ii" {print $2}' | sort; }
    installed > "$w/before.txt"
    {   # purge exactly what the install added (no autoremove: it could take other orphans)
        apt-get install -y "${dbg[@]}" "${pkgs[@]}"
        installed | comm -13 "$w/before.txt" - > "$w/added.txt"
        apt-get install -y --reinstall -o Dir::Cache::Archives="$w/archives" "${pkgs[@]:0:4}"
        apt-get purge -y "${dbg[@]}" $(cat "$w/added.txt")
        apt-get install -y -o Dir::Cache::Archives="$w/archives" "${pkgs[@]}"
        apt-get purge -y $(installed | comm -13 "$w/before.txt" -)
    } > "$w/apt-get.out" 2>&1
    installed | comm -3 "$w/before.txt" - > "$w/left.txt"
    [ -s "$w/left.txt" ] && note "apt: !! installed packages differ from before: $(tr '\n' ' ' < "$w/left.txt")"
    [ $made = 1 ] && rm -f $prc
    for f in "${logs[@]}"; do tail -c +$(( $(cat "$w/$(basename "$f").offset") + 1 )) "$f" > "$w/$(basename "$f")"; done
    emit apt "$w/apt-get.out:100000" "$w/dpkg.log:100000" "$w/term.log:100000" "$w/history.log:100000"
}

gen_pip() {
    local w=$work/pip; rm -rf "$w"; mkdir -p "$w"
    python3 -m venv "$w/venv" || return 1
    note "pip: install -vvv into a throwaway venv"
    PIP_FIND_LINKS= timeout 600 "$w/venv/bin/pip" install -vvv --no-cache-dir --disable-pip-version-check \
        requests flask pyyaml sqlalchemy rich boto3 numpy python-dateutil attrs > "$w/pip.log" 2>&1
    rm -rf "$w/venv"   # scratch: only the log is kept
    emit pip "$w/pip.log:40000"
}

gen_npm() {
    local w=$work/npm; rm -rf "$w"; mkdir -p "$w/proj"
    ( cd "$w/proj" && npm init -y > /dev/null ) || return 1
    note "npm: install --loglevel silly with an empty cache"
    local npmo=(--cache "$w/cache" --no-audit --no-fund --no-update-notifier)
    ( cd "$w/proj" && timeout 400 npm install --loglevel silly "${npmo[@]}" \
        express lodash axios react react-dom typescript eslint webpack moment uuid jest > "$w/npm.log" 2>&1
      rm -rf node_modules
      timeout 300 npm ci --loglevel silly "${npmo[@]}" >> "$w/npm.log" 2>&1
      note "npm: pack --dry-run of 120 installed packages (shasum, sha512 integrity)"
      for d in $(ls -d node_modules/*/ node_modules/@*/*/ 2>/dev/null | head -120); do
          ( cd "$d" && timeout 30 npm pack --dry-run --loglevel notice "${npmo[@]}" ) >> "$w/npm.log" 2>&1
      done )
    rm -rf "$w/cache" "$w/proj/node_modules"
    emit npm "$w/npm.log:40000"
}

sshd_setup() {  # sshd_setup WORKDIR LOGLEVEL PORT: throwaway host and client keys, a config
    local w=$1
    need_pkgs openssh-server openssh-client || return 1
    mkdir -p "$w"
    ssh-keygen -q -t ed25519 -N '' -C 'bench host' -f "$w/host_ed25519" < /dev/null
    ssh-keygen -q -t rsa -b 2048 -N '' -C 'bench host' -f "$w/host_rsa" < /dev/null
    ssh-keygen -q -t ed25519 -N '' -C 'deploy@ci' -f "$w/client_ok" < /dev/null
    ssh-keygen -q -t ecdsa -N '' -C 'old-laptop' -f "$w/client_bad" < /dev/null
    cp "$w/client_ok.pub" "$w/authorized_keys"; chmod 600 "$w/authorized_keys"
    cat > "$w/sshd_config" <<EOF
Port $3
ListenAddress 127.0.0.1
HostKey $w/host_ed25519
HostKey $w/host_rsa
PidFile $w/sshd.pid
AuthorizedKeysFile $w/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
LogLevel $2
MaxStartups 50
Subsystem sftp internal-sftp
EOF
}

ssh_clients() {  # ssh_clients WORKDIR PORT N: N logins of several kinds, 2 at a time
    local w=$1 port=$2 n=$3 i pids=()
    local o=(-p "$port" -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o ConnectTimeout=5)
    for i in $(seq "$n"); do
        case $((i % 6)) in
            0|1) timeout 20 ssh "${o[@]}" -i "$w/client_ok" root@127.0.0.1 "uname -a; id; ls /tmp > /dev/null" ;;
            2) timeout 20 ssh "${o[@]}" -i "$w/client_bad" root@127.0.0.1 true ;;
            3) timeout 20 ssh "${o[@]}" -i "$w/client_ok" "$(echo admin test oracle ubuntu git deploy postgres | tr ' ' '\n' | shuf -n1)"@127.0.0.1 true ;;
            4) echo "ls" | timeout 20 sftp -P "$port" -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -i "$w/client_ok" root@127.0.0.1 ;;
            5) timeout 20 ssh "${o[@]}" -i "$w/client_ok" -o KexAlgorithms=curve25519-sha256 -o Ciphers=aes128-gcm@openssh.com root@127.0.0.1 "cat /etc/os-release" ;;
        esac > /dev/null 2>&1 &
        pids+=($!)
        if [ $((i % 2)) = 0 ]; then wait "${pids[@]}"; pids=(); fi
    done
    [ ${#pids[@]} = 0 ] || wait "${pids[@]}"
}

gen_sshd() {
    local w=$work/sshd; rm -rf "$w"
    sshd_setup "$w" DEBUG3 2222 || return 1
    local made_run=0; [ -d /run/sshd ] || { mkdir -p /run/sshd; made_run=1; }   # sshd's privsep dir
    bg /usr/sbin/sshd -D -e -f "$w/sshd_config" 2> "$w/sshd.log"
    wait_port 2222 || return 1
    note "sshd: 420 client connections"
    ssh_clients "$w" 2222 420
    note "sshd: 12 client connections with ssh -vvv"
    local i u k
    for i in $(seq 12); do
        case $((i % 3)) in 0) u=root; k=client_ok ;; 1) u=root; k=client_bad ;; 2) u=backup; k=client_ok ;; esac
        timeout 20 ssh -vvv -p 2222 -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
            -i "$w/$k" "$u@127.0.0.1" "uptime" >> "$w/client.log" 2>&1
    done
    stop_started
    [ $made_run = 1 ] && rmdir /run/sshd
    emit sshd "$w/sshd.log:100000" "$w/client.log:15000"
}

gen_journal() {  # systemd-journald in a private mount namespace (see journal_inner)
    [ -x /lib/systemd/systemd-journald ] || need_pkgs systemd || return 1
    need_pkgs memcached || return 1
    local w=$work/journal; rm -rf "$w"; mkdir -p "$w/varlog"
    sshd_setup "$w/ssh" VERBOSE 2223 || return 1
    REAL_LOGS_INNER=journal timeout 600 unshare -m bash "$here/benches/real_logs.sh" "$dir" || return 1
    emit journal "$w/export.log:60000" "$w/json.log:15000"
}

journal_inner() {  # runs as `unshare -m`: nothing it mounts is seen outside
    local w=$work/journal
    mount --make-rprivate / && mount -t tmpfs tmpfs /run && mount --bind "$w/varlog" /var/log/journal || return 1
    mkdir -p /run/sshd /run/systemd/journal
    bg /lib/systemd/systemd-journald
    local i; for i in $(seq 50); do [ -S /run/systemd/journal/stdout ] && break; sleep 0.1; done
    bg systemd-cat -t sshd /usr/sbin/sshd -D -e -f "$w/ssh/sshd_config"
    bg systemd-cat -t memcached memcached -vv -u nobody -l 127.0.0.1 -p 11312 -U 0
    bg systemd-cat -t shop-web --level-prefix=false python3 -u -m http.server 18092 --bind 127.0.0.1 --directory "$work/nginx/docroot"
    wait_port 2223 && wait_port 11312 && wait_port 18092 || return 1
    note "journal: sshd, memcached and http.server clients"
    mkdir -p "$work/nginx/docroot"
    ssh_clients "$w/ssh" 2223 120 &
    local sp=$!
    python3 "$helper" http-drive 18092 1500 3
    python3 "$helper" memcached-load 11312 400
    wait $sp
    sleep 1; stop_started
    journalctl -o export --no-pager > "$w/export.log"
    journalctl -o json --no-pager > "$w/json.log"
}

gen_git() {
    local w=$work/git; rm -rf "$w"; mkdir -p "$w"
    note "git: traced clone, fetch, log, status, gc, fsck"
    (
        export GIT_TRACE=1 GIT_TRACE_PACKET=1 GIT_TRACE_SETUP=1 GIT_TRACE_PERFORMANCE=1 GIT_TRACE_REFS=1
        export GIT_TRACE_PACK_ACCESS="$w/pack-access.log"
        export GIT_TRACE2_EVENT="$w/trace2-event.log" GIT_TRACE2_PERF="$w/trace2-perf.log"
        export GIT_CONFIG_NOSYSTEM=1 GIT_AUTHOR_NAME="Bench Author" GIT_AUTHOR_EMAIL=author@example.com
        export GIT_COMMITTER_NAME="Bench Author" GIT_COMMITTER_EMAIL=author@example.com
        timeout 300 git clone --no-local --no-checkout "$here" "$w/clone"
        cd "$w/clone" || exit 1
        git -c advice.detachedHead=false checkout -q "$(git rev-parse HEAD~40)"
        git checkout -q -
        git log --oneline -n 50 > /dev/null
        git status > /dev/null
        git fetch origin
        git branch -a > /dev/null
        git rev-list --count HEAD > /dev/null
        git blame -s README.md > /dev/null
        git diff HEAD~5 --stat > /dev/null
        echo "scratch" > scratch.txt; git add scratch.txt; git commit -q -m "scratch commit"
        git tag -a v0.0.0-bench -m "bench tag"
        git clone --no-local --bare . "$w/mirror.git"
        git push "$w/mirror.git" HEAD:refs/heads/bench
        git gc --quiet
        git fsck --no-progress
        git -c protocol.version=0 clone --no-local --bare "$here" "$w/v0.git"
        for c in $(git rev-list -n 120 HEAD); do
            git show --stat "$c" > /dev/null
            git cat-file -p "$c" > /dev/null
            git diff-tree -r --name-status "$c" > /dev/null
        done
    ) > /dev/null 2> "$w/trace.log"
    emit git "$w/trace.log:30000" "$w/trace2-perf.log:10000" "$w/trace2-event.log:6000" "$w/pack-access.log:4000"
}

gen_cargo() {
    local w=$work/cargo; rm -rf "$w"; mkdir -p "$w/home" "$w/proj/src"
    cat > "$w/proj/Cargo.toml" <<EOF
[package]
name = "bench-app"
version = "0.1.0"
edition = "2021"

[dependencies]
serde = { version = "1", features = ["derive"] }
serde_json = "1"
regex = "1"
anyhow = "1"
log = "0.4"
itoa = "1"
tokio = { version = "1", features = ["full"] }
clap = { version = "4", features = ["derive"] }
chrono = "0.4"
rand = "0.8"
thiserror = "1"
tracing = "0.1"
tracing-subscriber = "0.3"
bytes = "1"
once_cell = "1"
EOF
    cat > "$w/proj/src/main.rs" <<'EOF'
use serde::{Deserialize, Serialize};
#[derive(Serialize, Deserialize, Debug)]
struct Order { id: u64, sku: String }
fn main() -> anyhow::Result<()> {
    let re = regex::Regex::new(r"SKU-\d+")?;
    let o: Order = serde_json::from_str(r#"{"id":1,"sku":"SKU-1234"}"#)?;
    log::info!("{:?} {}", o, re.is_match(&o.sku));
    println!("{}", itoa::Buffer::new().format(o.id));
    Ok(())
}
EOF
    note "cargo: build -vv with its own CARGO_HOME (downloads from crates.io)"
    local env=(CARGO_HOME="$w/home" CARGO_TARGET_DIR="$w/target" CARGO_TERM_COLOR=never PATH="$HOME/.cargo/bin:$PATH")
    ( cd "$w/proj" &&
      env "${env[@]}" CARGO_LOG=cargo::sources=debug,cargo::util::network=debug,cargo::core::compiler::fingerprint=info \
        timeout 600 cargo build -vv -j 2 > "$w/cargo.log" 2>&1 &&
      echo "// touched" >> src/main.rs &&
      env "${env[@]}" CARGO_LOG=cargo::core::compiler::fingerprint=trace timeout 300 cargo build -vv -j 2 >> "$w/cargo.log" 2>&1 &&
      env "${env[@]}" timeout 600 cargo build --release -vv -j 2 >> "$w/cargo.log" 2>&1 ) || return 1
    rm -rf "$w/target" "$w/home"
    emit cargo "$w/cargo.log:30000"
}

gen_python_http() {
    need_pkgs wrk || return 1
    local w=$work/python-http; rm -rf "$w"; mkdir -p "$w/docroot"
    python3 "$helper" docroot "$w/docroot"
    python3 "$helper" wrk-lua 4 > "$w/req.lua"
    bg python3 -u -m http.server 18093 --bind 127.0.0.1 --directory "$w/docroot" > "$w/stdout.log" 2> "$w/server.log"
    wait_port 18093 || return 1
    note "python-http: wrk for 25 s"
    timeout 60 wrk -t1 -c4 -d25s -s "$w/req.lua" http://127.0.0.1:18093 > "$w/wrk.out"
    sleep 0.5; stop_started
    emit python-http "$w/stdout.log:10" "$w/server.log:80000"
}

gen_rsyslog() {
    need_pkgs rsyslog nginx || return 1
    local w=$work/rsyslog; rm -rf "$w"; mkdir -p "$w/spool" "$w/tmp" "$w/docroot"
    python3 "$helper" docroot "$w/docroot"
    cat > "$w/rsyslog.conf" <<EOF
global(workDirectory="$w/spool")
module(load="imudp")
module(load="imfile" mode="polling" PollingInterval="1")
module(load="impstats" interval="3" severity="7")
input(type="imudp" address="127.0.0.1" port="15514")
input(type="imfile" File="/var/log/dpkg.log" Tag="dpkg:" Facility="local1" readMode="0")
input(type="imfile" File="/var/log/apt/history.log" Tag="apt-history:" Facility="local1" readMode="2")
input(type="imfile" File="/var/log/alternatives.log" Tag="alternatives:" Facility="local1")
*.* action(type="omfile" file="$w/messages.log" template="RSYSLOG_TraditionalFileFormat")
local7.* action(type="omfile" file="$w/nginx.log" template="RSYSLOG_FileFormat")
EOF
    cat > "$w/nginx.conf" <<EOF
worker_processes 1;
pid $w/nginx.pid;
error_log syslog:server=127.0.0.1:15514,tag=nginx info;
events { worker_connections 256; }
http {
    client_body_temp_path $w/tmp/body; proxy_temp_path $w/tmp/proxy;
    fastcgi_temp_path $w/tmp/fcgi; uwsgi_temp_path $w/tmp/uwsgi; scgi_temp_path $w/tmp/scgi;
    server {
        listen 127.0.0.1:18084;
        root $w/docroot;
        access_log syslog:server=127.0.0.1:15514,facility=local7,tag=nginx_access,severity=info combined;
        location /down/ { proxy_pass http://127.0.0.1:18099/; }
        location /admin/ { deny all; }
    }
}
EOF
    bg rsyslogd -dn -f "$w/rsyslog.conf" -i "$w/rsyslogd.pid" > "$w/debug.log" 2>&1
    local i; for i in $(seq 50); do grep -q 'imudp: bound\|listening\|main Q: Worker' "$w/debug.log" 2>/dev/null && break; sleep 0.1; done
    sleep 1
    nginx -c "$w/nginx.conf" -e "$w/nginx-stderr.log" || return 1
    sleep 0.2; started+=($(cat "$w/nginx.pid"))
    wait_port 18084 || return 1
    note "rsyslog: nginx sending its logs over UDP, imfile reading dpkg/apt logs"
    timeout 300 python3 "$helper" http-drive 18084 1500 5
    nginx -c "$w/nginx.conf" -e "$w/nginx-stderr.log" -s quit
    sleep 3; stop_started
    emit rsyslog "$w/debug.log:60000" "$w/messages.log:15000" "$w/nginx.log:5000"
}

gen_prometheus() {
    need_pkgs prometheus || return 1
    local w=$work/prometheus; rm -rf "$w"; mkdir -p "$w/data"
    cat > "$w/prometheus.yml" <<EOF
global:
  scrape_interval: 2s
  evaluation_interval: 2s
  query_log_file: $w/query.log
rule_files: [ "$w/rules.yml" ]
scrape_configs:
  - job_name: prometheus
    static_configs: [ { targets: [ "127.0.0.1:19090" ] } ]
  - job_name: node
    static_configs: [ { targets: [ "127.0.0.1:19100" ], labels: { env: bench } } ]
  - job_name: app
    metrics_path: /api/status
    static_configs: [ { targets: [ "127.0.0.1:19101" ] } ]
EOF
    cat > "$w/rules.yml" <<EOF
groups:
  - name: bench
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
      - alert: TargetDown
        expr: up == 0
        labels: { severity: warning }
        annotations: { summary: "{{ \$labels.instance }} of {{ \$labels.job }} is down" }
EOF
    bg prometheus --config.file="$w/prometheus.yml" --storage.tsdb.path="$w/data" --web.listen-address=127.0.0.1:19090 \
        --log.level=debug --web.enable-lifecycle 2> "$w/prometheus.log"
    wait_port 19090 || return 1
    note "prometheus: 60 s of scrapes, rule evaluations and queries"
    timeout 120 python3 "$helper" prom-queries 19090 3000 &
    local qp=$!
    sleep 30; curl -s -X POST http://127.0.0.1:19090/-/reload > /dev/null; sleep 30
    wait $qp
    stop_started
    emit prometheus "$w/prometheus.log:15000" "$w/query.log:5000"
}

gen_containers() {  # podman (runc, cgroupfs, vfs) in a private mount namespace (see containers_inner)
    need_pkgs podman runc busybox-static || return 1
    local w=$work/containers; rm -rf "$w"; mkdir -p "$w"/{rootfs/bin,rootfs/www/static,data,etc,varlib,graph,runroot}
    cp /bin/busybox "$w/rootfs/bin/" || return 1
    local c; for c in sh echo sleep date wget httpd cat ls ps df uname; do ln -sf busybox "$w/rootfs/bin/$c"; done
    python3 "$helper" docroot "$w/rootfs/www"
    tar -C "$w/rootfs" -cf "$w/busybox.tar" .
    python3 "$helper" urls 18095 4000 6 > "$w/data/urls.txt"
    cp -a /etc/containers/. "$w/etc/"
    REAL_LOGS_INNER=containers timeout 900 unshare -m bash "$here/benches/real_logs.sh" "$dir" || return 1
    emit containers "$w/podman.log:40000" "$w/pod-logs.log:30000" "$w/events.log:5000"
}

containers_inner() {  # runs as `unshare -m`: /run, /etc/containers, /var/lib/containers are private
    local w=$work/containers
    mount --make-rprivate / && mount -t tmpfs tmpfs /run && mount --bind "$w/etc" /etc/containers || return 1
    if [ -d /var/lib/containers ]; then mount --bind "$w/varlib" /var/lib/containers; else mount -t tmpfs tmpfs /var/lib; fi
    cat > "$w/storage.conf" <<EOF
[storage]
driver = "vfs"
runroot = "$w/runroot"
graphroot = "$w/graph"
EOF
    cat > "$w/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
log_driver = "k8s-file"
netns = "host"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$w/events.log"
runtime = "runc"
EOF
    cat > "$w/pod.yaml" <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: shop
  labels: { app: shop, tier: frontend }
spec:
  hostNetwork: true
  restartPolicy: Never
  volumes:
    - name: data
      hostPath: { path: $w/data, type: Directory }
  containers:
    - name: web
      image: localhost/bench-busybox:1
      imagePullPolicy: Never
      command: ["/bin/httpd", "-f", "-vv", "-p", "127.0.0.1:18095", "-h", "/www"]
    - name: client
      image: localhost/bench-busybox:1
      imagePullPolicy: Never
      env: [ { name: PATH, value: "/bin" }, { name: TARGET, value: "http://127.0.0.1:18095" } ]
      volumeMounts: [ { name: data, mountPath: /data } ]
      command: ["/bin/sh", "-c", "sleep 1; echo starting client; n=0; tab=\$(printf '\\\\t'); while IFS=\$tab read -r ua url; do /bin/wget -S -q -O /dev/null -U \"\$ua\" \"\$url\"; n=\$((n+1)); done < /data/urls.txt; echo done \$n requests"]
    - name: status
      image: localhost/bench-busybox:1
      imagePullPolicy: Never
      env: [ { name: PATH, value: "/bin" } ]
      command: ["/bin/sh", "-c", "for i in 1 2 3 4 5 6; do date; uname -a; df -h /; ps; sleep 5; done"]
EOF
    export CONTAINERS_CONF="$w/containers.conf" CONTAINERS_STORAGE_CONF="$w/storage.conf"
    local pd=(podman --log-level=debug)
    note "containers: podman import, kube play, exec, logs, stop, rm"
    {
        "${pd[@]}" import "$w/busybox.tar" localhost/bench-busybox:1
        "${pd[@]}" kube play "$w/pod.yaml"
        local i
        for i in $(seq 20); do
            "${pd[@]}" ps -a --pod
            "${pd[@]}" pod ps
            "${pd[@]}" exec shop-web ls /www/static
            "${pd[@]}" logs --tail 3 shop-web
            "${pd[@]}" top shop-status
            sleep 0.5
        done
        "${pd[@]}" inspect shop-web > /dev/null
        "${pd[@]}" pod stop -t 2 shop
        "${pd[@]}" logs shop-status
        local c f; : > "$w/pod-logs.log"
        for c in shop-web shop-client shop-status; do   # the k8s-file (CRI format) logs
            f=$(podman inspect --format '{{.HostConfig.LogConfig.Path}}' "$c") && cat "$f" >> "$w/pod-logs.log"
        done
        "${pd[@]}" pod rm -f shop
        "${pd[@]}" images
    } > "$w/podman.log" 2>&1
    podman pod rm -fa > /dev/null 2>&1; podman rm -fa > /dev/null 2>&1
    [ -s "$w/pod-logs.log" ] || return 1
}

# --- main -------------------------------------------------------------------
gen_for() {  # kind -> its generator
    case $1 in
        nginx-access|nginx-error) echo gen_nginx ;;
        jvm|java-jul) echo gen_java ;;
        *) echo "gen_${1//-/_}" ;;
    esac
}
if [ -n "${REAL_LOGS_INNER:-}" ]; then "${REAL_LOGS_INNER}_inner"; rc=$?; stop_started; exit $rc; fi
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
if [ -z "${REDACTD:-}" ]; then   # build when missing or older than the newest commit
    head_time=$(cd "$here" && git log -1 --format=%ct 2>/dev/null || echo 0)
    if [ ! -x "$bin" ] || [ "$(stat -c %Y "$bin")" -lt "$head_time" ]; then
        note "cargo build --release"
        cargo build --release --quiet --manifest-path "$here/Cargo.toml" ||
            { [ -x "$bin" ] && note "!! build failed, measuring the existing $bin"; } || exit 1
    fi
fi
echo "# redactd real-logs precision, $(date -u +%FT%TZ), $bin ($(cd "$here" && git rev-parse --short HEAD 2>/dev/null)), logs in $dir"
[ $t_gen -gt 5 ] && echo "# generation took $t_gen s"
python3 "$helper" measure "$bin" "$dir" $kinds || failed=1
exit $failed
