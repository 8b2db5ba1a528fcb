import { describe, expect, it } from 'vitest';
import { resolveAppPort, takeoverName } from './ports.js';
import type { PodSpec } from './types.js';

const spec: PodSpec = {
  containers: [
    {
      name: 'app',
      ports: [
        { name: 'metrics', containerPort: 9100, protocol: 'UDP' },
        { name: 'http', containerPort: 8080 },
      ],
    },
    { name: 'side', ports: [{ name: 'admin', containerPort: 9000, protocol: 'TCP' }] },
  ],
};

describe('resolveAppPort', () => {
  it.each([
    [null, 'app', 8080, 'http'],
    ['admin', 'side', 9000, 'admin'],
    [8080, 'app', 8080, 'http'],
  ] as const)('%j → %s:%s', (setting, container, number, name) => {
    const result = resolveAppPort(spec, setting);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(spec.containers[result.port.containerIndex]!.name).toBe(container);
    expect(result.port).toMatchObject({ number, name });
  });

  it('ignores UDP ports and reports the declared TCP ports when a name does not match', () => {
    const result = resolveAppPort(spec, 'metrics');
    expect(result).toMatchObject({ ok: false, reason: 'port_not_found' });
    if (!result.ok) expect(result.message).toContain('app:http, side:admin');
  });

  it('fronts an undeclared numeric port without a name', () => {
    expect(resolveAppPort(spec, 3000)).toEqual({
      ok: true,
      port: { containerIndex: 0, portIndex: null, number: 3000, name: null },
    });
  });

  it('has no default port when no TCP port is declared', () => {
    expect(resolveAppPort({ containers: [{ name: 'a' }] }, null)).toMatchObject({
      ok: false,
      reason: 'no_app_port',
    });
  });
});

describe('takeoverName', () => {
  const valid = /^(?=.{1,15}$)(?=.*[a-z])[a-z0-9]+(-[a-z0-9]+)*$/;
  it.each([
    ['http', [], 'app-http'],
    ['web', ['app-web'], 'a-web'],
    ['http-frontend-1', [], 'app-http-fronte'],
    ['abcdefghijk-lmn', [], 'app-abcdefghijk'],
    ['grpc', ['app-grpc', 'a-grpc'], 'a0-grpc'],
  ])('%s (taken %j) → %s', (name, taken, expected) => {
    const result = takeoverName(name, new Set(taken));
    expect(result).toBe(expected);
    expect(result).toMatch(valid);
  });
});
