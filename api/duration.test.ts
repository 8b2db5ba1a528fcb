import { describe, expect, it } from 'vitest';
import { formatDurationMs, parseDurationMs } from './duration.js';

describe('parseDurationMs', () => {
  it.each([
    ['500ms', 500],
    ['30s', 30_000],
    ['1m', 60_000],
    ['1h30m', 5_400_000],
    ['1.5s', 1500],
    ['1', null],
    ['-1s', null],
    ['1d', null],
  ])('%s → %s', (text, ms) => expect(parseDurationMs(text)).toBe(ms));
});

describe('formatDurationMs', () => {
  it.each([
    [250, '250ms'],
    [1500, '1500ms'],
    [30_000, '30s'],
    [120_000, '2m'],
    [3_600_000, '1h'],
  ])('%s → %s', (ms, text) => expect(formatDurationMs(ms)).toBe(text));
});
