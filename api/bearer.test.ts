import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearerToken, readTokenFile, tokenFileProblem } from './bearer.js';

const B64TOKEN_CHARS = 'ABCXYZabcxyz0189-._~+/';

describe('bearerToken', () => {
  it.each([
    ['Bearer abc-._~+/XYZ09==', 'abc-._~+/XYZ09=='],
    ['bearer  token ', 'token'],
    ['Bearer api token', null],
    ['Bearer a=b', null],
    ['Bearer tök', null],
    ['Bearer ', null],
    ['Basic dXNlcjpwYXNz', null],
    [undefined, null],
  ])('%j → %j', (header, token) => {
    expect(bearerToken(header)).toBe(token);
  });
});

describe('tokenFileProblem', () => {
  it.each([
    ['api token 0123456789\n', 'line 1, column 4: a space, which no Authorization header can carry'],
    ['\n\n  api\ttoken\n', 'line 3, column 6: a tab'],
    ['token=0123456789abc', 'line 1, column 6: "=" other than as padding at the end'],
    ['==', 'line 1, column 1: "=" other than as padding at the end'],
    ['token!0123456789', 'line 1, column 6: "!"'],
    ['tökén0123456789', 'line 1, column 2: "ö" (U+00F6)'],
    ['token\u00070123456789', 'line 1, column 6: the control character U+0007'],
    [
      'token-0123456789\nsecond-0123456789\n',
      'line 2: more than the token (a token file holds one token on one line)',
    ],
    ['token-0123456789\r\n\r\n# comment', 'line 3: more than the token'],
  ])('%j: %s', (text, problem) => {
    expect(tokenFileProblem(text)).toContain(problem);
    expect(tokenFileProblem(text)).toContain('a bearer token may hold only letters, digits and - . _ ~ + /');
  });

  it('accepts one b64token with whitespace around it, and says when there is none', () => {
    expect(tokenFileProblem('\n  abc-._~+/XYZ09==\r\n')).toBeNull();
    expect(tokenFileProblem(' \n')).toBe('holds no token');
  });

  it('accepts exactly what a request can present: a loaded token always parses back from its header', () => {
    const text = fc.string({
      unit: fc.constantFrom(...B64TOKEN_CHARS, '=', ' ', '\n', '!', 'é'),
      minLength: 1,
    });
    fc.assert(
      fc.property(text, (token) => {
        const loads = tokenFileProblem(token) === null;
        expect(loads).toBe(bearerToken(`Bearer ${token.trim()}`) === token.trim());
      }),
    );
  });
});

describe('readTokenFile', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'swy-bearer-'));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('returns the token without the whitespace around it', async () => {
    const file = join(dir, 'good');
    await writeFile(file, '\n  aB3-._~+/0123456789==\r\n');
    await expect(readTokenFile(file)).resolves.toBe('aB3-._~+/0123456789==');
  });

  it('names the path and the reason the OS gives when the file cannot be read', async () => {
    const file = join(dir, 'missing');
    await expect(readTokenFile(file)).rejects.toThrow(`cannot read ${file}: ENOENT`);
  });

  it('names the path and what no Authorization header can carry', async () => {
    const file = join(dir, 'spaced');
    await writeFile(file, 'api token 0123456789\n');
    await expect(readTokenFile(file)).rejects.toThrow(
      `${file} line 1, column 4: a space, which no Authorization header can carry`,
    );
    await writeFile(file, ' \n');
    await expect(readTokenFile(file)).rejects.toThrow(`${file} holds no token`);
  });
});
