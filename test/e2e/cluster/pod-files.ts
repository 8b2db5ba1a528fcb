// What a container sees besides its command: volumes written to a per-pod directory (secret,
// configMap, projected serviceAccountToken/configMap/secret/downwardAPI, emptyDir, hostPath),
// the automounted service-account directory, env (valueFrom fieldRef/secretKeyRef/
// configMapKeyRef, envFrom, $(VAR) expansion), and rewriting of absolute mount paths and
// loopback/any addresses in args and env to the per-pod directory and the pod IP.

import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Api } from './api.js';
import { getPath, isObject, type KubeObject } from './objects.js';
import type { TokenAuthenticator } from './tokens.js';

type Obj = Record<string, unknown>;
const asObj = (value: unknown): Obj => (isObject(value) ? value : {});
const asList = (value: unknown): Obj[] => (Array.isArray(value) ? value.filter(isObject) : []);

export class MissingDependency extends Error {}

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

async function writeAtomic(path: string, content: Buffer | string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temporary = `${path}.tmp-${process.pid}`;
  await writeFile(temporary, content);
  await rename(temporary, path);
}

export interface PodFilesDeps {
  readonly api: Api;
  readonly tokens: TokenAuthenticator;
  readonly caPem: string | undefined;
}

function fieldRef(pod: KubeObject, fieldPath: string): string {
  const labelOrAnnotation = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(fieldPath);
  if (labelOrAnnotation) {
    const map = labelOrAnnotation[1] === 'labels' ? pod.metadata.labels : pod.metadata.annotations;
    return map?.[labelOrAnnotation[2] ?? ''] ?? '';
  }
  if (fieldPath === 'metadata.labels' || fieldPath === 'metadata.annotations') {
    const map = fieldPath === 'metadata.labels' ? pod.metadata.labels : pod.metadata.annotations;
    return Object.entries(map ?? {})
      .map(([key, value]) => `${key}="${value}"`)
      .join('\n');
  }
  if (fieldPath === 'status.podIPs') return String(getPath(pod, ['status', 'podIP']) ?? '');
  const value = getPath(pod, fieldPath.split('.'));
  return value === undefined || value === null ? '' : String(value);
}

export class PodFiles {
  constructor(private readonly deps: PodFilesDeps) {}

  #data(
    kind: 'secrets' | 'configmaps',
    namespace: string,
    name: string,
    optional: boolean,
  ): Record<string, Buffer> | undefined {
    const type = this.deps.api.findType('', 'v1', kind);
    const object = type ? this.deps.api.tryGet(type, namespace, name) : undefined;
    if (!object) {
      if (optional) return undefined;
      throw new MissingDependency(`${kind === 'secrets' ? 'secret' : 'configmap'} "${name}" not found`);
    }
    const result: Record<string, Buffer> = {};
    for (const [key, value] of Object.entries(asObj(object.data))) {
      result[key] = kind === 'secrets' ? Buffer.from(String(value), 'base64') : Buffer.from(String(value));
    }
    for (const [key, value] of Object.entries(asObj(object.binaryData)))
      result[key] = Buffer.from(String(value), 'base64');
    return result;
  }

  async #writeKeys(dir: string, data: Record<string, Buffer> | undefined, items: Obj[]): Promise<void> {
    await mkdir(dir, { recursive: true });
    if (!data) return;
    const entries =
      items.length > 0
        ? items.map((item) => [String(item.key), String(item.path)] as const)
        : Object.keys(data).map((key) => [key, key] as const);
    for (const [key, path] of entries) {
      const content = data[key];
      if (content !== undefined) await writeAtomic(join(dir, path), content);
    }
  }

  /** Writes every volume of `pod` under `podDir/volumes`; returns mountPath → host path per container. */
  async writeVolumes(pod: KubeObject, podDir: string): Promise<Map<string, string>> {
    const namespace = pod.metadata.namespace ?? 'default';
    const spec = asObj(pod.spec);
    const volumeDirs = new Map<string, string>();
    for (const volume of asList(spec.volumes)) {
      const name = String(volume.name);
      const dir = join(podDir, 'volumes', name);
      volumeDirs.set(name, dir);
      if (isObject(volume.secret)) {
        const secret = volume.secret;
        await this.#writeKeys(
          dir,
          this.#data('secrets', namespace, String(secret.secretName), secret.optional === true),
          asList(secret.items),
        );
      } else if (isObject(volume.configMap)) {
        const configMap = volume.configMap;
        await this.#writeKeys(
          dir,
          this.#data('configmaps', namespace, String(configMap.name), configMap.optional === true),
          asList(configMap.items),
        );
      } else if (isObject(volume.projected)) {
        await mkdir(dir, { recursive: true });
        for (const source of asList(volume.projected.sources)) {
          if (isObject(source.serviceAccountToken)) {
            const token = source.serviceAccountToken;
            const audience =
              typeof token.audience === 'string' && token.audience !== '' ? [token.audience] : undefined;
            const jwt = this.deps.tokens.issueServiceAccountToken(
              namespace,
              String(spec.serviceAccountName ?? 'default'),
              audience,
              { name: pod.metadata.name ?? '', uid: pod.metadata.uid ?? '' },
            );
            await writeAtomic(join(dir, String(token.path ?? 'token')), jwt);
          } else if (isObject(source.secret)) {
            await this.#writeKeys(
              dir,
              this.#data('secrets', namespace, String(source.secret.name), source.secret.optional === true),
              asList(source.secret.items),
            );
          } else if (isObject(source.configMap)) {
            await this.#writeKeys(
              dir,
              this.#data(
                'configmaps',
                namespace,
                String(source.configMap.name),
                source.configMap.optional === true,
              ),
              asList(source.configMap.items),
            );
          } else if (isObject(source.downwardAPI)) {
            for (const item of asList(source.downwardAPI.items)) {
              const path = String(item.path);
              const value = isObject(item.fieldRef) ? fieldRef(pod, String(item.fieldRef.fieldPath)) : '';
              await writeAtomic(join(dir, path), value);
            }
          }
        }
      } else if (isObject(volume.downwardAPI)) {
        for (const item of asList(volume.downwardAPI.items)) {
          const value = isObject(item.fieldRef) ? fieldRef(pod, String(item.fieldRef.fieldPath)) : '';
          await writeAtomic(join(dir, String(item.path)), value);
        }
      } else if (isObject(volume.hostPath)) {
        volumeDirs.set(name, String(volume.hostPath.path));
      } else {
        await mkdir(dir, { recursive: true });
      }
    }
    if (spec.automountServiceAccountToken !== false) {
      const dir = join(podDir, 'volumes', '_serviceaccount');
      const token = this.deps.tokens.issueServiceAccountToken(
        namespace,
        String(spec.serviceAccountName ?? 'default'),
        undefined,
        {
          name: pod.metadata.name ?? '',
          uid: pod.metadata.uid ?? '',
        },
      );
      await writeAtomic(join(dir, 'token'), token);
      await writeAtomic(join(dir, 'namespace'), namespace);
      if (this.deps.caPem) await writeAtomic(join(dir, 'ca.crt'), this.deps.caPem);
      volumeDirs.set('_serviceaccount', dir);
    }
    return volumeDirs;
  }

  /** mountPath → host path for one container (the automounted service-account dir included). */
  mounts(container: Obj, volumeDirs: Map<string, string>): Map<string, string> {
    const mounts = new Map<string, string>();
    for (const mount of asList(container.volumeMounts)) {
      const dir = volumeDirs.get(String(mount.name));
      if (!dir) continue;
      mounts.set(
        String(mount.mountPath).replace(/\/+$/, ''),
        mount.subPath ? join(dir, String(mount.subPath)) : dir,
      );
    }
    const serviceAccount = volumeDirs.get('_serviceaccount');
    if (serviceAccount && !mounts.has(SERVICE_ACCOUNT_DIR)) mounts.set(SERVICE_ACCOUNT_DIR, serviceAccount);
    return mounts;
  }

  /** The container's env as Kubernetes computes it (without the harness's own variables). */
  env(pod: KubeObject, container: Obj): Record<string, string> {
    const namespace = pod.metadata.namespace ?? 'default';
    const result: Record<string, string> = {};
    for (const source of asList(container.envFrom)) {
      const prefix = typeof source.prefix === 'string' ? source.prefix : '';
      const ref = isObject(source.configMapRef)
        ? source.configMapRef
        : isObject(source.secretRef)
          ? source.secretRef
          : undefined;
      if (!ref) continue;
      const data = this.#data(
        isObject(source.secretRef) ? 'secrets' : 'configmaps',
        namespace,
        String(ref.name),
        ref.optional === true,
      );
      for (const [key, value] of Object.entries(data ?? {}))
        result[`${prefix}${key}`] = value.toString('utf8');
    }
    for (const entry of asList(container.env)) {
      const name = String(entry.name);
      if (typeof entry.value === 'string') {
        result[name] = expand(entry.value, result);
        continue;
      }
      const from = asObj(entry.valueFrom);
      if (isObject(from.fieldRef)) result[name] = fieldRef(pod, String(from.fieldRef.fieldPath));
      else if (isObject(from.secretKeyRef) || isObject(from.configMapKeyRef)) {
        const ref = (isObject(from.secretKeyRef) ? from.secretKeyRef : from.configMapKeyRef) as Obj;
        const data = this.#data(
          isObject(from.secretKeyRef) ? 'secrets' : 'configmaps',
          namespace,
          String(ref.name),
          ref.optional === true,
        );
        const value = data?.[String(ref.key)];
        if (value !== undefined) result[name] = value.toString('utf8');
        else if (data && ref.optional !== true)
          throw new MissingDependency(`key "${String(ref.key)}" not found in "${String(ref.name)}"`);
      } else if (isObject(from.resourceFieldRef)) result[name] = '0';
      else result[name] = '';
    }
    return result;
  }
}

/** Kubernetes `$(VAR)` expansion; `$$(VAR)` escapes. */
export function expand(value: string, env: Readonly<Record<string, string>>): string {
  return value.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (match, name: string | undefined) => {
    if (match === '$$') return '$';
    return name !== undefined && env[name] !== undefined ? env[name] : match;
  });
}

/** Rewrites what only makes sense inside the pod: mount paths and loopback/any addresses. */
export function rewriteForPod(value: string, mounts: ReadonlyMap<string, string>, podIp: string): string {
  let result = value;
  const sorted = [...mounts].sort((a, b) => b[0].length - a[0].length);
  for (const [mountPath, hostPath] of sorted) {
    const pattern = new RegExp(
      `(^|=|,|\\s)${mountPath.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?=/|$|,|\\s)`,
      'g',
    );
    result = result.replace(pattern, (_match, prefix: string) => `${prefix}${hostPath}`);
  }
  return result
    .replace(
      /(^|[/@=\s,[]|^)(localhost|127\.0\.0\.1|0\.0\.0\.0)(?=[:/\s,]|$)/g,
      (_match, prefix: string) => `${prefix}${podIp}`,
    )
    .replace(/\[::\]|\[::1\]/g, podIp);
}
