#!/bin/sh
# The Clerk guide's JWT and Lambda authorizers on a laptop, in one command. Extra arguments go to
# `portcullis serve` (e.g. ./run.sh --listen 3000). PORTCULLIS names the binary (default: the
# `portcullis` on PATH).
set -eu
cd "$(dirname "$0")"
portcullis=${PORTCULLIS:-portcullis}

# The guide's `npm install jsonwebtoken`, once (package.json says "type": "module").
[ -d node_modules/jsonwebtoken ] || npm install --no-audit --no-fund --loglevel=error

# The guide's "paste your PEM public key" step. The development issuer stands in for Clerk: its
# public key goes into a copy of authorizer/index.js in build/ClerkLambdaAuthorizer (what the
# guide zips and uploads), so authorizer/index.js stays as the guide wrote it.
mkdir -p build/ClerkLambdaAuthorizer
PEM=$("$portcullis" token --config portcullis.yaml --print-pem) node -e '
  const fs = require("node:fs")
  const code = fs.readFileSync("authorizer/index.js", "utf8")
  fs.writeFileSync("build/ClerkLambdaAuthorizer/index.js",
    code.replace("{PASTE YOUR PEM KEY HERE}", process.env.PEM.trim()))
'

exec "$portcullis" serve --dev --config portcullis.yaml "$@"
