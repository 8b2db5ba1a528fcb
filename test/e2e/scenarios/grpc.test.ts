// A gRPC service through the whole chain: `switchyard.io/protocol: h2c` on the Deployment, routers
// injected with --protocol h2c, calls from a real gRPC client split between versions and hopping
// between the tracks' routers, analysis judging the canary by grpc-status.

import * as grpc from '@grpc/grpc-js';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitUntil } from '../../support/wait-for.js';
import {
  applyYaml,
  createNamespace,
  failureReport,
  type FakeCluster,
  installSwitchyard,
  kubectlOk,
  type Sample,
  startCluster,
  type Tally,
  tally,
  waitCanaryPhase,
  waitRolledOut,
} from './harness.js';

const NAMESPACE = 'grpc';
/** 15 ms per call in every version, for the reason SAME_SPEED in rollout.test.ts gives. */
const SAME_SPEED = 'slow15';
const identity = (value: Buffer): Buffer => value;

let cluster: FakeCluster;
let target: string;

beforeAll(async () => {
  cluster = await startCluster();
  await installSwitchyard(cluster);
});

afterAll(async () => {
  await cluster?.close();
});

/** The greeter's Deployment (fixtures/greeter.mjs) and Service, as an app owner writes them. */
function greeterManifests(image: string): string {
  const deployment = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: 'greeter',
      namespace: NAMESPACE,
      annotations: {
        'switchyard.io/canary': 'enabled',
        'switchyard.io/protocol': 'h2c',
        'switchyard.io/port': 'grpc',
        'switchyard.io/steps': '20,50',
        'switchyard.io/interval': '10s',
        'switchyard.io/min-requests': '20',
      },
    },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: 'greeter' } },
      template: {
        metadata: { labels: { app: 'greeter' } },
        spec: {
          containers: [
            {
              name: 'greeter',
              image,
              ports: [{ name: 'grpc', containerPort: 50051 }],
              readinessProbe: { tcpSocket: { port: 'grpc' }, periodSeconds: 2 },
            },
          ],
        },
      },
    },
  };
  const service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'greeter', namespace: NAMESPACE },
    spec: {
      selector: { app: 'greeter' },
      ports: [{ name: 'grpc', port: 50051, targetPort: 'grpc', appProtocol: 'kubernetes.io/h2c' }],
    },
  };
  return `${stringify(deployment)}---\n${stringify(service)}`;
}

/** One Hello call: the answering version (x-greeter-version), or the gRPC error. */
function hello(client: grpc.Client): Promise<Omit<Sample, 'at'>> {
  return new Promise((resolve) => {
    let version: string | null = null;
    const call = client.makeUnaryRequest(
      '/greeter.Greeter/Hello',
      identity,
      identity,
      Buffer.alloc(0),
      new grpc.Metadata(),
      { deadline: Date.now() + 5000 },
      (error) =>
        resolve(
          error
            ? { status: 503, version, error: `gRPC ${grpc.status[error.code]}: ${error.details}` }
            : { status: 200, version, error: null },
        ),
    );
    call.on('metadata', (metadata) => {
      const value = metadata.get('x-greeter-version')[0];
      if (typeof value === 'string') version = value;
    });
  });
}

/** Two callers, each on its own HTTP/2 connection, calling Hello one after another. */
class GrpcTraffic {
  readonly samples: Sample[] = [];
  readonly #started = Date.now();
  #running = true;
  readonly #loops: Promise<void>[];

  constructor() {
    this.#loops = [this.#loop(), this.#loop()];
  }

  async #loop(): Promise<void> {
    const client = new grpc.Client(target, grpc.credentials.createInsecure());
    while (this.#running) {
      const at = Date.now() - this.#started;
      this.samples.push({ at, ...(await hello(client)) });
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    client.close();
  }

  now(): number {
    return Date.now() - this.#started;
  }

  tally(fromMs = 0): Tally {
    return tally(this.samples.filter((sample) => sample.at >= fromMs));
  }

  async stop(): Promise<Tally> {
    this.#running = false;
    await Promise.all(this.#loops);
    return this.tally();
  }
}

async function setImage(image: string): Promise<void> {
  await kubectlOk(cluster, ['-n', NAMESPACE, 'set', 'image', 'deployment/greeter', `greeter=${image}`]);
}

async function verdicts(): Promise<{ outcome: string; canary: { requests: number } }[]> {
  const canary = JSON.parse(
    await kubectlOk(cluster, ['-n', NAMESPACE, 'get', 'canary', 'greeter', '-o', 'json']),
  );
  return canary.status.verdicts;
}

describe('scenario: a gRPC service (switchyard.io/protocol: h2c)', () => {
  it('v1 answers gRPC calls through its injected router', async () => {
    await createNamespace(cluster, NAMESPACE);
    await applyYaml(cluster, greeterManifests(`greeter:v1-${SAME_SPEED}`));
    await waitRolledOut(cluster, NAMESPACE, 'greeter');
    const args = await kubectlOk(cluster, [
      '-n',
      NAMESPACE,
      'get',
      'pods',
      '-l',
      'app=greeter',
      '-o',
      'jsonpath={.items[0].spec.initContainers[?(@.name=="switchyard-router")].args}{.items[0].spec.containers[?(@.name=="switchyard-router")].args}',
    ]);
    expect(args).toContain('"--protocol","h2c"');
    target = new URL(cluster.serviceUrl(NAMESPACE, 'greeter', 50051)).host;
    const client = new grpc.Client(target, grpc.credentials.createInsecure());
    try {
      await waitUntil(
        'greeter v1 answering through its Service',
        async () => ((await hello(client)).version === 'v1' ? true : undefined),
        { timeoutMs: 30_000, intervalMs: 500 },
      );
    } finally {
      client.close();
    }
    await waitCanaryPhase(cluster, NAMESPACE, 'greeter', ['Idle', 'Succeeded']);
  });

  it('a healthy v2 is promoted on analysis of gRPC calls; no call fails on the way', async () => {
    const traffic = new GrpcTraffic();
    let seen: Tally;
    try {
      await setImage(`greeter:v2-${SAME_SPEED}`);
      await waitCanaryPhase(cluster, NAMESPACE, 'greeter', 'Succeeded', 150_000);
      const promoted = traffic.now();
      await new Promise((resolve) => setTimeout(resolve, 3000));
      seen = traffic.tally(promoted + 2000);
    } finally {
      await traffic.stop();
    }
    const all = traffic.tally();
    console.log(`gRPC promotion: ${all.total} calls, ${all.failed} failed`);
    expect(all.failed, await failureReport(cluster, all)).toBe(0);
    expect(all.byVersion.v2, JSON.stringify(all)).toBeGreaterThan(0);
    expect(seen.byVersion, JSON.stringify(seen)).toEqual({ v2: seen.total });
    // The canary's calls were measured: each passing verdict saw at least min-requests of them.
    const passed = (await verdicts()).filter((verdict) => verdict.outcome === 'pass');
    expect(passed.length).toBeGreaterThan(0);
    for (const verdict of passed) expect(verdict.canary.requests).toBeGreaterThanOrEqual(20);
  });

  it('a v3 failing 20 % of calls with UNAVAILABLE is rolled back; v2 answers everything after', async () => {
    const traffic = new GrpcTraffic();
    let after: Tally;
    try {
      await setImage(`greeter:v3-errors20-${SAME_SPEED}`);
      await waitCanaryPhase(cluster, NAMESPACE, 'greeter', 'Failed', 90_000);
      const rolledBack = traffic.now();
      await new Promise((resolve) => setTimeout(resolve, 4000));
      after = traffic.tally(rolledBack + 2000);
    } finally {
      await traffic.stop();
    }
    expect((await verdicts()).some((verdict) => verdict.outcome === 'fail')).toBe(true);
    expect(after.byVersion, JSON.stringify(after)).toEqual({ v2: after.total });
    expect(after.total).toBeGreaterThan(0);
    expect(after.failed).toBe(0);
  });
});
