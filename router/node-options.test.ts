import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { IMAGE_MALLOC_ENV } from './node-options.js';

describe('IMAGE_MALLOC_ENV', () => {
  it('is what deploy/Dockerfile gives the runtime image, after installing the library', () => {
    const dockerfile = readFileSync(join(import.meta.dirname, '..', 'deploy', 'Dockerfile'), 'utf8');
    const runtimeStage = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
    const envLine = runtimeStage.split('\n').find((line) => line.startsWith('ENV LD_PRELOAD='));
    const expected = Object.entries(IMAGE_MALLOC_ENV).map(([name, value]) => `${name}=${value}`);
    expect(envLine?.slice('ENV '.length).split(' ')).toEqual(expected);
    const install = runtimeStage.indexOf('apt-get install -y --no-install-recommends libjemalloc2');
    expect(install).toBeGreaterThan(0);
    expect(install).toBeLessThan(runtimeStage.indexOf(envLine!));
  });
});
