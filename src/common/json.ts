// Structural helpers for JSON values that work at any depth without recursion, so data from a client
// or a device can never overflow the stack in them. Layer-free: both the API server and the EVE
// device protocol use them.

export const isContainer = (v: unknown): v is object => typeof v === 'object' && v !== null;

/** Whether a value nests objects/arrays more than `limit` levels (a top-level object is level 1); `skip` is not descended into. */
export function depthExceeds(value: unknown, limit: number, skip?: object): boolean {
  if (!isContainer(value)) return false;
  const stack: [object, number][] = [[value, 1]];
  while (stack.length) {
    const [v, d] = stack.pop()!;
    if (d > limit) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) if (isContainer(child) && child !== skip) stack.push([child, d + 1]);
  }
  return false;
}

/** A deep copy of a JSON value (what structuredClone does for them), at any depth. */
export function deepClone<T>(value: T): T {
  if (!isContainer(value)) return value;
  const root: any = Array.isArray(value) ? new Array(value.length) : {};
  const stack: [any, any][] = [[value, root]];
  while (stack.length) {
    const [src, dst] = stack.pop()!;
    if (Array.isArray(src)) {
      for (let i = 0; i < src.length; i++) dst[i] = copyInto(src[i], stack);
    } else {
      for (const k of Object.keys(src)) {
        const v = copyInto(src[k], stack);
        // defineProperty keeps a "__proto__" member as data, as structuredClone does.
        if (k === '__proto__') Object.defineProperty(dst, k, { value: v, enumerable: true, writable: true, configurable: true });
        else dst[k] = v;
      }
    }
  }
  return root;
}

function copyInto(v: unknown, stack: [any, any][]): unknown {
  if (!isContainer(v)) return v;
  const out = Array.isArray(v) ? new Array(v.length) : {};
  stack.push([v, out]);
  return out;
}

/** Structural equality of two JSON values, key order aside, at any depth. */
export function deepEqual(a: unknown, b: unknown): boolean {
  const stack: [unknown, unknown][] = [[a, b]];
  while (stack.length) {
    const [x, y] = stack.pop()!;
    if (x === y) continue;
    if (!isContainer(x) || !isContainer(y)) {
      if (Number.isNaN(x) && Number.isNaN(y)) continue;
      return false;
    }
    if (Array.isArray(x) !== Array.isArray(y)) return false;
    if (Array.isArray(x)) {
      const ya = y as unknown[];
      if (x.length !== ya.length) return false;
      for (let i = 0; i < x.length; i++) stack.push([x[i], ya[i]]);
      continue;
    }
    // As JSON sees them: a member whose value is undefined is absent.
    const xo = x as Record<string, unknown>;
    const yo = y as Record<string, unknown>;
    const xk = Object.keys(xo).filter((k) => xo[k] !== undefined);
    if (xk.length !== Object.keys(yo).filter((k) => yo[k] !== undefined).length) return false;
    for (const k of xk) {
      if (yo[k] === undefined || !Object.hasOwn(yo, k)) return false;
      stack.push([xo[k], yo[k]]);
    }
  }
  return true;
}

/**
 * The value with every lone UTF-16 surrogate in its strings and member names replaced by U+FFFD, as
 * Go's JSON decoder does for "\ud800" escapes: such strings cannot be encoded as UTF-8 (storage keys,
 * protobuf, the wire) and would otherwise fail far from where they came in.
 */
export function wellFormedStrings(value: unknown): unknown {
  const fix = (v: unknown): unknown => (typeof v === 'string' ? wellFormed(v) : v);
  if (!isContainer(value)) return fix(value);
  const stack: object[] = [value];
  while (stack.length) {
    const v = stack.pop()! as Record<string, unknown>;
    for (const k of Object.keys(v)) {
      const child = fix(v[k]);
      const key = Array.isArray(v) ? k : wellFormed(k);
      if (key !== k) {
        delete v[k];
        Object.defineProperty(v, key, { value: child, enumerable: true, writable: true, configurable: true });
      } else if (child !== v[k]) v[k] = child;
      if (isContainer(child)) stack.push(child);
    }
  }
  return value;
}

// String.prototype.toWellFormed is ES2024; Node 20 has it but the project targets ES2022's library.
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const wellFormed = (s: string): string => s.replace(LONE_SURROGATE, '\ufffd');
