#!/usr/bin/env bash
# Run every test Portcullis has, on a fresh Debian machine or a developer's: installs what the
# tests need (Debian packages when run as root, Python and Node packages into the user's
# environment), then checks formatting and lints and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."

# The build, the tests' npm packages (one compiles curl and C++ from source) and the browser take
# about 4 GB (3.1 GB measured from a clean checkout, plus Chromium and the other Debian packages):
# say so at once rather than fail halfway with "No space left on device".
need_kb=$((4 * 1024 * 1024))
free_kb=$(df -Pk . | awk 'NR == 2 { print $4 }')
if [ -n "$free_kb" ] && [ "$free_kb" -lt "$need_kb" ]; then
  echo "only $((free_kb / 1024)) MB free on $(df -P . | awk 'NR == 2 { print $6 }'); the tests need about 4 GB" >&2
  df -h . >&2
  exit 1
fi

need_apt=()
command -v python3 >/dev/null || need_apt+=(python3)
python3 -m pip --version >/dev/null 2>&1 || need_apt+=(python3-pip)
command -v node >/dev/null || need_apt+=(nodejs)
command -v npm >/dev/null || need_apt+=(npm)
# The signal tests run the `kill` program (not the shell builtin), and the browser harness `pkill`
# to stop Chromium's crash handlers: procps provides both.
{ [ -x /bin/kill ] || [ -x /usr/bin/kill ]; } && command -v pkill >/dev/null || need_apt+=(procps)
# The descriptor-limit tests start the gateway under prlimit (util-linux), the FIFO test uses mkfifo,
# the terminal test holds a pseudo-terminal with script (bsdutils).
command -v prlimit >/dev/null || need_apt+=(util-linux)
command -v mkfifo >/dev/null || need_apt+=(coreutils)
command -v script >/dev/null || need_apt+=(bsdutils)
# aws-lambda-ric (Node) compiles aws-lambda-cpp and curl from source when npm installs it.
for tool in cmake autoconf automake libtoolize make g++; do
  command -v "$tool" >/dev/null || case "$tool" in
    libtoolize) need_apt+=(libtool) ;;
    g++) need_apt+=(g++) ;;
    *) need_apt+=("$tool") ;;
  esac
done
# A real browser for the CORS and console tests: headless Chromium driven by chromedriver.
command -v chromium >/dev/null || need_apt+=(chromium)
command -v chromedriver >/dev/null || need_apt+=(chromium-driver)
# Shared state across replicas: a real Redis (one node, TLS, Sentinel and a cluster, all from the
# redis-server package) and redis-cli to look inside it; the load balancer of the replicas example.
command -v redis-server >/dev/null || need_apt+=(redis-server)
command -v redis-cli >/dev/null || need_apt+=(redis-tools)
command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || need_apt+=(haproxy)
# Fonts, so screenshots show text.
[ -d /usr/share/fonts/truetype/dejavu ] || need_apt+=(fonts-dejavu-core)
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

# The SST/Auth0 guide's handler is an ES module in a `.js` file with no "type": "module", which Node.js
# loads from version 20 on; Debian 12's own nodejs is 18. An older node gets Node 20 from the npm
# registry (the `node` package ships the binary), in a cache directory put first on PATH.
if [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
  node20="${XDG_CACHE_HOME:-$HOME/.cache}/portcullis/node20"
  if [ ! -x "$node20/node_modules/.bin/node" ]; then
    echo "node $(node --version) is older than 20: installing Node 20 into $node20" >&2
    npm install --prefix "$node20" --no-audit --no-fund --loglevel=error node@20
  fi
  export PATH="$node20/node_modules/.bin:$PATH"
  node --version >&2
fi

# Interop peers we did not write: PyJWT (tokens for every algorithm), the AWS Python runtime
# interface client. Installed quietly; already-present versions are kept.
# Debian's own python3 is "externally managed" (PEP 668) and refuses pip installs without this;
# pip versions that predate the flag ignore the variable.
if [ -f tests/requirements.txt ]; then
  PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt
fi
# Node peers: a real OpenID Provider (oidc-provider) for the JWT interop tests, and AWS's Node
# runtime interface client (aws-lambda-ric, compiled here) for the Lambda emulation tests, and
# `jsonwebtoken` for the Clerk guide's Lambda authorizer, run verbatim.
for dir in crates/portcullis-authz/tests/oidc-provider crates/portcullis-functions/tests/fixtures/node-ric \
           crates/portcullis/tests/fixtures/clerk-authz; do
  if [ -f "$dir/package.json" ] && [ ! -d "$dir/node_modules" ]; then
    echo "npm install in $dir" >&2
    (cd "$dir" && npm install --no-audit --no-fund --loglevel=error)
  fi
done

# Interop tests skip loudly when a peer is missing on a developer's machine; here every peer
# was just installed, so a skip is a failure.
export PORTCULLIS_REQUIRE_RUNTIME_CLIENTS=1
export PORTCULLIS_REQUIRE_INTEROP=1
export PORTCULLIS_REQUIRE_BROWSER=1

# The lint steps need the rustfmt and clippy components; a bare rustup toolchain may lack them.
if command -v rustup >/dev/null; then
  rustup component add rustfmt clippy >/dev/null 2>&1 || true
fi

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo test --workspace --no-fail-fast
