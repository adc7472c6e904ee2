#!/usr/bin/env python3
"""Per-request cost of one Portcullis path, measured before and after a change (profile first).

Starts the nginx upstream and one Portcullis instance (the bench.py configs), then loads one path
with wrk and reports, for the gateway process only:

  --mode cpu        CPU time per request (utime+stime from /proc/PID/stat), N runs, median;
  --mode callgrind  instructions per request under valgrind --tool=callgrind (stable on a noisy
                    machine): counters are zeroed after a warm-up, wrk runs a few seconds at low
                    concurrency, then the profile is dumped and Ir / requests printed;
  --mode perf       perf record -g of the gateway during one wrk run (perf report afterwards);
  --mode syscalls   perf stat of the gateway's system calls and context switches per request.

  bench/profile.py --bin-dir target/release --path /public --mode callgrind --out /tmp/prof
  bench/profile.py --bin-dir target/release --path /a --mode cpu --runs 3

Paths: /public (no authorizer), /a (JWT, same token: cache hit), /b (JWT, fresh token per
request: full RS256 verify), /fn/rust. Every process started is killed on exit.
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (the benchmark's process management, keys and configs)


def user_sys(pid):
    """(utime, stime) of one process in clock ticks ((0, 0) if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return (0, 0)
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]), int(fields[12]))


def haproxy_tcp_conf(port, upstream):
    """HAProxy forwarding TCP bytes to the upstream: no HTTP parsing, no header rewriting."""
    return f"""global
    maxconn 4096

defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s

frontend bench
    bind 127.0.0.1:{port}
    default_backend upstream

backend upstream
    server nginx 127.0.0.1:{upstream}
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin-dir", required=True)
    ap.add_argument("--path", default="/public")
    ap.add_argument("--mode", choices=["cpu", "callgrind", "perf", "syscalls"], default="cpu")
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--conns", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--tokens", type=int, default=2000)
    ap.add_argument("--extra-routes", type=int, default=0)
    ap.add_argument("--access-log", action="store_true", help="the access log on, to a file (as users run it)")
    ap.add_argument("--edge", action="store_true",
                    help="an API-wide CORS policy and throttle, as the portcullis-edge instance of bench.py")
    ap.add_argument("--out", default=None)
    ap.add_argument("--server", choices=["portcullis", "haproxy", "haproxy-tcp", "nginx"],
                    default="portcullis",
                    help="which server to measure (the others for calibration, cpu mode): "
                         "haproxy-tcp is HAProxy in TCP mode, forwarding bytes without parsing "
                         "HTTP, the floor of any user-space proxy on this kernel")
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="portcullis-prof-")
    out = os.path.abspath(args.out) if args.out else work
    os.makedirs(out, exist_ok=True)
    portcullis = os.path.join(os.path.abspath(args.bin_dir), "portcullis")
    testfn = os.path.join(os.path.abspath(args.bin_dir), "portcullis-testfn")
    same, _bad = bench.make_keys(work, args.tokens)
    tokens_file = os.path.join(work, "tokens.txt")
    ng_port, pc_port, pc_admin = bench.free_ports(3)

    nginx = bench.start_nginx(work, ng_port, os.path.join(out, "nginx.log"))

    cfg = os.path.join(work, "portcullis.yaml")
    with open(cfg, "w") as f:
        log = os.path.join(work, "access.log") if args.access_log else None
        f.write(bench.portcullis_conf(pc_port, pc_admin, ng_port, work, testfn, args.extra_routes, access_log=log,
                                      edge=args.edge))
    argv = [portcullis, "--log-level", "warn", "serve", "--config", cfg]
    if args.mode == "callgrind":
        cg_out = os.path.join(out, "callgrind.out")
        argv = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={cg_out}",
                "--collect-atstart=yes"] + argv
    if args.server == "haproxy":
        ha_cfg = os.path.join(work, "haproxy.cfg")
        with open(ha_cfg, "w") as f:
            spare = bench.free_ports(1)[0]
            log_socket = os.path.join(work, "haproxy-log.sock")
            bench.syslog_sink(log_socket)
            f.write(bench.haproxy_conf(pc_port, spare, ng_port, os.path.join(work, "public.pem"), log_socket))
        argv = ["haproxy", "-db", "-f", ha_cfg]
    elif args.server == "haproxy-tcp":
        ha_cfg = os.path.join(work, "haproxy-tcp.cfg")
        with open(ha_cfg, "w") as f:
            f.write(haproxy_tcp_conf(pc_port, ng_port))
        argv = ["haproxy", "-db", "-f", ha_cfg]
    elif args.server == "nginx":
        pc_port = ng_port
    proc = nginx if args.server == "nginx" else bench.start(
        args.server, argv, os.path.join(out, f"{args.server}.log"), cwd=work)
    if args.server == "haproxy-tcp" and args.path != "/public":
        bench.die("--server haproxy-tcp forwards bytes only: use --path /public")
    bench.wait_port(pc_port, proc, timeout=120)
    pid = proc.pid

    target = {"name": args.path, "url": f"http://127.0.0.1:{pc_port}{args.path}",
              "auth": args.path in ("/a", "/b"), "rotate": args.path == "/b", "token": same,
              "tree_rss": False}
    status, body = bench.http_get(target["url"], same if target["auth"] else None, timeout=60)
    if status != 200:
        bench.die(f"{args.path} answered {status}: {body[:200]!r}", [proc.bench_log])

    if args.mode == "cpu":
        bench.run_wrk(target, args.conns, args.threads, 1, tokens_file)
        cpus, rpss = [], []
        for _ in range(args.runs):
            before = {p: user_sys(p) for p in bench.tree(pid)}
            res = bench.run_wrk(target, args.conns, args.threads, args.duration, tokens_file)
            after = {p: user_sys(p) for p in bench.tree(pid)}
            n = max(1, res["requests"])
            du = sum(v[0] - before.get(p, (0, 0))[0] for p, v in after.items())
            ds = sum(v[1] - before.get(p, (0, 0))[1] for p, v in after.items())
            cpus.append((du + ds) / bench.CLK_TCK * 1e6 / n)
            print(f"  user {du / bench.CLK_TCK * 1e6 / n:5.1f} us + sys {ds / bench.CLK_TCK * 1e6 / n:5.1f} us")
            rpss.append(res["requests"] / (res["duration_us"] / 1e6))
            errs = res["err_status"] + res["err_read"] + res["err_timeout"] + res["err_connect"]
            print(f"  {args.path}: {rpss[-1]:9,.0f} req/s  cpu/req {cpus[-1]:6.1f} us  "
                  f"p99 {res['p99_us']} us  errors {errs}")
        print(f"RESULT {args.path} cpu/req median {statistics.median(cpus):.1f} us, "
              f"req/s median {statistics.median(rpss):,.0f}, rss {bench.status_kb(pid, 'VmRSS') / 1024:.1f} MB")
    elif args.mode == "perf":
        bench.run_wrk(target, args.conns, args.threads, 1, tokens_file)
        data = os.path.join(out, "perf.data")
        perf = subprocess.Popen(["perf", "record", "-F", "999", "-g", "-o", data, "-p", str(pid)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        res = bench.run_wrk(target, args.conns, args.threads, args.duration, tokens_file)
        perf.send_signal(2)
        perf.wait(timeout=60)
        print(f"requests {res['requests']}; perf data: {data}")
    elif args.mode == "syscalls":
        bench.run_wrk(target, args.conns, args.threads, 1, tokens_file)
        events = ["raw_syscalls:sys_enter", "context-switches", "cpu-migrations"] + [
            f"syscalls:sys_enter_{n}" for n in
            ("read", "recvfrom", "write", "writev", "sendto", "epoll_wait", "futex", "sched_yield")]
        stat_out = os.path.join(out, "perf-stat.txt")
        perf = subprocess.Popen(["perf", "stat", "-x", ",", "-o", stat_out, "-e", ",".join(events),
                                 "-p", str(pid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.3)
        res = bench.run_wrk(target, args.conns, args.threads, args.duration, tokens_file)
        perf.send_signal(2)
        perf.wait(timeout=60)
        n = max(1, res["requests"])
        with open(stat_out) as f:
            for line in f:
                fields = line.strip().split(",")
                if len(fields) > 2 and fields[0].replace(".", "").isdigit():
                    print(f"  {fields[2]:36s} {float(fields[0]) / n:8.2f} per request")
        print(f"RESULT {args.path} syscalls over {n} requests")
    else:
        # Warm-up under callgrind (pools, caches, lazy statics), then zero and measure.
        bench.run_wrk(target, 4, 1, 3, tokens_file)
        subprocess.run(["callgrind_control", "-z", str(pid)], check=True, capture_output=True)
        res = bench.run_wrk(target, args.conns, args.threads, args.duration, tokens_file)
        subprocess.run(["callgrind_control", "-d", str(pid)], check=True, capture_output=True)
        time.sleep(1)
        dumps = sorted((f for f in os.listdir(out) if f.startswith("callgrind.out")),
                       key=lambda f: os.path.getmtime(os.path.join(out, f)))
        last = os.path.join(out, dumps[-1])
        total = 0
        with open(last) as f:
            for line in f:
                m = re.match(r"^(?:summary|totals):\s+(\d+)", line)
                if m:
                    total = int(m.group(1))
        n = max(1, res["requests"])
        errs = res["err_status"] + res["err_read"] + res["err_timeout"] + res["err_connect"]
        print(f"RESULT {args.path} callgrind {total / n:,.0f} Ir/request over {n} requests "
              f"(errors {errs}); profile {last}")
    bench.cleanup()


if __name__ == "__main__":
    try:
        main()
    finally:
        bench.cleanup()
