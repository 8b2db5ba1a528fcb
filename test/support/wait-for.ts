// The one way tests wait for something asynchronous: poll a probe until a condition holds, and on
// timeout fail naming what was awaited and what was last seen (the value, and the probe's error).

import { setTimeout as sleep } from 'node:timers/promises';
import { isDeepStrictEqual } from 'node:util';

export interface WaitOptions {
  /** Give up after this long; default 5000 ms. */
  readonly timeoutMs?: number;
  /** Pause between probes; default 25 ms. */
  readonly intervalMs?: number;
  /** What to report as last seen on timeout when the probe's value says too little. */
  readonly seen?: () => unknown;
}

const REPORT_CHARS = 2000;

/**
 * Polls `probe` until `done(value)` and returns that value. A probe that throws counts as not
 * done; its message is reported if the last probe before the timeout threw.
 */
export async function waitFor<T>(
  what: string,
  probe: () => T | Promise<T>,
  done: (value: T) => boolean,
  options: WaitOptions = {},
): Promise<T> {
  const { timeoutMs = 5000, intervalMs = 25 } = options;
  const deadline = Date.now() + timeoutMs;
  let last: { value: T } | undefined;
  let error: string | undefined;
  for (;;) {
    try {
      const value = await probe();
      if (done(value)) return value;
      last = { value };
      error = undefined;
    } catch (thrown) {
      error = thrown instanceof Error ? thrown.message : String(thrown);
    }
    if (Date.now() >= deadline) {
      const seen = options.seen ? show(options.seen()) : last ? show(last.value) : 'nothing';
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}; last seen: ${seen}${error === undefined ? '' : ` (error: ${error})`}`,
      );
    }
    await sleep(intervalMs);
  }
}

/** Polls `probe` until it returns something other than undefined or false, and returns that. */
export async function waitUntil<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  options: WaitOptions = {},
): Promise<T> {
  return (await waitFor(what, probe, (value) => value !== undefined && value !== false, options)) as T;
}

/** A `done` for waitFor: the value deep-equals `expected`. */
export function equalTo(expected: unknown): (value: unknown) => boolean {
  return (value) => isDeepStrictEqual(value, expected);
}

function show(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > REPORT_CHARS ? `${text.slice(0, REPORT_CHARS)}…` : text;
}
