// Helpers for e2e tests on the fake cluster: run kubectl against it. Building dist/ for the pods is
// test/support/build.ts; waiting on a condition is test/support/wait-for.ts.

import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
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
