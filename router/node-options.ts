// The V8 options the router sidecar runs with: the injected container sets them as NODE_OPTIONS and
// `make bench` starts the router with the same value, so the benchmark measures what is deployed.

/**
 * `--max-semi-space-size=1` caps each young-generation semi-space at 1 MB (V8's default grows to
 * 16 MB): a proxy's per-request garbage dies young, so small semi-spaces only mean more, cheaper
 * scavenges, and each pod keeps ~4 MB less RSS at 1000 req/s. `--v8-pool-size=1` gives V8 one
 * background thread (GC helpers, concurrent compiles) instead of four: the heap is ~10 MB, and each
 * idle thread costs ~1 MB of RSS (stack, malloc arena). Both measured in `make bench`.
 */
export const ROUTER_NODE_OPTIONS = '--max-semi-space-size=1 --v8-pool-size=1';
