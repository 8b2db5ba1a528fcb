// Leader election between two control replicas, operator commands through the Canary annotation,
// and conflicting writers: the rollout converges whoever else writes the Canary.

import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import YAML from 'yaml';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { operate } from '../../../cli/operate.js';
import { ErrorCode } from '../../../api/errors.js';
import { statusOf } from '../../../controller/kube/canary-object.js';
import { KubeRollouts } from '../../../controller/kube/commands.js';
import type { KubeController } from '../../../controller/kube/controller.js';
import {
  appDeployment,
  type Harness,
  NAMESPACE,
  readCanary,
  releaseNewImage,
  ScriptedAnalyzer,
  startHarness,
  KUBE_WAIT,
} from './harness.js';
import { waitFor, waitUntil } from '../../support/wait-for.js';
import { internalContext } from '../../e2e/cluster/api.js';

const run = promisify(execFile);
let harness: Harness;
let leader: KubeController;
let rollouts: KubeRollouts;
const analyzer = new ScriptedAnalyzer();

beforeAll(async () => {
  harness = await startHarness();
  rollouts = new KubeRollouts({
    custom: harness.custom,
    core: harness.core,
    now: () => new Date(),
    pollMs: 25,
  });
});

afterAll(async () => {
  await harness?.close();
});

async function status(name: string) {
  return statusOf((await readCanary(harness.custom, name)) ?? undefined);
}

describe('leader election', () => {
  it('only the Lease holder reconciles; both serve routes; the other takes over when it stops', async () => {
    const first = await harness.startController('control-1', analyzer);
    await waitUntil('control-1 to lead', () => first.controller.isLeader, {
      timeoutMs: 10_000,
      intervalMs: 50,
    });
    const second = await harness.startController('control-2', analyzer);
    await harness.apps.createNamespacedDeployment({
      namespace: NAMESPACE,
      body: appDeployment('cart', 'app:v1'),
    });
    await waitUntil('Canary cart', async () => (await status('cart')) !== null, {
      timeoutMs: 10_000,
      intervalMs: 50,
    });
    await waitUntil(
      'both replicas to serve the cart table',
      () =>
        first.routes.get(NAMESPACE, 'cart') !== undefined &&
        second.routes.get(NAMESPACE, 'cart') !== undefined,
      KUBE_WAIT,
    );
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(second.controller.isLeader).toBe(false);
    expect(second.controller.reconciles).toBe(0);
    expect(first.controller.reconciles).toBeGreaterThan(0);

    await first.controller.stop();
    await waitUntil('control-2 to take over', () => second.controller.isLeader, {
      timeoutMs: 10_000,
      intervalMs: 50,
    });
    leader = second.controller;
    analyzer.outcome = 'inconclusive';
    await releaseNewImage(harness.apps, 'cart', 'app:v2');
    await waitFor(
      'the new leader to start the rollout',
      async () => (await status('cart'))?.phase,
      (phase) => phase === 'Progressing',
      KUBE_WAIT,
    );
    expect(second.controller.reconciles).toBeGreaterThan(0);
    expect(second.routes.get(NAMESPACE, 'cart')?.weights).toEqual({ stable: 80, canary: 20 });
  });
});

describe('operator commands through the Canary', () => {
  it('pause and set-weight are taken by the leader and answered in the status; invalid ones are rejected', async () => {
    const paused = await rollouts.command(NAMESPACE, 'cart', { type: 'set-weight', weight: 40 });
    expect(paused).toMatchObject({ phase: 'Paused', weight: 40 });
    const annotations = (await readCanary(harness.custom, 'cart'))?.metadata.annotations ?? {};
    expect(annotations['switchyard.io/command']).toBeUndefined();
    await expect(rollouts.command(NAMESPACE, 'cart', { type: 'pause' })).rejects.toMatchObject({
      code: ErrorCode.CommandRejected,
      message: expect.stringContaining('already paused'),
    });
    await expect(rollouts.command(NAMESPACE, 'nope', { type: 'abort' })).rejects.toMatchObject({
      code: ErrorCode.NotFound,
    });
  });

  it('abort takes the canary out of traffic and fails the rollout; retry is then the only way back', async () => {
    const aborted = await rollouts.command(NAMESPACE, 'cart', { type: 'abort' });
    expect(aborted.weight).toBe(0);
    await waitFor(
      'cart Failed',
      async () => (await status('cart'))?.phase,
      (phase) => phase === 'Failed',
      KUBE_WAIT,
    );
    await expect(rollouts.command(NAMESPACE, 'cart', { type: 'pause' })).rejects.toMatchObject({
      code: ErrorCode.CommandRejected,
    });
    const listed = await rollouts.list(NAMESPACE);
    expect(listed.map((item) => `${item.name}:${item.phase}`)).toEqual(['cart:Failed']);
    const events = await rollouts.events(NAMESPACE, 'cart');
    expect(events.map((event) => event.reason)).toContain('RolledBack');
  });

  it('a status write that loses a race (409) is retried with a fresh read and the rollout converges', async () => {
    analyzer.outcome = 'pass';
    // Another writer slips in right before each of the controller's next three status writes.
    const api = harness.cluster.api;
    const original = api.update.bind(api);
    let injected = 0;
    api.update = async (type, namespace, name, mutate, context, subresource = '') => {
      if (type.resource === 'canaries' && subresource === 'status' && injected < 3) {
        injected++;
        await original(
          type,
          namespace,
          name,
          (current) => ({
            ...current,
            metadata: {
              ...current.metadata,
              labels: { ...current.metadata.labels, other: String(injected) },
            },
          }),
          internalContext('other-writer'),
        );
      }
      return original(type, namespace, name, mutate, context, subresource);
    };
    const conflictsBefore = leader.conflicts;
    try {
      await rollouts.command(NAMESPACE, 'cart', { type: 'retry' });
      await waitFor(
        'cart Succeeded after conflicting writes',
        async () => {
          const current = await status('cart');
          return current && { phase: current.phase, weight: current.weight };
        },
        (current) => current?.phase === 'Succeeded',
        { timeoutMs: 20_000, intervalMs: 50 },
      );
    } finally {
      api.update = original;
    }
    expect(injected).toBe(3);
    expect(leader.conflicts - conflictsBefore).toBe(3);
    expect((await readCanary(harness.custom, 'cart'))?.metadata.labels?.other).toBe('3');
  });
});

describe('switchyard status / abort against Kubernetes (kubeconfig)', () => {
  it('prints the Canary rollouts as a table and reports a rejected command', async () => {
    let out = '';
    const io = {
      stdout: { write: (text: string) => (out += text) },
      stderr: { write: () => true },
      env: { SWITCHYARD_KUBECONFIG: harness.cluster.kubeconfigPath },
      now: () => Date.now(),
    };
    expect(await operate('status', ['-n', NAMESPACE], io)).toBe(0);
    expect(out).toMatch(/NAMESPACE\s+NAME\s+PHASE/);
    expect(out).toMatch(/default\s+cart\s+Succeeded\s+0%/);
    out = '';
    expect(
      await operate('status', ['cart', '-o', 'json', '--kubeconfig', harness.cluster.kubeconfigPath], io),
    ).toBe(0);
    expect(JSON.parse(out)).toMatchObject({ namespace: NAMESPACE, name: 'cart', phase: 'Succeeded' });
    await expect(operate('abort', ['cart', '--context', 'nope'], io)).rejects.toMatchObject({
      code: ErrorCode.FlagInvalid,
    });
    await expect(operate('abort', ['cart'], io)).rejects.toMatchObject({ code: ErrorCode.CommandRejected });
  });

  it('takes the namespace from the kubeconfig context when -n is not given, as kubectl does', async () => {
    const kubeconfig = YAML.parse(await readFile(harness.cluster.kubeconfigPath, 'utf8'));
    kubeconfig.contexts[0].context.namespace = 'elsewhere';
    const elsewhere = join(dirname(harness.cluster.kubeconfigPath), 'kubeconfig-elsewhere');
    await writeFile(elsewhere, YAML.stringify(kubeconfig));
    const io = {
      stdout: { write: () => true },
      stderr: { write: () => true },
      env: { SWITCHYARD_KUBECONFIG: elsewhere },
      now: () => Date.now(),
    };
    await expect(operate('status', ['cart'], io)).rejects.toMatchObject({
      code: ErrorCode.NotFound,
      message: expect.stringContaining('no rollout elsewhere/cart'),
    });
    expect(await operate('status', ['cart', '-n', NAMESPACE], io)).toBe(0);
  });

  it('kubectl get canaries prints the printer columns (Phase, Weight, Step, Canary-Revision, Age)', async () => {
    const { stdout } = await run('kubectl', [
      '--kubeconfig',
      harness.cluster.kubeconfigPath,
      'get',
      'canaries',
      '-n',
      NAMESPACE,
    ]);
    const [header, ...rows] = stdout.trim().split('\n');
    expect(header?.split(/\s{2,}/)).toEqual(['NAME', 'PHASE', 'WEIGHT', 'STEP', 'CANARY-REVISION', 'AGE']);
    expect(rows).toHaveLength(1);
    // The fake API server leaves an absent column empty where kube-apiserver prints <none>.
    expect(rows[0]).toMatch(/^cart\s+Succeeded\s+0\s+2\s+(<none>\s+)?\d+s$/);
  });
});
