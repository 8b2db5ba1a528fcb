import { describe, expect, it } from 'vitest';
import { isSwitchyardError } from '../../api/errors.js';
import { main, parseLatency, parseListen, startShopApp } from './shop-app.js';

describe('shop app', () => {
  it('answers with its version in the body and the x-shop-version header', async () => {
    const app = await startShopApp({ host: '127.0.0.1', port: 0, version: 'v7' });
    try {
      const root = await fetch(`${app.url}/`);
      expect(root.status).toBe(200);
      expect(root.headers.get('x-shop-version')).toBe('v7');
      expect(await root.json()).toMatchObject({ app: 'shop', version: 'v7' });
      const products = (await (await fetch(`${app.url}/products`)).json()) as { products: unknown[] };
      expect(products.products.length).toBeGreaterThan(0);
      const checkout = await fetch(`${app.url}/checkout`, {
        method: 'POST',
        body: JSON.stringify({ sku: 'sku-1' }),
      });
      expect(await checkout.json()).toEqual({ version: 'v7', received: { sku: 'sku-1' } });
      expect((await fetch(`${app.url}/nope`)).status).toBe(404);
    } finally {
      await app.close();
    }
  });

  it('fails the configured fraction of requests with 500 but keeps /healthz healthy', async () => {
    let calls = 0;
    // Deterministic "random": every other request falls under the 0.5 error rate.
    const random = () => (calls++ % 2 === 0 ? 0.1 : 0.9);
    const app = await startShopApp({ host: '127.0.0.1', port: 0, version: 'v2', errorRate: 0.5, random });
    try {
      const statuses: number[] = [];
      for (let index = 0; index < 4; index++) statuses.push((await fetch(`${app.url}/`)).status);
      expect(statuses).toEqual([500, 200, 500, 200]);
      for (let index = 0; index < 3; index++) expect((await fetch(`${app.url}/healthz`)).status).toBe(200);
    } finally {
      await app.close();
    }
  });

  it('rejects flags it cannot honour with a message naming the flag', async () => {
    expect(parseLatency('100ms')).toBe(100);
    expect(parseLatency('1.5s')).toBe(1500);
    expect(parseListen('0.0.0.0:8080')).toEqual({ host: '0.0.0.0', port: 8080 });
    for (const bad of [() => parseLatency('fast'), () => parseListen('8080')]) {
      expect(bad).toThrow(/shop-app --(latency|listen)/);
    }
    const error = await main(['--error-rate', '2']).catch((caught: unknown) => caught);
    expect(isSwitchyardError(error)).toBe(true);
    expect(String(error)).toContain('--error-rate');
    await expect(main(['--colour', 'blue'])).rejects.toThrow(/unknown argument "--colour"/);
  });
});
