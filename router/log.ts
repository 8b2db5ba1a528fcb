// The router's logging: the interface its modules log through, and the JSON-lines logger the sidecar
// runs with. pino's Logger satisfies the interface (the demo and tests pass one in); the sidecar does
// not load pino because pino's modules cost every pod ~9 MB of RSS for the few lines a router writes.
// Lines have pino's shape — {"level":30,"time":…,"pid":…,…bindings,…fields,"msg":…} — so the same
// log pipeline reads the control plane's and the routers' logs.

type LogMethod = (fields: Readonly<Record<string, unknown>>, msg: string) => void;

export interface Log {
  readonly error: LogMethod;
  readonly warn: LogMethod;
  readonly info: LogMethod;
  readonly debug: LogMethod;
  child(bindings: Readonly<Record<string, unknown>>): Log;
}

/** pino's level names and numbers; `silent` logs nothing. */
export const LOG_LEVELS: Readonly<Record<string, number>> = {
  trace: 10,
  debug: 20,
  info: 30,
  warn: 40,
  error: 50,
  fatal: 60,
  silent: Number.POSITIVE_INFINITY,
};

/** Errors as pino's standard serializer writes them: type, message, stack (and code when set). */
function serializable(_key: string, value: unknown): unknown {
  if (!(value instanceof Error)) return value;
  const code = (value as { code?: unknown }).code;
  return {
    type: value.name,
    message: value.message,
    stack: value.stack,
    ...(code === undefined ? {} : { code }),
  };
}

const noop: LogMethod = () => {};

/**
 * A logger writing one JSON object per line through `write` (stdout by default). `level` must be a
 * key of LOG_LEVELS (the router's config checks it); methods below it are no-ops.
 */
export function jsonLogger(
  level: string,
  bindings: Readonly<Record<string, unknown>>,
  write: (line: string) => void = (line) => process.stdout.write(line),
  now: () => number = Date.now,
): Log {
  const threshold = LOG_LEVELS[level];
  if (threshold === undefined) throw new Error(`unknown log level "${level}"`);
  const method = (value: number): LogMethod =>
    value < threshold
      ? noop
      : (fields, msg) =>
          write(
            `${JSON.stringify({ level: value, time: now(), ...bindings, ...fields, msg }, serializable)}\n`,
          );
  return {
    error: method(LOG_LEVELS.error!),
    warn: method(LOG_LEVELS.warn!),
    info: method(LOG_LEVELS.info!),
    debug: method(LOG_LEVELS.debug!),
    child: (more) => jsonLogger(level, { ...bindings, ...more }, write, now),
  };
}
