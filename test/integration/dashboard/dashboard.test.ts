// The dashboard in a real browser (Debian's Chromium driven by playwright-core): it lists
// rollouts from the operator API, asks for the API token, and its buttons send commands.

import { existsSync } from 'node:fs';
import { pino } from 'pino';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Command, RolloutStatus } from '../../../api/canary.js';
import type { BackendOutcome, RolloutBackend, RolloutSummary } from '../../../controller/api.js';
import { apiTokenCheck } from '../../../controller/api.js';
import { type ControlServer, RouteStore, startControlServer } from '../../../controller/control-server.js';
import { SharedSecretAuthenticator } from '../../../controller/router-auth.js';

const CHROMIUM = '/usr/bin/chromium';
const TOKEN = 'dashboard-test-token';

function summary(phase: RolloutStatus['phase'], weight: number): RolloutSummary {
  const now = new Date().toISOString();
  const status: RolloutStatus = {
    phase,
    stableRevision: 'aaa',
    canaryRevision: 'bbb',
    failedRevisions: [],
    step: 1,
    weight,
    routeGeneration: 4,
    phaseSince: now,
    stepSince: now,
    failedChecks: 0,
    inconclusiveChecks: 0,
    pausedFrom: null,
    message: `canary at ${weight} %`,
    verdicts: [],
  };
  return {
    namespace: 'default',
    name: 'shop',
    phase,
    weight,
    step: 1,
    steps: [5, 25, 50],
    strategy: 'canary',
    message: status.message,
    phaseSince: now,
    timeInPhaseSeconds: 12,
    stableRevision: 'aaa',
    canaryRevision: 'bbb',
    lastVerdicts: [
      {
        at: now,
        step: 1,
        weight,
        outcome: 'pass',
        fastFail: false,
        checks: [
          {
            name: 'success-rate',
            outcome: 'pass',
            value: 0.998,
            threshold: 0.99,
            message: 'canary success 0.998 >= 0.99 over 512 requests',
          },
        ],
        canary: { requests: 512, errors: 1, successRate: 0.998, p50Seconds: 0.004, p99Seconds: 0.02 },
        stable: { requests: 4000, errors: 4, successRate: 0.999, p50Seconds: 0.004, p99Seconds: 0.019 },
      },
    ],
    status,
  };
}

/** A backend that records commands: abort moves the rollout to RollingBack at 0 %. */
class RecordingBackend implements RolloutBackend {
  rollout = summary('Progressing', 25);
  readonly commands: Command[] = [];
  async list(): Promise<readonly RolloutSummary[]> {
    return [this.rollout];
  }
  async get(): Promise<RolloutSummary> {
    return this.rollout;
  }
  async events(): Promise<[]> {
    return [];
  }
  async command(_namespace: string, _name: string, command: Command): Promise<BackendOutcome> {
    this.commands.push(command);
    if (command.type === 'retry')
      return { accepted: false, reason: 'retry rejected in phase Progressing: nothing failed' };
    if (command.type === 'abort') this.rollout = summary('RollingBack', 0);
    return { accepted: true, rollout: this.rollout };
  }
}

describe.skipIf(!existsSync(CHROMIUM))('dashboard in Chromium', () => {
  const backend = new RecordingBackend();
  let control: ControlServer;
  let browser: Browser;

  beforeAll(async () => {
    control = await startControlServer({
      host: '127.0.0.1',
      port: 0,
      tls: null,
      logger: pino({ level: 'silent' }),
      routes: new RouteStore(),
      routerAuth: new SharedSecretAuthenticator('router-secret'),
      backend,
      checkApiToken: apiTokenCheck(TOKEN),
    });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await control?.close();
  });

  /** A page showing the dashboard (its token prompt answered) and the shop card on it. */
  async function openDashboard() {
    const page = await browser.newPage();
    page.on('dialog', (dialog) => void dialog.accept(TOKEN));
    await page.goto(`${control.url}/dashboard`);
    return { page, card: page.locator('[data-rollout="default/shop"]') };
  }

  it('shows the rollout after the token prompt and aborts it with a click', async () => {
    const page = await browser.newPage();
    const dialogs: string[] = [];
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.type());
      void (dialog.type() === 'prompt' ? dialog.accept(TOKEN) : dialog.accept());
    });
    await page.goto(`${control.url}/`);
    expect(page.url()).toBe(`${control.url}/dashboard`);

    const card = page.locator('[data-rollout="default/shop"]');
    await card.waitFor({ timeout: 15_000 });
    expect(await card.locator('.phase').textContent()).toBe('Progressing');
    expect(await card.locator('.weight').textContent()).toBe('25 % canary');
    expect(await card.textContent()).toContain('canary success 0.998 >= 0.99 over 512 requests');
    expect(dialogs).toContain('prompt');

    await card.locator('button[data-verb="abort"]').click();
    await page.waitForFunction(
      `document.querySelector('[data-rollout="default/shop"] .phase')?.textContent === 'RollingBack'`,
      undefined,
      { timeout: 15_000 },
    );
    expect(backend.commands).toEqual([{ type: 'abort' }]);
    expect(dialogs).toContain('confirm');
    await page.screenshot({ path: 'test/integration/dashboard/.last-run.png' }).catch(() => undefined);
  });

  it('sends the weight typed before a refresh redrew the cards', async () => {
    const { page, card } = await openDashboard();
    await card.waitFor({ timeout: 15_000 });
    await card.locator('input[data-weight]').fill('30');
    // Let the once-a-second refresh redraw the cards between typing and clicking.
    const updated = await page.locator('#updated').textContent();
    await expect.poll(() => page.locator('#updated').textContent(), { timeout: 15_000 }).not.toBe(updated);
    await card.locator('button[data-verb="set-weight"]').click();
    await expect
      .poll(() => backend.commands.at(-1), { timeout: 15_000 })
      .toEqual({
        type: 'set-weight',
        weight: 30,
      });
  });

  it('keeps the reason a command was rejected on screen across refreshes', async () => {
    const { page, card } = await openDashboard();
    await card.waitFor({ timeout: 15_000 });
    await card.locator('button[data-verb="retry"]').click();
    const error = page.locator('#error');
    await expect.poll(() => error.textContent(), { timeout: 15_000 }).toContain('nothing failed');
    const updated = await page.locator('#updated').textContent();
    await expect.poll(() => page.locator('#updated').textContent(), { timeout: 15_000 }).not.toBe(updated);
    expect(await error.textContent()).toBe('retry: retry rejected in phase Progressing: nothing failed');
  });

  it('sends no weight when none was typed', async () => {
    const { page, card } = await openDashboard();
    await card.waitFor({ timeout: 15_000 });
    const sent = backend.commands.length;
    await card.locator('button[data-verb="set-weight"]').click();
    await expect
      .poll(() => page.locator('#error').textContent(), { timeout: 15_000 })
      .toBe('set-weight: type a weight 0-100 first');
    expect(backend.commands.length).toBe(sent);
  });

  it('asks for the token once when the prompt is cancelled, not on every refresh', async () => {
    const page = await browser.newPage();
    let prompts = 0;
    page.on('dialog', (dialog) => {
      prompts += 1;
      void dialog.dismiss();
    });
    await page.goto(`${control.url}/dashboard`);
    await expect
      .poll(() => page.locator('#error').textContent(), { timeout: 15_000 })
      .toContain('a valid bearer token is required');
    // Refreshes run every second: give a few of them the chance to prompt again.
    await page.waitForTimeout(3500);
    expect(prompts).toBe(1);
    await page.close();
  });

  it('shows verdict numbers and steps from the API as text, never as markup', async () => {
    // Canary status verdicts are free-form in the CRD: whoever can write them must not script the page.
    const markup = '<img src=x onerror="window.__injected=true">';
    const good = backend.rollout;
    const verdict = good.lastVerdicts[0]!;
    backend.rollout = {
      ...good,
      warnings: [markup],
      steps: [5, markup as unknown as number],
      lastVerdicts: [
        {
          ...verdict,
          step: markup as unknown as number,
          weight: markup as unknown as number,
          canary: { ...verdict.canary, requests: markup as unknown as number },
          stable: { ...verdict.stable, requests: markup as unknown as number },
        },
      ],
    };
    try {
      const { page, card } = await openDashboard();
      await card.waitFor({ timeout: 15_000 });
      expect(await card.locator('img').count()).toBe(0);
      expect(await card.textContent()).toContain(markup);
      expect(await page.evaluate(() => (globalThis as { __injected?: boolean }).__injected)).toBe(undefined);
      await page.close();
    } finally {
      backend.rollout = good;
    }
  });

  it('shows the warnings of a rollout (pods without the router) under its message', async () => {
    const good = backend.rollout;
    const warning = '1 pod without the router (shop-7d4-x2): … Delete them: …';
    backend.rollout = { ...good, warnings: [warning] };
    try {
      const { page, card } = await openDashboard();
      const shown = card.locator('.warning');
      await shown.waitFor({ timeout: 15_000 });
      expect(await shown.allTextContents()).toEqual([`warning: ${warning}`]);
      await page.close();
    } finally {
      backend.rollout = good;
    }
  });

  it('rejects API calls without the token', async () => {
    const response = await fetch(`${control.url}/v1/rollouts`);
    expect(response.status).toBe(401);
  });
});
