// Control's --router-port / --router-admin-port on the controller's side of a rollout: the per-track
// Services target the router's port, and the analysis scrapes the routers' admin port. (Injection
// with these ports: webhook/inject.test.ts; the flags reaching these options: cli/control-kube.test.ts.)

import { afterAll, beforeAll, expect, it } from 'vitest';
import { waitFor } from '../../support/wait-for.js';
import {
  appDeployment,
  type Harness,
  KUBE_WAIT,
  NAMESPACE,
  readyAdminUrls,
  releaseNewImage,
  ScriptedAnalyzer,
  startHarness,
} from './harness.js';

const ROUTER_PORT = 16001;
const ADMIN_PORT = 16020;

let harness: Harness;
const analyzer = new ScriptedAnalyzer();

beforeAll(async () => {
  harness = await startHarness();
  await harness.startController('control-a', analyzer, { routerPort: ROUTER_PORT, adminPort: ADMIN_PORT });
});

afterAll(async () => {
  await harness?.close();
});

it('per-track Services target the configured router port; the analysis scrapes the configured admin port', async () => {
  await harness.apps.createNamespacedDeployment({
    namespace: NAMESPACE,
    body: appDeployment('shop', 'app:v1'),
  });
  await releaseNewImage(harness.apps, 'shop', 'app:v2');
  const targetPorts = async () =>
    Promise.all(
      ['stable', 'canary'].map(async (track) => {
        const service = await harness.core
          .readNamespacedService({ name: `shop-${track}`, namespace: NAMESPACE })
          .catch(() => null);
        return service?.spec?.ports?.[0]?.targetPort;
      }),
    );
  await waitFor(
    'both per-track Services',
    targetPorts,
    (ports) => ports.every((port) => port !== undefined),
    KUBE_WAIT,
  );
  expect(await targetPorts()).toEqual([ROUTER_PORT, ROUTER_PORT]);

  const readyPodIps = (track: string): Promise<string[]> =>
    readyAdminUrls(harness.core, 'shop', track, ADMIN_PORT);
  await waitFor(
    'an analysis window scraping both tracks on the admin port',
    async () => ({
      window: analyzer.lastWindow && {
        stable: [...analyzer.lastWindow.stable.admin].sort(),
        canary: [...analyzer.lastWindow.canary.admin].sort(),
      },
      stable: await readyPodIps('stable'),
      canary: await readyPodIps('canary'),
    }),
    ({ window, stable, canary }) =>
      canary.length > 0 &&
      stable.length > 0 &&
      JSON.stringify(window?.canary) === JSON.stringify(canary) &&
      JSON.stringify(window?.stable) === JSON.stringify(stable),
    KUBE_WAIT,
  );
});
