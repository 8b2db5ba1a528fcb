#!/usr/bin/env bash
# Installs, idempotently, the system tools the test suite uses: Prometheus (analysis against a
# real server), Chromium (dashboard test) and kubectl (second real client of the fake cluster).
set -euo pipefail

missing=()
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v kubectl >/dev/null 2>&1 || missing+=(kubernetes-client)
command -v openssl >/dev/null 2>&1 || missing+=(openssl) # router test: control over TLS

if [ ${#missing[@]} -gt 0 ]; then
  echo "test-deps: installing ${missing[*]} from Debian packages" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
