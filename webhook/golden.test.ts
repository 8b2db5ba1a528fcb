// Golden AdmissionReview tests: test/fixtures/admission/X.json → X.response.json (exact response)
// and X.patch.json (the decoded JSON Patch, for review). UPDATE_GOLDEN=1 rewrites them; a response
// without its request fixture fails the run.

import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import jsonPatch from 'fast-json-patch';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONTROLLER_USERNAME, admit } from './admit.js';
import { makeInjectConfig, parseKubeVersion } from './config.js';
import { parseAdmissionReview, reviewResponse } from './review.js';

const DIR = join(import.meta.dirname, '../test/fixtures/admission');
const UPDATE = process.env.UPDATE_GOLDEN === '1';
const files = readdirSync(DIR);
const inputs = files.filter((file) => file.endsWith('.json') && !/\.(response|patch)\.json$/.test(file));

function optionsFor(name: string) {
  return {
    inject: makeInjectConfig({
      routerImage: 'ghcr.io/switchyard/switchyard:0.1.0',
      version: '0.1.0',
      serverVersion: parseKubeVersion(name.includes('k8s-1.28') ? '1.28' : '1.31'),
    }),
    controllerUsernames: [DEFAULT_CONTROLLER_USERNAME],
  };
}

function checkGolden(path: string, actual: unknown): void {
  const text = `${JSON.stringify(actual, null, 2)}\n`;
  if (UPDATE) {
    writeFileSync(path, text);
    return;
  }
  expect(existsSync(path), `${path} is missing; run with UPDATE_GOLDEN=1`).toBe(true);
  expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual(actual);
}

describe('golden AdmissionReviews', () => {
  it('has no orphan golden files', () => {
    const orphans = files.filter((file) => {
      const base = file.replace(/\.(response|patch)\.json$/, '');
      return base !== file && !inputs.includes(`${base}.json`);
    });
    expect(orphans).toEqual([]);
  });

  it.each(inputs)('%s', (file) => {
    const name = file.replace(/\.json$/, '');
    const review = JSON.parse(readFileSync(join(DIR, file), 'utf8'));
    const request = parseAdmissionReview(review);
    const decision = admit(request, optionsFor(name));
    const response = reviewResponse(decision.response);
    expect(response.response.uid).toBe(review.request.uid);
    checkGolden(join(DIR, `${name}.response.json`), response);
    const patchPath = join(DIR, `${name}.patch.json`);
    if (decision.response.patch === undefined) {
      if (UPDATE && existsSync(patchPath)) rmSync(patchPath);
      expect(existsSync(patchPath), `${patchPath} should not exist: no patch`).toBe(false);
      return;
    }
    expect(decision.response.patchType).toBe('JSONPatch');
    const patch = JSON.parse(Buffer.from(decision.response.patch, 'base64').toString('utf8'));
    checkGolden(patchPath, patch);
    // The patch applies cleanly to the object the API server sent.
    expect(() => jsonPatch.applyPatch(structuredClone(review.request.object), patch, true)).not.toThrow();
  });

  it.each(inputs)('%s: dryRun flipped gives the identical response', (file) => {
    const review = JSON.parse(readFileSync(join(DIR, file), 'utf8'));
    const flipped = structuredClone(review);
    flipped.request.dryRun = !review.request.dryRun;
    const options = optionsFor(file);
    expect(admit(parseAdmissionReview(flipped), options).response).toEqual(
      admit(parseAdmissionReview(review), options).response,
    );
  });
});
