// The shared hop token that marks a request already routed by another switchyard router, so the
// receiver serves it locally instead of routing it again. Value: `<token>` or `<token>; mirror`.

import { timingSafeEqual } from 'node:crypto';

export const HOP_HEADER = 'x-switchyard-hop';
const MIRROR_SUFFIX = '; mirror';

export const HopVerdict = { Forged: 0, Valid: 1, ValidMirror: 2 } as const;
export type HopVerdict = (typeof HopVerdict)[keyof typeof HopVerdict];

export class HopSecret {
  #token: string | null = null;
  #tokenBuffer: Buffer | null = null;
  #header: string | null = null;
  #mirrorHeader: string | null = null;

  /** Sets the token from the secret file's text (trimmed); null or empty = no hops accepted. */
  set(text: string | null): void {
    const token = text?.trim() ?? '';
    this.#token = token.length > 0 ? token : null;
    this.#tokenBuffer = this.#token === null ? null : Buffer.from(this.#token);
    this.#header = this.#token;
    this.#mirrorHeader = this.#token === null ? null : this.#token + MIRROR_SUFFIX;
  }

  get loaded(): boolean {
    return this.#token !== null;
  }

  /** The header value to send on a forwarded request, or null when no token is loaded. */
  header(mirror: boolean): string | null {
    return mirror ? this.#mirrorHeader : this.#header;
  }

  check(value: string | string[] | undefined): HopVerdict {
    const expected = this.#tokenBuffer;
    if (expected === null || typeof value !== 'string') return HopVerdict.Forged;
    const mirror = value.endsWith(MIRROR_SUFFIX);
    const token = Buffer.from(mirror ? value.slice(0, -MIRROR_SUFFIX.length) : value);
    if (token.length !== expected.length || !timingSafeEqual(token, expected)) return HopVerdict.Forged;
    return mirror ? HopVerdict.ValidMirror : HopVerdict.Valid;
  }
}
