// Helpers for e2e tests on the fake cluster: run kubectl against it, wait on a condition (with a
// message saying what was awaited and what was last seen), make sure the CLI is built for pods.

import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { FakeCluster } from './cluster.js';

export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `kubectl` with the cluster's kubeconfig and a private discovery cache. */
export function kubectl(
  cluster: Pick<FakeCluster, 'kubeconfigPath' | 'workDir'>,
  args: readonly string[],
  options: { input?: string; timeoutMs?: number } = {},
): Promise<CommandResult> {
  const home = join(cluster.workDir, 'kubectl-home');
  mkdirSync(home, { recursive: true });
  return new Promise((resolve) => {
    const child = execFile(
      'kubectl',
      [...args],
      {
        env: {
          PATH: process.env.PATH ?? '/usr/bin:/bin',
          HOME: home,
          KUBECONFIG: cluster.kubeconfigPath,
          KUBECACHEDIR: join(home, 'cache'),
        },
        timeout: options.timeoutMs ?? 60_000,
        maxBuffer: 16 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

/** Like kubectl() but throws with kubectl's stderr when it exits non-zero. */
export async function kubectlOk(
  cluster: Pick<FakeCluster, 'kubeconfigPath' | 'workDir'>,
  args: readonly string[],
  options: { input?: string; timeoutMs?: number } = {},
): Promise<string> {
  const result = await kubectl(cluster, args, options);
  if (result.code !== 0) {
    throw new Error(`kubectl ${args.join(' ')} exited ${result.code}\n${result.stderr}${result.stdout}`);
  }
  return result.stdout;
}

/**
 * Polls `probe` until it returns a value other than undefined/false; on timeout throws naming
 * what was awaited and the last value or error seen.
 */
export async function waitFor<T>(
  description: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  options: { timeoutMs?: number; intervalMs?: number; seen?: () => unknown } = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
      last = options.seen ? options.seen() : value;
    } catch (error) {
      last = error instanceof Error ? error.message : error;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out waiting for ${description}; last seen: ${JSON.stringify(last)?.slice(0, 2000)}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 100));
  }
}

/** Builds dist/ (what pods run through bin/switchyard.js) when the shop app is not compiled yet. */
export function ensureCliBuilt(repoRoot: string): void {
  if (existsSync(join(repoRoot, 'dist', 'cli', 'demo', 'shop-app.js'))) return;
  try {
    execFileSync(
      join(repoRoot, 'node_modules', '.bin', 'tsc'),
      ['-p', 'tsconfig.build.json', '--noEmitOnError', 'false'],
      {
        cwd: repoRoot,
        stdio: 'pipe',
      },
    );
  } catch {
    // tsc exits non-zero on type errors elsewhere but still emits; checked below.
  }
  if (!existsSync(join(repoRoot, 'dist', 'cli', 'demo', 'shop-app.js'))) {
    throw new Error('dist/cli/demo/shop-app.js is missing after building; run `npm run build`');
  }
}
