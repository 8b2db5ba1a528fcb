// The benches' gRPC client: unary calls to the e2e's greeter (test/e2e/cluster/fixtures/greeter.mjs)
// with @grpc/grpc-js, raw bytes as messages.
import { setTimeout as sleep } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';

const identity = (value) => value;
const HELLO = '/greeter.Greeter/Hello';
const request = Buffer.from('bench');

/** A client on one channel (one HTTP/2 connection) to 127.0.0.1:`port`. */
export function channel(port) {
  return new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
}

export function call(client) {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(HELLO, identity, identity, request, (error) =>
      error ? reject(error) : resolve(),
    );
  });
}

/** Resolves with the first call that is answered; throws after `timeoutMs` without one. */
export async function ready(client, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await call(client);
    } catch (error) {
      if (Date.now() > deadline)
        throw new Error(`no gRPC answer within ${timeoutMs / 1000} s: ${error.details ?? error.message}`);
      await sleep(100);
    }
  }
}
