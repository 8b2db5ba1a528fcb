// Which container port the router fronts, and the name the app's port gets when the router takes
// its original name over (named-port takeover: Services keep targeting the name and hit the router).

import type { Container, ContainerPort, PodSpec } from './types.js';
import { ROUTER_CONTAINER_NAME } from './config.js';

export interface AppPort {
  readonly containerIndex: number;
  /** Index in that container's `ports`, or null when a numeric setting names an undeclared port. */
  readonly portIndex: number | null;
  readonly number: number;
  /** The port's name, or null when it has none (or is undeclared). */
  readonly name: string | null;
}

export type PortResolution =
  | { readonly ok: true; readonly port: AppPort }
  | { readonly ok: false; readonly reason: 'port_not_found' | 'no_app_port'; readonly message: string };

const PORT_NAME = /^(?=.{1,15}$)(?=.*[a-z])[a-z0-9]+(-[a-z0-9]+)*$/;

function isTcp(port: ContainerPort): boolean {
  return port.protocol === undefined || port.protocol === 'TCP';
}

function appContainers(spec: PodSpec): { container: Container; index: number }[] {
  return spec.containers
    .map((container, index) => ({ container, index }))
    .filter(({ container }) => container.name !== ROUTER_CONTAINER_NAME);
}

function describePorts(spec: PodSpec): string {
  const ports = appContainers(spec).flatMap(({ container }) =>
    (container.ports ?? [])
      .filter(isTcp)
      .map((port) => `${container.name}:${port.name ?? port.containerPort}`),
  );
  return ports.length === 0
    ? 'the pod declares no TCP container ports'
    : `declared TCP ports: ${ports.join(', ')}`;
}

/** Finds the app port from `switchyard.io/port` (name, number or null = first TCP port). */
export function resolveAppPort(spec: PodSpec, setting: string | number | null): PortResolution {
  for (const { container, index } of appContainers(spec)) {
    const ports = container.ports ?? [];
    for (let portIndex = 0; portIndex < ports.length; portIndex++) {
      const port = ports[portIndex]!;
      if (!isTcp(port)) continue;
      const hit =
        setting === null ||
        (typeof setting === 'number' ? port.containerPort === setting : port.name === setting);
      if (hit) {
        return {
          ok: true,
          port: { containerIndex: index, portIndex, number: port.containerPort, name: port.name ?? null },
        };
      }
    }
  }
  if (typeof setting === 'number' && appContainers(spec).length > 0) {
    // An undeclared numeric port still works: the router fronts it, only the name takeover is impossible.
    return {
      ok: true,
      port: { containerIndex: appContainers(spec)[0]!.index, portIndex: null, number: setting, name: null },
    };
  }
  if (setting === null) {
    return {
      ok: false,
      reason: 'no_app_port',
      message: `no TCP container port to front; declare one or set switchyard.io/port (${describePorts(spec)})`,
    };
  }
  return {
    ok: false,
    reason: 'port_not_found',
    message: `switchyard.io/port: ${JSON.stringify(String(setting))} matches no TCP container port (${describePorts(spec)})`,
  };
}

/** Every container port name in the pod (names must be unique per pod). */
export function portNames(spec: PodSpec): Set<string> {
  const names = new Set<string>();
  for (const container of [...(spec.initContainers ?? []), ...spec.containers]) {
    for (const port of container.ports ?? []) if (port.name) names.add(port.name);
  }
  return names;
}

/**
 * The new name for the app's port: `http` → `app-http`, shortened to stay a valid IANA service
 * name (≤15 characters) and unique in the pod.
 */
export function takeoverName(name: string, used: ReadonlySet<string>): string {
  const trim = (text: string): string => text.slice(0, 15).replace(/-+$/, '');
  const candidates = [`app-${name}`, `a-${name}`, trim(`app-${name}`), trim(`a-${name}`)];
  for (let suffix = 0; suffix < 100; suffix++) candidates.push(trim(`a${suffix}-${name}`));
  for (const candidate of candidates) {
    if (PORT_NAME.test(candidate) && !used.has(candidate) && candidate !== name) return candidate;
  }
  // Unreachable for real pods (100 suffixes all taken); still a valid, unique-enough name.
  return 'switchyard-app';
}
