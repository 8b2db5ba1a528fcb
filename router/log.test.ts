import { describe, expect, it } from 'vitest';
import { jsonLogger } from './log.js';

function capture(level: string) {
  const lines: string[] = [];
  const logger = jsonLogger(
    level,
    { pid: 7 },
    (line) => lines.push(line),
    () => 1_700_000_000_000,
  );
  const records = () => lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  return { logger, lines, records };
}

describe('jsonLogger', () => {
  it('writes one pino-shaped JSON object per line', () => {
    const { logger, lines, records } = capture('info');
    logger.info({ generation: 3 }, 'route table loaded');
    expect(lines).toHaveLength(1);
    expect(lines[0]!.endsWith('\n')).toBe(true);
    expect(records()[0]).toEqual({
      level: 30,
      time: 1_700_000_000_000,
      pid: 7,
      generation: 3,
      msg: 'route table loaded',
    });
  });

  it('drops lines below the level and keeps those at or above it', () => {
    const { logger, records } = capture('warn');
    logger.debug({}, 'd');
    logger.info({}, 'i');
    logger.warn({}, 'w');
    logger.error({}, 'e');
    expect(records().map((r) => [r.level, r.msg])).toEqual([
      [40, 'w'],
      [50, 'e'],
    ]);
  });

  it('logs nothing at silent', () => {
    const { logger, lines } = capture('silent');
    logger.error({}, 'e');
    expect(lines).toEqual([]);
  });

  it('children add their bindings; fields of the call win over bindings', () => {
    const { logger, records } = capture('debug');
    const child = logger.child({ component: 'router', track: 'stable' }).child({ service: 'shop' });
    child.debug({ track: 'canary' }, 'x');
    expect(records()[0]).toMatchObject({ pid: 7, component: 'router', service: 'shop', track: 'canary' });
  });

  it('writes errors as type, message, stack and code', () => {
    const { logger, records } = capture('info');
    const error = Object.assign(new TypeError('boom'), { code: 'E_BOOM' });
    logger.warn({ err: error }, 'failed');
    expect(records()[0]!.err).toEqual({
      type: 'TypeError',
      message: 'boom',
      stack: error.stack,
      code: 'E_BOOM',
    });
  });

  it('rejects an unknown level by name', () => {
    expect(() => jsonLogger('verbose', {})).toThrow('unknown log level "verbose"');
  });
});
