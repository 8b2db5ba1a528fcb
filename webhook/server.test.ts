// The /mutate endpoint through fastify (no socket): malformed bodies get a 400 that says what is
// wrong, and a fuzz run of ≥10 000 random or mutilated bodies never yields a 500 or a crash.

import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import fc from 'fast-check';
import pino from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeInjectConfig } from './config.js';
import { registerWebhook } from './server.js';

const DIR = join(import.meta.dirname, '../test/fixtures/admission');
const fixtureFiles = readdirSync(DIR).filter(
  (file) => file.endsWith('.json') && !/\.(response|patch)\.json$/.test(file),
);
const fixtures = fixtureFiles.map((file) => fixture(file.replace(/\.json$/, '')));

function fixture(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(DIR, `${name}.json`), 'utf8')) as Record<string, unknown>;
}

let app: FastifyInstance;
const registry = new Registry();

beforeAll(async () => {
  app = Fastify({ logger: false });
  await registerWebhook(app, {
    inject: () => makeInjectConfig({ routerImage: 'switchyard:test', version: '0.1.0' }),
    registry,
    logger: pino({ level: 'silent' }),
  });
  await app.ready();
});

afterAll(async () => {
  await app.close();
});

async function post(payload: string | Buffer, contentType = 'application/json') {
  const response = await app.inject({
    method: 'POST',
    url: '/mutate',
    payload,
    headers: { 'content-type': contentType },
  });
  return { status: response.statusCode, body: response.body };
}

/** The invariant of every answer: a well-formed AdmissionReview (200) or a 4xx with a message. */
function checkAnswer(answer: { status: number; body: string }, uid?: unknown): void {
  if (answer.status === 200) {
    const review = JSON.parse(answer.body);
    expect(review.apiVersion).toBe('admission.k8s.io/v1');
    expect(typeof review.response.allowed).toBe('boolean');
    if (uid !== undefined) expect(review.response.uid).toBe(uid);
    return;
  }
  expect(
    answer.status === 400 || answer.status === 413 || answer.status === 415,
    `status ${answer.status}: ${answer.body}`,
  ).toBe(true);
  expect(JSON.parse(answer.body).message).toMatch(/AdmissionReview/);
}

describe('POST /mutate', () => {
  it.each([
    ['', 'empty body'],
    ['{not json', 'not valid JSON'],
    ['[]', 'expected a JSON object'],
    ['{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview"}', 'apiVersion'],
    ['{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}', 'request: expected an object'],
    ['{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":""}}', 'request.uid'],
  ])('%j → 400 with "%s"', async (body, message) => {
    const answer = await post(body);
    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.body).message).toContain(message);
  });

  it('answers a pod review with the injection patch and counts it', async () => {
    const review = fixture('pod-named-port');
    const answer = await post(JSON.stringify(review), 'text/plain');
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body).response.patchType).toBe('JSONPatch');
    expect(await registry.getSingleMetricAsString('switchyard_webhook_requests_total')).toContain(
      'resource="pod",outcome="patched",reason="injected"',
    );
  });

  it('counts internal errors in switchyard_webhook_errors_total and still admits', async () => {
    const review = fixture('pod-malformed-object');
    const answer = await post(JSON.stringify(review));
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body).response).toMatchObject({ allowed: true });
    expect(await registry.getSingleMetricAsString('switchyard_webhook_errors_total')).toMatch(
      /switchyard_webhook_errors_total\{resource="pod"\} [1-9]/,
    );
  });

  it('fuzz: 4 000 random bodies never crash or 500', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string(),
          fc.json(),
          fc.uint8Array({ maxLength: 200 }).map((bytes) => Buffer.from(bytes)),
          fc
            .jsonValue()
            .map((value) =>
              JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: value }),
            ),
        ),
        async (body) => checkAnswer(await post(body)),
      ),
      { numRuns: 4000 },
    );
  });

  it('fuzz: 4 000 valid reviews with one field replaced by random JSON never crash or 500', async () => {
    const paths = (value: unknown, prefix: string[] = []): string[][] =>
      typeof value === 'object' && value !== null
        ? Object.entries(value).flatMap(([key, item]) => [[...prefix, key], ...paths(item, [...prefix, key])])
        : [];
    const fixturePaths = fixtures.map((review) => paths(review));
    await fc.assert(
      fc.asyncProperty(fc.nat(), fc.nat(), fc.jsonValue(), async (which, where, replacement) => {
        const index = which % fixtures.length;
        const review = structuredClone(fixtures[index]!);
        const candidates = fixturePaths[index]!;
        const path = candidates[where % candidates.length]!;
        let target: Record<string, unknown> = review;
        for (const key of path.slice(0, -1)) target = target[key] as Record<string, unknown>;
        target[path.at(-1)!] = replacement;
        checkAnswer(await post(JSON.stringify(review)));
      }),
      { numRuns: 4000 },
    );
  });

  it('logs why a pod was left without the router: its creator (a ReplicaSet) drops the warning', async () => {
    const lines: string[] = [];
    const logged = Fastify({ logger: false });
    await registerWebhook(logged, {
      inject: () => makeInjectConfig({ routerImage: 'switchyard:test', version: '0.1.0' }),
      registry: new Registry(),
      logger: pino({ level: 'info' }, { write: (line: string) => lines.push(line) }),
    });
    try {
      const skipped = fixture('pod-missing-service-label');
      await logged.inject({ method: 'POST', url: '/mutate', payload: skipped });
      const warned = lines
        .map((line) => JSON.parse(line))
        .filter((entry) => entry.msg === 'router not injected');
      expect(warned).toHaveLength(1);
      expect(warned[0]).toMatchObject({ level: 40, outcome: 'skipped', reason: 'missing_service_label' });
      expect(warned[0].warnings[0]).toContain('router not injected into pod');
      // An injected pod is not worth a line at info.
      await logged.inject({ method: 'POST', url: '/mutate', payload: fixture('pod-named-port') });
      expect(lines.map((line) => JSON.parse(line).msg)).toEqual(['router not injected']);
    } finally {
      await logged.close();
    }
  });

  it('warns about custom checks when control runs without Prometheus', async () => {
    const withoutPrometheus = Fastify({ logger: false });
    await registerWebhook(withoutPrometheus, {
      inject: () => makeInjectConfig({ routerImage: 'switchyard:test', version: '0.1.0' }),
      prometheusConfigured: false,
      registry: new Registry(),
      logger: pino({ level: 'silent' }),
    });
    const review = structuredClone(fixture('deployment-create')) as {
      request: { object: { metadata: { annotations: Record<string, string> } } };
    };
    review.request.object.metadata.annotations = {
      'switchyard.io/canary': 'enabled',
      'switchyard.io/check.errors': 'sum(rate(errors_total[1m])) < 1',
    };
    const answer = async (server: FastifyInstance) => {
      const response = await server.inject({ method: 'POST', url: '/mutate', payload: review });
      return JSON.parse(response.body).response as { allowed: boolean; warnings?: string[] };
    };
    try {
      const warned = await answer(withoutPrometheus);
      expect(warned.allowed).toBe(true);
      expect(warned.warnings?.some((text) => text.includes("need control's --prometheus-url"))).toBe(true);
      // The server the other tests use does not know, and so says nothing.
      expect((await answer(app)).warnings ?? []).not.toContainEqual(
        expect.stringContaining('--prometheus-url'),
      );
    } finally {
      await withoutPrometheus.close();
    }
  });

  it('fuzz: 2 000 Deployments with random switchyard.io annotation values are admitted or denied, never a 500', async () => {
    const deployment = fixture('deployment-create');
    const names = [
      'canary',
      'port',
      'steps',
      'interval',
      'progress-deadline',
      'max-failed-checks',
      'success-rate',
      'p99-latency',
      'max-latency-ratio',
      'min-requests',
      'promotion',
      'strategy',
      'match',
      'sticky',
      'mirror',
      'canary-token-secret',
      'check.x',
      'stpes',
      'patch-service',
    ];
    await fc.assert(
      fc.asyncProperty(
        fc.dictionary(
          fc.constantFrom(...names).map((name) => `switchyard.io/${name}`),
          fc.oneof(fc.string(), fc.integer().map(String), fc.json()),
        ),
        async (annotations) => {
          const review = structuredClone(deployment) as {
            request: { uid: string; object: { metadata: { annotations: Record<string, string> } } };
          };
          review.request.object.metadata.annotations = { 'switchyard.io/canary': 'enabled', ...annotations };
          const answer = await post(JSON.stringify(review));
          expect(answer.status).toBe(200);
          checkAnswer(answer, review.request.uid);
          const response = JSON.parse(answer.body).response;
          if (!response.allowed) expect(response.status.message).toMatch(/switchyard\.io\//);
        },
      ),
      { numRuns: 2000 },
    );
  });
});
