// Image → command conventions of the fake kubelet (there is no container runtime: a container is a
// local process chosen by its image). Defaults:
// - `switchyard*` (any tag): `node <repo>/bin/switchyard.js <command minus a leading switchyard/node
//   binary> <args>` — e.g. the injected router or control.
// - `shop*:<tag>`: `node <repo>/bin/switchyard.js shop-app`, version from the tag, listening on
//   the pod IP and the container's first port (SHOP_LISTEN; 8080 when no port is declared):
//     shop:v1 healthy · shop:v2 healthy v2 · shop:v2-errors20 → 20 % of requests answer 500 ·
//     shop:v2-slow100 → 100 ms added to every response (suffixes combine: v3-errors5-slow50).
// - `greeter*:<tag>`: the gRPC app fixtures/greeter.mjs on the pod IP and the first port (50051
//   when none is declared); version, `-errorsN` and `-slowN` from the tag, as for the shop.
// - `chat*:<tag>`: the WebSocket app fixtures/chat.mjs on the pod IP and the first port (8080 when
//   none is declared); the version from the tag.
// Rules given to startFakeCluster() are tried before these.

import { basename, join } from 'node:path';
import { isObject } from './objects.js';

export interface ContainerSpec {
  readonly name: string;
  readonly image: string;
  readonly command?: readonly string[];
  readonly args?: readonly string[];
  readonly ports?: readonly { name?: string; containerPort: number }[];
}

export interface ImageContext {
  readonly image: string;
  readonly container: ContainerSpec;
  readonly podIp: string;
  readonly repoRoot: string;
}

export interface ImageCommand {
  /** argv[0] is the executable (absolute path or on PATH). */
  readonly argv: readonly string[];
  /** Defaults for the environment; the container's own env wins. */
  readonly env?: Readonly<Record<string, string>>;
}

export interface ImageRule {
  readonly match: (image: string) => boolean;
  readonly command: (context: ImageContext) => ImageCommand;
}

function imageName(image: string): { name: string; tag: string } {
  const withoutDigest = image.split('@')[0] ?? image;
  const slash = withoutDigest.lastIndexOf('/');
  const colon = withoutDigest.lastIndexOf(':');
  const tag = colon > slash ? withoutDigest.slice(colon + 1) : 'latest';
  const path = colon > slash ? withoutDigest.slice(0, colon) : withoutDigest;
  return { name: path.slice(slash + 1), tag };
}

function cliPath(repoRoot: string): string {
  return join(repoRoot, 'bin', 'switchyard.js');
}

const isBinary = (entry: string) => ['switchyard', 'node', 'switchyard.js'].includes(basename(entry));

/** `v2-errors20-slow100` → version v2, errorRate 0.2, latency 100 ms. */
export function parseShopTag(tag: string): { version: string; errorRate: number; latencyMs: number } {
  const [version = 'v1', ...suffixes] = tag.split('-');
  let errorRate = 0;
  let latencyMs = 0;
  for (const suffix of suffixes) {
    const errors = /^errors(\d+)$/.exec(suffix);
    const slow = /^slow(\d+)$/.exec(suffix);
    if (errors) errorRate = Number(errors[1]) / 100;
    else if (slow) latencyMs = Number(slow[1]);
  }
  return { version, errorRate, latencyMs };
}

export const DEFAULT_IMAGE_RULES: readonly ImageRule[] = [
  {
    match: (image) => imageName(image).name.startsWith('switchyard'),
    command: ({ container, repoRoot }) => {
      const command = [...(container.command ?? [])];
      while (command.length > 0 && isBinary(command[0] ?? '')) command.shift();
      return { argv: [process.execPath, cliPath(repoRoot), ...command, ...(container.args ?? [])] };
    },
  },
  {
    match: (image) => imageName(image).name.startsWith('shop'),
    command: ({ image, container, podIp, repoRoot }) => {
      const { version, errorRate, latencyMs } = parseShopTag(imageName(image).tag);
      const port = (container.ports ?? []).find((entry) => isObject(entry))?.containerPort ?? 8080;
      return {
        argv: [process.execPath, cliPath(repoRoot), 'shop-app', ...(container.args ?? [])],
        env: {
          SHOP_LISTEN: `${podIp}:${port}`,
          SHOP_VERSION: version,
          SHOP_ERROR_RATE: String(errorRate),
          SHOP_LATENCY: `${latencyMs}ms`,
        },
      };
    },
  },
  {
    match: (image) => imageName(image).name.startsWith('greeter'),
    command: ({ image, container, podIp, repoRoot }) => {
      const { version, errorRate, latencyMs } = parseShopTag(imageName(image).tag);
      const port = (container.ports ?? []).find((entry) => isObject(entry))?.containerPort ?? 50051;
      return {
        argv: [process.execPath, join(repoRoot, 'test', 'e2e', 'cluster', 'fixtures', 'greeter.mjs')],
        env: {
          GREETER_LISTEN: `${podIp}:${port}`,
          GREETER_VERSION: version,
          GREETER_ERROR_RATE: String(errorRate),
          GREETER_LATENCY_MS: String(latencyMs),
        },
      };
    },
  },
  {
    match: (image) => imageName(image).name.startsWith('chat'),
    command: ({ image, container, podIp, repoRoot }) => {
      const port = (container.ports ?? []).find((entry) => isObject(entry))?.containerPort ?? 8080;
      return {
        argv: [process.execPath, join(repoRoot, 'test', 'e2e', 'cluster', 'fixtures', 'chat.mjs')],
        env: { CHAT_LISTEN: `${podIp}:${port}`, CHAT_VERSION: parseShopTag(imageName(image).tag).version },
      };
    },
  },
];
