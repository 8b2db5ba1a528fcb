// gRPC answers every call with HTTP 200 and puts the outcome in `grpc-status`: a trailer, or a
// header when the answer has no body (Trailers-Only). The router measures a gRPC call by that
// status, as the HTTP status gRPC's HTTP gateways give it (grpc-gateway's HTTPStatusFromCode), so
// success rate and analysis see UNAVAILABLE as a 503 and NOT_FOUND as a 404.

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
