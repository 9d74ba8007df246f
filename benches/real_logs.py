#!/usr/bin/env python3
"""Helper of benches/real_logs.sh (Python 3 standard library only).

Subcommands
-----------

  docroot DIR              static files for the nginx / http.server generators
  wrk-lua SEED             a wrk script (stdout) sending varied, realistic,
                           credential-free requests (paths, query strings,
                           user agents, referers, methods)
  http-drive PORT N SEED   N such requests with urllib, one at a time
  urls PORT N SEED         N "USER-AGENT<TAB>URL" lines of such requests
  memcached-load PORT N    N ascii-protocol commands over a few connections
  prom-queries PORT N      N PromQL queries against a local Prometheus
  app-sql                  an app-like SQL script (stdout) for psql
  redis-cmds               app-like redis-cli commands (stdout)
  java-src DIR             the Java program and logging.properties of the
                           jvm / java-jul kinds
  measure REDACTD DIR KIND...
                           run `REDACTD filter` on DIR/KIND.log for each kind,
                           compare line by line, print the table and every
                           changed line

The request and key generators only build public-looking traffic: no
Authorization headers, no passwords, no API keys, no session cookies. Their
ids (request ids, UUIDs, content hashes in file names, ad click ids) are
random, as in real traffic.
"""
import collections
import os
import random
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

UAS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1.2 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.43 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36 Edg/119.0.2151.97",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.0; +https://openai.com/gptbot)",
    "curl/7.88.1",
    "Wget/1.21.3",
    "python-requests/2.31.0",
    "Go-http-client/1.1",
    "okhttp/4.12.0",
    "Apache-HttpClient/4.5.14 (Java/17.0.9)",
    "kube-probe/1.28",
    "Prometheus/2.48.0",
    "ELB-HealthChecker/2.0",
    "Mozilla/5.0 zgrab/0.x",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "Dalvik/2.1.0 (Linux; U; Android 13; SM-S911B Build/TP1A.220624.014)",
    "MyShopApp/5.12.1 (iPhone; iOS 17.1; Scale/3.00)",
]
WORDS = ("shoes jacket wireless headphones laptop stand coffee grinder yoga mat "
         "desk lamp usb-c cable backpack water bottle running socks keyboard "
         "monitor arm garden hose tent sleeping bag kettle blender").split()
CATS = ["men", "women", "kids", "electronics", "home", "garden", "sports", "books", "toys", "outdoor"]
SORTS = ["price_asc", "price_desc", "newest", "rating", "relevance", "-created_at", "name"]
LANGS = ["en-US,en;q=0.9", "de-DE,de;q=0.9,en;q=0.8", "fr-FR,fr;q=0.9", "es-ES,es;q=0.9,en;q=0.7", "ja,en-US;q=0.9"]
SCANNER_PATHS = ["/.env", "/wp-login.php", "/xmlrpc.php", "/.git/config", "/phpmyadmin/index.php",
                 "/admin/config.php", "/server-status", "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php",
                 "/cgi-bin/luci", "/actuator/health", "/boaform/admin/formLogin", "/owa/auth/logon.aspx",
                 "/.aws/credentials", "/config.json", "/wp-content/plugins/", "/HNAP1/", "/.DS_Store"]
STATIC = [  # (path under docroot, size)
    "index.html", "robots.txt", "favicon.ico", "sitemap.xml", "about.html", "contact.html",
    "static/css/main.3f9a1c7e.css", "static/css/vendor.b41d09aa.css",
    "static/js/main.8c2e4f1a.chunk.js", "static/js/runtime-main.0d7c33b2.js",
    "static/js/2.f93ab1c4.chunk.js", "static/js/vendor~app.6a5d1e0f.bundle.js",
    "static/media/logo.5d5d9eef.svg", "static/fonts/inter-v12-latin-regular.woff2",
    "images/hero-banner@2x.jpg", "images/products/thumb_1024.jpg",
    "download/app-5.12.1.tar.gz", "download/checksums.txt",
]


def hexs(rng, n):
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def b64u(rng, n):
    return "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") for _ in range(n))


def uuid(rng):
    h = hexs(rng, 32)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{rng.choice('89ab')}{h[17:20]}-{h[20:]}"


def query(rng):
    """A realistic query string (or '')."""
    r = rng.random()
    w = "+".join(rng.sample(WORDS, rng.randint(1, 3)))
    if r < 0.25:
        return ""
    if r < 0.40:
        return f"?q={w}&page={rng.randint(1, 20)}"
    if r < 0.50:
        return f"?category={rng.choice(CATS)}&sort={rng.choice(SORTS)}&limit={rng.choice([12, 24, 48, 50, 100])}"
    if r < 0.57:
        camp = rng.choice(["spring_sale", "black_friday_2023", "newsletter_w48", "retargeting"])
        return f"?utm_source={rng.choice(['google', 'newsletter', 'facebook', 'twitter'])}&utm_medium={rng.choice(['cpc', 'email', 'social'])}&utm_campaign={camp}"
    if r < 0.61:  # Google Ads click id (an ad click identifier, not a credential)
        return f"?gclid=Cj0KCQiA{b64u(rng, 70)}BwE"
    if r < 0.64:  # Facebook click id
        return f"?fbclid=IwAR{b64u(rng, 58)}"
    if r < 0.66:  # Microsoft Ads click id
        return f"?msclkid={hexs(rng, 32)}&utm_source=bing&utm_medium=cpc"
    if r < 0.72:  # jQuery cache busters / JSONP
        ts = 1701700000000 + rng.randint(0, 10 ** 8)
        if rng.random() < 0.5:
            return f"?_={ts}"
        return f"?callback=jQuery3310{rng.randint(10 ** 16, 10 ** 17)}_{ts}&_={ts + 1}"
    if r < 0.78:
        return f"?v={rng.randint(1, 6)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}"
    if r < 0.84:
        return f"?id={rng.randint(1, 99999)}&lang={rng.choice(['en', 'de', 'fr'])}"
    if r < 0.88:
        return f"?ref=homepage&variant={rng.choice('AB')}&cid={uuid(rng)}"
    if r < 0.92:
        return f"?from={rng.randint(1, 28):02d}-11-2023&to={rng.randint(1, 28):02d}-12-2023&format=csv"
    return f"?page={rng.randint(1, 300)}&per_page=25"


def request(rng):
    """(method, path, headers) of one realistic request."""
    r = rng.random()
    if r < 0.30:
        path = "/" + rng.choice(STATIC)
    elif r < 0.45:
        path = f"/products/{rng.choice(CATS)}/{rng.choice(WORDS)}-{rng.randint(100, 9999)}"
    elif r < 0.55:
        path = f"/api/v1/{rng.choice(['items', 'orders', 'users', 'carts', 'reviews'])}/{rng.randint(1, 500000)}"
    elif r < 0.60:
        path = f"/api/v2/items/{uuid(rng)}"
    elif r < 0.64:
        path = f"/images/{hexs(rng, 40)}.{rng.choice(['jpg', 'png', 'webp'])}"
    elif r < 0.68:
        path = f"/assets/{rng.choice(['app', 'vendor', 'styles'])}-{hexs(rng, 20)}.{rng.choice(['js', 'css'])}"
    elif r < 0.72:
        path = rng.choice(SCANNER_PATHS)
    elif r < 0.76:
        path = f"/blog/{rng.randint(2015, 2023)}/{rng.randint(1, 12):02d}/{'-'.join(rng.sample(WORDS, 3))}"
    elif r < 0.80:
        path = "/old/" + rng.choice(WORDS)
    elif r < 0.83:
        path = "/admin/" + rng.choice(["", "users", "settings", "reports"])
    elif r < 0.87:
        path = "/down/" + rng.choice(["status", "metrics", "ws"])
    elif r < 0.91:
        path = "/login"
    elif r < 0.95:
        path = "/app/" + rng.choice(STATIC[:8] + ["missing.html", "api/status"])
    else:
        path = "/search"
    method = "GET"
    m = rng.random()
    if m < 0.05:
        method = "HEAD"
    elif m < 0.09:
        method = "POST"
    elif m < 0.10:
        method = rng.choice(["OPTIONS", "PUT", "DELETE", "PROPFIND"])
    headers = {"User-Agent": rng.choice(UAS), "Accept-Language": rng.choice(LANGS)}
    ref = rng.random()
    if ref < 0.25:
        headers["Referer"] = "https://www.google.com/"
    elif ref < 0.35:
        headers["Referer"] = f"https://www.bing.com/search?q={rng.choice(WORDS)}&form=QBLH"
    elif ref < 0.55:
        headers["Referer"] = f"https://shop.example.com/products/{rng.choice(CATS)}"
    if rng.random() < 0.3:
        headers["X-Forwarded-For"] = f"203.0.113.{rng.randint(1, 254)}, 198.51.100.{rng.randint(1, 254)}"
    if rng.random() < 0.2:
        headers["Cookie"] = f"theme={rng.choice(['dark', 'light'])}; lang={rng.choice(['en', 'de'])}; consent=necessary"
    if path == "/search":
        path += "?q=" + "+".join(rng.sample(WORDS, 2))
    elif not path.startswith("/login"):
        path += query(rng)
    return method, path, headers


def lua_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def cmd_wrk_lua(seed):
    rng = random.Random(int(seed))
    out = ["reqs = {}"]
    for i in range(4000):
        method, path, headers = request(rng)
        if method == "HEAD":  # wrk waits for the body of a HEAD response
            method = "GET"
        headers = {"Host": "shop.example.com", **headers}
        hs = ", ".join(f"[{lua_str(k)}] = {lua_str(v)}" for k, v in headers.items())
        body = "nil"
        if method == "POST":
            hs += ', ["Content-Type"] = "application/x-www-form-urlencoded"'
            body = lua_str(f"qty={rng.randint(1, 5)}&sku=SKU-{rng.randint(1000, 9999)}&color={rng.choice(['red', 'blue'])}")
        out.append(f"reqs[{i + 1}] = wrk.format({lua_str(method)}, {lua_str(path)}, {{{hs}}}, {body})")
    out.append("math.randomseed(%d)" % int(seed))
    out.append("request = function() return reqs[math.random(#reqs)] end")
    print("\n".join(out))


def cmd_docroot(d):
    rng = random.Random(7)
    for p in STATIC + ["api/status"]:
        f = os.path.join(d, p)
        os.makedirs(os.path.dirname(f), exist_ok=True)
        binary = p.endswith((".jpg", ".ico", ".woff2", ".tar.gz", ".svg"))
        with open(f, "wb") as fh:
            if binary:
                fh.write(bytes(rng.getrandbits(8) for _ in range(rng.randint(200, 6000))))
            else:
                fh.write((f"<!-- {p} -->\n" + "lorem ipsum\n" * rng.randint(10, 300)).encode())


def cmd_urls(port, n, seed):
    """USER-AGENT<TAB>URL lines for a wget loop."""
    rng = random.Random(int(seed))
    for _ in range(int(n)):
        _, path, headers = request(rng)
        print(f"{headers['User-Agent']}\thttp://127.0.0.1:{port}{path}")


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **k):
        return None


def cmd_http_drive(port, n, seed):
    rng = random.Random(int(seed))
    opener = urllib.request.build_opener(NoRedirect)
    for _ in range(int(n)):
        method, path, headers = request(rng)
        data = b"qty=1&sku=SKU-1234" if method in ("POST", "PUT") else None
        req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, headers=headers, method=method)
        try:
            with opener.open(req, timeout=10) as r:
                r.read()
        except urllib.error.HTTPError as e:
            e.read()
        except Exception:
            pass


def cmd_memcached_load(port, n):
    rng = random.Random(11)
    n = int(n)
    done = 0
    while done < n:
        s = socket.create_connection(("127.0.0.1", int(port)))
        f = s.makefile("rwb")
        for _ in range(rng.randint(20, 400)):
            r = rng.random()
            kind = rng.random()
            if kind < 0.3:
                key = f"user:{rng.randint(1, 50000)}:profile"
            elif kind < 0.5:
                key = f"product:sku-{rng.choice('ABCDEFG')}{rng.randint(1000, 9999)}"
            elif kind < 0.65:  # Django cache_page keys carry an md5 of the URL
                key = f":1:views.decorators.cache.cache_page..GET.{hexs(rng, 32)}.{hexs(rng, 32)}.en-us.UTC"
            elif kind < 0.8:
                key = f"rate:127.0.0.1:{1701790000 + rng.randint(0, 3600)}"
            elif kind < 0.9:
                key = f"page_cache:/products/{rng.choice(CATS)}?page={rng.randint(1, 9)}"
            else:
                key = f"feature_flags:v{rng.randint(1, 40)}"
            if r < 0.45:
                f.write(f"get {key}\r\n".encode())
                f.flush()
                while True:
                    line = f.readline()
                    if not line or line == b"END\r\n":
                        break
            elif r < 0.85:
                val = rng.choice([f'{{"id":{rng.randint(1, 9999)},"name":"{rng.choice(WORDS)}","stock":{rng.randint(0, 90)}}}',
                                  str(rng.randint(0, 1000)), "1", "on"])
                f.write(f"set {key} 0 {rng.choice([0, 60, 300, 3600])} {len(val)}\r\n{val}\r\n".encode())
                f.flush()
                f.readline()
            elif r < 0.92:
                f.write(f"incr rate:127.0.0.1:{1701790000 + rng.randint(0, 3600)} 1\r\n".encode())
                f.flush()
                f.readline()
            elif r < 0.97:
                f.write(f"delete {key}\r\n".encode())
                f.flush()
                f.readline()
            else:
                f.write(b"stats\r\n")
                f.flush()
                while True:
                    line = f.readline()
                    if not line or line == b"END\r\n":
                        break
            done += 1
        f.write(b"quit\r\n")
        f.flush()
        s.close()


def cmd_prom_queries(port, n):
    rng = random.Random(5)
    exprs = ["up", "rate(prometheus_http_requests_total[1m])", "sum by (job) (up)",
             "histogram_quantile(0.9, rate(prometheus_http_request_duration_seconds_bucket[5m]))",
             "process_resident_memory_bytes", "go_goroutines{job=\"prometheus\"}",
             "increase(prometheus_tsdb_head_samples_appended_total[1m])", "scrape_duration_seconds",
             "topk(5, count by (__name__) ({__name__=~\".+\"}))", "absent(nonexistent_metric)",
             "rate(nonexistent[5m]", "sum(rate(node_cpu_seconds_total{mode!=\"idle\"}[5m]))"]
    for _ in range(int(n)):
        e = rng.choice(exprs)
        q = urllib.parse.urlencode({"query": e})
        if rng.random() < 0.5:
            now = time.time()
            q += f"&start={now - 600:.3f}&end={now:.3f}&step=15"
            url = f"http://127.0.0.1:{port}/api/v1/query_range?{q}"
        else:
            url = f"http://127.0.0.1:{port}/api/v1/query?{q}"
        try:
            urllib.request.urlopen(url, timeout=10).read()
        except Exception:
            pass


def cmd_app_sql():
    """An app-like SQL script for psql: DDL, inserts, joins, errors."""
    r = random.Random(3)
    first = "anna ben carla dev emil farah gus hana ivan jun kofi lena mo nia omar pia raj sara tom uma".split()
    dom = ["example.com", "example.org", "mail.example.net"]
    out = ["SET application_name = 'shop-web';",
           "CREATE TABLE IF NOT EXISTS customers (id bigserial PRIMARY KEY, email text UNIQUE NOT NULL, name text, country char(2), created_at timestamptz DEFAULT now());",
           "CREATE TABLE IF NOT EXISTS orders (id bigserial PRIMARY KEY, customer_id bigint REFERENCES customers(id), total_cents int, status text, sku text, placed_at timestamptz DEFAULT now());",
           "CREATE INDEX IF NOT EXISTS orders_customer_idx ON orders(customer_id);"]
    for i in range(1, 3001):
        n = r.choice(first)
        out.append(f"INSERT INTO customers (email, name, country) VALUES ('{n}.{i}@{r.choice(dom)}', '{n.title()} {r.choice(first).title()}', '{r.choice(['DE', 'FR', 'US', 'GB', 'JP', 'BR'])}') ON CONFLICT DO NOTHING;")
        if i % 3 == 0:
            out.append(f"INSERT INTO orders (customer_id, total_cents, status, sku) VALUES ({r.randint(1, i)}, {r.randint(100, 99999)}, '{r.choice(['new', 'paid', 'shipped', 'refunded'])}', 'SKU-{r.randint(1000, 9999)}');")
        if i % 7 == 0:
            out.append(f"SELECT c.id, c.email, count(o.id), sum(o.total_cents) FROM customers c LEFT JOIN orders o ON o.customer_id = c.id WHERE c.country = '{r.choice(['DE', 'US'])}' GROUP BY c.id ORDER BY 4 DESC NULLS LAST LIMIT 10;")
        if i % 11 == 0:
            out.append(f"UPDATE orders SET status = 'shipped' WHERE id = {r.randint(1, i // 3 + 1)} AND status = 'paid';")
        if i % 97 == 0:
            out.append("INSERT INTO customers (email, name) VALUES ('anna.1@example.com', 'Dup');")  # unique violation
            out.append("SELEC * FROM orders;")  # syntax error
            out.append("SELECT sum(total_cents) / 0 FROM orders;")  # division by zero
            out.append("SELECT * FROM missing_table;")
        if i % 500 == 0:
            out.append("VACUUM (VERBOSE, ANALYZE) orders;")
            out.append("CHECKPOINT;")
            out.append("EXPLAIN (ANALYZE, BUFFERS) SELECT * FROM orders WHERE customer_id = 42;")
    out.append("SELECT pg_sleep(3);")
    print("\n".join(out))


def cmd_redis_cmds():
    """redis-cli commands of a web app: sessions-free caches, queues, counters."""
    r = random.Random(9)
    out = []
    for i in range(6000):
        x = r.random()
        uid = r.randint(1, 50000)
        if x < 0.2:
            out.append(f'HSET user:{uid} name "{r.choice(WORDS).title()}" country {r.choice(["DE", "US", "FR"])} visits {r.randint(1, 900)}')
        elif x < 0.35:
            out.append(f"HGETALL user:{uid}")
        elif x < 0.5:
            out.append(f'SET cache:product:{r.randint(1, 9999)} "{{\\"price\\":{r.randint(100, 9999)},\\"stock\\":{r.randint(0, 50)}}}" EX {r.choice([60, 300, 3600])}')
        elif x < 0.6:
            out.append(f"INCR rate:api:{uid}:{1701790000 + r.randint(0, 3600) // 60 * 60}")
        elif x < 0.7:
            out.append(f'LPUSH queue:emails "{{\\"job\\":\\"welcome\\",\\"user\\":{uid},\\"id\\":\\"{uuid(r)}\\"}}"')
        elif x < 0.75:
            out.append("BRPOP queue:emails 1")
        elif x < 0.85:
            out.append(f"ZADD leaderboard {r.randint(0, 100000)} player:{uid}")
        elif x < 0.9:
            out.append("ZREVRANGE leaderboard 0 9 WITHSCORES")
        elif x < 0.95:
            out.append(f"EXPIRE user:{uid} 86400")
        elif x < 0.97:
            out.append(f"GET cache:page:{hexs(r, 32)}")
        else:
            out.append(r.choice(["INFO memory", "DBSIZE", "CLIENT LIST", "SLOWLOG GET 5", "PING", "CONFIG GET maxmemory"]))
    print("\n".join(out))


JAVA_SRC = r'''
package com.example.shop;

import com.sun.net.httpserver.HttpServer;
import java.io.*;
import java.net.*;
import java.net.http.*;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.*;
import java.util.concurrent.*;
import java.util.logging.*;

/** A small shop backend: JDK HTTP server, two JDK HTTP clients, a worker pool, GC pressure. */
public class Shop {
    static final Logger LOG = Logger.getLogger("com.example.shop.Shop");
    static final Logger ORDERS = Logger.getLogger("com.example.shop.OrderService");
    static final Logger INV = Logger.getLogger("com.example.shop.inventory.InventoryClient");
    static final Random R = new Random(42);
    static final Map<Integer, List<byte[]>> CACHE = new ConcurrentHashMap<>();

    static void handle(com.sun.net.httpserver.HttpExchange ex) throws IOException {
        String path = ex.getRequestURI().getPath();
        int code = 200;
        String body;
        if (path.startsWith("/api/orders")) {
            body = "{\"id\":" + R.nextInt(100000) + ",\"status\":\"paid\"}";
        } else if (path.startsWith("/health")) {
            body = "{\"status\":\"UP\"}";
        } else {
            code = 404;
            body = "{\"error\":\"not found\"}";
        }
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().add("Content-Type", "application/json");
        ex.sendResponseHeaders(code, b.length);
        try (OutputStream o = ex.getResponseBody()) { o.write(b); }
    }

    static void placeOrder(int i) {
        int customer = 1000 + R.nextInt(9000);
        String sku = "SKU-" + (1000 + R.nextInt(9000));
        int cents = 100 + R.nextInt(50000);
        ORDERS.info(String.format("Order %d placed by customer %d: sku=%s qty=%d total=%d.%02d EUR", i, customer, sku, 1 + R.nextInt(4), cents / 100, cents % 100));
        if (R.nextInt(20) == 0) INV.warning("Low stock for " + sku + ": " + R.nextInt(5) + " left, reorder threshold 5");
        if (R.nextInt(60) == 0) {
            try {
                Object o = null;
                if (R.nextBoolean()) o.hashCode(); else Integer.parseInt("12a" + i);
            } catch (RuntimeException e) {
                ORDERS.log(Level.SEVERE, "Failed to settle order " + i + " for customer " + customer, e);
            }
        }
        if (R.nextInt(10) == 0) ORDERS.fine("cache size " + CACHE.size());
        List<byte[]> junk = new ArrayList<>();
        for (int k = 0; k < 40; k++) junk.add(new byte[1024 + R.nextInt(8192)]);
        CACHE.put(i % 3000, junk);
    }

    public static void main(String[] a) throws Exception {
        int seconds = Integer.parseInt(a[0]);
        HttpServer srv = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 50);
        srv.createContext("/", Shop::handle);
        ExecutorService pool = Executors.newFixedThreadPool(4);
        srv.setExecutor(pool);
        srv.start();
        int port = srv.getAddress().getPort();
        LOG.info("Shop started on 127.0.0.1:" + port + " with " + Runtime.getRuntime().availableProcessors() + " cpus, max heap " + Runtime.getRuntime().maxMemory() / 1048576 + " MiB");
        HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
        ExecutorService workers = Executors.newFixedThreadPool(3);
        long end = System.currentTimeMillis() + seconds * 1000L;
        int i = 0;
        while (System.currentTimeMillis() < end) {
            final int n = ++i;
            workers.submit(() -> placeOrder(n));
            String p = new String[]{"/api/orders/" + n, "/health", "/api/orders?customer=" + (1000 + n % 9000) + "&page=2", "/favicon.ico"}[n % 4];
            try {
                if (n % 2 == 0) {
                    HttpURLConnection c = (HttpURLConnection) new URL("http://127.0.0.1:" + port + p).openConnection();
                    c.setRequestProperty("Accept", "application/json");
                    c.setRequestProperty("X-Request-Id", UUID.randomUUID().toString());
                    if (n % 8 == 0) {
                        c.setRequestMethod("POST");
                        c.setDoOutput(true);
                        c.getOutputStream().write(("{\"sku\":\"SKU-" + (1000 + n % 9000) + "\",\"qty\":1}").getBytes());
                    }
                    int code = c.getResponseCode();
                    InputStream in = code < 400 ? c.getInputStream() : c.getErrorStream();
                    if (in != null) in.readAllBytes();
                } else {
                    HttpRequest req = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + p))
                        .header("Accept", "application/json").timeout(Duration.ofSeconds(2)).build();
                    HttpResponse<String> r = client.send(req, HttpResponse.BodyHandlers.ofString());
                    if (r.statusCode() >= 400) LOG.warning("GET " + p + " -> " + r.statusCode());
                }
            } catch (IOException e) {
                LOG.log(Level.WARNING, "request " + p + " failed", e);
            }
            if (n % 500 == 0) {
                LOG.info(String.format("stats: orders=%d cache=%d free=%d MiB", n, CACHE.size(), Runtime.getRuntime().freeMemory() / 1048576));
                System.gc();
            }
        }
        workers.shutdown();
        workers.awaitTermination(10, TimeUnit.SECONDS);
        srv.stop(0);
        pool.shutdown();
        LOG.info("Shop stopped after " + i + " orders");
    }
}
'''

JAVA_LOGGING = r'''
handlers = java.util.logging.ConsoleHandler
.level = INFO
java.util.logging.ConsoleHandler.level = ALL
java.util.logging.ConsoleHandler.formatter = java.util.logging.SimpleFormatter
com.example.shop.level = ALL
sun.net.www.protocol.http.HttpURLConnection.level = ALL
com.sun.net.httpserver.level = ALL
jdk.internal.httpclient.debug.level = ALL
jdk.httpclient.HttpClient.level = ALL
'''


def cmd_java_src(d):
    os.makedirs(os.path.join(d, "src", "com", "example", "shop"), exist_ok=True)
    with open(os.path.join(d, "src", "com", "example", "shop", "Shop.java"), "w") as f:
        f.write(JAVA_SRC)
    with open(os.path.join(d, "logging.properties"), "w") as f:
        f.write(JAVA_LOGGING)


LABEL = re.compile(rb"\[REDACTED:([^\]]*)\]")


def cmd_measure(redactd, d, kinds):
    rows, changed = [], []
    failed = False
    t0 = time.time()
    for kind in kinds:
        path = os.path.join(d, kind + ".log")
        if not os.path.exists(path):
            print(f"!! {kind}: {path} is missing", file=sys.stderr)
            failed = True
            continue
        with open(path, "rb") as fh:
            data = fh.read()
        p = subprocess.run([redactd, "filter"], input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if p.returncode != 0:
            print(f"!! {kind}: redactd filter exited {p.returncode}: {p.stderr.decode(errors='replace')[:500]}", file=sys.stderr)
            failed = True
            continue
        a = data.split(b"\n")
        b = p.stdout.split(b"\n")
        if data.endswith(b"\n"):
            a.pop()
        if p.stdout.endswith(b"\n"):
            b.pop()
        if len(a) != len(b):
            print(f"!! {kind}: {len(a)} lines in, {len(b)} lines out", file=sys.stderr)
            failed = True
        n = 0
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                n += 1
                changed.append((kind, i + 1, x, y))
        rows.append((kind, len(a), n))
    el = time.time() - t0
    w = max([len(r[0]) for r in rows] + [5])
    print(f"{'kind':<{w}} {'lines':>10} {'changed':>8} {'per 100k':>9}")
    tot_l = tot_c = 0
    for kind, l, c in rows:
        tot_l += l
        tot_c += c
        print(f"{kind:<{w}} {l:>10,} {c:>8} {c * 1e5 / max(l, 1):>9.2f}")
    print(f"{'TOTAL':<{w}} {tot_l:>10,} {tot_c:>8} {tot_c * 1e5 / max(tot_l, 1):>9.2f}")
    print(f"({len(rows)} kinds; measured in {el:.1f} s)")
    byrule = collections.Counter()
    print(f"\n== {len(changed)} changed lines")
    for kind, ln, x, y in changed:
        rules = sorted(set(m.decode(errors="replace") for m in LABEL.findall(y)))
        for r in rules:
            byrule[r] += 1
        xs = x.decode(errors="replace")
        ys = y.decode(errors="replace")
        print(f"-- {kind}:{ln} rules={','.join(rules) or '?'}")
        print(f"   in : {xs[:300]}{' ...' if len(xs) > 300 else ''}")
        print(f"   out: {ys[:300]}{' ...' if len(ys) > 300 else ''}")
    if byrule:
        print("\n== changed lines per rule id")
        for r, c in byrule.most_common():
            print(f"{c:>8}  {r}")
    return 1 if failed else 0


def main():
    a = sys.argv[1:]
    if not a:
        print(__doc__)
        return 2
    c = a[0]
    if c == "docroot":
        cmd_docroot(a[1])
    elif c == "wrk-lua":
        cmd_wrk_lua(a[1])
    elif c == "http-drive":
        cmd_http_drive(*a[1:4])
    elif c == "memcached-load":
        cmd_memcached_load(*a[1:3])
    elif c == "prom-queries":
        cmd_prom_queries(*a[1:3])
    elif c == "app-sql":
        cmd_app_sql()
    elif c == "redis-cmds":
        cmd_redis_cmds()
    elif c == "java-src":
        cmd_java_src(a[1])
    elif c == "urls":
        cmd_urls(*a[1:4])
    elif c == "measure":
        return cmd_measure(a[1], a[2], a[3:])
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
