// The shared hop token that marks a request already routed by another switchyard router, so the
// receiver serves it locally instead of routing it again. Value: `<token>`, `<token>; mirror` (a
// mirrored copy) or `<token>; fallback` (a request sent again after a failed attempt, which the
// receiver does not send on once more).

export const HOP_HEADER = 'x-switchyard-hop';
const MIRROR_SUFFIX = '; mirror';
const FALLBACK_SUFFIX = '; fallback';

/** What a hop header marks: no valid hop (absent or forged), or the kind of request it came with. */
export const HopKind = { None: 0, Routed: 1, Mirror: 2, Fallback: 3 } as const;
export type HopKind = (typeof HopKind)[keyof typeof HopKind];

export class HopSecret {
  /** The header value of each kind, indexed by HopKind; all null when no token is loaded. */
  #headers: readonly (string | null)[] = [null, null, null, null];

  /** Sets the token from the secret file's text (trimmed); null or empty = no hops accepted. */
  set(text: string | null): void {
    const token = text?.trim() ?? '';
    this.#headers =
      token.length > 0
        ? [null, token, token + MIRROR_SUFFIX, token + FALLBACK_SUFFIX]
        : [null, null, null, null];
  }

  get loaded(): boolean {
    return this.#headers[HopKind.Routed] !== null;
  }

  /** The header value to send with a forwarded request of this kind, or null when no token is loaded. */
  header(kind: Exclude<HopKind, 0>): string | null {
    return this.#headers[kind]!;
  }

  check(value: string | string[] | undefined): HopKind {
    const headers = this.#headers;
    if (headers[HopKind.Routed] === null || typeof value !== 'string') return HopKind.None;
    for (let kind: number = HopKind.Routed; kind <= HopKind.Fallback; kind++) {
      if (equalInConstantTime(value, headers[kind]!)) return kind as HopKind;
    }
    return HopKind.None;
  }
}

/**
 * Whether two strings are equal, in a time that depends on their length but not on where they
 * differ, so a forger cannot learn the token a character at a time. In JavaScript rather than with
 * node:crypto's timingSafeEqual, which would cost every router ~0.5 MB of RSS (router/decide.ts).
 */
function equalInConstantTime(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return difference === 0;
}
