// Defaulting applied on create/update, as the real API server's registry strategies do for the
// fields our controllers and clients read (replicas, strategy, clusterIP, pod phase, ...).

import { isObject, type KubeObject } from './objects.js';

type Mutable = Record<string, unknown>;

function obj(parent: Mutable, key: string): Mutable {
  const existing = parent[key];
  if (isObject(existing)) return existing;
  const created: Mutable = {};
  parent[key] = created;
  return created;
}

function list(parent: Mutable, key: string): Mutable[] {
  const existing = parent[key];
  return Array.isArray(existing) ? existing.filter(isObject) : [];
}

export function defaultPodSpec(spec: Mutable): void {
  spec.restartPolicy ??= 'Always';
  spec.terminationGracePeriodSeconds ??= 30;
  spec.dnsPolicy ??= 'ClusterFirst';
  spec.serviceAccountName ??= (spec.serviceAccount as string | undefined) ?? 'default';
  spec.schedulerName ??= 'default-scheduler';
  spec.securityContext ??= {};
  for (const container of [...list(spec, 'initContainers'), ...list(spec, 'containers')]) {
    container.imagePullPolicy ??= 'IfNotPresent';
    container.terminationMessagePath ??= '/dev/termination-log';
    container.terminationMessagePolicy ??= 'File';
    container.resources ??= {};
    for (const port of list(container, 'ports')) port.protocol ??= 'TCP';
  }
}

function defaultDeployment(object: KubeObject): void {
  const spec = obj(object as Mutable, 'spec');
  spec.replicas ??= 1;
  spec.revisionHistoryLimit ??= 10;
  spec.progressDeadlineSeconds ??= 600;
  const strategy = obj(spec, 'strategy');
  strategy.type ??= 'RollingUpdate';
  if (strategy.type === 'RollingUpdate') {
    const rolling = obj(strategy, 'rollingUpdate');
    rolling.maxSurge ??= '25%';
    rolling.maxUnavailable ??= '25%';
  }
  const template = obj(spec, 'template');
  defaultPodSpec(obj(template, 'spec'));
}

export function applyDefaults(typeKey: string, object: KubeObject, allocateClusterIp: () => string): void {
  const target = object as Mutable;
  switch (typeKey) {
    case '/namespaces': {
      object.metadata.labels = {
        ...object.metadata.labels,
        'kubernetes.io/metadata.name': object.metadata.name ?? '',
      };
      obj(target, 'spec').finalizers ??= ['kubernetes'];
      obj(target, 'status').phase ??= 'Active';
      break;
    }
    case '/pods': {
      const spec = obj(target, 'spec');
      defaultPodSpec(spec);
      spec.nodeName ??= 'fake-node';
      const status = obj(target, 'status');
      status.phase ??= 'Pending';
      status.qosClass ??= 'BestEffort';
      break;
    }
    case '/services': {
      const spec = obj(target, 'spec');
      spec.type ??= 'ClusterIP';
      spec.sessionAffinity ??= 'None';
      if (spec.clusterIP === undefined || spec.clusterIP === '') spec.clusterIP = allocateClusterIp();
      if (spec.clusterIP !== 'None') spec.clusterIPs ??= [spec.clusterIP];
      for (const port of list(spec, 'ports')) {
        port.protocol ??= 'TCP';
        port.targetPort ??= port.port;
      }
      break;
    }
    case 'apps/deployments':
      defaultDeployment(object);
      break;
    case 'apps/replicasets': {
      const spec = obj(target, 'spec');
      spec.replicas ??= 1;
      defaultPodSpec(obj(obj(spec, 'template'), 'spec'));
      break;
    }
    case '/secrets': {
      target.type ??= 'Opaque';
      if (isObject(target.stringData)) {
        const data = obj(target, 'data');
        for (const [key, value] of Object.entries(target.stringData)) {
          data[key] = Buffer.from(String(value)).toString('base64');
        }
        delete target.stringData;
      }
      break;
    }
    case 'admissionregistration.k8s.io/mutatingwebhookconfigurations': {
      for (const webhook of list(target, 'webhooks')) {
        webhook.failurePolicy ??= 'Fail';
        webhook.matchPolicy ??= 'Equivalent';
        webhook.timeoutSeconds ??= 10;
        webhook.reinvocationPolicy ??= 'Never';
        webhook.namespaceSelector ??= {};
        webhook.objectSelector ??= {};
      }
      break;
    }
    default:
      break;
  }
}
