// Mutating admission as kube-apiserver does it: for each MutatingWebhookConfiguration webhook whose
// rules, namespaceSelector and objectSelector match, POST an AdmissionReview v1 over HTTPS
// (trusting only `caBundle`), apply the returned JSONPatch, honour denials, warnings,
// failurePolicy, timeoutSeconds, sideEffects on dryRun and reinvocationPolicy IfNeeded.
// matchConditions are evaluated with a small CEL subset (cel.ts); an expression outside it counts
// as matching (logged).

import { randomUUID } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import type { AdmissionAttributes, Admit, Api } from './api.js';
import { ApiError, clone, isObject, type KubeObject } from './objects.js';
import { CelUnsupported, evaluateCondition } from './cel.js';
import { applyJsonPatch } from './patch.js';
import { labelSelectorMatcher } from './selectors.js';

export interface Endpoint {
  readonly host: string;
  readonly port: number;
}

export interface AdmissionDeps {
  readonly api: Api;
  /** A ready endpoint behind Service `namespace/name` port `port`, or undefined. */
  readonly resolveService: (namespace: string, name: string, port: number) => Endpoint | undefined;
  readonly log: (line: string) => void;
}

interface Webhook {
  name: string;
  clientConfig: {
    url?: string;
    caBundle?: string;
    service?: { namespace: string; name: string; path?: string; port?: number };
  };
  rules?: {
    operations?: string[];
    apiGroups?: string[];
    apiVersions?: string[];
    resources?: string[];
    scope?: string;
  }[];
  failurePolicy?: string;
  namespaceSelector?: unknown;
  objectSelector?: unknown;
  sideEffects?: string;
  timeoutSeconds?: number;
  reinvocationPolicy?: string;
  admissionReviewVersions?: string[];
  matchConditions?: { name: string; expression: string }[];
}

function matchesList(list: readonly string[] | undefined, value: string): boolean {
  return (list ?? []).some((entry) => entry === '*' || entry === value);
}

function matchesResource(
  patterns: readonly string[] | undefined,
  resource: string,
  subresource: string,
): boolean {
  const full = subresource ? `${resource}/${subresource}` : resource;
  return (patterns ?? []).some((pattern) => {
    if (pattern === '*/*') return true;
    if (pattern === full) return true;
    if (pattern === '*') return subresource === '';
    const [patternResource, patternSub] = pattern.split('/');
    if (patternResource === '*' && patternSub === subresource) return true;
    return patternResource === resource && patternSub === '*' && subresource !== '';
  });
}

function ruleMatches(webhook: Webhook, attributes: AdmissionAttributes): boolean {
  const { type } = attributes;
  return (webhook.rules ?? []).some((rule) => {
    if (!matchesList(rule.operations, attributes.operation)) return false;
    if (!matchesList(rule.apiGroups, type.group)) return false;
    if (!matchesList(rule.apiVersions, type.version)) return false;
    if (!matchesResource(rule.resources, type.resource, attributes.subresource)) return false;
    const scope = rule.scope ?? '*';
    if (scope === 'Namespaced' && !type.namespaced) return false;
    if (scope === 'Cluster' && type.namespaced) return false;
    return true;
  });
}

function deniedError(name: string, status: Record<string, unknown>): ApiError {
  const deniedBy = `admission webhook "${name}" denied the request`;
  const code = typeof status.code === 'number' && status.code >= 400 ? status.code : 400;
  const message =
    typeof status.message === 'string' && status.message !== ''
      ? `${deniedBy}: ${status.message}`
      : typeof status.reason === 'string' && status.reason !== ''
        ? `${deniedBy}: ${status.reason}`
        : `${deniedBy} without explanation`;
  return new ApiError(code, typeof status.reason === 'string' ? status.reason : '', message);
}

function post(
  url: URL,
  ca: string | undefined,
  servername: string | undefined,
  body: string,
  timeoutMs: number,
) {
  return new Promise<string>((resolve, reject) => {
    const request = httpsRequest(
      url,
      {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json',
          'content-length': Buffer.byteLength(body),
        },
        ...(ca ? { ca } : {}),
        ...(servername ? { servername } : {}),
        timeout: timeoutMs,
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if (response.statusCode !== 200)
            reject(
              new Error(`expected response code 200, got ${response.statusCode}: ${text.slice(0, 200)}`),
            );
          else resolve(text);
        });
        response.on('error', reject);
      },
    );
    request.on('timeout', () =>
      request.destroy(new Error(`context deadline exceeded (timeout ${timeoutMs} ms)`)),
    );
    request.on('error', reject);
    request.end(body);
  });
}

export function createAdmission(deps: AdmissionDeps): Admit {
  const { api } = deps;
  const webhookType = api.findType('admissionregistration.k8s.io', 'v1', 'mutatingwebhookconfigurations');
  const namespaceType = api.findType('', 'v1', 'namespaces');

  const namespaceLabels = (attributes: AdmissionAttributes): Record<string, string> => {
    if (attributes.type.resource === 'namespaces' && attributes.type.group === '') {
      return attributes.object.metadata.labels ?? {};
    }
    if (!attributes.namespace || !namespaceType) return {};
    return api.tryGet(namespaceType, undefined, attributes.namespace)?.metadata.labels ?? {};
  };

  const matches = (webhook: Webhook, attributes: AdmissionAttributes): boolean => {
    if (!ruleMatches(webhook, attributes)) return false;
    if (attributes.type.namespaced || attributes.type.resource === 'namespaces') {
      if (!labelSelectorMatcher(webhook.namespaceSelector)(namespaceLabels(attributes))) return false;
    }
    const objectLabels = attributes.object.metadata.labels ?? attributes.oldObject?.metadata.labels ?? {};
    if (!labelSelectorMatcher(webhook.objectSelector)(objectLabels)) return false;
    return conditionsMatch(webhook, attributes);
  };

  const conditionsMatch = (webhook: Webhook, attributes: AdmissionAttributes): boolean => {
    const { type } = attributes;
    const scope = {
      object: attributes.object,
      oldObject: attributes.oldObject ?? null,
      request: {
        kind: { group: type.group, version: type.version, kind: type.kind },
        resource: { group: type.group, version: type.version, resource: type.resource },
        subResource: attributes.subresource,
        name: attributes.name,
        namespace: attributes.namespace ?? '',
        operation: attributes.operation,
        userInfo: attributes.context.user,
        dryRun: attributes.context.dryRun,
      },
    };
    let failure: string | undefined;
    for (const condition of webhook.matchConditions ?? []) {
      try {
        if (!evaluateCondition(condition.expression, scope)) return false;
      } catch (error) {
        if (error instanceof CelUnsupported) {
          deps.log(
            `admission: matchCondition "${condition.name}" of "${webhook.name}" is outside the CEL subset, treated as true: ${error.message}`,
          );
        } else
          failure ??= `matchCondition "${condition.name}": ${error instanceof Error ? error.message : String(error)}`;
      }
    }
    if (failure === undefined) return true;
    if (webhook.failurePolicy === 'Ignore') return false;
    throw new ApiError(
      500,
      'InternalError',
      `Internal error occurred: failed calling webhook "${webhook.name}": ${failure}`,
    );
  };

  const call = async (
    webhook: Webhook,
    attributes: AdmissionAttributes,
    object: KubeObject,
  ): Promise<KubeObject> => {
    const { type, context } = attributes;
    if (context.dryRun && !['None', 'NoneOnDryRun'].includes(webhook.sideEffects ?? 'Unknown')) {
      throw new ApiError(400, 'BadRequest', `admission webhook "${webhook.name}" does not support dry run`);
    }
    let url: URL;
    let servername: string | undefined;
    if (webhook.clientConfig.url) {
      url = new URL(webhook.clientConfig.url);
    } else if (webhook.clientConfig.service) {
      const service = webhook.clientConfig.service;
      const port = service.port ?? 443;
      const endpoint = deps.resolveService(service.namespace, service.name, port);
      servername = `${service.name}.${service.namespace}.svc`;
      url = new URL(
        `https://${endpoint ? `${endpoint.host}:${endpoint.port}` : `${servername}:${port}`}${service.path ?? '/'}`,
      );
      if (!endpoint) {
        return failed(
          webhook,
          object,
          new Error(`service "${service.namespace}/${service.name}" has no ready endpoints`),
          url,
        );
      }
    } else {
      return failed(webhook, object, new Error('clientConfig has neither url nor service'), undefined);
    }
    const ca = webhook.clientConfig.caBundle
      ? Buffer.from(webhook.clientConfig.caBundle, 'base64').toString('utf8')
      : undefined;
    const uid = randomUUID();
    const review = {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: {
        uid,
        kind: { group: type.group, version: type.version, kind: type.kind },
        resource: { group: type.group, version: type.version, resource: type.resource },
        ...(attributes.subresource ? { subResource: attributes.subresource } : {}),
        requestKind: { group: type.group, version: type.version, kind: type.kind },
        requestResource: { group: type.group, version: type.version, resource: type.resource },
        name: attributes.name,
        ...(attributes.namespace ? { namespace: attributes.namespace } : {}),
        operation: attributes.operation,
        userInfo: context.user,
        object,
        oldObject: attributes.oldObject ?? null,
        dryRun: context.dryRun,
        options:
          attributes.operation === 'CREATE'
            ? { kind: 'CreateOptions', apiVersion: 'meta.k8s.io/v1' }
            : { kind: 'UpdateOptions', apiVersion: 'meta.k8s.io/v1' },
      },
    };
    let text: string;
    try {
      text = await post(url, ca, servername, JSON.stringify(review), (webhook.timeoutSeconds ?? 10) * 1000);
    } catch (error) {
      return failed(webhook, object, error, url);
    }
    let response: Record<string, unknown>;
    try {
      const parsed = JSON.parse(text) as unknown;
      if (!isObject(parsed) || !isObject(parsed.response))
        throw new Error('response has no "response" field');
      response = parsed.response;
      if (response.uid !== uid)
        throw new Error(`expected response.uid="${uid}", got "${String(response.uid)}"`);
    } catch (error) {
      return failed(webhook, object, error, url);
    }
    if (Array.isArray(response.warnings)) context.warnings.push(...response.warnings.map(String));
    if (response.allowed !== true)
      throw deniedError(webhook.name, isObject(response.status) ? response.status : {});
    if (typeof response.patch === 'string' && response.patch !== '') {
      if (response.patchType !== 'JSONPatch') {
        return failed(webhook, object, new Error(`unsupported patchType ${String(response.patchType)}`), url);
      }
      const operations = JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8')) as unknown;
      return applyJsonPatch(object, operations);
    }
    return object;
  };

  const failed = (webhook: Webhook, object: KubeObject, error: unknown, url: URL | undefined) => {
    const reason = error instanceof Error ? error.message : String(error);
    if (webhook.failurePolicy === 'Ignore') {
      deps.log(`admission: webhook "${webhook.name}" failed, ignored (failurePolicy Ignore): ${reason}`);
      return object;
    }
    throw new ApiError(
      500,
      'InternalError',
      `Internal error occurred: failed calling webhook "${webhook.name}": failed to call webhook: Post "${url?.toString() ?? ''}": ${reason}`,
    );
  };

  return async (attributes) => {
    if (attributes.operation === 'DELETE' || !webhookType) return attributes.object;
    const configurations = api.list(webhookType, undefined).items;
    const webhooks = configurations.flatMap((configuration) =>
      (Array.isArray(configuration.webhooks) ? configuration.webhooks : [])
        .filter(isObject)
        .map((hook) => hook as unknown as Webhook),
    );
    let object = clone(attributes.object);
    const invokedAt = new Map<Webhook, number>();
    let lastChange = -1;
    let step = 0;
    for (const webhook of webhooks) {
      if (!matches(webhook, { ...attributes, object })) continue;
      const before = JSON.stringify(object);
      object = await call(webhook, attributes, object);
      invokedAt.set(webhook, step);
      if (JSON.stringify(object) !== before) lastChange = step;
      step++;
    }
    for (const webhook of webhooks) {
      const at = invokedAt.get(webhook);
      if (at === undefined || webhook.reinvocationPolicy !== 'IfNeeded' || lastChange <= at) continue;
      if (matches(webhook, { ...attributes, object })) object = await call(webhook, attributes, object);
    }
    return object;
  };
}
