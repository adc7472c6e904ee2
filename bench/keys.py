#!/usr/bin/env python3
"""Memory under a flood of distinct throttle keys: one keyed limit, N requests, N keys.

    bench/keys.py                         # 1,000,000 distinct keys, default max_keys (100,000)
    bench/keys.py --keys 2000000 --max-keys 1000000

Starts the production build of Portcullis (`cargo build --profile production -p portcullis`,
or --bin) with one route whose limit is keyed on a header, sends every request with a new key
(wrk, 64 connections, each request's key unique across threads; a bucket takes 1000 s to refill,
so no key is forgotten for being idle and only `max_keys` bounds them), samples VmRSS every 0.25 s
and prints: RSS before, peak RSS (sampled and VmHWM), the keys the limit holds at the end (from
/metrics) and the requests sent. Every process it starts is stopped on exit.
"""

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

LUA = r"""
local counter = 0
local answered = 0
local limit = tonumber(os.getenv("KEYS_PER_THREAD"))
local next_id = 0
function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end
function init(args)
  prefix = "t" .. id .. "-"
end
function request()
  counter = counter + 1
  return wrk.format("GET", "/k", {["x-key"] = prefix .. counter})
end
function response(status, headers, body)
  answered = answered + 1
  if answered >= limit then
    wrk.thread:stop()
  end
end
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status_kb(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keys", type=int, default=1_000_000, help="distinct keys (= requests)")
    ap.add_argument("--max-keys", type=int, default=None, help="the limit's max_keys (default: Portcullis's)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--bin", default=os.path.join(
        os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target")), "production", "portcullis"))
    args = ap.parse_args()
    if not os.path.exists(args.bin):
        sys.exit(f"{args.bin} is missing: cargo build --profile production -p portcullis")

    work = tempfile.mkdtemp(prefix="portcullis-keys-")
    port, admin = free_port(), free_port()
    max_keys = f", max_keys: {args.max_keys}" if args.max_keys else ""
    with open(os.path.join(work, "portcullis.yaml"), "w") as f:
        f.write(f"listen: 127.0.0.1:{port}\nadmin: 127.0.0.1:{admin}\naccess_log: {{enabled: false}}\n"
                f"routes:\n  GET /k:\n    respond: {{body: ok}}\n"
                f"    throttle: [{{rate: 0.001, burst: 1, key: $request.header.x-key{max_keys}}}]\n")
    lua = os.path.join(work, "keys.lua")
    with open(lua, "w") as f:
        f.write(LUA)
    gateway = subprocess.Popen([args.bin, "serve", "--config", "portcullis.yaml"], cwd=work,
                               stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "gateway.log"), "w"))
    wrk = None

    def stop(*_):
        for proc in (wrk, gateway):
            if proc and proc.poll() is None:
                proc.terminate()
        sys.exit(1)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{admin}/readyz", timeout=1)
                break
            except OSError:
                time.sleep(0.05)
        else:
            sys.exit(f"the gateway did not start; see {work}/gateway.log")
        urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/k", headers={"x-key": "warm"}))
        before = status_kb(gateway.pid, "VmRSS")
        peak = [before]
        done = threading.Event()

        def sample():
            while not done.wait(0.25):
                peak[0] = max(peak[0], status_kb(gateway.pid, "VmRSS"))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        env = dict(os.environ, KEYS_PER_THREAD=str(args.keys // args.threads))
        started = time.monotonic()
        # Each wrk thread stops sending after its share, but wrk itself waits out its duration:
        # it is interrupted (and prints its summary) once the gateway has answered them all.
        wrk = subprocess.Popen(["wrk", f"-t{args.threads}", f"-c{args.connections}", "-d3600s", "-s", lua,
                                f"http://127.0.0.1:{port}/k"], env=env, stdout=subprocess.PIPE, text=True)
        answered, last, still, most_held = 0, -1, 0, 0
        while wrk.poll() is None and still < 8:
            time.sleep(0.25)
            metrics = urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics").read().decode()
            found = re.search(r'portcullis_requests_total\{class="2xx"\} (\d+)', metrics)
            answered = int(found.group(1)) - 1 if found else 0
            held = re.search(r'portcullis_throttle_keys\{route="GET /k",limit="[^"]*"\} (\d+)', metrics)
            most_held = max(most_held, int(held.group(1)) if held else 0)
            still = still + 1 if answered == last else 0
            last = answered
        elapsed = time.monotonic() - started - 0.25 * still
        wrk.send_signal(signal.SIGINT)
        wrk_out = wrk.communicate(timeout=30)[0]
        done.set()
        sampler.join()
        requests = re.search(r"(\d+) requests in", wrk_out)
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics").read().decode()
        held = re.search(r'portcullis_throttle_keys\{route="GET /k",limit="[^"]*"\} (\d+)', metrics)
        hwm = status_kb(gateway.pid, "VmHWM")
        after = status_kb(gateway.pid, "VmRSS")
        print(f"requests answered (each with a new key): {answered} in {elapsed:.1f} s"
              f" (wrk counted {requests.group(1) if requests else '?'})")
        print(f"keys held: at most {most_held} while sampled, {held.group(1) if held else '?'} at the end"
              f" (max_keys {args.max_keys or 'default'})")
        print(f"RSS before: {before / 1024:.1f} MiB, peak sampled: {peak[0] / 1024:.1f} MiB, "
              f"VmHWM: {hwm / 1024:.1f} MiB, after: {after / 1024:.1f} MiB")
    finally:
        if gateway.poll() is None:
            gateway.terminate()
            gateway.wait(10)


if __name__ == "__main__":
    main()
