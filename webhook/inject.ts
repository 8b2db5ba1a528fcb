// Pod injection, the istio way: mutate a deep copy through small named steps; the caller diffs the
// copy into a JSON Patch. Pure: no I/O, no clock; a skipped pod comes back with a stable reason.

import {
  CA_CONFIGMAP,
  CONTROL_TOKEN_AUDIENCE,
  HOP_SECRET,
  Label,
  OwnedAnnotation,
  POD_ANNOTATIONS,
  type Protocol,
  parseAnnotations,
  type RolloutSettings,
  STABLE_TRACK,
} from '../api/annotations.js';
import { isSwitchyardError } from '../api/errors.js';
import { TRACK_NAME_PATTERN } from '../api/routes.js';
import { ROUTER_ENV } from '../router/node-options.js';
import { type InjectConfig, ROUTER_CONTAINER_NAME, supportsNativeSidecars } from './config.js';
import { type AppPort, portNames, resolveAppPort, takeoverName } from './ports.js';
import type { Container, Pod, PodSpec, Probe, Volume } from './types.js';

/** Stable snake_case reasons, reused as metric labels and in messages. */
export const SkipReason = {
  notOptedIn: 'not_opted_in',
  alreadyInjected: 'already_injected',
  hostNetwork: 'host_network',
  noContainers: 'no_containers',
  missingServiceLabel: 'missing_service_label',
  invalidLabel: 'invalid_label',
  invalidAnnotation: 'invalid_annotation',
  portNotFound: 'port_not_found',
  noAppPort: 'no_app_port',
  portConflict: 'port_conflict',
} as const;
export type SkipReason = (typeof SkipReason)[keyof typeof SkipReason];

export type InjectResult =
  | { readonly injected: true; readonly pod: Pod; readonly warnings: readonly string[] }
  | {
      readonly injected: false;
      readonly reason: SkipReason;
      /** Why, for a user; null for skips that need no explanation (not opted in, already injected). */
      readonly message: string | null;
    };

export const ROUTER_PORT_FALLBACK_NAME = 'switchyard';
export const ADMIN_PORT_NAME = 'sy-admin';
export const DEFAULT_CONTAINER_ANNOTATION = 'kubectl.kubernetes.io/default-container';
const MOUNT_ROOT = '/var/run/switchyard';
const VOLUME = { hop: 'switchyard-hop', ca: 'switchyard-ca', token: 'switchyard-token' } as const;

function skip(reason: SkipReason, message: string | null = null): InjectResult {
  return { injected: false, reason, message };
}

/** The container lists of a pod spec, as far as finding the router needs them. */
interface Containers {
  readonly containers: readonly { readonly name: string }[];
  readonly initContainers?: readonly { readonly name: string }[] | undefined;
}

function hasRouter(spec: Containers): boolean {
  return [...(spec.initContainers ?? []), ...spec.containers].some((c) => c.name === ROUTER_CONTAINER_NAME);
}

/** Whether the router is in this pod already: the injector's mark, or its container (added by hand). */
export function isInjected(pod: {
  readonly metadata?: { readonly annotations?: Readonly<Record<string, string>> | undefined } | undefined;
  readonly spec?: Containers | undefined;
}): boolean {
  return (
    pod.metadata?.annotations?.[OwnedAnnotation.injected] !== undefined ||
    (pod.spec !== undefined && hasRouter(pod.spec))
  );
}

/** Applies named-port takeover to the app container: renames its port and keeps its probes on the app. */
function takeOverPort(spec: PodSpec, app: AppPort): string | null {
  if (app.name === null || app.portIndex === null) return null;
  const container = spec.containers[app.containerIndex]!;
  const renamed = takeoverName(app.name, portNames(spec));
  container.ports![app.portIndex]!.name = renamed;
  // Kubelet resolves a probe's or lifecycle hook's named port in its own container; the name is
  // gone, so point it at the number. Those by number already reach the app directly and stay.
  const lifecycle = container.lifecycle;
  const handlers: (Probe | undefined)[] = [
    container.livenessProbe,
    container.readinessProbe,
    container.startupProbe,
    lifecycle?.postStart,
    lifecycle?.preStop,
  ];
  for (const probe of handlers) {
    for (const handler of [probe?.httpGet, probe?.tcpSocket, probe?.grpc]) {
      if (handler && handler.port === app.name) handler.port = app.number;
    }
  }
  return app.name;
}

function routerContainer(
  config: InjectConfig,
  options: {
    service: string;
    track: string;
    app: AppPort;
    protocol: Protocol;
    portName: string;
    native: boolean;
  },
): Container {
  const tls = config.controlUrl.startsWith('https:');
  const args = [
    'router',
    '--listen',
    `0.0.0.0:${config.routerPort}`,
    '--admin',
    `0.0.0.0:${config.adminPort}`,
    '--service',
    options.service,
    '--track',
    options.track,
    '--namespace',
    '$(SWITCHYARD_NAMESPACE)',
    '--local',
    `http://127.0.0.1:${options.app.number}`,
    ...(options.protocol === 'h2c' ? ['--protocol', 'h2c'] : []),
    '--control',
    config.controlUrl,
    '--hop-secret-file',
    `${MOUNT_ROOT}/hop/${HOP_SECRET.key}`,
    '--control-token-file',
    `${MOUNT_ROOT}/token/token`,
    ...(tls ? ['--control-ca-file', `${MOUNT_ROOT}/ca/${CA_CONFIGMAP.key}`] : []),
  ];
  const health = { httpGet: { path: '/healthz', port: config.adminPort } };
  return {
    name: ROUTER_CONTAINER_NAME,
    image: config.routerImage,
    args,
    env: [
      { name: 'SWITCHYARD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
      ...Object.entries(ROUTER_ENV).map(([name, value]) => ({ name, value })),
    ],
    ports: [
      { name: options.portName, containerPort: config.routerPort, protocol: 'TCP' },
      { name: ADMIN_PORT_NAME, containerPort: config.adminPort, protocol: 'TCP' },
    ],
    resources: structuredClone(config.resources) as Record<string, unknown>,
    securityContext: {
      allowPrivilegeEscalation: false,
      privileged: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      runAsUser: 65532,
      runAsGroup: 65532,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
    startupProbe: { ...health, periodSeconds: 1, failureThreshold: 30 },
    livenessProbe: { ...health, periodSeconds: 10, failureThreshold: 3 },
    volumeMounts: [
      { name: VOLUME.hop, mountPath: `${MOUNT_ROOT}/hop`, readOnly: true },
      { name: VOLUME.token, mountPath: `${MOUNT_ROOT}/token`, readOnly: true },
      ...(tls ? [{ name: VOLUME.ca, mountPath: `${MOUNT_ROOT}/ca`, readOnly: true }] : []),
    ],
    ...(options.native ? { restartPolicy: 'Always' } : {}),
  };
}

function routerVolumes(config: InjectConfig): Volume[] {
  return [
    { name: VOLUME.hop, secret: { secretName: HOP_SECRET.name, optional: true } },
    {
      name: VOLUME.token,
      projected: {
        // 0444: the router runs as a fixed non-root uid that need not match the pod's fsGroup.
        defaultMode: 0o444,
        sources: [
          {
            serviceAccountToken: { audience: CONTROL_TOKEN_AUDIENCE, expirationSeconds: 3600, path: 'token' },
          },
        ],
      },
    },
    ...(config.controlUrl.startsWith('https:')
      ? [{ name: VOLUME.ca, configMap: { name: CA_CONFIGMAP.name, optional: true } }]
      : []),
  ];
}

/** Decides whether and how to inject; returns a mutated deep copy or a skip reason. Never throws on valid pods. */
export function injectPod(input: Pod, config: InjectConfig): InjectResult {
  const labels = input.metadata?.labels ?? {};
  const annotations = input.metadata?.annotations ?? {};
  if (labels[Label.inject] !== 'true') return skip(SkipReason.notOptedIn);
  if (isInjected(input)) return skip(SkipReason.alreadyInjected);
  if (input.spec.hostNetwork === true) {
    return skip(
      SkipReason.hostNetwork,
      'pods with hostNetwork: true cannot get the router (it would bind the node)',
    );
  }
  if (input.spec.containers.length === 0) return skip(SkipReason.noContainers, 'the pod has no containers');
  const service = labels[Label.service];
  if (service === undefined || service === '') {
    return skip(
      SkipReason.missingServiceLabel,
      `label ${Label.service} is missing; it is set by the Deployment webhook on opted-in Deployments (or set it yourself on bare pods)`,
    );
  }
  const track = labels[Label.track] ?? STABLE_TRACK;
  if (!TRACK_NAME_PATTERN.test(track)) {
    return skip(
      SkipReason.invalidLabel,
      `label ${Label.track}: ${JSON.stringify(track)} is not a lower-case DNS label`,
    );
  }
  let settings: RolloutSettings;
  try {
    // Only the annotations the Deployment webhook copies into pod templates are the pod's to read.
    const copied = POD_ANNOTATIONS.filter((name) => annotations[name] !== undefined);
    settings = parseAnnotations(Object.fromEntries(copied.map((name) => [name, annotations[name]]))).settings;
  } catch (error) {
    if (!isSwitchyardError(error)) throw error;
    return skip(SkipReason.invalidAnnotation, error.message);
  }
  const resolution = resolveAppPort(input.spec, settings.port);
  if (!resolution.ok) return skip(resolution.reason, resolution.message);
  const app = resolution.port;
  const taken = [...(input.spec.initContainers ?? []), ...input.spec.containers].flatMap((c) =>
    (c.ports ?? []).map((p) => p.containerPort),
  );
  const conflict = [config.routerPort, config.adminPort].find((port) => taken.includes(port));
  if (conflict !== undefined || app.number === config.routerPort || app.number === config.adminPort) {
    return skip(
      SkipReason.portConflict,
      `container port ${conflict ?? app.number} is reserved for the router (ports ${config.routerPort}, ${config.adminPort})`,
    );
  }

  const pod = structuredClone(input);
  const warnings: string[] = [];
  const native = supportsNativeSidecars(config.serverVersion);
  const originalName = takeOverPort(pod.spec, app);
  if (originalName === null) {
    warnings.push(
      `container port ${app.number} has no name: Services must target the router port ${config.routerPort} (or name the port and target the name) for traffic to pass through switchyard`,
    );
  }
  const router = routerContainer(config, {
    service,
    track,
    app,
    protocol: settings.protocol,
    portName: originalName ?? ROUTER_PORT_FALLBACK_NAME,
    native,
  });
  if (native) {
    pod.spec.initContainers = [router, ...(pod.spec.initContainers ?? [])];
  } else {
    pod.spec.containers.push(router);
  }
  pod.spec.volumes = [...(pod.spec.volumes ?? []), ...routerVolumes(config)];
  pod.metadata ??= {};
  pod.metadata.annotations ??= {};
  pod.metadata.annotations[OwnedAnnotation.injected] = config.version;
  if (pod.metadata.annotations[DEFAULT_CONTAINER_ANNOTATION] === undefined) {
    // kubectl logs/exec keep defaulting to the app, not the router.
    pod.metadata.annotations[DEFAULT_CONTAINER_ANNOTATION] = pod.spec.containers[app.containerIndex]!.name;
  }
  return { injected: true, pod, warnings };
}
