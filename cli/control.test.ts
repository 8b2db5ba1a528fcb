import { describe, expect, it } from 'vitest';
import { CONTROL_FLAGS, controlUsage, parseControlFlags } from './control.js';

describe('switchyard control flags', () => {
  it('applies defaults and reads SWITCHYARD_<FLAG> env, flags winning', () => {
    const flags = parseControlFlags(['--config', 'a.yaml', '--listen', '127.0.0.1:0'], {
      SWITCHYARD_STATE_DIR: '/var/lib/sy',
      SWITCHYARD_LISTEN: '0.0.0.0:9999',
      SWITCHYARD_LOG_LEVEL: 'warn',
    });
    expect(flags).toMatchObject({
      config: 'a.yaml',
      stateDir: '/var/lib/sy',
      host: '127.0.0.1',
      port: 0,
      logLevel: 'warn',
      tlsCertFile: null,
      apiTokenFile: null,
    });
    expect(parseControlFlags([], {})).toMatchObject({
      config: null,
      host: '0.0.0.0',
      port: 8443,
      logLevel: 'info',
    });
  });

  it.each([
    [['--listen', 'nope'], '--listen'],
    [['--config', 'a.yaml'], '--state-dir'],
    [['--tls-cert-file', 'c.pem'], '--tls-cert-file'],
    [['--log-level', 'loud'], '--log-level'],
    [['--prometheus-url', 'prometheus:9090'], '--prometheus-url'],
  ])('rejects %j naming %s', (argv, field) => {
    expect(() => parseControlFlags(argv, {})).toThrow(expect.objectContaining({ field }));
  });

  it('documents every flag and its environment variable in --help', () => {
    expect(parseControlFlags(['--help'], {})).toBe('help');
    const help = controlUsage();
    for (const name of Object.keys(CONTROL_FLAGS)) {
      expect(help).toContain(`--${name} `);
      expect(help).toContain(`SWITCHYARD_${name.toUpperCase().replaceAll('-', '_')}`);
    }
  });
});
