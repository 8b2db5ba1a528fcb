// Long-poll client for control's route server: GET {control}/v1/routes/{namespace}/{service}
// ?generation=N with If-None-Match; keeps the last good table, backs off with jitter on failure.

import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { readTokenFile } from '../api/bearer.js';
import { errorMessage } from '../api/errors.js';
import { parseRouteTableJson, type RouteTable } from '../api/routes.js';
import type { Random } from './decide.js';
import { Agent, request } from './undici.js';
import type { Log } from './log.js';

export interface ControlClientOptions {
  /** Base URL without trailing slash, e.g. https://switchyard-control.switchyard-system.svc:8443 */
  readonly base: string;
  readonly namespace: string;
  readonly service: string;
  readonly caFile: string | null;
  readonly tokenFile: string | null;
  readonly random: Random;
  readonly logger: Log;
  readonly onTable: (table: RouteTable) => void;
  readonly onConnected: (connected: boolean) => void;
  /** Longest a poll may be held by control before we give up on it. Default 90 s. */
  readonly pollTimeoutMs?: number;
  readonly minBackoffMs?: number;
  readonly maxBackoffMs?: number;
}

export interface ControlClient {
  close(): Promise<void>;
}

/** Full-jitter exponential backoff: a random delay in [base/2, base] where base doubles per failure. */
export function backoffDelay(failures: number, minMs: number, maxMs: number, random: Random): number {
  const base = Math.min(maxMs, minMs * 2 ** Math.min(failures - 1, 20));
  return Math.round(base / 2 + (random() * base) / 2);
}

export async function startControlClient(options: ControlClientOptions): Promise<ControlClient> {
  const { logger, random } = options;
  const pollTimeoutMs = options.pollTimeoutMs ?? 90_000;
  // Created at the first poll that can read the CA: in Kubernetes the CA comes from the optional
  // switchyard-ca ConfigMap, which may appear after the pod starts. Until then polls fail and back
  // off like any other failure instead of crashing the sidecar.
  let agent: Agent | null = null;
  const agentForPoll = async (): Promise<Agent> => {
    if (agent !== null) return agent;
    let ca: string | undefined;
    if (options.caFile !== null) {
      try {
        ca = await readFile(options.caFile, 'utf8');
      } catch (error) {
        throw new Error(`control CA file ${options.caFile} is not readable yet: ${errorMessage(error)}`);
      }
    }
    agent = new Agent({
      connect: ca === undefined ? {} : { ca },
      headersTimeout: pollTimeoutMs,
      bodyTimeout: pollTimeoutMs,
    });
    return agent;
  };
  const abort = new AbortController();
  const base = new URL(options.base);
  const origin = base.origin;
  const path = `${base.pathname.replace(/\/+$/, '')}/v1/routes/${encodeURIComponent(options.namespace)}/${encodeURIComponent(options.service)}`;
  let generation: number | null = null;
  let etag: string | null = null;
  let failures = 0;
  let connected: boolean | null = null;
  const setConnected = (value: boolean): void => {
    if (connected !== value) {
      connected = value;
      options.onConnected(value);
      if (value) logger.info({ control: options.base }, 'connected to control');
    }
  };

  const pollOnce = async (): Promise<void> => {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (options.tokenFile !== null) {
      // Re-read every time: projected service-account tokens are rotated by the kubelet.
      const token = await readTokenFile(options.tokenFile).catch((error: unknown) => {
        throw new Error(`control token file: ${errorMessage(error)}`, { cause: error });
      });
      headers.authorization = `Bearer ${token}`;
    }
    if (etag !== null) headers['if-none-match'] = etag;
    const query = generation === null ? '' : `?generation=${generation}`;
    const response = await request(await agentForPoll(), {
      origin,
      path: `${path}${query}`,
      method: 'GET',
      headers,
      signal: abort.signal,
    });
    if (response.statusCode === 304) {
      await response.body.dump();
      setConnected(true);
      return;
    }
    if (response.statusCode !== 200) {
      const text = (await response.body.text()).slice(0, 300);
      throw new Error(`control answered ${response.statusCode}: ${text}`);
    }
    const text = await response.body.text();
    setConnected(true);
    const table = parseRouteTableJson(text);
    if (generation === null || table.generation !== generation) options.onTable(table);
    generation = table.generation;
    const tag = response.headers.etag;
    etag = typeof tag === 'string' ? tag : null;
  };

  const loop = async (): Promise<void> => {
    while (!abort.signal.aborted) {
      try {
        await pollOnce();
        failures = 0;
      } catch (error) {
        if (abort.signal.aborted) break;
        failures++;
        setConnected(false);
        const delay = backoffDelay(
          failures,
          options.minBackoffMs ?? 500,
          options.maxBackoffMs ?? 30_000,
          random,
        );
        logger.warn(
          { err: errorMessage(error), failures, retryInMs: delay },
          'route poll failed; keeping last table',
        );
        await sleep(delay, undefined, { signal: abort.signal }).catch(() => undefined);
      }
    }
  };
  const running = loop();
  return {
    async close() {
      abort.abort();
      await running;
      await agent?.destroy();
    },
  };
}
