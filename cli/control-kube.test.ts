import { describe, expect, it } from 'vitest';
import { parseControlFlags } from './control.js';

describe('switchyard control flags, Kubernetes mode', () => {
  it('reads the env names deploy/base/control.yaml sets and derives the defaults from them', () => {
    const flags = parseControlFlags([], {
      SWITCHYARD_POD_NAMESPACE: 'sy',
      SWITCHYARD_POD_NAME: 'switchyard-control-7d9f-abcde',
      SWITCHYARD_ROUTER_IMAGE: 'registry.local/switchyard:1.2.3',
      SWITCHYARD_WEBHOOK_CONFIGURATION: 'switchyard',
      SWITCHYARD_TLS_SECRET: 'switchyard-webhook-tls',
    });
    if (flags === 'help') throw new Error('unexpected help');
    expect(flags.config).toBeNull();
    expect(flags.kube).toEqual({
      kubeconfig: null,
      podNamespace: 'sy',
      podName: 'switchyard-control-7d9f-abcde',
      serviceName: 'switchyard-control',
      controlUrl: 'https://switchyard-control.sy.svc:8443',
      routerImage: 'registry.local/switchyard:1.2.3',
      routerPort: 15001,
      adminPort: 15020,
      controllerUsername: 'system:serviceaccount:sy:switchyard-control',
      leaseName: 'switchyard-control',
      leaseDurationMs: 15_000,
      renewMs: 5_000,
      tlsSecret: 'switchyard-webhook-tls',
      webhookConfiguration: 'switchyard',
      tlsCaFile: null,
    });
  });

  it('takes the injected router ports from flags or env', () => {
    expect(
      parseControlFlags(['--router-port', '16001'], { SWITCHYARD_ROUTER_ADMIN_PORT: '16020' }),
    ).toMatchObject({ kube: { routerPort: 16001, adminPort: 16020 } });
  });

  it.each([
    [['--router-port', '0'], '--router-port'],
    [['--router-admin-port', '70000'], '--router-admin-port'],
    [['--router-port', '16001', '--router-admin-port', '16001'], '--router-admin-port'],
    [['--lease-duration', 'soon'], '--lease-duration'],
    [['--lease-renew', '20s'], '--lease-renew'],
    [['--lease-duration', '500ms'], '--lease-duration'],
  ])('rejects %j naming %s', (argv, field) => {
    expect(() => parseControlFlags(argv, {})).toThrow(expect.objectContaining({ field }));
  });
});
