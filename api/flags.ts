// The flags of the long-running commands (`switchyard router`, `switchyard control`): one table of
// specs per command; every flag is also settable as the environment variable SWITCHYARD_<FLAG>
// (flags win, then the environment, then the table's default). Errors name the flag.

import { formatDurationMs, parseDurationMs } from './duration.js';
import { ErrorCode, SwitchyardError, errorMessage } from './errors.js';

// Not `import`: the router parses its flags here, and node:util's ESM facade loads ~30 modules on
// node 22+ (see router/start.ts).
const { parseArgs } = process.getBuiltinModule('node:util');

export interface FlagSpec {
  /** What the value looks like in usage, e.g. `host:port`. */
  readonly value: string;
  readonly help: string;
  readonly default?: string;
}

export type FlagTable = Readonly<Record<string, FlagSpec>>;

/** A flag's value: the flag, else its environment variable, else the table's default, else null. */
export type FlagReader = (name: string) => string | null;

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** `listen-address` → `SWITCHYARD_LISTEN_ADDRESS`. */
export function envName(flag: string): string {
  return `SWITCHYARD_${flag.toUpperCase().replaceAll('-', '_')}`;
}

export function flagError(flag: string, message: string): never {
  throw new SwitchyardError(ErrorCode.FlagInvalid, `--${flag}: ${message}`, { field: `--${flag}` });
}

/** Usage lines for the table: `--flag <value>  help (default …)`, the environment variable below it. */
export function flagUsage(table: FlagTable): string[] {
  const lefts = Object.entries(table).map(([name, spec]) => `  --${name} <${spec.value}>`);
  const width = Math.max(...lefts.map((left) => left.length)) + 2;
  const rows = Object.entries(table).map(([name, spec], i) => {
    const def = spec.default === undefined ? '' : ` (default ${spec.default})`;
    return `${lefts[i]!.padEnd(width)}${spec.help}${def}\n${''.padEnd(width)}env ${envName(name)}`;
  });
  return [...rows, `${'  -h, --help'.padEnd(width)}this text`];
}

/** Parses `argv` against the table: 'help' for -h/--help, otherwise a reader for the flags' values. */
export function readFlags(
  command: string,
  table: FlagTable,
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): FlagReader | 'help' {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {
    help: { type: 'boolean', short: 'h' },
  };
  for (const name of Object.keys(table)) options[name] = { type: 'string' };
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }).values;
  } catch (error) {
    throw new SwitchyardError(
      ErrorCode.FlagInvalid,
      `${command}: ${errorMessage(error)} (see switchyard ${command} --help)`,
      { cause: error },
    );
  }
  if (values.help === true) return 'help';
  return (name) => {
    const flag = values[name];
    if (typeof flag === 'string') return flag;
    const fromEnv = env[envName(name)];
    return fromEnv === undefined || fromEnv === '' ? (table[name]?.default ?? null) : fromEnv;
  };
}

/** `127.0.0.1:15001`, `[::1]:8443`; port 0 picks a free port. `example` shows a valid value. */
export function parseHostPort(flag: string, text: string, example: string): HostPort {
  const colon = text.lastIndexOf(':');
  const host = colon < 0 ? '' : text.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  const portText = text.slice(colon + 1);
  const port = Number(portText);
  if (colon < 0 || host.length === 0 || !/^\d{1,5}$/.test(portText) || port > 65_535) {
    flagError(flag, `"${text}" is not host:port (e.g. ${example}; port 0 picks a free port)`);
  }
  return { host, port };
}

/** A TCP port flag, 1–65535. */
export function flagPort(flag: string, text: string): number {
  const port = Number(text);
  if (!/^\d{1,5}$/.test(text) || port < 1 || port > 65_535)
    flagError(flag, `"${text}" is not a port 1–65535`);
  return port;
}

/** The value if it is one of `allowed`; otherwise an error listing them. */
export function flagOneOf<T extends string>(flag: string, text: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(text))
    flagError(flag, `"${text}" is not one of ${allowed.join(', ')}`);
  return text as T;
}

/** A duration flag (`500ms`, `30s`, `2m`, `1h30m`) in milliseconds, between `minMs` and `maxMs`. */
export function flagDuration(flag: string, text: string, minMs: number, maxMs: number): number {
  const ms = parseDurationMs(text);
  if (ms === null) flagError(flag, `"${text}" is not a duration; expected e.g. 500ms, 30s, 2m`);
  if (ms < minMs || ms > maxMs) {
    flagError(flag, `"${text}" must be between ${formatDurationMs(minMs)} and ${formatDurationMs(maxMs)}`);
  }
  return ms;
}
