// The Deployment and ReplicaSet controllers, simplified from kube-controller-manager: a ReplicaSet
// per pod-template hash (`pod-template-hash` label), rolling updates bounded by maxSurge and
// maxUnavailable, Recreate, `spec.paused` (no new ReplicaSet, scaling only), and the status fields
// and conditions `kubectl rollout status` reads. Pods are created through admission.

import { createHash } from 'node:crypto';
import { type Api, internalContext } from '../api.js';
import { ApiError, canonicalJson, clone, isObject, type KubeObject } from '../objects.js';
import type { ResourceType } from '../resources.js';
import { labelSelectorMatcher } from '../selectors.js';
import type { EventRecorder } from './events.js';

const REVISION = 'deployment.kubernetes.io/revision';
const HASH_LABEL = 'pod-template-hash';

type Obj = Record<string, unknown>;
const asObj = (value: unknown): Obj => (isObject(value) ? value : {});
const num = (value: unknown, fallback = 0): number => (typeof value === 'number' ? value : fallback);

export function podTemplateHash(template: unknown): string {
  const digest = createHash('sha256').update(canonicalJson(template)).digest();
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
  return [...digest.subarray(0, 10)].map((byte) => alphabet[byte % alphabet.length]).join('');
}

function isControlledBy(object: KubeObject, owner: KubeObject): boolean {
  return (object.metadata.ownerReferences ?? []).some(
    (ref) => ref.controller === true && ref.uid === owner.metadata.uid,
  );
}

export function isPodReady(pod: KubeObject): boolean {
  const conditions = Array.isArray(asObj(pod.status).conditions)
    ? (asObj(pod.status).conditions as unknown[])
    : [];
  return conditions.some(
    (condition) => isObject(condition) && condition.type === 'Ready' && condition.status === 'True',
  );
}

function resolveIntOrPercent(value: unknown, total: number, roundUp: boolean): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && value.endsWith('%')) {
    const exact = (Number(value.slice(0, -1)) * total) / 100;
    return roundUp ? Math.ceil(exact) : Math.floor(exact);
  }
  return Number(value ?? 0);
}

function controllerRef(owner: KubeObject) {
  return {
    apiVersion: owner.apiVersion ?? '',
    kind: owner.kind ?? '',
    name: owner.metadata.name ?? '',
    uid: owner.metadata.uid ?? '',
    controller: true,
    blockOwnerDeletion: true,
  };
}

function timestamp(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export class WorkloadControllers {
  readonly #deployments: ResourceType;
  readonly #replicaSets: ResourceType;
  readonly #pods: ResourceType;

  constructor(
    private readonly api: Api,
    private readonly events: EventRecorder,
  ) {
    const find = (group: string, resource: string) => {
      const type = api.findType(group, 'v1', resource);
      if (!type) throw new Error(`fake cluster: type ${group}/${resource} missing`);
      return type;
    };
    this.#deployments = find('apps', 'deployments');
    this.#replicaSets = find('apps', 'replicasets');
    this.#pods = find('', 'pods');
  }

  async reconcileDeployments(): Promise<void> {
    for (const deployment of this.api.list(this.#deployments, undefined).items) {
      if (deployment.metadata.deletionTimestamp) continue;
      await this.#reconcileDeployment(deployment);
    }
  }

  async reconcileReplicaSets(): Promise<void> {
    for (const replicaSet of this.api.list(this.#replicaSets, undefined).items) {
      if (replicaSet.metadata.deletionTimestamp) continue;
      await this.#reconcileReplicaSet(replicaSet);
    }
  }

  async #scale(deployment: KubeObject, replicaSet: KubeObject, replicas: number): Promise<KubeObject> {
    const current = num(asObj(replicaSet.spec).replicas, 1);
    if (current === replicas) return replicaSet;
    const updated = await this.api.update(
      this.#replicaSets,
      replicaSet.metadata.namespace,
      replicaSet.metadata.name ?? '',
      (latest) => {
        latest.spec = { ...asObj(latest.spec), replicas };
        latest.metadata.annotations = {
          ...latest.metadata.annotations,
          'deployment.kubernetes.io/desired-replicas': String(num(asObj(deployment.spec).replicas, 1)),
        };
        return latest;
      },
      internalContext('deployment-controller'),
    );
    await this.events.record(
      deployment,
      'Normal',
      'ScalingReplicaSet',
      `Scaled ${replicas > current ? 'up' : 'down'} replica set ${replicaSet.metadata.name} to ${replicas} from ${current}`,
      'deployment-controller',
    );
    return updated;
  }

  async #reconcileDeployment(deployment: KubeObject): Promise<void> {
    const namespace = deployment.metadata.namespace;
    const spec = asObj(deployment.spec);
    const replicas = num(spec.replicas, 1);
    const paused = spec.paused === true;
    const template = asObj(spec.template);
    const hash = podTemplateHash(template);
    const owned = this.api
      .list(this.#replicaSets, namespace)
      .items.filter(
        (replicaSet) => isControlledBy(replicaSet, deployment) && !replicaSet.metadata.deletionTimestamp,
      );
    const revisionOf = (replicaSet: KubeObject) => Number(replicaSet.metadata.annotations?.[REVISION] ?? 0);
    const maxRevision = Math.max(0, ...owned.map(revisionOf));
    let newRs = owned.find((replicaSet) => replicaSet.metadata.labels?.[HASH_LABEL] === hash);
    if (!newRs && !paused) newRs = await this.#createReplicaSet(deployment, template, hash, maxRevision + 1);
    else if (newRs && !paused && revisionOf(newRs) < maxRevision) {
      newRs = await this.api.update(
        this.#replicaSets,
        namespace,
        newRs.metadata.name ?? '',
        (latest) => {
          latest.metadata.annotations = {
            ...latest.metadata.annotations,
            [REVISION]: String(maxRevision + 1),
          };
          return latest;
        },
        internalContext('deployment-controller'),
      );
    }
    const specReplicas = (replicaSet: KubeObject) => num(asObj(replicaSet.spec).replicas, 1);
    if (paused) {
      const all = [
        ...(newRs ? [newRs] : []),
        ...owned.filter((rs) => rs !== newRs).sort((a, b) => revisionOf(b) - revisionOf(a)),
      ];
      const total = all.reduce((sum, replicaSet) => sum + specReplicas(replicaSet), 0);
      const target = all.find((replicaSet) => specReplicas(replicaSet) > 0) ?? all[0];
      if (target && total !== replicas)
        await this.#scale(deployment, target, Math.max(0, specReplicas(target) + replicas - total));
      await this.#updateDeploymentStatus(deployment, newRs);
      return;
    }
    if (!newRs) return;
    const newUid = newRs.metadata.uid;
    const olds = owned
      .filter((replicaSet) => replicaSet.metadata.uid !== newUid)
      .sort((a, b) => revisionOf(a) - revisionOf(b));
    const available = (replicaSet: KubeObject) => num(asObj(replicaSet.status).availableReplicas);
    const strategy = asObj(spec.strategy);
    if (strategy.type === 'Recreate') {
      for (const old of olds) if (specReplicas(old) > 0) await this.#scale(deployment, old, 0);
      const oldPods = olds.reduce((sum, old) => sum + num(asObj(old.status).replicas), 0);
      if (oldPods === 0) newRs = await this.#scale(deployment, newRs, replicas);
    } else {
      const rolling = asObj(strategy.rollingUpdate);
      const maxSurge = resolveIntOrPercent(rolling.maxSurge ?? '25%', replicas, true);
      let maxUnavailable = resolveIntOrPercent(rolling.maxUnavailable ?? '25%', replicas, false);
      if (maxSurge === 0 && maxUnavailable === 0) maxUnavailable = 1;
      // Scale up the new ReplicaSet within the surge budget.
      const total = [newRs, ...olds].reduce((sum, replicaSet) => sum + specReplicas(replicaSet), 0);
      if (specReplicas(newRs) > replicas) newRs = await this.#scale(deployment, newRs, replicas);
      else if (total < replicas + maxSurge) {
        const target = Math.min(replicas, specReplicas(newRs) + replicas + maxSurge - total);
        if (olds.every((old) => specReplicas(old) === 0))
          newRs = await this.#scale(deployment, newRs, replicas);
        else newRs = await this.#scale(deployment, newRs, target);
      }
      // Scale down old ReplicaSets: unhealthy replicas first, then within the availability budget.
      const minAvailable = replicas - maxUnavailable;
      const allPods = [newRs, ...olds].reduce((sum, replicaSet) => sum + specReplicas(replicaSet), 0);
      const newUnavailable = Math.max(0, specReplicas(newRs) - available(newRs));
      let maxScaledDown = allPods - minAvailable - newUnavailable;
      const remaining: KubeObject[] = [];
      for (const old of olds) {
        let current = old;
        const unhealthy = Math.max(0, specReplicas(old) - available(old));
        const cut = Math.min(maxScaledDown, unhealthy);
        if (cut > 0) {
          current = await this.#scale(deployment, old, specReplicas(old) - cut);
          maxScaledDown -= cut;
        }
        remaining.push(current);
      }
      const availableNow = [newRs, ...remaining].reduce((sum, replicaSet) => sum + available(replicaSet), 0);
      let budget = availableNow - minAvailable;
      for (const old of remaining) {
        if (budget <= 0) break;
        const cut = Math.min(budget, specReplicas(old));
        if (cut > 0) {
          await this.#scale(deployment, old, specReplicas(old) - cut);
          budget -= cut;
        }
      }
    }
    await this.#updateDeploymentStatus(deployment, newRs);
  }

  async #createReplicaSet(
    deployment: KubeObject,
    template: Obj,
    hash: string,
    revision: number,
  ): Promise<KubeObject | undefined> {
    const name = `${deployment.metadata.name}-${hash}`;
    const podTemplate = clone(template);
    const metadata = asObj(podTemplate.metadata);
    metadata.labels = { ...asObj(metadata.labels), [HASH_LABEL]: hash };
    podTemplate.metadata = metadata;
    const selector = clone(asObj(asObj(deployment.spec).selector));
    selector.matchLabels = { ...asObj(selector.matchLabels), [HASH_LABEL]: hash };
    const spec = asObj(deployment.spec);
    const rollingRecreate = asObj(spec.strategy).type === 'Recreate';
    const olds = this.api
      .list(this.#replicaSets, deployment.metadata.namespace)
      .items.filter((replicaSet) => isControlledBy(replicaSet, deployment));
    try {
      const created = await this.api.create(
        this.#replicaSets,
        deployment.metadata.namespace,
        {
          metadata: {
            name,
            namespace: deployment.metadata.namespace,
            labels: { ...(metadata.labels as Record<string, string>) },
            annotations: {
              [REVISION]: String(revision),
              'deployment.kubernetes.io/desired-replicas': String(num(spec.replicas, 1)),
            },
            ownerReferences: [controllerRef(deployment)],
          },
          spec: {
            replicas: olds.length === 0 && !rollingRecreate ? num(spec.replicas, 1) : 0,
            selector,
            template: podTemplate,
          },
        },
        internalContext('deployment-controller'),
      );
      if (num(asObj(created.spec).replicas) > 0) {
        await this.events.record(
          deployment,
          'Normal',
          'ScalingReplicaSet',
          `Scaled up replica set ${name} to ${num(asObj(created.spec).replicas)}`,
          'deployment-controller',
        );
      }
      return created;
    } catch (error) {
      if (error instanceof ApiError && error.code === 409)
        return this.api.tryGet(this.#replicaSets, deployment.metadata.namespace, name);
      throw error;
    }
  }

  async #updateDeploymentStatus(deployment: KubeObject, newRs: KubeObject | undefined): Promise<void> {
    const namespace = deployment.metadata.namespace;
    const name = deployment.metadata.name ?? '';
    const owned = this.api
      .list(this.#replicaSets, namespace)
      .items.filter((replicaSet) => isControlledBy(replicaSet, deployment));
    const status = (replicaSet: KubeObject) => asObj(replicaSet.status);
    const sum = (field: string) =>
      owned.reduce((total, replicaSet) => total + num(status(replicaSet)[field]), 0);
    const spec = asObj(deployment.spec);
    const replicas = num(spec.replicas, 1);
    const total = sum('replicas');
    const newOwned = newRs
      ? owned.find((replicaSet) => replicaSet.metadata.uid === newRs.metadata.uid)
      : undefined;
    const updated = newOwned ? num(status(newOwned).replicas) : 0;
    const availableReplicas = sum('availableReplicas');
    const rolling = asObj(asObj(spec.strategy).rollingUpdate);
    const maxUnavailable =
      asObj(spec.strategy).type === 'Recreate'
        ? 0
        : resolveIntOrPercent(rolling.maxUnavailable ?? '25%', replicas, false);
    const previous = Array.isArray(asObj(deployment.status).conditions)
      ? (asObj(deployment.status).conditions as unknown[]).filter(isObject)
      : [];
    const condition = (type: string, value: string, reason: string, message: string) => {
      const before = previous.find((entry) => entry.type === type);
      const now = timestamp();
      return {
        type,
        status: value,
        lastUpdateTime:
          before && before.reason === reason && before.status === value ? before.lastUpdateTime : now,
        lastTransitionTime: before && before.status === value ? before.lastTransitionTime : now,
        reason,
        message,
      };
    };
    const complete = updated === replicas && total === replicas && availableReplicas >= replicas;
    const minimum = availableReplicas >= replicas - maxUnavailable;
    const revision = newRs?.metadata.annotations?.[REVISION];
    const newName = newRs?.metadata.name ?? '';
    const next = {
      observedGeneration: deployment.metadata.generation,
      replicas: total,
      updatedReplicas: updated,
      readyReplicas: sum('readyReplicas'),
      availableReplicas,
      unavailableReplicas: Math.max(0, Math.max(total, replicas) - availableReplicas),
      conditions: [
        condition(
          'Available',
          minimum ? 'True' : 'False',
          minimum ? 'MinimumReplicasAvailable' : 'MinimumReplicasUnavailable',
          minimum ? 'Deployment has minimum availability.' : 'Deployment does not have minimum availability.',
        ),
        spec.paused === true
          ? condition('Progressing', 'Unknown', 'DeploymentPaused', 'Deployment is paused')
          : complete
            ? condition(
                'Progressing',
                'True',
                'NewReplicaSetAvailable',
                `ReplicaSet "${newName}" has successfully progressed.`,
              )
            : condition(
                'Progressing',
                'True',
                'ReplicaSetUpdated',
                `ReplicaSet "${newName}" is progressing.`,
              ),
      ],
    };
    const context = internalContext('deployment-controller');
    if (revision && deployment.metadata.annotations?.[REVISION] !== revision) {
      await this.api.update(
        this.#deployments,
        namespace,
        name,
        (latest) => {
          latest.metadata.annotations = { ...latest.metadata.annotations, [REVISION]: revision };
          return latest;
        },
        context,
      );
    }
    const latest = this.api.tryGet(this.#deployments, namespace, name);
    if (!latest) return;
    const strip = (value: unknown) =>
      JSON.stringify(value, (key, inner) => (key === 'lastUpdateTime' ? undefined : inner));
    if (strip(latest.status) === strip(next)) return;
    next.observedGeneration = latest.metadata.generation;
    await this.api.update(
      this.#deployments,
      namespace,
      name,
      (current) => ({ ...current, status: next }),
      context,
      'status',
    );
  }

  async #reconcileReplicaSet(replicaSet: KubeObject): Promise<void> {
    const namespace = replicaSet.metadata.namespace;
    const spec = asObj(replicaSet.spec);
    const selector = labelSelectorMatcher(spec.selector);
    const pods = this.api
      .list(this.#pods, namespace)
      .items.filter((pod) => isControlledBy(pod, replicaSet) && selector(pod.metadata.labels ?? {}));
    const phase = (pod: KubeObject) => String(asObj(pod.status).phase ?? '');
    const active = pods.filter(
      (pod) => !pod.metadata.deletionTimestamp && !['Succeeded', 'Failed'].includes(phase(pod)),
    );
    const wanted = num(spec.replicas, 1);
    const context = internalContext('replicaset-controller');
    if (active.length < wanted) {
      const template = asObj(spec.template);
      const metadata = asObj(template.metadata);
      for (let index = active.length; index < Math.min(wanted, active.length + 10); index++) {
        try {
          const pod = await this.api.create(
            this.#pods,
            namespace,
            {
              metadata: {
                generateName: `${replicaSet.metadata.name}-`,
                namespace,
                labels: { ...(asObj(metadata.labels) as Record<string, string>) },
                annotations: { ...(asObj(metadata.annotations) as Record<string, string>) },
                ownerReferences: [controllerRef(replicaSet)],
              },
              spec: clone(asObj(template.spec)),
            },
            context,
          );
          active.push(pod);
          await this.events.record(
            replicaSet,
            'Normal',
            'SuccessfulCreate',
            `Created pod: ${pod.metadata.name}`,
            'replicaset-controller',
          );
        } catch (error) {
          const message = error instanceof Error ? error.message : String(error);
          await this.events.record(
            replicaSet,
            'Warning',
            'FailedCreate',
            `Error creating: ${message}`,
            'replicaset-controller',
          );
          break;
        }
      }
    } else if (active.length > wanted) {
      const victims = [...active]
        .sort((a, b) => {
          const readiness = Number(isPodReady(a)) - Number(isPodReady(b));
          if (readiness !== 0) return readiness;
          return String(b.metadata.creationTimestamp).localeCompare(String(a.metadata.creationTimestamp));
        })
        .slice(0, active.length - wanted);
      for (const pod of victims) {
        try {
          await this.api.delete(this.#pods, namespace, pod.metadata.name ?? '', {}, context);
          await this.events.record(
            replicaSet,
            'Normal',
            'SuccessfulDelete',
            `Deleted pod: ${pod.metadata.name}`,
            'replicaset-controller',
          );
        } catch (error) {
          if (!(error instanceof ApiError && error.code === 404)) throw error;
        }
      }
    }
    const current = this.api
      .list(this.#pods, namespace)
      .items.filter(
        (pod) =>
          isControlledBy(pod, replicaSet) &&
          !pod.metadata.deletionTimestamp &&
          !['Succeeded', 'Failed'].includes(phase(pod)),
      );
    const ready = current.filter(isPodReady).length;
    const next = {
      replicas: current.length,
      fullyLabeledReplicas: current.length,
      readyReplicas: ready,
      availableReplicas: ready,
      observedGeneration: replicaSet.metadata.generation,
    };
    const latest = this.api.tryGet(this.#replicaSets, namespace, replicaSet.metadata.name ?? '');
    if (!latest || JSON.stringify(latest.status) === JSON.stringify(next)) return;
    await this.api.update(
      this.#replicaSets,
      namespace,
      replicaSet.metadata.name ?? '',
      (object) => ({ ...object, status: next }),
      context,
      'status',
    );
  }
}
