// The live view: on a terminal a block that redraws in place (plain ANSI, no dependency), with
// events and verdicts scrolling above it; elsewhere (CI, logs) plain timestamped lines.

import type { Verdict } from '../../api/canary.js';
import type { RolloutEventView, RolloutSummary } from '../../controller/api.js';
import { formatVerdict } from '../operate.js';
import type { Point, VersionRate } from './sampler.js';

export interface Output {
  write(text: string): unknown;
}

const ESC = '\u001b[';
const BOLD = `${ESC}1m`;
const RESET = `${ESC}0m`;
const RED = `${ESC}31m`;
const GREEN = `${ESC}32m`;
const YELLOW = `${ESC}33m`;
const DIM = `${ESC}2m`;

export function stamp(t: number): string {
  return `[${t.toFixed(1).padStart(5)}s]`;
}

export function percent(value: number | null): string {
  return value === null ? '   -  ' : `${(value * 100).toFixed(1).padStart(5)}%`;
}

export function millis(value: number | null): string {
  return value === null ? '   -' : `${Math.round(value)}ms`.padStart(5);
}

function rateCell(rate: VersionRate): string {
  return `${String(Math.round(rate.rps)).padStart(3)}/s ok ${percent(rate.successRate)} p99 ${millis(rate.p99Ms)}`;
}

export function stepText(rollout: Pick<RolloutSummary, 'step' | 'steps'>): string {
  const total = rollout.steps.length;
  return `${Math.min(rollout.step + 1, total)}/${total}`;
}

/** One plain progress line. */
export function progressLine(point: Point, rollout: RolloutSummary): string {
  return `${stamp(point.t)} ${rollout.phase} step ${stepText(rollout)} weight ${String(point.v2Percent).padStart(3)}% | v1 ${rateCell(point.v1)} | v2 ${rateCell(point.v2)} | clients ${point.clientsSent} sent ${point.clientsFailed} failed`;
}

/** The deciding check of a verdict: the first check with the verdict's outcome (pass: all of them). */
export function verdictLine(t: number, verdict: Verdict): string {
  const failing = verdict.checks.filter((check) => check.outcome === verdict.outcome);
  const detail =
    verdict.outcome === 'pass'
      ? ''
      : failing.length > 0
        ? ` — ${failing.map((check) => `${check.name}: ${check.message}`).join('; ')}`
        : '';
  return `${stamp(t)} verdict step ${verdict.step + 1} at ${verdict.weight}%: ${formatVerdict(verdict)}${detail}`;
}

export function eventLine(t: number, event: RolloutEventView): string {
  return `${stamp(t)} ${event.type === 'Warning' ? 'WARNING ' : ''}${event.reason}: ${event.message}`;
}

function bar(weight: number, width = 20): string {
  const filled = Math.round((weight / 100) * width);
  return `${'█'.repeat(filled)}${'░'.repeat(width - filled)}`;
}

function colourRate(rate: VersionRate): string {
  const ok = rate.successRate;
  const colour = ok === null ? DIM : ok >= 0.99 ? GREEN : ok >= 0.95 ? YELLOW : RED;
  return `${String(Math.round(rate.rps)).padStart(6)}/s   ${colour}${percent(ok)}${RESET}   ${millis(rate.p99Ms)}`;
}

/** The redrawn block on a terminal. */
export function progressBlock(
  point: Point,
  rollout: RolloutSummary,
  lastVerdict: Verdict | undefined,
): string[] {
  const phaseColour =
    rollout.phase === 'Failed' || rollout.phase === 'RollingBack'
      ? RED
      : rollout.phase === 'Succeeded'
        ? GREEN
        : YELLOW;
  return [
    `${BOLD}shop${RESET}  ${phaseColour}${rollout.phase}${RESET}  step ${stepText(rollout)}  canary ${String(point.v2Percent).padStart(3)}% ${bar(point.v2Percent)}  ${point.t.toFixed(1)}s`,
    `${DIM}             rate   success     p99${RESET}`,
    `  v1  ${colourRate(point.v1)}`,
    `  v2  ${colourRate(point.v2)}`,
    `  clients: ${point.clientsSent} requests, ${point.clientsFailed > 0 ? RED : ''}${point.clientsFailed} failed${RESET}`,
    `  last verdict: ${formatVerdict(lastVerdict)}`,
  ];
}

/** Cuts a line to `width` visible characters, keeping ANSI sequences (they take no room). */
export function fitWidth(line: string, width: number): string {
  let visible = 0;
  let out = '';
  for (let i = 0; i < line.length; i++) {
    if (line[i] === '\u001b') {
      const end = line.indexOf('m', i);
      if (end < 0) break;
      out += line.slice(i, end + 1);
      i = end;
      continue;
    }
    if (visible === width) return `${out}${RESET}`;
    out += line[i];
    visible++;
  }
  return out;
}

/** Writes scrolling lines and the live view; on a TTY the block is redrawn below the lines. */
export class Display {
  readonly #out: Output;
  readonly #tty: boolean;
  readonly #plainEveryMs: number;
  readonly #columns: number;
  #drawn = 0;
  #lastPlainAt = Number.NEGATIVE_INFINITY;

  /** `columns`: terminal width; block lines are cut to it so the redraw knows how many rows it used. */
  constructor(out: Output, tty: boolean, plainEveryMs: number, columns = 80) {
    this.#out = out;
    this.#tty = tty;
    this.#plainEveryMs = plainEveryMs;
    this.#columns = Math.max(40, columns);
  }

  #clearBlock(): void {
    if (this.#tty && this.#drawn > 0) this.#out.write(`${ESC}${this.#drawn}F${ESC}J`);
    this.#drawn = 0;
  }

  /** A line that stays (event, verdict, message). */
  line(text: string): void {
    this.#clearBlock();
    this.#out.write(`${text}\n`);
  }

  /** `final`: the last sample, printed even when a plain line was printed a moment ago. */
  progress(
    point: Point,
    rollout: RolloutSummary,
    lastVerdict: Verdict | undefined,
    nowMs: number,
    final = false,
  ): void {
    if (this.#tty) {
      this.#clearBlock();
      const block = progressBlock(point, rollout, lastVerdict).map((line) =>
        fitWidth(line, this.#columns - 1),
      );
      this.#out.write(`${block.join('\n')}\n`);
      this.#drawn = block.length;
      return;
    }
    if (!final && nowMs - this.#lastPlainAt < this.#plainEveryMs) return;
    this.#lastPlainAt = nowMs;
    this.#out.write(`${progressLine(point, rollout)}\n`);
  }

  /** Leaves the last block on screen (it is the final state) and stops redrawing it. */
  freeze(): void {
    this.#drawn = 0;
  }
}
