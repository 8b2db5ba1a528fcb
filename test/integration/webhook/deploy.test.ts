// deploy/ renders with `kubectl kustomize` (what `kubectl apply -k deploy/` runs) into the objects
// DESIGN.md promises, with the webhook configuration exactly as the admission contract requires.

import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '../../..');
let work: string;

// biome-ignore lint/suspicious/noExplicitAny: the tests navigate rendered manifests of known shape
type Obj = Record<string, any>;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'swy-deploy-'));
  cpSync(join(ROOT, 'deploy'), join(work, 'deploy'), { recursive: true });
  const crd = join(work, 'deploy/base/crd-canary.yaml');
  if (!existsSync(crd)) {
    // The CRD is written in the controller issue; until it lands, render against a stand-in so
    // everything else in deploy/ is still checked. The CRD test below reports it as missing.
    writeFileSync(
      crd,
      'apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: canaries.switchyard.io\n',
    );
  }
});

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

function render(path: string): Obj[] {
  const result = spawnSync('kubectl', ['kustomize', join(work, path)], { encoding: 'utf8', timeout: 60_000 });
  expect(result.error, 'kubectl on PATH (scripts/test-deps.sh installs it)').toBeUndefined();
  expect(result.stderr).toBe('');
  expect(result.status).toBe(0);
  return parseAllDocuments(result.stdout).map((document) => document.toJS() as Obj);
}

function find(objects: Obj[], kind: string, name: string): Obj {
  const found = objects.find((object) => object.kind === kind && object.metadata.name === name);
  expect(found, `${kind}/${name}`).toBeDefined();
  return found!;
}

describe('kubectl kustomize deploy/', () => {
  it('renders namespace, RBAC, control with 2 replicas, Service 8443, PDB and NetworkPolicy', () => {
    const objects = render('deploy');
    find(objects, 'Namespace', 'switchyard-system');
    find(objects, 'ServiceAccount', 'switchyard-control');
    const control = find(objects, 'Deployment', 'switchyard-control');
    expect(control.spec.replicas).toBe(2);
    expect(control.spec.template.spec.containers[0].args[0]).toBe('control');
    expect(control.spec.template.spec.serviceAccountName).toBe('switchyard-control');
    const service = find(objects, 'Service', 'switchyard-control');
    expect(service.spec.ports[0].port).toBe(8443);
    expect(find(objects, 'PodDisruptionBudget', 'switchyard-control').spec.minAvailable).toBe(1);
    const policy = find(objects, 'NetworkPolicy', 'switchyard-control');
    expect(policy.spec.ingress[0].ports[0].port).toBe(8443);
    expect(policy.spec.egress.flatMap((rule: Obj) => rule.ports.map((port: Obj) => port.port))).toContain(
      15020,
    );

    const rules: Obj[] = find(objects, 'ClusterRole', 'switchyard-control').rules;
    const allows = (group: string, resource: string, verb: string) =>
      rules.some(
        (rule) =>
          rule.apiGroups.includes(group) && rule.resources.includes(resource) && rule.verbs.includes(verb),
      );
    for (const verb of ['get', 'list', 'watch', 'update', 'patch'])
      expect(allows('apps', 'deployments', verb)).toBe(true);
    for (const resource of ['pods', 'services', 'secrets', 'configmaps', 'events'])
      expect(allows('', resource, 'get') || allows('', resource, 'create')).toBe(true);
    // control keeps informers on these, cluster-wide (patch-service re-checks Services on every change).
    for (const resource of ['pods', 'services'])
      for (const verb of ['list', 'watch'])
        expect(allows('', resource, verb), `${resource} ${verb}`).toBe(true);
    expect(allows('', 'services', 'update')).toBe(true);
    expect(allows('coordination.k8s.io', 'leases', 'update')).toBe(true);
    expect(allows('switchyard.io', 'canaries', 'watch')).toBe(true);
    expect(allows('switchyard.io', 'canaries/status', 'patch')).toBe(true);
    expect(allows('admissionregistration.k8s.io', 'mutatingwebhookconfigurations', 'patch')).toBe(true);
    expect(allows('authentication.k8s.io', 'tokenreviews', 'create')).toBe(true);
  });

  it('has the two webhooks scoped and configured as the admission contract says', () => {
    const config = find(render('deploy'), 'MutatingWebhookConfiguration', 'switchyard');
    const [deployments, pods] = config.webhooks as Obj[];
    for (const webhook of [deployments!, pods!]) {
      expect(webhook.sideEffects).toBe('None');
      expect(webhook.timeoutSeconds).toBe(5);
      expect(webhook.admissionReviewVersions).toEqual(['v1']);
      expect(webhook.reinvocationPolicy).toBe('IfNeeded');
      expect(webhook.clientConfig.service).toMatchObject({
        name: 'switchyard-control',
        namespace: 'switchyard-system',
        path: '/mutate',
        port: 8443,
      });
      expect(webhook.namespaceSelector.matchExpressions[0]).toMatchObject({
        operator: 'NotIn',
        values: ['kube-system', 'switchyard-system'],
      });
    }
    expect(deployments!.rules[0]).toMatchObject({
      apiGroups: ['apps'],
      resources: ['deployments'],
      operations: ['CREATE', 'UPDATE'],
    });
    expect(deployments!.failurePolicy).toBe('Fail');
    expect(deployments!.matchConditions[0].expression).toContain(
      "'switchyard.io/canary' in object.metadata.annotations",
    );
    expect(pods!.rules[0]).toMatchObject({ apiGroups: [''], resources: ['pods'], operations: ['CREATE'] });
    expect(pods!.failurePolicy).toBe('Ignore');
    expect(pods!.objectSelector).toEqual({ matchLabels: { 'switchyard.io/inject': 'true' } });
  });

  it('cert-manager overlay mounts the certificate files and asks for CA injection', () => {
    const objects = render('deploy/overlays/cert-manager');
    const control = find(objects, 'Deployment', 'switchyard-control');
    const args: string[] = control.spec.template.spec.containers[0].args;
    expect(args).toEqual(expect.arrayContaining(['--tls-cert-file', '--tls-key-file']));
    expect(find(objects, 'Certificate', 'switchyard-control').spec.dnsNames).toContain(
      'switchyard-control.switchyard-system.svc',
    );
    expect(
      find(objects, 'MutatingWebhookConfiguration', 'switchyard').metadata.annotations[
        'cert-manager.io/inject-ca-from'
      ],
    ).toBe('switchyard-system/switchyard-control');
  });

  // The CRD file belongs to the controller issue; until it exists this shows as skipped, not passed.
  it.runIf(existsSync(join(ROOT, 'deploy/base/crd-canary.yaml')))(
    'renders the Canary CRD from deploy/base/crd-canary.yaml',
    () => {
      const crd = find(render('deploy'), 'CustomResourceDefinition', 'canaries.switchyard.io');
      expect(crd.spec.group).toBe('switchyard.io');
    },
  );
});
