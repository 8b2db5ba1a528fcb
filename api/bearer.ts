// Bearer tokens (RFC 6750 §2.1 b64token): the one definition of what a token may hold, used where
// tokens are loaded and where requests present them, so a token that loads can always be presented.

import { readFile } from 'node:fs/promises';
import { errorMessage } from './errors.js';

/** `Authorization: Bearer <b64token>`: letters, digits, `-._~+/`, then `=` padding only at the end. */
const AUTHORIZATION = /^Bearer\s+([A-Za-z0-9\-._~+/]+=*)\s*$/i;

/** The first character that cannot be part of a b64token: not in its set, or `=` but as padding. */
const NOT_B64TOKEN = /[^A-Za-z0-9\-._~+/=]|^=|=+(?=[^=])/;

const ALLOWED =
  'a bearer token may hold only letters, digits and - . _ ~ + / (then = padding), e.g. from `openssl rand -hex 32`';

/** The token of an `Authorization: Bearer <token>` header; null when there is no valid one. */
export function bearerToken(header: string | undefined): string | null {
  const match = AUTHORIZATION.exec(header ?? '');
  return match ? match[1]! : null;
}

function describe(char: string): string {
  if (char === ' ') return 'a space';
  if (char === '\t') return 'a tab';
  if (char === '=') return '"=" other than as padding at the end';
  const code = char.codePointAt(0) ?? 0;
  const hex = `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
  if (code < 0x20 || code === 0x7f) return `the control character ${hex}`;
  return code > 0x7e ? `${JSON.stringify(char)} (${hex})` : JSON.stringify(char);
}

/**
 * Why a token file's text cannot hold a bearer token — "line 1, column 4: a space …", positions in
 * the text as given — or null when it holds one. Whitespace around the token is ignored.
 */
export function tokenFileProblem(text: string): string | null {
  const token = text.trim();
  if (token.length === 0) return 'holds no token';
  const start = text.length - text.trimStart().length;
  const bad = NOT_B64TOKEN.exec(token);
  if (bad === null) return null;
  const at = start + bad.index;
  const lineOf = (index: number): number => text.slice(0, index).split('\n').length;
  const char = String.fromCodePoint(text.codePointAt(at) ?? 0);
  if (char === '\n' || char === '\r') {
    const next = text.length - text.slice(at).trimStart().length;
    return `line ${lineOf(next)}: more than the token (a token file holds one token on one line); ${ALLOWED}`;
  }
  const column = at - text.lastIndexOf('\n', at - 1);
  return `line ${lineOf(at)}, column ${column}: ${describe(char)}, which no Authorization header can carry; ${ALLOWED}`;
}

/**
 * The token a token file holds, trimmed. Throws an Error naming the path and what is wrong — "cannot
 * read <path>: <OS reason>" or "<path> <tokenFileProblem>" — for the caller to report its own way.
 */
export async function readTokenFile(path: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new Error(`cannot read ${path}: ${errorMessage(error)}`, { cause: error });
  }
  const problem = tokenFileProblem(text);
  if (problem !== null) throw new Error(`${path} ${problem}`);
  return text.trim();
}
