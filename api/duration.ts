// Durations as users write them in flags, annotations and config files: `500ms`, `30s`, `2m`,
// `1h30m`, `1.5s`.

const UNITS_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Milliseconds (rounded), or null when the text is not a duration. */
export function parseDurationMs(value: string): number | null {
  const text = value.trim();
  if (!/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(text)) return null;
  let total = 0;
  for (const part of text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) {
    total += Number(part[1]) * UNITS_MS[part[2]!]!;
  }
  return Number.isFinite(total) ? Math.round(total) : null;
}

/** The shortest way to write `ms` back: `250ms`, `30s`, `2m`, `1h`. */
export function formatDurationMs(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
