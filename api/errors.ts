// Every error switchyard reports to a user, in one place: a stable code (never reused) and a message
// that names the bad input and what is allowed. Codes double as metric labels and Event reasons.

export const ErrorCode = {
  /** A route table (file, control response) failed validation. */
  RouteTableInvalid: 'SWY_ROUTE_TABLE_INVALID',
  /** A `switchyard.io/*` annotation has a value we cannot accept. */
  AnnotationInvalid: 'SWY_ANNOTATION_INVALID',
  /** A command-line flag or environment variable is missing or malformed. */
  FlagInvalid: 'SWY_FLAG_INVALID',
  /** A file-mode config (`switchyard.yaml`) failed validation. */
  ConfigInvalid: 'SWY_CONFIG_INVALID',
  /** An input document (YAML/JSON) could not be parsed. */
  DocumentInvalid: 'SWY_DOCUMENT_INVALID',
  /** An AdmissionReview body is not one we can answer. */
  AdmissionReviewInvalid: 'SWY_ADMISSION_REVIEW_INVALID',
  /** A subcommand exists in the contract but is not built yet. */
  NotImplemented: 'SWY_NOT_IMPLEMENTED',
  /** An operator command is not valid in the rollout's current phase. */
  CommandRejected: 'SWY_COMMAND_REJECTED',
  /** A named rollout/service does not exist. */
  NotFound: 'SWY_NOT_FOUND',
  /** A request lacked valid credentials. */
  Unauthorized: 'SWY_UNAUTHORIZED',
  /** A remote dependency (control, API server, Prometheus) failed. */
  Unavailable: 'SWY_UNAVAILABLE',
  /** A metrics source (router /metrics, Prometheus answer) returned something we cannot read. */
  MetricsInvalid: 'SWY_METRICS_INVALID',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export class SwitchyardError extends Error {
  readonly code: ErrorCode;
  /** The input that was wrong: a JSON path, annotation, flag or file name. */
  readonly field: string | undefined;

  constructor(code: ErrorCode, message: string, options: { field?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SwitchyardError';
    this.code = code;
    this.field = options.field;
  }

  toJSON(): { code: ErrorCode; message: string; field?: string } {
    return this.field === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, field: this.field };
  }
}

export function isSwitchyardError(error: unknown): error is SwitchyardError {
  return error instanceof SwitchyardError;
}

/** The message of anything thrown, for logs and user output. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
