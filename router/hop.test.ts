import { describe, expect, it } from 'vitest';
import { HopKind, HopSecret } from './hop.js';

describe('HopSecret', () => {
  it('accepts nothing until a token is loaded', () => {
    const hop = new HopSecret();
    expect(hop.loaded).toBe(false);
    for (const kind of [HopKind.Routed, HopKind.Mirror, HopKind.Fallback] as const) {
      expect(hop.header(kind)).toBeNull();
    }
    expect(hop.check('anything')).toBe(HopKind.None);
    hop.set('   \n');
    expect(hop.check('')).toBe(HopKind.None);
  });

  it('checks the token exactly and tells routed requests, mirrored copies and fallbacks apart', () => {
    const hop = new HopSecret();
    hop.set('s3cret\n');
    expect(hop.header(HopKind.Routed)).toBe('s3cret');
    expect(hop.header(HopKind.Mirror)).toBe('s3cret; mirror');
    expect(hop.header(HopKind.Fallback)).toBe('s3cret; fallback');
    for (const kind of [HopKind.Routed, HopKind.Mirror, HopKind.Fallback] as const) {
      expect(hop.check(hop.header(kind) ?? undefined)).toBe(kind);
    }
    for (const forged of [
      's3cre',
      's3cretx',
      'S3CRET',
      '',
      'x; mirror',
      's3cre; mirror',
      's3cret;mirror',
      's3cret; Fallback',
      'x; fallback',
      undefined,
    ]) {
      expect(hop.check(forged)).toBe(HopKind.None);
    }
    expect(hop.check(['s3cret'])).toBe(HopKind.None);
    hop.set(null);
    expect(hop.check('s3cret')).toBe(HopKind.None);
    expect(hop.header(HopKind.Fallback)).toBeNull();
  });
});
