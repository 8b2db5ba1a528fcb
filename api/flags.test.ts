import { describe, expect, it } from 'vitest';
import { type FlagTable, flagDuration, flagOneOf, flagUsage, parseHostPort, readFlags } from './flags.js';

const TABLE: FlagTable = {
  listen: { value: 'host:port', default: '0.0.0.0:80', help: 'where to listen' },
  'token-file': { value: 'path', help: 'bearer token' },
};

describe('readFlags', () => {
  it('takes the flag, else SWITCHYARD_<FLAG>, else the default, else null', () => {
    const env = { SWITCHYARD_LISTEN: '127.0.0.1:1', SWITCHYARD_TOKEN_FILE: '/env/token' };
    const withFlag = readFlags('demo', TABLE, ['--listen', '127.0.0.1:2'], env);
    if (withFlag === 'help') throw new Error('unexpected help');
    expect(withFlag('listen')).toBe('127.0.0.1:2');
    expect(withFlag('token-file')).toBe('/env/token');

    const bare = readFlags('demo', TABLE, [], { SWITCHYARD_TOKEN_FILE: '' });
    if (bare === 'help') throw new Error('unexpected help');
    expect(bare('listen')).toBe('0.0.0.0:80');
    expect(bare('token-file')).toBeNull(); // an empty variable counts as unset
  });

  it('answers help for -h and --help', () => {
    expect(readFlags('demo', TABLE, ['-h'], {})).toBe('help');
    expect(readFlags('demo', TABLE, ['--help'], {})).toBe('help');
  });

  it('names the command and where to look for an unknown flag or a positional', () => {
    expect(() => readFlags('demo', TABLE, ['--bogus', 'x'], {})).toThrow(
      /^demo: Unknown option '--bogus'.*\(see switchyard demo --help\)$/s,
    );
    expect(() => readFlags('demo', TABLE, ['stray'], {})).toThrow('demo: ');
  });
});

describe('flagUsage', () => {
  it('lists every flag with its default and environment variable, aligned', () => {
    const lines = flagUsage(TABLE).join('\n').split('\n');
    expect(lines).toEqual([
      '  --listen <host:port>  where to listen (default 0.0.0.0:80)',
      '                        env SWITCHYARD_LISTEN',
      '  --token-file <path>   bearer token',
      '                        env SWITCHYARD_TOKEN_FILE',
      '  -h, --help            this text',
    ]);
  });
});

describe('flag values', () => {
  it.each([
    ['127.0.0.1:15001', { host: '127.0.0.1', port: 15001 }],
    ['[::1]:0', { host: '::1', port: 0 }],
    ['localhost:65535', { host: 'localhost', port: 65535 }],
  ])('host:port %s', (text, expected) => expect(parseHostPort('listen', text, 'x')).toEqual(expected));

  it.each(['15001', ':15001', 'host:', 'host:65536', 'host:1.5'])(
    'rejects host:port %j naming the flag',
    (text) => {
      expect(() => parseHostPort('listen', text, '127.0.0.1:15001')).toThrow(
        expect.objectContaining({
          field: '--listen',
          message: expect.stringContaining('e.g. 127.0.0.1:15001'),
        }),
      );
    },
  );

  it('checks durations against their bounds', () => {
    expect(flagDuration('lease', '1m30s', 1000, 3_600_000)).toBe(90_000);
    expect(() => flagDuration('lease', '15', 1000, 60_000)).toThrow('--lease: "15" is not a duration');
    expect(() => flagDuration('lease', '500ms', 1000, 60_000)).toThrow(
      '--lease: "500ms" must be between 1s and 1m',
    );
  });

  it('checks one-of values and lists the choices', () => {
    expect(flagOneOf('log-level', 'warn', ['info', 'warn'])).toBe('warn');
    expect(() => flagOneOf('log-level', 'loud', ['info', 'warn'])).toThrow(
      '--log-level: "loud" is not one of info, warn',
    );
  });
});
