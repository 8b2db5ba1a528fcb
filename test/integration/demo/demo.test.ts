// `switchyard demo --fast` as a user runs it (the built CLI as a child process, output piped, so
// not a TTY): a healthy v2 is promoted, a failing v2 rolled back, the report is printed and
// written as JSON and HTML, Ctrl-C stops it with 130, and nothing is left listening afterwards.

import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DemoReport } from '../../../cli/demo/report.js';

const ROOT = resolve(import.meta.dirname, '../../..');
const CLI = join(ROOT, 'bin/switchyard.js');

interface Run {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

const children = new Set<ChildProcess>();

function demo(args: readonly string[], onStdout?: (text: string, child: ChildProcess) => void): Promise<Run> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [CLI, 'demo', ...args], {
      cwd: ROOT,
      env: { ...process.env, FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      stdout += text;
      onStdout?.(stdout, child);
    });
    child.stderr.setEncoding('utf8').on('data', (text: string) => {
      stderr += text;
    });
    // The demo must end by itself; if it hangs, say what it printed.
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      fail(
        new Error(`demo ${args.join(' ')} still running after 75 s; stdout:\n${stdout}\nstderr:\n${stderr}`),
      );
    }, 75_000);
    child.on('error', fail);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      done({ code, signal, stdout, stderr });
    });
  });
}

/** Every 127.0.0.1 port the demo printed (apps, routers, control). */
function printedPorts(stdout: string): number[] {
  return [...new Set([...stdout.matchAll(/127\.0\.0\.1:(\d+)/g)].map((match) => Number(match[1])))];
}

function listening(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      done(true);
    });
    socket.once('error', () => done(false));
  });
}

async function stillListening(ports: readonly number[]): Promise<number[]> {
  const open = await Promise.all(ports.map(async (port) => ((await listening(port)) ? port : null)));
  return open.filter((port): port is number => port !== null);
}

describe('switchyard demo --fast', () => {
  let out: string;

  beforeAll(async () => {
    if (!existsSync(join(ROOT, 'dist/cli/demo.js'))) {
      throw new Error('dist/cli/demo.js is missing: run `npm run build` (make integration does) first');
    }
    out = await mkdtemp(join(tmpdir(), 'swy-demo-test-'));
  });

  afterAll(async () => {
    for (const child of children) child.kill('SIGKILL');
    await rm(out, { recursive: true, force: true });
  });

  it('promotes a healthy v2, reports it as text, JSON and HTML, and leaves nothing listening', async () => {
    const run = await demo(['--fast', '--scenario', 'healthy', '--out', out]);
    expect(run.code, `stdout:\n${run.stdout}\nstderr:\n${run.stderr}`).toBe(0);
    const text = run.stdout;
    expect(text).toMatch(/StepStarted: .*step 1\/2 at 10%/);
    expect(text).toMatch(/verdict step 1 at 10%: pass/);
    expect(text).toMatch(/\] Progressing step \d\/2 weight +\d+% \| v1 +\d+\/s ok/);
    expect(text).toMatch(/^ {2}PROMOTED {3}scenario healthy \(as expected\)$/m);
    // An analysis with too few requests on a busy machine is inconclusive and held, never failed.
    expect(text).toMatch(/^ {2}why: +2 of \d+ analyses passed/m);
    expect(text).toMatch(/^ {2}served: +v1 \d+ requests \(100\.0% ok\), v2 \d+ requests \(100\.0% ok\)$/m);
    expect(text).toMatch(/^ {2}clients: +\d+ requests, 0 failed/m);
    expect(text).not.toContain('\u001b['); // not a TTY: no ANSI redraws

    const report = JSON.parse(await readFile(join(out, 'demo-healthy.json'), 'utf8')) as DemoReport;
    expect(report.outcome).toBe('PROMOTED');
    expect(report.matchesExpectation).toBe(true);
    expect(report.rollout.phase).toBe('Succeeded');
    expect(report.served.v1.requests).toBeGreaterThan(100);
    expect(report.served.v2.requests).toBeGreaterThan(100);
    expect(report.served.v2.errors).toBe(0);
    expect(report.clients.load.failed + report.clients.tester.failed).toBe(0);
    // The tester reached v2 with X-Canary: always.
    expect(report.clients.tester.byVersion.v2).toBeGreaterThan(0);
    const outcomes = report.verdicts.map((verdict) => verdict.outcome);
    expect(outcomes.filter((outcome) => outcome === 'pass')).toHaveLength(2);
    expect(outcomes).not.toContain('fail');
    expect(report.timeline.map((point) => point.weight)).toContain(10);
    expect(report.timeline[report.timeline.length - 1]?.v2Percent).toBe(100);

    const html = await readFile(join(out, 'demo-healthy.html'), 'utf8');
    expect(html).toContain('<svg');
    expect(html).toContain('v2 share of live traffic over time');
    expect(html).not.toMatch(/<(script|link)[^>]+(src|href)=/); // self-contained

    const ports = printedPorts(text);
    expect(ports.length).toBe(9); // 2 apps, 3 routers with their admin ports, control
    expect(await stillListening(ports)).toEqual([]);
  });

  it('rolls back a v2 answering 20 % 500s, with the failing check and bounded client errors', async () => {
    const run = await demo(['--fast', '--scenario', 'errors', '--out', out]);
    expect(run.code, `stdout:\n${run.stdout}\nstderr:\n${run.stderr}`).toBe(0);
    expect(run.stdout).toMatch(/^ {2}ROLLED BACK {3}scenario errors \(as expected\)$/m);
    expect(run.stdout).toMatch(
      /^ {2}why: +(fast fail|failed analysis) at step 1 \(10%\) — .*canary (error|success)/m,
    );
    expect(run.stdout).toMatch(/WARNING RolledBack: /);

    const report = JSON.parse(await readFile(join(out, 'demo-errors.json'), 'utf8')) as DemoReport;
    expect(report.outcome).toBe('ROLLED BACK');
    expect(report.rollout.phase).toBe('Failed');
    expect(report.rollout.weight).toBe(0);
    expect(report.decidingVerdict?.outcome).toBe('fail');
    expect(report.served.v2.errors).toBeGreaterThan(0);
    const sent = report.clients.load.sent + report.clients.tester.sent;
    const failed = report.clients.load.failed + report.clients.tester.failed;
    expect(failed).toBeGreaterThan(0);
    // Only the canary's share of a short window failed: a few percent at most.
    expect(failed / sent).toBeLessThan(0.05);
    expect(report.clients.load.networkErrors).toBe(0);

    const html = await readFile(join(out, 'demo-errors.html'), 'utf8');
    expect(html).toContain('<svg');
    expect(html).toContain('ROLLED BACK');
    expect(await stillListening(printedPorts(run.stdout))).toEqual([]);
  });

  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const)('stops everything on %s mid-rollout and exits %i', async (signal, exitCode) => {
    let sent = false;
    const run = await demo(['--fast', '--scenario', 'healthy', '--out', out], (text, child) => {
      if (!sent && /StepStarted/.test(text)) {
        sent = true;
        child.kill(signal);
      }
    });
    expect(sent, run.stdout).toBe(true);
    expect(run.code, `stdout:\n${run.stdout}\nstderr:\n${run.stderr}`).toBe(exitCode);
    expect(run.stdout).toContain(`${signal}, stopping everything`);
    expect(run.stdout).not.toMatch(/^ {2}PROMOTED /m); // no report: it was interrupted
    expect(await stillListening(printedPorts(run.stdout))).toEqual([]);
  });

  it('rejects an unknown scenario naming the allowed ones', async () => {
    const run = await demo(['--scenario', 'chaos']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(
      'demo --scenario: "chaos" — expected one of healthy, errors, latency, ab, bluegreen',
    );
  });
});
