// What the benches share: the processes they start (each killed when the bench exits, however it
// exits, keeping the end of its stderr for the message when the bench fails), and the router as every
// bench runs it.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './free-port.mjs';

const children = new Set();

function killAll() {
  for (const child of children) child.kill('SIGKILL');
}
process.on('exit', killAll);
process.on('SIGINT', () => process.exit(130));

/**
 * Runs a bench's `main` and exits: 0 when it resolves; 1 when it throws, after printing the error
 * and what each process still running last wrote to stderr. Every process started is killed.
 */
export function runBench(main) {
  main().then(
    () => {
      killAll();
      process.exit(0);
    },
    (error) => {
      const stderrs = [...children].map((child) => child.describe()).join('\n');
      process.stderr.write(`bench failed: ${error.stack ?? error}\n${stderrs}\n`);
      killAll();
      process.exit(1);
    },
  );
}

export function start(name, command, args, env = {}) {
  const child = spawn(command, args, {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, ...env },
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr = (stderr + chunk).slice(-2000);
  });
  child.on('exit', () => children.delete(child));
  children.add(child);
  child.describe = () => `${name}: ${stderr.trim()}`;
  return child;
}

export async function stop(child) {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolveExit) => child.once('exit', resolveExit));
  child.kill('SIGTERM');
  await Promise.race([exited, sleep(5000)]);
  if (child.exitCode === null) child.kill('SIGKILL');
}

/** Resolves once `url` answers below 500; throws after `timeoutMs` with the last thing seen. */
export async function waitForHttp(url, what, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      if (res.status < 500) return;
      last = `HTTP ${res.status}`;
    } catch (error) {
      last = error.cause?.code ?? error.message;
    }
    await sleep(100);
  }
  throw new Error(`${what} did not answer at ${url} within ${timeoutMs / 1000} s (last: ${last})`);
}

/** Writes the route table every bench gives the router: stable 90 / canary 10, both at `upstream`. */
export function writeRoutes(file, upstream) {
  writeFileSync(
    file,
    JSON.stringify({
      service: 'bench',
      generation: 1,
      tracks: { stable: { upstream }, canary: { upstream } },
      weights: { stable: 90, canary: 10 },
    }),
  );
}

/** The arguments (after node's) of `checkout`'s router serving the stable track from `upstream`. */
export async function routerArgs(checkout, upstream, routesFile) {
  const port = await freePort();
  const admin = await freePort();
  const args = [join(checkout, 'bin', 'switchyard.js'), 'router', '--listen', `127.0.0.1:${port}`];
  args.push('--admin', `127.0.0.1:${admin}`, '--service', 'bench', '--track', 'stable');
  args.push('--local', upstream, '--routes-file', routesFile, '--log-level', 'warn');
  return { args, url: `http://127.0.0.1:${port}/` };
}
