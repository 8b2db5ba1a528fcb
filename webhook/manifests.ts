// Offline injection (`switchyard inject`): runs YAML/JSON manifests through exactly the webhook's
// code path — a synthetic CREATE AdmissionReview per object, the patch applied — and prints YAML.
// Objects that are not opted in come out byte-for-byte as they went in.

import jsonPatch from 'fast-json-patch';
import { Document, LineCounter, parseAllDocuments } from 'yaml';
import { isOptedIn } from '../api/annotations.js';
import { ErrorCode, SwitchyardError } from '../api/errors.js';
import { type AdmissionDecision, type AdmitOptions, admit } from './admit.js';
import { parseAdmissionReview } from './review.js';

export interface InjectManifestsOptions extends AdmitOptions {
  /** Namespace for objects that name none (the webhook would see the request namespace). */
  readonly namespace: string;
}

export interface InjectManifestsResult {
  /** The documents as YAML, each ending with a newline, to be joined with `---`. */
  readonly documents: readonly string[];
  readonly warnings: readonly string[];
  /** How many objects were changed. */
  readonly mutated: number;
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function review(object: Json, kind: { group: string; version: string; kind: string }, namespace: string) {
  const metadata = isObject(object.metadata) ? object.metadata : {};
  return parseAdmissionReview({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: 'switchyard-inject',
      kind,
      name: typeof metadata.name === 'string' ? metadata.name : undefined,
      namespace: typeof metadata.namespace === 'string' ? metadata.namespace : namespace,
      operation: 'CREATE',
      userInfo: { username: 'switchyard-inject' },
      object,
    },
  });
}

function applyDecision(object: Json, decision: AdmissionDecision, where: string, warnings: string[]): Json {
  for (const warning of decision.response.warnings ?? []) warnings.push(`${where}: ${warning}`);
  if (!decision.response.allowed) {
    throw new SwitchyardError(
      ErrorCode.AnnotationInvalid,
      `${where}: ${decision.response.status?.message ?? 'rejected'}`,
    );
  }
  if (decision.response.patch === undefined) return object;
  const patch = JSON.parse(
    Buffer.from(decision.response.patch, 'base64').toString('utf8'),
  ) as jsonPatch.Operation[];
  return jsonPatch.applyPatch(structuredClone(object), patch, true).newDocument as Json;
}

function injectObject(
  object: Json,
  where: string,
  options: InjectManifestsOptions,
  warnings: string[],
): Json {
  const apiVersion = object.apiVersion;
  if (
    object.kind === 'List' ||
    (typeof object.kind === 'string' && object.kind.endsWith('List') && Array.isArray(object.items))
  ) {
    const items = (object.items as unknown[]).map((item, index) =>
      isObject(item) ? injectObject(item, `${where} item ${index}`, options, warnings) : item,
    );
    return items.some((item, index) => item !== (object.items as unknown[])[index])
      ? { ...object, items }
      : object;
  }
  if (object.kind === 'Pod' && apiVersion === 'v1') {
    const decision = admit(
      review(object, { group: '', version: 'v1', kind: 'Pod' }, options.namespace),
      options,
    );
    return applyDecision(object, decision, where, warnings);
  }
  if (object.kind !== 'Deployment' || apiVersion !== 'apps/v1') return object;
  const metadata = isObject(object.metadata) ? object.metadata : {};
  if (!isOptedIn(metadata.annotations as Record<string, string> | undefined)) return object;
  const decision = admit(
    review(object, { group: 'apps', version: 'v1', kind: 'Deployment' }, options.namespace),
    options,
  );
  const labelled = applyDecision(object, decision, where, warnings) as {
    spec: { template: { metadata?: Json; spec: unknown } };
  };
  // The pod webhook sees the template as a pod created from it; inject that pod and put it back.
  const template = labelled.spec.template;
  const namespace = typeof metadata.namespace === 'string' ? metadata.namespace : options.namespace;
  const pod: Json = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { ...template.metadata, namespace },
    spec: template.spec,
  };
  const injected = applyDecision(
    pod,
    admit(review(pod, { group: '', version: 'v1', kind: 'Pod' }, namespace), options),
    `${where} pod template`,
    warnings,
  );
  if (injected === pod) return labelled;
  const injectedMetadata = { ...(injected.metadata as Json) };
  if (!isObject(template.metadata) || template.metadata.namespace === undefined)
    delete injectedMetadata.namespace;
  return {
    ...labelled,
    spec: { ...labelled.spec, template: { ...template, metadata: injectedMetadata, spec: injected.spec } },
  };
}

/** Drops the `---` line that starts a document; the caller joins documents with its own. */
function withoutDocumentMarker(raw: string): string {
  return raw.replace(/^---(?:[ \t].*)?(?:\n|$)/m, '').replace(/^\n+/, '');
}

/** Injects every document of one YAML/JSON stream. Throws SwitchyardError(DocumentInvalid) with the line of a syntax error. */
export function injectManifests(
  text: string,
  sourceName: string,
  options: InjectManifestsOptions,
): InjectManifestsResult {
  const lineCounter = new LineCounter();
  const documents = parseAllDocuments(text, { lineCounter, prettyErrors: true });
  if (!Array.isArray(documents)) return { documents: [], warnings: [], mutated: 0 };
  const output: string[] = [];
  const warnings: string[] = [];
  let mutated = 0;
  let previousEnd = 0;
  for (const [index, document] of documents.entries()) {
    // The raw text of this document, comments and all, so untouched objects print byte for byte.
    const end = index === documents.length - 1 ? text.length : document.range[2];
    const raw = text.slice(previousEnd, end);
    previousEnd = end;
    const error = document.errors[0];
    if (error) {
      const { line, col } = lineCounter.linePos(error.pos[0]);
      const message = error.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?\s*$/, '');
      throw new SwitchyardError(
        ErrorCode.DocumentInvalid,
        `${sourceName}:${line}:${col}: invalid YAML: ${message}`,
        {
          field: sourceName,
        },
      );
    }
    const value: unknown = document.toJS();
    if (value === null || value === undefined) continue;
    const start = document.range[0];
    const where = `${sourceName}:${lineCounter.linePos(start).line} (document ${index + 1})`;
    const result = isObject(value) ? injectObject(value, where, options, warnings) : value;
    if (result === value) {
      output.push(withoutDocumentMarker(raw).replace(/\n*$/, '\n'));
    } else {
      mutated++;
      output.push(new Document(result).toString({ lineWidth: 0 }));
    }
  }
  return { documents: output, warnings, mutated };
}
