import { describe, expect, it } from 'vitest';
import { httpStatusOfGrpc, isGrpcContentType } from './grpc.js';

describe('httpStatusOfGrpc', () => {
  it.each([
    ['0', 200],
    ['1', 499],
    ['3', 400],
    ['4', 504],
    ['5', 404],
    ['8', 429],
    ['12', 501],
    ['13', 500],
    ['14', 503],
    ['16', 401],
  ])('grpc-status %s counts as %i', (grpcStatus, status) => {
    expect(httpStatusOfGrpc(grpcStatus)).toBe(status);
  });

  it.each([[undefined], [''], ['17'], ['99'], ['-1'], ['1.0'], ['OK']])(
    'a missing or invalid grpc-status (%s) counts as 500',
    (grpcStatus) => {
      expect(httpStatusOfGrpc(grpcStatus)).toBe(500);
    },
  );
});

describe('isGrpcContentType', () => {
  it.each([
    ['application/grpc', true],
    ['application/grpc+proto', true],
    ['Application/GRPC; charset=utf-8', true],
    ['application/grpc-web', false],
    ['application/json', false],
    [undefined, false],
  ])('%s → %s', (contentType, expected) => {
    expect(isGrpcContentType(contentType)).toBe(expected);
  });
});
