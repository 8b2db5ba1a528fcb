import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { IMAGE_MALLOC_ENV, ROUTER_ENV } from './node-options.js';

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

describe('ROUTER_ENV', () => {
  const root = join(import.meta.dirname, '..');
  const read = (path: string) => readFileSync(join(root, path), 'utf8');

  it('is the environment router/README.md tells users to run the router with outside Kubernetes', () => {
    const readme = read('router/README.md');
    expect(readme).toContain(`NODE_OPTIONS='${ROUTER_ENV.NODE_OPTIONS}'`);
    expect(readme).toContain(`MALLOC_TRIM_THRESHOLD_=${ROUTER_ENV.MALLOC_TRIM_THRESHOLD_} switchyard router`);
  });

  it('is what docs/injection.md says the injected router container gets', () => {
    const injection = read('docs/injection.md').replaceAll(/\s+/g, ' ');
    for (const [name, value] of Object.entries(ROUTER_ENV))
      expect(injection).toContain(`\`${name}=${value}\``);
  });
});
