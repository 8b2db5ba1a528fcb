import { describe, expect, it } from 'vitest';
import { type DeploymentDecision, admitDeployment } from './deployment.js';
import type { AdmissionRequest } from './review.js';

function create(name: string): AdmissionRequest {
  return {
    uid: 'u',
    kind: { group: 'apps', version: 'v1', kind: 'Deployment' },
    resource: { group: 'apps', version: 'v1', resource: 'deployments' },
    subResource: null,
    name: null,
    namespace: 'default',
    operation: 'CREATE',
    username: 'alice',
    object: {
      metadata: { name, annotations: { 'switchyard.io/canary': 'enabled' } },
      spec: {
        selector: { matchLabels: { app: 'x' } },
        template: {
          metadata: { labels: { app: 'x' } },
          spec: { containers: [{ name: 'app', ports: [{ name: 'http', containerPort: 8080 }] }] },
        },
      },
    },
    oldObject: null,
    dryRun: false,
  };
}

const admitted = (decision: DeploymentDecision): boolean => decision.allowed;

describe('admitDeployment: names', () => {
  it('admits names from which the per-track Services <name>-stable and <name>-canary can be made', () => {
    for (const name of ['shop', 'a', 'shop-v2', 'a'.repeat(56)]) {
      expect(admitted(admitDeployment(create(name), { controllerUsernames: [] })), name).toBe(true);
    }
  });

  it('denies names that are valid for a Deployment but not for those Services (DNS-1035, ≤ 56)', () => {
    // Otherwise the controller's Service create fails with 422 on every reconcile, and the next
    // template change leaves the Deployment paused by the release gate with nothing to release it.
    for (const name of ['my.app', '2048-game', 'a'.repeat(57)]) {
      const decision = admitDeployment(create(name), { controllerUsernames: [] });
      expect(decision, name).toMatchObject({ allowed: false, reason: 'invalid_name' });
      expect(decision.allowed ? '' : decision.message).toContain(`${name}-canary`);
    }
  });
});

/** An UPDATE of a running opted-in Deployment whose template the webhook labelled before. */
function update(oldPort: string | undefined, newPort: string | undefined): AdmissionRequest {
  const deployment = (port: string | undefined, templatePort: string | undefined) => ({
    metadata: {
      name: 'shop',
      annotations: {
        'switchyard.io/canary': 'enabled',
        ...(port === undefined ? {} : { 'switchyard.io/port': port }),
      },
    },
    spec: {
      selector: { matchLabels: { app: 'x' } },
      template: {
        metadata: {
          labels: {
            app: 'x',
            'switchyard.io/inject': 'true',
            'switchyard.io/track': 'stable',
            'switchyard.io/service': 'shop',
          },
          ...(templatePort === undefined ? {} : { annotations: { 'switchyard.io/port': templatePort } }),
        },
        spec: {
          containers: [
            {
              name: 'app',
              image: 'shop:1',
              ports: [
                { name: 'http', containerPort: 8080 },
                { name: 'grpc', containerPort: 9090 },
              ],
            },
          ],
        },
      },
    },
  });
  return {
    ...create('shop'),
    operation: 'UPDATE',
    // `kubectl annotate` / a re-applied manifest: only the Deployment's annotation changes; the
    // template still carries the copy the webhook made of the old value.
    object: deployment(newPort, oldPort),
    oldObject: deployment(oldPort, oldPort),
  };
}

describe('admitDeployment: the fronted port is part of the pod template', () => {
  const gate = (decision: DeploymentDecision) =>
    decision.allowed && decision.deployment !== null
      ? {
          reason: decision.reason,
          paused: decision.deployment.spec.paused,
          pending: decision.deployment.metadata?.annotations?.['switchyard.io/pending-revision'],
          templatePort: decision.deployment.spec.template.metadata?.annotations?.['switchyard.io/port'],
        }
      : decision;

  it('holds a change of switchyard.io/port back for the controller, like any template change', () => {
    // Otherwise every pod is re-created with a router fronting the other port, with no canary.
    expect(gate(admitDeployment(update('http', 'grpc'), { controllerUsernames: [] }))).toEqual({
      reason: 'release_gate',
      paused: true,
      pending: expect.stringMatching(/^[0-9a-f]{16}$/),
      templatePort: 'grpc',
    });
    expect(gate(admitDeployment(update(undefined, 'grpc'), { controllerUsernames: [] }))).toMatchObject({
      reason: 'release_gate',
      templatePort: 'grpc',
    });
  });

  it('removing switchyard.io/port drops the template copy (back to the first TCP port) through the gate', () => {
    expect(gate(admitDeployment(update('grpc', undefined), { controllerUsernames: [] }))).toEqual({
      reason: 'release_gate',
      paused: true,
      pending: expect.stringMatching(/^[0-9a-f]{16}$/),
      templatePort: undefined,
    });
  });

  it('re-applying the same port (template without the copy) changes nothing', () => {
    const request = update('http', 'http');
    const object = request.object as { spec: { template: { metadata: { annotations?: unknown } } } };
    delete object.spec.template.metadata.annotations;
    expect(gate(admitDeployment(request, { controllerUsernames: [] }))).toEqual({
      reason: 'labelled',
      paused: undefined,
      pending: undefined,
      templatePort: 'http',
    });
  });
});

describe('admitDeployment: custom checks without Prometheus', () => {
  const withChecks = (): AdmissionRequest => {
    const request = create('shop');
    const metadata = (request.object as { metadata: { annotations: Record<string, string> } }).metadata;
    metadata.annotations['switchyard.io/check.errors'] = 'sum(rate(errors_total[1m])) < 1';
    metadata.annotations['switchyard.io/interval'] = '30s';
    return request;
  };
  const warnings = (decision: DeploymentDecision) =>
    decision.warnings.filter((text) => text.includes('check.'));

  it('warns when control has no --prometheus-url: the checks could never pass', () => {
    const decision = admitDeployment(withChecks(), { controllerUsernames: [], prometheusConfigured: false });
    expect(admitted(decision)).toBe(true);
    expect(warnings(decision)).toEqual([
      "switchyard.io/check.errors: custom checks need control's --prometheus-url, which is not set; with the builtin provider they stay inconclusive and every rollout fails at its progress deadline (5m)",
    ]);
  });

  it('says nothing with Prometheus, when it is not known (offline inject), or without checks', () => {
    for (const prometheusConfigured of [true, undefined]) {
      const options = prometheusConfigured === undefined ? {} : { prometheusConfigured };
      expect(warnings(admitDeployment(withChecks(), { controllerUsernames: [], ...options }))).toEqual([]);
    }
    const plain = admitDeployment(create('shop'), { controllerUsernames: [], prometheusConfigured: false });
    expect(plain.warnings).toEqual([]);
  });
});

describe('admitDeployment: switchyard.io/protocol', () => {
  /** `update` with the protocol annotation set on the old and the new Deployment. */
  const protocols = (oldProtocol: string | undefined, newProtocol: string | undefined): AdmissionRequest => {
    const request = update('http', 'http');
    for (const [object, protocol] of [
      [request.object, newProtocol],
      [request.oldObject, oldProtocol],
    ] as const) {
      const annotations = (object as { metadata: { annotations: Record<string, string> } }).metadata
        .annotations;
      if (protocol !== undefined) annotations['switchyard.io/protocol'] = protocol;
    }
    return request;
  };
  const templateProtocol = (decision: DeploymentDecision) =>
    decision.allowed
      ? decision.deployment?.spec.template.metadata?.annotations?.['switchyard.io/protocol']
      : null;
  const protocolWarnings = (decision: DeploymentDecision) =>
    decision.warnings.filter((text) => text.startsWith('switchyard.io/protocol'));

  it('copies the protocol into the pod template for the pod webhook', () => {
    const request = create('shop');
    const metadata = (request.object as { metadata: { annotations: Record<string, string> } }).metadata;
    metadata.annotations['switchyard.io/protocol'] = ' h2c ';
    expect(templateProtocol(admitDeployment(request, { controllerUsernames: [] }))).toBe('h2c');
  });

  it('warns when a running Deployment changes protocol: its routers could not forward between tracks', () => {
    const decision = admitDeployment(protocols(undefined, 'h2c'), { controllerUsernames: [] });
    expect(decision).toMatchObject({ allowed: true, reason: 'release_gate' });
    expect(templateProtocol(decision)).toBe('h2c');
    expect(protocolWarnings(decision)).toEqual([
      'switchyard.io/protocol changes from "http" to "h2c": during the rollout stable and canary routers speak different protocols and cannot forward requests between the tracks; to switch protocols, set switchyard.io/canary: "disabled" first and opt in again afterwards',
    ]);
    for (const [from, to] of [
      ['h2c', 'h2c'],
      ['http', undefined],
    ] as const) {
      expect(protocolWarnings(admitDeployment(protocols(from, to), { controllerUsernames: [] }))).toEqual([]);
    }
  });

  it('denies a protocol it does not know, naming the values it does', () => {
    const decision = admitDeployment(protocols(undefined, 'grpc'), { controllerUsernames: [] });
    expect(decision).toMatchObject({ allowed: false, reason: 'invalid_annotation' });
    expect(decision.allowed ? '' : decision.message).toContain('one of http, h2c');
  });
});
