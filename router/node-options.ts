// The process settings the router sidecar runs with: the injected container gets them as environment
// variables and `make bench` starts the router with the same values, so the benchmark measures what
// is deployed.

/**
 * `--max-semi-space-size=1` caps each young-generation semi-space at 1 MB (V8's default grows to
 * 16 MB): a proxy's per-request garbage dies young, so small semi-spaces only mean more, cheaper
 * scavenges, and each pod keeps ~4 MB less RSS at 1000 req/s. `--v8-pool-size=1` gives V8 one
 * background thread (GC helpers, concurrent compiles) instead of four: the heap is ~10 MB, and each
 * idle thread costs ~1 MB of RSS (stack, malloc arena). Both measured in `make bench`.
 */
export const ROUTER_NODE_OPTIONS = '--max-semi-space-size=1 --v8-pool-size=1';

/**
 * The sidecar's environment. `MALLOC_TRIM_THRESHOLD_` pins glibc's trim threshold at its own default
 * (128 KiB). Left dynamic, glibc raises it after V8 frees its large compiler zones (~35 MB at peak
 * while TurboFan compiles undici's llhttp on the background thread), and that thread's arena then
 * keeps ~2 MB of freed memory for good: ~1.8 MB of RSS per pod at 1000 req/s. The image is
 * Debian-based (glibc); a musl libc ignores the variable.
 */
export const ROUTER_ENV: Readonly<Record<string, string>> = Object.freeze({
  NODE_OPTIONS: ROUTER_NODE_OPTIONS,
  MALLOC_TRIM_THRESHOLD_: '131072',
});
