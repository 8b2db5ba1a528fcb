// Control over HTTPS (--tls-cert-file/--tls-key-file): a real router verifies it with
// --control-ca-file and long-polls its table; the operator API answers over the same listener.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RouteTable } from '../../../api/routes.js';
import { createProvider } from '../../../controller/analysis/provider.js';
import { ProviderAnalyzer } from '../../../controller/file-mode/analyzer.js';
import { type FileModeControl, startFileModeControl } from '../../../controller/file-mode/start.js';
import { parseRouterConfig, type RouterConfig } from '../../../router/config.js';
import { type RunningRouter, startRouter } from '../../../router/start.js';
import { generateCa, issueServingCert } from '../../../webhook/tls.js';
import { waitFor } from '../../support/wait-for.js';

const logger = pino({ level: 'silent' });

describe('control over TLS', () => {
  let dir: string;
  let control: FileModeControl;
  let router: RunningRouter | null = null;
  let app: Server;
  let ca: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'swy-tls-'));
    const now = Date.now();
    const authority = await generateCa({ commonName: 'switchyard test CA', now, lifetimeMs: 3_600_000 });
    const serving = await issueServingCert(authority, {
      dnsNames: ['localhost'],
      ipAddresses: ['127.0.0.1'],
      now,
      lifetimeMs: 3_600_000,
    });
    ca = authority.certPem;
    await writeFile(join(dir, 'ca.pem'), ca);
    await writeFile(join(dir, 'router-token'), 'router-secret-0123456789\n');
    app = createServer((_req, res) => res.end('ok'));
    await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
    await writeFile(
      join(dir, 'switchyard.yaml'),
      `routerAuth: { secretFile: router-token }
services:
  - name: shop
    tracks: { stable: { upstream: "http://127.0.0.1:1" } }
`,
    );
    control = await startFileModeControl({
      configPath: join(dir, 'switchyard.yaml'),
      stateDir: join(dir, 'state'),
      host: '127.0.0.1',
      port: 0,
      tls: { cert: serving.certPem, key: serving.keyPem },
      routerToken: null,
      apiToken: 'api-token-0123456789',
      prometheusUrl: null,
      logger,
      analyzer: () => new ProviderAnalyzer(createProvider('builtin')),
      watchConfig: false,
      registry: new Registry(),
    });
  });

  afterAll(async () => {
    await router?.close();
    await control.close();
    await new Promise((resolve) => app.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  it('serves the route table and the API over HTTPS', async () => {
    expect(control.server.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const agent = new Agent({ connect: { ca } });
    try {
      const routes = await request(`${control.server.url}/v1/routes/default/shop`, {
        dispatcher: agent,
        headers: { authorization: 'Bearer router-secret-0123456789' },
      });
      expect(routes.statusCode).toBe(200);
      expect(((await routes.body.json()) as RouteTable).service).toBe('shop');
      const api = await request(`${control.server.url}/v1/rollouts/default/shop`, {
        dispatcher: agent,
        headers: { authorization: 'Bearer api-token-0123456789' },
      });
      expect(await api.body.json()).toMatchObject({ name: 'shop', phase: 'Idle' });
    } finally {
      await agent.close();
    }
  });

  it('a router verifying control with --control-ca-file gets its table', async () => {
    const address = app.address();
    const config = parseRouterConfig(
      [
        '--listen',
        '127.0.0.1:0',
        '--admin',
        '127.0.0.1:0',
        '--service',
        'shop',
        '--track',
        'stable',
        '--local',
        `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`,
        '--control',
        control.server.url,
        '--control-ca-file',
        join(dir, 'ca.pem'),
        '--control-token-file',
        join(dir, 'router-token'),
        '--log-level',
        'silent',
      ],
      {},
    ) as RouterConfig;
    router = await startRouter(config, { logger, registry: new Registry() });
    const admin = router.adminAddress.url;
    await waitFor(
      'router /routes after polling control over TLS',
      async () => (await request(`${admin}/routes`)).statusCode,
      (status) => status === 200,
      { timeoutMs: 10_000, intervalMs: 50 },
    );
    const table = (await (await request(`${admin}/routes`)).body.json()) as RouteTable;
    expect(table.generation).toBe(control.routes.get('default', 'shop')?.generation);
  });
});
