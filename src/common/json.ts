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
      if (yo[k] === undefined || !Object.prototype.hasOwnProperty.call(yo, k)) return false;
      stack.push([xo[k], yo[k]]);
    }
  }
  return true;
}
