// Decodes the protobuf bodies `kubectl create namespace|secret|configmap|serviceaccount` send
// (typed clients use `application/vnd.kubernetes.protobuf`): the `k8s\0` envelope and just these
// kinds' fields. Anything else is refused with 415 by the caller.

type Wire = Map<number, (bigint | Buffer)[]>;

function readVarint(buffer: Buffer, offset: number): [bigint, number] {
  let result = 0n;
  let shift = 0n;
  let position = offset;
  for (;;) {
    const byte = buffer[position++];
    if (byte === undefined) throw new Error('truncated varint');
    result |= BigInt(byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) return [result, position];
    shift += 7n;
  }
}

function parse(buffer: Buffer): Wire {
  const fields: Wire = new Map();
  let offset = 0;
  while (offset < buffer.length) {
    const [tag, afterTag] = readVarint(buffer, offset);
    const number = Number(tag >> 3n);
    const wireType = Number(tag & 7n);
    let value: bigint | Buffer;
    if (wireType === 0) {
      [value, offset] = readVarint(buffer, afterTag);
    } else if (wireType === 2) {
      const [length, start] = readVarint(buffer, afterTag);
      value = buffer.subarray(start, start + Number(length));
      offset = start + Number(length);
    } else if (wireType === 1) {
      value = buffer.subarray(afterTag, afterTag + 8);
      offset = afterTag + 8;
    } else if (wireType === 5) {
      value = buffer.subarray(afterTag, afterTag + 4);
      offset = afterTag + 4;
    } else throw new Error(`unsupported wire type ${wireType}`);
    const list = fields.get(number) ?? [];
    list.push(value);
    fields.set(number, list);
  }
  return fields;
}

const bytes = (wire: Wire, number: number): Buffer | undefined => {
  const value = wire.get(number)?.at(-1);
  return Buffer.isBuffer(value) ? value : undefined;
};
const string = (wire: Wire, number: number) => bytes(wire, number)?.toString('utf8');
const strings = (wire: Wire, number: number) =>
  (wire.get(number) ?? []).filter(Buffer.isBuffer).map((value) => value.toString('utf8'));
const bool = (wire: Wire, number: number) => {
  const value = wire.get(number)?.at(-1);
  return typeof value === 'bigint' ? value !== 0n : undefined;
};
function map(
  wire: Wire,
  number: number,
  decode: (value: Buffer) => string,
): Record<string, string> | undefined {
  const entries = (wire.get(number) ?? []).filter(Buffer.isBuffer);
  if (entries.length === 0) return undefined;
  const result: Record<string, string> = {};
  for (const entry of entries) {
    const pair = parse(entry);
    result[string(pair, 1) ?? ''] = decode(bytes(pair, 2) ?? Buffer.alloc(0));
  }
  return result;
}
const utf8 = (value: Buffer) => value.toString('utf8');
const base64 = (value: Buffer) => value.toString('base64');

function compact(object: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(object).filter(([, value]) => value !== undefined));
}

function objectMeta(buffer: Buffer | undefined): Record<string, unknown> {
  if (!buffer) return {};
  const wire = parse(buffer);
  const finalizers = strings(wire, 14);
  return compact({
    name: string(wire, 1) || undefined,
    generateName: string(wire, 2) || undefined,
    namespace: string(wire, 3) || undefined,
    labels: map(wire, 11, utf8),
    annotations: map(wire, 12, utf8),
    finalizers: finalizers.length > 0 ? finalizers : undefined,
  });
}

const KINDS: Record<string, (wire: Wire) => Record<string, unknown>> = {
  Namespace: (wire) => ({ metadata: objectMeta(bytes(wire, 1)) }),
  ConfigMap: (wire) =>
    compact({
      metadata: objectMeta(bytes(wire, 1)),
      data: map(wire, 2, utf8),
      binaryData: map(wire, 3, base64),
      immutable: bool(wire, 4),
    }),
  Secret: (wire) =>
    compact({
      metadata: objectMeta(bytes(wire, 1)),
      data: map(wire, 2, base64),
      type: string(wire, 3) || undefined,
      stringData: map(wire, 4, utf8),
      immutable: bool(wire, 5),
    }),
  ServiceAccount: (wire) =>
    compact({ metadata: objectMeta(bytes(wire, 1)), automountServiceAccountToken: bool(wire, 4) }),
};

/** The JSON form of a protobuf-encoded object of a supported kind, or undefined. */
export function decodeKubernetesProtobuf(body: Buffer): Record<string, unknown> | undefined {
  if (body.length < 4 || body.subarray(0, 4).toString('binary') !== 'k8s\u0000') return undefined;
  const envelope = parse(body.subarray(4));
  const typeMeta = parse(bytes(envelope, 1) ?? Buffer.alloc(0));
  const apiVersion = string(typeMeta, 1) ?? '';
  const kind = string(typeMeta, 2) ?? '';
  const decode = apiVersion === 'v1' ? KINDS[kind] : undefined;
  if (!decode) return undefined;
  return { apiVersion, kind, ...decode(parse(bytes(envelope, 2) ?? Buffer.alloc(0))) };
}
