// The sample "shop" the demo and the e2e tests release: a tiny HTTP app whose version, error rate
// and latency are chosen at start, so a canary can be healthy, failing or slow on purpose.
// Library: startShopApp(); CLI: `switchyard shop-app --listen host:port --version v1
// [--error-rate 0.2] [--latency 100ms]` (each flag also as SHOP_LISTEN, SHOP_VERSION, ...).

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ErrorCode, SwitchyardError } from '../../api/errors.js';

export interface ShopLogger {
  info(fields: Record<string, unknown>, message: string): void;
}

export interface ShopAppOptions {
  readonly host: string;
  readonly port: number;
  readonly version: string;
  /** Fraction (0–1) of requests (other than /healthz) answered with 500. */
  readonly errorRate?: number;
  /** Added before every response (other than /healthz). */
  readonly latencyMs?: number;
  readonly logger?: ShopLogger;
  /** Injected for deterministic tests; defaults to Math.random. */
  readonly random?: () => number;
}

export interface ShopApp {
  readonly url: string;
  close(): Promise<void>;
}

const PRODUCTS = [
  { id: 'sku-1', name: 'Switch lever', priceCents: 1299 },
  { id: 'sku-2', name: 'Signal lamp', priceCents: 2450 },
  { id: 'sku-3', name: 'Track gauge', priceCents: 799 },
];

function validate(options: ShopAppOptions): void {
  const errorRate = options.errorRate ?? 0;
  if (!(errorRate >= 0 && errorRate <= 1)) {
    throw new SwitchyardError(
      ErrorCode.FlagInvalid,
      `shop-app --error-rate: ${errorRate} — expected a fraction from 0 to 1`,
      {
        field: 'error-rate',
      },
    );
  }
  const latency = options.latencyMs ?? 0;
  if (!(latency >= 0 && Number.isFinite(latency))) {
    throw new SwitchyardError(
      ErrorCode.FlagInvalid,
      `shop-app --latency: ${latency} — expected a non-negative duration`,
      {
        field: 'latency',
      },
    );
  }
}

export async function startShopApp(options: ShopAppOptions): Promise<ShopApp> {
  validate(options);
  const random = options.random ?? Math.random;
  const errorRate = options.errorRate ?? 0;
  const latencyMs = options.latencyMs ?? 0;
  const started = Date.now();
  let served = 0;

  const reply = (response: ServerResponse, status: number, body: unknown) => {
    const text = JSON.stringify(body);
    response.writeHead(status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
      'x-shop-version': options.version,
    });
    response.end(text);
  };

  const handle = (request: IncomingMessage, response: ServerResponse, body: string) => {
    const path = (request.url ?? '/').split('?')[0];
    if (random() < errorRate) {
      reply(response, 500, { error: 'injected_failure', version: options.version });
      return;
    }
    served++;
    if (path === '/' && request.method === 'GET') {
      reply(response, 200, {
        app: 'shop',
        version: options.version,
        pod: process.env.HOSTNAME ?? null,
        served,
        uptimeSeconds: Math.round((Date.now() - started) / 1000),
      });
    } else if (path === '/products' && request.method === 'GET') {
      reply(response, 200, { version: options.version, products: PRODUCTS });
    } else if (path === '/checkout' && request.method === 'POST') {
      let received: unknown = body;
      try {
        received = body === '' ? null : JSON.parse(body);
      } catch {
        // echo non-JSON bodies as text
      }
      reply(response, 200, { version: options.version, received });
    } else {
      reply(response, 404, { error: 'not_found', path, version: options.version });
    }
  };

  const server = createServer((request, response) => {
    if ((request.url ?? '').split('?')[0] === '/healthz') {
      reply(response, 200, { status: 'ok', version: options.version });
      request.resume();
      return;
    }
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      if (latencyMs > 0) setTimeout(() => handle(request, response, body), latencyMs);
      else handle(request, response, body);
    });
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;
  options.logger?.info({ url, version: options.version, errorRate, latencyMs }, 'shop app listening');
  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}

/** `100ms`, `1.5s`, `250` (ms) → milliseconds. */
export function parseLatency(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(text.trim());
  if (!match) {
    throw new SwitchyardError(
      ErrorCode.FlagInvalid,
      `shop-app --latency: "${text}" — expected a duration like 100ms or 1s`,
      {
        field: 'latency',
      },
    );
  }
  const value = Number(match[1]);
  return match[2] === 's' ? value * 1000 : value;
}

export function parseListen(text: string): { host: string; port: number } {
  const match = /^(.*):(\d+)$/.exec(text.trim());
  if (!match || Number(match[2]) > 65535) {
    throw new SwitchyardError(
      ErrorCode.FlagInvalid,
      `shop-app --listen: "${text}" — expected host:port, e.g. 127.0.0.1:8080`,
      {
        field: 'listen',
      },
    );
  }
  return { host: (match[1] ?? '').replace(/^\[|\]$/g, '') || '0.0.0.0', port: Number(match[2]) };
}

const USAGE = `Usage: switchyard shop-app --listen host:port --version v1 [--error-rate 0.2] [--latency 100ms]
  (env: SHOP_LISTEN, SHOP_VERSION, SHOP_ERROR_RATE, SHOP_LATENCY)
`;

export async function main(argv: string[]): Promise<number> {
  const flags: Record<string, string> = {};
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index] ?? '';
    if (arg === '--help' || arg === '-h') {
      process.stdout.write(USAGE);
      return 0;
    }
    const match = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    const name = match?.[1];
    if (!match || !name || !['listen', 'version', 'error-rate', 'latency'].includes(name)) {
      throw new SwitchyardError(ErrorCode.FlagInvalid, `shop-app: unknown argument "${arg}"\n${USAGE}`);
    }
    const value = match[2] ?? argv[++index];
    if (value === undefined)
      throw new SwitchyardError(ErrorCode.FlagInvalid, `shop-app --${name}: missing value`);
    flags[name] = value;
  }
  const env = process.env;
  const listen = parseListen(flags.listen ?? env.SHOP_LISTEN ?? '127.0.0.1:8080');
  const errorRateText = flags['error-rate'] ?? env.SHOP_ERROR_RATE ?? '0';
  const errorRate = Number(errorRateText);
  if (!Number.isFinite(errorRate)) {
    throw new SwitchyardError(
      ErrorCode.FlagInvalid,
      `shop-app --error-rate: "${errorRateText}" — expected a fraction from 0 to 1`,
    );
  }
  const logger: ShopLogger = {
    info: (fields, message) =>
      process.stdout.write(`${JSON.stringify({ level: 'info', msg: message, ...fields })}\n`),
  };
  const app = await startShopApp({
    ...listen,
    version: flags.version ?? env.SHOP_VERSION ?? 'v1',
    errorRate,
    latencyMs: parseLatency(flags.latency ?? env.SHOP_LATENCY ?? '0ms'),
    logger,
  });
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  await app.close();
  return 0;
}
