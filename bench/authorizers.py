#!/usr/bin/env python3
"""Lambda-authorizer load benchmark: a warm answer cache vs an invocation per
request, beside a public route, through the release gateway, with wrk.

Starts on 127.0.0.1 (free ports): Portcullis with a trivial Node REQUEST authorizer (simple
answers) in front of fixed `respond` routes:
  /public      no authorizer                        (the floor)
  /cached      result_ttl 300s: one invocation, then the cache
  /uncached    result_ttl 0s: every request invokes the function
  /rule        no authorizer, one CEL route rule     (cost of a rule, end to end)
Each target is loaded with `wrk -t2 -c64 -d{duration}s` (bounded), and the gateway's CPU time per
request is read from /proc (utime+stime of the gateway and its function instances).

Usage: bench/authorizers.py [--duration 10] [--bin target/release/portcullis]
Needs wrk and node (bench/run.sh installs them); build first: cargo build --release -p portcullis
"""

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLK_TCK = os.sysconf("SC_CLK_TCK")

AUTHORIZER = """export const handler = async (event) => ({
  isAuthorized: event.identitySource[0] === 'Bearer good',
  context: { tenant: 'acme' },
});
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tree_cpu_ticks(pid):
    """utime+stime of pid and all its descendants (function instances)."""
    total = 0
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            ppid = int(fields[1])
            children.setdefault(ppid, []).append((int(entry), int(fields[11]) + int(fields[12])))
        except (OSError, IndexError, ValueError):
            continue
    stack = [pid]
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    total += int(fields[11]) + int(fields[12])
    while stack:
        for child, ticks in children.get(stack.pop(), []):
            total += ticks
            stack.append(child)
    return total


def wrk(url, duration, header):
    out = subprocess.run(
        ["wrk", "-t2", "-c64", f"-d{duration}s", "--latency", "--timeout", "5s", "-H", header, url],
        capture_output=True, text=True, check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    return rps, total, int(non2xx.group(1)) if non2xx else 0, float(p99.group(1)) * scale[p99.group(2)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--bin", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target")), "release", "portcullis"))
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="portcullis-authz-bench-")
    with open(os.path.join(work, "authz.mjs"), "w") as f:
        f.write(AUTHORIZER)
    port, admin = free_port(), free_port()
    config = f"""listen: 127.0.0.1:{port}
admin: 127.0.0.1:{admin}
access_log: {{enabled: false}}
functions:
  authz: {{runtime: nodejs, handler: authz.handler, concurrency: 2}}
authorizers:
  cached: {{type: lambda, function: authz, event: request, simple_responses: true, identity_source: [$request.header.Authorization], result_ttl: 300s}}
  uncached: {{type: lambda, function: authz, event: request, simple_responses: true, identity_source: [$request.header.Authorization], result_ttl: 0s}}
routes:
  GET /public: {{respond: {{status: 200, body: '{{"ok":true}}'}}}}
  GET /cached: {{respond: {{status: 200, body: '{{"ok":true}}'}}, authorizer: cached}}
  GET /uncached: {{respond: {{status: 200, body: '{{"ok":true}}'}}, authorizer: uncached}}
  GET /rule: {{respond: {{status: 200, body: '{{"ok":true}}'}}, rules: ["request.headers['authorization'] == 'Bearer good'"]}}
"""
    path = os.path.join(work, "portcullis.yaml")
    with open(path, "w") as f:
        f.write(config)
    log = open(os.path.join(work, "gateway.log"), "w")
    gw = subprocess.Popen([args.bin, "serve", "--config", path, "--log-level", "warn"], cwd=work, stdout=log, stderr=log, start_new_session=True)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/public", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        header = "Authorization: Bearer good"
        # Warm: start the function instances and fill the cache.
        subprocess.run(["wrk", "-t1", "-c2", "-d1s", "-H", header, f"http://127.0.0.1:{port}/uncached"], capture_output=True)
        rows = []
        for target in ["public", "rule", "cached", "uncached"]:
            before = tree_cpu_ticks(gw.pid)
            rps, total, non2xx, p99 = wrk(f"http://127.0.0.1:{port}/{target}", args.duration, header)
            cpu_us = (tree_cpu_ticks(gw.pid) - before) / CLK_TCK * 1e6 / max(total, 1)
            rows.append((target, rps, p99, non2xx, cpu_us))
        print(f"gateway: {args.bin}; wrk -t2 -c64 -d{args.duration}s; 2 vCPUs shared with wrk")
        print("| route | req/s | p99 | non-2xx | CPU/req (gateway + instances) | req/s vs public |")
        print("|---|---:|---:|---:|---:|---:|")
        base = rows[0][1]
        for target, rps, p99, non2xx, cpu in rows:
            print(f"| /{target} | {rps:,.0f} | {p99:.2f} ms | {non2xx} | {cpu:.1f} us | {rps / base:.2f}x |")
        if any(r[3] for r in rows):
            sys.exit(1)
    finally:
        os.killpg(gw.pid, signal.SIGTERM)
        gw.wait(timeout=10)


if __name__ == "__main__":
    main()
