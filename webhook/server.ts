// `POST /mutate` on a fastify instance that `switchyard control` owns: AdmissionReview v1 in and
// out. A malformed body gets a 400 naming what is wrong — never a 500, never a crash.

import type { FastifyError, FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { errorMessage, isSwitchyardError } from '../api/errors.js';
import { type AdmitOptions, DEFAULT_CONTROLLER_USERNAME, admit } from './admit.js';
import type { InjectConfig } from './config.js';
import { createWebhookMetrics } from './metrics.js';
import { parseAdmissionReview, reviewResponse } from './review.js';

export interface WebhookServerOptions {
  /** The injector settings; a function lets control refresh the server version without re-registering. */
  readonly inject: InjectConfig | (() => InjectConfig);
  /** Usernames whose Deployment updates pass unchanged. Default: the control service account. */
  readonly controllerUsernames?: readonly string[];
  /** Whether control's analysis has Prometheus (custom checks need it). Default: not known, assumed. */
  readonly prometheusConfigured?: boolean;
  readonly registry: Registry;
  readonly logger: Logger;
  /** Largest accepted body. Default 4 MiB (Kubernetes objects are ≤1.5 MiB; old+new fit). */
  readonly bodyLimit?: number;
  /** Path of the endpoint. Default `/mutate`. */
  readonly path?: string;
}

const DEFAULT_BODY_LIMIT = 4 * 1024 * 1024;

/** Registers the webhook endpoint in its own encapsulated scope (its body parser stays local). */
export async function registerWebhook(app: FastifyInstance, options: WebhookServerOptions): Promise<void> {
  const log = options.logger.child({ component: 'webhook' });
  const metrics = createWebhookMetrics(options.registry);
  const controllerUsernames = options.controllerUsernames ?? [DEFAULT_CONTROLLER_USERNAME];
  const injectConfig =
    typeof options.inject === 'function' ? options.inject : () => options.inject as InjectConfig;
  const badRequest = (message: string) => {
    metrics.rejected();
    return { error: 'bad_request', message };
  };

  await app.register(async (scope) => {
    // Take the raw text whatever the content type, so every parse failure is ours to explain.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser(
      '*',
      { parseAs: 'string', bodyLimit: options.bodyLimit ?? DEFAULT_BODY_LIMIT },
      (_request, body, done) => done(null, body),
    );
    scope.setErrorHandler((error: FastifyError, _request, reply) => {
      const status =
        error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500
          ? error.statusCode
          : 400;
      log.warn({ err: error, status }, 'webhook request rejected');
      void reply.code(status).send(badRequest(`AdmissionReview: ${error.message}`));
    });
    scope.post(options.path ?? '/mutate', async (request, reply) => {
      const started = process.hrtime.bigint();
      const text = typeof request.body === 'string' ? request.body : '';
      if (text.trim() === '')
        return reply.code(400).send(badRequest('AdmissionReview: empty body; expected JSON'));
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch (error) {
        return reply
          .code(400)
          .send(badRequest(`AdmissionReview: body is not valid JSON (${errorMessage(error)})`));
      }
      let admissionRequest: ReturnType<typeof parseAdmissionReview>;
      try {
        admissionRequest = parseAdmissionReview(body);
      } catch (error) {
        if (!isSwitchyardError(error)) throw error;
        return reply.code(400).send(badRequest(error.message));
      }
      const admitOptions: AdmitOptions = {
        inject: injectConfig(),
        controllerUsernames,
        ...(options.prometheusConfigured === undefined
          ? {}
          : { prometheusConfigured: options.prometheusConfigured }),
      };
      const decision = admit(admissionRequest, admitOptions);
      metrics.record(decision, Number(process.hrtime.bigint() - started) / 1e9);
      const fields = {
        uid: admissionRequest.uid,
        subject: decision.subject,
        resource: decision.resource,
        outcome: decision.outcome,
        reason: decision.reason,
        dryRun: admissionRequest.dryRun,
      };
      const explained = decision.response.warnings ?? [];
      if (decision.outcome === 'error')
        log.error({ ...fields, err: decision.error }, 'admission failed; admitted unchanged');
      // Pods are created by ReplicaSet controllers, which drop admission warnings: a pod left
      // without the router is explained here, in control's log, or nowhere.
      else if (decision.outcome === 'skipped' && explained.length > 0)
        log.warn({ ...fields, warnings: explained }, 'router not injected');
      else log.debug(fields, 'admission decided');
      return reply
        .code(200)
        .header('content-type', 'application/json')
        .send(reviewResponse(decision.response));
    });
  });
}
