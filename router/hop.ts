// The shared hop token that marks a request already routed by another switchyard router, so the
// receiver serves it locally instead of routing it again. Value: `<token>` or `<token>; mirror`.

export const HOP_HEADER = 'x-switchyard-hop';
const MIRROR_SUFFIX = '; mirror';

export const HopVerdict = { Forged: 0, Valid: 1, ValidMirror: 2 } as const;
export type HopVerdict = (typeof HopVerdict)[keyof typeof HopVerdict];

export class HopSecret {
  #header: string | null = null;
  #mirrorHeader: string | null = null;

  /** Sets the token from the secret file's text (trimmed); null or empty = no hops accepted. */
  set(text: string | null): void {
    const token = text?.trim() ?? '';
    this.#header = token.length > 0 ? token : null;
    this.#mirrorHeader = this.#header === null ? null : this.#header + MIRROR_SUFFIX;
  }

  get loaded(): boolean {
    return this.#header !== null;
  }

  /** The header value to send on a forwarded request, or null when no token is loaded. */
  header(mirror: boolean): string | null {
    return mirror ? this.#mirrorHeader : this.#header;
  }

  check(value: string | string[] | undefined): HopVerdict {
    const header = this.#header;
    if (header === null || typeof value !== 'string') return HopVerdict.Forged;
    if (equalInConstantTime(value, header)) return HopVerdict.Valid;
    return equalInConstantTime(value, this.#mirrorHeader!) ? HopVerdict.ValidMirror : HopVerdict.Forged;
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
