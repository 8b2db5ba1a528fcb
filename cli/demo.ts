// `switchyard demo`: a complete canary rollout on this machine, no cluster and no Prometheus —
// flags parsed once here, the run itself in cli/demo/run.ts. Ctrl-C stops everything.

import { parseArgs } from 'node:util';
import { ErrorCode, SwitchyardError, errorMessage } from '../api/errors.js';
import { runDemo, TESTER_RPS } from './demo/run.js';
import { isScenarioName, SCENARIOS, type ScenarioName } from './demo/scenarios.js';

export interface DemoFlags {
  readonly scenario: ScenarioName;
  readonly fast: boolean;
  readonly keep: boolean;
  readonly outDir: string;
  readonly rps: number;
}

export const DEFAULT_RPS = 200;
const MAX_RPS = 2000;

export function demoUsage(): string {
  return [
    'Usage: switchyard demo [--scenario NAME] [--fast] [--keep] [--out DIR] [--rps N]',
    '   or: make demo ARGS="--fast --scenario errors"',
    '',
    'Runs a complete progressive delivery on this machine, no cluster and no Prometheus needed:',
    'shop v1 and v2 each behind a switchyard router, an entry router the clients call, control in',
    'file mode with the builtin analysis, a load generator plus a tester sending X-Canary: always.',
    'It announces v2, follows the real rollout step by step, and ends with a report (terminal,',
    'JSON and a self-contained HTML page with charts). Everything it started is stopped on exit.',
    '',
    'Flags:',
    `  --scenario <name>   what v2 does (default healthy):`,
    '                        healthy    v2 is fine                         → expect PROMOTED',
    '                        errors     v2 answers 20 % with HTTP 500      → expect ROLLED BACK',
    '                        latency    v2 adds 200 ms (p99 limit 150 ms)  → expect ROLLED BACK',
    '                        ab         A/B: x-user-group: beta goes to v2 → expect PROMOTED',
    '                        bluegreen  v2 gets testers + a mirror, then switches 0 → 100 → expect PROMOTED',
    '  --fast              steps 10,50 with 3 s intervals: the whole run in well under a minute',
    '                      (default: steps 5,25,50 with 15 s intervals)',
    '  --keep              after the report, leave everything running and print the dashboard URL',
    '                      and commands to try, until Ctrl-C',
    '  --out <dir>         where the report (demo-<scenario>.json/.html) and the log go (default .demo)',
    `  --rps <n>           requests per second of the load generator (default ${DEFAULT_RPS}, max ${MAX_RPS});`,
    `                      the tester adds ${TESTER_RPS} req/s`,
    '  -h, --help          this text',
    '',
    'Exit code: 0 when the outcome is the one the scenario expects, 1 otherwise (the demo doubles',
    'as a smoke test), 130/143 when interrupted by Ctrl-C/SIGTERM (also how --keep ends).',
    '',
  ].join('\n');
}

function bad(flag: string, message: string): never {
  throw new SwitchyardError(ErrorCode.FlagInvalid, `demo --${flag}: ${message}`, { field: `--${flag}` });
}

export function parseDemoFlags(argv: readonly string[]): DemoFlags | 'help' {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        help: { type: 'boolean', short: 'h' },
        scenario: { type: 'string' },
        fast: { type: 'boolean' },
        keep: { type: 'boolean' },
        out: { type: 'string' },
        rps: { type: 'string' },
      },
    }).values;
  } catch (error) {
    throw new SwitchyardError(
      ErrorCode.FlagInvalid,
      `demo: ${errorMessage(error)} (see switchyard demo --help)`,
      {
        cause: error,
      },
    );
  }
  if (values.help === true) return 'help';
  const scenario = (values.scenario as string | undefined) ?? 'healthy';
  if (!isScenarioName(scenario)) bad('scenario', `"${scenario}" — expected one of ${SCENARIOS.join(', ')}`);
  const rpsText = (values.rps as string | undefined) ?? String(DEFAULT_RPS);
  const rps = Number(rpsText);
  if (!/^\d+$/.test(rpsText) || rps < 10 || rps > MAX_RPS) {
    bad('rps', `"${rpsText}" — expected a whole number of requests per second from 10 to ${MAX_RPS}`);
  }
  const out = (values.out as string | undefined) ?? '.demo';
  if (out === '') bad('out', 'expected a directory');
  return Object.freeze({
    scenario,
    fast: values.fast === true,
    keep: values.keep === true,
    outDir: out,
    rps,
  });
}

export async function main(argv: string[]): Promise<number> {
  const flags = parseDemoFlags(argv);
  if (flags === 'help') {
    process.stdout.write(demoUsage());
    return 0;
  }
  const interrupted = new AbortController();
  const stop = (signal: NodeJS.Signals): void => {
    if (interrupted.signal.aborted) {
      // A second Ctrl-C while stopping: the user does not want to wait for the drain.
      process.stdout.write(`\nswitchyard demo: ${signal} again, exiting now\n`);
      process.exit(signal === 'SIGTERM' ? 143 : 130);
    }
    process.stdout.write(`\nswitchyard demo: ${signal}, stopping everything…\n`);
    interrupted.abort(signal);
  };
  // `switchyard demo | head`: the reader went away; stop as on a signal instead of crashing.
  const closedPipe = (error: NodeJS.ErrnoException): void => {
    if (error.code === 'EPIPE' && !interrupted.signal.aborted) interrupted.abort('SIGPIPE');
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  process.stdout.on('error', closedPipe);
  try {
    return await runDemo(flags, {
      stdout: process.stdout,
      tty: process.stdout.isTTY === true && process.env.TERM !== 'dumb',
      columns: process.stdout.columns ?? 80,
      signal: interrupted.signal,
      cwd: process.cwd(),
    });
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    process.stdout.off('error', closedPipe);
  }
}
