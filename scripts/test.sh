#!/usr/bin/env bash
# Run every test Portcullis has, on a fresh Debian machine or a developer's: installs what the
# tests need (Debian packages when run as root, Python and Node packages into the user's
# environment), then checks formatting and lints and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v python3 >/dev/null || need_apt+=(python3 python3-pip)
command -v node >/dev/null || need_apt+=(nodejs npm)
if ((${#need_apt[@]})); then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
  else
    echo "missing: ${need_apt[*]} (install them, or run as root)" >&2
    exit 1
  fi
fi

# Interop peers we did not write: PyJWT (tokens for every algorithm), the AWS Python runtime
# interface client. Installed quietly; already-present versions are kept.
if [ -f tests/requirements.txt ]; then
  python3 -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt
fi
# Node peers (oidc-provider, jsonwebtoken for seed 000, aws-lambda-ric) live in tests/node.
if [ -f tests/node/package.json ]; then
  (cd tests/node && npm install --no-audit --no-fund --loglevel=error)
fi

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo test --workspace --no-fail-fast
