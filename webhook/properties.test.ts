// Invariants over generated pods and Deployments: the patch always applies cleanly, admitting the
// result again changes nothing, and the patch only touches the fields docs/injection.md lists.

import fc from 'fast-check';
import jsonPatch from 'fast-json-patch';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONTROLLER_USERNAME, admit } from './admit.js';
import { makeInjectConfig } from './config.js';
import { type AdmissionRequest, type PatchOperation, parseAdmissionReview } from './review.js';

const portName = fc.stringMatching(/^[a-z][a-z0-9]{0,6}(-[a-z0-9]{1,6})?$/);
const probeHandler = (port: fc.Arbitrary<string | number>) =>
  fc.oneof(
    port.map((p) => ({ httpGet: { path: '/h', port: p } })),
    port.map((p) => ({ tcpSocket: { port: p } })),
    port.map((p) => ({ grpc: { port: p } })),
  );

const containerArb = (index: number) =>
  fc
    .record({
      ports: fc.option(
        fc.uniqueArray(
          fc.record({
            name: fc.option(portName, { nil: undefined }),
            containerPort: fc.integer({ min: 1, max: 14000 }),
          }),
          {
            maxLength: 3,
            selector: (p) => p.containerPort,
          },
        ),
        { nil: undefined },
      ),
      liveness: fc.option(probeHandler(fc.oneof(portName, fc.integer({ min: 1, max: 14000 }))), {
        nil: undefined,
      }),
      readiness: fc.option(probeHandler(fc.oneof(portName, fc.integer({ min: 1, max: 14000 }))), {
        nil: undefined,
      }),
      env: fc.option(
        fc.array(fc.record({ name: fc.string({ minLength: 1, maxLength: 5 }), value: fc.string() }), {
          maxLength: 2,
        }),
        {
          nil: undefined,
        },
      ),
    })
    .map(({ ports, liveness, readiness, env }) => {
      // Port names are unique per pod; suffix with the container index to keep generated pods valid.
      const named = ports?.map((p) =>
        p.name ? { ...p, name: `${p.name.slice(0, 12)}${index}` } : { containerPort: p.containerPort },
      );
      return {
        name: `c${index}`,
        image: `img:${index}`,
        ...(named ? { ports: named } : {}),
        ...(liveness ? { livenessProbe: liveness } : {}),
        ...(readiness ? { readinessProbe: readiness } : {}),
        ...(env ? { env } : {}),
      };
    });

const podArb = fc
  .record({
    containerCount: fc.integer({ min: 1, max: 3 }),
    init: fc.option(fc.array(fc.constantFrom('migrate', 'wait'), { maxLength: 2 }), { nil: undefined }),
    volumes: fc.option(fc.array(fc.constantFrom('data', 'tmp'), { maxLength: 2 }), { nil: undefined }),
    annotations: fc.option(
      fc.dictionary(fc.constantFrom('a/b', 'x~y', 'note', 'example.com/k'), fc.string()),
      { nil: undefined },
    ),
    portAnnotation: fc.option(fc.oneof(portName, fc.integer({ min: 1, max: 14000 }).map(String)), {
      nil: undefined,
    }),
    track: fc.constantFrom('stable', 'canary'),
    name: fc.option(fc.constant('p-1'), { nil: undefined }),
  })
  .chain((shape) =>
    fc
      .tuple(...Array.from({ length: shape.containerCount }, (_, index) => containerArb(index)))
      .map((containers) => ({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: {
          ...(shape.name ? { name: shape.name } : { generateName: 'p-' }),
          namespace: 'default',
          labels: {
            'switchyard.io/inject': 'true',
            'switchyard.io/service': 'shop',
            'switchyard.io/track': shape.track,
          },
          ...(shape.annotations || shape.portAnnotation
            ? {
                annotations: {
                  ...shape.annotations,
                  ...(shape.portAnnotation ? { 'switchyard.io/port': shape.portAnnotation } : {}),
                },
              }
            : {}),
        },
        spec: {
          ...(shape.init
            ? { initContainers: [...new Set(shape.init)].map((name) => ({ name, image: 'init' })) }
            : {}),
          containers,
          ...(shape.volumes
            ? { volumes: [...new Set(shape.volumes)].map((name) => ({ name, emptyDir: {} })) }
            : {}),
        },
      })),
  );

function podRequest(pod: unknown, uid = 'u-1'): AdmissionRequest {
  return parseAdmissionReview({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      namespace: 'default',
      operation: 'CREATE',
      object: pod,
    },
  });
}

function patchOf(decision: ReturnType<typeof admit>): PatchOperation[] {
  const patch = decision.response.patch;
  return patch === undefined ? [] : JSON.parse(Buffer.from(patch, 'base64').toString('utf8'));
}

const configs = [
  makeInjectConfig({ routerImage: 'r:1', version: '0.1.0', serverVersion: { major: 1, minor: 30 } }),
  makeInjectConfig({ routerImage: 'r:1', version: '0.1.0', serverVersion: { major: 1, minor: 27 } }),
];

/** Paths an injection patch may touch (docs/injection.md, "What the webhook changes"). */
function allowedPodOperation(
  operation: PatchOperation,
  pod: { spec: { containers: unknown[]; volumes?: unknown[] } },
): boolean {
  const path = operation.path;
  if (operation.op === 'replace') {
    return (
      /^\/spec\/containers\/\d+\/ports\/\d+\/name$/.test(path) ||
      /^\/spec\/containers\/\d+\/(livenessProbe|readinessProbe|startupProbe)\/(httpGet|tcpSocket|grpc)\/port$/.test(
        path,
      )
    );
  }
  if (operation.op !== 'add') return false;
  return (
    path === '/spec/initContainers' ||
    path === '/spec/initContainers/0' ||
    path === `/spec/containers/${pod.spec.containers.length}` ||
    path === '/spec/volumes' ||
    (/^\/spec\/volumes\/(\d+)$/.test(path) &&
      Number(path.split('/')[3]) >= (pod.spec.volumes?.length ?? 0)) ||
    path === '/metadata/annotations' ||
    path === '/metadata/annotations/switchyard.io~1injected' ||
    path === '/metadata/annotations/kubectl.kubernetes.io~1default-container'
  );
}

describe('pod injection properties', () => {
  it('the patch applies cleanly, touches only documented fields, and injecting again changes nothing', () => {
    let injected = 0;
    fc.assert(
      fc.property(podArb, fc.constantFrom(...configs), (pod, config) => {
        const options = { inject: config, controllerUsernames: [DEFAULT_CONTROLLER_USERNAME] };
        const decision = admit(podRequest(pod), options);
        expect(decision.outcome).not.toBe('error');
        expect(decision.response.allowed).toBe(true);
        const patch = patchOf(decision);
        for (const operation of patch)
          expect(allowedPodOperation(operation, pod), JSON.stringify(operation)).toBe(true);
        const patched = jsonPatch.applyPatch(
          structuredClone(pod),
          patch as jsonPatch.Operation[],
          true,
        ).newDocument;
        const again = admit(podRequest(patched), options);
        expect(patchOf(again)).toEqual([]);
        if (decision.outcome === 'patched') {
          injected++;
          expect(again.reason).toBe('already_injected');
        }
      }),
      { numRuns: 400 },
    );
    // Guard against a generator that only produces skipped pods.
    expect(injected).toBeGreaterThan(100);
  });
});

const deploymentArb = fc.record({
  optedIn: fc.boolean(),
  wasOptedIn: fc.boolean(),
  oldInjected: fc.boolean(),
  image: fc.constantFrom('a:1', 'a:2'),
  replicas: fc.integer({ min: 0, max: 5 }),
  oldPaused: fc.boolean(),
  newPaused: fc.option(fc.boolean(), { nil: undefined }),
  pending: fc.boolean(),
  userLabels: fc.dictionary(
    fc.constantFrom('team', 'switchyard.io/track', 'a/b'),
    fc.constantFrom('x', 'canary'),
  ),
  byController: fc.boolean(),
  dryRun: fc.boolean(),
});

describe('Deployment admission properties', () => {
  it('the patch applies, only touches documented fields, and re-admitting the result is a no-op', () => {
    let gated = 0;
    fc.assert(
      fc.property(deploymentArb, (shape) => {
        const make = (
          optedIn: boolean,
          image: string,
          injected: boolean,
          paused: boolean | undefined,
          pending: boolean,
        ) => ({
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: {
            name: 'shop',
            namespace: 'default',
            annotations: {
              ...(optedIn ? { 'switchyard.io/canary': 'enabled' } : {}),
              ...(pending ? { 'switchyard.io/pending-revision': 'abc' } : {}),
            },
          },
          spec: {
            replicas: shape.replicas,
            ...(paused === undefined ? {} : { paused }),
            selector: { matchLabels: { app: 'shop' } },
            template: {
              metadata: {
                labels: {
                  app: 'shop',
                  ...shape.userLabels,
                  ...(injected ? { 'switchyard.io/inject': 'true', 'switchyard.io/service': 'shop' } : {}),
                },
              },
              spec: { containers: [{ name: 'app', image, ports: [{ name: 'http', containerPort: 8080 }] }] },
            },
          },
        });
        const old = make(shape.wasOptedIn, 'a:1', shape.oldInjected, shape.oldPaused, shape.pending);
        const next = make(shape.optedIn, shape.image, shape.oldInjected, shape.newPaused, shape.pending);
        const request = (object: unknown) =>
          parseAdmissionReview({
            apiVersion: 'admission.k8s.io/v1',
            kind: 'AdmissionReview',
            request: {
              uid: 'u',
              kind: { group: 'apps', version: 'v1', kind: 'Deployment' },
              namespace: 'default',
              name: 'shop',
              operation: 'UPDATE',
              userInfo: { username: shape.byController ? DEFAULT_CONTROLLER_USERNAME : 'alice' },
              object,
              oldObject: old,
              dryRun: shape.dryRun,
            },
          });
        const options = { inject: configs[0]!, controllerUsernames: [DEFAULT_CONTROLLER_USERNAME] };
        const decision = admit(request(next), options);
        expect(decision.outcome).not.toBe('error');
        const patch = patchOf(decision);
        if (shape.byController) expect(patch).toEqual([]);
        for (const operation of patch) {
          expect(
            /^\/spec\/template\/metadata\/(labels|annotations)(\/switchyard\.io~1(inject|track|service|port))?$/.test(
              operation.path,
            ) ||
              /^\/spec\/paused$/.test(operation.path) ||
              /^\/metadata\/annotations\/switchyard\.io~1pending-revision$/.test(operation.path),
            JSON.stringify(operation),
          ).toBe(true);
        }
        if (decision.reason === 'release_gate') gated++;
        const patched = jsonPatch.applyPatch(
          structuredClone(next),
          patch as jsonPatch.Operation[],
          true,
        ).newDocument;
        expect(patchOf(admit(request(patched), options))).toEqual([]);
      }),
      // About 3 % of generated shapes hit the release gate; 1000 runs make "more than 10" a
      // certainty (expected ~30) instead of a coin that 400 runs occasionally lost.
      { numRuns: 1000 },
    );
    expect(gated).toBeGreaterThan(10);
  });
});
