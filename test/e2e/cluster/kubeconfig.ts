// Writes the kubeconfig that kubectl and @kubernetes/client-node use to reach the fake cluster.

import { writeFile } from 'node:fs/promises';
import YAML from 'yaml';

export interface KubeconfigInput {
  readonly server: string;
  readonly caPem: string | undefined;
  readonly token: string;
  readonly namespace?: string;
  readonly user?: string;
}

export function renderKubeconfig(input: KubeconfigInput): string {
  const cluster: Record<string, unknown> = { server: input.server };
  if (input.caPem) cluster['certificate-authority-data'] = Buffer.from(input.caPem).toString('base64');
  // client-node refuses http:// servers unless TLS verification is "skipped" (there is none).
  else if (input.server.startsWith('http://')) cluster['insecure-skip-tls-verify'] = true;
  const user = input.user ?? 'admin';
  return YAML.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'fake', cluster }],
    users: [{ name: user, user: { token: input.token } }],
    contexts: [{ name: 'fake', context: { cluster: 'fake', user, namespace: input.namespace ?? 'default' } }],
    'current-context': 'fake',
    preferences: {},
  });
}

export async function writeKubeconfig(path: string, input: KubeconfigInput): Promise<void> {
  await writeFile(path, renderKubeconfig(input), { mode: 0o600 });
}
