// The route table: what control serves at GET /v1/routes/{namespace}/{service} and what a router
// reads from --routes-file. One schema, used by producer and consumer; parsed once into frozen data.

import { ErrorCode, SwitchyardError } from './errors.js';

export const TRACK_NAME_PATTERN = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
export const HEADER_NAME_PATTERN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const MAX_REGEX_LENGTH = 256;

export interface Track {
  readonly upstream: string;
}

export type StringMatch =
  | { readonly name: string; readonly exact: string }
  | { readonly name: string; readonly prefix: string }
  | { readonly name: string; readonly regex: string };

export type RuleMatch = { readonly header: StringMatch } | { readonly cookie: StringMatch };

export interface RouteRule {
  readonly match: RuleMatch;
  readonly track: string;
}

export interface Sticky {
  readonly cookie: string;
  readonly maxAgeSeconds: number;
}

export type HashOn = { readonly header: string } | { readonly cookie: string };

export interface Mirror {
  readonly track: string;
  readonly percent: number;
}

export interface CanaryHeader {
  /** Lower-case header name, `x-canary` unless configured. */
  readonly name: string;
  /** Hex SHA-256 of the token testers must present; null means the header needs no token. */
  readonly tokenSha256: string | null;
}

export interface RouteTable {
  readonly service: string;
  readonly generation: number;
  readonly tracks: Readonly<Record<string, Track>>;
  /** Percent per track; every key is a track and the values sum to 100. */
  readonly weights: Readonly<Record<string, number>>;
  readonly rules: readonly RouteRule[];
  readonly sticky: Sticky | null;
  readonly hashOn: HashOn | null;
  readonly mirror: Mirror | null;
  readonly canaryHeader: CanaryHeader;
}

export const DEFAULT_CANARY_HEADER: CanaryHeader = Object.freeze({ name: 'x-canary', tokenSha256: null });
export const DEFAULT_STICKY_COOKIE = 'switchyard-track';

type Json = unknown;

function fail(field: string, message: string): never {
  throw new SwitchyardError(ErrorCode.RouteTableInvalid, `route table: ${field}: ${message}`, { field });
}

function describe(value: Json): string {
  const text = JSON.stringify(value);
  return text === undefined ? String(value) : text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function objectAt(value: Json, field: string): Record<string, Json> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    fail(field, `expected an object, got ${describe(value)}`);
  }
  return value as Record<string, Json>;
}

function stringAt(value: Json, field: string, pattern?: RegExp, allowed?: string): string {
  if (typeof value !== 'string' || value.length === 0)
    fail(field, `expected a non-empty string, got ${describe(value)}`);
  if (pattern && !pattern.test(value)) fail(field, `${describe(value)} is not allowed; expected ${allowed}`);
  return value;
}

function integerAt(value: Json, field: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    fail(field, `expected an integer ${min}-${max}, got ${describe(value)}`);
  }
  return value;
}

function onlyKeys(object: Record<string, Json>, field: string, allowed: readonly string[]): void {
  for (const key of Object.keys(object)) {
    if (!allowed.includes(key)) fail(`${field}.${key}`, `unknown field; allowed: ${allowed.join(', ')}`);
  }
}

function upstreamAt(value: Json, field: string): string {
  const text = stringAt(value, field);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    fail(field, `${describe(text)} is not a URL; expected http://host:port`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    fail(field, `expected an http:// or https:// URL`);
  if (url.pathname !== '/' || url.search !== '' || url.hash !== '') {
    fail(field, `expected scheme://host[:port] without a path, got ${describe(text)}`);
  }
  return url.origin;
}

/**
 * Rejects patterns that can backtrack catastrophically: nested quantifiers such as `(a+)+`,
 * quantified groups containing alternation, and back-references. Route regexes match header and
 * cookie values on every request, so an attacker controls the input.
 */
export function unsafeRegexReason(pattern: string): string | null {
  if (pattern.length > MAX_REGEX_LENGTH) return `longer than ${MAX_REGEX_LENGTH} characters`;
  if (/\\[1-9]|\\k</.test(pattern)) return 'back-references are not allowed';
  try {
    new RegExp(pattern);
  } catch (error) {
    return `not a valid regular expression (${(error as Error).message})`;
  }
  // Walk groups: a group that contains a quantifier or alternation and is itself quantified is
  // the classic exponential shape.
  const stack: { risky: boolean }[] = [];
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern[i];
    if (char === '\\') {
      i++;
      continue;
    }
    if (char === '[') {
      while (i < pattern.length && pattern[i] !== ']') i += pattern[i] === '\\' ? 2 : 1;
      continue;
    }
    if (char === '(') stack.push({ risky: false });
    else if (
      char === '|' ||
      char === '*' ||
      char === '+' ||
      (char === '{' && /^\{\d+,\d*\}/.test(pattern.slice(i)))
    ) {
      const top = stack[stack.length - 1];
      if (top) top.risky = true;
    } else if (char === ')') {
      const group = stack.pop();
      const next = pattern[i + 1];
      const quantified = next === '*' || next === '+' || next === '{';
      if (group?.risky && quantified)
        return 'nested quantifiers such as (a+)+ can backtrack catastrophically';
      if (group?.risky) {
        const parent = stack[stack.length - 1];
        if (parent) parent.risky = true;
      }
    }
  }
  return null;
}

function stringMatchAt(value: Json, field: string): StringMatch {
  const object = objectAt(value, field);
  onlyKeys(object, field, ['name', 'exact', 'prefix', 'regex']);
  const name = stringAt(object.name, `${field}.name`, HEADER_NAME_PATTERN, 'a header or cookie name');
  const operators = (['exact', 'prefix', 'regex'] as const).filter((key) => object[key] !== undefined);
  if (operators.length !== 1) fail(field, 'expected exactly one of exact, prefix, regex');
  const operator = operators[0]!;
  const operand = object[operator];
  if (typeof operand !== 'string')
    fail(`${field}.${operator}`, `expected a string, got ${describe(operand)}`);
  if (operator === 'regex') {
    const reason = unsafeRegexReason(operand);
    if (reason) fail(`${field}.regex`, `${describe(operand)} rejected: ${reason}`);
    return { name, regex: operand };
  }
  return operator === 'exact' ? { name, exact: operand } : { name, prefix: operand };
}

function ruleAt(value: Json, field: string, tracks: Record<string, Track>): RouteRule {
  const object = objectAt(value, field);
  onlyKeys(object, field, ['match', 'track']);
  const match = objectAt(object.match, `${field}.match`);
  onlyKeys(match, `${field}.match`, ['header', 'cookie']);
  const kinds = (['header', 'cookie'] as const).filter((key) => match[key] !== undefined);
  if (kinds.length !== 1) fail(`${field}.match`, 'expected exactly one of header, cookie');
  const kind = kinds[0]!;
  const stringMatch = stringMatchAt(match[kind], `${field}.match.${kind}`);
  const track = trackRefAt(object.track, `${field}.track`, tracks);
  const header = kind === 'header' ? { ...stringMatch, name: stringMatch.name.toLowerCase() } : stringMatch;
  return { match: kind === 'header' ? { header } : { cookie: stringMatch }, track };
}

function trackRefAt(value: Json, field: string, tracks: Record<string, Track>): string {
  const name = stringAt(value, field);
  if (!Object.hasOwn(tracks, name))
    fail(field, `unknown track ${describe(name)}; tracks: ${Object.keys(tracks).join(', ')}`);
  return name;
}

/** Validates untrusted JSON (already parsed) into a frozen RouteTable. Throws SwitchyardError naming the field. */
export function parseRouteTable(input: Json): RouteTable {
  const root = objectAt(input, '$');
  onlyKeys(root, '$', [
    'service',
    'generation',
    'tracks',
    'weights',
    'rules',
    'sticky',
    'hashOn',
    'mirror',
    'canaryHeader',
  ]);
  const service = stringAt(root.service, 'service');
  const generation = integerAt(root.generation, 'generation', 0, Number.MAX_SAFE_INTEGER);

  const trackObject = objectAt(root.tracks, 'tracks');
  const tracks: Record<string, Track> = {};
  for (const [name, value] of Object.entries(trackObject)) {
    if (!TRACK_NAME_PATTERN.test(name)) fail(`tracks.${name}`, 'track names are lower-case DNS labels');
    const track = objectAt(value, `tracks.${name}`);
    onlyKeys(track, `tracks.${name}`, ['upstream']);
    tracks[name] = Object.freeze({ upstream: upstreamAt(track.upstream, `tracks.${name}.upstream`) });
  }
  if (Object.keys(tracks).length === 0) fail('tracks', 'at least one track is required');

  const weightObject = objectAt(root.weights, 'weights');
  const weights: Record<string, number> = {};
  let total = 0;
  for (const [name, value] of Object.entries(weightObject)) {
    trackRefAt(name, `weights.${name}`, tracks);
    weights[name] = integerAt(value, `weights.${name}`, 0, 100);
    total += weights[name];
  }
  if (total !== 100) fail('weights', `weights must sum to 100, got ${total}`);

  const rules = root.rules === undefined ? [] : root.rules;
  if (!Array.isArray(rules)) fail('rules', `expected an array, got ${describe(rules)}`);
  const parsedRules = rules.map((rule, index) => Object.freeze(ruleAt(rule, `rules[${index}]`, tracks)));

  let sticky: Sticky | null = null;
  if (root.sticky !== undefined && root.sticky !== null) {
    const object = objectAt(root.sticky, 'sticky');
    onlyKeys(object, 'sticky', ['cookie', 'maxAgeSeconds']);
    sticky = Object.freeze({
      cookie:
        object.cookie === undefined
          ? DEFAULT_STICKY_COOKIE
          : stringAt(object.cookie, 'sticky.cookie', HEADER_NAME_PATTERN, 'a cookie name'),
      maxAgeSeconds:
        object.maxAgeSeconds === undefined
          ? 3600
          : integerAt(object.maxAgeSeconds, 'sticky.maxAgeSeconds', 1, 31_536_000),
    });
  }

  let hashOn: HashOn | null = null;
  if (root.hashOn !== undefined && root.hashOn !== null) {
    const object = objectAt(root.hashOn, 'hashOn');
    onlyKeys(object, 'hashOn', ['header', 'cookie']);
    if ((object.header === undefined) === (object.cookie === undefined))
      fail('hashOn', 'expected exactly one of header, cookie');
    hashOn = Object.freeze(
      object.header !== undefined
        ? {
            header: stringAt(
              object.header,
              'hashOn.header',
              HEADER_NAME_PATTERN,
              'a header name',
            ).toLowerCase(),
          }
        : { cookie: stringAt(object.cookie, 'hashOn.cookie', HEADER_NAME_PATTERN, 'a cookie name') },
    );
  }

  let mirror: Mirror | null = null;
  if (root.mirror !== undefined && root.mirror !== null) {
    const object = objectAt(root.mirror, 'mirror');
    onlyKeys(object, 'mirror', ['track', 'percent']);
    mirror = Object.freeze({
      track: trackRefAt(object.track, 'mirror.track', tracks),
      percent: integerAt(object.percent, 'mirror.percent', 0, 100),
    });
  }

  let canaryHeader = DEFAULT_CANARY_HEADER;
  if (root.canaryHeader !== undefined && root.canaryHeader !== null) {
    const object = objectAt(root.canaryHeader, 'canaryHeader');
    onlyKeys(object, 'canaryHeader', ['name', 'tokenSha256']);
    const token = object.tokenSha256;
    if (
      token !== undefined &&
      token !== null &&
      (typeof token !== 'string' || !/^[0-9a-f]{64}$/.test(token))
    ) {
      fail('canaryHeader.tokenSha256', 'expected null or 64 lower-case hex characters (sha256 of the token)');
    }
    canaryHeader = Object.freeze({
      name:
        object.name === undefined
          ? DEFAULT_CANARY_HEADER.name
          : stringAt(object.name, 'canaryHeader.name', HEADER_NAME_PATTERN, 'a header name').toLowerCase(),
      tokenSha256: (token as string | null | undefined) ?? null,
    });
  }

  return Object.freeze({
    service,
    generation,
    tracks: Object.freeze(tracks),
    weights: Object.freeze(weights),
    rules: Object.freeze(parsedRules),
    sticky,
    hashOn,
    mirror,
    canaryHeader,
  });
}

/** Parses route-table JSON text; syntax errors become SwitchyardError too. */
export function parseRouteTableJson(text: string): RouteTable {
  let json: Json;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new SwitchyardError(
      ErrorCode.RouteTableInvalid,
      `route table: not valid JSON (${(error as Error).message})`,
      {
        field: '$',
        cause: error,
      },
    );
  }
  return parseRouteTable(json);
}
