// Key ordering shared by the in-memory index and SQL: keys sort by Unicode code point, which is
// the UTF-8 byte order SQLite's BINARY collation (and etcd) use. JavaScript's `<` compares UTF-16
// code units instead; the two disagree only when an astral character (a surrogate pair) meets
// U+E000..U+FFFF, and then list pages from memory and from SQL would not line up.

export function compareKeys(a: string, b: string): number {
  return comparatorFor(a)(a, b);
}

// The UTF-16 and code-point orders of two strings can only differ if both contain a code unit
// >= U+D800; checking one side once lets the hot paths (index search) use the native `<`.
const HIGH_UNIT = /[\ud800-\uffff]/;

function comparatorFor(key: string): (a: string, b: string) => number {
  return HIGH_UNIT.test(key) ? codePointCompare : utf16Compare;
}

function utf16Compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function codePointCompare(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x !== y) {
      if (x >= 0xd800 && y >= 0xd800) {
        // Lift surrogates above U+FFFF so astral characters sort after the BMP.
        if (x < 0xe000) x += 0x2800;
        if (y < 0xe000) y += 0x2800;
      }
      return x - y;
    }
  }
  return a.length - b.length;
}

/**
 * The smallest string greater than every key starting with prefix (undefined: no bound), so that
 * a prefix is the range [prefix, prefixEnd(prefix)) in code-point order.
 */
export function prefixEnd(prefix: string): string | undefined {
  const cps = Array.from(prefix, (c) => c.codePointAt(0)!);
  while (cps.length > 0) {
    const last = cps.pop()!;
    if (last < 0x10ffff) {
      cps.push(last === 0xd7ff ? 0xe000 : last + 1); // skip the surrogate block: not characters
      return String.fromCodePoint(...cps);
    }
  }
  return undefined;
}

const MAX_CHUNK = 1024;

/**
 * A sorted set of keys kept as a list of sorted chunks: O(log n) search, O(chunk) insert/delete,
 * and ordered range scans. A flat sorted array would memmove the whole index on every create.
 * Invariant: chunks are non-empty and every two adjacent chunks hold more than MAX_CHUNK / 2 keys,
 * so there are at most 4n / MAX_CHUNK + 1 chunks whatever the delete pattern.
 */
export class SortedKeys {
  private chunks: string[][] = [];
  private count = 0;

  /** Builds from keys already in compareKeys order. */
  static fromSorted(keys: string[]): SortedKeys {
    const s = new SortedKeys();
    for (let i = 0; i < keys.length; i += MAX_CHUNK / 2) s.chunks.push(keys.slice(i, i + MAX_CHUNK / 2));
    s.count = keys.length;
    return s;
  }

  get size(): number {
    return this.count;
  }

  /** Adds a key that is not present. */
  insert(key: string): void {
    if (this.chunks.length === 0) {
      this.chunks.push([key]);
      this.count = 1;
      return;
    }
    const cmp = comparatorFor(key);
    const ci = Math.min(this.chunkIndex(key, cmp), this.chunks.length - 1);
    const chunk = this.chunks[ci];
    chunk.splice(lowerBound(chunk, key, cmp), 0, key);
    this.count++;
    if (chunk.length > MAX_CHUNK) this.chunks.splice(ci + 1, 0, chunk.splice(MAX_CHUNK / 2));
  }

  /** Removes a key that is present. */
  delete(key: string): void {
    const cmp = comparatorFor(key);
    const ci = this.chunkIndex(key, cmp);
    const chunk = this.chunks[ci];
    chunk.splice(lowerBound(chunk, key, cmp), 1);
    this.count--;
    if (chunk.length === 0) {
      this.chunks.splice(ci, 1);
      return;
    }
    for (const other of [ci + 1, ci - 1]) {
      const neighbour = this.chunks[other];
      if (neighbour && neighbour.length + chunk.length <= MAX_CHUNK / 2) {
        const [lo, hi] = other > ci ? [ci, other] : [other, ci];
        this.chunks[lo].push(...this.chunks[hi]);
        this.chunks.splice(hi, 1);
        return;
      }
    }
  }

  /**
   * Keys k with start <= k < end (no upper bound when end is undefined), in order, at most limit
   * of them (0 = all), and how many keys of the range follow the returned ones.
   */
  range(start: string, end: string | undefined, limit: number): { keys: string[]; remaining: number } {
    let [ci, i] = this.position(start);
    const hi = end === undefined ? this.count : this.rank(...this.position(end));
    const total = Math.max(0, hi - this.rank(ci, i));
    const take = limit > 0 ? Math.min(limit, total) : total;
    const keys = new Array<string>(take);
    for (let n = 0; n < take; ) {
      const chunk = this.chunks[ci];
      while (i < chunk.length && n < take) keys[n++] = chunk[i++];
      ci++;
      i = 0;
    }
    return { keys, remaining: total - take };
  }

  /** Number of keys k with start <= k < end. */
  countRange(start: string, end: string | undefined): number {
    const hi = end === undefined ? this.count : this.rank(...this.position(end));
    return Math.max(0, hi - this.rank(...this.position(start)));
  }

  /** Index of the first chunk whose last key is >= key (chunks.length if none). */
  private chunkIndex(key: string, cmp: (a: string, b: string) => number): number {
    let lo = 0;
    let hi = this.chunks.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const c = this.chunks[mid];
      if (cmp(c[c.length - 1], key) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** (chunk, offset) of the first key >= key. */
  private position(key: string): [number, number] {
    const cmp = comparatorFor(key);
    const ci = this.chunkIndex(key, cmp);
    return ci === this.chunks.length ? [ci, 0] : [ci, lowerBound(this.chunks[ci], key, cmp)];
  }

  private rank(ci: number, i: number): number {
    let r = i;
    for (let c = 0; c < ci; c++) r += this.chunks[c].length;
    return r;
  }
}

function lowerBound(arr: string[], key: string, cmp: (a: string, b: string) => number): number {
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (cmp(arr[mid], key) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
