// A gRPC app and client for the router's h2c tests (@grpc/grpc-js, what users run).
import * as grpc from '@grpc/grpc-js';

export const identity = (value: Buffer): Buffer => value;
export const SAY = {
  path: '/shop.Echo/Say',
  requestStream: false,
  responseStream: false,
  requestSerialize: identity,
  requestDeserialize: identity,
  responseSerialize: identity,
  responseDeserialize: identity,
} as const;
export const CHAT = { ...SAY, path: '/shop.Echo/Chat', requestStream: true, responseStream: true } as const;

/**
 * A gRPC app: Say answers "<name>:<text>", the error the text names, or after 200 ms for "slow";
 * Chat echoes each message.
 */
export interface GrpcApp {
  readonly url: string;
  /** Metadata of every call it received. */
  readonly seen: Record<string, grpc.MetadataValue>[];
  /** A graceful shutdown: GOAWAY, calls in flight finish. */
  close(): Promise<void>;
  /** Gone at once, calls in flight cut, as when the process dies. */
  kill(): void;
}

const ERRORS: Readonly<Record<string, grpc.status>> = {
  unavailable: grpc.status.UNAVAILABLE,
  'not-found': grpc.status.NOT_FOUND,
};

export async function startGrpcApp(name: string): Promise<GrpcApp> {
  const seen: Record<string, grpc.MetadataValue>[] = [];
  const server = new grpc.Server();
  server.addService(
    { Say: SAY, Chat: CHAT },
    {
      Say: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
        seen.push(call.metadata.getMap());
        const text = call.request.toString();
        if (text === 'slow') {
          setTimeout(() => callback(null, Buffer.from(`${name}:slow`)), 200);
          return;
        }
        const code = ERRORS[text];
        if (code !== undefined) {
          callback({ code, details: `${name} says ${text}` });
          return;
        }
        const headers = new grpc.Metadata();
        headers.set('x-app', name);
        call.sendMetadata(headers);
        const trailers = new grpc.Metadata();
        trailers.set('x-served-by', name);
        callback(null, Buffer.from(`${name}:${text}`), trailers);
      },
      Chat: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
        seen.push(call.metadata.getMap());
        call.on('data', (message: Buffer) => call.write(Buffer.from(`${name}:${message}`)));
        call.on('end', () => call.end());
      },
    },
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () => new Promise((resolve) => server.tryShutdown(() => resolve())),
    kill: () => server.forceShutdown(),
  };
}

export interface Reply {
  readonly text: string | null;
  readonly code: grpc.status;
  readonly details: string;
  readonly headers: grpc.Metadata | null;
  readonly trailers: grpc.Metadata | null;
}

const clients: grpc.Client[] = [];

/** Closes every client `client()` made. */
export function closeClients(): void {
  for (const made of clients.splice(0)) made.close();
}

export function client(url: string): grpc.Client {
  const made = new grpc.Client(new URL(url).host, grpc.credentials.createInsecure());
  clients.push(made);
  return made;
}

export function say(
  url: string,
  text: string,
  metadata: Record<string, string> = {},
  options: grpc.CallOptions = {},
): Promise<Reply> {
  const meta = new grpc.Metadata();
  for (const [key, value] of Object.entries(metadata)) meta.set(key, value);
  return new Promise((resolve) => {
    let headers: grpc.Metadata | null = null;
    let trailers: grpc.Metadata | null = null;
    let done: { text: string | null; code: grpc.status; details: string } | null = null;
    const finish = (): void => {
      if (done !== null && trailers !== null) resolve({ ...done, headers, trailers });
    };
    const call = client(url).makeUnaryRequest(
      SAY.path,
      identity,
      identity,
      Buffer.from(text),
      meta,
      options,
      (error, value) => {
        done = error
          ? { text: null, code: error.code, details: error.details }
          : { text: value!.toString(), code: grpc.status.OK, details: '' };
        finish();
      },
    );
    call.on('metadata', (received) => {
      headers = received;
    });
    call.on('status', (status) => {
      trailers = status.metadata;
      finish();
    });
  });
}
