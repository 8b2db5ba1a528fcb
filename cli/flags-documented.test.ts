// Every flag the router and control accept is documented where their users look it up: a flag added
// to a table without a line in the docs fails here (as --tls-ca-file once went undocumented).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { FlagTable } from '../api/flags.js';
import { ROUTER_FLAGS } from '../router/config.js';
import { CONTROL_FLAGS } from './control.js';

const read = (path: string) => readFileSync(new URL(`../${path}`, import.meta.url), 'utf8');

function undocumented(table: FlagTable, docs: string): string[] {
  return Object.keys(table).filter((name) => !new RegExp(`--${name}(?![\\w-])`).test(docs));
}

describe('flag documentation', () => {
  it('router/README.md names every router flag', () => {
    expect(undocumented(ROUTER_FLAGS, read('router/README.md'))).toEqual([]);
  });

  it('docs/cli.md or docs/kubernetes.md names every control flag', () => {
    expect(undocumented(CONTROL_FLAGS, read('docs/cli.md') + read('docs/kubernetes.md'))).toEqual([]);
  });
});
