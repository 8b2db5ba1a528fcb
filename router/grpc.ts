// gRPC answers every call with HTTP 200 and puts the outcome in `grpc-status`: a trailer, or a
// header when the answer has no body (Trailers-Only). The router measures a gRPC call by that
// status, as the HTTP status gRPC's HTTP gateways give it (grpc-gateway's HTTPStatusFromCode), so
// success rate and analysis see UNAVAILABLE as a 503 and NOT_FOUND as a 404.

import { headerText, type RawHeaders } from './headers.js';

/** Indexed by gRPC status code, 0 (OK) to 16 (UNAUTHENTICATED). */
const HTTP_STATUS_BY_GRPC_CODE: readonly number[] = [
  200, // OK
  499, // CANCELLED
  500, // UNKNOWN
  400, // INVALID_ARGUMENT
  504, // DEADLINE_EXCEEDED
  404, // NOT_FOUND
  409, // ALREADY_EXISTS
  403, // PERMISSION_DENIED
  429, // RESOURCE_EXHAUSTED
  400, // FAILED_PRECONDITION
  409, // ABORTED
  400, // OUT_OF_RANGE
  501, // UNIMPLEMENTED
  500, // INTERNAL
  503, // UNAVAILABLE
  500, // DATA_LOSS
  401, // UNAUTHENTICATED
];

/**
 * The HTTP status a gRPC call counts as. A call that ends without a valid `grpc-status` is a broken
 * answer: clients report it as UNKNOWN or INTERNAL, so it counts as 500.
 */
export function httpStatusOfGrpc(grpcStatus: string | undefined): number {
  if (grpcStatus === undefined || !/^\d{1,2}$/.test(grpcStatus)) return 500;
  return HTTP_STATUS_BY_GRPC_CODE[Number(grpcStatus)] ?? 500;
}

/** Whether a response's content type is gRPC's (`application/grpc`, `application/grpc+proto`, …). */
export function isGrpcContentType(contentType: string | undefined): boolean {
  return contentType !== undefined && /^application\/grpc(?:[+;]|$)/i.test(contentType);
}

/** undici's trailers over HTTP/2: an object (not the raw array its types declare for HTTP/1.1). */
export type Trailers = Readonly<Record<string, string | string[] | undefined>>;

/**
 * Follows one answer over HTTP/2 as undici hands it over (headers, then trailers) and tells the
 * HTTP status it counts as: its grpc-status mapped for a gRPC answer, its own status otherwise.
 */
export class GrpcAnswer {
  /** The answer's content type is gRPC's. */
  grpc = false;
  #status: string | undefined;

  /** Reads the response headers; true for a gRPC Trailers-Only answer (its status is already here). */
  readHeaders(raw: Readonly<RawHeaders>): boolean {
    for (let i = 0; i < raw.length; i += 2) {
      const name = headerText(raw[i]!).toLowerCase();
      if (name === 'content-type') this.grpc = isGrpcContentType(headerText(raw[i + 1]!));
      else if (name === 'grpc-status') this.#status = headerText(raw[i + 1]!);
    }
    return this.grpc && this.#status !== undefined;
  }

  readTrailers(trailers: Trailers): void {
    const status = trailers['grpc-status'];
    if (typeof status === 'string') this.#status = status;
  }

  countedStatus(httpStatus: number): number {
    return this.grpc ? httpStatusOfGrpc(this.#status) : httpStatus;
  }
}
