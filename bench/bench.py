#!/usr/bin/env python3
"""Side-by-side load benchmark: nginx direct, HAProxy (plain, and with native jwt_verify) and Portcullis.

Started by bench/run.sh (which installs the tools and builds the binaries with the production
profile). Everything listens on 127.0.0.1 only, on free ports picked at start; every process started here is killed on
exit (normal end, error, Ctrl-C or SIGTERM), with its whole process group (nginx workers,
Portcullis function instances).

Measured per target and run: wrk requests/s and latency percentiles (64 connections, then 1
connection), wrk status errors (responses >= 400) and socket errors, CPU time of the server's
process tree from /proc/PID/stat (utime+stime, clock ticks from CLK_TCK) divided by the requests
completed, and resident memory from /proc/PID/status (VmRSS idle before the run, peak VmRSS
sampled during the 64-connection run, VmHWM).

Portcullis runs as users run it: its access log on (the default, one JSON line per request, to a
file); a second instance with the log off gives the log's cost. HAProxy runs as it runs in
production: `option httplog` to a local syslog socket (a datagram socket this script drains).
"""

import argparse
import base64
import json
import math
import multiprocessing
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
CLK_TCK = os.sysconf("SC_CLK_TCK")

ISSUER = "https://issuer.bench.portcullis.test/"
AUDIENCE = "bench-api"
KID = "bench-key-1"
BODY = '{"ok":true}'

STARTED = []  # Popen objects, each leader of its own process group


# ---------------------------------------------------------------- process management


def cleanup(*_args):
    """Kill every process group this script started (by its id), then wait for them."""
    while STARTED:
        proc = STARTED.pop()
        # Function instances run in process groups of their own: remember them by pid.
        descendants = [(p, start_time(p)) for p in tree(proc.pid)[1:]] if proc.poll() is None else []
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=5)
        # Leftover members of the group (e.g. function instances) once the leader is gone.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        for pid, started in descendants:
            if start_time(pid) != started:
                continue  # gone (or the pid was reused): not ours to kill
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def on_signal(signum, _frame):
    cleanup()
    sys.exit(128 + signum)


def start(name, argv, log_path, cwd=None, env=None):
    log = open(log_path, "wb")
    proc = subprocess.Popen(
        argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=cwd, env=env,
        start_new_session=True,
    )
    proc.bench_name = name
    proc.bench_log = log_path
    STARTED.append(proc)
    return proc


def die(msg, proc_logs=()):
    print(f"\nBENCH FAILED: {msg}", file=sys.stderr)
    for path in proc_logs:
        try:
            with open(path, "rb") as f:
                tail = f.read()[-3000:].decode(errors="replace")
            print(f"--- last lines of {path} ---\n{tail}", file=sys.stderr)
        except OSError:
            pass
    cleanup()
    sys.exit(1)


def free_ports(n):
    """n distinct ports that are free on 127.0.0.1 right now (bound to :0, then released)."""
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def wait_port(port, proc, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            die(f"{proc.bench_name} exited with status {proc.returncode} during start-up", [proc.bench_log])
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    die(f"{proc.bench_name} did not listen on 127.0.0.1:{port} within {timeout}s", [proc.bench_log])


# ---------------------------------------------------------------- /proc readings


def children_map():
    kids = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(entry))
    return kids


def tree(pid):
    kids = children_map()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def cpu_ticks(pid):
    """utime+stime of one process, in clock ticks (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return 0
    fields = stat[stat.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])  # fields 14 and 15 of proc(5)


def start_time(pid):
    """Start time of a process in ticks since boot (None if gone): tells a pid from its reuse."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    return int(stat[stat.rindex(")") + 2:].split()[19])


def tree_cpu(pid):
    """CPU ticks per process of the tree rooted at pid (processes may come and go)."""
    return {p: cpu_ticks(p) for p in tree(pid)}


def tree_cpu_ns(pid):
    """CPU time in nanoseconds per thread of the tree rooted at pid, from each thread's
    `schedstat` (exact, where utime + stime come in 10 ms ticks); threads may come and go."""
    out = {}
    for p in tree(pid):
        try:
            tids = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{p}/task/{tid}/schedstat") as f:
                    out[(p, tid)] = int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                pass
    return out


def status_kb(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_rss_kb(pid):
    return sum(status_kb(p, "VmRSS") for p in tree(pid))


# ---------------------------------------------------------------- key material and tokens


def b64url_uint(n):
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


_SIGN_KEY = None


def _mint_init(pem):
    global _SIGN_KEY
    from cryptography.hazmat.primitives import serialization

    _SIGN_KEY = serialization.load_pem_private_key(pem, password=None)


def _mint(args):
    import jwt

    i, now, overrides, header_overrides = args
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": f"user-{i}", "iat": now, "exp": now + 4 * 3600,
              "jti": f"bench-{i}"}
    claims.update(overrides)
    headers = {"kid": KID}
    headers.update(header_overrides)
    return jwt.encode(claims, _SIGN_KEY, algorithm="RS256", headers=headers)


def make_keys(work, n_tokens):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    priv_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())
    pub_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
    with open(os.path.join(work, "public.pem"), "wb") as f:
        f.write(pub_pem)
    nums = key.public_key().public_numbers()
    jwks = {"keys": [{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": KID,
                      "n": b64url_uint(nums.n), "e": b64url_uint(nums.e)}]}
    with open(os.path.join(work, "jwks.json"), "w") as f:
        json.dump(jwks, f)

    now = int(time.time())
    jobs = [(i, now, {}, {}) for i in range(n_tokens + 1)]
    t0 = time.time()
    with multiprocessing.Pool(os.cpu_count() or 1, initializer=_mint_init, initargs=(priv_pem,)) as pool:
        tokens = pool.map(_mint, jobs, chunksize=500)
        # Tokens each gateway must refuse: the sanity check proves the checks are equivalent.
        bad = dict(zip(
            ["expired", "wrong_iss", "wrong_aud"],
            pool.map(_mint, [
                (0, now, {"exp": now - 3600, "iat": now - 7200}, {}),
                (0, now, {"iss": "https://evil.example/"}, {}),
                (0, now, {"aud": "other-api"}, {}),
            ]),
        ))
    print(f"minted {len(tokens)} RS256 tokens in {time.time() - t0:.1f}s")
    same = tokens[0]
    h, p, s = same.split(".")
    bad["bad_signature"] = f"{h}.{p}.{s[:-6]}{'A' * 6 if not s.endswith('AAAAAA') else 'BBBBBB'}"
    alg_none_header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    bad["alg_none"] = f"{alg_none_header}.{p}."
    with open(os.path.join(work, "tokens.txt"), "w") as f:
        f.write("\n".join(tokens[1:]) + "\n")
    return same, bad


# ---------------------------------------------------------------- configs


def start_nginx(work, port, log_path):
    """The upstream of every target: nginx answering itself, from a prefix under `work`."""
    prefix = os.path.join(work, "nginx")
    os.makedirs(prefix)
    with open(os.path.join(prefix, "nginx.conf"), "w") as f:
        f.write(nginx_conf(prefix, port))
    nginx = start("nginx", ["nginx", "-p", prefix, "-c", os.path.join(prefix, "nginx.conf")], log_path)
    wait_port(port, nginx)
    return nginx


def wrk_errors(res):
    """Responses with status >= 400 and socket errors of one wrk run."""
    return sum(res[k] for k in ("err_status", "err_connect", "err_read", "err_write", "err_timeout"))


def nginx_conf(prefix, port):
    return f"""daemon off;
master_process on;
worker_processes auto;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    keepalive_requests 10000000;
    keepalive_timeout 120s;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{
            default_type application/json;
            return 200 '{BODY}';
        }}
    }}
}}
"""


def haproxy_conf(port, plain_port, upstream, pubkey, log_socket):
    # The same checks as the Portcullis JWT authorizer: Bearer token present, alg pinned to RS256,
    # iss, aud, exp (required, in the future), then the RS256 signature against the public key.
    jwt_rules = f"""    http-request set-var(txn.bearer) http_auth_bearer if is_jwt
    http-request deny deny_status 401 if is_jwt !{{ var(txn.bearer) -m found }}
    http-request set-var(txn.jwt_alg) var(txn.bearer),jwt_header_query('$.alg') if is_jwt
    http-request set-var(txn.jwt_iss) var(txn.bearer),jwt_payload_query('$.iss') if is_jwt
    http-request set-var(txn.jwt_aud) var(txn.bearer),jwt_payload_query('$.aud') if is_jwt
    http-request set-var(txn.jwt_exp) var(txn.bearer),jwt_payload_query('$.exp','int') if is_jwt
    http-request set-var(txn.now) date() if is_jwt
    http-request deny deny_status 401 if is_jwt !{{ var(txn.jwt_alg) -m str RS256 }}
    http-request deny deny_status 401 if is_jwt !{{ var(txn.jwt_iss) -m str {ISSUER} }}
    http-request deny deny_status 401 if is_jwt !{{ var(txn.jwt_aud) -m str {AUDIENCE} }}
    http-request deny deny_status 401 if is_jwt !{{ var(txn.jwt_exp),sub(txn.now) -m int gt 0 }}
    http-request deny deny_status 401 if is_jwt !{{ var(txn.bearer),jwt_verify("RS256","{pubkey}") -m int 1 }}
"""
    return f"""global
    maxconn 4096
    log {log_socket} local0

defaults
    mode http
    log global
    option httplog
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    option http-keep-alive

frontend bench
    bind 127.0.0.1:{port}
    acl is_jwt path /a /b
{jwt_rules}    default_backend upstream

# No authentication: what a plain reverse proxy costs.
frontend plain
    bind 127.0.0.1:{plain_port}
    default_backend upstream

backend upstream
    http-reuse always
    server nginx 127.0.0.1:{upstream} maxconn 1000
"""


def portcullis_conf(port, admin, upstream, work, testfn, extra_routes, access_log=None, edge=False, redis=None):
    """One instance's config: `access_log` a file (None: off); `edge` adds an API-wide CORS policy
    and throttle (never reached); `redis` makes that throttle shared across replicas."""
    lines = [
        f"listen: 127.0.0.1:{port}",
        f"admin: 127.0.0.1:{admin}",
        f"state_dir: {work}/state-{port}",
        f"access_log: {{output: {access_log}}}" if access_log else "access_log: {enabled: false}",
    ]
    if redis:
        lines.append(f"shared_state: {{redis: \"{redis}\", key_prefix: \"bench-{port}:\"}}")
    if edge or redis:
        lines += [
            "cors: {allow_origins: [\"https://app.bench.test\"], allow_methods: [GET], allow_headers: [authorization]}",
            "throttle: {rate: 10000000, burst: 10000000}",
        ]
    lines += [
        "authorizers:",
        "  jwt:",
        "    type: jwt",
        f"    issuer: {ISSUER}",
        f"    audience: [{AUDIENCE}]",
        f"    jwks_file: {work}/jwks.json",
        "    algorithms: [RS256]",
        "  jwt_uncached:",
        "    type: jwt",
        f"    issuer: {ISSUER}",
        f"    audience: [{AUDIENCE}]",
        f"    jwks_file: {work}/jwks.json",
        "    algorithms: [RS256]",
        "    cache: {max_tokens: 0}    # scenario (b): every request pays a full RS256 verify",
        "functions:",
        "  rust:",
        "    runtime: provided",
        f"    command: {testfn}",
        "    concurrency: 2",
        "  node:",
        "    runtime: nodejs",
        "    handler: index.handler",
        f"    dir: {HERE}/handlers/node",
        "    concurrency: 2",
        "routes:",
        f"  GET /a: {{http: \"http://127.0.0.1:{upstream}/a\", authorizer: jwt}}",
        f"  GET /b: {{http: \"http://127.0.0.1:{upstream}/b\", authorizer: jwt_uncached}}",
        f"  GET /public: {{http: \"http://127.0.0.1:{upstream}/public\", authorizer: none}}",
        "  GET /fn/rust: {function: rust}",
        "  GET /fn/node: {function: node}",
    ]
    # Pad to 10 routes in the small config; the large one adds 10,000 more of mixed shapes.
    filler = [
        "GET /pets/{id}", "POST /pets", "ANY /files/{proxy+}", "PUT /users/{id}/settings",
        "DELETE /orders/{id}",
    ]
    for key in filler:
        lines.append(f'  "{key}": {{respond: {{status: 200, body: filler}}}}')
    for i in range(extra_routes):
        shape = i % 4
        if shape == 0:
            key = f"GET /svc{i}/items"
        elif shape == 1:
            key = f"GET /svc{i}/items/{{id}}"
        elif shape == 2:
            key = f"POST /svc{i}/orders/{{order}}/lines"
        else:
            key = f"ANY /svc{i}/{{proxy+}}"
        lines.append(f'  "{key}": {{respond: {{status: 200, body: r{i}}}}}')
    return "\n".join(lines) + "\n"


def syslog_sink(path):
    """A local syslog socket for HAProxy's access log: a datagram socket drained by a thread (what
    a syslog daemon does; its own CPU is not HAProxy's, as a log file's writes are not ours)."""
    import threading
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    count = {"lines": 0}

    def drain():
        while True:
            try:
                sock.recv(65536)
                count["lines"] += 1
            except OSError:
                return

    threading.Thread(target=drain, daemon=True).start()
    return count


# ---------------------------------------------------------------- checks


def http_get(url, token=None, timeout=15):
    req = urllib.request.Request(url)
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError as e:
        return None, str(e).encode()


def sanity(targets, same, bad, logs):
    """Every target answers 200; both gateways refuse the same bad tokens (equivalent checks)."""
    problems = []
    for t in targets:
        status, body = http_get(t["url"], same if t["auth"] else None, timeout=30)
        if status != 200:
            problems.append(f"{t['name']}: GET {t['url']} -> {status} {body[:200]!r}")
    for t in targets:
        if not t["auth"] or not t["checks"]:
            continue
        status, _ = http_get(t["url"], None)
        if status not in (401, 403):
            problems.append(f"{t['name']}: no token -> {status}, expected 401/403")
        for kind, tok in bad.items():
            status, _ = http_get(t["url"], tok)
            if status not in (401, 403):
                problems.append(f"{t['name']}: {kind} token -> {status}, expected 401/403")
    if problems:
        die("sanity check failed:\n  " + "\n  ".join(problems), logs)
    print("sanity: every target answers 200 to a valid request; both gateways refuse "
          f"missing, {', '.join(sorted(bad))} tokens")


# ---------------------------------------------------------------- wrk


def run_wrk(target, conns, threads, duration, tokens_file, sample_pid=None, cpus=None):
    """One wrk run against `target` (on the CPUs listed in `cpus`, e.g. "0,1", when given)."""
    env = dict(os.environ)
    env["BENCH_TOKENS"] = tokens_file if target["rotate"] else ""
    argv = (["taskset", "-c", cpus] if cpus else []) + ["wrk", "-t", str(threads), "-c", str(conns), "-d", f"{duration}s", "--timeout", "5s",
            "--latency", "-s", os.path.join(HERE, "wrk.lua")]
    if target["auth"] and not target["rotate"]:
        argv += ["-H", f"Authorization: Bearer {target['token']}"]
    argv.append(target["url"])
    peak = 0
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                            start_new_session=True)
    STARTED.append(proc)
    if sample_pid is not None:
        time.sleep(min(1.0, duration / 3))
        while proc.poll() is None:
            peak = max(peak, tree_rss_kb(sample_pid) if target["tree_rss"] else status_kb(sample_pid, "VmRSS"))
            time.sleep(0.25)
    out, _ = proc.communicate()
    STARTED.remove(proc)
    text = out.decode(errors="replace")
    for line in text.splitlines():
        if line.startswith("BENCHJSON "):
            res = json.loads(line[len("BENCHJSON "):])
            res["peak_rss_kb"] = peak
            return res
    raise RuntimeError(f"wrk gave no result for {target['name']}:\n{text}")


class ConsoleStream:
    """A browser with the console's Live page open: reads the admin listener's server-sent
    events (GET /api/live) as fast as they come, on a thread of this process (so its CPU is not
    the gateway's), and counts them; closing it closes the stream. The gateway's own count of
    events a stream lost is read from /metrics."""

    def __init__(self, admin_port):
        import threading
        self.port = admin_port
        self.events = 0
        self.stop = threading.Event()
        self.opened = threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)

    def _read(self):
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            sock.sendall(f"GET /api/live HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
                         "Accept: text/event-stream\r\n\r\n".encode())
            sock.settimeout(0.25)
            tail = b""
            while not self.stop.is_set():
                try:
                    chunk = sock.recv(65536)
                except socket.timeout:
                    continue
                if not chunk:
                    break
                self.opened.set()
                # The marker may straddle two reads; a tail shorter than it is never counted twice.
                text = tail + chunk
                self.events += text.count(b"event: request\n")
                tail = text[-14:]

    def __enter__(self):
        self.thread.start()
        if not self.opened.wait(10):
            die(f"the console stream on admin port {self.port} did not open")
        return self

    def __exit__(self, *_exc):
        self.stop.set()
        self.thread.join(timeout=10)


def live_dropped(admin_port):
    status, body = http_get(f"http://127.0.0.1:{admin_port}/metrics")
    for line in body.decode(errors="replace").splitlines() if status == 200 else []:
        if line.startswith("portcullis_console_live_dropped_total "):
            return int(float(line.split()[1]))
    return 0


# Targets whose comparisons are small differences (the access log's cost, the ratios to HAProxy,
# the edge's and the console's cost): loaded again in short alternating slices.
PAIRED = ["haproxy-plain", "portcullis-public", "portcullis-nolog-public", "portcullis-edge-public",
          "portcullis-jwt-same-console", "portcullis-jwt-same", "haproxy-plain-token", "portcullis-nolog-jwt-same",
          "portcullis-edge-jwt-same", "haproxy-jwt-fresh", "portcullis-jwt-fresh"]


def paired_cycles(targets, cycles, seconds, tokens_file, fresh_pairs=()):
    """The paired phase: every target of PAIRED loaded for `seconds` in turn, `cycles` times, the
    order reversed every other cycle. Compared targets are measured seconds apart, so a drift of
    the machine that moves a 10 s run by several microseconds weighs on both sides of each
    comparison; the verdicts take the median over cycles of each comparison.

    `fresh_pairs` (from start_log_pairs): instances that serve nothing but the access log's A/B,
    each pair loaded together once per cycle and route, the one started first alternating."""
    group = sorted((t for t in targets if t["name"] in PAIRED), key=lambda t: PAIRED.index(t["name"]))
    if cycles <= 0 or len(group) < 2:
        return []
    print(f"\npaired phase: {cycles} cycles of {seconds}s runs at c64: " + " ".join(t["name"] for t in group))
    rows = []
    for c in range(cycles):
        row = {}
        for t in (group if c % 2 == 0 else group[::-1]):
            time.sleep(0.5)  # let the previous run's connections close
            stream = ConsoleStream(t["console"]) if t["console"] else None
            if stream:
                stream.__enter__()
            before = tree_cpu(t["pid"])
            res = run_wrk(t, 64, 2, seconds, tokens_file)
            after = tree_cpu(t["pid"])
            if stream:
                stream.__exit__()
            ticks = sum(v - before.get(p, 0) for p, v in after.items())
            n = max(1, res["requests"])
            row[t["name"]] = {
                "cpu_us": ticks / CLK_TCK * 1e6 / n,
                "rps": res["requests"] / (res["duration_us"] / 1e6),
                "p99_us": res["p99_us"],
                "errors": wrk_errors(res),
            }
        # The access log on and off, loaded at the same time (32 connections each), twice, the
        # second time with the other one's load started first; the cycle's figure is the mean.
        by_name = {t["name"]: t for t in group}
        for on, off in LOG_PAIRS:
            if on in by_name and off in by_name:
                loads = []
                for pair in ([by_name[on], by_name[off]], [by_name[off], by_name[on]]):
                    time.sleep(0.5)
                    loads.append(load_together(pair, 32, seconds, tokens_file))
                errors = sum(wrk_errors(r) for _cpu, res in loads for r in res.values())
                row[f"together:{on}"] = {"on_us": statistics.mean(cpu[on] for cpu, _res in loads),
                                         "off_us": statistics.mean(cpu[off] for cpu, _res in loads),
                                         "errors": errors}
        for on, _off in LOG_PAIRS:
            if fresh_pairs and on in by_name:
                diffs, ons, offs, errors = [], [], [], 0
                for k, pair in enumerate(fresh_pairs):
                    a, b = pair[on]
                    time.sleep(0.5)
                    cpu, res = load_together([a, b] if (c + k) % 2 == 0 else [b, a], 32, seconds, tokens_file)
                    errors += sum(wrk_errors(r) for r in res.values())
                    ons.append(cpu[a["name"]])
                    offs.append(cpu[b["name"]])
                    diffs.append(cpu[a["name"]] - cpu[b["name"]])
                row[f"fresh:{on}"] = {"on_us": statistics.mean(ons), "off_us": statistics.mean(offs),
                                      "diffs": diffs, "errors": errors}
        rows.append(row)
        print(f"  cycle {c + 1}/{cycles}: " + "  ".join(
            f"{n} {row[n]['cpu_us']:.1f} us" for n in (t["name"] for t in group)))
    return rows


def set_affinity(pids, cpus):
    """Every thread of every process of `pids` onto `cpus` (processes that are gone are skipped)."""
    for pid in pids:
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                os.sched_setaffinity(int(tid), cpus)
            except OSError:
                pass


def load_together(targets, conns, seconds, tokens_file):
    """Loads every target at the same time, each by a wrk of its own with `conns` connections, and
    returns each one's CPU per request (its process tree's threads' run time from `schedstat`,
    over the same interval) and wrk's results. What slows the machine in those seconds slows them all.

    With two CPUs or more, the targets share one CPU for the load (every thread of their process
    trees) and everything else the benchmark started, wrk included, runs on the others: both
    targets then run on the same core in the same seconds, so what one core suffers that the
    other does not (another tenant, the hypervisor, interrupts) no longer lands on one side only.
    Two identical gateways measured this way differ by a standard deviation of about 0.5 us per
    4 s run, against 2 to 7 us unpinned. Affinities are restored afterwards."""
    import threading
    cpus = sorted(os.sched_getaffinity(0))
    pinned = len(cpus) >= 2
    target_pids = [p for t in targets for p in tree(t["pid"])]
    others = [p for proc in STARTED for p in tree(proc.pid) if p not in target_pids]
    if pinned:
        set_affinity(target_pids, {cpus[-1]})
        set_affinity(others, set(cpus[:-1]))
    results = {}
    before = {t["name"]: tree_cpu_ns(t["pid"]) for t in targets}
    wrk_cpus = ",".join(str(c) for c in cpus[:-1]) if pinned else None
    threads = [threading.Thread(target=lambda t=t: results.__setitem__(
        t["name"], run_wrk(t, conns, 1, seconds, tokens_file, cpus=wrk_cpus))) for t in targets]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    after = {t["name"]: tree_cpu_ns(t["pid"]) for t in targets}
    if pinned:
        set_affinity(target_pids + others, set(cpus))
    cpu = {}
    for t in targets:
        n = t["name"]
        ns = sum(v - before[n].get(k, 0) for k, v in after[n].items())
        cpu[n] = ns / 1000 / max(1, results[n]["requests"])
        # The same split by thread name (`tokio-runtime-w`, `access-log`, ...), per request.
        by_name = {}
        for (p, tid), v in after[n].items():
            by_name[thread_name(p, tid)] = by_name.get(thread_name(p, tid), 0) + v - before[n].get((p, tid), 0)
        results[n]["threads_us"] = {k: v / 1000 / max(1, results[n]["requests"]) for k, v in by_name.items()}
    return cpu, results


def thread_name(pid, tid):
    try:
        with open(f"/proc/{pid}/task/{tid}/comm") as f:
            return f.read().strip()
    except OSError:
        return "?"


def start_log_pairs(n, work, out, binary, ng_port, testfn, token):
    """`n` pairs of fresh instances for the access log's A/B, identical but for the log (on, to a
    file, or off), each pair started in the other order than the one before: unlike the long-running `portcullis` and `portcullis-nolog`, whose histories differ (function
    instances, the console's stream, a log file of gigabytes), these serve nothing else, and each
    pair's own offset (memory layout, which one started first) averages out over the pairs.
    Returns per pair the targets of each access-log route, by the route's target in LOG_PAIRS:
    {"portcullis-jwt-same": (on, off), "portcullis-public": (on, off)}."""
    pairs = []
    for k in range(n):
        ports = free_ports(4)
        started = {}
        for i, side in enumerate(["on", "off"] if k % 2 == 0 else ["off", "on"]):
            name = f"portcullis-ab{k + 1}-{side}"
            port, admin = ports[2 * i], ports[2 * i + 1]
            cfg = os.path.join(work, f"{name}.yaml")
            with open(cfg, "w") as f:
                f.write(portcullis_conf(port, admin, ng_port, work, testfn, 0,
                                        access_log=os.path.join(work, f"{name}-access.log") if side == "on" else None))
            proc = start(name, [binary, "--log-level", "warn", "serve", "--config", cfg],
                         os.path.join(out, f"{name}.log"), cwd=work)
            wait_port(port, proc, timeout=60)
            started[side] = (name, proc, port)
        pair = {}
        for route, path, auth in [("portcullis-public", "/public", False), ("portcullis-jwt-same", "/a", True)]:
            pair[route] = tuple({"name": f"{started[side][0]}{path}", "pid": started[side][1].pid,
                                "url": f"http://127.0.0.1:{started[side][2]}{path}", "auth": auth,
                                "rotate": False, "token": token, "tree_rss": False} for side in ("on", "off"))
        pairs.append(pair)
    return pairs


# The access log's A/B: each pair is also loaded side by side in every cycle of the paired phase.
LOG_PAIRS = [("portcullis-jwt-same", "portcullis-nolog-jwt-same"), ("portcullis-public", "portcullis-nolog-public")]


def paired_median(rows, f, *names):
    """The median over cycles of f(row) for the cycles that measured every one of `names`."""
    values = [f(r) for r in rows if all(n in r for n in names)]
    return statistics.median(values) if values else None


def paired_report(rows):
    if not rows:
        return ""
    names = [n for n in PAIRED if n in rows[0]]
    ref = "haproxy-plain" if "haproxy-plain" in rows[0] else None
    out = [f"\n### Paired comparisons: {len(rows)} cycles of short runs, alternating\n",
           "| target | CPU/req (median) | req/s c64 (median) | p99 c64 (median) "
           "| CPU/req to haproxy-plain (median of cycles) | req/s to haproxy-plain (median of cycles) |",
           "|---|---:|---:|---:|---:|---:|"]
    for n in names:
        cpu = paired_median(rows, lambda r: r[n]["cpu_us"], n)
        rps = paired_median(rows, lambda r: r[n]["rps"], n)
        p99 = paired_median(rows, lambda r: r[n]["p99_us"], n)
        if ref:
            rc = paired_median(rows, lambda r: r[n]["cpu_us"] / r[ref]["cpu_us"], n, ref)
            rr = paired_median(rows, lambda r: r[n]["rps"] / r[ref]["rps"], n, ref)
            out.append(f"| {n} | {cpu:.1f} us | {rps:,.0f} | {fmt_us(p99)} | {rc:.2f}x | {rr:.2f}x |")
        else:
            out.append(f"| {n} | {cpu:.1f} us | {rps:,.0f} | {fmt_us(p99)} | - | - |")
    for key in [k for k in rows[0] if k.startswith("together:")]:
        d = paired_median(rows, lambda r: r[key]["on_us"] - r[key]["off_us"], key)
        on = paired_median(rows, lambda r: r[key]["on_us"], key)
        off = paired_median(rows, lambda r: r[key]["off_us"], key)
        out.append(f"\nAccess log on and off loaded together ({key.split(':', 1)[1]}, 32 connections each, the "
                   f"long-running instances): {on:.1f} vs {off:.1f} us, difference {d:+.1f} us (medians of "
                   f"{len(rows)} cycles, each the mean of two loads, either started first)")
    for key in [k for k in rows[0] if k.startswith("fresh:")]:
        d = paired_median(rows, lambda r: r[key]["on_us"] - r[key]["off_us"], key)
        on = paired_median(rows, lambda r: r[key]["on_us"], key)
        off = paired_median(rows, lambda r: r[key]["off_us"], key)
        n = len(rows[0][key]["diffs"])
        per_pair = ", ".join(f"{statistics.median(r[key]['diffs'][k] for r in rows):+.2f}" for k in range(n))
        out.append(f"\nAccess log on and off loaded together ({key.split(':', 1)[1]}, 32 connections each, {n} "
                   f"pairs of fresh instances): {on:.1f} vs {off:.1f} us, difference {d:+.2f} us (medians of "
                   f"{len(rows)} cycles, each the mean over the pairs; each pair's median: {per_pair} us)")
    return "\n".join(out)


# ---------------------------------------------------------------- report


def fmt_us(us):
    if us >= 10000:
        return f"{us / 1000:.1f} ms"
    if us >= 1000:
        return f"{us / 1000:.2f} ms"
    return f"{us:.0f} us"


def ratio(a, b):
    if not b:
        return "n/a"
    return f"{a / b:.2f}x"


def aggregate(runs):
    """Combine the rounds of one target: sums for counts, median for latencies and rates."""
    c64 = [r["c64"] for r in runs]
    c1 = [r["c1"] for r in runs]
    req = sum(r["requests"] for r in c64)
    ticks = sum(r["cpu_ticks"] for r in c64)
    main_ticks = sum(r["cpu_main_ticks"] for r in c64)
    return {
        "rps": statistics.median(r["requests"] / (r["duration_us"] / 1e6) for r in c64),
        "p50": statistics.median(r["p50_us"] for r in c64),
        "p99": statistics.median(r["p99_us"] for r in c64),
        "rps1": statistics.median(r["requests"] / (r["duration_us"] / 1e6) for r in c1),
        "p50_1": statistics.median(r["p50_us"] for r in c1),
        "p99_1": statistics.median(r["p99_us"] for r in c1),
        "non2xx": sum(r["err_status"] for r in c64 + c1),
        "sockerr": sum(r["err_connect"] + r["err_read"] + r["err_write"] + r["err_timeout"]
                       for r in c64 + c1),
        "cpu_us": ticks / CLK_TCK * 1e6 / req if req else float("nan"),
        "cpu_main_us": main_ticks / CLK_TCK * 1e6 / req if req else float("nan"),
        "rss_load_mb": max(r["peak_rss_kb"] for r in c64) / 1024,
        "rss_idle_mb": min(r["idle_rss_kb"] for r in runs) / 1024,
        "hwm_mb": max(r["hwm_kb"] for r in runs) / 1024,
        "requests": req,
    }


SCENARIOS = [
    ("Authorization over a plain proxy: JWT route, the same valid token on every request", "haproxy-plain-token",
     ["nginx-direct", "haproxy-plain-token", "haproxy-plain", "haproxy-jwt-same", "portcullis-jwt-same",
      "portcullis-nolog-jwt-same"]),
    ("JWT route, a fresh valid token on every request (20,000 pre-minted, no cache): a full RS256 verify",
     "haproxy-jwt-fresh", ["nginx-direct", "haproxy-jwt-fresh", "portcullis-jwt-fresh"]),
    ("Public route, no authorizer", "haproxy-plain",
     ["nginx-direct", "haproxy-plain", "portcullis-public", "portcullis-nolog-public"]),
    ("The production edge: an API-wide CORS policy and throttle, local or shared in Redis", "haproxy-plain",
     ["haproxy-plain", "portcullis-public", "portcullis-edge-public", "portcullis-shared-public",
      "portcullis-jwt-same", "portcullis-edge-jwt-same"]),
    ("Lambda routes (trivial handlers, concurrency 2) beside the HTTP proxy path", "haproxy-plain",
     ["nginx-direct", "haproxy-plain", "portcullis-public", "portcullis-fn-rust", "portcullis-fn-node"]),
    ("Public route with 10 routes vs 10,010 routes configured", "haproxy-plain",
     ["nginx-direct", "haproxy-plain", "portcullis-public", "portcullis10k-public"]),
    ("The admin console open and streaming (--console): the cached-JWT route", "haproxy-plain",
     ["haproxy-plain", "portcullis-jwt-same", "portcullis-jwt-same-console"]),
]


def report(agg, descr):
    out = []
    for title, ref, names in SCENARIOS:
        names = [n for n in names if n in agg]  # --only may leave some out
        if not any(n.startswith("portcullis") for n in names):
            continue
        base, ha = agg.get("nginx-direct"), agg.get(ref)
        out.append(f"\n### {title}\n")
        out.append("| target | req/s c64 | p50 c64 | p99 c64 | req/s c1 | p50 c1 | p99 c1 | non-2xx | sock err "
                   "| CPU/req (tree) | CPU/req (main proc) | RSS load | RSS idle | VmHWM |")
        out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for n in names:
            a = agg[n]
            out.append(
                f"| {n} | {a['rps']:,.0f} | {fmt_us(a['p50'])} | {fmt_us(a['p99'])} | {a['rps1']:,.0f} "
                f"| {fmt_us(a['p50_1'])} | {fmt_us(a['p99_1'])} | {a['non2xx']} | {a['sockerr']} "
                f"| {a['cpu_us']:.1f} us | {a['cpu_main_us']:.1f} us | {a['rss_load_mb']:.1f} MB "
                f"| {a['rss_idle_mb']:.1f} MB | {a['hwm_mb']:.1f} MB |")
        out.append("")
        out.append(f"Ratios (to nginx direct / to {ref}):\n")
        out.append("| target | req/s c64 | p50 c64 | p99 c64 | req/s c1 | p99 c1 | CPU/req | RSS load |")
        out.append("|---|---:|---:|---:|---:|---:|---:|---:|")
        for n in names:
            a = agg[n]
            cells = []
            for key in ["rps", "p50", "p99", "rps1", "p99_1", "cpu_us", "rss_load_mb"]:
                cells.append(f"{ratio(a[key], base[key]) if base else '-'} / {ratio(a[key], ha[key]) if ha else '-'}")
            out.append(f"| {n} | " + " | ".join(cells) + " |")
    out.append("\n" + descr)
    return "\n".join(out)


# VmRSS (kB) of each Portcullis instance one second after it listened, before any request.
START_RSS_KB = {}


def verdicts(agg, paired=()):
    """The current targets, evaluated on these numbers (rows whose targets were not loaded, see
    --only, are left out). Comparisons of targets in the paired phase are judged on its medians
    over cycles, with the rounds' figures beside them."""
    g = agg
    rows = []

    def add(target, ok, figures):
        rows.append(f"| {target} | {'met' if ok else 'NOT met'} | {figures} |")

    def have(*names):
        return all(n in g for n in names)

    def in_pairs(*names):
        return bool(paired) and all(n in paired[0] for n in names)

    def cpu_ratio(name, limit, a, b):
        if not have(a, b):
            return
        x, y = g[a]["cpu_us"], g[b]["cpu_us"]
        rounds = f"{x:.1f} us vs {y:.1f} us = {x / y:.2f}x"
        if in_pairs(a, b):
            r = paired_median(paired, lambda c: c[a]["cpu_us"] / c[b]["cpu_us"], a, b)
            add(name, r <= limit, f"{r:.2f}x (median of {len(paired)} cycles); rounds: {rounds}")
        else:
            add(name, x <= limit * y, rounds)

    for on, off in [("portcullis-jwt-same", "portcullis-nolog-jwt-same"), ("portcullis-public", "portcullis-nolog-public")]:
        if have(on, off):
            d = g[on]["cpu_us"] - g[off]["cpu_us"]
            rounds = f"{g[on]['cpu_us']:.1f} - {g[off]['cpu_us']:.1f} = {d:+.1f} us"
            if in_pairs(f"fresh:{on}"):
                key = f"fresh:{on}"
                dt = paired_median(paired, lambda c: c[key]["on_us"] - c[key]["off_us"], key)
                dl = paired_median(paired, lambda c: c[f"together:{on}"]["on_us"] - c[f"together:{on}"]["off_us"],
                                   f"together:{on}")
                long_running = f"; the long-running instances together: {dl:+.1f} us" if dl is not None else ""
                add(f"access log costs <= 1.5 us CPU/req ({on} vs log off)", dt <= 1.5,
                    f"{dt:+.2f} us (fresh pairs loaded together, median of {len(paired)} cycles){long_running}; "
                    f"{rounds} (rounds)")
            elif in_pairs(f"together:{on}"):
                key = f"together:{on}"
                dt = paired_median(paired, lambda c: c[key]["on_us"] - c[key]["off_us"], key)
                dp = paired_median(paired, lambda c: c[on]["cpu_us"] - c[off]["cpu_us"], on, off)
                add(f"access log costs <= 1.5 us CPU/req ({on} vs log off)", dt <= 1.5,
                    f"{dt:+.1f} us (loaded together, median of {len(paired)} cycles); one after the "
                    f"other: {dp:+.1f} us (median of cycles), {rounds} (rounds)")
            elif in_pairs(on, off):
                dp = paired_median(paired, lambda c: c[on]["cpu_us"] - c[off]["cpu_us"], on, off)
                add(f"access log costs <= 1.5 us CPU/req ({on} vs log off)", dp <= 1.5,
                    f"{dp:+.1f} us (median of {len(paired)} cycles); rounds: {rounds}")
            else:
                add(f"access log costs <= 1.5 us CPU/req ({on} vs log off)", d <= 1.5, rounds)
    # The cached-JWT route against HAProxy plain given the same requests (token header and all).
    jwt_ref = "haproxy-plain-token" if have("haproxy-plain-token") else "haproxy-plain"
    cpu_ratio(f"JWT route (cached token), log on, CPU/req <= 1.0x HAProxy plain (httplog), {jwt_ref}", 1.0,
              "portcullis-jwt-same", jwt_ref)
    cpu_ratio("public route, log on, CPU/req <= 0.9x HAProxy plain (httplog)", 0.9, "portcullis-public", "haproxy-plain")
    cpu_ratio("JWT route (fresh token, RS256 every request), CPU/req <= 0.9x HAProxy jwt_verify", 0.9,
              "portcullis-jwt-fresh", "haproxy-jwt-fresh")
    for pc, hname in [("portcullis-jwt-same", jwt_ref), ("portcullis-public", "haproxy-plain"),
                      ("portcullis-jwt-fresh", "haproxy-jwt-fresh")]:
        if have(pc, hname):
            rounds = f"{fmt_us(g[pc]['p99'])} vs {fmt_us(g[hname]['p99'])}"
            if in_pairs(pc, hname):
                r = paired_median(paired, lambda c: c[pc]["p99_us"] / c[hname]["p99_us"], pc, hname)
                add(f"p99 c64 below HAProxy: {pc} vs {hname}", r < 1.0,
                    f"{r:.2f}x (median of {len(paired)} cycles); rounds: {rounds}")
            else:
                add(f"p99 c64 below HAProxy: {pc} vs {hname}", g[pc]["p99"] < g[hname]["p99"], rounds)
    for pc, ref in [("portcullis-jwt-same", jwt_ref), ("portcullis-public", "haproxy-plain")]:
        if have(pc, ref):
            rounds = f"{g[pc]['rps']:,.0f} vs {g[ref]['rps']:,.0f}"
            if in_pairs(pc, ref):
                r = paired_median(paired, lambda c: c[pc]["rps"] / c[ref]["rps"], pc, ref)
                add(f"req/s c64 >= HAProxy plain: {pc} vs {ref}", r >= 1.0,
                    f"{r:.2f}x (median of {len(paired)} cycles); rounds: {rounds}")
            else:
                add(f"req/s c64 >= HAProxy plain: {pc} vs {ref}", g[pc]["rps"] >= g[ref]["rps"], rounds)
    cpu_ratio("CORS + API-wide throttle cost <= 5% (public route)", 1.05, "portcullis-edge-public", "portcullis-public")
    cpu_ratio("CORS + API-wide throttle cost <= 5% (cached JWT route)", 1.05, "portcullis-edge-jwt-same",
              "portcullis-jwt-same")
    if have("portcullis-shared-public", "portcullis-edge-public"):
        s_, l_ = g["portcullis-shared-public"], g["portcullis-edge-public"]
        add("shared throttle (Redis) vs local: CPU/req and p99 (reported, no target)", True,
            f"CPU {s_['cpu_us']:.1f} vs {l_['cpu_us']:.1f} us ({s_['cpu_us'] / l_['cpu_us']:.2f}x), "
            f"p99 {fmt_us(s_['p99'])} vs {fmt_us(l_['p99'])}")
    if have("portcullis-public", "nginx-direct"):
        c, n = g["portcullis-public"], g["nginx-direct"]
        add("public route CPU/req <= 1.5x nginx answering directly", c["cpu_us"] <= 1.5 * n["cpu_us"],
            f"{c['cpu_us']:.1f} us vs {n['cpu_us']:.1f} us = {c['cpu_us'] / n['cpu_us']:.2f}x")
    if have("portcullis-jwt-same", "portcullis-jwt-same-console"):
        a, f = g["portcullis-jwt-same"], g["portcullis-jwt-same-console"]
        rise = f["cpu_us"] / a["cpu_us"] - 1
        rounds = f"{a['cpu_us']:.1f} -> {f['cpu_us']:.1f} us ({rise:+.1%})"
        if in_pairs("portcullis-jwt-same", "portcullis-jwt-same-console"):
            rp = paired_median(paired, lambda c: c["portcullis-jwt-same-console"]["cpu_us"]
                               / c["portcullis-jwt-same"]["cpu_us"] - 1,
                               "portcullis-jwt-same", "portcullis-jwt-same-console")
            add("console open and streaming: cached-JWT CPU/req rises <= 5%", rp <= 0.05,
                f"{rp:+.1%} (median of {len(paired)} cycles); rounds: {rounds}")
        else:
            add("console open and streaming: cached-JWT CPU/req rises <= 5%", rise <= 0.05, rounds)
    if have("portcullis10k-public", "portcullis-public"):
        c, e = g["portcullis-public"], g["portcullis10k-public"]
        dcpu = e["cpu_us"] / c["cpu_us"] - 1
        drps = e["rps"] / c["rps"] - 1
        add("10,010 vs 10 routes: no measurable difference (|delta| <= 10% in CPU/req and req/s)",
            abs(dcpu) <= 0.10 and abs(drps) <= 0.10,
            f"CPU/req {c['cpu_us']:.1f} -> {e['cpu_us']:.1f} us ({dcpu:+.0%}), req/s {c['rps']:,.0f} -> {e['rps']:,.0f} ({drps:+.0%})")
    pcs = [k for k in g if k.startswith("portcullis")]
    if pcs:
        # RSS of the gateway process itself (function instances are separate processes).
        load = max(g[k]["rss_load_mb"] for k in pcs)
        idle = max(g[k]["rss_idle_mb"] for k in pcs)
        add("RSS under c64 load < 64 MB (gateway process, worst target)", load < 64, f"{load:.1f} MB")
        add("RSS idle < 20 MB (gateway process, worst instance, before each run: after the warm-up "
            "load, pooled upstream connections included)", idle < 20, f"{idle:.1f} MB")
    if START_RSS_KB:
        name, kb = max(START_RSS_KB.items(), key=lambda item: item[1])
        add("RSS idle < 20 MB at start (gateway process, worst instance, before any request)", kb / 1024 < 20,
            f"{kb / 1024:.1f} MB ({name})")
    errs = sum(g[k]["non2xx"] + g[k]["sockerr"] for k in g)
    add("no errors (non-2xx and socket errors, every target)", errs == 0, f"{errs}")
    if have("portcullis-fn-node"):
        node = g["portcullis-fn-node"]
        add("Node handler >= 10x serverless-offline's ~900 req/s (>= 9,000 req/s)", node["rps"] >= 9000,
            f"{node['rps']:,.0f} req/s")
    return "| target | verdict | figures |\n|---|---|---|\n" + "\n".join(rows)


# ---------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="3 s runs instead of 10 s")
    ap.add_argument("--rounds", type=int, default=2, help="rounds, forward and reversed order in turn (>= 2)")
    ap.add_argument("--duration", type=int, default=None, help="seconds per wrk run (default 10, quick 3)")
    ap.add_argument("--only", default=None,
                    help="comma-separated target names to load (default: all), e.g. nginx-direct,portcullis-fn-node")
    ap.add_argument("--tokens", type=int, default=20000, help="pre-minted tokens for scenario (b)")
    ap.add_argument("--bin-dir", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target")), "production"))
    ap.add_argument("--out", default=None, help="directory for raw results and logs (default: a temp dir)")
    ap.add_argument("--console", action="store_true",
                    help="also load the cached-JWT route with the admin console's live stream open and read "
                         "(target portcullis-jwt-same-console, compared with portcullis-jwt-same)")
    ap.add_argument("--cycles", type=int, default=None,
                    help="cycles of the paired phase (default 8, quick 4; 0 skips it)")
    ap.add_argument("--cycle-seconds", type=int, default=3, help="seconds per run in the paired phase")
    args = ap.parse_args()
    duration = args.duration or (3 if args.quick else 10)
    cycles = args.cycles if args.cycles is not None else (4 if args.quick else 8)
    rounds = max(2, args.rounds)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    portcullis = os.path.join(os.path.abspath(args.bin_dir), "portcullis")
    testfn = os.path.join(os.path.abspath(args.bin_dir), "portcullis-testfn")
    for path in (portcullis, testfn):
        if not os.access(path, os.X_OK):
            die(f"{path} missing: build with cargo build --profile production -p portcullis -p portcullis-testfn")
    for tool in ("wrk", "nginx", "haproxy", "node"):
        if not shutil.which(tool):
            die(f"{tool} not found on PATH (bench/run.sh installs it when run as root)")

    work = tempfile.mkdtemp(prefix="portcullis-bench-")
    out = os.path.abspath(args.out) if args.out else work
    os.makedirs(out, exist_ok=True)
    versions = {
        "haproxy": subprocess.run(["haproxy", "-v"], capture_output=True, text=True).stdout.splitlines()[0],
        "nginx": subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip(),
        "wrk": subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()[0].strip(),
        "node": subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip(),
        "portcullis": subprocess.run([portcullis, "--version"], capture_output=True, text=True).stdout.strip(),
    }
    with open("/proc/cpuinfo") as f:
        model = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "unknown")
    machine = f"{os.cpu_count()} CPUs ({len(os.sched_getaffinity(0))} usable), {model}"
    print(f"machine: {machine}; load average at start: {os.getloadavg()}")
    for k, v in versions.items():
        print(f"{k}: {v}")
    print(f"work dir: {work}; runs of {duration}s, {rounds} rounds")

    same, bad = make_keys(work, args.tokens)
    tokens_file = os.path.join(work, "tokens.txt")

    ports = free_ports(14)
    ng_port, ha_port, hp_port = ports[0:3]
    instances = ["portcullis", "portcullis-nolog", "portcullis-edge", "portcullis10k"]
    redis_url = None
    if shutil.which("redis-server") and (args.only is None or "portcullis-shared" in args.only):
        redis_port = ports[3]
        start("redis", ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                        "--appendonly", "no"], os.path.join(out, "redis.log"))
        redis_url = f"redis://127.0.0.1:{redis_port}"
        instances.append("portcullis-shared")
    instance_ports = {name: (ports[4 + 2 * i], ports[5 + 2 * i]) for i, name in enumerate(instances)}

    nginx = start_nginx(work, ng_port, os.path.join(out, "nginx.log"))

    ha_log = os.path.join(work, "haproxy-log.sock")
    ha_lines = syslog_sink(ha_log)
    ha_cfg = os.path.join(work, "haproxy.cfg")
    with open(ha_cfg, "w") as f:
        f.write(haproxy_conf(ha_port, hp_port, ng_port, os.path.join(work, "public.pem"), ha_log))
    check = subprocess.run(["haproxy", "-c", "-f", ha_cfg], capture_output=True, text=True)
    if check.returncode != 0:
        die(f"haproxy -c refused the config:\n{check.stdout}{check.stderr}")
    haproxy = start("haproxy", ["haproxy", "-db", "-f", ha_cfg], os.path.join(out, "haproxy.log"))
    wait_port(ha_port, haproxy)

    pcs = {}
    for name in instances:
        port, admin = instance_ports[name]
        extra = 10000 if name == "portcullis10k" else 0
        log = None if name == "portcullis-nolog" else os.path.join(work, f"{name}-access.log")
        cfg = os.path.join(work, f"{name}.yaml")
        with open(cfg, "w") as f:
            f.write(portcullis_conf(port, admin, ng_port, work, testfn, extra, access_log=log,
                                    edge=name == "portcullis-edge",
                                    redis=redis_url if name == "portcullis-shared" else None))
        t0 = time.time()
        proc = start(name, [portcullis, "--log-level", "warn", "serve", "--config", cfg],
                     os.path.join(out, f"{name}.log"), cwd=work)
        wait_port(port, proc, timeout=60)
        listening = time.time() - t0
        # Idle at start: before any request, so no upstream connection is pooled yet (the
        # "RSS idle" of the tables is read before each run, after the warm-up load).
        time.sleep(1)
        START_RSS_KB[name] = status_kb(proc.pid, "VmRSS")
        print(f"{name}: listening after {listening:.2f}s ({extra + 10} routes), "
              f"VmRSS {START_RSS_KB[name] / 1024:.1f} MB idle at start")
        pcs[name] = (proc, port)
    logs = [p.bench_log for p in STARTED]

    def T(name, proc, port, path, auth=False, rotate=False, tree_rss=False, console=None, checks=True):
        """`auth`: requests carry the token; `checks`: the target refuses bad tokens (sanity)."""
        return {"name": name, "pid": proc.pid, "url": f"http://127.0.0.1:{port}{path}", "auth": auth,
                "checks": checks, "rotate": rotate, "token": same, "tree_rss": tree_rss, "console": console}

    def P(name, instance, path, **kw):
        proc, port = pcs[instance]
        return T(name, proc, port, path, **kw)

    # Targets compared with each other sit side by side (each access-log pair, HAProxy plain
    # between the public and the cached-JWT routes, each edge target next to its route): with the
    # order reversed every other round, they are loaded moments apart and at the same mean time.
    targets = [
        T("nginx-direct", nginx, ng_port, "/hello", tree_rss=True),
        P("portcullis10k-public", "portcullis10k", "/public"),
        P("portcullis-edge-public", "portcullis-edge", "/public"),
        P("portcullis-nolog-public", "portcullis-nolog", "/public"),
        P("portcullis-public", "portcullis", "/public"),
        T("haproxy-plain", haproxy, hp_port, "/public"),
        P("portcullis-jwt-same", "portcullis", "/a", auth=True),
        # HAProxy plain given the cached-JWT target's requests (path, bearer token): the same
        # traffic through a proxy that checks nothing, so the difference is the authorization.
        T("haproxy-plain-token", haproxy, hp_port, "/a", auth=True, checks=False),
        P("portcullis-nolog-jwt-same", "portcullis-nolog", "/a", auth=True),
        P("portcullis-edge-jwt-same", "portcullis-edge", "/a", auth=True),
        T("haproxy-jwt-same", haproxy, ha_port, "/a", auth=True),
        T("haproxy-jwt-fresh", haproxy, ha_port, "/b", auth=True, rotate=True),
        P("portcullis-jwt-fresh", "portcullis", "/b", auth=True, rotate=True),
        P("portcullis-fn-rust", "portcullis", "/fn/rust"),
        P("portcullis-fn-node", "portcullis", "/fn/node"),
    ]
    if "portcullis-shared" in pcs:
        targets.insert(3, P("portcullis-shared-public", "portcullis-shared", "/public"))
    if args.console:
        jwt = next(i for i, t in enumerate(targets) if t["name"] == "portcullis-jwt-same")
        targets.insert(jwt, P("portcullis-jwt-same-console", "portcullis", "/a", auth=True,
                              console=instance_ports["portcullis"][1]))
    if args.only:
        wanted = set(args.only.split(","))
        unknown = wanted - {t["name"] for t in targets}
        if unknown:
            die(f"--only: unknown targets {sorted(unknown)}; known: {[t['name'] for t in targets]}")
        targets = [t for t in targets if t["name"] in wanted]
    sanity(targets, same, bad, logs)

    # Warm-up (not measured): connection pools, function instances started (cold starts), caches.
    for t in targets:
        run_wrk(t, 64, 2, 1, tokens_file)

    raw_path = os.path.join(out, "results.jsonl")
    raw = open(raw_path, "w")
    results = {t["name"]: [] for t in targets}
    t_start = time.time()
    for rnd in range(rounds):
        # Forward, then reversed (ABBA): a slow drift of the machine (its other tenants, the
        # page cache filling) weighs the same on every target over each two rounds.
        order = targets if rnd % 2 == 0 else targets[::-1]
        print(f"\nround {rnd + 1}/{rounds}: " + " ".join(t["name"] for t in order))
        for t in order:
            pid = t["pid"]
            if t["name"].startswith("haproxy") or t["name"].startswith("portcullis"):
                time.sleep(0.5)  # let the previous run's connections close
            idle_rss = tree_rss_kb(pid) if t["tree_rss"] else status_kb(pid, "VmRSS")
            stream = ConsoleStream(t["console"]) if t["console"] else None
            if stream:
                stream.__enter__()
                dropped_before = live_dropped(t["console"])
            before, before_main = tree_cpu(pid), cpu_ticks(pid)
            c64 = run_wrk(t, 64, 2, duration, tokens_file, sample_pid=pid)
            after, after_main = tree_cpu(pid), cpu_ticks(pid)
            if stream:
                stream.__exit__()
                c64["console_events"] = stream.events
                c64["console_dropped"] = live_dropped(t["console"]) - dropped_before
                print(f"  (console stream: {stream.events:,} events read, "
                      f"{c64['console_dropped']:,} dropped by the gateway for it)")
            # Processes that ended during the run lose their last ticks: a small undercount only.
            c64["cpu_ticks"] = sum(v - before.get(p, 0) for p, v in after.items())
            c64["cpu_main_ticks"] = after_main - before_main
            c1 = run_wrk(t, 1, 1, duration, tokens_file)
            run = {"round": rnd, "target": t["name"], "c64": c64, "c1": c1, "idle_rss_kb": idle_rss,
                   "hwm_kb": status_kb(pid, "VmHWM")}
            results[t["name"]].append(run)
            raw.write(json.dumps(run) + "\n")
            raw.flush()
            rps = c64["requests"] / (c64["duration_us"] / 1e6)
            cpu = c64["cpu_ticks"] / CLK_TCK * 1e6 / max(1, c64["requests"])
            print(f"  {t['name']:22s} c64 {rps:9,.0f} req/s p99 {fmt_us(c64['p99_us']):>9s}  "
                  f"c1 p50 {fmt_us(c1['p50_us']):>8s}  cpu/req {cpu:6.1f} us  "
                  f"errors {c64['err_status'] + c1['err_status']}/{c64['err_connect'] + c64['err_read'] + c64['err_timeout'] + c1['err_read'] + c1['err_timeout']}")
            for p in STARTED:
                if p.poll() is not None:
                    die(f"{p.bench_name} exited (status {p.returncode}) during the benchmark", [p.bench_log])
    fresh = []
    if cycles > 0 and any(t["name"] in {on for on, _off in LOG_PAIRS} for t in targets):
        fresh = start_log_pairs(2, work, out, portcullis, ng_port, testfn, same)
        for pair in fresh:
            for a, b in pair.values():
                load_together([a, b], 32, 2, tokens_file)  # warm-up: pools, caches
    paired = paired_cycles(targets, cycles, args.cycle_seconds, tokens_file, fresh)
    for row in paired:
        raw.write(json.dumps({"paired": row}) + "\n")
    raw.close()

    agg = {name: aggregate(runs) for name, runs in results.items()}

    descr = (
        f"HAProxy access-log lines received: {ha_lines['lines']:,}. "
        f"Machine: {machine}. Load average at end: {tuple(round(x, 2) for x in os.getloadavg())}. "
        f"{rounds} rounds, the order reversed every other round, wrk -d {duration}s -c 64 -t 2 then -c 1 -t 1, --timeout 5s. "
        f"Benchmark time {time.time() - t_start:.0f}s. Versions: " + "; ".join(f"{k} {v}" for k, v in versions.items()) + ". "
        "CPU/req (tree) = utime+stime of the server's process tree (nginx: master+workers; Portcullis: gateway "
        "plus its function instances) during the c64 run / requests completed. RSS load = peak VmRSS sampled every "
        "0.25 s during the c64 run (nginx: sum over its processes; others: the main process); RSS idle = before the run. "
        "Idle at start (VmRSS 1 s after listening, before any request): "
        + ", ".join(f"{k} {v / 1024:.1f} MB" for k, v in START_RSS_KB.items()) + "."
    )
    text = report(agg, descr) + paired_report(paired)
    ver = verdicts(agg, paired)
    print("\n## Results\n" + text + "\n\n## Targets\n\n" + ver)
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write(text + "\n\n" + ver + "\n")
    print(f"\nraw results: {raw_path}; report: {os.path.join(out, 'report.md')}; logs in {out}")

    failures = [n for n, a in agg.items() if a["non2xx"] or a["sockerr"]]
    failures += sorted({n for row in paired for n, m in row.items() if m["errors"]} - set(failures))
    cleanup()
    # The gateways' access logs grow by gigabytes over a run and no figure needs them afterwards.
    for name in os.listdir(work):
        if name.endswith("-access.log"):
            os.remove(os.path.join(work, name))
    if failures:
        print(f"\nBENCH FAILED: non-2xx responses or socket errors on: {', '.join(failures)} "
              f"(see {raw_path} and the logs in {out})", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    try:
        main()
    finally:
        cleanup()
