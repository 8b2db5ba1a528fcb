// Golden files for offline injection, the same way as the AdmissionReview goldens:
// test/fixtures/manifests/X.{yaml,json} → X.injected.yaml, or X.error.txt when injection must fail.
// UPDATE_GOLDEN=1 rewrites them; an output without its input fails the run.

import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isSwitchyardError } from '../api/errors.js';
import { DEFAULT_CONTROLLER_USERNAME } from './admit.js';
import { makeInjectConfig } from './config.js';
import { injectManifests } from './manifests.js';

const DIR = join(import.meta.dirname, '../test/fixtures/manifests');
const UPDATE = process.env.UPDATE_GOLDEN === '1';
const OUTPUT = /\.(injected\.yaml|error\.txt)$/;
const files = readdirSync(DIR);
const inputs = files.filter((file) => /\.(ya?ml|json)$/.test(file) && !OUTPUT.test(file));
const options = {
  inject: makeInjectConfig({ routerImage: 'ghcr.io/switchyard/switchyard:0.1.0', version: '0.1.0' }),
  controllerUsernames: [DEFAULT_CONTROLLER_USERNAME],
  namespace: 'default',
};

function golden(path: string, actual: string, other: string): void {
  if (UPDATE) {
    writeFileSync(path, actual);
    if (existsSync(other)) rmSync(other);
    return;
  }
  expect(existsSync(path), `${path} is missing; run with UPDATE_GOLDEN=1`).toBe(true);
  expect(existsSync(other), `${other} should not exist`).toBe(false);
  expect(actual).toBe(readFileSync(path, 'utf8'));
}

describe('golden offline injection', () => {
  it('has no orphan golden files', () => {
    const orphans = files.filter(
      (file) =>
        OUTPUT.test(file) &&
        !inputs.some((input) => file.startsWith(`${input.replace(/\.(ya?ml|json)$/, '')}.`)),
    );
    expect(orphans).toEqual([]);
  });

  it.each(inputs)('%s', (file) => {
    const base = join(DIR, file.replace(/\.(ya?ml|json)$/, ''));
    let output: string;
    let error: string | null = null;
    try {
      output = injectManifests(readFileSync(join(DIR, file), 'utf8'), file, options).documents.join('---\n');
    } catch (thrown) {
      if (!isSwitchyardError(thrown)) throw thrown;
      error = `${thrown.code}: ${thrown.message}\n`;
      output = '';
    }
    if (error !== null) golden(`${base}.error.txt`, error, `${base}.injected.yaml`);
    else golden(`${base}.injected.yaml`, output, `${base}.error.txt`);
  });
});
