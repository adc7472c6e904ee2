#!/usr/bin/env python3
"""Two gateways loaded at the same time with the same load: the difference of their CPU per request.

On a shared machine CPU per request moves by 10 to 30 % from one run of a few seconds to the next
(other tenants, caches, the host's clock), so two configurations measured one after the other
carry that drift into their difference. Here both gateways run through the same seconds: A and B
each get half the connections from a wrk of their own, started together, and each one's CPU
(its threads' run time from `schedstat`) is read over the same interval. With two CPUs or more,
both gateways run on one CPU and nginx and wrk on the others, so what one CPU suffers lands on
both sides. Whatever slows the machine slows both; the difference that remains is the
configurations'. Run `--runs` times, the median and every run's difference are printed.

  bench/ab.py --bin-dir target/production                    # access log on (A) vs off (B), /public
  bench/ab.py --bin-dir target/production --path /a          # the same on the cached-JWT route
  bench/ab.py --bin-dir target/production --b-bin-dir OTHER --b-log on   # two builds, both logging
  bench/ab.py --bin-dir target/production --runs 20 --pairs 4             # over four pairs of instances

Both gateways are started from bench.py's config, with the same nginx upstream; every process
started is killed on exit.
"""

import argparse
import os
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (the benchmark's process management, keys and configs)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin-dir", required=True, help="A's build (and B's, unless --b-bin-dir)")
    ap.add_argument("--b-bin-dir", default=None, help="B's build")
    ap.add_argument("--a-log", choices=["on", "off", "null"], default="on",
                    help="A's access log (default on; null: to /dev/null, formatted and written but kept nowhere)")
    ap.add_argument("--b-log", choices=["on", "off", "null"], default="off", help="B's access log (default off)")
    ap.add_argument("--path", default="/public", help="/public, or /a (JWT, the same token)")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--conns", type=int, default=32, help="connections per gateway")
    ap.add_argument("--a-env", action="append", default=[], metavar="NAME=VALUE",
                    help="an environment variable for A's gateway only (repeatable)")
    ap.add_argument("--b-env", action="append", default=[], metavar="NAME=VALUE",
                    help="an environment variable for B's gateway only (repeatable)")
    ap.add_argument("--threads", action="store_true",
                    help="also print each side's CPU per request by thread name, medians over runs")
    ap.add_argument("--pairs", type=int, default=1,
                    help="split the runs over this many pairs of fresh instances (each pair has an offset of its "
                         "own, up to about 0.5 us; every other pair starts B first, on A's ports)")
    args = ap.parse_args()
    if args.path not in ("/public", "/a"):
        bench.die("--path: /public or /a")

    work = tempfile.mkdtemp(prefix="portcullis-ab-")
    same, _bad = bench.make_keys(work, 10)
    tokens_file = os.path.join(work, "tokens.txt")
    ng_port, a_port, a_admin, b_port, b_admin = bench.free_ports(5)

    bench.start_nginx(work, ng_port, os.path.join(work, "nginx.log"))

    def env_of(pairs):
        env = dict(os.environ)
        for pair in pairs:
            name, sep, value = pair.partition("=")
            if not sep:
                bench.die(f"--a-env/--b-env: NAME=VALUE, not {pair!r}")
            env[name] = value
        return env

    specs = {"A": (args.bin_dir, args.a_log, env_of(args.a_env)),
             "B": (args.b_bin_dir or args.bin_dir, args.b_log, env_of(args.b_env))}

    def start_pair(pair):
        """Starts A and B, the pair's `pair`-th: every other pair starts B first, on A's ports."""
        ports = [(a_port, a_admin), (b_port, b_admin)]
        order = ["A", "B"] if pair % 2 == 0 else ["B", "A"]
        started = {}
        for name, (port, admin) in zip(order, ports):
            bin_dir, log, env = specs[name]
            bin_dir = os.path.abspath(bin_dir)
            cfg = os.path.join(work, f"portcullis-{name}.yaml")
            with open(cfg, "w") as f:
                f.write(bench.portcullis_conf(port, admin, ng_port, work, os.path.join(bin_dir, "portcullis-testfn"), 0,
                                              access_log={"on": os.path.join(work, f"access-{name}.log"), "null": "/dev/null"}.get(log)))
            proc = bench.start(f"portcullis-{name}", [os.path.join(bin_dir, "portcullis"), "--log-level", "warn",
                                                      "serve", "--config", cfg],
                               os.path.join(work, f"portcullis-{name}-{pair}.log"), cwd=work, env=env)
            bench.wait_port(port, proc, timeout=60)
            target = {"name": name, "url": f"http://127.0.0.1:{port}{args.path}", "auth": args.path == "/a",
                      "rotate": False, "token": same, "tree_rss": False, "pid": proc.pid, "proc": proc}
            status, body = bench.http_get(target["url"], same if target["auth"] else None)
            if status != 200:
                bench.die(f"{name} {args.path} answered {status}: {body[:200]!r}", [proc.bench_log])
            started[name] = target
        return [started["A"], started["B"]]

    def stop_pair(targets):
        for t in targets:
            proc = t["proc"]
            proc.terminate()
            proc.wait(timeout=30)
            bench.STARTED.remove(proc)

    print(f"A: {args.bin_dir}, access log {args.a_log}; B: {args.b_bin_dir or args.bin_dir}, access log "
          f"{args.b_log}; {args.path}, {args.runs} runs of {args.duration}s, {args.conns} connections each, "
          f"{args.pairs} pair(s) of instances")

    def load(targets, duration, reverse=False):
        cpu, results = bench.load_together(targets[::-1] if reverse else targets, args.conns, duration, tokens_file)
        for n, res in results.items():
            errors = bench.wrk_errors(res)
            if errors:
                bench.die(f"{n}: {errors} errors")
        return cpu, results

    diffs = []
    per_pair = []
    threads = {"A": [], "B": []}
    for pair in range(args.pairs):
        targets = start_pair(pair)
        load(targets, 2)  # warm-up: pools, caches
        runs = range(pair * args.runs // args.pairs, (pair + 1) * args.runs // args.pairs)
        pair_diffs = []
        for i in runs:
            # Either one's load is started first every other run.
            cpu, res = load(targets, args.duration, reverse=i % 2 == 1)
            pair_diffs.append(cpu["A"] - cpu["B"])
            for side in threads:
                threads[side].append(res[side]["threads_us"])
            print(f"  run {i + 1}/{args.runs}: A {cpu['A']:5.1f} us ({res['A']['requests']:,} requests)  "
                  f"B {cpu['B']:5.1f} us ({res['B']['requests']:,} requests)  A - B {pair_diffs[-1]:+5.2f} us")
        diffs += pair_diffs
        if pair_diffs:
            per_pair.append(statistics.median(pair_diffs))
        if pair + 1 < args.pairs:
            stop_pair(targets)
    if args.pairs > 1:
        print("median of each pair of instances: " + ", ".join(f"{d:+.2f} us" for d in per_pair))
    if args.threads:
        for side, runs_threads in threads.items():
            names = sorted({k for r in runs_threads for k in r})
            split = ", ".join(f"{k} {statistics.median(r.get(k, 0.0) for r in runs_threads):.2f} us" for k in names)
            print(f"{side} by thread (median per request): {split}")
    spread = statistics.stdev(diffs) if len(diffs) > 1 else 0.0
    print(f"RESULT {args.path} A - B: median {statistics.median(diffs):+.2f} us, mean {statistics.mean(diffs):+.2f} us, "
          f"standard deviation {spread:.2f} us over {len(diffs)} runs")


if __name__ == "__main__":
    try:
        main()
    finally:
        bench.cleanup()
