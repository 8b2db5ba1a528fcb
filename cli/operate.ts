// The operator commands: status, promote, abort, retry, pause, resume, set-weight and `rollout
// start`. One module, one client interface; file mode talks to control's /v1/rollouts API.

import { parseArgs } from 'node:util';
import { request } from 'undici';
import { readTokenFile } from '../api/bearer.js';
import type { Command, Verdict } from '../api/canary.js';
import { ErrorCode, SwitchyardError, errorMessage } from '../api/errors.js';
import type { RolloutEventView, RolloutSummary, StartRequest } from '../controller/api.js';
import { kubeRolloutClient } from '../controller/kube/client.js';

/** What the CLI needs from a control plane: control's API (file mode) or Canary objects (Kubernetes). */
export interface RolloutClient {
  /** The namespace of a rollout named without -n: the kubeconfig context's, or `default`. */
  readonly defaultNamespace: string;
  /** All rollouts, or those of one namespace. */
  list(namespace: string | null): Promise<readonly RolloutSummary[]>;
  get(namespace: string, name: string): Promise<RolloutSummary>;
  /** Throws SwitchyardError(CommandRejected) with the reason when the phase does not allow it. */
  command(namespace: string, name: string, command: Command): Promise<RolloutSummary>;
  start(namespace: string, name: string, start: StartRequest): Promise<RolloutSummary>;
  events(namespace: string, name: string): Promise<readonly RolloutEventView[]>;
}

const CODE_BY_STATUS: Readonly<Record<number, ErrorCode>> = {
  400: ErrorCode.FlagInvalid,
  401: ErrorCode.Unauthorized,
  404: ErrorCode.NotFound,
  409: ErrorCode.CommandRejected,
  501: ErrorCode.NotImplemented,
};

/** File mode: control's JSON API over HTTP(S) with a bearer token. */
export class HttpRolloutClient implements RolloutClient {
  readonly defaultNamespace = 'default';
  readonly #base: string;
  readonly #token: string | null;

  constructor(baseUrl: string, token: string | null) {
    this.#base = baseUrl.replace(/\/+$/, '');
    this.#token = token;
  }

  async #call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.#token !== null) headers.authorization = `Bearer ${this.#token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let response: Awaited<ReturnType<typeof request>>;
    try {
      response = await request(`${this.#base}${path}`, {
        method,
        headers,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        headersTimeout: 10_000,
        bodyTimeout: 10_000,
      });
    } catch (error) {
      throw new SwitchyardError(
        ErrorCode.Unavailable,
        `cannot reach control at ${this.#base}: ${errorMessage(error)}`,
        { cause: error },
      );
    }
    const text = await response.body.text();
    let json: unknown = null;
    try {
      json = text === '' ? null : JSON.parse(text);
    } catch {
      json = null;
    }
    if (response.statusCode >= 200 && response.statusCode < 300) return json as T;
    const message = (json as { message?: unknown } | null)?.message;
    throw new SwitchyardError(
      CODE_BY_STATUS[response.statusCode] ?? ErrorCode.Unavailable,
      typeof message === 'string'
        ? message
        : `control answered HTTP ${response.statusCode} to ${method} ${path}`,
    );
  }

  async list(namespace: string | null): Promise<readonly RolloutSummary[]> {
    const { items } = await this.#call<{ items: RolloutSummary[] }>('GET', '/v1/rollouts');
    return namespace === null ? items : items.filter((item) => item.namespace === namespace);
  }

  get(namespace: string, name: string): Promise<RolloutSummary> {
    return this.#call('GET', `/v1/rollouts/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`);
  }

  command(namespace: string, name: string, command: Command): Promise<RolloutSummary> {
    const { type, ...body } = command;
    return this.#call(
      'POST',
      `/v1/rollouts/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}/${type}`,
      body,
    );
  }

  start(namespace: string, name: string, start: StartRequest): Promise<RolloutSummary> {
    return this.#call(
      'POST',
      `/v1/rollouts/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}/start`,
      start,
    );
  }

  async events(namespace: string, name: string): Promise<readonly RolloutEventView[]> {
    const { items } = await this.#call<{ items: RolloutEventView[] }>(
      'GET',
      `/v1/rollouts/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}/events`,
    );
    return items;
  }
}

// ---------------------------------------------------------------------------------------------
// Rendering

/** `45s`, `3m05s`, `2h10m`, `3d4h`. */
export function formatAge(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(s / 86_400)}d${Math.floor((s % 86_400) / 3600)}h`;
}

function rate(value: number | null): string {
  return value === null ? '-' : `${(value * 100).toFixed(1)}%`;
}

function latency(seconds: number | null): string {
  return seconds === null ? '-' : `${Math.round(seconds * 1000)}ms`;
}

/** One cell: outcome, the deciding check, and the canary/stable numbers behind it. */
export function formatVerdict(verdict: Verdict | undefined): string {
  if (verdict === undefined) return '-';
  const deciding = verdict.checks.find(
    (check) => check.outcome === verdict.outcome && verdict.outcome !== 'pass',
  );
  const head = `${verdict.outcome}${verdict.fastFail ? ' (fast)' : ''}${deciding ? ` ${deciding.name}` : ''}`;
  const c = verdict.canary;
  const s = verdict.stable;
  return `${head}: canary ${rate(c.successRate)} of ${c.requests} p99 ${latency(c.p99Seconds)} | stable ${rate(s.successRate)} of ${s.requests} p99 ${latency(s.p99Seconds)}`;
}

function stepCell(rollout: RolloutSummary): string {
  if (rollout.phase === 'Idle') return '-';
  return rollout.step >= rollout.steps.length
    ? `${rollout.steps.length}/${rollout.steps.length}`
    : `${rollout.step + 1}/${rollout.steps.length}`;
}

export function statusRows(rollouts: readonly RolloutSummary[], nowMs: number): string[][] {
  return rollouts.map((rollout) => [
    rollout.namespace,
    rollout.name,
    rollout.phase,
    `${rollout.weight}%`,
    stepCell(rollout),
    formatVerdict(rollout.lastVerdicts[rollout.lastVerdicts.length - 1]),
    formatAge((nowMs - Date.parse(rollout.phaseSince)) / 1000),
  ]);
}

const HEADER = ['NAMESPACE', 'NAME', 'PHASE', 'WEIGHT', 'STEP', 'LAST VERDICT', 'AGE'];

/** One line per warning of a rollout, below the table: `warning: <ns>/<name>: <text>`. */
export function warningLines(rollouts: readonly RolloutSummary[]): string {
  return rollouts
    .flatMap((rollout) =>
      (rollout.warnings ?? []).map((text) => `warning: ${rollout.namespace}/${rollout.name}: ${text}\n`),
    )
    .join('');
}

export function renderTable(rows: readonly (readonly string[])[]): string {
  const all = [HEADER, ...rows];
  const widths = HEADER.map((_, column) => Math.max(...all.map((row) => (row[column] ?? '').length)));
  return `${all.map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!))).join('  ')).join('\n')}\n`;
}

// ---------------------------------------------------------------------------------------------
// Commands

export interface OperateIo {
  readonly stdout: { write(text: string): unknown; readonly isTTY?: boolean };
  readonly stderr: { write(text: string): unknown };
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly now: () => number;
  /** Aborts `status --watch` (tests); the CLI stops on SIGINT. */
  readonly signal?: AbortSignal;
}

export const OPERATE_COMMANDS = [
  'status',
  'promote',
  'abort',
  'retry',
  'pause',
  'resume',
  'set-weight',
  'rollout',
] as const;
export type OperateCommand = (typeof OPERATE_COMMANDS)[number];

const COMMON_HELP = [
  'Control plane (file mode):',
  '  --control <url>          control base URL, e.g. http://127.0.0.1:8443   env SWITCHYARD_CONTROL',
  '  --token-file <path>      bearer token for the operator API             env SWITCHYARD_TOKEN_FILE',
  '  -n, --namespace <name>   namespace (default: the kubeconfig context\'s, else "default"; status without -n lists all)',
  'Kubernetes mode (the default without --control): reads Canary objects; commands are written to the',
  'Canary as the annotation switchyard.io/command and answered by the leading control in its status.',
  '  --kubeconfig <path>      kubeconfig (default KUBECONFIG, ~/.kube/config, in-cluster)   env SWITCHYARD_KUBECONFIG',
  '  --context <name>         kubeconfig context                                            env SWITCHYARD_CONTEXT',
];

const USAGE: Readonly<Record<OperateCommand, string>> = {
  status: 'switchyard status [-n ns] [name] [--watch] [--output table|json]',
  promote: 'switchyard promote [-n ns] <name> [--full]   (next step; --full skips the remaining steps)',
  abort: 'switchyard abort [-n ns] <name>   (canary to 0% at once, then roll back)',
  retry: 'switchyard retry [-n ns] <name>   (rerun the failed revision)',
  pause: 'switchyard pause [-n ns] <name>',
  resume: 'switchyard resume [-n ns] <name>',
  'set-weight': 'switchyard set-weight [-n ns] <name> <percent 0-100>   (pauses automatic steps)',
  rollout: 'switchyard rollout start [-n ns] <service> --canary-upstream <url> [--canary-admin <url>]...',
};

function usage(command: OperateCommand): string {
  return [`Usage: ${USAGE[command]}`, '', ...COMMON_HELP, ''].join('\n');
}

function bad(command: string, message: string): never {
  throw new SwitchyardError(
    ErrorCode.FlagInvalid,
    `${command}: ${message} (see switchyard ${command} --help)`,
  );
}

interface Parsed {
  readonly values: Record<string, string | boolean | string[] | undefined>;
  readonly positionals: string[];
}

function parse(command: OperateCommand, argv: readonly string[]): Parsed {
  try {
    const { values, positionals } = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        help: { type: 'boolean', short: 'h' },
        control: { type: 'string' },
        'token-file': { type: 'string' },
        namespace: { type: 'string', short: 'n' },
        context: { type: 'string' },
        kubeconfig: { type: 'string' },
        watch: { type: 'boolean', short: 'w' },
        output: { type: 'string', short: 'o' },
        full: { type: 'boolean' },
        'canary-upstream': { type: 'string' },
        'canary-admin': { type: 'string', multiple: true },
      },
    });
    return { values, positionals };
  } catch (error) {
    return bad(command, errorMessage(error));
  }
}

/** The client for the flags: file mode with --control, otherwise Kubernetes (kubeconfig, --context). */
export async function clientFor(values: Parsed['values'], env: OperateIo['env']): Promise<RolloutClient> {
  const control = (values.control as string | undefined) ?? env.SWITCHYARD_CONTROL;
  if (control === undefined || control === '') {
    const flag = (name: string, envName: string): string | null =>
      (values[name] as string | undefined) ?? (env[envName] || null);
    return kubeRolloutClient({
      kubeconfig: flag('kubeconfig', 'SWITCHYARD_KUBECONFIG'),
      context: flag('context', 'SWITCHYARD_CONTEXT'),
    });
  }
  if (!/^https?:\/\/[^\s/]+\/?$/.test(control))
    bad('--control', `"${control}" — expected http(s)://host:port`);
  const tokenFile = (values['token-file'] as string | undefined) ?? env.SWITCHYARD_TOKEN_FILE;
  let token: string | null = null;
  if (tokenFile !== undefined && tokenFile !== '') {
    try {
      token = await readTokenFile(tokenFile);
    } catch (error) {
      bad('--token-file', errorMessage(error));
    }
  }
  return new HttpRolloutClient(control, token);
}

function summaryLine(rollout: RolloutSummary): string {
  return `${rollout.namespace}/${rollout.name}: ${rollout.phase}, canary ${rollout.weight}%, step ${stepCell(rollout)} — ${rollout.message}\n`;
}

async function status(client: RolloutClient, parsed: Parsed, io: OperateIo): Promise<number> {
  const namespace = (parsed.values.namespace as string | undefined) ?? null;
  const name = parsed.positionals[0];
  if (parsed.positionals.length > 1) bad('status', `unexpected argument "${parsed.positionals[1]}"`);
  const output = (parsed.values.output as string | undefined) ?? 'table';
  if (output !== 'table' && output !== 'json') bad('status', `--output "${output}" — expected table or json`);
  const fetch = async (): Promise<readonly RolloutSummary[]> =>
    name === undefined
      ? client.list(namespace)
      : [await client.get(namespace ?? client.defaultNamespace, name)];
  const render = (rollouts: readonly RolloutSummary[]): string =>
    output === 'json'
      ? `${JSON.stringify(name === undefined ? { items: rollouts } : rollouts[0], null, 2)}\n`
      : rollouts.length === 0
        ? 'No rollouts.\n'
        : renderTable(statusRows(rollouts, io.now())) + warningLines(rollouts);
  if (parsed.values.watch !== true) {
    io.stdout.write(render(await fetch()));
    return 0;
  }
  // --watch: redraw in place on a terminal; elsewhere print a line per rollout whenever its row changes.
  const seen = new Map<string, string>();
  while (!io.signal?.aborted) {
    const rollouts = await fetch();
    if (io.stdout.isTTY) io.stdout.write(`\x1b[H\x1b[2J${render(rollouts)}`);
    else {
      for (const [index, row] of statusRows(rollouts, io.now()).entries()) {
        const rollout = rollouts[index]!;
        const key = `${rollout.namespace}/${rollout.name}`;
        const stable = row.slice(0, -1).join('  ');
        if (seen.get(key) !== stable) {
          seen.set(key, stable);
          // JSON stays machine-readable: one rollout object per line, as `kubectl get -w -o json` streams.
          io.stdout.write(
            output === 'json'
              ? `${JSON.stringify(rollout)}\n`
              : `${new Date(io.now()).toISOString()}  ${row.join('  ')}\n`,
          );
        }
      }
    }
    if (io.signal?.aborted) break;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 2000);
      io.signal?.addEventListener(
        'abort',
        () => {
          clearTimeout(timer);
          resolve();
        },
        { once: true },
      );
    });
  }
  return 0;
}

function target(
  command: OperateCommand,
  client: RolloutClient,
  parsed: Parsed,
  extra = 0,
): { namespace: string; name: string } {
  const name = parsed.positionals[0];
  if (name === undefined) bad(command, 'the rollout name is required');
  if (parsed.positionals.length > 1 + extra)
    bad(command, `unexpected argument "${parsed.positionals[1 + extra]}"`);
  return { namespace: (parsed.values.namespace as string | undefined) ?? client.defaultNamespace, name };
}

/** Runs one operator command; returns the exit code. Rejections print the reason and exit 1. */
export async function operate(
  command: OperateCommand,
  argv: readonly string[],
  io: OperateIo,
): Promise<number> {
  return run(command, parse(command, argv), io);
}

async function run(command: OperateCommand, parsed: Parsed, io: OperateIo): Promise<number> {
  if (parsed.values.help === true) {
    io.stdout.write(usage(command));
    return 0;
  }
  const client = await clientFor(parsed.values, io.env);
  if (command === 'status') return status(client, parsed, io);
  if (command === 'rollout') {
    const [verb, ...rest] = parsed.positionals;
    if (verb !== 'start')
      bad('rollout', `expected "rollout start <service> --canary-upstream URL", got "${verb ?? ''}"`);
    const { namespace, name } = target(command, client, { ...parsed, positionals: rest });
    const upstream = parsed.values['canary-upstream'];
    if (typeof upstream !== 'string') bad('rollout', '--canary-upstream URL is required');
    const admin = (parsed.values['canary-admin'] as string[] | undefined) ?? [];
    const rollout = await client.start(namespace, name, { canaryUpstream: upstream, canaryAdmin: admin });
    io.stdout.write(summaryLine(rollout));
    return 0;
  }
  let built: Command;
  let extra = 0;
  if (command === 'set-weight') {
    extra = 1;
    const text = parsed.positionals[1];
    const weight = text !== undefined && /^\d{1,3}$/.test(text) ? Number(text) : Number.NaN;
    if (!(weight >= 0 && weight <= 100))
      bad('set-weight', `weight "${text ?? ''}" — expected an integer 0-100`);
    built = { type: 'set-weight', weight };
  } else if (command === 'promote') {
    built = { type: 'promote', full: parsed.values.full === true };
  } else {
    built = { type: command };
  }
  const { namespace, name } = target(command, client, parsed, extra);
  const rollout = await client.command(namespace, name, built);
  io.stdout.write(summaryLine(rollout));
  return 0;
}

/** The CommandMain for one subcommand, as cli/main.ts loads it. */
export function commandMain(command: OperateCommand): (argv: string[]) => Promise<number> {
  return async (argv) => {
    const parsed = parse(command, argv);
    const controller = new AbortController();
    const stop = (): void => controller.abort();
    // Only `status --watch` ends on Ctrl-C by itself (exit 0); anywhere else a handler would swallow
    // Ctrl-C while a request waits on an unanswering control (up to its 10 s timeout).
    if (command === 'status' && parsed.values.watch === true) process.once('SIGINT', stop);
    try {
      return await run(command, parsed, {
        stdout: process.stdout,
        stderr: process.stderr,
        env: process.env,
        now: () => Date.now(),
        signal: controller.signal,
      });
    } finally {
      process.off('SIGINT', stop);
    }
  };
}
