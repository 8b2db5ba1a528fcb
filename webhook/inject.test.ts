import { describe, expect, it } from 'vitest';
import { makeInjectConfig } from './config.js';
import { injectPod } from './inject.js';
import type { Container, Pod } from './types.js';

const config = makeInjectConfig({ routerImage: 'ghcr.io/switchyard/switchyard:0.1.0', version: '0.1.0' });

function pod(app: Omit<Container, 'name'>): Pod {
  return {
    metadata: { labels: { 'switchyard.io/inject': 'true', 'switchyard.io/service': 'shop' } },
    spec: { containers: [{ name: 'app', ...app }] },
  };
}

function injectedApp(input: Pod): Container {
  const result = injectPod(input, config);
  if (!result.injected) throw new Error(`not injected: ${result.reason}`);
  return result.pod.spec.containers[0]!;
}

describe('injectPod named-port takeover', () => {
  it('points lifecycle hooks that used the taken-over port name at the app port number', () => {
    // Kubelet resolves a hook's named port in its own container, like a probe's: once the name
    // belongs to the router, "http" no longer resolves there and the hook fails
    // (a failed postStart kills the container; a failed preStop skips the app's drain).
    const app = injectedApp(
      pod({
        ports: [{ name: 'http', containerPort: 8080 }],
        lifecycle: {
          postStart: { httpGet: { path: '/warm', port: 'http' } },
          preStop: { tcpSocket: { port: 'http' } },
        },
      }),
    );
    expect(app.ports).toEqual([{ name: 'app-http', containerPort: 8080 }]);
    expect(app.lifecycle).toEqual({
      postStart: { httpGet: { path: '/warm', port: 8080 } },
      preStop: { tcpSocket: { port: 8080 } },
    });
  });

  it('leaves hooks on other ports and exec hooks as they are', () => {
    const lifecycle = {
      postStart: { exec: { command: ['/bin/warm'] } },
      preStop: { httpGet: { path: '/drain', port: 'admin' } },
    };
    const app = injectedApp(
      pod({
        ports: [
          { name: 'http', containerPort: 8080 },
          { name: 'admin', containerPort: 9090 },
        ],
        lifecycle: structuredClone(lifecycle),
      }),
    );
    expect(app.lifecycle).toEqual(lifecycle);
  });
});

describe('injectPod protocol', () => {
  const routerArgs = (annotations: Record<string, string>): readonly string[] => {
    const input = pod({ ports: [{ name: 'grpc', containerPort: 9090 }] });
    input.metadata!.annotations = annotations;
    const result = injectPod(input, config);
    if (!result.injected) throw new Error(`not injected: ${result.reason}`);
    const router = [...(result.pod.spec.initContainers ?? []), ...result.pod.spec.containers].find(
      (container) => container.name === 'switchyard-router',
    );
    return (router?.args as string[] | undefined) ?? [];
  };

  it('starts the router with --protocol h2c when the template says so, and HTTP/1.1 otherwise', () => {
    expect(routerArgs({ 'switchyard.io/protocol': 'h2c' }).join(' ')).toContain(
      '--local http://127.0.0.1:9090 --protocol h2c',
    );
    expect(routerArgs({})).not.toContain('--protocol');
    expect(routerArgs({ 'switchyard.io/protocol': 'http' })).not.toContain('--protocol');
  });

  it('skips a pod whose protocol annotation is invalid, saying why', () => {
    const input = pod({ ports: [{ name: 'grpc', containerPort: 9090 }] });
    input.metadata!.annotations = { 'switchyard.io/protocol': 'http2' };
    expect(injectPod(input, config)).toMatchObject({
      injected: false,
      reason: 'invalid_annotation',
      message: expect.stringContaining('one of http, h2c'),
    });
  });
});

describe('injectPod with control’s --router-port / --router-admin-port', () => {
  const ported = makeInjectConfig({
    routerImage: 'ghcr.io/switchyard/switchyard:0.1.0',
    version: '0.1.0',
    routerPort: 16001,
    adminPort: 16020,
  });

  it('runs the router on those ports, probes its admin port there, and frees the default ones', () => {
    const result = injectPod(pod({ ports: [{ name: 'http', containerPort: 15001 }] }), ported);
    if (!result.injected) throw new Error(`not injected: ${result.reason}`);
    const router = [...(result.pod.spec.initContainers ?? []), ...result.pod.spec.containers].find(
      (container) => container.name === 'switchyard-router',
    )!;
    expect((router.args as string[]).join(' ')).toContain(
      '--listen 0.0.0.0:16001 --admin 0.0.0.0:16020 --service shop',
    );
    expect(router.ports).toEqual([
      { name: 'http', containerPort: 16001, protocol: 'TCP' },
      { name: 'sy-admin', containerPort: 16020, protocol: 'TCP' },
    ]);
    expect(router.startupProbe).toMatchObject({ httpGet: { path: '/healthz', port: 16020 } });
  });

  it('skips an app that uses one of them', () => {
    expect(injectPod(pod({ ports: [{ name: 'http', containerPort: 16020 }] }), ported)).toMatchObject({
      injected: false,
      reason: 'port_conflict',
    });
  });
});
