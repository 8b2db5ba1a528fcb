import { execSync } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { waitFor } from '../../support/wait-for.js';
import {
  FAST,
  deployShopV1,
  type FakeCluster,
  installSwitchyard,
  jsonpath,
  kubectlOk,
  startCluster,
  Traffic,
} from './harness.js';

let cluster: FakeCluster;
beforeAll(async () => {
  cluster = await startCluster();
  await installSwitchyard(cluster);
});
afterAll(async () => {
  await cluster?.close();
});

it('stress scale-down', async () => {
  const namespace = 'scaledown';
  const url = await deployShopV1(cluster, namespace, FAST, 'shop:v1-slow15');
  const pooled = new Traffic(url, { keepAlive: true, concurrency: 8, pauseMs: 2 }).start();
  for (let round = 0; round < Number(process.env.ROUNDS ?? 6); round++) {
    await kubectlOk(cluster, ['-n', namespace, 'scale', 'deployment/shop', '--replicas=3']);
    await waitFor(
      '3 ready',
      () => jsonpath(cluster, namespace, 'deployment', 'shop', '{.status.readyReplicas}'),
      (r) => r === '3',
      { timeoutMs: 60_000, intervalMs: 300 },
    );
    await new Promise((r) => setTimeout(r, 1500));
    console.log(`round ${round} at ${pooled.now()}`);
    await kubectlOk(cluster, ['-n', namespace, 'scale', 'deployment/shop', '--replicas=1']);
    await waitFor(
      '1 pod',
      async () =>
        (await kubectlOk(cluster, ['-n', namespace, 'get', 'pods', '-o', 'name'])).trim().split('\n'),
      (p) => p.length === 1,
      { timeoutMs: 60_000, intervalMs: 300 },
    );
    await new Promise((r) => setTimeout(r, 1500));
  }
  await pooled.stop();
  const seen = pooled.tally();
  console.log(`STRESS: ${seen.total} pooled, ${seen.failed} failed ${seen.failures.join(' | ')}`);
  console.log(
    execSync(`grep -rh "upstream failed" ${cluster.workDir} | cut -c1-600 | head -30 || true`).toString(),
  );
  expect(seen.failed).toBe(0);
});
