// The operator JSON API (`/v1/rollouts…`) over any rollout backend (file mode here, Kubernetes
// later): list, get, events, operator commands and, in file mode, `start` with a canary upstream.

import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { bearerToken } from '../api/bearer.js';
import type { Command, Phase, RolloutStatus, Verdict } from '../api/canary.js';
import { ErrorCode, isSwitchyardError, SwitchyardError } from '../api/errors.js';

/** One rollout as the API and CLI show it. */
export interface RolloutSummary {
  readonly namespace: string;
  readonly name: string;
  readonly phase: Phase;
  readonly weight: number;
  /** Current step index (0-based); equals steps.length at 100 %. */
  readonly step: number;
  readonly steps: readonly number[];
  readonly strategy: string;
  readonly message: string;
  readonly phaseSince: string;
  /** Seconds since phaseSince, by the server's clock. */
  readonly timeInPhaseSeconds: number;
  readonly stableRevision: string | null;
  readonly canaryRevision: string | null;
  /** Newest last, at most 5. */
  readonly lastVerdicts: readonly Verdict[];
  /** Upstreams per track as routed now (file mode), when the backend knows them. */
  readonly tracks?: Readonly<Record<string, string>>;
  /** Problems beside the rollout an operator should act on (Kubernetes: pods without the router). */
  readonly warnings?: readonly string[];
  readonly status: RolloutStatus;
}

export interface RolloutEventView {
  readonly at: string;
  readonly type: 'Normal' | 'Warning';
  readonly reason: string;
  readonly message: string;
}

export interface StartRequest {
  readonly canaryUpstream: string;
  readonly canaryAdmin: readonly string[];
}

export type BackendOutcome =
  | { readonly accepted: true; readonly rollout: RolloutSummary }
  | { readonly accepted: false; readonly reason: string };

/** What the API needs from a controller. Methods throw SwitchyardError(NotFound) for unknown rollouts. */
export interface RolloutBackend {
  list(): Promise<readonly RolloutSummary[]>;
  get(namespace: string, name: string): Promise<RolloutSummary>;
  events(namespace: string, name: string): Promise<readonly RolloutEventView[]>;
  command(namespace: string, name: string, command: Command): Promise<BackendOutcome>;
  /** File mode only; absent in Kubernetes mode (a new revision comes from the Deployment). */
  start?(namespace: string, name: string, request: StartRequest): Promise<BackendOutcome>;
}

export function summarize(
  namespace: string,
  name: string,
  status: RolloutStatus,
  settings: { readonly steps: readonly number[]; readonly strategy: string },
  now: Date,
  tracks?: Readonly<Record<string, string>>,
): RolloutSummary {
  return {
    namespace,
    name,
    phase: status.phase,
    weight: status.weight,
    step: status.step,
    steps: settings.steps,
    strategy: settings.strategy,
    message: status.message,
    phaseSince: status.phaseSince,
    timeInPhaseSeconds: Math.max(0, Math.round((now.getTime() - Date.parse(status.phaseSince)) / 1000)),
    stableRevision: status.stableRevision,
    canaryRevision: status.canaryRevision,
    lastVerdicts: status.verdicts.slice(-5),
    ...(tracks ? { tracks } : {}),
    status,
  };
}

/** Verifies `Authorization: Bearer <token>` against the API token, in constant time. */
export type TokenCheck = (token: string) => boolean;

export function apiTokenCheck(expected: string): TokenCheck {
  const want = createHash('sha256').update(expected).digest();
  return (token) => timingSafeEqual(createHash('sha256').update(token).digest(), want);
}

export interface ApiOptions {
  readonly backend: RolloutBackend;
  /** null disables authentication (only for a loopback-only listener; control warns). */
  readonly checkToken: TokenCheck | null;
}

const COMMAND_NAMES = ['promote', 'abort', 'retry', 'pause', 'resume', 'set-weight'] as const;
type CommandName = (typeof COMMAND_NAMES)[number];

function badRequest(message: string, field: string): SwitchyardError {
  return new SwitchyardError(ErrorCode.FlagInvalid, message, { field });
}

/** Builds a Command from the path verb and JSON body (`{"full":true}`, `{"weight":30}`). */
export function commandFrom(verb: CommandName, body: unknown): Command {
  const object = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  switch (verb) {
    case 'promote': {
      const full = object.full ?? false;
      if (typeof full !== 'boolean') throw badRequest('promote: "full" must be true or false', 'full');
      return { type: 'promote', full };
    }
    case 'set-weight': {
      const weight = object.weight;
      if (typeof weight !== 'number' || !Number.isInteger(weight) || weight < 0 || weight > 100) {
        throw badRequest(
          `set-weight: "weight" must be an integer 0-100, got ${JSON.stringify(weight)}`,
          'weight',
        );
      }
      return { type: 'set-weight', weight };
    }
    default:
      return { type: verb };
  }
}

const STATUS_BY_CODE: Partial<Record<string, number>> = {
  [ErrorCode.NotFound]: 404,
  [ErrorCode.Unauthorized]: 401,
  [ErrorCode.CommandRejected]: 409,
  [ErrorCode.FlagInvalid]: 400,
  [ErrorCode.ConfigInvalid]: 400,
  [ErrorCode.NotImplemented]: 501,
  [ErrorCode.Unavailable]: 503,
};

function sendError(reply: FastifyReply, error: unknown): FastifyReply {
  if (isSwitchyardError(error)) return reply.code(STATUS_BY_CODE[error.code] ?? 500).send(error.toJSON());
  return reply
    .code(500)
    .send({ code: 'SWY_INTERNAL', message: error instanceof Error ? error.message : String(error) });
}

function sendOutcome(reply: FastifyReply, outcome: BackendOutcome): FastifyReply {
  if (outcome.accepted) return reply.code(200).send(outcome.rollout);
  return reply.code(409).send({ code: ErrorCode.CommandRejected, message: outcome.reason });
}

/** Registers the `/v1/rollouts` routes. */
export function registerApi(app: FastifyInstance, options: ApiOptions): void {
  const { backend, checkToken } = options;

  const authorize = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (checkToken === null) return;
    const token = bearerToken(request.headers.authorization);
    if (token !== null && checkToken(token)) return;
    await reply.code(401).header('www-authenticate', 'Bearer realm="switchyard-api"').send({
      code: ErrorCode.Unauthorized,
      message: 'API: a valid bearer token is required (switchyard --token-file)',
    });
  };

  app.register(async (scope) => {
    scope.addHook('onRequest', authorize);
    type Params = { namespace: string; name: string };

    scope.get('/v1/rollouts', async (_request, reply) => {
      try {
        return reply.send({ items: await backend.list() });
      } catch (error) {
        return sendError(reply, error);
      }
    });

    scope.get<{ Params: Params }>('/v1/rollouts/:namespace/:name', async (request, reply) => {
      try {
        return reply.send(await backend.get(request.params.namespace, request.params.name));
      } catch (error) {
        return sendError(reply, error);
      }
    });

    scope.get<{ Params: Params }>('/v1/rollouts/:namespace/:name/events', async (request, reply) => {
      try {
        return reply.send({ items: await backend.events(request.params.namespace, request.params.name) });
      } catch (error) {
        return sendError(reply, error);
      }
    });

    scope.post<{ Params: Params & { verb: string } }>(
      '/v1/rollouts/:namespace/:name/:verb',
      async (request, reply) => {
        const { namespace, name, verb } = request.params;
        try {
          if (verb === 'start') {
            if (!backend.start) {
              throw new SwitchyardError(
                ErrorCode.NotImplemented,
                'start: only file mode announces canaries through the API; on Kubernetes, update the Deployment',
              );
            }
            const body = (request.body ?? {}) as Record<string, unknown>;
            if (typeof body.canaryUpstream !== 'string')
              throw badRequest('start: "canaryUpstream" (http://host:port) is required', 'canaryUpstream');
            const admin = body.canaryAdmin ?? [];
            if (!Array.isArray(admin) || !admin.every((url) => typeof url === 'string')) {
              throw badRequest('start: "canaryAdmin" must be a list of router admin URLs', 'canaryAdmin');
            }
            return sendOutcome(
              reply,
              await backend.start(namespace, name, {
                canaryUpstream: body.canaryUpstream,
                canaryAdmin: admin as string[],
              }),
            );
          }
          if (!(COMMAND_NAMES as readonly string[]).includes(verb)) {
            throw new SwitchyardError(
              ErrorCode.NotFound,
              `unknown rollout command "${verb}"; expected one of ${COMMAND_NAMES.join(', ')}, start`,
            );
          }
          const command = commandFrom(verb as CommandName, request.body);
          return sendOutcome(reply, await backend.command(namespace, name, command));
        } catch (error) {
          return sendError(reply, error);
        }
      },
    );
  });
}
