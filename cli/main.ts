// Entry point of the `switchyard` command: picks the subcommand and hands it the remaining
// arguments. Each subcommand lives in its own module and is loaded only when used.

import { ErrorCode, SwitchyardError, errorMessage, isSwitchyardError } from '../api/errors.js';
import { VERSION } from '../api/version.js';

export type CommandMain = (argv: string[]) => Promise<number>;

interface Command {
  readonly summary: string;
  /** Absent while the subcommand is not built yet. */
  readonly load?: () => Promise<{ main: CommandMain }>;
  /** Left out of the help: internal helpers such as the demo's sample app. */
  readonly hidden?: boolean;
}

const COMMANDS: Readonly<Record<string, Command>> = {
  router: {
    summary: 'run the sidecar HTTP router in front of the app container',
    load: () => import('./router.js'),
  },
  control: {
    summary: 'run the webhook, route server, rollout controller, API and dashboard',
    load: () => import('./control.js'),
  },
  inject: {
    summary: 'inject the router into Pod/Deployment YAML offline and print the result',
    load: () => import('./inject.js'),
  },
  status: {
    summary: 'show rollouts: phase, weight, step, last verdicts',
    load: () => import('./operate.js').then((m) => ({ main: m.commandMain('status') })),
  },
  promote: {
    summary: 'promote a rollout (skip remaining steps with --full)',
    load: () => import('./operate.js').then((m) => ({ main: m.commandMain('promote') })),
  },
  abort: {
    summary: 'abort a rollout: canary to 0% at once, then roll back',
    load: () => import('./operate.js').then((m) => ({ main: m.commandMain('abort') })),
  },
  retry: {
    summary: 'rerun a failed rollout of the same revision',
    load: () => import('./operate.js').then((m) => ({ main: m.commandMain('retry') })),
  },
  pause: {
    summary: 'hold a rollout at its current step',
    load: () => import('./operate.js').then((m) => ({ main: m.commandMain('pause') })),
  },
  resume: {
    summary: 'continue a paused rollout',
    load: () => import('./operate.js').then((m) => ({ main: m.commandMain('resume') })),
  },
  'set-weight': {
    summary: 'set the canary weight by hand (pauses automatic steps)',
    load: () => import('./operate.js').then((m) => ({ main: m.commandMain('set-weight') })),
  },
  rollout: {
    summary: 'file mode: `rollout start <service> --canary-upstream URL`',
    load: () => import('./operate.js').then((m) => ({ main: m.commandMain('rollout') })),
  },
  demo: {
    summary: 'run a complete canary rollout on this machine, no cluster needed',
    load: () => import('./demo.js'),
  },
  'shop-app': {
    summary: 'the sample shop app of the demo and e2e tests',
    hidden: true,
    load: () => import('./demo/shop-app.js'),
  },
};

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((name) => name.length));
  const lines = Object.entries(COMMANDS)
    .filter(([, command]) => !command.hidden)
    .map(
      ([name, command]) =>
        `  ${name.padEnd(width)}  ${command.summary}${command.load ? '' : ' (not built yet)'}`,
    );
  return [
    `switchyard ${VERSION} — progressive delivery for Kubernetes without a service mesh`,
    '',
    'Usage: switchyard <command> [flags]   (switchyard <command> --help for its flags)',
    '',
    'Commands:',
    ...lines,
    '',
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-v') {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!command) {
    process.stderr.write(`switchyard: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  if (!command.load) {
    throw new SwitchyardError(ErrorCode.NotImplemented, `switchyard ${name}: not built yet in ${VERSION}`);
  }
  const module = await command.load();
  return module.main(rest);
}

export async function runCli(argv: string[]): Promise<void> {
  try {
    process.exitCode = await main(argv);
  } catch (error) {
    const code = isSwitchyardError(error) ? ` [${error.code}]` : '';
    process.stderr.write(`switchyard: ${errorMessage(error)}${code}\n`);
    process.exitCode = isSwitchyardError(error) && error.code === ErrorCode.NotImplemented ? 3 : 1;
  }
}
