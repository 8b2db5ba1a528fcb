// One demo run: start the stack and the clients, announce v2 through control's API, follow the
// real rollout to its end while showing progress, then write and print the report.

import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import type { Verdict } from '../../api/canary.js';
import { errorMessage } from '../../api/errors.js';
import type { RolloutSummary } from '../../controller/api.js';
import { HttpRolloutClient } from '../operate.js';
import { Display, eventLine, type Output, verdictLine } from './display.js';
import { addCounts, LoadGenerator } from './load.js';
import { type DemoReport, decide, type RunOutcome, reportHtml, reportText } from './report.js';
import { type Point, point, VersionMetrics } from './sampler.js';
import { AB_HEADER, paceFor, type ScenarioName, scenario as scenarioFor } from './scenarios.js';
import { type DemoStack, NAMESPACE, SERVICE, startDemoStack } from './stack.js';

export interface DemoOptions {
  readonly scenario: ScenarioName;
  readonly fast: boolean;
  readonly keep: boolean;
  /** Where the report (JSON + HTML) and the log go. */
  readonly outDir: string;
  readonly rps: number;
}

export interface DemoIo {
  readonly stdout: Output;
  /** Redraw in place (a terminal) or print plain lines (CI, logs). */
  readonly tty: boolean;
  /** Terminal width (TTY only). */
  readonly columns?: number;
  /** Aborted on Ctrl-C / SIGTERM; `reason` is the signal name. */
  readonly signal: AbortSignal;
  readonly cwd: string;
}

export const TESTER_RPS = 5;
const MAX_IN_FLIGHT = 64;

const SIGNAL_EXIT: Readonly<Record<string, number>> = { SIGINT: 130, SIGPIPE: 141, SIGTERM: 143 };

function exitForSignal(signal: AbortSignal): number {
  return SIGNAL_EXIT[String(signal.reason)] ?? 130;
}

/** Sleeps, but wakes at once when the demo is interrupted. */
async function pause(ms: number, signal: AbortSignal): Promise<void> {
  try {
    await sleep(ms, undefined, { signal });
  } catch {
    // interrupted: the caller checks signal.aborted
  }
}

function shown(path: string, cwd: string): string {
  const rel = relative(cwd, path);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path;
}

function isFinal(rollout: RolloutSummary): boolean {
  return rollout.phase === 'Succeeded' || rollout.phase === 'Failed';
}

export async function runDemo(options: DemoOptions, io: DemoIo): Promise<number> {
  const startedMs = Date.now();
  const pace = paceFor(options.fast);
  const scenario = scenarioFor(options.scenario, pace);
  const outDir = resolve(io.cwd, options.outDir);
  await mkdir(outDir, { recursive: true });
  const workDir = await mkdtemp(join(tmpdir(), 'switchyard-demo-'));
  const logPath = join(outDir, `demo-${scenario.name}.log`);
  const logFile = pino.destination({ dest: logPath, sync: true });
  const logger = pino({ level: 'info', base: { pid: process.pid } }, logFile);
  const display = new Display(io.stdout, io.tty, options.fast ? 1000 : 2000, io.columns);
  const say = (text: string): void => display.line(text);

  let stack: DemoStack | null = null;
  let load: LoadGenerator | null = null;
  let tester: LoadGenerator | null = null;
  try {
    say(`switchyard demo — scenario ${scenario.name}: ${scenario.description}`);
    stack = await startDemoStack(scenario, pace, workDir, logger);
    if (io.signal.aborted) return exitForSignal(io.signal);
    say(
      `  shop v1      ${stack.v1.app}  behind the stable router ${stack.v1.router} (metrics ${stack.v1.admin}/metrics)`,
    );
    say(
      `  shop v2      ${stack.v2.app}  behind the canary router ${stack.v2.router} (metrics ${stack.v2.admin}/metrics)`,
    );
    say(
      `  entry        ${stack.entryUrl}  the router clients call; it splits by the table from control (admin ${stack.entryAdmin})`,
    );
    say(
      `  control      ${stack.controlUrl}  file mode, builtin analysis, dashboard ${stack.controlUrl}/dashboard`,
    );
    say(
      `  clients      ${options.rps} req/s${scenario.abShare > 0 ? ` (${scenario.abShare * 100} % with ${AB_HEADER.name}: ${AB_HEADER.value})` : ''} + tester ${TESTER_RPS} req/s with X-Canary: always`,
    );
    const settings = Object.entries(scenario.rollout)
      .map(([key, value]) => `${key}=${value}`)
      .join(' ');
    say(`  rollout      ${settings}`);
    say(`  log          ${shown(logPath, io.cwd)}`);

    const client = new HttpRolloutClient(stack.controlUrl, null);
    const metrics = new VersionMetrics(SERVICE, { v1: stack.v1.admin, v2: stack.v2.admin });
    await metrics.sample(Date.now());
    load = new LoadGenerator({
      target: stack.entryUrl,
      rps: options.rps,
      maxInFlight: MAX_IN_FLIGHT,
      ...(scenario.abShare > 0
        ? { segment: { share: scenario.abShare, name: AB_HEADER.name, value: AB_HEADER.value } }
        : {}),
    });
    tester = new LoadGenerator({
      target: stack.entryUrl,
      rps: TESTER_RPS,
      maxInFlight: 4,
      headers: { 'x-canary': 'always' },
    });
    load.start();
    // v1 serves alone for a moment, so the charts show the "before".
    await pause(1000, io.signal);
    if (io.signal.aborted) return exitForSignal(io.signal);

    const announcedMs = Date.now();
    const timeline: Point[] = [
      // t = 0: v1 alone, measured over the warm-up second.
      point(0, await client.get(NAMESPACE, SERVICE), await metrics.sample(announcedMs), load.counts()),
    ];
    await client.start(NAMESPACE, SERVICE, {
      canaryUpstream: stack.v2.router,
      canaryAdmin: [stack.v2.admin],
    });
    tester.start();
    say(
      `${'[  0.0s]'} announced v2 — same as: switchyard rollout start ${SERVICE} --canary-upstream ${stack.v2.router} --canary-admin ${stack.v2.admin} --control ${stack.controlUrl}`,
    );

    const deadlineMs =
      announcedMs + (options.fast ? 90_000 : pace.steps.split(',').length * 15_000 * 3 + 60_000);
    const seenEvents = new Set<string>();
    const seenVerdicts = new Set<string>();
    let rollout = await client.get(NAMESPACE, SERVICE);
    let timedOut = false;
    const sampleMs = options.fast ? 500 : 1000;
    while (!io.signal.aborted) {
      await pause(sampleMs, io.signal);
      if (io.signal.aborted) break;
      const now = Date.now();
      const t = (now - announcedMs) / 1000;
      rollout = await client.get(NAMESPACE, SERVICE);
      for (const event of await client.events(NAMESPACE, SERVICE)) {
        const key = `${event.at}|${event.reason}|${event.message}`;
        if (seenEvents.has(key)) continue;
        seenEvents.add(key);
        say(eventLine(t, event));
      }
      for (const verdict of rollout.status.verdicts) {
        const key = `${verdict.at}|${verdict.step}`;
        if (seenVerdicts.has(key)) continue;
        seenVerdicts.add(key);
        say(verdictLine(t, verdict));
      }
      const rates = await metrics.sample(now);
      const sample = point(t, rollout, rates, addCounts(load.counts(), tester.counts()));
      timeline.push(sample);
      const verdicts = rollout.status.verdicts;
      timedOut = now > deadlineMs;
      display.progress(sample, rollout, verdicts[verdicts.length - 1], now, isFinal(rollout) || timedOut);
      if (isFinal(rollout) || timedOut) break;
    }
    display.freeze();
    if (io.signal.aborted) return exitForSignal(io.signal);
    const finishedMs = Date.now();

    await Promise.all([load.stop(), tester.stop()]);
    await metrics.sample(Date.now());
    const verdicts: readonly Verdict[] = rollout.status.verdicts;
    const { reason, verdict } = decide(rollout.phase, verdicts, rollout.message);
    const outcome: RunOutcome = timedOut
      ? 'TIMED OUT'
      : rollout.phase === 'Succeeded'
        ? 'PROMOTED'
        : 'ROLLED BACK';
    const report: DemoReport = {
      scenario: scenario.name,
      description: scenario.description,
      expected: scenario.expected,
      outcome,
      matchesExpectation: outcome === scenario.expected,
      reason,
      decidingVerdict: verdict,
      startedAt: new Date(startedMs).toISOString(),
      rolloutSeconds: (finishedMs - announcedMs) / 1000,
      totalSeconds: (finishedMs - startedMs) / 1000,
      rollout: {
        phase: rollout.phase,
        weight: rollout.weight,
        steps: rollout.steps,
        strategy: rollout.strategy,
        interval: pace.interval,
        message: rollout.message,
      },
      served: metrics.totals(),
      clients: { load: load.counts(), tester: tester.counts() },
      verdicts,
      events: await client.events(NAMESPACE, SERVICE),
      timeline,
    };
    const jsonPath = join(outDir, `demo-${scenario.name}.json`);
    const htmlPath = join(outDir, `demo-${scenario.name}.html`);
    await writeFile(jsonPath, `${JSON.stringify(report, null, 2)}\n`);
    await writeFile(htmlPath, reportHtml(report));
    io.stdout.write(reportText(report, { json: shown(jsonPath, io.cwd), html: shown(htmlPath, io.cwd) }));

    if (options.keep) {
      const entry = stack.entryUrl;
      say('Still running, Ctrl-C to stop:');
      say(`  dashboard    ${stack.controlUrl}/dashboard`);
      say(`  API          curl -s ${stack.controlUrl}/v1/rollouts`);
      say(`  status       switchyard status --control ${stack.controlUrl}`);
      say(`  as a tester  curl -s -H 'X-Canary: always' ${entry}/`);
      say(`  as a user    curl -s ${entry}/products`);
      await new Promise<void>((done) => {
        if (io.signal.aborted) done();
        else io.signal.addEventListener('abort', () => done(), { once: true });
      });
      return exitForSignal(io.signal);
    }
    return report.matchesExpectation ? 0 : 1;
  } catch (error) {
    logger.error({ err: errorMessage(error) }, 'demo failed');
    throw error;
  } finally {
    await Promise.all([load?.stop(), tester?.stop()]);
    await stack?.close();
    await rm(workDir, { recursive: true, force: true });
    logFile.flushSync();
    logFile.end();
  }
}
