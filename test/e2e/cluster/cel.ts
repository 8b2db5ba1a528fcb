// A tiny subset of CEL for webhook matchConditions: literals (strings, numbers, true/false/null),
// field access (`a.b`, `a['b']`), `has(a.b)`, `size(x)`, `!`, `&&`, `||`, `==`, `!=`, `<`, `<=`,
// `>`, `>=`, `in` (list/map), `.startsWith/.endsWith/.contains`, parentheses. Errors follow CEL:
// `&&`/`||` absorb an error when the other side decides. Anything else is an unsupported
// expression (CelUnsupported), which the admission code treats as "matches".

export class CelUnsupported extends Error {}
class CelError extends Error {}

type Token = { kind: 'id' | 'str' | 'num' | 'op'; value: string };

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let index = 0;
  while (index < source.length) {
    const rest = source.slice(index);
    const space = /^\s+/.exec(rest);
    if (space) {
      index += space[0].length;
      continue;
    }
    const string = /^'((?:[^'\\]|\\.)*)'|^"((?:[^"\\]|\\.)*)"/.exec(rest);
    if (string) {
      tokens.push({ kind: 'str', value: (string[1] ?? string[2] ?? '').replace(/\\(.)/g, '$1') });
      index += string[0].length;
      continue;
    }
    const number = /^\d+(?:\.\d+)?/.exec(rest);
    if (number) {
      tokens.push({ kind: 'num', value: number[0] });
      index += number[0].length;
      continue;
    }
    const ident = /^[A-Za-z_][A-Za-z0-9_]*/.exec(rest);
    if (ident) {
      tokens.push({ kind: 'id', value: ident[0] });
      index += ident[0].length;
      continue;
    }
    const op = /^(&&|\|\||==|!=|<=|>=|[!<>.()[\],])/.exec(rest);
    if (!op) throw new CelUnsupported(`unsupported character in CEL expression: ${rest.slice(0, 10)}`);
    tokens.push({ kind: 'op', value: op[0] });
    index += op[0].length;
  }
  return tokens;
}

type Node =
  | { type: 'lit'; value: unknown }
  | { type: 'ident'; name: string }
  | { type: 'member'; target: Node; name: string }
  | { type: 'index'; target: Node; key: Node }
  | { type: 'call'; name: string; target: Node | undefined; args: Node[] }
  | { type: 'not'; operand: Node }
  | { type: 'binary'; op: string; left: Node; right: Node };

function parse(source: string): Node {
  const tokens = tokenize(source);
  let position = 0;
  const peek = () => tokens[position];
  const take = (value?: string): Token => {
    const token = tokens[position];
    if (!token || (value !== undefined && token.value !== value)) {
      throw new CelUnsupported(`expected ${value ?? 'a token'} at token ${position} of "${source}"`);
    }
    position++;
    return token;
  };
  const binary = (ops: string[], next: () => Node) => (): Node => {
    let left = next();
    while (peek() && (peek()?.kind === 'op' || peek()?.value === 'in') && ops.includes(peek()?.value ?? '')) {
      const op = take().value;
      left = { type: 'binary', op, left, right: next() };
    }
    return left;
  };
  const args = (): Node[] => {
    const list: Node[] = [];
    take('(');
    while (peek()?.value !== ')') {
      list.push(or());
      if (peek()?.value === ',') take(',');
    }
    take(')');
    return list;
  };
  const primary = (): Node => {
    const token = take();
    if (token.kind === 'str') return { type: 'lit', value: token.value };
    if (token.kind === 'num') return { type: 'lit', value: Number(token.value) };
    if (token.value === '(') {
      const inner = or();
      take(')');
      return inner;
    }
    if (token.value === '[') {
      const items: Node[] = [];
      while (peek()?.value !== ']') {
        items.push(or());
        if (peek()?.value === ',') take(',');
      }
      take(']');
      return { type: 'call', name: '_list', target: undefined, args: items };
    }
    if (token.kind === 'id') {
      if (token.value === 'true' || token.value === 'false')
        return { type: 'lit', value: token.value === 'true' };
      if (token.value === 'null') return { type: 'lit', value: null };
      if (peek()?.value === '(') return { type: 'call', name: token.value, target: undefined, args: args() };
      return { type: 'ident', name: token.value };
    }
    throw new CelUnsupported(`unexpected "${token.value}" in "${source}"`);
  };
  const member = (): Node => {
    let node = primary();
    for (;;) {
      if (peek()?.value === '.') {
        take('.');
        const name = take().value;
        node =
          peek()?.value === '('
            ? { type: 'call', name, target: node, args: args() }
            : { type: 'member', target: node, name };
      } else if (peek()?.value === '[') {
        take('[');
        const key = or();
        take(']');
        node = { type: 'index', target: node, key };
      } else return node;
    }
  };
  const unary = (): Node => {
    if (peek()?.value === '!') {
      take('!');
      return { type: 'not', operand: unary() };
    }
    return member();
  };
  const relation = binary(['==', '!=', '<', '<=', '>', '>=', 'in'], unary);
  const and = binary(['&&'], relation);
  const or = binary(['||'], and);
  const node = or();
  if (position !== tokens.length) throw new CelUnsupported(`unexpected trailing tokens in "${source}"`);
  return node;
}

const isMap = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function evaluate(node: Node, scope: Record<string, unknown>): unknown {
  switch (node.type) {
    case 'lit':
      return node.value;
    case 'ident':
      if (!(node.name in scope)) throw new CelUnsupported(`unknown variable ${node.name}`);
      return scope[node.name];
    case 'member': {
      const target = evaluate(node.target, scope);
      if (!isMap(target) || !(node.name in target)) throw new CelError(`no such key: ${node.name}`);
      return target[node.name];
    }
    case 'index': {
      const target = evaluate(node.target, scope);
      const key = evaluate(node.key, scope);
      if (Array.isArray(target) && typeof key === 'number') {
        if (key >= target.length) throw new CelError('index out of range');
        return target[key];
      }
      if (!isMap(target) || typeof key !== 'string' || !(key in target))
        throw new CelError(`no such key: ${String(key)}`);
      return target[key];
    }
    case 'not': {
      const value = evaluate(node.operand, scope);
      if (typeof value !== 'boolean') throw new CelError('! needs a bool');
      return !value;
    }
    case 'call':
      return call(node, scope);
    case 'binary':
      return binaryOp(node, scope);
  }
}

function call(node: Extract<Node, { type: 'call' }>, scope: Record<string, unknown>): unknown {
  if (node.name === '_list') return node.args.map((arg) => evaluate(arg, scope));
  if (node.name === 'has' && !node.target) {
    const [arg] = node.args;
    if (arg?.type !== 'member') throw new CelUnsupported('has() needs a field selection');
    const target = evaluate(arg.target, scope);
    return isMap(target) && arg.name in target;
  }
  const target = node.target ? evaluate(node.target, scope) : undefined;
  const values = node.args.map((arg) => evaluate(arg, scope));
  if (node.name === 'size') {
    const subject = node.target ? target : values[0];
    if (typeof subject === 'string' || Array.isArray(subject)) return subject.length;
    if (isMap(subject)) return Object.keys(subject).length;
    throw new CelError('size() of unsupported value');
  }
  if (typeof target === 'string' && typeof values[0] === 'string') {
    if (node.name === 'startsWith') return target.startsWith(values[0]);
    if (node.name === 'endsWith') return target.endsWith(values[0]);
    if (node.name === 'contains') return target.includes(values[0]);
  }
  throw new CelUnsupported(`unsupported CEL function ${node.name}`);
}

function binaryOp(node: Extract<Node, { type: 'binary' }>, scope: Record<string, unknown>): unknown {
  if (node.op === '&&' || node.op === '||') {
    const decisive = node.op === '||';
    let leftError: unknown;
    let left: unknown;
    try {
      left = evaluate(node.left, scope);
      if (left === decisive) return decisive;
    } catch (error) {
      if (error instanceof CelUnsupported) throw error;
      leftError = error;
    }
    const right = evaluate(node.right, scope);
    if (right === decisive) return decisive;
    if (leftError) throw leftError;
    if (typeof left !== 'boolean' || typeof right !== 'boolean') throw new CelError(`${node.op} needs bools`);
    return !decisive;
  }
  const left = evaluate(node.left, scope);
  const right = evaluate(node.right, scope);
  switch (node.op) {
    case '==':
      return JSON.stringify(left) === JSON.stringify(right);
    case '!=':
      return JSON.stringify(left) !== JSON.stringify(right);
    case 'in':
      if (Array.isArray(right)) return right.some((item) => JSON.stringify(item) === JSON.stringify(left));
      if (isMap(right)) return typeof left === 'string' && left in right;
      throw new CelError('in needs a list or map');
    default: {
      if (typeof left !== typeof right || (typeof left !== 'number' && typeof left !== 'string')) {
        throw new CelError(`${node.op} needs two numbers or two strings`);
      }
      const [a, b] = [left as number | string, right as number | string];
      return node.op === '<' ? a < b : node.op === '<=' ? a <= b : node.op === '>' ? a > b : a >= b;
    }
  }
}

/**
 * Evaluates a matchCondition: true/false, or throws CelUnsupported (outside the subset) or
 * Error (evaluation error, e.g. a missing key outside has()).
 */
export function evaluateCondition(expression: string, scope: Record<string, unknown>): boolean {
  const value = evaluate(parse(expression), scope);
  if (typeof value !== 'boolean')
    throw new Error(`matchCondition "${expression}" did not evaluate to a bool`);
  return value;
}
