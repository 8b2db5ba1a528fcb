// The rollout state machine: a pure function from (status, observation, time, settings) to the next
// status and the actions adapters must execute. Every decision about weights, timing and verdicts.

import { progressDeadlineMs, type RolloutSettings } from '../api/annotations.js';
import type { Command, Phase, RolloutStatus, Verdict } from '../api/canary.js';
import { MAX_RECORDED_VERDICTS } from '../api/canary.js';
import type { Action, Observation, ObservationType, TransitionResult } from './rollout-types.js';

export type { Action, Observation, TransitionResult } from './rollout-types.js';
export { initialStatus } from './rollout-types.js';

/**
 * failedRevisions is bounded so a status cannot grow without limit: a rollout starts with at most
 * this many, plus its own once it fails. The oldest are dropped only when a rollout starts, never by
 * a rollback: the workload may already hold a failed revision the core has not been told of yet
 * (re-applied while another one rolls back), and forgetting it then would start it without retry.
 */
export const MAX_FAILED_REVISIONS = 20;

/**
 * Who sizes the canary for its traffic. `switchyard`: the adapter scales the canary workload
 * (Kubernetes), so more canary traffic waits for it (`weightAwaitingCanary`). `operator`: the canary
 * is an upstream used as announced (file mode), so a step's weight goes live at once.
 */
export type CanarySizing = 'switchyard' | 'operator';

interface Context<O extends Observation = Observation> {
  readonly state: RolloutStatus;
  readonly observation: O;
  readonly now: Date;
  readonly settings: RolloutSettings;
  readonly sizing: CanarySizing;
}

type Handler<T extends ObservationType> = (
  context: Context<Extract<Observation, { type: T }>>,
) => TransitionResult;
type PhaseHandlers = { readonly [T in ObservationType]?: Handler<T> };

type CommandType = Command['type'];
type CommandHandler<C extends CommandType> = (
  context: Context<Observation>,
  command: Extract<Command, { type: C }>,
) => TransitionResult;
/** A handler, or the reason the command is rejected in that phase. */
type CommandRow = { readonly [C in CommandType]: CommandHandler<C> | string };

// ---------------------------------------------------------------------------------------------
// Small builders. A result is assembled from a state change plus actions, in order.

function unchanged(state: RolloutStatus): TransitionResult {
  return { state, actions: [], rejected: null };
}

function result(state: RolloutStatus, actions: readonly Action[]): TransitionResult {
  return { state, actions, rejected: null };
}

function iso(now: Date): string {
  return now.toISOString();
}

function elapsedMs(since: string | null, now: Date): number {
  return since === null ? 0 : now.getTime() - Date.parse(since);
}

/** Live canary weight of each analysis step: the configured steps for canary, 0 for ab/bluegreen. */
export function stepWeights(settings: RolloutSettings): readonly number[] {
  return settings.strategy === 'canary' ? settings.steps : settings.steps.map(() => 0);
}

/**
 * The weight the rollout gives the canary as soon as its workload has been scaled for it, or null.
 * More canary traffic waits for canary capacity: a step that raises the weight, and a promotion
 * (100 %), first ask for the larger canary and publish only once the adapter reports it ready
 * (observation `canary-ready`); until then the live weight stays the previous one.
 */
export function weightAwaitingCanary(state: RolloutStatus, settings: RolloutSettings): number | null {
  const target =
    state.phase === 'Promoting'
      ? 100
      : state.phase === 'Progressing'
        ? stepWeights(settings)[state.step]
        : undefined;
  return target !== undefined && state.weight < target ? target : null;
}

/**
 * Whether `candidate`, the state about to take more canary traffic, first waits for the canary to be
 * scaled for it. Decided by the predicate the adapters answer to, so a wait they would not end is
 * never entered.
 */
function waitsForCanary(context: Context, candidate: RolloutStatus): boolean {
  return context.sizing === 'switchyard' && weightAwaitingCanary(candidate, context.settings) !== null;
}

function event(eventType: 'Normal' | 'Warning', reason: string, message: string): Action {
  return { type: 'record-event', eventType, reason, message };
}

/** Returns the state with the next generation and the publish action for `weight`. */
function publish(
  state: RolloutStatus,
  settings: RolloutSettings,
  weight: number,
  canaryTrack: boolean,
): [RolloutStatus, Action] {
  const generation = state.routeGeneration + 1;
  const analysing = canaryTrack && weight < 100;
  return [
    { ...state, routeGeneration: generation, weight },
    {
      type: 'publish-routes',
      generation,
      weights: { stable: 100 - weight, canary: weight },
      canaryTrack,
      rulesToCanary: analysing && settings.strategy === 'ab' ? settings.match : [],
      mirrorPercent: analysing ? settings.mirrorPercent : 0,
    },
  ];
}

function withVerdict(state: RolloutStatus, verdict: Verdict): RolloutStatus {
  return { ...state, verdicts: [...state.verdicts, verdict].slice(-MAX_RECORDED_VERDICTS) };
}

function enterPhase(state: RolloutStatus, phase: Phase, now: Date, message: string): RolloutStatus {
  return { ...state, phase, phaseSince: phase === state.phase ? state.phaseSince : iso(now), message };
}

/** One line naming the checks that decided a verdict, with their numbers. */
export function describeVerdict(verdict: Verdict): string {
  const deciding = verdict.checks.filter((check) => check.outcome === verdict.outcome);
  const shown = (deciding.length > 0 ? deciding : verdict.checks).map((check) => check.message);
  const traffic = `canary ${verdict.canary.requests} req / stable ${verdict.stable.requests} req`;
  return `${verdict.outcome}${verdict.fastFail ? ' (fast fail)' : ''}: ${shown.join('; ') || 'no checks'} (${traffic})`;
}

// ---------------------------------------------------------------------------------------------
// Lifecycle steps shared by several rows of the table.

function startRollout(context: Context, revision: string, why: string): TransitionResult {
  const { now, settings } = context;
  let state = context.state;
  const actions: Action[] = [];
  if (state.weight > 0 || isActive(state.phase)) {
    // Superseding a rollout: take the old canary out of traffic before anything else.
    const [published, action] = publish(state, settings, 0, false);
    state = published;
    actions.push(action);
  }
  state = {
    ...enterPhase(state, 'Initializing', now, `${why}: waiting for canary ${revision} to be ready`),
    phaseSince: iso(now),
    canaryRevision: revision,
    // The workload holds `revision` now, not any failed one: the oldest can be let go safely here.
    failedRevisions: state.failedRevisions.slice(-MAX_FAILED_REVISIONS),
    step: 0,
    weight: 0,
    stepSince: null,
    failedChecks: 0,
    inconclusiveChecks: 0,
    pausedFrom: null,
  };
  actions.push(
    { type: 'ensure-canary', revision, weight: firstWeight(settings) },
    event('Normal', 'RolloutStarted', `${why}: rolling out revision ${revision} (${settings.strategy})`),
  );
  return result(state, actions);
}

/** Size of the canary while it initializes: that of its first step (blue-green: all of it). */
function firstWeight(settings: RolloutSettings): number {
  return settings.strategy === 'bluegreen' ? 100 : (stepWeights(settings)[0] ?? 100);
}

function isActive(phase: Phase): boolean {
  return phase !== 'Idle' && phase !== 'Succeeded' && phase !== 'Failed';
}

/**
 * Enters analysis step `step`: publishes its weight and starts its window. A step that raises the
 * weight first only asks for the larger canary (`waitsForCanary`) unless `canarySized`.
 */
function enterStep(
  context: Context,
  state: RolloutStatus,
  step: number,
  why: string,
  canarySized = false,
): TransitionResult {
  const { now, settings } = context;
  const weights = stepWeights(settings);
  const weight = weights[step];
  if (weight === undefined) return finishSteps(context, state, why);
  const revision = state.canaryRevision ?? '';
  const ensure: Action = {
    type: 'ensure-canary',
    revision,
    weight: settings.strategy === 'bluegreen' ? 100 : weight,
  };
  const stepName = `step ${step + 1}/${weights.length} at ${weight}%`;
  if (!canarySized && waitsForCanary(context, { ...state, phase: 'Progressing', step })) {
    const scaling: RolloutStatus = {
      ...enterPhase(state, 'Progressing', now, `${why}: scaling the canary for ${stepName}`),
      step,
      // The step's deadline counts from here: a canary that cannot grow fails the rollout in time.
      stepSince: iso(now),
      inconclusiveChecks: 0,
      pausedFrom: null,
    };
    return result(scaling, [ensure, event('Normal', 'CanaryScaling', scaling.message)]);
  }
  const [published, publishAction] = publish(state, settings, weight, true);
  const since = iso(now);
  const next: RolloutStatus = {
    ...enterPhase(published, 'Progressing', now, `${why}: ${stepName}`),
    step,
    stepSince: since,
    inconclusiveChecks: 0,
    pausedFrom: null,
  };
  return result(next, [
    publishAction,
    ensure,
    { type: 'analyse', since, step, weight },
    event('Normal', 'StepStarted', next.message),
  ]);
}

/** After the last analysis step: wait for the operator or promote. */
function finishSteps(context: Context, state: RolloutStatus, why: string): TransitionResult {
  const { now, settings } = context;
  if (settings.promotion === 'manual') {
    const since = iso(now);
    const next: RolloutStatus = {
      ...enterPhase(state, 'WaitingForPromotion', now, `${why}: all steps passed; waiting for promote`),
      step: stepWeights(settings).length,
      stepSince: since,
      inconclusiveChecks: 0,
      pausedFrom: null,
    };
    // Analysis continues while waiting, so a canary that turns bad is still rolled back (fast fail).
    return result(next, [
      { type: 'analyse', since, step: next.step, weight: next.weight },
      event('Normal', 'WaitingForPromotion', next.message),
    ]);
  }
  return startPromotion(context, state, why);
}

/** Promotes: the canary takes all traffic once it is sized for it, then stable rolls out the revision. */
function startPromotion(context: Context, state: RolloutStatus, why: string): TransitionResult {
  const { now, settings } = context;
  const revision = state.canaryRevision ?? '';
  const promoting: RolloutStatus = {
    ...state,
    step: stepWeights(settings).length,
    stepSince: null,
    inconclusiveChecks: 0,
    pausedFrom: null,
  };
  if (waitsForCanary(context, { ...promoting, phase: 'Promoting' })) {
    const next = enterPhase(
      promoting,
      'Promoting',
      now,
      `${why}: scaling the canary for 100% before promoting ${revision}`,
    );
    return result(next, [
      { type: 'ensure-canary', revision, weight: 100 },
      event('Normal', 'CanaryScaling', next.message),
    ]);
  }
  return promoteNow(context, promoting, why);
}

/** 100 % to the canary (sized for it), and stable asked to roll out the revision. */
function promoteNow(context: Context, state: RolloutStatus, why: string): TransitionResult {
  const { now, settings } = context;
  const [published, publishAction] = publish(state, settings, 100, true);
  const revision = state.canaryRevision ?? '';
  const next = enterPhase(
    published,
    'Promoting',
    now,
    `${why}: 100% to canary, promoting ${revision} to stable`,
  );
  return result(next, [
    publishAction,
    { type: 'ensure-canary', revision, weight: 100 },
    { type: 'promote-stable', revision },
    event('Normal', 'Promoting', next.message),
  ]);
}

function rollback(context: Context, state: RolloutStatus, why: string): TransitionResult {
  const { now, settings } = context;
  const [published, publishAction] = publish(state, settings, 0, false);
  const revision = state.canaryRevision;
  const failedRevisions =
    revision === null || state.failedRevisions.includes(revision)
      ? state.failedRevisions
      : [...state.failedRevisions, revision];
  const next: RolloutStatus = {
    ...enterPhase(published, 'RollingBack', now, `rolled back ${revision ?? ''}: ${why}`),
    failedRevisions,
    stepSince: null,
    pausedFrom: null,
  };
  // The 0 % publish comes first: nothing else may delay taking the canary out of traffic.
  return result(next, [
    publishAction,
    { type: 'delete-canary' },
    event('Warning', 'RolledBack', next.message),
  ]);
}

/** Takes the canary out of traffic without marking it failed (the stable revision was re-applied). */
function cancel(context: Context, why: string): TransitionResult {
  const { state, now, settings } = context;
  const [published, publishAction] = publish(state, settings, 0, false);
  const next: RolloutStatus = {
    ...enterPhase(published, 'Idle', now, why),
    canaryRevision: null,
    step: 0,
    stepSince: null,
    failedChecks: 0,
    inconclusiveChecks: 0,
    pausedFrom: null,
  };
  return result(next, [publishAction, { type: 'delete-canary' }, event('Normal', 'RolloutCancelled', why)]);
}

function pause(context: Context, weight: number | null): TransitionResult {
  const { state, now, settings } = context;
  const pausedFrom = state.phase === 'Paused' ? state.pausedFrom : state.phase;
  const actions: Action[] = [];
  let next = state;
  if (weight !== null && weight !== state.weight) {
    const [published, publishAction] = publish(state, settings, weight, true);
    next = published;
    actions.push(publishAction, { type: 'ensure-canary', revision: state.canaryRevision ?? '', weight });
  }
  const message =
    weight === null
      ? `paused at ${state.weight}% by operator`
      : `weight set to ${weight}% by operator; paused until resume`;
  next = { ...enterPhase(next, 'Paused', now, message), pausedFrom, stepSince: null };
  actions.push(event('Normal', weight === null ? 'Paused' : 'WeightSet', message));
  return result(next, actions);
}

// ---------------------------------------------------------------------------------------------
// Observation handlers.

function onNewRevision(context: Context<Extract<Observation, { type: 'new-revision' }>>): TransitionResult {
  const { state, observation } = context;
  const revision = observation.revision;
  if (revision === state.canaryRevision && isActive(state.phase)) return unchanged(state);
  if (revision === state.stableRevision) {
    // Nothing is pending any more (e.g. a git revert): let the stable workload go, or it stays held
    // (Kubernetes: paused) with no rollout left to release it. Stable already runs this revision.
    const release: Action = { type: 'promote-stable', revision };
    if (!isActive(state.phase) && state.canaryRevision !== null) {
      // The held failed revision is no longer what the workload holds: there is nothing to retry.
      const message = `stable revision ${revision} re-applied; failed revision ${state.canaryRevision} is no longer held`;
      return result({ ...state, canaryRevision: null, message }, [release]);
    }
    if (!isActive(state.phase)) return result(state, [release]);
    const cancelled = cancel(
      context,
      `stable revision ${revision} re-applied; rollout of ${state.canaryRevision} cancelled`,
    );
    return result(cancelled.state, [...cancelled.actions, release]);
  }
  // A failed revision never starts by itself; `retry` reruns it. Level-triggered adapters repeat
  // this observation, so it changes nothing (no event spam). Outside a rollout, the one the workload
  // holds now (re-applied after a revert, a success or another failure) is what `retry` names.
  if (state.failedRevisions.includes(revision)) {
    if (state.canaryRevision === revision) return unchanged(state);
    const message = `revision ${revision} failed before and is held back; retry reruns it`;
    if (!isActive(state.phase)) return result({ ...state, canaryRevision: revision, message }, []);
    // The workload no longer holds the revision being rolled out, so it can never be promoted:
    // take it out of traffic (as for a revert) and hold the failed one instead.
    const cancelled = cancel(context, `rollout of ${state.canaryRevision} cancelled: ${message}`);
    return result({ ...cancelled.state, canaryRevision: revision }, cancelled.actions);
  }
  // A newer revision supersedes a running rollout, also a promotion: on Kubernetes the Deployment
  // now holds the new template, so the old one can never finish rolling out (and unpausing would
  // release the new one without a canary). Stable stays the last revision promoted in full.
  const why = isActive(state.phase)
    ? `new revision; ${state.phase === 'Promoting' ? 'promotion' : 'rollout'} of ${state.canaryRevision} superseded`
    : 'new revision';
  return startRollout(context, revision, why);
}

/** RollingBack is removing the canary: a new revision waits for Failed (adapters re-observe it). */
function deferNewRevision(
  context: Context<Extract<Observation, { type: 'new-revision' }>>,
): TransitionResult {
  return unchanged(context.state);
}

/** The canary was created at the first step's size and is ready: that step goes live at once. */
function onCanaryReady(context: Context): TransitionResult {
  return enterStep(context, context.state, 0, 'canary ready', true);
}

/** The canary has been scaled for the weight that waited for it: publish it. */
function onCanaryScaled(context: Context): TransitionResult {
  const { state, settings } = context;
  if (weightAwaitingCanary(state, settings) === null) return unchanged(state);
  if (state.phase === 'Promoting') return promoteNow(context, state, 'canary scaled');
  return enterStep(context, state, state.step, 'canary scaled', true);
}

function onCanaryNotReady(
  context: Context<Extract<Observation, { type: 'canary-not-ready' }>>,
): TransitionResult {
  const { state, observation } = context;
  const message = `canary not ready: ${observation.reason}`;
  if (state.message === message) return unchanged(state);
  return result({ ...state, message }, [event('Warning', 'CanaryNotReady', message)]);
}

function initializingDeadline(context: Context): TransitionResult {
  const { state, now, settings } = context;
  const limit = progressDeadlineMs(settings);
  if (elapsedMs(state.phaseSince, now) < limit) {
    // Asked again on every tick (idempotent): the status naming the canary is written before the
    // first ensure runs, so a failed create or a restart in between must not wait for the deadline.
    return result(state, [
      { type: 'ensure-canary', revision: state.canaryRevision ?? '', weight: firstWeight(settings) },
    ]);
  }
  return rollback(context, state, `canary not ready within ${limit / 1000}s (progress deadline)`);
}

function progressDeadline(context: Context): TransitionResult {
  const { state, now, settings } = context;
  const limit = progressDeadlineMs(settings);
  if (elapsedMs(state.stepSince, now) < limit) return unchanged(state);
  const why =
    weightAwaitingCanary(state, settings) === null
      ? `no conclusive analysis at step ${state.step + 1}`
      : `canary not scaled for step ${state.step + 1}`;
  return rollback(context, state, `${why} within ${limit / 1000}s (progress deadline)`);
}

const SLOW_PROMOTION = 'promotion slow';
const REMOVAL_RETRIED = 'canary removal retried';

/**
 * Promoting waits for the adapter to report the stable workload rolled out. promote-stable is
 * asked again on every tick (idempotent): the status saying Promoting is written before the first
 * one runs, so a crash or a failed unpause in between must not wait for the deadline. Past the
 * progress deadline, warn once: never wedge silently.
 */
function promotionDeadline(context: Context): TransitionResult {
  const { state, now, settings } = context;
  const revision = state.canaryRevision ?? '';
  const scaling = weightAwaitingCanary(state, settings) !== null;
  const ask: Action = scaling
    ? { type: 'ensure-canary', revision, weight: 100 }
    : { type: 'promote-stable', revision };
  const limit = progressDeadlineMs(settings);
  if (elapsedMs(state.phaseSince, now) < limit || state.message.startsWith(SLOW_PROMOTION))
    return result(state, [ask]);
  const waitingFor = scaling ? 'canary not ready for 100%' : `stable not rolled out to ${revision}`;
  const message = `${SLOW_PROMOTION}: ${waitingFor} after ${limit / 1000}s; still asking`;
  return result({ ...state, message }, [ask, event('Warning', 'PromotionSlow', message)]);
}

/** RollingBack waits for the canary to be gone; after an interval ask once more (idempotent). */
function removalDeadline(context: Context): TransitionResult {
  const { state, now, settings } = context;
  if (elapsedMs(state.phaseSince, now) < settings.intervalMs || state.message.endsWith(REMOVAL_RETRIED)) {
    return unchanged(state);
  }
  return result({ ...state, message: `${state.message}; ${REMOVAL_RETRIED}` }, [{ type: 'delete-canary' }]);
}

function onAnalysis(context: Context<Extract<Observation, { type: 'analysis' }>>): TransitionResult {
  const { state, observation, now, settings } = context;
  const { verdict } = observation;
  if (state.stepSince === null || observation.windowStart !== state.stepSince) return unchanged(state);
  // No window is open while the canary is scaled for a step (a verdict would be about the last one).
  if (weightAwaitingCanary(state, settings) !== null) return unchanged(state);
  if (verdict.outcome === 'fail' && verdict.fastFail) {
    return rollback(context, withVerdict(state, verdict), describeVerdict(verdict));
  }
  const elapsed = elapsedMs(state.stepSince, now);
  if (elapsed < settings.intervalMs) return unchanged(state);
  const intervals = Math.floor(elapsed / settings.intervalMs);
  if (elapsed >= progressDeadlineMs(settings) && verdict.outcome !== 'pass') {
    return rollback(context, withVerdict(state, verdict), `progress deadline: ${describeVerdict(verdict)}`);
  }
  return VERDICT_HANDLERS[verdict.outcome](context, verdict, intervals);
}

type VerdictHandler = (
  context: Context<Extract<Observation, { type: 'analysis' }>>,
  verdict: Verdict,
  intervals: number,
) => TransitionResult;

const VERDICT_HANDLERS: { readonly [O in Verdict['outcome']]: VerdictHandler } = {
  pass: (context, verdict) => {
    const state = { ...withVerdict(context.state, verdict), inconclusiveChecks: 0 };
    const passed = `step ${state.step + 1} passed (${describeVerdict(verdict)})`;
    return enterStep(context, state, state.step + 1, passed);
  },
  fail: (context, verdict) => {
    const { now, settings } = context;
    const failedChecks = context.state.failedChecks + 1;
    const state = { ...withVerdict(context.state, verdict), failedChecks };
    const described = describeVerdict(verdict);
    if (failedChecks >= settings.maxFailedChecks) {
      return rollback(
        context,
        state,
        `${failedChecks}/${settings.maxFailedChecks} failed checks: ${described}`,
      );
    }
    // Below the limit: the step restarts with a fresh window, so a transient fault can recover.
    const since = iso(now);
    const message = `check failed (${failedChecks}/${settings.maxFailedChecks}): ${described}`;
    return result({ ...state, stepSince: since, inconclusiveChecks: 0, message }, [
      { type: 'analyse', since, step: state.step, weight: state.weight },
      event('Warning', 'AnalysisFailed', message),
    ]);
  },
  inconclusive: (context, verdict, intervals) => {
    const { state } = context;
    // The window keeps growing (more requests accumulate); recorded once per interval.
    if (intervals <= state.inconclusiveChecks) return unchanged(state);
    const message = `inconclusive for ${intervals} interval(s) at step ${state.step + 1}: ${describeVerdict(verdict)}`;
    return result({ ...withVerdict(state, verdict), inconclusiveChecks: intervals, message }, [
      event('Normal', 'AnalysisInconclusive', message),
    ]);
  },
};

/** While waiting for promotion only overwhelming evidence acts (fast fail). */
function onAnalysisWhileWaiting(
  context: Context<Extract<Observation, { type: 'analysis' }>>,
): TransitionResult {
  const { state, observation } = context;
  const { verdict } = observation;
  if (observation.windowStart !== state.stepSince || verdict.outcome !== 'fail' || !verdict.fastFail) {
    return unchanged(state);
  }
  return rollback(context, withVerdict(state, verdict), describeVerdict(verdict));
}

function onPromotionComplete(context: Context): TransitionResult {
  const { now, settings } = context;
  const [published, publishAction] = publish(context.state, settings, 0, false);
  const revision = published.canaryRevision;
  const message = `revision ${revision ?? ''} promoted; stable serves 100%`;
  const next: RolloutStatus = {
    ...enterPhase(published, 'Succeeded', now, message),
    stableRevision: revision,
    canaryRevision: null,
    stepSince: null,
    pausedFrom: null,
  };
  return result(next, [publishAction, { type: 'delete-canary' }, event('Normal', 'Succeeded', message)]);
}

/**
 * The canary workload vanished (deleted by hand) while routes still send it traffic: converge by
 * asking for it again at its current size; one event, not one per reconcile.
 */
function onCanaryGone(context: Context): TransitionResult {
  const { state, settings } = context;
  const revision = state.canaryRevision ?? '';
  const ensure: Action = {
    type: 'ensure-canary',
    revision,
    weight: settings.strategy === 'bluegreen' || state.phase === 'Promoting' ? 100 : state.weight,
  };
  const message = `canary workload of ${revision} was removed; re-creating it`;
  if (state.message === message) return result(state, [ensure]);
  return result({ ...state, message }, [ensure, event('Warning', 'CanaryRecreated', message)]);
}

/**
 * A canary workload outside a rollout is left over: its delete failed, or control stopped between
 * the status write and the delete (after a promotion it is sized for all traffic, doubling the
 * app's pods). Ask again; the delete is idempotent, so no state change and no event each time.
 */
function deleteLeftoverCanary(context: Context): TransitionResult {
  return result(context.state, [{ type: 'delete-canary' }]);
}

function onCanaryRemoved(context: Context): TransitionResult {
  const { state, now } = context;
  const message = `${state.message}; canary removed`;
  return result(enterPhase(state, 'Failed', now, message), [event('Warning', 'Failed', message)]);
}

function onCommand(context: Context<Extract<Observation, { type: 'command' }>>): TransitionResult {
  const { state, observation } = context;
  const command = observation.command;
  const row: CommandRow = COMMANDS[state.phase];
  const entry = row[command.type] as CommandHandler<CommandType> | string;
  if (typeof entry === 'string') {
    return { state, actions: [], rejected: `${command.type} rejected in phase ${state.phase}: ${entry}` };
  }
  return entry(context, command as never);
}

// ---------------------------------------------------------------------------------------------
// Commands: phase × command → handler or rejection reason. Every cell is explicit.

/**
 * Outside a rollout (Idle, Succeeded, Failed) `canaryRevision` is the failed revision the workload
 * holds back, if any: retry reruns exactly that one (the canary is made from what the workload holds).
 */
const retryHeld: CommandHandler<'retry'> = (context) => {
  const { state } = context;
  const revision = state.canaryRevision;
  if (revision === null) {
    return {
      state,
      actions: [],
      rejected: `retry rejected in phase ${state.phase}: ${nothingToRetry(state)}`,
    };
  }
  const cleared = { ...state, failedRevisions: state.failedRevisions.filter((r) => r !== revision) };
  return startRollout({ ...context, state: cleared }, revision, 'retry by operator');
};

function nothingToRetry(state: RolloutStatus): string {
  if (state.failedRevisions.length === 0) return 'nothing to retry: no revision has failed';
  const why =
    state.phase === 'Failed'
      ? `stable revision ${state.stableRevision ?? 'unknown'} was re-applied after the failure`
      : `no failed revision is held (failed before: ${state.failedRevisions.join(', ')})`;
  return `nothing to retry: ${why}; re-apply the failed revision (it is held back, not started), then retry`;
}

const NO_ROLLOUT = 'no rollout in progress';
const NOT_PAUSED = 'the rollout is not paused';
const RUNNING = 'a rollout is running; retry reruns a Failed rollout';

const advanceNow: CommandHandler<'promote'> = (context, command) =>
  command.full
    ? startPromotion(context, context.state, 'promoted by operator (--full)')
    : enterStep(context, context.state, context.state.step + 1, 'step promoted by operator');

const promoteFromPause: CommandHandler<'promote'> = (context, command) =>
  command.full || context.state.pausedFrom === 'WaitingForPromotion'
    ? startPromotion(context, context.state, 'promoted by operator')
    : enterStep(context, context.state, context.state.step + 1, 'step promoted by operator');

const abort: CommandHandler<'abort'> = (context) => rollback(context, context.state, 'aborted by operator');

const setWeight: CommandHandler<'set-weight'> = (context, command) => {
  const { settings } = context;
  if (settings.strategy !== 'canary') {
    return {
      state: context.state,
      actions: [],
      rejected: `set-weight rejected: strategy ${settings.strategy} routes by ${settings.strategy === 'ab' ? 'match rules' : 'a 0→100 switch'}, not by weight`,
    };
  }
  if (!Number.isInteger(command.weight) || command.weight < 0 || command.weight > 100) {
    return {
      state: context.state,
      actions: [],
      rejected: `set-weight rejected: ${command.weight} is not an integer 0-100`,
    };
  }
  return pause(context, command.weight);
};

const resume: CommandHandler<'resume'> = (context) => {
  const { state, now, settings } = context;
  if (state.pausedFrom === 'WaitingForPromotion') {
    const weights = stepWeights(settings);
    const lastWeight = weights[weights.length - 1] ?? 0;
    const [published, publishAction] =
      state.weight === lastWeight ? [state, null] : publish(state, settings, lastWeight, true);
    const since = iso(now);
    const next: RolloutStatus = {
      ...enterPhase(published, 'WaitingForPromotion', now, 'resumed; waiting for promote'),
      stepSince: since,
      pausedFrom: null,
    };
    const actions: Action[] =
      publishAction === null
        ? []
        : [
            publishAction,
            { type: 'ensure-canary', revision: state.canaryRevision ?? '', weight: lastWeight },
          ];
    actions.push(
      { type: 'analyse', since, step: next.step, weight: next.weight },
      event('Normal', 'Resumed', next.message),
    );
    return result(next, actions);
  }
  // Resuming restarts the current step's window at its configured weight.
  return enterStep(context, { ...state, pausedFrom: null }, state.step, 'resumed by operator');
};

const COMMANDS: { readonly [P in Phase]: CommandRow } = {
  Idle: {
    promote: NO_ROLLOUT,
    abort: NO_ROLLOUT,
    retry: retryHeld,
    pause: NO_ROLLOUT,
    resume: NO_ROLLOUT,
    'set-weight': NO_ROLLOUT,
  },
  Initializing: {
    promote: 'the canary is not ready yet',
    abort,
    retry: RUNNING,
    pause: 'the canary is not ready yet; pause once it is progressing',
    resume: NOT_PAUSED,
    'set-weight': 'the canary is not ready yet',
  },
  Progressing: {
    promote: advanceNow,
    abort,
    retry: RUNNING,
    pause: (context) => pause(context, null),
    resume: NOT_PAUSED,
    'set-weight': setWeight,
  },
  Paused: {
    promote: promoteFromPause,
    abort,
    retry: RUNNING,
    pause: 'already paused',
    resume,
    'set-weight': setWeight,
  },
  WaitingForPromotion: {
    promote: (context) => startPromotion(context, context.state, 'promoted by operator'),
    abort,
    retry: RUNNING,
    pause: (context) => pause(context, null),
    resume: 'not paused; waiting for promote',
    'set-weight': setWeight,
  },
  Promoting: {
    promote: 'already promoting',
    abort: 'the stable workload is already being updated to the new revision; roll out the old one instead',
    retry: RUNNING,
    pause: 'a promotion cannot be paused',
    resume: NOT_PAUSED,
    'set-weight': 'promotion under way: the canary takes 100% until stable runs the new revision',
  },
  Succeeded: {
    promote: NO_ROLLOUT,
    abort: NO_ROLLOUT,
    retry: retryHeld,
    pause: NO_ROLLOUT,
    resume: NO_ROLLOUT,
    'set-weight': NO_ROLLOUT,
  },
  RollingBack: {
    promote: 'rolling back',
    abort: 'already rolling back',
    retry: 'wait until the rollback finishes (phase Failed)',
    pause: 'rolling back',
    resume: 'rolling back',
    'set-weight': 'rolling back',
  },
  Failed: {
    promote: 'the rollout failed; use retry to run it again',
    abort: 'the rollout already failed',
    retry: retryHeld,
    pause: 'the rollout failed; nothing runs',
    resume: 'the rollout failed; use retry to run it again',
    'set-weight': 'the rollout failed; use retry to run it again',
  },
};

// ---------------------------------------------------------------------------------------------
// The table: phase × observation → handler. A missing cell means "ignored in this phase".

const ignore = (context: Context): TransitionResult => unchanged(context.state);

const TABLE: { readonly [P in Phase]: PhaseHandlers } = {
  Idle: { 'new-revision': onNewRevision, 'canary-present': deleteLeftoverCanary, command: onCommand },
  Initializing: {
    'new-revision': onNewRevision,
    'canary-ready': onCanaryReady,
    'canary-not-ready': onCanaryNotReady,
    tick: initializingDeadline,
    command: onCommand,
  },
  Progressing: {
    'new-revision': onNewRevision,
    'canary-ready': onCanaryScaled,
    'canary-not-ready': onCanaryNotReady,
    'canary-removed': onCanaryGone,
    analysis: onAnalysis,
    tick: progressDeadline,
    command: onCommand,
  },
  Paused: {
    'new-revision': onNewRevision,
    'canary-not-ready': onCanaryNotReady,
    'canary-removed': onCanaryGone,
    command: onCommand,
  },
  WaitingForPromotion: {
    'new-revision': onNewRevision,
    'canary-not-ready': onCanaryNotReady,
    'canary-removed': onCanaryGone,
    analysis: onAnalysisWhileWaiting,
    command: onCommand,
  },
  Promoting: {
    'new-revision': onNewRevision,
    'canary-ready': onCanaryScaled,
    'canary-not-ready': onCanaryNotReady,
    'promotion-complete': onPromotionComplete,
    'canary-removed': onCanaryGone,
    tick: promotionDeadline,
    command: onCommand,
  },
  Succeeded: {
    'new-revision': onNewRevision,
    'canary-removed': ignore,
    'canary-present': deleteLeftoverCanary,
    command: onCommand,
  },
  RollingBack: {
    'new-revision': deferNewRevision,
    'canary-removed': onCanaryRemoved,
    tick: removalDeadline,
    command: onCommand,
  },
  Failed: { 'new-revision': onNewRevision, 'canary-present': deleteLeftoverCanary, command: onCommand },
};

/**
 * The next status and the actions to execute. Pure: same inputs, same outputs; `now` is the only
 * clock. Commands that are not valid in the current phase come back with `rejected` set and the
 * state unchanged.
 */
export function transition(
  state: RolloutStatus,
  observation: Observation,
  now: Date,
  settings: RolloutSettings,
  sizing: CanarySizing = 'switchyard',
): TransitionResult {
  const handler = TABLE[state.phase][observation.type] as Handler<ObservationType> | undefined;
  if (handler === undefined) return unchanged(state);
  return handler({ state, observation: observation as never, now, settings, sizing });
}
