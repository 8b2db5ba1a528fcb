#!/usr/bin/env bash
# Real-cluster end-to-end check for people who have Docker and kind (NOT run in CI: the CI
# machines have no container runtime; `make test` runs the same scenarios on the in-repo fake
# cluster instead). Builds the image, loads it into a kind cluster, installs deploy/, and walks
# through opt-in, X-Canary access, a promoted canary and a rolled-back canary with kubectl + curl.
#
#   scripts/e2e-kind.sh            # create cluster "switchyard-e2e", run, keep the cluster
#   KEEP=0 scripts/e2e-kind.sh     # delete the cluster afterwards
set -euo pipefail

CLUSTER=${CLUSTER:-switchyard-e2e}
IMAGE=${IMAGE:-switchyard:e2e}
NS=${NS:-shop-e2e}
KEEP=${KEEP:-1}
cd "$(dirname "$0")/.."

need() { command -v "$1" >/dev/null 2>&1 || { echo "e2e-kind: $1 is required" >&2; exit 2; }; }
need docker; need kind; need kubectl

step() { printf '\n== %s\n' "$*"; }
# wait_for DESCRIPTION TIMEOUT_SECONDS COMMAND...: retries COMMAND until it succeeds, prints what it saw on timeout.
wait_for() {
  local what=$1 timeout=$2; shift 2
  local deadline=$((SECONDS + timeout)) out=""
  until out=$("$@" 2>&1); do
    if ((SECONDS > deadline)); then echo "e2e-kind: timed out after ${timeout}s waiting for: $what; last output: $out" >&2; exit 1; fi
    sleep 2
  done
}

step "cluster and image"
kind get clusters | grep -qx "$CLUSTER" || kind create cluster --name "$CLUSTER" --wait 120s
docker build -f deploy/Dockerfile -t "$IMAGE" .
kind load docker-image "$IMAGE" --name "$CLUSTER"

step "install switchyard (kubectl apply -k deploy/)"
kubectl apply -k deploy/
kubectl -n switchyard-system set image deployment/switchyard-control control="$IMAGE"
kubectl -n switchyard-system rollout status deployment/switchyard-control --timeout=180s
wait_for "caBundle patched on the webhook configuration" 60 \
  bash -c "kubectl get mutatingwebhookconfiguration switchyard -o jsonpath='{.webhooks[0].clientConfig.caBundle}' | grep -q ."

step "opt in: annotated Deployment + Service (scenario 2)"
kubectl create namespace "$NS" --dry-run=client -o yaml | kubectl apply -f -
cat <<YAML | kubectl -n "$NS" apply -f -
apiVersion: apps/v1
kind: Deployment
metadata:
  name: shop
  annotations:
    switchyard.io/canary: "enabled"
    switchyard.io/port: "http"
    switchyard.io/steps: "10,50"
    switchyard.io/interval: "20s"
    switchyard.io/min-requests: "20"
spec:
  replicas: 2
  selector: { matchLabels: { app: shop } }
  template:
    metadata: { labels: { app: shop } }
    spec:
      containers:
        - name: shop
          image: $IMAGE
          args: ["shop-app", "--listen", "0.0.0.0:8080"]
          env: [{ name: SHOP_VERSION, value: v1 }]
          ports: [{ name: http, containerPort: 8080 }]
          readinessProbe: { httpGet: { path: /healthz, port: http } }
---
apiVersion: v1
kind: Service
metadata: { name: shop }
spec:
  selector: { app: shop }
  ports: [{ port: 80, targetPort: http }]
YAML
kubectl -n "$NS" rollout status deployment/shop --timeout=180s
kubectl -n "$NS" get pod -l app=shop -o jsonpath='{.items[0].spec.initContainers[*].name} {.items[0].spec.containers[*].name}' | grep -q router \
  || { echo "e2e-kind: router was not injected" >&2; exit 1; }

kubectl -n "$NS" run curl --image=curlimages/curl --restart=Never --command -- sleep 3600 >/dev/null 2>&1 || true
kubectl -n "$NS" wait --for=condition=Ready pod/curl --timeout=120s
curl_in() { kubectl -n "$NS" exec curl -- curl -s "$@"; }
curl_in http://shop/ | grep -q '"v1"' || { echo "e2e-kind: traffic does not reach v1" >&2; exit 1; }

step "X-Canary reaches v2 first (scenario 5) and the canary is promoted (scenario 3)"
kubectl -n "$NS" set env deployment/shop SHOP_VERSION=v2
wait_for "canary Deployment shop-canary" 60 kubectl -n "$NS" get deployment shop-canary
wait_for "X-Canary: always answered by v2" 60 bash -c "kubectl -n $NS exec curl -- curl -s -H 'X-Canary: always' http://shop/ | grep -q '\"v2\"'"
curl_in http://shop/ >/dev/null
( for _ in $(seq 1 600); do curl_in -o /dev/null http://shop/ || true; done ) &
load=$!
wait_for "Canary phase Succeeded" 300 bash -c "kubectl -n $NS get canaries shop -o jsonpath='{.status.phase}' | grep -qx Succeeded"
kill "$load" 2>/dev/null || true
curl_in http://shop/ | grep -q '"v2"' || { echo "e2e-kind: stable is not v2 after promotion" >&2; exit 1; }

step "a failing canary is rolled back (scenario 4)"
kubectl -n "$NS" set env deployment/shop SHOP_VERSION=v3 SHOP_ERROR_RATE=0.5
( for _ in $(seq 1 1200); do curl_in -o /dev/null http://shop/ || true; done ) &
load=$!
wait_for "Canary phase Failed" 300 bash -c "kubectl -n $NS get canaries shop -o jsonpath='{.status.phase}' | grep -qx Failed"
kill "$load" 2>/dev/null || true
curl_in http://shop/ | grep -q '"v2"' || { echo "e2e-kind: v2 is not serving after rollback" >&2; exit 1; }
kubectl -n "$NS" get events --field-selector involvedObject.name=shop | tail -5

step "done"
kubectl get canaries -A
if [ "$KEEP" = 0 ]; then kind delete cluster --name "$CLUSTER"; fi
