// Prometheus text exposition (format 0.0.4) parsed into samples, and the switchyard series in it
// folded into per-track counters. Used by the builtin provider on every router's /metrics.

import { ErrorCode, SwitchyardError } from '../../api/errors.js';

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;

function parseValue(text: string, line: number): number {
  if (text === '+Inf' || text === 'Inf') return Number.POSITIVE_INFINITY;
  if (text === '-Inf') return Number.NEGATIVE_INFINITY;
  if (text === 'NaN') return Number.NaN;
  const value = Number(text);
  if (text === '' || Number.isNaN(value)) {
    throw new SwitchyardError(
      ErrorCode.MetricsInvalid,
      `metrics line ${line}: ${JSON.stringify(text)} is not a number`,
    );
  }
  return value;
}

/** Parses `{a="x",b="y\"z"}` starting at `start` (the `{`); returns labels and the index after `}`. */
function parseLabels(text: string, start: number, line: number): [Record<string, string>, number] {
  const labels: Record<string, string> = {};
  let i = start + 1;
  const bad = (why: string): never => {
    throw new SwitchyardError(ErrorCode.MetricsInvalid, `metrics line ${line}: ${why}`);
  };
  while (i < text.length) {
    while (text[i] === ' ' || text[i] === ',') i++;
    if (text[i] === '}') return [labels, i + 1];
    const name = NAME.exec(text.slice(i))?.[0] ?? bad('expected a label name');
    i += name.length;
    while (text[i] === ' ') i++;
    if (text[i] !== '=' || text[i + 1] !== '"') bad(`expected ="…" after label ${name}`);
    i += 2;
    let value = '';
    while (i < text.length && text[i] !== '"') {
      if (text[i] === '\\') {
        const next = text[i + 1];
        value += next === 'n' ? '\n' : (next ?? '');
        i += 2;
      } else {
        value += text[i];
        i++;
      }
    }
    if (text[i] !== '"') bad(`unterminated value of label ${name}`);
    labels[name] = value;
    i++;
  }
  return bad('unterminated label set');
}

/** All samples of a text exposition, comments skipped. Throws SwitchyardError on a malformed line. */
export function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  const lines = text.split('\n');
  for (let index = 0; index < lines.length; index++) {
    const raw = lines[index]?.trim() ?? '';
    if (raw === '' || raw.startsWith('#')) continue;
    const name = NAME.exec(raw)?.[0];
    if (name === undefined) {
      throw new SwitchyardError(
        ErrorCode.MetricsInvalid,
        `metrics line ${index + 1}: expected a metric name`,
      );
    }
    let rest = name.length;
    let labels: Record<string, string> = {};
    if (raw[rest] === '{') [labels, rest] = parseLabels(raw, rest, index + 1);
    const [valueText = ''] = raw.slice(rest).trim().split(/\s+/);
    samples.push({ name, labels, value: parseValue(valueText, index + 1) });
  }
  return samples;
}
