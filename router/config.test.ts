import { describe, expect, it } from 'vitest';
import { parseRouterConfig, ROUTER_FLAGS, routerUsage } from './config.js';

const required = ['--service', 'shop', '--track', 'stable', '--local', 'http://127.0.0.1:8080/'];

describe('parseRouterConfig', () => {
  it('builds a frozen config with DESIGN.md defaults', () => {
    const config = parseRouterConfig([...required, '--routes-file', 'routes.json'], {});
    expect(config).toMatchObject({
      listen: { host: '0.0.0.0', port: 15001 },
      admin: { host: '0.0.0.0', port: 15020 },
      service: 'shop',
      track: 'stable',
      local: 'http://127.0.0.1:8080',
      routesFile: 'routes.json',
      control: null,
      namespace: 'default',
      headersTimeoutMs: 30_000,
      drainTimeoutMs: 20_000,
      protocol: 'http',
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('reads SWITCHYARD_<FLAG> env; flags win', () => {
    const config = parseRouterConfig(['--listen', '127.0.0.1:1'], {
      SWITCHYARD_LISTEN: '127.0.0.1:2',
      SWITCHYARD_ADMIN: '[::1]:15020',
      SWITCHYARD_SERVICE: 'shop',
      SWITCHYARD_TRACK: 'canary',
      SWITCHYARD_LOCAL: 'http://127.0.0.1:9',
      SWITCHYARD_CONTROL: 'https://control.svc:8443/',
      SWITCHYARD_NAMESPACE: 'prod',
      SWITCHYARD_CONTROL_TOKEN_FILE: '/var/run/token',
      SWITCHYARD_IDLE_TIMEOUT: '2m',
      SWITCHYARD_PROTOCOL: 'h2c',
    });
    expect(config).toMatchObject({
      listen: { host: '127.0.0.1', port: 1 },
      admin: { host: '::1', port: 15020 },
      track: 'canary',
      control: 'https://control.svc:8443',
      namespace: 'prod',
      controlTokenFile: '/var/run/token',
      idleTimeoutMs: 120_000,
      protocol: 'h2c',
    });
  });

  it.each([
    [[...required], '--routes-file: exactly one of --routes-file and --control'],
    [[...required, '--routes-file', 'a', '--control', 'http://c'], 'exactly one of'],
    [['--track', 'stable', '--local', 'http://x:1', '--routes-file', 'a'], '--service: is required'],
    [[...required, '--routes-file', 'a', '--listen', 'nope'], '--listen: "nope" is not host:port'],
    [
      [...required, '--routes-file', 'a', '--track', 'Stable'],
      '--track: "Stable" must be a lower-case DNS label',
    ],
    [
      [...required, '--routes-file', 'a', '--local', 'ftp://x'],
      '--local: "ftp://x": expected http:// or https://',
    ],
    [[...required, '--routes-file', 'a', '--body-timeout', '5'], '--body-timeout: "5" is not a duration'],
    [[...required, '--routes-file', 'a', '--protocol', 'grpc'], '--protocol: "grpc" is not one of http, h2c'],
    [[...required, '--routes-file', 'a', '--bogus', 'x'], "Unknown option '--bogus'"],
  ])('rejects %j', (argv, message) => {
    expect(() => parseRouterConfig(argv, {})).toThrow(message);
  });

  it('--help documents every flag and its environment variable', () => {
    expect(parseRouterConfig(['--help'], {})).toBe('help');
    const usage = routerUsage();
    for (const name of Object.keys(ROUTER_FLAGS)) {
      expect(usage).toContain(`--${name} `);
      expect(usage).toContain(`SWITCHYARD_${name.toUpperCase().replaceAll('-', '_')}`);
    }
  });

  it('bounds its timeouts to 1ms..1h', () => {
    const config = parseRouterConfig([...required, '--routes-file', 'a', '--drain-timeout', '1.5s'], {});
    expect(config).toMatchObject({ drainTimeoutMs: 1500 });
    expect(() => parseRouterConfig([...required, '--routes-file', 'a', '--body-timeout', '2h'], {})).toThrow(
      '--body-timeout: "2h" must be between 1ms and 1h',
    );
  });
});
