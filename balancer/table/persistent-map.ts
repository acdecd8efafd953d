// An immutable string-keyed map with structural sharing: a hash trie of 32-way branches whose
// leaves are small buckets. The route table keeps its 10,000 entries in one of these because a
// watch batch must not copy the whole registry: setting or deleting a key copies only the branches
// on its path (a few 32-slot arrays), and two versions can be diffed by skipping every subtree they
// share, so "what changed between the previous and the next table" costs O(change) too.
// It implements ReadonlyMap, so readers (admin, metrics, diffSnapshot) do not know the difference.
// Iteration order is hash order: stable for a given set of keys, unrelated to insertion order.

const BITS = 5;
const WIDTH = 1 << BITS;
const MASK = WIDTH - 1;
/** A bucket beyond this size becomes a branch: small enough to scan, big enough to keep the trie shallow. */
const BUCKET_MAX = 8;
/**
 * Branches index 5 hash bits per level; at shift 30 only 2 bits remain, so deeper buckets just grow
 * (full-hash collisions).
 */
const MAX_BRANCH_SHIFT = 30;

interface Leaf<V> {
  readonly key: string;
  readonly hash: number;
  readonly value: V;
}

/**
 * `owner` marks nodes created by one still-open editor: it may mutate those in place (they are not
 * yet reachable from any published map) and copies every other node it changes.
 */
class Bucket<V> {
  constructor(
    public leaves: Leaf<V>[],
    public owner: object | undefined,
  ) {}
}

class Branch<V> {
  constructor(
    public slots: (Node<V> | undefined)[],
    public owner: object | undefined,
  ) {}
}

type Node<V> = Bucket<V> | Branch<V>;

/** FNV-1a over UTF-16 code units: cheap, and spreads the long shared prefixes of registry keys well. */
function hashOf(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

function findLeaf<V>(root: Node<V> | undefined, key: string): Leaf<V> | undefined {
  const hash = hashOf(key);
  let node = root;
  for (let shift = 0; node !== undefined; shift += BITS) {
    if (node instanceof Branch) node = node.slots[(hash >>> shift) & MASK];
    else return node.leaves.find((l) => l.hash === hash && l.key === key);
  }
  return undefined;
}

function* walk<V>(node: Node<V> | undefined): Generator<Leaf<V>, void, undefined> {
  if (node === undefined) return;
  if (node instanceof Bucket) yield* node.leaves;
  else for (const slot of node.slots) yield* walk(slot);
}

export class PersistentMap<V> implements ReadonlyMap<string, V> {
  private static readonly EMPTY = new PersistentMap<never>(undefined, 0);

  /** @internal use `empty`, `from` or `edit` */
  constructor(
    /** @internal */ readonly root: Node<V> | undefined,
    readonly size: number,
  ) {}

  static empty<V>(): PersistentMap<V> {
    return PersistentMap.EMPTY as PersistentMap<V>;
  }

  static from<V>(source: Iterable<readonly [string, V]>): PersistentMap<V> {
    const editor = PersistentMap.empty<V>().edit();
    for (const [key, value] of source) editor.set(key, value);
    return editor.done();
  }

  get(key: string): V | undefined {
    return findLeaf(this.root, key)?.value;
  }

  has(key: string): boolean {
    return findLeaf(this.root, key) !== undefined;
  }

  *entries(): Generator<[string, V], undefined, unknown> {
    for (const leaf of walk(this.root)) yield [leaf.key, leaf.value];
    return undefined;
  }

  *keys(): Generator<string, undefined, unknown> {
    for (const leaf of walk(this.root)) yield leaf.key;
    return undefined;
  }

  *values(): Generator<V, undefined, unknown> {
    for (const leaf of walk(this.root)) yield leaf.value;
    return undefined;
  }

  [Symbol.iterator](): Generator<[string, V], undefined, unknown> {
    return this.entries();
  }

  forEach(callback: (value: V, key: string, map: ReadonlyMap<string, V>) => void, thisArg?: unknown): void {
    for (const leaf of walk(this.root)) callback.call(thisArg, leaf.value, leaf.key, this);
  }

  /** A batch of changes; `done()` returns the new map (this one when nothing changed). */
  edit(): MapEditor<V> {
    return new MapEditor(this);
  }
}

export class MapEditor<V> {
  private owner: object = {};
  private root: Node<V> | undefined;
  private count: number;

  constructor(private readonly base: PersistentMap<V>) {
    this.root = base.root;
    this.count = base.size;
  }

  get(key: string): V | undefined {
    return findLeaf(this.root, key)?.value;
  }

  set(key: string, value: V): void {
    this.root = this.setIn(this.root, 0, { key, hash: hashOf(key), value });
  }

  delete(key: string): void {
    this.root = this.deleteIn(this.root, 0, hashOf(key), key);
  }

  done(): PersistentMap<V> {
    this.owner = {}; // what this editor built is published now: later edits must copy it
    return this.root === this.base.root ? this.base : new PersistentMap(this.root, this.count);
  }

  private setIn(node: Node<V> | undefined, shift: number, leaf: Leaf<V>): Node<V> {
    if (node === undefined) {
      this.count++;
      return new Bucket([leaf], this.owner);
    }
    if (node instanceof Branch) {
      const i = (leaf.hash >>> shift) & MASK;
      const slot = node.slots[i];
      const child = this.setIn(slot, shift + BITS, leaf);
      if (child === slot) return node;
      const own = node.owner === this.owner ? node : new Branch(node.slots.slice(), this.owner);
      own.slots[i] = child;
      return own;
    }
    const j = node.leaves.findIndex((l) => l.hash === leaf.hash && l.key === leaf.key);
    if (j >= 0 && node.leaves[j]!.value === leaf.value) return node;
    const own = node.owner === this.owner ? node : new Bucket(node.leaves.slice(), this.owner);
    if (j >= 0) own.leaves[j] = leaf;
    else {
      own.leaves.push(leaf);
      this.count++;
      if (own.leaves.length > BUCKET_MAX && shift <= MAX_BRANCH_SHIFT) return this.split(own.leaves, shift);
    }
    return own;
  }

  private split(leaves: readonly Leaf<V>[], shift: number): Branch<V> {
    let branch: Node<V> = new Branch<V>(new Array<Node<V> | undefined>(WIDTH).fill(undefined), this.owner);
    this.count -= leaves.length; // setIn counts them again
    for (const leaf of leaves) branch = this.setIn(branch, shift, leaf);
    return branch as Branch<V>;
  }

  private deleteIn(node: Node<V> | undefined, shift: number, hash: number, key: string): Node<V> | undefined {
    if (node === undefined) return undefined;
    if (node instanceof Branch) {
      const i = (hash >>> shift) & MASK;
      const slot = node.slots[i];
      const child = this.deleteIn(slot, shift + BITS, hash, key);
      if (child === slot) return node;
      // An emptied branch goes away; a sparse one stays (shape is not canonical, which diff tolerates).
      if (child === undefined && node.slots.every((s, k) => k === i || s === undefined)) return undefined;
      const own = node.owner === this.owner ? node : new Branch(node.slots.slice(), this.owner);
      own.slots[i] = child;
      return own;
    }
    const j = node.leaves.findIndex((l) => l.hash === hash && l.key === key);
    if (j < 0) return node;
    this.count--;
    if (node.leaves.length === 1) return undefined;
    const own = node.owner === this.owner ? node : new Bucket(node.leaves.slice(), this.owner);
    own.leaves.splice(j, 1);
    return own;
  }
}

export type ChangeCallback<V> = (key: string, before: V | undefined, after: V | undefined) => void;

/**
 * Calls `onChange` for every key whose value differs (by identity) between `a` and `b`, in no
 * particular order. Two PersistentMaps are compared by skipping shared subtrees; anything else is
 * compared key by key.
 */
export function diffMaps<V>(a: ReadonlyMap<string, V>, b: ReadonlyMap<string, V>, onChange: ChangeCallback<V>): void {
  if (a === b) return;
  if (a instanceof PersistentMap && b instanceof PersistentMap) {
    diffNodes<V>(a.root as Node<V> | undefined, b.root as Node<V> | undefined, onChange);
    return;
  }
  diffPairs(a, b.entries(), onChange);
}

function diffNodes<V>(x: Node<V> | undefined, y: Node<V> | undefined, onChange: ChangeCallback<V>): void {
  if (x === y) return;
  if (x instanceof Branch && y instanceof Branch) {
    for (let i = 0; i < WIDTH; i++) diffNodes(x.slots[i], y.slots[i], onChange);
    return;
  }
  // Buckets, or different shapes at the same position: the keys share a hash prefix, so compare the
  // two sets of leaves. Both are small unless the hash is saturated, so a linear scan is cheapest.
  const xs = [...walk(x)];
  const ys = [...walk(y)];
  for (const leaf of ys) {
    const old = xs.find((l) => l.key === leaf.key);
    if (old === undefined) onChange(leaf.key, undefined, leaf.value);
    else if (old.value !== leaf.value) onChange(leaf.key, old.value, leaf.value);
  }
  for (const leaf of xs) if (!ys.some((l) => l.key === leaf.key)) onChange(leaf.key, leaf.value, undefined);
}

function diffPairs<V>(a: ReadonlyMap<string, V>, bEntries: Iterable<[string, V]>, onChange: ChangeCallback<V>): void {
  const seen = new Set<string>();
  for (const [key, after] of bEntries) {
    seen.add(key);
    const before = a.get(key);
    if (before === undefined && !a.has(key)) onChange(key, undefined, after);
    else if (before !== after) onChange(key, before, after);
  }
  for (const [key, before] of a) if (!seen.has(key)) onChange(key, before, undefined);
}

/** `map` as a PersistentMap: itself, or a copy of a hand-built Map (tests, tools), once. */
export function persistent<V>(map: ReadonlyMap<string, V>): PersistentMap<V> {
  return map instanceof PersistentMap ? (map as PersistentMap<V>) : PersistentMap.from(map);
}
