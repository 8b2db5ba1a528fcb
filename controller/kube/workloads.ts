// Pure builders and predicates over Kubernetes objects: the canary Deployment, the per-track
// Services, readiness of a rollout, the analysis scrape targets and pods missing the router. No I/O
// here.

import type {
  V1Deployment,
  V1OwnerReference,
  V1Pod,
  V1Service,
  V1ServicePort,
} from '@kubernetes/client-node';
import { ROUTER_CONTAINER_NAME } from '../../webhook/config.js';
import { isInjected, ROUTER_PORT_FALLBACK_NAME } from '../../webhook/inject.js';
import {
  CANARY_TRACK,
  isOptedIn,
  Label,
  OwnedAnnotation,
  parseAnnotations,
  STABLE_TRACK,
  podTemplateHash,
  type RolloutSettings,
} from '../../api/annotations.js';
import {
  canaryDeploymentName,
  ORIGINAL_TARGET_PORTS_ANNOTATION,
  PATCHED_BY_ANNOTATION,
  REVISION_ANNOTATION,
  ROUTER_TARGET_PORT_ANNOTATION,
  TRACK_SERVICE_PORT,
  trackServiceName,
} from './names.js';

export function ownerReference(
  apiVersion: string,
  kind: string,
  metadata: { name?: string; uid?: string },
  controller: boolean,
): V1OwnerReference {
  return {
    apiVersion,
    kind,
    name: metadata.name ?? '',
    uid: metadata.uid ?? '',
    controller,
    blockOwnerDeletion: true,
  };
}

export function pendingRevisionOf(deployment: V1Deployment): string | null {
  return deployment.metadata?.annotations?.[OwnedAnnotation.pendingRevision] ?? null;
}

/**
 * What `promote-stable` of `revision` still has to do to the Deployment: `release` it (unpause,
 * drop the pending annotation), nothing because it is `released` already, or nothing because it
 * holds `another-template` (unpausing that would release a template no canary has run).
 */
export function stableRelease(
  deployment: V1Deployment,
  revision: string,
): 'release' | 'released' | 'another-template' {
  if (deployment.spec?.paused !== true && pendingRevisionOf(deployment) === null) return 'released';
  return podTemplateHash(deployment.spec?.template) === revision ? 'release' : 'another-template';
}

/** Replicas for a canary at `weight` percent: proportional to the Deployment's, at least 1. */
export function canaryReplicas(stableReplicas: number | undefined, weight: number): number {
  const total = stableReplicas ?? 1;
  return Math.max(1, Math.ceil((total * Math.max(0, Math.min(100, weight))) / 100));
}

/**
 * `<name>-canary` from the Deployment's current template (the release gate let the new template in
 * and paused the Deployment): track label canary, selector = original + track canary.
 */
export function canaryDeployment(
  deployment: V1Deployment,
  revision: string,
  replicas: number,
  owner: V1OwnerReference,
): V1Deployment {
  const name = deployment.metadata?.name ?? '';
  const template = structuredClone(deployment.spec!.template);
  template.metadata ??= {};
  template.metadata.labels = {
    ...template.metadata.labels,
    [Label.track]: CANARY_TRACK,
    [Label.service]: name,
  };
  // A template injected offline (`switchyard inject`) carries its router, which the pod webhook
  // leaves alone: its `--track` must follow the label, or canary pods serve and measure as stable.
  const spec = template.spec;
  for (const container of [...(spec?.initContainers ?? []), ...(spec?.containers ?? [])]) {
    if (container.name !== ROUTER_CONTAINER_NAME) continue;
    container.args = container.args?.map((arg, index, args) =>
      args[index - 1] === '--track'
        ? CANARY_TRACK
        : arg.startsWith('--track=')
          ? `--track=${CANARY_TRACK}`
          : arg,
    );
  }
  const selector = structuredClone(deployment.spec!.selector);
  selector.matchLabels = { ...selector.matchLabels, [Label.track]: CANARY_TRACK };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: canaryDeploymentName(name),
      namespace: deployment.metadata?.namespace,
      labels: { ...deployment.metadata?.labels, [Label.track]: CANARY_TRACK, [Label.service]: name },
      annotations: { [REVISION_ANNOTATION]: revision },
      ownerReferences: [owner],
    },
    spec: {
      replicas,
      selector,
      template,
      ...(deployment.spec?.strategy ? { strategy: deployment.spec.strategy } : {}),
      ...(deployment.spec?.minReadySeconds === undefined
        ? {}
        : { minReadySeconds: deployment.spec.minReadySeconds }),
    },
  };
}

/** `<name>-stable` / `<name>-canary`: port 80 → the router port of that track's pods. */
export function trackService(
  deployment: V1Deployment,
  track: 'stable' | 'canary',
  routerPort: number,
  owner: V1OwnerReference,
): V1Service {
  const name = deployment.metadata?.name ?? '';
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: trackServiceName(name, track),
      namespace: deployment.metadata?.namespace,
      labels: { [Label.service]: name, [Label.track]: track },
      ownerReferences: [owner],
    },
    spec: {
      type: 'ClusterIP',
      selector: {
        ...deployment.spec?.selector?.matchLabels,
        [Label.service]: name,
        [Label.track]: track === 'canary' ? CANARY_TRACK : STABLE_TRACK,
      },
      ports: [{ name: 'http', port: TRACK_SERVICE_PORT, targetPort: routerPort as never, protocol: 'TCP' }],
    },
  };
}

/**
 * The canary Deployment runs `revision`, asks for at least `replicas` and has every replica updated
 * and available.
 */
export function canaryIsReady(canary: V1Deployment | null, revision: string, replicas = 1): boolean {
  if (canary === null) return false;
  if (canary.metadata?.annotations?.[REVISION_ANNOTATION] !== revision) return false;
  return (canary.spec?.replicas ?? 1) >= replicas && rolledOut(canary);
}

/** Deployment controller caught up with the spec and every wanted replica is updated and available. */
export function rolledOut(deployment: V1Deployment): boolean {
  const wanted = deployment.spec?.replicas ?? 1;
  const status = deployment.status ?? {};
  return (
    (status.observedGeneration ?? 0) >= (deployment.metadata?.generation ?? 0) &&
    (status.updatedReplicas ?? 0) >= wanted &&
    (status.availableReplicas ?? 0) >= wanted &&
    (status.unavailableReplicas ?? 0) === 0 &&
    (status.replicas ?? 0) <= wanted
  );
}

/** The Deployment is unpaused, runs `revision` and has rolled out: the promotion is complete. */
export function promotionComplete(deployment: V1Deployment, revision: string): boolean {
  return (
    deployment.spec?.paused !== true &&
    podTemplateHash(deployment.spec?.template) === revision &&
    rolledOut(deployment)
  );
}

/** Why a canary Deployment cannot become ready (ReplicaFailure, progress deadline), or null. */
export function canaryFailure(canary: V1Deployment | null): string | null {
  for (const condition of canary?.status?.conditions ?? []) {
    if (condition.type === 'ReplicaFailure' && condition.status === 'True')
      return condition.message ?? 'replica failure';
    if (condition.type === 'Progressing' && condition.status === 'False')
      return condition.message ?? condition.reason ?? 'progress deadline exceeded';
  }
  return null;
}

/**
 * Names of one Deployment's live pods (either track) that run without the router: created while the
 * pod webhook was unreachable (its failurePolicy is Ignore) or when it refused to inject. They serve
 * their connections from the Service outside the split and unmeasured.
 */
export function podsWithoutRouter(pods: readonly V1Pod[], namespace: string, service: string): string[] {
  return pods
    .filter(
      (pod) =>
        pod.metadata?.namespace === namespace &&
        pod.metadata.labels?.[Label.service] === service &&
        pod.metadata.deletionTimestamp === undefined &&
        pod.status?.phase !== 'Succeeded' &&
        pod.status?.phase !== 'Failed' &&
        !isInjected(pod),
    )
    .map((pod) => pod.metadata!.name!)
    .sort();
}

function podReady(pod: V1Pod): boolean {
  return (
    pod.metadata?.deletionTimestamp === undefined &&
    pod.status?.phase === 'Running' &&
    (pod.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True') &&
    typeof pod.status.podIP === 'string' &&
    pod.status.podIP !== ''
  );
}

/** Router admin URLs (`http://<podIP>:<adminPort>`) of the ready pods of one track of one Deployment. */
export function scrapeTargets(
  pods: readonly V1Pod[],
  namespace: string,
  service: string,
  track: 'stable' | 'canary',
  adminPort: number,
): string[] {
  return pods
    .filter(
      (pod) =>
        pod.metadata?.namespace === namespace &&
        pod.metadata.labels?.[Label.service] === service &&
        pod.metadata.labels?.[Label.track] === track &&
        podReady(pod),
    )
    .map((pod) => {
      const ip = pod.status!.podIP!;
      return `http://${ip.includes(':') ? `[${ip}]` : ip}:${adminPort}`;
    })
    .sort();
}

/**
 * `switchyard.io/patch-service`: a Service selecting the Deployment's pods with a numeric targetPort
 * equal to the app port bypasses the router; point those ports at the router's port name (the app
 * port's name, taken over, or the injector's fallback name) and remember the originals. Returns the
 * patched Service, or null when nothing applies.
 */
export function patchedService(
  service: V1Service,
  podLabels: Readonly<Record<string, string>>,
  appPort: { readonly number: number; readonly name: string | null },
  deploymentName: string,
): V1Service | null {
  if (
    !selects(service, podLabels) ||
    service.metadata?.annotations?.[ORIGINAL_TARGET_PORTS_ANNOTATION] !== undefined
  )
    return null;
  const ports = service.spec?.ports ?? [];
  const routerPortName = appPort.name ?? ROUTER_PORT_FALLBACK_NAME;
  const hit = (port: V1ServicePort): boolean => (port.targetPort ?? port.port) === appPort.number;
  if (!ports.some(hit)) return null;
  const copy = structuredClone(service);
  copy.metadata!.annotations = {
    ...copy.metadata!.annotations,
    [ORIGINAL_TARGET_PORTS_ANNOTATION]: JSON.stringify(ports.map((port) => port.targetPort ?? null)),
    [PATCHED_BY_ANNOTATION]: deploymentName,
    [ROUTER_TARGET_PORT_ANNOTATION]: routerPortName,
  };
  copy.spec!.ports = ports.map((port) => (hit(port) ? { ...port, targetPort: routerPortName } : port));
  return copy;
}

/**
 * The Service as patch-service wants it for the app port now: worked out from the original
 * targetPorts (kept in the annotation), so a change of `switchyard.io/port` both repoints the
 * Services that target the new port and puts back those the router no longer fronts, and a
 * re-applied manifest (targetPort numeric again, our annotations kept) is repointed again.
 * Applied to its own result it changes nothing, so writing it back cannot loop.
 */
export function repointedService(
  service: V1Service,
  podLabels: Readonly<Record<string, string>>,
  appPort: { readonly number: number; readonly name: string | null },
  deploymentName: string,
): V1Service {
  const original = restoredService(service, deploymentName) ?? service;
  return patchedService(original, podLabels, appPort, deploymentName) ?? original;
}

/**
 * Puts back what patchedService changed; null when the Service was not patched for this Deployment.
 * A port that no longer targets the router's name was changed since (an edit, a re-applied
 * manifest): the live value is the user's latest word and stays.
 */
export function restoredService(service: V1Service, deploymentName: string): V1Service | null {
  const annotations = service.metadata?.annotations ?? {};
  const original = annotations[ORIGINAL_TARGET_PORTS_ANNOTATION];
  if (original === undefined || annotations[PATCHED_BY_ANNOTATION] !== deploymentName) return null;
  // Absent on Services patched by builds that did not record it: those put back every port.
  const routerPortName = annotations[ROUTER_TARGET_PORT_ANNOTATION];
  let targets: unknown;
  try {
    targets = JSON.parse(original);
  } catch {
    targets = null;
  }
  const copy = structuredClone(service);
  const ports = copy.spec?.ports ?? [];
  if (Array.isArray(targets) && targets.length === ports.length) {
    copy.spec!.ports = ports.map((port, index) => {
      if (routerPortName !== undefined && port.targetPort !== routerPortName) return port;
      const target = targets[index] as number | string | null;
      const { targetPort: _dropped, ...rest } = port;
      return target === null ? rest : { ...rest, targetPort: target };
    });
  }
  delete copy.metadata!.annotations![ORIGINAL_TARGET_PORTS_ANNOTATION];
  delete copy.metadata!.annotations![PATCHED_BY_ANNOTATION];
  delete copy.metadata!.annotations![ROUTER_TARGET_PORT_ANNOTATION];
  return copy;
}

/**
 * The Deployments a change of `service` may give patch-service work: the opted-in ones with
 * patch-service on whose pods it selects (other than through their own per-track Services), and
 * the one that patched it, which may have to put it back. `deployments`: the Service's namespace.
 */
export function patchServiceOwners(service: V1Service, deployments: readonly V1Deployment[]): string[] {
  const owners = new Set<string>();
  const patchedBy = service.metadata?.annotations?.[PATCHED_BY_ANNOTATION];
  if (patchedBy !== undefined) owners.add(patchedBy);
  for (const deployment of deployments) {
    const name = deployment.metadata?.name ?? '';
    if (service.metadata?.labels?.[Label.service] === name) continue;
    // Annotations are parsed last, and only for the few Deployments the Service selects.
    if (
      selects(service, deployment.spec?.template.metadata?.labels ?? {}) &&
      optedInSettings(deployment)?.patchService === true
    )
      owners.add(name);
  }
  return [...owners];
}

/** The Deployment's rollout settings, or null when it is not (validly) opted in. */
export function optedInSettings(deployment: V1Deployment): RolloutSettings | null {
  const annotations = deployment.metadata?.annotations;
  if (!isOptedIn(annotations)) return null;
  try {
    return parseAnnotations(annotations ?? {}).settings;
  } catch {
    return null; // invalid annotations: the Deployment is not reconciled at all
  }
}

function selects(service: V1Service, podLabels: Readonly<Record<string, string>>): boolean {
  const selector = service.spec?.selector;
  if (!selector || Object.keys(selector).length === 0) return false;
  return Object.entries(selector).every(([key, value]) => podLabels[key] === value);
}
