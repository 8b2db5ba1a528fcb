// The parts of undici the router uses, loaded by path: the package root also loads fetch, WebSocket,
// EventSource and caches, which costs every pod ~7 MB of RSS for code the router never runs.

import { createRequire, Module } from 'node:module';
import type * as Undici from 'undici';

const require = createRequire(import.meta.url);

// undici's Client requires its HTTP/2 module at load, which loads node:http2 and node:tls (~5 MB of
// RSS per pod). Only routers with `--protocol h2c` speak HTTP/2 to their upstreams: a stand-in takes
// the module's place in the cache and loads it on the first HTTP/2 connection.
const h2Path = require.resolve('undici/lib/dispatcher/client-h2.js');
if (require.cache[h2Path] === undefined) {
  type ConnectH2 = (this: unknown, ...args: unknown[]) => unknown;
  let connectH2: ConnectH2 | null = null;
  const stub = new Module(h2Path);
  stub.filename = h2Path;
  stub.loaded = true;
  stub.exports = function connectH2Lazily(this: unknown, ...args: unknown[]): unknown {
    if (connectH2 === null) {
      delete require.cache[h2Path];
      connectH2 = require(h2Path) as ConnectH2;
    }
    return connectH2.apply(this, args);
  };
  require.cache[h2Path] = stub;
}

export const Pool: typeof Undici.Pool = require('undici/lib/dispatcher/pool.js');
export type Pool = Undici.Pool;
export const Agent: typeof Undici.Agent = require('undici/lib/dispatcher/agent.js');
export type Agent = Undici.Agent;
export type { Dispatcher } from 'undici';
/** undici's socket connector; `useH2c` makes it speak HTTP/2 over plain TCP (prior knowledge). */
export const buildConnector: (
  options: Undici.buildConnector.BuildOptions & { useH2c?: boolean },
) => Undici.buildConnector.connector = require('undici/lib/core/connect.js');
/** undici's timeout errors, raised by the router's own timeouts (router/timeouts.ts). */
export const {
  HeadersTimeoutError,
  BodyTimeoutError,
}: typeof Undici.errors = require('undici/lib/core/errors.js');

const requestApi: (
  this: Undici.Dispatcher,
  options: Undici.Dispatcher.RequestOptions,
) => Promise<Undici.Dispatcher.ResponseData> = require('undici/lib/api/api-request.js');

/** undici's `dispatcher.request(options)` without the package root. */
export function request(
  dispatcher: Undici.Dispatcher,
  options: Undici.Dispatcher.RequestOptions,
): Promise<Undici.Dispatcher.ResponseData> {
  return requestApi.call(dispatcher, options);
}
