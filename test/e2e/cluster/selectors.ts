// Label and field selectors as the API server parses them from `?labelSelector=` and
// `?fieldSelector=`, plus the structured LabelSelector used by webhooks, Deployments and Services.

import { ApiError, getPath, isObject, type KubeObject } from './objects.js';

type Requirement =
  | { key: string; op: 'in' | 'notin'; values: string[] }
  | { key: string; op: 'exists' | '!exists' }
  | { key: string; op: '=' | '!='; values: [string] };

export type Matcher = (labels: Readonly<Record<string, string>>) => boolean;

function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let index = 0; index < text.length; index++) {
    const char = text[index];
    if (char === '(') depth++;
    else if (char === ')') depth--;
    else if (char === ',' && depth === 0) {
      parts.push(text.slice(start, index));
      start = index + 1;
    }
  }
  parts.push(text.slice(start));
  return parts.map((part) => part.trim()).filter((part) => part !== '');
}

function parseRequirement(text: string): Requirement {
  const setMatch = /^(\S+)\s+(in|notin)\s*\(([^)]*)\)$/.exec(text);
  if (setMatch) {
    const values = (setMatch[3] ?? '')
      .split(',')
      .map((value) => value.trim())
      .filter((value) => value !== '');
    return { key: setMatch[1] ?? '', op: setMatch[2] as 'in' | 'notin', values };
  }
  const opMatch = /^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(text);
  if (opMatch) {
    return { key: opMatch[1] ?? '', op: opMatch[2] === '!=' ? '!=' : '=', values: [opMatch[3] ?? ''] };
  }
  if (text.startsWith('!')) return { key: text.slice(1).trim(), op: '!exists' };
  if (/^[A-Za-z0-9._/-]+$/.test(text)) return { key: text, op: 'exists' };
  throw new ApiError(400, 'BadRequest', `unable to parse requirement: ${JSON.stringify(text)}`);
}

function matches(requirement: Requirement, read: (key: string) => string | undefined): boolean {
  const value = read(requirement.key);
  switch (requirement.op) {
    case 'exists':
      return value !== undefined;
    case '!exists':
      return value === undefined;
    case '=':
      return value === requirement.values[0];
    case '!=':
      return value !== requirement.values[0];
    case 'in':
      return value !== undefined && requirement.values.includes(value);
    case 'notin':
      return value === undefined || !requirement.values.includes(value);
  }
}

/** `app=shop,tier!=db,env in (a,b),!legacy` → matcher over labels. */
export function parseLabelSelector(text: string | null | undefined): Matcher {
  if (!text) return () => true;
  const requirements = splitTopLevel(text).map(parseRequirement);
  return (labels) => requirements.every((requirement) => matches(requirement, (key) => labels[key]));
}

/** `metadata.name=x,status.phase!=Running` → matcher over any object field (dotted path). */
export function parseFieldSelector(text: string | null | undefined): (object: KubeObject) => boolean {
  if (!text) return () => true;
  const requirements = splitTopLevel(text).map(parseRequirement);
  return (object) =>
    requirements.every((requirement) =>
      matches(requirement, (key) => {
        const value = getPath(object, key.split('.'));
        if (value === undefined || value === null) return key.startsWith('metadata.') ? undefined : '';
        return typeof value === 'object' ? JSON.stringify(value) : String(value);
      }),
    );
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

/** A structured LabelSelector; `null`/absent matches everything, `{}` matches everything too. */
export function labelSelectorMatcher(selector: unknown): Matcher {
  if (!isObject(selector)) return () => true;
  const { matchLabels, matchExpressions } = selector as LabelSelector;
  return (labels) => {
    for (const [key, value] of Object.entries(matchLabels ?? {})) {
      if (labels[key] !== value) return false;
    }
    for (const expression of matchExpressions ?? []) {
      const value = labels[expression.key];
      const values = expression.values ?? [];
      switch (expression.operator) {
        case 'In':
          if (value === undefined || !values.includes(value)) return false;
          break;
        case 'NotIn':
          if (value !== undefined && values.includes(value)) return false;
          break;
        case 'Exists':
          if (value === undefined) return false;
          break;
        case 'DoesNotExist':
          if (value !== undefined) return false;
          break;
        default:
          return false;
      }
    }
    return true;
  };
}

/** A Service's `spec.selector` map: empty or absent selects nothing (as for Endpoints). */
export function mapSelectorMatcher(selector: unknown): Matcher {
  if (!isObject(selector) || Object.keys(selector).length === 0) return () => false;
  const entries = Object.entries(selector);
  return (labels) => entries.every(([key, value]) => labels[key] === value);
}
