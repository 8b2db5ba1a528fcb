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
