// Names and constants of the Kubernetes adapter: the objects it keeps per opted-in Deployment and
// the Canary annotation the CLI/API write operator commands through.

import { Label } from '../../api/annotations.js';

/** Canary annotation carrying one operator command: `{"nonce":"…","command":{…}}` (see commands.ts). */
export const COMMAND_ANNOTATION = 'switchyard.io/command';
/** Canary-Deployment annotation: the pod-template hash it was created from. */
export const REVISION_ANNOTATION = 'switchyard.io/revision';
/** Service annotation: the targetPorts (JSON array, per port) it had before `patch-service` repointed it. */
export const ORIGINAL_TARGET_PORTS_ANNOTATION = 'switchyard.io/original-target-ports';
/** Service annotation: the opted-in Deployment whose `patch-service` repointed it. */
export const PATCHED_BY_ANNOTATION = 'switchyard.io/patched-by';
/**
 * Service annotation: the router port name `patch-service` set as targetPort. Only ports still
 * holding it are put back on restore; one the user has changed since keeps the user's value.
 * Services patched before it was written lack it, and every port is put back as before.
 */
export const ROUTER_TARGET_PORT_ANNOTATION = 'switchyard.io/router-target-port';
export const EVENT_COMPONENT = 'switchyard-control';
/** Port number of the per-track Services (`http://<name>-stable.<ns>.svc:80`). */
export const TRACK_SERVICE_PORT = 80;

export function canaryDeploymentName(name: string): string {
  return `${name}-canary`;
}

export function trackServiceName(name: string, track: 'stable' | 'canary'): string {
  return `${name}-${track}`;
}

export function trackUpstream(namespace: string, name: string, track: 'stable' | 'canary'): string {
  return `http://${trackServiceName(name, track)}.${namespace}.svc:${TRACK_SERVICE_PORT}`;
}

/** `namespace/name` work-queue key. */
export function keyOf(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

export function splitKey(key: string): { namespace: string; name: string } {
  const slash = key.indexOf('/');
  return { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

/** The opted-in Deployment a canary Deployment or pod belongs to (its routing-key label). */
export function serviceLabelOf(labels: Readonly<Record<string, string>> | undefined): string | undefined {
  return labels?.[Label.service];
}
