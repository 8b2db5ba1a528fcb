// The parts of undici the router uses, loaded by path: the package root also loads fetch, WebSocket,
// EventSource and caches, which costs every pod ~7 MB of RSS for code the router never runs.

import { createRequire, Module } from 'node:module';
import type * as Undici from 'undici';

const require = createRequire(import.meta.url);

// undici's Client requires its HTTP/2 module at load, which loads node:http2 and node:tls (~5 MB of
// RSS per pod). It is only used when a TLS handshake negotiates h2, which needs `allowH2`, an option
// the router never sets (HTTP/2 upstreams go through router/h2c-upstream.ts); a stand-in that fails
// loudly takes its place in the module cache.
const h2Path = require.resolve('undici/lib/dispatcher/client-h2.js');
if (require.cache[h2Path] === undefined) {
  const stub = new Module(h2Path);
  stub.filename = h2Path;
  stub.loaded = true;
  stub.exports = function connectH2(): never {
    throw new Error(
      'switchyard router: undici HTTP/2 is not used (allowH2 is off; see router/h2c-upstream.ts)',
    );
  };
  require.cache[h2Path] = stub;
}

export const Pool: typeof Undici.Pool = require('undici/lib/dispatcher/pool.js');
export type Pool = Undici.Pool;
export const Agent: typeof Undici.Agent = require('undici/lib/dispatcher/agent.js');
export type Agent = Undici.Agent;
export type { Dispatcher } from 'undici';
/** undici's timeout errors, raised by the router's own timeouts (router/timeouts.ts). */
export const {
  HeadersTimeoutError,
  BodyTimeoutError,
}: typeof Undici.errors = require('undici/lib/core/errors.js');

const requestApi: (
  this: Pick<Undici.Dispatcher, 'dispatch'>,
  options: Undici.Dispatcher.RequestOptions,
) => Promise<Undici.Dispatcher.ResponseData> = require('undici/lib/api/api-request.js');

/** undici's `dispatcher.request(options)` without the package root. */
export function request(
  dispatcher: Pick<Undici.Dispatcher, 'dispatch'>,
  options: Undici.Dispatcher.RequestOptions,
): Promise<Undici.Dispatcher.ResponseData> {
  return requestApi.call(dispatcher, options);
}
