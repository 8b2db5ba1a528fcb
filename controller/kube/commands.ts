// Operator commands and status reads over Canary objects — used by the CLI (kubeconfig) and by
// control's API in Kubernetes mode. A command is written to the Canary as the annotation
// `switchyard.io/command: {"nonce":"…","command":{…}}`; the leading controller feeds it to
// `transition`, records `{nonce, accepted, reason}` as `status.lastCommand` in the same status write,
// then removes the annotation. Writers wait for their nonce to appear in the status.

import { randomUUID } from 'node:crypto';
import {
  ApiException,
  type CoreV1Api,
  type CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { CANARY_GROUP, CANARY_PLURAL, CANARY_VERSION, type Command } from '../../api/canary.js';
import { ErrorCode, SwitchyardError, errorMessage } from '../../api/errors.js';
import type { BackendOutcome, RolloutBackend, RolloutEventView, RolloutSummary } from '../api.js';
import { summarize } from '../api.js';
import { type CanaryObject, statusOf } from './canary-object.js';
import { COMMAND_ANNOTATION } from './names.js';

export interface CommandRequest {
  readonly nonce: string;
  readonly command: Command;
}

const COMMAND_TYPES = new Set(['promote', 'abort', 'retry', 'pause', 'resume', 'set-weight']);

/** Parses the command annotation; null when absent or malformed (a malformed one is cleared). */
export function parseCommandAnnotation(text: string | undefined): CommandRequest | null {
  if (text === undefined) return null;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return null;
  }
  const object = json as { nonce?: unknown; command?: { type?: unknown; full?: unknown; weight?: unknown } };
  if (typeof object?.nonce !== 'string' || typeof object.command?.type !== 'string') return null;
  const type = object.command.type;
  if (!COMMAND_TYPES.has(type)) return null;
  if (type === 'promote')
    return { nonce: object.nonce, command: { type, full: object.command.full === true } };
  if (type === 'set-weight') {
    const weight = object.command.weight;
    if (typeof weight !== 'number' || !Number.isInteger(weight) || weight < 0 || weight > 100) return null;
    return { nonce: object.nonce, command: { type, weight } };
  }
  return { nonce: object.nonce, command: { type } as Command };
}

export interface KubeRolloutsOptions {
  readonly custom: CustomObjectsApi;
  readonly core: CoreV1Api;
  readonly now: () => Date;
  /** The namespace of a command given without one, as kubectl: the context's. Default `default`. */
  readonly defaultNamespace?: string;
  /** How long a command waits for the controller to take it. Default 10 s. */
  readonly commandTimeoutMs?: number;
  readonly pollMs?: number;
}

function notFound(namespace: string, name: string): SwitchyardError {
  return new SwitchyardError(
    ErrorCode.NotFound,
    `no rollout ${namespace}/${name}: no Canary object (is the Deployment annotated switchyard.io/canary: "enabled"?)`,
  );
}

function unavailable(error: unknown): SwitchyardError {
  return new SwitchyardError(ErrorCode.Unavailable, `Kubernetes API: ${errorMessage(error)}`, {
    cause: error,
  });
}

/** Rollouts as Canary objects: list/get/events read them, commands go through the annotation. */
export class KubeRollouts {
  readonly #options: KubeRolloutsOptions;

  constructor(options: KubeRolloutsOptions) {
    this.#options = options;
  }

  get defaultNamespace(): string {
    return this.#options.defaultNamespace ?? 'default';
  }

  #summary(object: CanaryObject): RolloutSummary | null {
    const status = statusOf(object);
    if (status === null) return null;
    const summary = summarize(
      object.metadata.namespace,
      object.metadata.name,
      status,
      { steps: status.steps, strategy: status.strategy },
      this.#options.now(),
    );
    const unrouted = status.conditions.find(
      (condition) => condition.type === 'RouterInjected' && condition.status === 'False',
    );
    return unrouted === undefined ? summary : { ...summary, warnings: [unrouted.message] };
  }

  async #read(namespace: string, name: string): Promise<CanaryObject> {
    try {
      return (await this.#options.custom.getNamespacedCustomObject({
        group: CANARY_GROUP,
        version: CANARY_VERSION,
        plural: CANARY_PLURAL,
        namespace,
        name,
      })) as CanaryObject;
    } catch (error) {
      if (error instanceof ApiException && error.code === 404) throw notFound(namespace, name);
      throw unavailable(error);
    }
  }

  async list(namespace: string | null): Promise<readonly RolloutSummary[]> {
    const base = { group: CANARY_GROUP, version: CANARY_VERSION, plural: CANARY_PLURAL };
    let list: { items?: CanaryObject[] };
    try {
      list = (
        namespace === null
          ? await this.#options.custom.listClusterCustomObject(base)
          : await this.#options.custom.listNamespacedCustomObject({ ...base, namespace })
      ) as { items?: CanaryObject[] };
    } catch (error) {
      throw unavailable(error);
    }
    return (list.items ?? [])
      .map((item) => this.#summary(item))
      .filter((item): item is RolloutSummary => item !== null)
      .sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
  }

  async get(namespace: string, name: string): Promise<RolloutSummary> {
    const summary = this.#summary(await this.#read(namespace, name));
    if (summary === null) {
      throw new SwitchyardError(ErrorCode.Unavailable, `rollout ${namespace}/${name} has no status yet`);
    }
    return summary;
  }

  /** Writes the command annotation and waits for the controller's answer in the status. */
  async command(namespace: string, name: string, command: Command): Promise<RolloutSummary> {
    await this.#read(namespace, name);
    const nonce = randomUUID();
    try {
      await this.#options.custom.patchNamespacedCustomObject(
        {
          group: CANARY_GROUP,
          version: CANARY_VERSION,
          plural: CANARY_PLURAL,
          namespace,
          name,
          body: { metadata: { annotations: { [COMMAND_ANNOTATION]: JSON.stringify({ nonce, command }) } } },
        },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
    } catch (error) {
      throw unavailable(error);
    }
    const deadline = Date.now() + (this.#options.commandTimeoutMs ?? 10_000);
    for (;;) {
      const object = await this.#read(namespace, name);
      const status = statusOf(object);
      if (status?.lastCommand?.nonce === nonce) {
        if (!status.lastCommand.accepted) {
          throw new SwitchyardError(
            ErrorCode.CommandRejected,
            status.lastCommand.reason ?? `${command.type} rejected`,
          );
        }
        return this.#summary(object)!;
      }
      if (Date.now() > deadline) {
        throw new SwitchyardError(
          ErrorCode.Unavailable,
          `${command.type} was written to Canary ${namespace}/${name} but no controller took it within ${(this.#options.commandTimeoutMs ?? 10_000) / 1000}s; is switchyard control running (kubectl -n switchyard-system get pods)?`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, this.#options.pollMs ?? 100));
    }
  }

  async events(namespace: string, name: string): Promise<readonly RolloutEventView[]> {
    let list: Awaited<ReturnType<CoreV1Api['listNamespacedEvent']>>;
    try {
      list = await this.#options.core.listNamespacedEvent({
        namespace,
        fieldSelector: `involvedObject.name=${name}`,
      });
    } catch (error) {
      throw unavailable(error);
    }
    return list.items
      .filter(
        (event) =>
          event.source?.component === 'switchyard-control' ||
          event.reportingComponent === 'switchyard-control',
      )
      .map((event) => ({
        at: new Date(
          event.lastTimestamp ?? event.firstTimestamp ?? event.metadata.creationTimestamp ?? 0,
        ).toISOString(),
        type: event.type === 'Warning' ? ('Warning' as const) : ('Normal' as const),
        reason: event.reason ?? '',
        message: event.message ?? '',
      }))
      .sort((a, b) => a.at.localeCompare(b.at));
  }

  async start(): Promise<RolloutSummary> {
    throw new SwitchyardError(
      ErrorCode.NotImplemented,
      'rollout start is file mode only; on Kubernetes, apply the new pod template to the Deployment',
    );
  }
}

/** The operator API's backend in Kubernetes mode: every replica serves it; commands reach the leader via the Canary. */
export function kubeBackend(rollouts: KubeRollouts): RolloutBackend {
  return {
    list: () => rollouts.list(null),
    get: (namespace, name) => rollouts.get(namespace, name),
    events: (namespace, name) => rollouts.events(namespace, name),
    async command(namespace, name, command): Promise<BackendOutcome> {
      try {
        return { accepted: true, rollout: await rollouts.command(namespace, name, command) };
      } catch (error) {
        if (error instanceof SwitchyardError && error.code === ErrorCode.CommandRejected) {
          return { accepted: false, reason: error.message };
        }
        throw error;
      }
    },
  };
}
