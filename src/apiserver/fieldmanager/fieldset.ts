// Sets of field paths, the ownership unit of server-side apply (sigs.k8s.io/structured-merge-diff fieldpath.Set).
//
// A path is a list of path elements, each kept in its FieldsV1 spelling:
//   f:<name>        a field of a struct or a key of a map
//   k:{"name":"c"}  an item of an associative list, by its key fields (sorted)
//   v:<json>        an item of a set list, by value
//   i:<n>           an item of any other granular list, by index
// A set is a trie: each node has member elements (paths that end here) and children (paths that continue).
// FieldsV1 writes a node that is both a member and a parent with a "." entry.

export type Path = string[];

export class FieldSet {
  readonly members = new Set<string>();
  readonly children = new Map<string, FieldSet>();

  static of(...paths: Path[]): FieldSet {
    const s = new FieldSet();
    for (const p of paths) s.insert(p);
    return s;
  }

  insert(path: Path): void {
    if (!path.length) return;
    let node: FieldSet = this;
    for (let i = 0; i < path.length - 1; i++) node = node.child(path[i]);
    node.members.add(path[path.length - 1]);
  }

  /** The child node for a path element, created when missing. */
  child(pe: string): FieldSet {
    let c = this.children.get(pe);
    if (!c) {
      c = new FieldSet();
      this.children.set(pe, c);
    }
    return c;
  }

  has(path: Path): boolean {
    let node: FieldSet | undefined = this;
    for (let i = 0; i < path.length - 1 && node; i++) node = node.children.get(path[i]);
    return !!node && path.length > 0 && node.members.has(path[path.length - 1]);
  }

  /** Paths below pe (pe itself excluded), or undefined. */
  withPrefix(pe: string): FieldSet | undefined {
    const c = this.children.get(pe);
    return c && !c.empty() ? c : undefined;
  }

  empty(): boolean {
    if (this.members.size) return false;
    for (const c of this.children.values()) if (!c.empty()) return false;
    return true;
  }

  union(o: FieldSet): FieldSet {
    const out = this.clone();
    out.addAll(o);
    return out;
  }

  private addAll(o: FieldSet): void {
    for (const m of o.members) this.members.add(m);
    for (const [pe, c] of o.children) this.child(pe).addAll(c);
  }

  /** Members of this set that are not members of o (o's members do not take descendants with them). */
  difference(o: FieldSet): FieldSet {
    const out = new FieldSet();
    for (const m of this.members) if (!o.members.has(m)) out.members.add(m);
    for (const [pe, c] of this.children) {
      const oc = o.children.get(pe);
      const d = oc ? c.difference(oc) : c.clone();
      if (!d.empty()) out.children.set(pe, d);
    }
    return out;
  }

  intersection(o: FieldSet): FieldSet {
    const out = new FieldSet();
    for (const m of this.members) if (o.members.has(m)) out.members.add(m);
    for (const [pe, c] of this.children) {
      const oc = o.children.get(pe);
      if (!oc) continue;
      const i = c.intersection(oc);
      if (!i.empty()) out.children.set(pe, i);
    }
    return out;
  }

  clone(): FieldSet {
    const out = new FieldSet();
    for (const m of this.members) out.members.add(m);
    for (const [pe, c] of this.children) out.children.set(pe, c.clone());
    return out;
  }

  /** Every member path, in FieldsV1 order. */
  paths(prefix: Path = []): Path[] {
    const out: Path[] = [];
    const keys = new Set([...this.members, ...this.children.keys()]);
    for (const pe of [...keys].sort(comparePE)) {
      if (this.members.has(pe)) out.push([...prefix, pe]);
      const c = this.children.get(pe);
      if (c) out.push(...c.paths([...prefix, pe]));
    }
    return out;
  }

  equals(o: FieldSet): boolean {
    return this.difference(o).empty() && o.difference(this).empty();
  }

  toFieldsV1(): Record<string, unknown> {
    return this.emit(false);
  }

  private emit(self: boolean): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    if (self) out['.'] = {};
    const keys = new Set([...this.members, ...this.children.keys()]);
    for (const pe of [...keys].sort(comparePE)) {
      const c = this.children.get(pe);
      if (c && !c.empty()) out[pe] = c.emit(this.members.has(pe));
      else if (this.members.has(pe)) out[pe] = {};
    }
    return out;
  }

  /** Parses FieldsV1; throws on anything that is not a trie of known path elements. */
  static fromFieldsV1(v: unknown): FieldSet {
    const out = new FieldSet();
    read(out, v, '');
    return out;
  }
}

function read(node: FieldSet, v: unknown, at: string): void {
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error(`${at || 'fieldsV1'}: expected an object`);
  for (const [k, c] of Object.entries(v as Record<string, unknown>)) {
    if (k === '.') continue;
    parsePE(k);
    const sub = c as Record<string, unknown>;
    if (!sub || typeof sub !== 'object' || Array.isArray(sub)) throw new Error(`${k}: expected an object`);
    const keys = Object.keys(sub);
    if (!keys.length || keys.includes('.')) node.members.add(k);
    if (keys.some((x) => x !== '.')) read(node.child(k), sub, k);
  }
}

export type PathElement = { field: string } | { key: Record<string, unknown> } | { value: unknown } | { index: number };

export function parsePE(s: string): PathElement {
  const tag = s.slice(0, 2);
  const body = s.slice(2);
  switch (tag) {
    case 'f:':
      return { field: body };
    case 'k:': {
      const key = JSON.parse(body);
      if (!key || typeof key !== 'object' || Array.isArray(key)) throw new Error(`invalid key path element ${s}`);
      return { key };
    }
    case 'v:':
      return { value: JSON.parse(body) };
    case 'i:': {
      const n = Number(body);
      if (!Number.isInteger(n) || n < 0) throw new Error(`invalid index path element ${s}`);
      return { index: n };
    }
  }
  throw new Error(`unknown path element type: ${s}`);
}

/** JSON with object keys sorted, as path elements spell values and keys. */
export function canonicalJSON(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJSON).join(',')}]`;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJSON(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

export const fieldPE = (name: string) => `f:${name}`;
export const keyPE = (key: Record<string, unknown>) => `k:${canonicalJSON(key)}`;
export const valuePE = (v: unknown) => `v:${canonicalJSON(v)}`;
export const indexPE = (i: number) => `i:${i}`;

// Field names sort before keys, keys before values, values before indexes (fieldpath.PathElement.Compare).
const ORDER: Record<string, number> = { 'f:': 0, 'k:': 1, 'v:': 2, 'i:': 3 };
function comparePE(a: string, b: string): number {
  const d = (ORDER[a.slice(0, 2)] ?? 4) - (ORDER[b.slice(0, 2)] ?? 4);
  if (d) return d;
  if (a.startsWith('i:') && b.startsWith('i:')) return Number(a.slice(2)) - Number(b.slice(2));
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A scalar as value.ToString prints it in paths: strings quoted, everything else as JSON. */
function valueString(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : canonicalJSON(v);
}

/** The path as conflict messages print it: .spec.containers[name="c"].image */
export function pathString(path: Path): string {
  return path
    .map((s) => {
      const pe = parsePE(s);
      if ('field' in pe) return `.${pe.field}`;
      if ('key' in pe)
        return `[${Object.keys(pe.key)
          .sort()
          .map((k) => `${k}=${valueString(pe.key[k])}`)
          .join(',')}]`;
      if ('value' in pe) return `[=${valueString(pe.value)}]`;
      return `[${pe.index}]`;
    })
    .join('');
}
