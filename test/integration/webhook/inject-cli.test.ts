// `switchyard inject` as a user runs it: the built CLI on the sample manifests in test/fixtures.

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, REPO_ROOT as ROOT } from '../../support/build.js';

const MANIFESTS = join(ROOT, 'test/fixtures/manifests');

beforeAll(() => ensureBuilt('cli/inject.js'), 120_000);

function inject(args: string[], input?: string) {
  const result = spawnSync(process.execPath, [join(ROOT, 'bin/switchyard.js'), 'inject', ...args], {
    cwd: ROOT,
    input,
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

// biome-ignore lint/suspicious/noExplicitAny: the tests navigate parsed YAML of known shape
type Obj = Record<string, any>;

function objects(yamlText: string): Obj[] {
  return parseAllDocuments(yamlText).map((document) => document.toJS() as Obj);
}

describe('switchyard inject', () => {
  it('injects the opted-in Deployment and leaves its Service byte for byte', () => {
    const result = inject(['-f', join(MANIFESTS, 'shop.yaml')]);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const [deployment, service] = objects(result.stdout);
    const template = deployment!.spec.template;
    expect(template.metadata.labels).toMatchObject({
      app: 'shop',
      'switchyard.io/inject': 'true',
      'switchyard.io/track': 'stable',
      'switchyard.io/service': 'shop',
    });
    const router = template.spec.initContainers[0];
    expect(router.name).toBe('switchyard-router');
    expect(router.restartPolicy).toBe('Always');
    expect(router.ports[0]).toEqual({ name: 'http', containerPort: 15001, protocol: 'TCP' });
    expect(router.args.join(' ')).toContain('--service shop --track stable');
    expect(router.args.join(' ')).toContain('--local http://127.0.0.1:8080');
    const app = template.spec.containers[0];
    expect(app.ports[0].name).toBe('app-http');
    expect(app.readinessProbe.httpGet.port).toBe(8080);
    expect(service).toEqual(objects(readFileSync(join(MANIFESTS, 'shop.yaml'), 'utf8'))[1]);
    expect(result.stdout).toContain('# Services pass through unchanged.\napiVersion: v1\nkind: Service');
  });

  it('prints objects that are not opted in exactly as they were', () => {
    const source = readFileSync(join(MANIFESTS, 'not-opted-in.yaml'), 'utf8');
    const result = inject(['-f', join(MANIFESTS, 'not-opted-in.yaml')]);
    expect(result.status).toBe(0);
    expect(result.stdout).toBe(source);
  });

  it('handles Lists in JSON and stdin, with a plain container below Kubernetes 1.29', () => {
    const list = inject(['-f', join(MANIFESTS, 'list.json')]);
    expect(list.status).toBe(0);
    const [{ items }] = objects(list.stdout) as [{ items: Obj[] }];
    expect(items[0]!.spec.template.spec.initContainers[0].name).toBe('switchyard-router');
    expect(items[1]).toEqual({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'api-config' },
      data: { a: 'b' },
    });

    const pod = inject(
      ['-f', '-', '--server-version', '1.28', '--router-image', 'r:dev'],
      readFileSync(join(MANIFESTS, 'pod.yaml'), 'utf8'),
    );
    expect(pod.status).toBe(0);
    const [injected] = objects(pod.stdout);
    expect(injected!.spec.initContainers).toBeUndefined();
    expect(injected!.spec.containers.map((c: Obj) => c.name)).toEqual(['checkout', 'switchyard-router']);
    expect(injected!.spec.containers[1].image).toBe('r:dev');
  });

  it('is idempotent: injecting its own output changes nothing', () => {
    const once = inject(['-f', join(MANIFESTS, 'shop.yaml'), '-f', join(MANIFESTS, 'pod.yaml')]);
    const twice = inject(['-f', '-'], once.stdout);
    expect(twice.status).toBe(0);
    expect(objects(twice.stdout)).toEqual(objects(once.stdout));
  });

  it('rejects bad annotations and bad YAML with exit 1 and a message naming the place', () => {
    const bad = inject(['-f', join(MANIFESTS, 'bad-annotation.yaml')]);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('switchyard.io/steps: "5,x" — expected ascending integers 1–99');
    const broken = inject(['-f', join(MANIFESTS, 'invalid-yaml.yaml')]);
    expect(broken.status).toBe(1);
    expect(broken.stderr).toMatch(/invalid-yaml\.yaml:\d+:\d+: invalid YAML/);
    expect(broken.stdout).toBe('');
  });
});
