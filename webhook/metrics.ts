// Webhook metrics on an injected Registry. Labels are the bounded resource/outcome/reason codes of
// an AdmissionDecision, so a dashboard can count skips by reason.

import { Counter, Histogram, type Registry } from 'prom-client';
import type { AdmissionDecision } from './admit.js';

export interface WebhookMetrics {
  record(decision: AdmissionDecision, seconds: number): void;
  /** Bodies rejected with 400 before a decision could be made. */
  rejected(): void;
}

export function createWebhookMetrics(registry: Registry): WebhookMetrics {
  const requests = new Counter({
    name: 'switchyard_webhook_requests_total',
    help: 'AdmissionReviews answered, by resource, outcome and stable reason code',
    labelNames: ['resource', 'outcome', 'reason'] as const,
    registers: [registry],
  });
  const errors = new Counter({
    name: 'switchyard_webhook_errors_total',
    help: 'Internal errors while building a patch; the object was admitted unchanged',
    labelNames: ['resource'] as const,
    registers: [registry],
  });
  const invalid = new Counter({
    name: 'switchyard_webhook_invalid_requests_total',
    help: 'Request bodies that were not a valid AdmissionReview v1 (answered 400)',
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'switchyard_webhook_duration_seconds',
    help: 'Time to answer an AdmissionReview',
    labelNames: ['resource'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [registry],
  });
  return {
    record(decision, seconds) {
      requests.labels(decision.resource, decision.outcome, decision.reason).inc();
      if (decision.outcome === 'error') errors.labels(decision.resource).inc();
      duration.labels(decision.resource).observe(seconds);
    },
    rejected() {
      invalid.inc();
    },
  };
}
