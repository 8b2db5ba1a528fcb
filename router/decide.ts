// The routing decision: a route table compiled once into arrays, maps and closures, so that a
// request only does lookups. Pure — no I/O; randomness comes in as a parameter.

import type { RouteTable, StringMatch } from '../api/routes.js';

export const REASONS = ['header', 'rule', 'sticky', 'hash', 'weight', 'hop', 'fallback'] as const;
export type Reason = (typeof REASONS)[number];

/** Returns a number in [0, 1), like Math.random. */
export type Random = () => number;

/** Request headers as node's http module gives them (lower-case names). */
export type HeaderBag = Readonly<Record<string, string | string[] | undefined>>;

export interface Decision {
  readonly track: string;
  /** Index of the track in `CompiledRoutes.tracks`. */
  readonly index: number;
  readonly reason: Reason;
  /** Position among all pre-built decisions (reason-major), for pre-bound per-decision metrics. */
  readonly slot: number;
  /** `Set-Cookie` value to send with the response, or null (sticky off, or not a fresh decision). */
  readonly setCookie: string | null;
}

export interface CompiledRoutes {
  readonly table: RouteTable;
  /** Track names in table order; indexes in decisions refer to this array. */
  readonly tracks: readonly string[];
  /** Index of the baseline track (`stable`, else the first track): target of `never` and fallback. */
  readonly baseline: number;
  /** Lower-case name of the canary header to read and strip. */
  readonly canaryHeader: string;
  /** Index of the mirror track, or -1 when mirroring is off. */
  readonly mirror: number;
  decide(headers: HeaderBag, random: Random): Decision;
  /** The pre-built decision for a track and reason (for `hop` and `fallback`, decided outside). */
  decision(index: number, reason: Reason): Decision;
  /** Whether this request (already decided) also gets a fire-and-forget copy to the mirror track. */
  shouldMirror(decision: Decision, random: Random): boolean;
}

const BUCKETS = 100;

/** 32-bit FNV-1a followed by murmur3's finaliser so that similar keys spread evenly. */
export function hashKey(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The hash bucket (0-99) of a `hashOn` key. A key goes to the canary iff bucket < canary weight. */
export function bucketOf(key: string): number {
  return hashKey(key) % BUCKETS;
}

/**
 * The value of cookie `name` in a Cookie header, or undefined; a value in double quotes (RFC 6265
 * `cookie-value`) comes without them. Scans; allocates only the result.
 */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  let from = 0;
  while (from < header.length) {
    const at = header.indexOf(name, from);
    if (at < 0) return undefined;
    const end = at + name.length;
    let before = at - 1;
    while (before >= 0 && header.charCodeAt(before) === 32) before--;
    if ((before < 0 || header.charCodeAt(before) === 59) && header.charCodeAt(end) === 61) {
      let stop = header.indexOf(';', end + 1);
      if (stop < 0) stop = header.length;
      let start = end + 1;
      while (stop > start && header.charCodeAt(stop - 1) <= 32) stop--;
      while (start < stop && header.charCodeAt(start) <= 32) start++;
      if (stop - start >= 2 && header.charCodeAt(start) === 34 && header.charCodeAt(stop - 1) === 34) {
        start++;
        stop--;
      }
      return header.slice(start, stop);
    }
    from = end;
  }
  return undefined;
}

function first(value: string | string[] | undefined): string | undefined {
  return typeof value === 'string' ? value : value?.[0];
}

type Test = (value: string) => boolean;

function compileMatch(match: StringMatch): Test {
  if ('exact' in match) {
    const exact = match.exact;
    return (value) => value === exact;
  }
  if ('prefix' in match) {
    const prefix = match.prefix;
    return (value) => value.startsWith(prefix);
  }
  // Patterns were checked for catastrophic shapes by parseRouteTable; compiled once per table.
  const regex = new RegExp(match.regex);
  return (value) => regex.test(value);
}

type Rule = (headers: HeaderBag) => boolean;

function compileRule(rule: RouteTable['rules'][number]): Rule {
  if ('header' in rule.match) {
    const name = rule.match.header.name;
    const test = compileMatch(rule.match.header);
    return (headers) => {
      const value = first(headers[name]);
      return value !== undefined && test(value);
    };
  }
  const name = rule.match.cookie.name;
  const test = compileMatch(rule.match.cookie);
  return (headers) => {
    const value = cookieValue(first(headers.cookie), name);
    return value !== undefined && test(value);
  };
}

/**
 * Parses an X-Canary value: `always`, `never` or a track name, case-insensitive, optionally followed
 * by `; token=<token>` (required when the table sets `canaryHeader.tokenSha256`).
 */
export function parseCanaryValue(value: string): { target: string; token: string | null } {
  const semicolon = value.indexOf(';');
  if (semicolon < 0) return { target: value.trim().toLowerCase(), token: null };
  const target = value.slice(0, semicolon).trim().toLowerCase();
  let token: string | null = null;
  for (const part of value.slice(semicolon + 1).split(';')) {
    const equals = part.indexOf('=');
    if (equals > 0 && part.slice(0, equals).trim().toLowerCase() === 'token') {
      token = part.slice(equals + 1).trim();
    }
  }
  return { target, token };
}

/**
 * The X-Canary token check of a table: does a presented token hash to `expectedSha256`? node:crypto
 * is loaded only by a table that sets a token: it costs a router ~0.5 MB of RSS (its modules and
 * OpenSSL's pages), which most pods never need.
 */
function tokenCheck(expectedSha256: string | null): (token: string | null) => boolean {
  if (expectedSha256 === null) return () => true;
  const { createHash, timingSafeEqual } = process.getBuiltinModule('node:crypto');
  const expected = Buffer.from(expectedSha256, 'hex');
  return (token) =>
    token !== null &&
    token.length > 0 &&
    timingSafeEqual(createHash('sha256').update(token).digest(), expected);
}

/** Compiles a validated route table. Called once per table, never per request. */
export function compileRoutes(table: RouteTable): CompiledRoutes {
  const tracks = Object.keys(table.tracks);
  const indexOf = new Map(tracks.map((name, index) => [name, index]));
  const weightOf = (index: number): number => table.weights[tracks[index]!] ?? 0;
  const stable = indexOf.get('stable');
  const baseline = stable ?? 0;
  const canary = indexOf.get('canary') ?? tracks.findIndex((_, index) => index !== baseline);

  const sticky = table.sticky;
  const decisions: Decision[] = [];
  for (const reason of REASONS) {
    for (let index = 0; index < tracks.length; index++) {
      const fresh = sticky !== null && (reason === 'hash' || reason === 'weight');
      decisions.push(
        Object.freeze({
          track: tracks[index]!,
          index,
          reason,
          slot: decisions.length,
          setCookie: fresh
            ? `${sticky.cookie}=${tracks[index]}; Path=/; Max-Age=${sticky.maxAgeSeconds}; HttpOnly; SameSite=Lax`
            : null,
        }),
      );
    }
  }
  const decision = (index: number, reason: Reason): Decision =>
    decisions[REASONS.indexOf(reason) * tracks.length + index]!;
  const byReason = (reason: Reason): Decision[] => tracks.map((_, index) => decision(index, reason));
  const headerDecisions = byReason('header');
  const ruleDecisions = byReason('rule');
  const stickyDecisions = byReason('sticky');
  const hashDecisions = byReason('hash');
  const weightDecisions = byReason('weight');

  // Bucket b (0-99) → track. Non-baseline tracks take the low buckets in table order and the baseline
  // the top, so the first non-baseline track's range [0, w) only grows as its weight grows.
  const order = tracks.map((_, index) => index).filter((index) => index !== baseline);
  order.push(baseline);
  const bucketTrack = new Uint8Array(BUCKETS);
  let bound = 0;
  for (const index of order) {
    const weight = weightOf(index);
    bucketTrack.fill(index, bound, bound + weight);
    bound += weight;
  }

  const canaryHeader = table.canaryHeader.name;
  const tokenAccepted = tokenCheck(table.canaryHeader.tokenSha256);
  const headerTarget = (value: string): number => {
    const { target, token } = parseCanaryValue(value);
    if (!tokenAccepted(token)) return -1;
    if (target === 'always') return canary;
    if (target === 'never') return baseline;
    return indexOf.get(target) ?? -1;
  };

  const rules = table.rules.map((rule) => ({ test: compileRule(rule), index: indexOf.get(rule.track)! }));
  const stickyCookie = sticky?.cookie ?? null;
  const hashOn = table.hashOn;
  const hashHeader = hashOn !== null && 'header' in hashOn ? hashOn.header : null;
  const hashCookie = hashOn !== null && 'cookie' in hashOn ? hashOn.cookie : null;
  const mirror = table.mirror !== null && table.mirror.percent > 0 ? indexOf.get(table.mirror.track)! : -1;
  const mirrorPercent = table.mirror?.percent ?? 0;

  const decide = (headers: HeaderBag, random: Random): Decision => {
    const canaryValue = first(headers[canaryHeader]);
    if (canaryValue !== undefined) {
      const index = headerTarget(canaryValue);
      if (index >= 0) return headerDecisions[index]!;
    }
    for (let i = 0; i < rules.length; i++) {
      const rule = rules[i]!;
      if (rule.test(headers)) return ruleDecisions[rule.index]!;
    }
    if (stickyCookie !== null) {
      const value = cookieValue(first(headers.cookie), stickyCookie);
      if (value !== undefined) {
        const index = indexOf.get(value);
        if (index !== undefined && weightOf(index) > 0) return stickyDecisions[index]!;
      }
    }
    if (hashOn !== null) {
      const key =
        hashHeader !== null ? first(headers[hashHeader]) : cookieValue(first(headers.cookie), hashCookie!);
      if (key !== undefined && key.length > 0) return hashDecisions[bucketTrack[bucketOf(key)]!]!;
    }
    return weightDecisions[bucketTrack[Math.floor(random() * BUCKETS)]!]!;
  };

  const shouldMirror = (chosen: Decision, random: Random): boolean =>
    mirror >= 0 && chosen.index !== mirror && random() * 100 < mirrorPercent;

  return Object.freeze({ table, tracks, baseline, canaryHeader, mirror, decide, decision, shouldMirror });
}
