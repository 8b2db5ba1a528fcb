// The process settings the router sidecar runs with: the injected container gets them as environment
// variables and `make bench` starts the router with the same values, so the benchmark measures what
// is deployed.

/**
 * `--max-semi-space-size=2` caps each young-generation semi-space at 2 MB (V8's default grows to
 * 16 MB, ~4 MB more RSS per pod at 1000 req/s): a proxy's per-request garbage dies young, so small
 * semi-spaces only mean more scavenges. Not 1 MB: at 50 requests in flight a scavenge then ran every
 * ~64 requests, GC took ~7 % of the router's time (~1.6 % for the undici proxy on V8's defaults) and
 * `make bench` measured 0.85-0.89x the minimal undici proxy's rps; 2 MB gave 0.87-1.20x over five
 * runs for 0.3-1.3 MB more RSS (57.6-58.9 MB at 1000 req/s). `--v8-pool-size=1` gives V8 one
 * background thread (GC helpers, concurrent compiles) instead of four: the heap is ~10 MB, and each
 * idle thread costs ~1 MB of RSS (stack, malloc arena). `--no-node-snapshot` builds node's bootstrap
 * by running its JavaScript instead of deserializing node's startup snapshot, so that part of the
 * binary is never read and the binary's resident read-only pages shrink by ~2.5 MB. At 1000 req/s:
 * 56.9-57.3 against 59.4-60.1 MB on node 20 (seven alternating pairs), 62.6 against 65.6-65.8 MB on
 * node 22, 68.8-69.0 against 71.1-71.2 MB on node 24 with jemalloc; no CPU cost visible at 1000 req/s
 * or at saturation; ~50 ms more to start on node 24.
 */
export const ROUTER_NODE_OPTIONS = '--max-semi-space-size=2 --v8-pool-size=1 --no-node-snapshot';

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

/**
 * The allocator of every node process in the image (`ENV` in deploy/Dockerfile, kept equal by
 * router/node-options.test.ts): jemalloc from Debian's libjemalloc2, one arena, and a background
 * thread that hands freed pages back to the kernel after ~1 s. On the image's node 24, V8's
 * background compiler thread leaves ~12 MB of freed memory resident in glibc's malloc arenas
 * (`malloc_trim` in gdb releases 14 MB); with jemalloc the router measured 78 against 90 MB at 1000
 * req/s and 87-89 against 100-103 MB after saturation, at the same CPU per request, and 73 against
 * 72 MB idle after its first 50 requests. Without the background thread jemalloc purges only while
 * it allocates, so an idle router kept its first compiles' peak: 85.6 MB. It is the image's and not
 * the injected environment's because it depends on the runtime: on node 20 it cost ~0.8 MB and ~8 %
 * CPU at saturation. Where the library is missing, ld.so logs one line at start and node runs on
 * glibc's malloc, with `MALLOC_TRIM_THRESHOLD_` above.
 */
export const IMAGE_MALLOC_ENV: Readonly<Record<string, string>> = Object.freeze({
  LD_PRELOAD: 'libjemalloc.so.2',
  MALLOC_CONF: 'narenas:1,background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0',
});
