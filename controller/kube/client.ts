// Builds the Kubernetes rollout client the CLI uses: kubeconfig (KUBECONFIG, ~/.kube/config or
// in-cluster, or an explicit path) and an optional context, like kubectl.

import { CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { ErrorCode, SwitchyardError, errorMessage } from '../../api/errors.js';
import { KubeRollouts } from './commands.js';

export interface KubeClientOptions {
  /** Path of a kubeconfig; null = KUBECONFIG, ~/.kube/config, or the in-cluster service account. */
  readonly kubeconfig: string | null;
  readonly context: string | null;
}

export function loadKubeConfig(options: KubeClientOptions): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (options.kubeconfig !== null) kc.loadFromFile(options.kubeconfig);
    else kc.loadFromDefault();
  } catch (error) {
    throw new SwitchyardError(
      ErrorCode.FlagInvalid,
      `--kubeconfig: cannot load ${options.kubeconfig ?? 'the default kubeconfig'}: ${errorMessage(error)}`,
      { field: '--kubeconfig', cause: error },
    );
  }
  if (options.context !== null) {
    if (!kc.getContexts().some((context) => context.name === options.context)) {
      throw new SwitchyardError(
        ErrorCode.FlagInvalid,
        `--context: "${options.context}" is not in the kubeconfig (contexts: ${kc
          .getContexts()
          .map((context) => context.name)
          .join(', ')})`,
        { field: '--context' },
      );
    }
    kc.setCurrentContext(options.context);
  }
  if (kc.getCurrentCluster() === null) {
    throw new SwitchyardError(
      ErrorCode.FlagInvalid,
      'no Kubernetes cluster configured: set KUBECONFIG or --kubeconfig (or pass --control URL for file mode)',
      { field: '--kubeconfig' },
    );
  }
  return kc;
}

/** The namespace of the kubeconfig's current context, or `default`. */
export function contextNamespace(kc: KubeConfig): string {
  return kc.getContextObject(kc.getCurrentContext())?.namespace || 'default';
}

export function kubeRolloutClient(options: KubeClientOptions): KubeRollouts {
  const kc = loadKubeConfig(options);
  return new KubeRollouts({
    custom: kc.makeApiClient(CustomObjectsApi),
    core: kc.makeApiClient(CoreV1Api),
    now: () => new Date(),
    defaultNamespace: contextNamespace(kc),
  });
}
