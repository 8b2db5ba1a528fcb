import { describe, expect, it } from 'vitest';
import { HopSecret, HopVerdict } from './hop.js';

describe('HopSecret', () => {
  it('accepts nothing until a token is loaded', () => {
    const hop = new HopSecret();
    expect(hop.loaded).toBe(false);
    expect(hop.header(false)).toBeNull();
    expect(hop.check('anything')).toBe(HopVerdict.Forged);
    hop.set('   \n');
    expect(hop.check('')).toBe(HopVerdict.Forged);
  });

  it('checks the token exactly and recognises mirrored copies', () => {
    const hop = new HopSecret();
    hop.set('s3cret\n');
    expect(hop.header(false)).toBe('s3cret');
    expect(hop.check(hop.header(false) ?? undefined)).toBe(HopVerdict.Valid);
    expect(hop.check(hop.header(true) ?? undefined)).toBe(HopVerdict.ValidMirror);
    for (const forged of [
      's3cre',
      's3cretx',
      'S3CRET',
      '',
      'x; mirror',
      's3cre; mirror',
      's3cret;mirror',
      undefined,
    ]) {
      expect(hop.check(forged)).toBe(HopVerdict.Forged);
    }
    expect(hop.check(['s3cret'])).toBe(HopVerdict.Forged);
    hop.set(null);
    expect(hop.check('s3cret')).toBe(HopVerdict.Forged);
  });
});
