#!/usr/bin/env bash
# Side-by-side load benchmark: nginx direct, HAProxy with native jwt_verify, Portcullis.
#
#   bench/run.sh            # 10 s wrk runs, 2 rounds (about 8 minutes plus the build)
#   bench/run.sh --quick    # 3 s runs (about 3 minutes)
#   bench/run.sh --rounds 3 --out /tmp/bench-results
#   bench/run.sh --only nginx-direct,portcullis-public,portcullis-fn-node   # some targets only
#   bench/run.sh --console --only portcullis-jwt-same,portcullis-jwt-same-console   # the console's cost
#
# On a fresh Debian machine, run as root once: it installs wrk, nginx, haproxy, node and PyJWT
# when missing (no system service is used: each server runs from its own temp config on
# 127.0.0.1). It builds the binaries with the production profile (`cargo build --profile
# production -p portcullis -p portcullis-testfn`, fat LTO, honouring CARGO_TARGET_DIR), then
# hands over to bench/bench.py, which starts everything, loads it with wrk and prints the tables.
# Every process started is killed on exit. Set BENCH_SKIP_BUILD=1 to use binaries already built.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$HERE")"
cd "$REPO"

need_apt=()
command -v wrk >/dev/null || need_apt+=(wrk)
command -v nginx >/dev/null || need_apt+=(nginx-light)
command -v haproxy >/dev/null || need_apt+=(haproxy)
command -v node >/dev/null || need_apt+=(nodejs)
command -v python3 >/dev/null || need_apt+=(python3)
if ! python3 -c 'import jwt, cryptography' 2>/dev/null; then
  need_apt+=(python3-jwt python3-cryptography)
fi
if ((${#need_apt[@]})); then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    echo "installing: ${need_apt[*]}"
    # Installing nginx/haproxy packages may start their system services on a machine with
    # systemd; the benchmark never uses them (own configs, own ports), so they are left alone.
    apt-get install -y --no-install-recommends "${need_apt[@]}" >/dev/null ||
      { apt-get update >/dev/null && apt-get install -y --no-install-recommends "${need_apt[@]}" >/dev/null; }
  else
    echo "missing: ${need_apt[*]} — run as root on Debian, or install them yourself" >&2
    exit 1
  fi
fi
# A python3 earlier on PATH (pyenv, venv) may still lack PyJWT: fall back to Debian's, then pip.
PY=python3
if ! "$PY" -c 'import jwt, cryptography' 2>/dev/null; then
  if /usr/bin/python3 -c 'import jwt, cryptography' 2>/dev/null; then
    PY=/usr/bin/python3
  else
    python3 -m pip install --user --quiet "pyjwt[crypto]"
  fi
fi

if [[ -z "${BENCH_SKIP_BUILD:-}" ]]; then
  echo "building the binaries (cargo build --profile production -p portcullis -p portcullis-testfn)"
  cargo build --profile production -p portcullis -p portcullis-testfn
fi
BIN_DIR="${CARGO_TARGET_DIR:-$REPO/target}/production"

# bench.py kills what it starts; this trap covers an interrupted bench.py itself.
child=
trap '[[ -n "$child" ]] && kill "$child" 2>/dev/null; wait 2>/dev/null' EXIT INT TERM
"$PY" "$HERE/bench.py" --bin-dir "$BIN_DIR" "$@" &
child=$!
status=0
wait "$child" || status=$?
child=
exit "$status"
