// Everything the demo runs, in this process: shop v1 and v2, a router in front of each, an entry
// router clients talk to, and control in file mode — all on 127.0.0.1, all closed by close().

import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { Registry } from 'prom-client';
import { request } from 'undici';
import { stringify } from 'yaml';
import { ErrorCode, SwitchyardError, errorMessage } from '../../api/errors.js';
import { createProvider } from '../../controller/analysis/provider.js';
import { ProviderAnalyzer } from '../../controller/file-mode/analyzer.js';
import { type FileModeControl, startFileModeControl } from '../../controller/file-mode/start.js';
import { parseRouterConfig } from '../../router/config.js';
import { type RunningRouter, startRouter } from '../../router/start.js';
import type { Pace, Scenario } from './scenarios.js';
import { type ShopApp, startShopApp } from './shop-app.js';

export const SERVICE = 'shop';
export const NAMESPACE = 'default';
const HOST = '127.0.0.1';

export interface DemoStack {
  readonly controlUrl: string;
  /** Where clients send requests (the entry router, standing in for the Kubernetes Service). */
  readonly entryUrl: string;
  readonly entryAdmin: string;
  readonly v1: { readonly app: string; readonly router: string; readonly admin: string };
  readonly v2: { readonly app: string; readonly router: string; readonly admin: string };
  readonly configPath: string;
  readonly stateDir: string;
  close(): Promise<void>;
}

/** Reserves a free port by binding and releasing it (the config must name the stable router first). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

const url = (port: number): string => `http://${HOST}:${port}`;

/** The switchyard.yaml control reads: one service, its stable track, the scenario's rollout block. */
export function demoConfig(
  scenario: Scenario,
  pace: Pace,
  stable: { upstream: string; admin: string },
  routerSecret: string,
): string {
  const document = {
    ...(pace.shortIntervals ? { unsafeShortIntervals: true } : {}),
    tickInterval: pace.tick,
    routerAuth: { secret: routerSecret },
    services: [
      {
        name: SERVICE,
        namespace: NAMESPACE,
        tracks: { stable: { upstream: stable.upstream, admin: [stable.admin] } },
        rollout: scenario.rollout,
      },
    ],
  };
  const header = pace.shortIntervals
    ? '# written by `switchyard demo`; unsafeShortIntervals is for demos and tests only\n'
    : '# written by `switchyard demo`\n';
  return header + stringify(document);
}

async function waitReady(admin: string, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    try {
      const response = await request(`${admin}/readyz`, { headersTimeout: 1000, bodyTimeout: 1000 });
      last = `HTTP ${response.statusCode}: ${(await response.body.text()).slice(0, 200)}`;
      if (response.statusCode === 200) return;
    } catch (error) {
      last = errorMessage(error);
    }
    await sleep(50);
  }
  throw new SwitchyardError(
    ErrorCode.Unavailable,
    `demo: ${what} not ready after ${timeoutMs} ms (${admin}/readyz); last saw ${last}`,
  );
}

/** Closes what was started, newest first; never throws (a failing close is logged). */
class Closer {
  readonly #steps: { name: string; close: () => Promise<void> }[] = [];
  readonly #logger: Logger;

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  add(name: string, close: () => Promise<void>): void {
    this.#steps.push({ name, close });
  }

  async closeAll(): Promise<void> {
    while (this.#steps.length > 0) {
      const step = this.#steps.pop()!;
      try {
        await step.close();
      } catch (error) {
        this.#logger.error({ err: errorMessage(error), what: step.name }, 'demo: close failed');
      }
    }
  }
}

export async function startDemoStack(
  scenario: Scenario,
  pace: Pace,
  workDir: string,
  logger: Logger,
): Promise<DemoStack> {
  const closer = new Closer(logger);
  try {
    const routerSecret = randomBytes(24).toString('hex');
    const tokenFile = join(workDir, 'router-token');
    const hopFile = join(workDir, 'hop-secret');
    await writeFile(tokenFile, `${routerSecret}\n`, { mode: 0o600 });
    await writeFile(hopFile, `${randomBytes(24).toString('hex')}\n`, { mode: 0o600 });

    const v1 = await startShopApp({ host: HOST, port: 0, version: 'v1' });
    closer.add('shop v1', () => v1.close());
    const v2: ShopApp = await startShopApp({
      host: HOST,
      port: 0,
      version: 'v2',
      errorRate: scenario.v2.errorRate,
      latencyMs: scenario.v2.latencyMs,
    });
    closer.add('shop v2', () => v2.close());

    const stablePorts = { listen: await freePort(), admin: await freePort() };
    const configPath = join(workDir, 'switchyard.yaml');
    const stateDir = join(workDir, 'state');
    await writeFile(
      configPath,
      demoConfig(
        scenario,
        pace,
        { upstream: url(stablePorts.listen), admin: url(stablePorts.admin) },
        routerSecret,
      ),
    );
    const control: FileModeControl = await startFileModeControl({
      configPath,
      stateDir,
      host: HOST,
      port: 0,
      tls: null,
      routerToken: null,
      // Loopback only, so the operator API needs no token: the printed curl/status commands stay short.
      apiToken: null,
      prometheusUrl: null,
      logger: logger.child({ component: 'control' }),
      analyzer: () => new ProviderAnalyzer(createProvider('builtin', { scrapeTimeoutMs: 1000 })),
      watchConfig: false,
    });
    closer.add('control', () => control.close());
    const controlUrl = control.server.url;

    const router = async (
      track: string,
      local: string,
      ports: { listen: number; admin: number },
    ): Promise<RunningRouter> => {
      const config = parseRouterConfig(
        [
          ...['--listen', `${HOST}:${ports.listen}`, '--admin', `${HOST}:${ports.admin}`],
          ...['--service', SERVICE, '--namespace', NAMESPACE, '--track', track, '--local', local],
          ...['--control', controlUrl, '--control-token-file', tokenFile, '--hop-secret-file', hopFile],
          ...['--drain-timeout', '2s'],
        ],
        {},
      );
      if (config === 'help') throw new Error('unreachable: router flags without --help');
      const running = await startRouter(config, { logger, registry: new Registry() });
      closer.add(`router ${track}`, () => running.close());
      return running;
    };
    const stableRouter = await router('stable', v1.url, stablePorts);
    const canaryRouter = await router('canary', v2.url, { listen: 0, admin: 0 });
    // The entry router belongs to no track: it only routes, like the Service spreading requests
    // over every pod's router in Kubernetes; the track routers measure what their app served.
    const entryRouter = await router('entry', v1.url, { listen: 0, admin: 0 });
    for (const [name, running] of [
      ['stable router', stableRouter],
      ['canary router', canaryRouter],
      ['entry router', entryRouter],
    ] as const) {
      await waitReady(running.adminAddress.url, name, 15_000);
    }
    return {
      controlUrl,
      entryUrl: entryRouter.listenAddress.url,
      entryAdmin: entryRouter.adminAddress.url,
      v1: { app: v1.url, router: stableRouter.listenAddress.url, admin: stableRouter.adminAddress.url },
      v2: { app: v2.url, router: canaryRouter.listenAddress.url, admin: canaryRouter.adminAddress.url },
      configPath,
      stateDir,
      close: () => closer.closeAll(),
    };
  } catch (error) {
    await closer.closeAll();
    throw error;
  }
}
