import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { progressDeadlineMs } from '../../api/annotations.js';
import { initialStatus } from '../rollout-types.js';
import { loadConfig, loadRouterSecret, parseConfig } from './config.js';
import { StateStore } from './state-store.js';

const EXAMPLE = `
routerAuth:
  secret: "0123456789abcdef-router"
tickInterval: 500ms
unsafeShortIntervals: true
services:
  - name: shop
    tracks:
      stable: { upstream: "http://127.0.0.1:8080", admin: ["http://127.0.0.1:15020"] }
      canary: { upstream: "http://127.0.0.1:8081", admin: "http://127.0.0.1:15021" }
    rollout:
      steps: "10,50"
      interval: 2s
      success-rate: 0.95
      min-requests: 20
      sticky: cookie
      check.errors: "sum(rate(x[1m])) < 5"
`;

function errorOf(yaml: string): { field?: string; message: string } {
  try {
    parseConfig(parse(yaml));
  } catch (error) {
    return error as { field?: string; message: string };
  }
  throw new Error('expected the config to be rejected');
}

describe('file-mode config', () => {
  it('warns about custom checks the builtin provider can never evaluate, not with prometheus', () => {
    expect(parseConfig(parse(EXAMPLE)).warnings).toEqual([
      'config: services[0].rollout.check.errors: custom checks need analysis.provider prometheus; with builtin they stay inconclusive and every rollout of shop fails at its progress deadline',
    ]);
    const withPrometheus = `${EXAMPLE}\nanalysis: { provider: prometheus, prometheusUrl: "http://127.0.0.1:9090" }\n`;
    expect(parseConfig(parse(withPrometheus)).warnings).toEqual([]);
  });

  it('parses services, tracks and rollout settings in the annotation vocabulary', () => {
    const config = parseConfig(parse(EXAMPLE));
    expect(config.routerAuth).toEqual({ secret: '0123456789abcdef-router' });
    expect(config.tickMs).toBe(500);
    expect(config.analysis).toEqual({ provider: 'builtin', prometheusUrl: null });
    const [shop] = config.services;
    expect(shop?.namespace).toBe('default');
    expect(shop?.stable).toEqual({ upstream: 'http://127.0.0.1:8080', admin: ['http://127.0.0.1:15020'] });
    expect(shop?.canary?.admin).toEqual(['http://127.0.0.1:15021']);
    expect(shop?.settings).toMatchObject({
      steps: [10, 50],
      intervalMs: 2000,
      successRate: 0.95,
      minRequests: 20,
      stickyCookie: 'switchyard-track',
      checks: [{ name: 'errors', query: 'sum(rate(x[1m]))', operator: '<', threshold: 5 }],
    });
  });

  it.each([
    ['services: []', 'services'],
    ['services: [{ name: Shop, tracks: { stable: { upstream: "http://a:1" } } }]', 'services[0].name'],
    [
      'services: [{ name: shop, tracks: { stable: { upstream: "ftp://a" } } }]',
      'services[0].tracks.stable.upstream',
    ],
    [
      'services: [{ name: shop, tracks: { canary: { upstream: "http://a:1" } } }]',
      'services[0].tracks.stable',
    ],
    [
      'services: [{ name: shop, tracks: { stable: { upstream: "http://a:1" } }, rollout: { steps: "5,x" } }]',
      'services[0].rollout.steps',
    ],
    [
      'services: [{ name: shop, tracks: { stable: { upstream: "http://a:1" } }, rollout: { interval: 2s } }]',
      'services[0].rollout.interval',
    ],
    [
      'services: [{ name: shop, tracks: { stable: { upstream: "http://a:1" } }, rollout: { stepz: "5" } }]',
      'services[0].rollout.stepz',
    ],
    [
      // Routers in file mode are started by hand: their --protocol says how they speak to the app.
      'services: [{ name: shop, tracks: { stable: { upstream: "http://a:1" } }, rollout: { protocol: h2c } }]',
      'services[0].rollout.protocol',
    ],
    [
      'analysis: { provider: prometheus }\nservices: [{ name: shop, tracks: { stable: { upstream: "http://a:1" } } }]',
      'analysis.prometheusUrl',
    ],
    [
      'routerAuth: { secret: short }\nservices: [{ name: shop, tracks: { stable: { upstream: "http://a:1" } } }]',
      'routerAuth.secret',
    ],
  ])('rejects %s naming %s', (yaml, field) => {
    const error = errorOf(yaml);
    expect(error.field).toBe(field);
    expect(error.message).toContain(field);
  });

  it('allows intervals under 10s only with unsafeShortIntervals', () => {
    const config = parseConfig(
      parse(
        'unsafeShortIntervals: true\nservices: [{ name: shop, tracks: { stable: { upstream: "http://a:1" } }, rollout: { interval: 2s } }]',
      ),
    );
    expect(config.services[0]?.settings.intervalMs).toBe(2000);
  });

  it('checks progress-deadline against a short interval, which its default follows', () => {
    const withRollout = (rollout: string) =>
      `unsafeShortIntervals: true\nservices: [{ name: shop, tracks: { stable: { upstream: "http://a:1" } }, rollout: ${rollout} }]`;
    const settings = (rollout: string) => parseConfig(parse(withRollout(rollout))).services[0]?.settings;
    expect(progressDeadlineMs(settings('{ interval: 2s }')!)).toBe(20_000);
    expect(progressDeadlineMs(settings('{ interval: 2s, progress-deadline: 6s }')!)).toBe(6000);
    const error = errorOf(withRollout('{ interval: 2s, progress-deadline: 1s }'));
    expect(error.field).toBe('services[0].rollout.progress-deadline');
    expect(error.message).toBe(
      'config: services[0].rollout.progress-deadline: "1s" — expected a duration from the interval (2s) to 240h, e.g. "10m", "1h"',
    );
  });

  it('resolves routerAuth.secretFile against the config directory and reads it only when asked', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'swy-config-'));
    try {
      const path = join(dir, 'switchyard.yaml');
      await writeFile(
        path,
        'routerAuth: { secretFile: router-token }\nservices: [{ name: shop, tracks: { stable: { upstream: "http://a:1" } } }]\n',
      );
      // No secret file yet: loading the config does not read it (reloads never do).
      const config = await loadConfig(path);
      const secretFile = join(dir, 'router-token');
      expect(config.routerAuth).toEqual({ secretFile });
      await expect(loadRouterSecret(config.routerAuth)).rejects.toMatchObject({
        field: 'routerAuth.secretFile',
        message: expect.stringContaining(`cannot read ${secretFile}`),
      });
      await writeFile(secretFile, 'short\n');
      await expect(loadRouterSecret(config.routerAuth)).rejects.toMatchObject({
        message: 'config: routerAuth.secretFile: the secret must be at least 16 characters',
      });
      await writeFile(secretFile, '0123456789abcdef-router\n');
      expect(await loadRouterSecret(config.routerAuth)).toBe('0123456789abcdef-router');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('state store', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('round-trips a service state and leaves no temp files behind', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'swy-state-'));
    dirs.push(dir);
    const store = new StateStore(dir);
    await store.init();
    expect(await store.load('default', 'shop')).toBeNull();
    const state = {
      status: { ...initialStatus(new Date(0)), routeGeneration: 7 },
      stable: { upstream: 'http://127.0.0.1:1', admin: [] },
      canary: null,
      configStable: null,
      configCanaryRevision: null,
      lastRoutes: null,
      events: [{ at: new Date(0).toISOString(), type: 'Normal' as const, reason: 'Started', message: 'x' }],
    };
    await store.save('default', 'shop', state);
    await store.save('default', 'shop', { ...state, status: { ...state.status, routeGeneration: 8 } });
    const loaded = await store.load('default', 'shop');
    expect(loaded?.status.routeGeneration).toBe(8);
    expect(loaded?.events).toHaveLength(1);
    expect(await readdir(dir)).toEqual(['default_shop.json']);
  });

  it.each([
    ['null', 'null'],
    ['a list', '[]'],
    ['no tracks', '{"version":1,"status":{"phase":"Idle","routeGeneration":1}}'],
    [
      'a stable track without upstream',
      '{"version":1,"status":{"phase":"Idle","routeGeneration":1},"stable":{"admin":[]},"canary":null}',
    ],
  ])('refuses a state file of valid JSON but the wrong shape (%s), naming the file', async (_, text) => {
    const dir = await mkdtemp(join(tmpdir(), 'swy-state-'));
    dirs.push(dir);
    const store = new StateStore(dir);
    await writeFile(store.path('default', 'shop'), text);
    await expect(store.load('default', 'shop')).rejects.toMatchObject({
      code: 'SWY_DOCUMENT_INVALID',
      message: expect.stringContaining(store.path('default', 'shop')),
    });
  });
});
