// What the injector needs to know about the cluster and the router it injects: one validated,
// frozen object built by control (flags) or `switchyard inject` (flags), never read from globals.

import { ErrorCode, SwitchyardError } from '../api/errors.js';
import type { KubeVersion } from './types.js';

export interface ResourceList {
  readonly cpu?: string;
  readonly memory?: string;
}

export interface InjectConfig {
  /** Image of the router container (`--router-image`). */
  readonly routerImage: string;
  /** URL routers use to reach control (`--control`). */
  readonly controlUrl: string;
  /** API server version: ≥1.29 gets a native sidecar. */
  readonly serverVersion: KubeVersion;
  /** Port the router listens on in the pod; it takes over the app port's name. Default 15001. */
  readonly routerPort: number;
  /** Router admin port (metrics, health). Default 15020. */
  readonly adminPort: number;
  readonly resources: { readonly requests: ResourceList; readonly limits: ResourceList };
  /** Value written to `switchyard.io/injected`. */
  readonly version: string;
}

export const ROUTER_CONTAINER_NAME = 'switchyard-router';
export const DEFAULT_ROUTER_PORT = 15001;
export const DEFAULT_ADMIN_PORT = 15020;
export const DEFAULT_CONTROL_URL = 'https://switchyard-control.switchyard-system.svc:8443';
/**
 * The router's resources. The memory request is what a pod of the image (node 24, jemalloc) holds:
 * 67-71 MB idle after its first requests, ~69 MB at 1000 req/s, ~81 MB after bursts at 50 connections
 * (router/README.md); 96Mi is 100.7 MB. Node sizes its heap limit from the 256Mi limit.
 */
export const DEFAULT_RESOURCES = Object.freeze({
  requests: Object.freeze({ cpu: '50m', memory: '96Mi' }),
  limits: Object.freeze({ memory: '256Mi' }),
});
/** First version with native sidecars (initContainer restartPolicy Always) on by default. */
export const NATIVE_SIDECAR_VERSION: KubeVersion = Object.freeze({ major: 1, minor: 29 });

/** Parses `1.29`, `v1.29.3`, `1.30+` (GKE style) into a KubeVersion. */
export function parseKubeVersion(text: string): KubeVersion {
  const match = /^v?(\d+)\.(\d+)/.exec(text.trim());
  if (!match) {
    throw new SwitchyardError(
      ErrorCode.FlagInvalid,
      `server version ${JSON.stringify(text)}: expected e.g. 1.29 or v1.29.3`,
      {
        field: 'server-version',
      },
    );
  }
  return Object.freeze({ major: Number(match[1]), minor: Number(match[2]) });
}

export function supportsNativeSidecars(version: KubeVersion): boolean {
  return (
    version.major > NATIVE_SIDECAR_VERSION.major ||
    (version.major === NATIVE_SIDECAR_VERSION.major && version.minor >= NATIVE_SIDECAR_VERSION.minor)
  );
}

export function makeInjectConfig(
  input: Partial<InjectConfig> & Pick<InjectConfig, 'routerImage' | 'version'>,
): InjectConfig {
  const port = (value: number, field: string): number => {
    if (!Number.isInteger(value) || value < 1 || value > 65_535) {
      throw new SwitchyardError(ErrorCode.FlagInvalid, `${field}: ${value} — expected a port 1–65535`, {
        field,
      });
    }
    return value;
  };
  if (input.routerImage.trim() === '') {
    throw new SwitchyardError(ErrorCode.FlagInvalid, 'router-image: expected a container image reference', {
      field: 'router-image',
    });
  }
  return Object.freeze({
    routerImage: input.routerImage,
    controlUrl: input.controlUrl ?? DEFAULT_CONTROL_URL,
    serverVersion: input.serverVersion ?? Object.freeze({ major: 1, minor: 29 }),
    routerPort: port(input.routerPort ?? DEFAULT_ROUTER_PORT, 'router-port'),
    adminPort: port(input.adminPort ?? DEFAULT_ADMIN_PORT, 'router-admin-port'),
    resources: input.resources ?? DEFAULT_RESOURCES,
    version: input.version,
  });
}
