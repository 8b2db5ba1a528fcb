// `switchyard inject -f file.yaml [-f -]`: offline injection through the webhook's own code path
// (like `istioctl kube-inject`). Prints the mutated YAML on stdout, warnings on stderr.

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ErrorCode, SwitchyardError, errorMessage } from '../api/errors.js';
import { VERSION } from '../api/version.js';
import { DEFAULT_CONTROLLER_USERNAME } from '../webhook/admit.js';
import { DEFAULT_CONTROL_URL, makeInjectConfig, parseKubeVersion } from '../webhook/config.js';
import { injectManifests } from '../webhook/manifests.js';

export const DEFAULT_ROUTER_IMAGE = `ghcr.io/switchyard/switchyard:${VERSION}`;

function usage(): string {
  return [
    'Usage: switchyard inject -f FILE [-f FILE ...] [flags]',
    '',
    'Reads Pods, Deployments, Lists and multi-document YAML or JSON (-f - reads stdin), injects the',
    'router exactly as the admission webhook would, and prints YAML. Objects that are not opted in',
    '(Deployments without switchyard.io/canary: enabled, Pods without switchyard.io/inject=true) pass',
    'through unchanged.',
    '',
    'Flags:',
    `  -f, --filename <path>       input file, repeatable; "-" for stdin`,
    `  --router-image <image>      router image (default ${DEFAULT_ROUTER_IMAGE})`,
    `  --control-url <url>         control URL the router uses (default ${DEFAULT_CONTROL_URL})`,
    '  --server-version <x.y>      Kubernetes version to inject for; ≥1.29 uses a native sidecar (default 1.29)',
    '  --namespace <name>          namespace for objects that set none (default "default")',
    '',
  ].join('\n');
}

function readSource(path: string): string {
  try {
    return path === '-' ? readFileSync(0, 'utf8') : readFileSync(path, 'utf8');
  } catch (error) {
    throw new SwitchyardError(ErrorCode.DocumentInvalid, `${path}: cannot read (${errorMessage(error)})`, {
      field: path,
      cause: error,
    });
  }
}

export async function main(argv: string[]): Promise<number> {
  let values: ReturnType<typeof parse>['values'];
  function parse(args: string[]) {
    return parseArgs({
      args,
      options: {
        filename: { type: 'string', short: 'f', multiple: true },
        'router-image': { type: 'string' },
        'control-url': { type: 'string' },
        'server-version': { type: 'string' },
        namespace: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: false,
    });
  }
  try {
    values = parse(argv).values;
  } catch (error) {
    throw new SwitchyardError(ErrorCode.FlagInvalid, `inject: ${errorMessage(error)}\n\n${usage()}`);
  }
  if (values.help) {
    process.stdout.write(usage());
    return 0;
  }
  const files = values.filename ?? [];
  if (files.length === 0)
    throw new SwitchyardError(ErrorCode.FlagInvalid, `inject: -f FILE is required\n\n${usage()}`);
  const options = {
    inject: makeInjectConfig({
      routerImage: values['router-image'] ?? DEFAULT_ROUTER_IMAGE,
      controlUrl: values['control-url'] ?? DEFAULT_CONTROL_URL,
      serverVersion: parseKubeVersion(values['server-version'] ?? '1.29'),
      version: VERSION,
    }),
    controllerUsernames: [DEFAULT_CONTROLLER_USERNAME],
    namespace: values.namespace ?? 'default',
  };
  const documents: string[] = [];
  for (const file of files) {
    const result = injectManifests(readSource(file), file === '-' ? '<stdin>' : file, options);
    for (const warning of result.warnings) process.stderr.write(`switchyard inject: warning: ${warning}\n`);
    documents.push(...result.documents);
  }
  const body = documents.map((document) => document.replace(/^---[ \t]*\n/, '')).join('---\n');
  process.stdout.write(body);
  return 0;
}
