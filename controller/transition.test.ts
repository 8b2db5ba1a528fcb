import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS, type RolloutSettings } from '../api/annotations.js';
import type { CheckOutcome, Command, Phase, RolloutStatus, Verdict } from '../api/canary.js';
import { PHASES } from '../api/canary.js';
import type { Action, Observation, PublishRoutes } from './rollout-types.js';
import {
  type CanarySizing,
  initialStatus,
  MAX_FAILED_REVISIONS,
  transition,
  weightAwaitingCanary,
} from './transition.js';

const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const INTERVAL = 60_000;
/** The progress deadline without switchyard.io/progress-deadline, in intervals. */
const DEFAULT_DEADLINE_INTERVALS = 10;
const settings = (overrides: Partial<RolloutSettings> = {}): RolloutSettings => ({
  ...DEFAULT_SETTINGS,
  intervalMs: INTERVAL,
  ...overrides,
});

function verdict(outcome: CheckOutcome, fastFail = false): Verdict {
  return {
    at: new Date(T0).toISOString(),
    step: 0,
    weight: 5,
    outcome,
    fastFail,
    checks: [{ name: 'success-rate', outcome, value: 0.9, threshold: 0.99, message: `success ${outcome}` }],
    canary: { requests: 100, errors: 10, successRate: 0.9, p50Seconds: 0.01, p99Seconds: 0.1 },
    stable: { requests: 1900, errors: 0, successRate: 1, p50Seconds: 0.01, p99Seconds: 0.1 },
  };
}

/**
 * Drives the machine with a fake clock, keeping the history of actions. Like a level-triggered
 * adapter whose canary scales at once, it answers `canary-ready` whenever more canary traffic waits
 * for capacity, unless `scalesAtOnce` is off (then `last` is the transition that asked).
 */
class Driver {
  state: RolloutStatus;
  now: number;
  actions: Action[] = [];
  last: ReturnType<typeof transition> | null = null;
  scalesAtOnce = true;
  sizing: CanarySizing = 'switchyard';
  constructor(
    readonly config: RolloutSettings = settings(),
    stable: string | null = 'rev-a',
  ) {
    this.now = T0;
    this.state = initialStatus(new Date(T0), stable);
  }
  advance(ms: number): this {
    this.now += ms;
    return this;
  }
  send(observation: Observation): this {
    this.last = transition(this.state, observation, new Date(this.now), this.config, this.sizing);
    this.state = this.last.state;
    this.actions.push(...this.last.actions);
    if (this.scalesAtOnce && weightAwaitingCanary(this.state, this.config) !== null) {
      return this.send({ type: 'canary-ready' });
    }
    return this;
  }
  command(command: Command): this {
    return this.send({ type: 'command', command });
  }
  analysis(outcome: CheckOutcome, fastFail = false): this {
    return this.send({
      type: 'analysis',
      windowStart: this.state.stepSince ?? 'none',
      verdict: verdict(outcome, fastFail),
    });
  }
  /** Wait one interval and deliver a verdict. */
  step(outcome: CheckOutcome): this {
    return this.advance(INTERVAL).analysis(outcome);
  }
  lastActions(): readonly Action[] {
    return this.last?.actions ?? [];
  }
  publishes(): PublishRoutes[] {
    return this.actions.filter((a): a is PublishRoutes => a.type === 'publish-routes');
  }
}

const progressing = (config = settings()) =>
  new Driver(config).send({ type: 'new-revision', revision: 'rev-b' }).send({ type: 'canary-ready' });

describe('transition: canary strategy', () => {
  it('walks the steps, promotes, and ends Succeeded with stable on the new revision', () => {
    const d = new Driver().send({ type: 'new-revision', revision: 'rev-b' });
    expect(d.state.phase).toBe('Initializing');
    expect(d.lastActions()).toContainEqual({ type: 'ensure-canary', revision: 'rev-b', weight: 5 });
    d.scalesAtOnce = false;
    d.send({ type: 'canary-ready' });
    d.scalesAtOnce = true;
    expect(d.state).toMatchObject({ phase: 'Progressing', step: 0, weight: 5, routeGeneration: 1 });
    expect(d.lastActions()[0]).toMatchObject({ type: 'publish-routes', weights: { stable: 95, canary: 5 } });
    expect(d.lastActions()).toContainEqual({ type: 'analyse', since: d.state.stepSince, step: 0, weight: 5 });

    // A pass before the interval is over does not advance.
    d.advance(INTERVAL / 2).analysis('pass');
    expect(d.state.step).toBe(0);
    d.advance(INTERVAL / 2).analysis('pass');
    expect(d.state).toMatchObject({ step: 1, weight: 25 });
    d.step('pass');
    expect(d.state).toMatchObject({ step: 2, weight: 50 });
    d.step('pass');
    expect(d.state).toMatchObject({ phase: 'Promoting', weight: 100, step: 3 });
    expect(d.lastActions().map((a) => a.type)).toEqual([
      'publish-routes',
      'ensure-canary',
      'promote-stable',
      'record-event',
    ]);
    d.send({ type: 'promotion-complete' });
    expect(d.state).toMatchObject({
      phase: 'Succeeded',
      weight: 0,
      stableRevision: 'rev-b',
      canaryRevision: null,
    });
    expect(d.lastActions()[0]).toMatchObject({ weights: { stable: 100, canary: 0 }, canaryTrack: false });
    expect(d.lastActions()).toContainEqual({ type: 'delete-canary' });
    expect(d.publishes().map((p) => p.weights.canary)).toEqual([5, 25, 50, 100, 0]);
    expect(d.state.verdicts).toHaveLength(3);
  });

  it('waits in WaitingForPromotion with promotion manual until promote', () => {
    const d = progressing(settings({ promotion: 'manual' }));
    d.step('pass').step('pass').step('pass');
    expect(d.state).toMatchObject({ phase: 'WaitingForPromotion', weight: 50 });
    d.advance(100 * INTERVAL)
      .send({ type: 'tick' })
      .analysis('pass');
    expect(d.state.phase).toBe('WaitingForPromotion');
    d.command({ type: 'promote', full: false });
    expect(d.state).toMatchObject({ phase: 'Promoting', weight: 100 });
  });

  it('still rolls back on a fast fail while waiting for promotion', () => {
    const d = progressing(settings({ promotion: 'manual' }));
    d.step('pass').step('pass').step('pass').advance(1000).analysis('fail', true);
    expect(d.state.phase).toBe('RollingBack');
  });

  it('restarts the window after a failed check and rolls back at max-failed-checks, 0% first', () => {
    const d = progressing();
    const firstWindow = d.state.stepSince;
    d.step('fail');
    expect(d.state).toMatchObject({ phase: 'Progressing', failedChecks: 1, step: 0 });
    expect(d.state.stepSince).not.toBe(firstWindow);
    expect(d.lastActions()[0]).toEqual({ type: 'analyse', since: d.state.stepSince, step: 0, weight: 5 });
    d.step('fail');
    expect(d.state).toMatchObject({ phase: 'RollingBack', weight: 0, failedRevisions: ['rev-b'] });
    expect(d.lastActions()[0]).toMatchObject({
      type: 'publish-routes',
      weights: { stable: 100, canary: 0 },
      canaryTrack: false,
    });
    expect(d.lastActions()[1]).toEqual({ type: 'delete-canary' });
    expect(d.lastActions()[2]).toMatchObject({
      type: 'record-event',
      eventType: 'Warning',
      reason: 'RolledBack',
    });
    d.send({ type: 'canary-removed' });
    expect(d.state.phase).toBe('Failed');
  });

  it('rolls back at once on a fast fail, without waiting for the interval', () => {
    const d = progressing().advance(3000).analysis('fail', true);
    expect(d.state.phase).toBe('RollingBack');
    expect(d.state.verdicts.at(-1)?.fastFail).toBe(true);
    expect(d.state.message).toContain('fast fail');
  });

  it('ignores a slow fail before the interval and a verdict for an old window', () => {
    const d = progressing()
      .advance(INTERVAL / 2)
      .analysis('fail');
    expect(d.state.failedChecks).toBe(0);
    const stale = d.state.stepSince;
    d.advance(INTERVAL).analysis('pass'); // advances to step 1
    d.advance(INTERVAL).send({ type: 'analysis', windowStart: stale ?? '', verdict: verdict('fail', true) });
    expect(d.state).toMatchObject({ phase: 'Progressing', step: 1 });
  });

  it('holds on inconclusive, records once per interval, and fails at the progress deadline', () => {
    const d = progressing();
    d.step('inconclusive');
    expect(d.state).toMatchObject({ phase: 'Progressing', step: 0, inconclusiveChecks: 1 });
    const recorded = d.state.verdicts.length;
    d.advance(1000).analysis('inconclusive');
    expect(d.state.verdicts).toHaveLength(recorded);
    // Enough traffic later: the growing window passes.
    d.advance(1000).analysis('pass');
    expect(d.state.step).toBe(1);
    for (let i = 1; i < DEFAULT_DEADLINE_INTERVALS; i++) d.step('inconclusive');
    expect(d.state.phase).toBe('Progressing');
    d.step('inconclusive');
    expect(d.state.phase).toBe('RollingBack');
    expect(d.state.message).toContain('progress deadline');
  });

  it('fails on a tick at the progress deadline even when no verdict ever arrives', () => {
    const d = progressing()
      .advance(DEFAULT_DEADLINE_INTERVALS * INTERVAL - 1)
      .send({ type: 'tick' });
    expect(d.state.phase).toBe('Progressing');
    d.advance(1).send({ type: 'tick' });
    expect(d.state.phase).toBe('RollingBack');
  });

  it('uses switchyard.io/progress-deadline: 3 intervals of inconclusive verdicts roll back, not before', () => {
    const d = progressing(settings({ progressDeadlineMs: 3 * INTERVAL }));
    d.step('inconclusive')
      .step('inconclusive')
      .advance(INTERVAL - 1)
      .analysis('inconclusive');
    expect(d.state).toMatchObject({ phase: 'Progressing', step: 0 });
    d.advance(1).analysis('inconclusive');
    expect(d.state).toMatchObject({ phase: 'RollingBack', weight: 0, failedRevisions: ['rev-b'] });
    expect(d.state.message).toContain('progress deadline');
  });

  it('names the configured deadline when a tick reaches it, and holds past 10 intervals when longer', () => {
    const short = progressing(settings({ progressDeadlineMs: 3 * INTERVAL }))
      .advance(3 * INTERVAL - 1)
      .send({ type: 'tick' });
    expect(short.state.phase).toBe('Progressing');
    short.advance(1).send({ type: 'tick' });
    expect(short.state.message).toBe(
      'rolled back rev-b: no conclusive analysis at step 1 within 180s (progress deadline)',
    );
    const long = progressing(settings({ progressDeadlineMs: 15 * INTERVAL }))
      .advance(DEFAULT_DEADLINE_INTERVALS * INTERVAL)
      .send({ type: 'tick' })
      .analysis('inconclusive');
    expect(long.state.phase).toBe('Progressing');
    long.advance(5 * INTERVAL).send({ type: 'tick' });
    expect(long.state.message).toContain('within 900s (progress deadline)');
  });

  it('uses switchyard.io/progress-deadline for a canary that never gets ready and a slow promotion', () => {
    const config = settings({ progressDeadlineMs: 3 * INTERVAL });
    const initializing = new Driver(config)
      .send({ type: 'new-revision', revision: 'rev-b' })
      .advance(3 * INTERVAL - 1)
      .send({ type: 'tick' });
    expect(initializing.state.phase).toBe('Initializing');
    initializing.advance(1).send({ type: 'tick' });
    expect(initializing.state.message).toBe(
      'rolled back rev-b: canary not ready within 180s (progress deadline)',
    );
    const promoting = progressing(config)
      .command({ type: 'promote', full: true })
      .advance(3 * INTERVAL - 1)
      .send({ type: 'tick' });
    expect(promoting.lastActions()).toEqual([{ type: 'promote-stable', revision: 'rev-b' }]);
    promoting.advance(1).send({ type: 'tick' });
    expect(promoting.lastActions()).toContainEqual(
      expect.objectContaining({
        reason: 'PromotionSlow',
        message: 'promotion slow: stable not rolled out to rev-b after 180s; still asking',
      }),
    );
  });

  it('asks for the canary again on every tick while initializing (a create may have been lost)', () => {
    const d = new Driver().send({ type: 'new-revision', revision: 'rev-b' });
    const before = d.state;
    d.advance(INTERVAL).send({ type: 'tick' });
    expect(d.state).toBe(before);
    expect(d.lastActions()).toEqual([{ type: 'ensure-canary', revision: 'rev-b', weight: 5 }]);
    const blueGreen = new Driver(settings({ strategy: 'bluegreen' }))
      .send({ type: 'new-revision', revision: 'rev-b' })
      .send({ type: 'tick' });
    expect(blueGreen.lastActions()).toEqual([{ type: 'ensure-canary', revision: 'rev-b', weight: 100 }]);
  });

  it('fails when the canary never becomes ready', () => {
    const d = new Driver().send({ type: 'new-revision', revision: 'rev-b' });
    d.send({ type: 'canary-not-ready', reason: 'ImagePullBackOff' });
    expect(d.lastActions()).toEqual([
      {
        type: 'record-event',
        eventType: 'Warning',
        reason: 'CanaryNotReady',
        message: 'canary not ready: ImagePullBackOff',
      },
    ]);
    d.send({ type: 'canary-not-ready', reason: 'ImagePullBackOff' });
    expect(d.lastActions()).toEqual([]);
    d.advance(DEFAULT_DEADLINE_INTERVALS * INTERVAL).send({ type: 'tick' });
    expect(d.state).toMatchObject({ phase: 'RollingBack', failedRevisions: ['rev-b'] });
  });

  it('never restarts a failed revision by itself; another revision starts; retry reruns', () => {
    const d = progressing().step('fail').step('fail').send({ type: 'canary-removed' });
    const failed = d.state;
    d.send({ type: 'new-revision', revision: 'rev-b' });
    expect(d.state).toBe(failed);
    expect(d.lastActions()).toEqual([]);
    d.command({ type: 'retry' });
    expect(d.state).toMatchObject({ phase: 'Initializing', canaryRevision: 'rev-b', failedRevisions: [] });
    expect(d.lastActions()).toContainEqual({ type: 'ensure-canary', revision: 'rev-b', weight: 5 });

    const other = progressing().step('fail').step('fail').send({ type: 'canary-removed' });
    other.send({ type: 'new-revision', revision: 'rev-c' });
    expect(other.state).toMatchObject({
      phase: 'Initializing',
      canaryRevision: 'rev-c',
      failedRevisions: ['rev-b'],
    });
  });

  it('supersedes a running rollout with a newer revision, taking the old canary out first', () => {
    const d = progressing().step('pass');
    d.send({ type: 'new-revision', revision: 'rev-c' });
    expect(d.state).toMatchObject({ phase: 'Initializing', canaryRevision: 'rev-c', weight: 0, step: 0 });
    expect(d.lastActions()[0]).toMatchObject({ type: 'publish-routes', weights: { canary: 0 } });
  });

  it('a new revision while promoting supersedes the promotion; it gets its own canary, never a release', () => {
    // Kubernetes: the Deployment now holds rev-c, so rev-b can never finish rolling out there.
    const d = inPhase('Promoting');
    d.send({ type: 'new-revision', revision: 'rev-b' });
    expect(d.lastActions(), 'the promoted revision observed again').toEqual([]);
    d.send({ type: 'new-revision', revision: 'rev-c' });
    expect(d.state).toMatchObject({
      phase: 'Initializing',
      stableRevision: 'rev-a',
      canaryRevision: 'rev-c',
      failedRevisions: [],
      weight: 0,
      step: 0,
      message: 'new revision; promotion of rev-b superseded: waiting for canary rev-c to be ready',
    });
    expect(d.lastActions()).toEqual([
      expect.objectContaining({
        type: 'publish-routes',
        weights: { stable: 100, canary: 0 },
        canaryTrack: false,
      }),
      { type: 'ensure-canary', revision: 'rev-c', weight: 5 },
      expect.objectContaining({ type: 'record-event', reason: 'RolloutStarted' }),
    ]);
    d.send({ type: 'tick' });
    expect(d.lastActions()).toEqual([{ type: 'ensure-canary', revision: 'rev-c', weight: 5 }]);
    d.send({ type: 'canary-ready' }).step('pass').step('pass').step('pass');
    expect(d.lastActions()).toContainEqual({ type: 'promote-stable', revision: 'rev-c' });
    d.send({ type: 'promotion-complete' });
    expect(d.state).toMatchObject({ phase: 'Succeeded', stableRevision: 'rev-c' });
  });

  it('the stable revision re-applied while promoting cancels the promotion and releases the stable workload', () => {
    const d = inPhase('Promoting').send({ type: 'new-revision', revision: 'rev-a' });
    expect(d.state).toMatchObject({
      phase: 'Idle',
      weight: 0,
      canaryRevision: null,
      stableRevision: 'rev-a',
    });
    expect(d.lastActions()[0]).toMatchObject({ type: 'publish-routes', weights: { canary: 0 } });
    expect(d.lastActions()).toContainEqual({ type: 'promote-stable', revision: 'rev-a' });
    expect(d.lastActions()).not.toContainEqual({ type: 'promote-stable', revision: 'rev-b' });
  });

  it('a failed revision re-applied during a rollout cancels it and is held back for retry', () => {
    // The workload now holds rev-b, which failed: rev-c can never be promoted, rev-b never starts alone.
    const toPhase = {
      Initializing: (d: Driver) => d,
      Progressing: (d: Driver) => d.send({ type: 'canary-ready' }),
      Paused: (d: Driver) => d.send({ type: 'canary-ready' }).command({ type: 'pause' }),
      WaitingForPromotion: (d: Driver) =>
        d.send({ type: 'canary-ready' }).step('pass').step('pass').step('pass'),
      Promoting: (d: Driver) => d.send({ type: 'canary-ready' }).command({ type: 'promote', full: true }),
    } as const;
    for (const [phase, script] of Object.entries(toPhase)) {
      const failed = new Driver(settings({ promotion: 'manual' }));
      failed.send({ type: 'new-revision', revision: 'rev-b' }).command({ type: 'abort' });
      failed.send({ type: 'canary-removed' }).send({ type: 'new-revision', revision: 'rev-c' });
      const d = script(failed);
      expect(d.state).toMatchObject({ phase, canaryRevision: 'rev-c', failedRevisions: ['rev-b'] });
      d.send({ type: 'new-revision', revision: 'rev-b' });
      expect(d.state, phase).toMatchObject({
        phase: 'Idle',
        weight: 0,
        canaryRevision: 'rev-b',
        failedRevisions: ['rev-b'],
        message: 'rollout of rev-c cancelled: revision rev-b failed before and is held back; retry reruns it',
      });
      expect(d.lastActions()).toEqual([
        expect.objectContaining({ type: 'publish-routes', weights: { stable: 100, canary: 0 } }),
        { type: 'delete-canary' },
        expect.objectContaining({ type: 'record-event', reason: 'RolloutCancelled' }),
      ]);
      const held = d.state;
      d.send({ type: 'new-revision', revision: 'rev-b' });
      expect(d.state).toBe(held);
      d.command({ type: 'retry' });
      expect(d.state).toMatchObject({ phase: 'Initializing', canaryRevision: 'rev-b' });
    }
  });

  it('cancels the rollout when the stable revision is re-applied, and releases the stable workload', () => {
    const d = progressing().send({ type: 'new-revision', revision: 'rev-a' });
    expect(d.state).toMatchObject({ phase: 'Idle', weight: 0, canaryRevision: null, failedRevisions: [] });
    expect(d.lastActions().map((a) => a.type)).toEqual([
      'publish-routes',
      'delete-canary',
      'record-event',
      'promote-stable',
    ]);
    expect(d.lastActions()).toContainEqual({ type: 'promote-stable', revision: 'rev-a' });
  });

  it('after a revert while Failed, retry has nothing to rerun until the failed template is held again', () => {
    const d = inPhase('Failed');
    d.send({ type: 'new-revision', revision: 'rev-a' });
    expect(d.lastActions()).toEqual([{ type: 'promote-stable', revision: 'rev-a' }]);
    // The workload runs the stable template: rev-b is no longer what a retry could create.
    expect(d.state).toMatchObject({ phase: 'Failed', canaryRevision: null, failedRevisions: ['rev-b'] });
    const reverted = d.state;
    d.send({ type: 'new-revision', revision: 'rev-a' });
    expect(d.state).toBe(reverted);
    d.command({ type: 'retry' });
    expect(d.last?.rejected).toMatch(/retry rejected in phase Failed: nothing to retry.*rev-a.*re-apply/);
    expect(d.state).toBe(reverted);
    expect(d.lastActions()).toEqual([]);
    // Re-applying the failed template holds it again (nothing starts by itself); retry reruns it.
    d.send({ type: 'new-revision', revision: 'rev-b' });
    expect(d.state).toMatchObject({ phase: 'Failed', canaryRevision: 'rev-b' });
    expect(d.lastActions()).toEqual([]);
    d.command({ type: 'retry' });
    expect(d.state).toMatchObject({ phase: 'Initializing', canaryRevision: 'rev-b', failedRevisions: [] });
  });

  it('retry reruns the failed revision the workload holds now, not the one that failed last', () => {
    const d = inPhase('Failed');
    d.send({ type: 'new-revision', revision: 'rev-c' }).send({ type: 'canary-ready' });
    d.command({ type: 'abort' }).send({ type: 'canary-removed' });
    expect(d.state).toMatchObject({
      phase: 'Failed',
      canaryRevision: 'rev-c',
      failedRevisions: ['rev-b', 'rev-c'],
    });
    // The user applies rev-b's template again: held back (it failed before), and named by retry.
    d.send({ type: 'new-revision', revision: 'rev-b' });
    expect(d.lastActions()).toEqual([]);
    d.command({ type: 'retry' });
    expect(d.state).toMatchObject({
      phase: 'Initializing',
      canaryRevision: 'rev-b',
      failedRevisions: ['rev-c'],
    });
    expect(d.lastActions()).toContainEqual({ type: 'ensure-canary', revision: 'rev-b', weight: 5 });
  });

  it('a failed revision re-applied while another rolls back stays held when the failed list is full', () => {
    // 20 revisions failed; rev-f0 is the oldest. rev-z runs; the user aborts it and re-applies rev-f0
    // (Kubernetes: one reconcile reads the abort first, then the Deployment holding rev-f0, which
    // waits while rolling back). The rollback of rev-z must not forget rev-f0 the workload now holds.
    const d = new Driver();
    for (let i = 0; i < MAX_FAILED_REVISIONS; i++) {
      d.send({ type: 'new-revision', revision: `rev-f${i}` }).send({ type: 'canary-ready' });
      d.command({ type: 'abort' }).send({ type: 'canary-removed' });
    }
    expect(d.state.failedRevisions).toHaveLength(MAX_FAILED_REVISIONS);
    d.send({ type: 'new-revision', revision: 'rev-z' }).send({ type: 'canary-ready' });
    d.command({ type: 'abort' }).send({ type: 'new-revision', revision: 'rev-f0' });
    expect(d.state.phase).toBe('RollingBack');
    d.send({ type: 'canary-removed' }).send({ type: 'new-revision', revision: 'rev-f0' });
    expect(d.lastActions()).toEqual([]);
    expect(d.state).toMatchObject({ phase: 'Failed', canaryRevision: 'rev-f0' });
    expect(d.state.failedRevisions).toContain('rev-f0');
    d.command({ type: 'retry' });
    expect(d.lastActions()).toContainEqual({ type: 'ensure-canary', revision: 'rev-f0', weight: 5 });
  });

  it('the failed list stays bounded: the oldest is forgotten when a rollout of another revision starts', () => {
    const d = new Driver();
    for (let i = 0; i < 3 * MAX_FAILED_REVISIONS; i++) {
      d.send({ type: 'new-revision', revision: `rev-f${i}` });
      expect(d.state.failedRevisions.length).toBeLessThanOrEqual(MAX_FAILED_REVISIONS);
      d.send({ type: 'canary-ready' }).command({ type: 'abort' }).send({ type: 'canary-removed' });
      // The one that just failed comes on top: the workload holds it, retry reruns it.
      expect(d.state.failedRevisions.length).toBeLessThanOrEqual(MAX_FAILED_REVISIONS + 1);
      expect(d.state.failedRevisions.at(-1)).toBe(`rev-f${i}`);
    }
    expect(d.state.failedRevisions[0]).toBe(`rev-f${2 * MAX_FAILED_REVISIONS - 1}`);
  });

  it('holds a failed revision re-applied after the rollout ended (Idle, Succeeded), and retry reruns it', () => {
    const scripts = {
      // rev-b failed, then rev-c was promoted.
      Succeeded: () =>
        inPhase('Failed')
          .send({ type: 'new-revision', revision: 'rev-c' })
          .send({ type: 'canary-ready' })
          .command({ type: 'promote', full: true })
          .send({ type: 'promotion-complete' }),
      // rev-b failed, then rev-c was started and cancelled by a revert to rev-a.
      Idle: () =>
        inPhase('Failed')
          .send({ type: 'new-revision', revision: 'rev-c' })
          .send({ type: 'new-revision', revision: 'rev-a' }),
    } as const;
    for (const [phase, script] of Object.entries(scripts)) {
      const d = script();
      expect(d.state).toMatchObject({ phase, canaryRevision: null, failedRevisions: ['rev-b'] });
      d.command({ type: 'retry' });
      expect(d.last?.rejected).toBe(
        `retry rejected in phase ${phase}: nothing to retry: no failed revision is held (failed before: rev-b); re-apply the failed revision (it is held back, not started), then retry`,
      );
      // The workload holds rev-b again (Kubernetes: paused): nothing starts, but the status says so.
      d.send({ type: 'new-revision', revision: 'rev-b' });
      expect(d.lastActions()).toEqual([]);
      expect(d.state).toMatchObject({
        phase,
        canaryRevision: 'rev-b',
        message: 'revision rev-b failed before and is held back; retry reruns it',
      });
      const held = d.state;
      d.send({ type: 'new-revision', revision: 'rev-b' });
      expect(d.state).toBe(held);
      d.command({ type: 'retry' });
      expect(d.state).toMatchObject({ phase: 'Initializing', canaryRevision: 'rev-b', failedRevisions: [] });
      expect(d.lastActions()).toContainEqual({ type: 'ensure-canary', revision: 'rev-b', weight: 5 });
    }
  });

  it('a revert after a failed revision was held again lets it go: retry has nothing to rerun', () => {
    const d = inPhase('Failed')
      .send({ type: 'new-revision', revision: 'rev-c' })
      .send({ type: 'canary-ready' })
      .command({ type: 'promote', full: true })
      .send({ type: 'promotion-complete' })
      .send({ type: 'new-revision', revision: 'rev-b' });
    expect(d.state).toMatchObject({ phase: 'Succeeded', stableRevision: 'rev-c', canaryRevision: 'rev-b' });
    d.send({ type: 'new-revision', revision: 'rev-c' });
    expect(d.lastActions()).toEqual([{ type: 'promote-stable', revision: 'rev-c' }]);
    expect(d.state).toMatchObject({ phase: 'Succeeded', canaryRevision: null });
    d.command({ type: 'retry' });
    expect(d.last?.rejected).toMatch(/nothing to retry: no failed revision is held/);
  });

  it('retry with no failed revision at all says so', () => {
    for (const phase of ['Idle', 'Succeeded'] as const) {
      const d = inPhase(phase).command({ type: 'retry' });
      expect(d.last?.rejected).toBe(
        `retry rejected in phase ${phase}: nothing to retry: no revision has failed`,
      );
    }
  });

  it('releases the stable workload when the stable revision is re-applied after a rollout ended', () => {
    // git revert after a rollback: the gate holds the stable template itself; nothing is pending.
    for (const phase of ['Succeeded', 'Idle'] as const) {
      const d = inPhase(phase);
      const stable = d.state.stableRevision ?? 'rev-a';
      const before = d.state;
      d.send({ type: 'new-revision', revision: stable });
      expect(d.state).toBe(before);
      expect(d.lastActions()).toEqual([{ type: 'promote-stable', revision: stable }]);
    }
  });

  it('repeated observations of the running revision change nothing (level-triggered adapters)', () => {
    const d = progressing();
    const before = d.state;
    d.send({ type: 'new-revision', revision: 'rev-b' }).send({ type: 'canary-ready' });
    expect(d.state).toBe(before);
  });
});

describe('transition: ab and bluegreen', () => {
  const match = [{ header: { name: 'x-user-group', exact: 'beta' } }] as const;
  it('ab sends the match segment to the canary at 0% weight, then promotes', () => {
    const d = progressing(settings({ strategy: 'ab', match }));
    expect(d.lastActions()[0]).toMatchObject({
      type: 'publish-routes',
      weights: { stable: 100, canary: 0 },
      canaryTrack: true,
      rulesToCanary: match,
    });
    d.step('pass').step('pass').step('pass');
    expect(d.state).toMatchObject({ phase: 'Promoting', weight: 100 });
    expect(d.publishes().at(-1)).toMatchObject({ weights: { canary: 100 }, rulesToCanary: [] });
  });

  it('bluegreen keeps the canary at 0% live with mirroring, then switches 0→100', () => {
    const d = progressing(settings({ strategy: 'bluegreen', mirrorPercent: 10 }));
    expect(d.lastActions()[0]).toMatchObject({
      weights: { canary: 0 },
      canaryTrack: true,
      mirrorPercent: 10,
    });
    d.step('pass').step('pass').step('pass');
    expect(d.publishes().map((p) => p.weights.canary)).toEqual([0, 0, 0, 100]);
    expect(d.publishes().at(-1)?.mirrorPercent).toBe(0);
  });

  it('rejects set-weight outside the canary strategy', () => {
    const d = progressing(settings({ strategy: 'bluegreen' })).command({ type: 'set-weight', weight: 30 });
    expect(d.last?.rejected).toContain('bluegreen');
    expect(d.state.phase).toBe('Progressing');
  });
});

// ------------------------------------------------------------------------------------------------
// Every command in every phase.

function inPhase(phase: Phase): Driver {
  const scripts: Record<Phase, () => Driver> = {
    Idle: () => new Driver(),
    Initializing: () => new Driver().send({ type: 'new-revision', revision: 'rev-b' }),
    Progressing: () => progressing().step('pass'),
    Paused: () => progressing().step('pass').command({ type: 'pause' }),
    WaitingForPromotion: () =>
      progressing(settings({ promotion: 'manual' }))
        .step('pass')
        .step('pass')
        .step('pass'),
    Promoting: () => progressing().command({ type: 'promote', full: true }),
    Succeeded: () =>
      progressing().command({ type: 'promote', full: true }).send({ type: 'promotion-complete' }),
    RollingBack: () => progressing().command({ type: 'abort' }),
    Failed: () => progressing().command({ type: 'abort' }).send({ type: 'canary-removed' }),
  };
  const d = scripts[phase]();
  expect(d.state.phase).toBe(phase);
  return d;
}

const COMMAND_CASES: Record<string, Command> = {
  promote: { type: 'promote', full: false },
  'promote --full': { type: 'promote', full: true },
  abort: { type: 'abort' },
  retry: { type: 'retry' },
  pause: { type: 'pause' },
  resume: { type: 'resume' },
  'set-weight 30': { type: 'set-weight', weight: 30 },
};

type Expect = Phase | 'rejected';
const R = 'rejected';
// Rows: phase; columns: the COMMAND_CASES in order. The expected phase afterwards, or rejected.
const EXPECTED: Record<Phase, readonly Expect[]> = {
  //                     promote        promote --full abort          retry           pause     resume                 set-weight
  Idle: [R, R, R, R, R, R, R],
  Initializing: [R, R, 'RollingBack', R, R, R, R],
  Progressing: ['Progressing', 'Promoting', 'RollingBack', R, 'Paused', R, 'Paused'],
  Paused: ['Progressing', 'Promoting', 'RollingBack', R, R, 'Progressing', 'Paused'],
  WaitingForPromotion: ['Promoting', 'Promoting', 'RollingBack', R, 'Paused', R, 'Paused'],
  Promoting: [R, R, R, R, R, R, R],
  Succeeded: [R, R, R, R, R, R, R],
  RollingBack: [R, R, R, R, R, R, R],
  Failed: [R, R, R, 'Initializing', R, R, R],
};

describe('transition: every operator command in every phase', () => {
  const cases = PHASES.flatMap((phase) =>
    Object.entries(COMMAND_CASES).map(([name, command], index) => ({
      phase,
      name,
      command,
      expected: EXPECTED[phase][index] as Expect,
    })),
  );
  it.each(cases)('$name in $phase → $expected', ({ phase, command, expected }) => {
    const d = inPhase(phase);
    const before = d.state;
    d.command(command);
    if (expected === 'rejected') {
      expect(d.last?.rejected).toMatch(new RegExp(`${command.type} rejected.*: .+`));
      expect(d.state).toBe(before);
      expect(d.lastActions()).toEqual([]);
    } else {
      expect(d.last?.rejected).toBeNull();
      expect(d.state.phase).toBe(expected);
      expect(d.lastActions().some((a) => a.type === 'record-event')).toBe(true);
    }
  });

  it('set-weight publishes the weight and holds it until resume restores the step weight', () => {
    const d = progressing().command({ type: 'set-weight', weight: 40 });
    expect(d.state).toMatchObject({
      phase: 'Paused',
      weight: 40,
      pausedFrom: 'Progressing',
      stepSince: null,
    });
    expect(d.lastActions()[0]).toMatchObject({ weights: { stable: 60, canary: 40 } });
    d.advance(20 * INTERVAL)
      .send({ type: 'tick' })
      .analysis('fail', true);
    expect(d.state.phase).toBe('Paused');
    d.command({ type: 'resume' });
    expect(d.state).toMatchObject({ phase: 'Progressing', weight: 5, step: 0 });
    for (const weight of [-1, 101, 2.5]) {
      const r = progressing().command({ type: 'set-weight', weight });
      expect(r.last?.rejected).toContain('not an integer 0-100');
    }
  });

  it('abort reaches 0% in the first action from every active phase', () => {
    for (const phase of ['Initializing', 'Progressing', 'Paused', 'WaitingForPromotion'] as const) {
      const d = inPhase(phase).command({ type: 'abort' });
      expect(d.lastActions()[0]).toMatchObject({ type: 'publish-routes', weights: { canary: 0 } });
    }
  });

  it('sizes the canary for the whole load before promotion routes 100% to it', () => {
    // Auto promotion after the last step (50%): a canary sized for half the traffic would take all
    // of it until the stable Deployment has rolled out, unless it is scaled up first.
    const auto = progressing().step('pass').step('pass').step('pass');
    expect(auto.state.phase).toBe('Promoting');
    expect(auto.lastActions()).toContainEqual({ type: 'ensure-canary', revision: 'rev-b', weight: 100 });
    // promote --full at the first step (5%): one canary pod of twenty would take everything.
    const full = progressing().command({ type: 'promote', full: true });
    expect(full.lastActions()).toContainEqual({ type: 'ensure-canary', revision: 'rev-b', weight: 100 });
  });

  it('raises canary traffic only once the canary is scaled for it, at a step and at promotion', () => {
    const d = progressing();
    d.scalesAtOnce = false;
    d.step('pass');
    // Step 2 (25%) is asked for; 5% stays live and no analysis window is open.
    expect(d.state).toMatchObject({ phase: 'Progressing', step: 1, weight: 5 });
    expect(d.lastActions()).toEqual([
      { type: 'ensure-canary', revision: 'rev-b', weight: 25 },
      expect.objectContaining({ type: 'record-event', reason: 'CanaryScaling' }),
    ]);
    d.advance(INTERVAL).analysis('pass');
    expect(d.state).toMatchObject({ step: 1, weight: 5 });
    d.send({ type: 'canary-ready' });
    expect(d.state).toMatchObject({ phase: 'Progressing', step: 1, weight: 25 });
    expect(d.lastActions()[0]).toMatchObject({ type: 'publish-routes', weights: { stable: 75, canary: 25 } });
    expect(d.lastActions()).toContainEqual({
      type: 'analyse',
      since: d.state.stepSince,
      step: 1,
      weight: 25,
    });
    const live = d.state;
    d.send({ type: 'canary-ready' });
    expect(d.state).toBe(live);

    d.step('pass').send({ type: 'canary-ready' }).step('pass');
    // Promotion: stable is not asked to roll out, nor 100% published, before the canary can take it.
    expect(d.state).toMatchObject({ phase: 'Promoting', weight: 50 });
    expect(d.lastActions()).toEqual([
      { type: 'ensure-canary', revision: 'rev-b', weight: 100 },
      expect.objectContaining({ type: 'record-event', reason: 'CanaryScaling' }),
    ]);
    d.advance(INTERVAL).send({ type: 'tick' });
    expect(d.lastActions()).toEqual([{ type: 'ensure-canary', revision: 'rev-b', weight: 100 }]);
    d.send({ type: 'canary-ready' });
    expect(d.state).toMatchObject({ phase: 'Promoting', weight: 100 });
    expect(d.lastActions().map((action) => action.type)).toEqual([
      'publish-routes',
      'ensure-canary',
      'promote-stable',
      'record-event',
    ]);
  });

  it('publishes each step and the promotion at once when the operator sizes the canary (file mode)', () => {
    const d = new Driver();
    d.sizing = 'operator';
    d.scalesAtOnce = false;
    d.send({ type: 'new-revision', revision: 'rev-b' }).send({ type: 'canary-ready' }).step('pass');
    expect(d.state).toMatchObject({ phase: 'Progressing', step: 1, weight: 25 });
    expect(d.lastActions().map((action) => action.type)).toEqual([
      'publish-routes',
      'ensure-canary',
      'analyse',
      'record-event',
    ]);
    expect(d.lastActions()[3]).toMatchObject({
      reason: 'StepStarted',
      message: expect.stringMatching(/^step 1 passed/),
    });
    d.step('pass').step('pass');
    expect(d.state).toMatchObject({ phase: 'Promoting', weight: 100 });
    expect(
      d.actions.filter((action) => action.type === 'record-event').map((action) => action.reason),
    ).not.toContain('CanaryScaling');
  });

  it('rolls back when the canary cannot be scaled for a step within the progress deadline', () => {
    const d = progressing();
    d.scalesAtOnce = false;
    d.step('pass')
      .advance(DEFAULT_DEADLINE_INTERVALS * INTERVAL)
      .send({ type: 'tick' });
    expect(d.state.phase).toBe('RollingBack');
    expect(d.state.message).toContain('canary not scaled for step 2');
    expect(d.lastActions()[0]).toMatchObject({ type: 'publish-routes', weights: { stable: 100, canary: 0 } });
  });

  it('resizes the canary when resume puts WaitingForPromotion back at the last step weight', () => {
    const d = inPhase('WaitingForPromotion').command({ type: 'set-weight', weight: 10 });
    expect(d.lastActions()).toContainEqual({ type: 'ensure-canary', revision: 'rev-b', weight: 10 });
    d.command({ type: 'resume' });
    expect(d.state).toMatchObject({ phase: 'WaitingForPromotion', weight: 50 });
    expect(d.lastActions()).toContainEqual({ type: 'ensure-canary', revision: 'rev-b', weight: 50 });
  });

  it('re-creates a canary removed by hand while it serves traffic, without an event per reconcile', () => {
    for (const [phase, weight] of [
      ['Progressing', 25],
      ['Paused', 25],
      ['WaitingForPromotion', 50],
      ['Promoting', 100],
    ] as const) {
      const d = inPhase(phase).send({ type: 'canary-removed' });
      expect(d.state).toMatchObject({ phase, weight });
      expect(d.lastActions()).toEqual([
        { type: 'ensure-canary', revision: 'rev-b', weight },
        expect.objectContaining({ type: 'record-event', eventType: 'Warning', reason: 'CanaryRecreated' }),
      ]);
      d.send({ type: 'canary-removed' });
      expect(d.lastActions()).toEqual([{ type: 'ensure-canary', revision: 'rev-b', weight }]);
    }
  });

  it('asks again to delete a canary workload left over outside a rollout; ignores it during one', () => {
    // Idle after a cancel, Succeeded after a promotion (the canary sized for 100 %), Failed: a
    // delete that failed, or a stop between the status write and the delete, is asked for again.
    for (const phase of ['Idle', 'Succeeded', 'Failed'] as const) {
      const d = inPhase(phase);
      const before = d.state;
      d.send({ type: 'canary-present' });
      expect(d.state).toBe(before);
      expect(d.lastActions()).toEqual([{ type: 'delete-canary' }]);
    }
    const cancelled = progressing().send({ type: 'new-revision', revision: 'rev-a' });
    expect(cancelled.state.phase).toBe('Idle');
    expect(cancelled.send({ type: 'canary-present' }).lastActions()).toEqual([{ type: 'delete-canary' }]);
    for (const phase of PHASES.filter((p) => !['Idle', 'Succeeded', 'Failed'].includes(p))) {
      const d = inPhase(phase);
      const before = d.state;
      d.send({ type: 'canary-present' });
      expect(d.state).toBe(before);
      expect(d.lastActions()).toEqual([]);
    }
  });

  it('promote in the last step skips to promotion, and pause during WaitingForPromotion resumes there', () => {
    const d = progressing().step('pass').step('pass').command({ type: 'promote', full: false });
    expect(d.state.phase).toBe('Promoting');
    const w = inPhase('WaitingForPromotion').command({ type: 'pause' }).command({ type: 'resume' });
    expect(w.state).toMatchObject({ phase: 'WaitingForPromotion', weight: 50 });
  });
});

// ------------------------------------------------------------------------------------------------
// Restart from any persisted state; invariants under arbitrary observation sequences.

const observationArb: fc.Arbitrary<[number, Observation]> = fc.tuple(
  fc.integer({ min: 0, max: 3 * INTERVAL }),
  fc.oneof(
    fc.constantFrom<Observation>(
      { type: 'new-revision', revision: 'rev-a' },
      { type: 'new-revision', revision: 'rev-b' },
      { type: 'new-revision', revision: 'rev-c' },
      { type: 'canary-ready' },
      { type: 'canary-not-ready', reason: 'CrashLoopBackOff' },
      { type: 'tick' },
      { type: 'promotion-complete' },
      { type: 'canary-removed' },
      { type: 'canary-present' },
    ),
    fc
      .constantFrom(...Object.values(COMMAND_CASES))
      .map((command): Observation => ({ type: 'command', command })),
    fc.tuple(fc.constantFrom<CheckOutcome>('pass', 'fail', 'inconclusive'), fc.boolean(), fc.boolean()).map(
      ([outcome, fastFail, current]): Observation => ({
        type: 'analysis',
        windowStart: current ? '@current' : '2000-01-01T00:00:00.000Z',
        verdict: verdict(outcome, fastFail),
      }),
    ),
  ),
);

const settingsArb = fc.record({
  strategy: fc.constantFrom('canary' as const, 'ab' as const, 'bluegreen' as const),
  promotion: fc.constantFrom('auto' as const, 'manual' as const),
  maxFailedChecks: fc.integer({ min: 1, max: 3 }),
  progressDeadlineMs: fc.constantFrom(null, INTERVAL, 3 * INTERVAL),
});

function resolve(observation: Observation, state: RolloutStatus): Observation {
  return observation.type === 'analysis' && observation.windowStart === '@current'
    ? { ...observation, windowStart: state.stepSince ?? 'none' }
    : observation;
}

describe('transition: properties', () => {
  it('weights stay 0-100, generations strictly increase per publish, failed revisions never restart alone', () => {
    fc.assert(
      fc.property(settingsArb, fc.array(observationArb, { maxLength: 60 }), (overrides, steps) => {
        const config = settings(overrides);
        let state = initialStatus(new Date(T0), 'rev-a');
        let now = T0;
        for (const [delay, raw] of steps) {
          now += delay;
          const observation = resolve(raw, state);
          const before = state;
          const out = transition(state, observation, new Date(now), config);
          state = out.state;
          expect(Number.isInteger(state.weight) && state.weight >= 0 && state.weight <= 100).toBe(true);
          let generation = before.routeGeneration;
          for (const action of out.actions) {
            if (action.type !== 'publish-routes') continue;
            expect(action.generation).toBe(generation + 1);
            generation = action.generation;
            expect(action.weights.stable + action.weights.canary).toBe(100);
          }
          expect(state.routeGeneration).toBe(generation);
          if (state.phase === 'RollingBack' && before.phase !== 'RollingBack') {
            expect(out.actions[0]).toMatchObject({ type: 'publish-routes', weights: { canary: 0 } });
          }
          if (
            observation.type === 'new-revision' &&
            before.failedRevisions.includes(observation.revision) &&
            observation.revision !== before.stableRevision
          ) {
            // At most held back for retry: never started, never a canary.
            expect(out.actions.filter((action) => action.type === 'ensure-canary')).toEqual([]);
            if (out.state !== before) {
              expect(out.state.canaryRevision).toBe(observation.revision);
              expect(['Idle', 'Succeeded', 'Failed']).toContain(out.state.phase);
            }
          }
          if (out.rejected !== null) {
            expect(out.state).toBe(before);
            expect(out.actions).toEqual([]);
          }
          expect(state.verdicts.length).toBeLessThanOrEqual(20);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('the canary is sized for every live weight published to it (adapters scale replicas by weight)', () => {
    fc.assert(
      fc.property(settingsArb, fc.array(observationArb, { maxLength: 60 }), (overrides, steps) => {
        const config = settings(overrides);
        let state = initialStatus(new Date(T0), 'rev-a');
        let now = T0;
        let sized = 0;
        for (const [delay, raw] of steps) {
          now += delay;
          const out = transition(state, resolve(raw, state), new Date(now), config);
          state = out.state;
          for (const action of out.actions) if (action.type === 'ensure-canary') sized = action.weight;
          for (const action of out.actions) {
            if (action.type === 'publish-routes' && action.canaryTrack) {
              expect(action.weights.canary).toBeLessThanOrEqual(sized);
            }
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('a restart from any persisted state (JSON round trip) continues exactly as without one', () => {
    fc.assert(
      fc.property(
        settingsArb,
        fc.array(observationArb, { minLength: 1, maxLength: 40 }),
        fc.nat(),
        (overrides, steps, cut) => {
          const config = settings(overrides);
          const split = cut % steps.length;
          let live = initialStatus(new Date(T0), 'rev-a');
          let restarted = live;
          let now = T0;
          steps.forEach(([delay, raw], index) => {
            now += delay;
            if (index === split) restarted = JSON.parse(JSON.stringify(live)) as RolloutStatus;
            const a = transition(live, resolve(raw, live), new Date(now), config);
            live = a.state;
            if (index < split) return;
            const b = transition(restarted, resolve(raw, restarted), new Date(now), config);
            restarted = b.state;
            expect(b.actions).toEqual(a.actions);
            expect(b.rejected).toEqual(a.rejected);
          });
          expect(restarted).toEqual(live);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('transition: restart in every phase', () => {
  const followUps: readonly Observation[] = [
    { type: 'tick' },
    { type: 'canary-ready' },
    { type: 'promotion-complete' },
    { type: 'canary-removed' },
    { type: 'canary-present' },
    { type: 'new-revision', revision: 'rev-c' },
    ...Object.values(COMMAND_CASES).map((command): Observation => ({ type: 'command', command })),
  ];
  it.each(PHASES.map((phase) => ({ phase })))(
    '$phase: a JSON round trip of the status changes no decision',
    ({ phase }) => {
      const d = inPhase(phase);
      const persisted = JSON.parse(JSON.stringify(d.state)) as RolloutStatus;
      expect(persisted).toEqual(d.state);
      for (const observation of followUps) {
        for (const delay of [0, INTERVAL, DEFAULT_DEADLINE_INTERVALS * INTERVAL]) {
          const at = new Date(d.now + delay);
          expect(transition(persisted, observation, at, d.config)).toEqual(
            transition(d.state, observation, at, d.config),
          );
        }
      }
      // And the verdict of the persisted window still counts after the restart.
      const analysis: Observation = {
        type: 'analysis',
        windowStart: persisted.stepSince ?? 'none',
        verdict: verdict('pass'),
      };
      const at = new Date(d.now + INTERVAL);
      expect(transition(persisted, analysis, at, d.config)).toEqual(
        transition(d.state, analysis, at, d.config),
      );
    },
  );

  it('settings changed mid-rollout (fewer steps) move on to promotion instead of wedging', () => {
    const d = progressing().step('pass').step('pass');
    expect(d.state.step).toBe(2);
    const shorter = settings({ steps: [10] });
    const out = transition(
      d.state,
      { type: 'analysis', windowStart: d.state.stepSince ?? '', verdict: verdict('pass') },
      new Date(d.now + INTERVAL),
      shorter,
    );
    expect(out.state.phase).toBe('Promoting');
  });
});

describe('transition: never wedges waiting on an adapter', () => {
  it('asks for the stable release again on every tick while promoting (a crash may have come before it)', () => {
    // The Promoting status is written before promote-stable runs: a crash or a failed unpause in
    // between must be made good on the next tick, not at the progress deadline.
    const d = inPhase('Promoting');
    const before = d.state;
    d.advance(1).send({ type: 'tick' });
    expect(d.state).toBe(before);
    expect(d.lastActions()).toEqual([{ type: 'promote-stable', revision: 'rev-b' }]);
  });

  it('warns once when promotion takes past the progress deadline, still asking on every tick', () => {
    const d = inPhase('Promoting')
      .advance(DEFAULT_DEADLINE_INTERVALS * INTERVAL)
      .send({ type: 'tick' });
    expect(d.lastActions()).toEqual([
      { type: 'promote-stable', revision: 'rev-b' },
      expect.objectContaining({ type: 'record-event', eventType: 'Warning', reason: 'PromotionSlow' }),
    ]);
    d.advance(INTERVAL).send({ type: 'tick' });
    expect(d.lastActions()).toEqual([{ type: 'promote-stable', revision: 'rev-b' }]);
    d.send({ type: 'promotion-complete' });
    expect(d.state.phase).toBe('Succeeded');
  });

  it('asks again once to remove the canary when a rollback lingers', () => {
    const d = inPhase('RollingBack')
      .advance(INTERVAL - 1)
      .send({ type: 'tick' });
    expect(d.lastActions()).toEqual([]);
    d.advance(1).send({ type: 'tick' });
    expect(d.lastActions()).toEqual([{ type: 'delete-canary' }]);
    d.advance(INTERVAL).send({ type: 'tick' });
    expect(d.lastActions()).toEqual([]);
    d.send({ type: 'canary-removed' });
    expect(d.state.phase).toBe('Failed');
    expect(d.state.message).toContain('aborted by operator');
  });
});
