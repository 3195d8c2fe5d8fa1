/**
 * Cascade information reconciliation (Brassard & Salvail, "Secret-key reconciliation by public
 * discussion", EUROCRYPT 1993) in two variants:
 *
 * - `original`: Brassard & Salvail's parameters: 4 passes, first block size ⌈0.73/Q⌉, each later block
 *   twice the previous one.
 * - `optimized`: after Martinez-Mateo, Pacher, Peev, Ciurana & Martin, "Demystifying the information
 *   reconciliation protocol Cascade", QIC 15 (2015), arXiv:1407.3257: power-of-two block sizes chosen
 *   from the estimated QBER, 14 passes of which all but three split the frame in two, and nothing
 *   asked that earlier answers determine: the last block parity of each pass after the first (block
 *   parity inference), and single bits whose value an earlier search already fixed.
 *
 * Both variants search blocks with odd error parity by bisection, keep every sub-block parity they
 * learn (a later search in the same block reuses it, and a half's parity follows from its sibling's
 * and the parent's), and back-track: a corrected bit flips the parity of its block in every other
 * pass, and those blocks are searched in turn, smallest first, as Brassard & Salvail prescribe.
 *
 * Bob (the corrector) drives the protocol; Alice is reachable only through a {@link ParityOracle} that
 * answers a batch of parity queries per round trip, and every answered parity is one disclosed bit.
 * Alice's parities do not depend on Bob's corrections, so the top-level block parities of all passes
 * go in the first round trip; after that, all odd blocks of a pass are searched together, a wave
 * costing about log2(block size) round trips whatever the number of errors in it. Back-tracking is
 * sequential by nature (each correction decides which block is searched next), so the chains it forms
 * add waves: on 10^4-bit frames, about 40-45 round trips for `original` and 160-250 for `optimized`.
 *
 * The permutations of the passes come from a public seed known to both parties: they are part of the
 * protocol, not secret, and disclose nothing about the key.
 *
 * @module
 */
import { RngStreams } from "../sim/rng.js";
import { type Bits, binaryEntropy } from "./bits.js";

/** The Cascade parameter sets: see the module documentation. */
export type CascadeVariant = "original" | "optimized";

/** Parameters both parties agree on before reconciling a frame. */
export interface CascadeParams {
  /**
   * The estimated quantum bit error rate, in (0, 0.5). Block sizes derive from it (never from the
   * true error rate, which neither party knows).
   */
  estimatedQber: number;
  /** Parameter set. Default `"optimized"`. */
  variant?: CascadeVariant;
  /** Public seed of the pass permutations (a safe integer or a string). Default 0. */
  seed?: number | string;
  /**
   * Explicit block size of each pass, in bits (integers ≥ 1; sizes above the frame length mean one
   * block). Overrides the variant's schedule; the number of entries is the number of passes.
   */
  blockSizes?: readonly number[];
  /**
   * Infer the parity of the last top-level block of every pass after the first from the parity of the
   * whole frame instead of asking for it. Default: true for `optimized`, false for `original`.
   */
  blockParityInference?: boolean;
  /**
   * Draw each pass's permutation once for frames of up to this many bits and reuse it, restricted to
   * the frame, for every frame under the same seed (a session's blocks, whose lengths differ a little).
   * Restricting a uniform permutation of [0, N) to the values below n, in order, is a uniform
   * permutation of [0, n), so nothing changes statistically; the shuffle is just not redone per frame.
   * Must be ≥ the frame length. Default: a fresh shuffle of exactly n per plan.
   */
  permutationCapacity?: number;
  /**
   * Never ask for a one-bit half of a binary search whose value earlier answers already determine
   * (say, a bit at the end of a search in another pass). Default: true for `optimized`, false for
   * `original`.
   */
  knownBitInference?: boolean;
}

/** A uniform shuffle of [0, n) from pass `p`'s stream (Fisher–Yates). */
function shuffled(n: number, streams: RngStreams, p: number): Uint32Array {
  const rng = streams.stream(p);
  const perm = new Uint32Array(n);
  for (let i = 0; i < n; i++) perm[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
  return perm;
}

/** Base shuffles for `permutationCapacity`, by seed and capacity; the last two kept (≈ 4·N bytes per pass). */
const baseShuffles = new Map<string, Uint32Array[]>();

function basePermutation(
  seed: number | string,
  capacity: number,
  p: number,
  streams: RngStreams,
): Uint32Array {
  const key = `${typeof seed}:${seed}:${capacity}`;
  let passes = baseShuffles.get(key);
  if (passes === undefined) {
    passes = [];
    baseShuffles.set(key, passes);
    while (baseShuffles.size > 2) baseShuffles.delete(baseShuffles.keys().next().value!);
  }
  passes[p] ??= shuffled(capacity, streams, p);
  return passes[p];
}

/** The block sizes of the `original` schedule (Brassard & Salvail 1993): k1 = ⌈0.73/Q⌉, k_i = 2·k_(i−1). */
function originalSchedule(q: number): number[] {
  const k1 = Math.ceil(0.73 / q);
  return [k1, 2 * k1, 4 * k1, 8 * k1];
}

/**
 * The block sizes of the `optimized` schedule, in bits. After Martinez-Mateo et al. 2015, option (8)
 * as reproduced by cascade-cpp (B. Rijsman): power-of-two blocks, the first k1 = 2^⌈α⌉ with
 * α = log2(1/Q) − ½ (between 0.71/Q and 1.41/Q, about one error per block), the third 2^12, then blocks
 * of half the frame, 14 passes in all.
 *
 * The second block differs from option (8)'s 2^⌈(α + 12)/2⌉, reported for 2^14-bit frames: on 10^4-bit
 * frames this implementation disclosed 0.5 % less at 1 % QBER (about the same at 5 %) and needed one
 * half to one quarter of the round trips with k2 = 2^⌈log2(4/Q)⌉, about four first-pass blocks as in
 * the paper's option (7). Larger second blocks are fewer, so the back-tracking between the first two
 * passes runs in fewer, longer chains, and each link of a chain costs a wave of round trips.
 *
 * Each half-frame pass costs one disclosed bit when no error is left (block parity inference gives the
 * other half) and halves the chance that an even number of errors stays hidden. Measured on 10^4-bit
 * frames, a third of them still hold errors after three passes, and 14 passes leave a frame error
 * rate near 1e-4 (1-2 failures in 20 000 frames at each of 1, 2, 5 and 8 % QBER).
 */
function optimizedSchedule(n: number, q: number): number[] {
  const k1 = 2 ** Math.max(0, Math.ceil(Math.log2(1 / q) - 0.5));
  const k2 = 2 ** Math.ceil(Math.log2(4 / q));
  const half = Math.ceil(n / 2);
  const sizes = [k1, k2, Math.min(4096, half)];
  while (sizes.length < 14) sizes.push(half);
  return sizes;
}

/**
 * The block size of each pass for a frame of `n` bits, in bits, each clamped to [1, n].
 *
 * @param n - frame length in bits, an integer ≥ 1.
 * @param estimatedQber - the estimated QBER, in (0, 0.5).
 * @param variant - parameter set; default `"optimized"`.
 */
export function cascadeBlockSizes(
  n: number,
  estimatedQber: number,
  variant: CascadeVariant = "optimized",
): number[] {
  checkLength("cascadeBlockSizes", n);
  checkQber("cascadeBlockSizes", estimatedQber);
  const sizes =
    variant === "original" ? originalSchedule(estimatedQber) : optimizedSchedule(n, estimatedQber);
  return sizes.map((k) => Math.min(n, Math.max(1, k)));
}

function checkLength(where: string, n: number): void {
  if (!(Number.isSafeInteger(n) && n >= 1)) {
    throw new RangeError(`${where}: the frame length must be an integer >= 1, got ${n}`);
  }
}

function checkQber(where: string, q: number): void {
  if (!(typeof q === "number" && q > 0 && q < 0.5)) {
    throw new RangeError(`${where}: estimatedQber must be in (0, 0.5), got ${q}`);
  }
}

function checkBits(where: string, name: string, bits: Bits, n: number): void {
  if (!(bits instanceof Uint8Array)) throw new TypeError(`${where}: ${name} must be a Uint8Array`);
  if (bits.length !== n) {
    throw new RangeError(`${where}: ${name} has ${bits.length} bits but the plan is for ${n}`);
  }
  let or = 0;
  for (let i = 0; i < n; i++) or |= bits[i];
  if (or > 1) throw new RangeError(`${where}: ${name} must hold only 0s and 1s`);
}

/**
 * The public side of a Cascade session for frames of a fixed length: block sizes and pass
 * permutations. Alice and Bob build equal plans from the same parameters; building one costs
 * O(n · passes), so reuse it for every frame of a session.
 */
export class CascadePlan {
  /** Frame length in bits. */
  readonly n: number;
  /** Parameter set. */
  readonly variant: CascadeVariant;
  /** The estimated QBER the block sizes were derived from. */
  readonly estimatedQber: number;
  /** Public permutation seed. */
  readonly seed: number | string;
  /** Block size of each pass, in bits (the last block of a pass may be shorter). */
  readonly blockSizes: readonly number[];
  /** Number of top-level blocks of each pass. */
  readonly blockCounts: readonly number[];
  /** Whether the last top-level block parity of passes after the first is inferred, not asked. */
  readonly blockParityInference: boolean;
  /** Whether one-bit halves whose value earlier answers determine are inferred, not asked. */
  readonly knownBitInference: boolean;
  /**
   * `permutations[p][j]` is the key position at index `j` of pass `p`'s shuffled order; the blocks of a
   * pass are consecutive ranges of that order. Shared with the oracle: do not modify.
   */
  readonly permutations: readonly Uint32Array[];
  /** `inverses[p][i]` is the index in pass `p`'s order of key position `i`. Do not modify. */
  readonly inverses: readonly Uint32Array[];

  /**
   * @param n - frame length in bits, an integer ≥ 1.
   * @param params - estimated QBER, variant, seed and options; see {@link CascadeParams}.
   */
  constructor(n: number, params: CascadeParams) {
    checkLength("CascadePlan", n);
    if (params === null || typeof params !== "object") {
      throw new TypeError("CascadePlan: params must be an object");
    }
    checkQber("CascadePlan", params.estimatedQber);
    const variant = params.variant ?? "optimized";
    if (variant !== "original" && variant !== "optimized") {
      throw new RangeError(`CascadePlan: variant must be "original" or "optimized", got ${String(variant)}`);
    }
    let sizes: number[];
    if (params.blockSizes !== undefined) {
      if (params.blockSizes.length < 1) throw new RangeError("CascadePlan: blockSizes must not be empty");
      sizes = params.blockSizes.map((k, i) => {
        if (!(Number.isSafeInteger(k) && k >= 1)) {
          throw new RangeError(`CascadePlan: blockSizes[${i}] must be an integer >= 1, got ${k}`);
        }
        return Math.min(n, k);
      });
    } else {
      sizes = cascadeBlockSizes(n, params.estimatedQber, variant);
    }
    this.n = n;
    this.variant = variant;
    this.estimatedQber = params.estimatedQber;
    this.seed = params.seed ?? 0;
    this.blockSizes = sizes;
    this.blockCounts = sizes.map((k) => Math.ceil(n / k));
    this.blockParityInference = params.blockParityInference ?? variant === "optimized";
    this.knownBitInference = params.knownBitInference ?? variant === "optimized";

    const capacity = params.permutationCapacity;
    if (capacity !== undefined && !(Number.isSafeInteger(capacity) && capacity >= n))
      throw new RangeError(
        `CascadePlan: permutationCapacity must be an integer ≥ the frame length ${n}, got ${capacity}`,
      );
    const streams = new RngStreams(this.seed).child("cascade-permutations");
    const perms: Uint32Array[] = [];
    const invs: Uint32Array[] = [];
    for (let p = 0; p < sizes.length; p++) {
      let perm: Uint32Array;
      if (capacity === undefined) perm = shuffled(n, streams, p);
      else {
        const base = basePermutation(this.seed, capacity, p, streams);
        perm = new Uint32Array(n);
        let k = 0;
        for (let i = 0; i < capacity; i++) if (base[i] < n) perm[k++] = base[i];
      }
      const inv = new Uint32Array(n);
      for (let i = 0; i < n; i++) inv[perm[i]] = i;
      perms.push(perm);
      invs.push(inv);
    }
    this.permutations = perms;
    this.inverses = invs;
  }

  /** Number of passes. */
  get passCount(): number {
    return this.blockSizes.length;
  }
}

/** The `pass` value of a query over an explicit list of key positions. */
export const EXPLICIT_LIST = -1;

/**
 * A batch of parity queries, sent from Bob to Alice in one message, as parallel typed arrays so that
 * building one allocates nothing. Query `i` asks for the parity of Alice's bits at:
 * - `pass[i] ≥ 0`: indices `start[i] ≤ j < end[i]` of that pass's shuffled order;
 * - `pass[i] = EXPLICIT_LIST`: the key positions `indices[start[i] .. end[i])`.
 */
export class ParityQueries {
  /** Number of queries in the batch. */
  count = 0;
  /** Pass of each query, or {@link EXPLICIT_LIST}. */
  pass: Int32Array;
  /** Range start (inclusive) of each query. */
  start: Uint32Array;
  /** Range end (exclusive) of each query. */
  end: Uint32Array;
  /** Key positions referenced by explicit-list queries. */
  indices: Uint32Array;
  /** Number of entries of `indices` in use. */
  indexCount = 0;

  /** @param capacity - initial number of queries; the batch grows as needed. Default 64. */
  constructor(capacity = 64) {
    const c = Math.max(1, capacity | 0);
    this.pass = new Int32Array(c);
    this.start = new Uint32Array(c);
    this.end = new Uint32Array(c);
    this.indices = new Uint32Array(16);
  }

  /** Empties the batch, keeping its storage. */
  clear(): void {
    this.count = 0;
    this.indexCount = 0;
  }

  /** Adds a query for indices [start, end) of pass `pass`'s shuffled order. */
  addRange(pass: number, start: number, end: number): void {
    if (this.count === this.pass.length) this.grow();
    const i = this.count++;
    this.pass[i] = pass;
    this.start[i] = start;
    this.end[i] = end;
  }

  /** Adds a query for the parity of the key positions in `positions`. */
  addList(positions: ArrayLike<number>): void {
    if (this.count === this.pass.length) this.grow();
    const need = this.indexCount + positions.length;
    if (need > this.indices.length) {
      const bigger = new Uint32Array(Math.max(need, 2 * this.indices.length));
      bigger.set(this.indices.subarray(0, this.indexCount));
      this.indices = bigger;
    }
    const i = this.count++;
    this.pass[i] = EXPLICIT_LIST;
    this.start[i] = this.indexCount;
    for (let j = 0; j < positions.length; j++) this.indices[this.indexCount++] = positions[j];
    this.end[i] = this.indexCount;
  }

  private grow(): void {
    const c = 2 * this.pass.length;
    const pass = new Int32Array(c);
    const start = new Uint32Array(c);
    const end = new Uint32Array(c);
    pass.set(this.pass);
    start.set(this.start);
    end.set(this.end);
    this.pass = pass;
    this.start = start;
    this.end = end;
  }
}

/**
 * Alice's side of the classical channel: answers a batch of parity queries. One call is one round
 * trip; each answered parity is one bit disclosed to an eavesdropper.
 */
export interface ParityOracle {
  /**
   * Alice's parity (0 or 1) of each of the first `queries.count` queries, in order. The returned array
   * may be reused by the oracle on its next call.
   */
  parities(queries: ParityQueries): ArrayLike<number>;
}

/* -------------------------------------------------------------------------------------------- */
/* Packed bit strings: bit j of a string at bit (j & 31) of word (j >>> 5).                       */
/* -------------------------------------------------------------------------------------------- */

/** Parity of bits [s, e) of the packed string that starts at word `off` of `w`. */
function rangeParity(w: Int32Array, off: number, s: number, e: number): number {
  if (e <= s) return 0;
  const ws = off + (s >>> 5);
  const we = off + ((e - 1) >>> 5);
  let x: number;
  if (ws === we) {
    const len = e - s;
    x = (w[ws] >>> (s & 31)) & (len === 32 ? -1 : (1 << len) - 1);
  } else {
    x = w[ws] >>> (s & 31);
    for (let i = ws + 1; i < we; i++) x ^= w[i];
    const used = ((e - 1) & 31) + 1;
    x ^= used === 32 ? w[we] : w[we] & ((1 << used) - 1);
  }
  x ^= x >>> 16;
  x ^= x >>> 8;
  x ^= x >>> 4;
  return (0x6996 >>> (x & 15)) & 1;
}

/** Packs `bits` in the order `perm` into the ⌈n/32⌉ words of `out` from word `off`, which must be zero. */
function packPermuted(bits: Bits, perm: Uint32Array, out: Int32Array, off: number): void {
  const n = perm.length;
  for (let j = 0; j < n; j++) out[off + (j >>> 5)] |= bits[perm[j]] << (j & 31);
}

/**
 * An in-memory {@link ParityOracle} over Alice's key, for simulation and tests. It also counts what
 * it was asked, so a test can check that every disclosed bit went through it.
 */
export class KeyParityOracle implements ParityOracle {
  /** Number of calls (round trips) answered. */
  calls = 0;
  /** Number of parities answered (disclosed bits). */
  answered = 0;
  private readonly key: Bits;
  private readonly plan: CascadePlan;
  // Alice's key packed in each pass's order, built on the first query of that pass.
  private readonly packed: (Int32Array | undefined)[];
  private answers = new Uint8Array(64);

  /**
   * @param aliceKey - Alice's key, `plan.n` bits; copied, so later changes to it do not matter.
   * @param plan - the session's public plan.
   */
  constructor(aliceKey: Bits, plan: CascadePlan) {
    checkBits("KeyParityOracle", "aliceKey", aliceKey, plan.n);
    this.key = aliceKey.slice();
    this.plan = plan;
    this.packed = new Array(plan.passCount).fill(undefined);
  }

  /**
   * Alice's parity of each query, in a buffer reused from call to call. Throws a `RangeError` for a
   * query naming an unknown pass, a range beyond the frame or a position outside it.
   */
  parities(queries: ParityQueries): Uint8Array {
    const count = queries.count;
    if (this.answers.length < count) this.answers = new Uint8Array(Math.max(count, 2 * this.answers.length));
    const out = this.answers;
    const n = this.plan.n;
    for (let i = 0; i < count; i++) {
      const p = queries.pass[i];
      const s = queries.start[i];
      const e = queries.end[i];
      if (p === EXPLICIT_LIST) {
        if (!(s <= e && e <= queries.indexCount)) {
          throw new RangeError(
            `KeyParityOracle: query ${i} lists indices [${s}, ${e}) of ${queries.indexCount}`,
          );
        }
        let x = 0;
        for (let j = s; j < e; j++) {
          const pos = queries.indices[j];
          if (pos >= n) throw new RangeError(`KeyParityOracle: query ${i} names position ${pos} of ${n}`);
          x ^= this.key[pos];
        }
        out[i] = x & 1;
      } else {
        if (!(Number.isInteger(p) && p >= 0 && p < this.plan.passCount)) {
          throw new RangeError(`KeyParityOracle: query ${i} names pass ${p} of ${this.plan.passCount}`);
        }
        if (!(s <= e && e <= n)) {
          throw new RangeError(`KeyParityOracle: query ${i} asks for range [${s}, ${e}) of ${n} bits`);
        }
        let w = this.packed[p];
        if (w === undefined) {
          w = new Int32Array((n + 31) >>> 5);
          packPermuted(this.key, this.plan.permutations[p], w, 0);
          this.packed[p] = w;
        }
        out[i] = rangeParity(w, 0, s, e);
      }
    }
    this.calls++;
    this.answered += count;
    return out;
  }
}

/** What one reconciliation did and disclosed. */
export interface CascadeResult {
  /** Bob's key after correction (a new array). */
  corrected: Bits;
  /** Parity bits Alice disclosed: one per answered query, top-level block parities included. */
  disclosedBits: number;
  /** Query/answer exchanges with Alice. */
  roundTrips: number;
  /** Messages over the classical channel, both directions (two per round trip). */
  messages: number;
  /**
   * Approximate classical traffic in bits, both directions: each range query encoded as
   * (pass, start, end) in ⌈log2 passes⌉ + 2·⌈log2(n+1)⌉ bits, each answer as one bit.
   */
  bitsSent: number;
  /** Passes run. */
  passes: number;
  /**
   * The highest pass (0-based) that had a block with odd error parity, −1 if none did. Errors were left
   * when every earlier pass was clean, so a schedule of `lastSearchedPass` passes or fewer would have
   * failed on this frame: over many frames this estimates the frame error rate of shorter schedules.
   */
  lastSearchedPass: number;
  /** Bits Bob flipped; equals the number of errors when the frame ends error-free. */
  errorsCorrected: number;
  /**
   * Reconciliation efficiency f = disclosedBits / (n · h(e)), with e = errorsCorrected / n the QBER
   * Bob measured (the actual QBER whenever the frame was fully corrected). `Infinity` when nothing was
   * corrected but bits were disclosed, `NaN` when neither.
   */
  efficiency: number;
}

/* Outcomes of one step of a binary search. */
const WAITING = 0;
const ENDED = 1;

/**
 * Bob's side of Cascade for one {@link CascadePlan}: corrects frames through a {@link ParityOracle}.
 * Bob never sees Alice's key; he learns only the parities the oracle answers. Holds its working
 * storage, so reuse one corrector for many frames (one frame at a time).
 *
 * Alice's parities do not depend on Bob's corrections, so the top-level block parities of all passes
 * go in the first round trip. The searches then follow Cascade's order: all odd blocks of the lowest
 * pass that has any, in parallel; a pass's blocks are searched only once every earlier pass is even.
 */
export class CascadeCorrector {
  /** The plan this corrector follows. */
  readonly plan: CascadePlan;

  private readonly n: number;
  private readonly passes: number;
  private readonly ks: Int32Array;
  private readonly counts: Int32Array;
  private readonly spans: Int32Array;
  private readonly bob: Uint8Array;
  // Alice's bit at each key position when the disclosed parities determine it (a one-bit node of some
  // search tree), else −1: a one-bit half in any pass's search is then never asked for again.
  private readonly aliceBit: Int8Array;
  // Alice's known parity of every binary-search node of every pass (−1 unknown): pass p's region
  // starts at offsets[p] and holds `spans[p]` entries per block in heap order (node 1 the block,
  // children 2h and 2h + 1). Most of it stays unknown, so each frame resets only the entries it set.
  private readonly known: Int8Array;
  private readonly offsets: Int32Array;
  private touched: Int32Array;
  private touchedLen = 0;
  // Bob's bits packed in each pass's order, `wordsPerPass` words per pass.
  private readonly words: Int32Array;
  private readonly wordsPerPass: number;
  // Per block of every pass, pass p's blocks from blockBase[p] on: its current error parity (Alice's
  // parity xor Bob's); whether a search holds it; whether it waits on its pass's stack of odd blocks.
  // Pass p's stack occupies the same index range of `stack`.
  private readonly blockBase: Int32Array;
  private readonly oddBlock: Uint8Array;
  private readonly busy: Uint8Array;
  private readonly queued: Uint8Array;
  private readonly stack: Int32Array;
  private readonly stackLen: Int32Array;
  // Active binary searches, struct of arrays: pass, block (index into the per-block arrays), current
  // node (heap index), range start in the pass order, range length.
  private readonly sPass: Int32Array;
  private readonly sBlock: Int32Array;
  private readonly sNode: Int32Array;
  private readonly sStart: Int32Array;
  private readonly sLen: Int32Array;
  private active = 0;
  // The batch in flight, and for each of its queries the `known` entry its answer fills.
  private readonly queries: ParityQueries;
  private readonly qSlot: Int32Array;
  private readonly queryBits: number;

  private disclosed = 0;
  private roundTrips = 0;
  private bitsSent = 0;
  private flips = 0;
  private lastSearchedPass = -1;

  /** @param plan - the session's public plan. */
  constructor(plan: CascadePlan) {
    this.plan = plan;
    const n = plan.n;
    const passes = plan.passCount;
    this.n = n;
    this.passes = passes;
    this.ks = Int32Array.from(plan.blockSizes);
    this.counts = Int32Array.from(plan.blockCounts);
    this.spans = new Int32Array(passes);
    this.bob = new Uint8Array(n);
    this.aliceBit = new Int8Array(n);
    this.offsets = new Int32Array(passes);
    this.blockBase = new Int32Array(passes);
    this.stackLen = new Int32Array(passes);
    let totalBlocks = 0;
    let totalNodes = 0;
    for (let p = 0; p < passes; p++) {
      let pow = 1;
      while (pow < this.ks[p]) pow *= 2;
      this.spans[p] = 2 * pow;
      this.blockBase[p] = totalBlocks;
      totalBlocks += this.counts[p];
      this.offsets[p] = totalNodes;
      totalNodes += this.counts[p] * this.spans[p];
    }
    this.wordsPerPass = (n + 31) >>> 5;
    this.words = new Int32Array(passes * this.wordsPerPass);
    this.oddBlock = new Uint8Array(totalBlocks);
    this.busy = new Uint8Array(totalBlocks);
    this.queued = new Uint8Array(totalBlocks);
    this.stack = new Int32Array(totalBlocks);
    this.known = new Int8Array(totalNodes).fill(-1);
    this.touched = new Int32Array(Math.min(totalNodes, 1024));
    // No more searches run at once than there are blocks, and no batch is larger.
    this.sPass = new Int32Array(totalBlocks);
    this.sBlock = new Int32Array(totalBlocks);
    this.sNode = new Int32Array(totalBlocks);
    this.sStart = new Int32Array(totalBlocks);
    this.sLen = new Int32Array(totalBlocks);
    this.queries = new ParityQueries(totalBlocks);
    this.qSlot = new Int32Array(totalBlocks);
    this.queryBits = Math.ceil(Math.log2(Math.max(2, passes))) + 2 * Math.ceil(Math.log2(n + 1));
  }

  /**
   * Corrects `bobKey` towards Alice's key through `oracle`.
   *
   * @param bobKey - Bob's noisy key, `plan.n` bits of 0/1; not modified.
   * @param oracle - Alice's parity oracle for the same plan.
   */
  reconcile(bobKey: Bits, oracle: ParityOracle): CascadeResult {
    checkBits("CascadeCorrector.reconcile", "bobKey", bobKey, this.n);
    if (oracle === null || typeof oracle !== "object" || typeof oracle.parities !== "function") {
      throw new TypeError("CascadeCorrector.reconcile: oracle must have a parities() method");
    }
    this.bob.set(bobKey);
    this.aliceBit.fill(-1);
    for (let t = 0; t < this.touchedLen; t++) this.known[this.touched[t]] = -1;
    this.touchedLen = 0;
    this.disclosed = 0;
    this.roundTrips = 0;
    this.bitsSent = 0;
    this.flips = 0;
    this.lastSearchedPass = -1;
    this.active = 0;
    this.queries.clear();
    this.askBlockParities(oracle);
    this.resolve(oracle);
    const n = this.n;
    return {
      corrected: this.bob.slice(),
      disclosedBits: this.disclosed,
      roundTrips: this.roundTrips,
      messages: 2 * this.roundTrips,
      bitsSent: this.bitsSent,
      passes: this.passes,
      lastSearchedPass: this.lastSearchedPass,
      errorsCorrected: this.flips,
      efficiency: this.disclosed / (n * binaryEntropy(this.flips / n)),
    };
  }

  /** Asks Alice the queued batch (one round trip) and files each answer in its `known` slot. */
  private ask(oracle: ParityOracle): void {
    const q = this.queries;
    const count = q.count;
    const answers = oracle.parities(q);
    if (answers === null || answers === undefined || !(answers.length >= count)) {
      throw new RangeError(`Cascade: the oracle answered ${answers?.length} of ${count} queries`);
    }
    for (let i = 0; i < count; i++) this.learn(this.qSlot[i], answers[i] & 1);
    this.roundTrips++;
    this.disclosed += count;
    this.bitsSent += count * (this.queryBits + 1);
    q.clear();
  }

  private query(pass: number, start: number, end: number, slot: number): void {
    this.qSlot[this.queries.count] = slot;
    this.queries.addRange(pass, start, end);
  }

  /** Records Alice's parity `v` of the node at `known` entry `x`, answered or inferred. */
  private learn(x: number, v: number): void {
    if (this.known[x] < 0) {
      if (this.touchedLen === this.touched.length) {
        const bigger = new Int32Array(2 * this.touched.length);
        bigger.set(this.touched);
        this.touched = bigger;
      }
      this.touched[this.touchedLen++] = x;
    }
    this.known[x] = v;
  }

  /**
   * The top-level block parities of every pass in one round trip. With block parity inference, the
   * last block of each pass after the first is not asked: the first pass's blocks give the parity of
   * the whole frame, and the last block's parity is that minus the others'.
   */
  private askBlockParities(oracle: ParityOracle): void {
    const n = this.n;
    const infer = this.plan.blockParityInference;
    const known = this.known;
    const words = this.words;
    const wpp = this.wordsPerPass;
    words.fill(0);
    this.oddBlock.fill(0);
    this.busy.fill(0);
    this.queued.fill(0);
    this.stackLen.fill(0);
    for (let p = 0; p < this.passes; p++) {
      const k = this.ks[p];
      const nb = this.counts[p];
      const root = this.offsets[p] + 1;
      const span = this.spans[p];
      packPermuted(this.bob, this.plan.permutations[p], words, p * wpp);
      const asked = infer && p > 0 ? nb - 1 : nb;
      for (let b = 0; b < asked; b++) this.query(p, b * k, Math.min(n, (b + 1) * k), root + b * span);
    }
    this.ask(oracle);
    let frameParity = 0;
    for (let b = 0; b < this.counts[0]; b++) frameParity ^= known[this.offsets[0] + 1 + b * this.spans[0]];
    for (let p = 0; p < this.passes; p++) {
      const k = this.ks[p];
      const nb = this.counts[p];
      const root = this.offsets[p] + 1;
      const span = this.spans[p];
      if (infer && p > 0) {
        let x = frameParity;
        for (let b = 0; b < nb - 1; b++) x ^= known[root + b * span];
        this.learn(root + (nb - 1) * span, x);
      }
      const g0 = this.blockBase[p];
      for (let b = 0; b < nb; b++) {
        const odd = known[root + b * span] ^ rangeParity(words, p * wpp, b * k, Math.min(n, (b + 1) * k));
        this.oddBlock[g0 + b] = odd;
        if (odd) this.push(p, g0 + b);
      }
    }
  }

  /** Puts block `g` (an index into the per-block arrays) of pass `p` on the pass's stack. */
  private push(p: number, g: number): void {
    this.queued[g] = 1;
    this.stack[this.blockBase[p] + this.stackLen[p]++] = g;
  }

  /**
   * Runs binary searches until no block of any pass has odd error parity, one round trip per round.
   * Searches go in waves: all odd blocks of the lowest pass that has any, in parallel. Blocks of one
   * pass are disjoint, so no two searches chase the same error; small blocks are the cheapest to
   * search, and the errors they reveal often even out larger blocks, which then need no search at all.
   */
  private resolve(oracle: ParityOracle): void {
    for (;;) {
      if (this.active === 0 && !this.startWave()) return;
      let keep = 0;
      for (let i = 0; i < this.active; i++) {
        if (this.step(i) === WAITING) {
          if (keep !== i) {
            this.sPass[keep] = this.sPass[i];
            this.sBlock[keep] = this.sBlock[i];
            this.sNode[keep] = this.sNode[i];
            this.sStart[keep] = this.sStart[i];
            this.sLen[keep] = this.sLen[i];
          }
          keep++;
        } else {
          const g = this.sBlock[i];
          this.busy[g] = 0;
          if (this.oddBlock[g] && !this.queued[g]) this.push(this.sPass[i], g);
        }
      }
      this.active = keep;
      if (this.queries.count > 0) this.ask(oracle);
    }
  }

  /** Starts a search on every odd block of the lowest pass that has one; false if there is none. */
  private startWave(): boolean {
    const { stack, queued, oddBlock, busy } = this;
    for (let p = 0; p < this.passes; p++) {
      const k = this.ks[p];
      const g0 = this.blockBase[p];
      let len = this.stackLen[p];
      while (len > 0) {
        const g = stack[g0 + --len];
        queued[g] = 0;
        if (oddBlock[g] && !busy[g]) {
          busy[g] = 1;
          const start = (g - g0) * k;
          const i = this.active++;
          this.sPass[i] = p;
          this.sBlock[i] = g;
          this.sNode[i] = 1;
          this.sStart[i] = start;
          this.sLen[i] = Math.min(k, this.n - start);
        }
      }
      this.stackLen[p] = 0;
      if (this.active > 0) {
        if (p > this.lastSearchedPass) this.lastSearchedPass = p;
        return true;
      }
    }
    return false;
  }

  /**
   * Advances search `i` as far as known parities allow, descending into the half whose error parity is
   * odd. A half's parity is known when it was answered before, follows from its sibling's and the
   * parent's, or (a single bit) was determined in another pass; otherwise the search queues a query for
   * the left half and waits. Ends at a single bit, an error, which it flips.
   */
  private step(i: number): number {
    const p = this.sPass[i];
    const known = this.known;
    const words = this.words;
    const off = p * this.wordsPerPass;
    const perm = this.plan.permutations[p];
    const aliceBit = this.aliceBit;
    const bitInference = this.plan.knownBitInference;
    const base = this.offsets[p] + (this.sBlock[i] - this.blockBase[p]) * this.spans[p];
    let h = this.sNode[i];
    let start = this.sStart[i];
    let len = this.sLen[i];
    for (;;) {
      if (len === 1) {
        this.flip(perm[start]);
        return ENDED;
      }
      const lenL = (len + 1) >>> 1;
      const l = base + 2 * h;
      let aL = known[l];
      let aR = known[l + 1];
      if (aL < 0 && aR < 0) {
        // A one-bit half whose value is already determined needs no query.
        if (bitInference) {
          if (lenL === 1) aL = aliceBit[perm[start]];
          if (aL < 0 && len - lenL === 1) aR = aliceBit[perm[start + lenL]];
        }
        if (aL < 0 && aR < 0) {
          this.query(p, start, start + lenL, l);
          this.sNode[i] = h;
          this.sStart[i] = start;
          this.sLen[i] = len;
          return WAITING;
        }
      }
      const parent = known[base + h];
      if (aL < 0) aL = parent ^ aR;
      else if (aR < 0) aR = parent ^ aL;
      if (known[l] < 0) this.learn(l, aL);
      if (known[l + 1] < 0) this.learn(l + 1, aR);
      if (lenL === 1) aliceBit[perm[start]] = aL;
      if (len - lenL === 1) aliceBit[perm[start + lenL]] = aR;
      if (aL !== rangeParity(words, off, start, start + lenL)) {
        h = 2 * h;
        len = lenL;
      } else if (aR !== rangeParity(words, off, start + lenL, start + len)) {
        h = 2 * h + 1;
        start += lenL;
        len -= lenL;
      } else {
        // Searches running together hold disjoint blocks of one pass, so nothing else changes this
        // range: the answers contradict each other.
        throw new Error(
          `Cascade: inconsistent parities from the oracle (pass ${p}, block ${this.sBlock[i] - this.blockBase[p]})`,
        );
      }
    }
  }

  /** Flips Bob's bit at key position `pos` and updates each pass's view of it. */
  private flip(pos: number): void {
    // Each flip an honest oracle leads to corrects a distinct error, so there are at most n of them;
    // answers that contradict each other could otherwise flip bits back and forth for ever.
    if (++this.flips > this.n)
      throw new Error("Cascade: inconsistent parities from the oracle (too many flips)");
    this.bob[pos] ^= 1;
    const { words, oddBlock, busy, queued, ks, blockBase } = this;
    const inverses = this.plan.inverses;
    const wpp = this.wordsPerPass;
    for (let p = 0; p < this.passes; p++) {
      const j = inverses[p][pos];
      words[p * wpp + (j >>> 5)] ^= 1 << (j & 31);
      const g = blockBase[p] + ((j / ks[p]) | 0);
      oddBlock[g] ^= 1;
      if (oddBlock[g] && !busy[g] && !queued[g]) this.push(p, g);
    }
  }
}

/**
 * Reconciles Bob's key against Alice's in one call, for simulation: builds the plan, an in-memory
 * oracle over Alice's key and a corrector. For many frames, build a {@link CascadePlan} and a
 * {@link CascadeCorrector} once and reuse them.
 *
 * @param aliceKey - Alice's key (0/1 per element).
 * @param bobKey - Bob's noisy key, same length.
 * @param params - estimated QBER, variant and seed; see {@link CascadeParams}.
 */
export function reconcileCascade(aliceKey: Bits, bobKey: Bits, params: CascadeParams): CascadeResult {
  if (!(aliceKey instanceof Uint8Array) || !(bobKey instanceof Uint8Array)) {
    throw new TypeError("reconcileCascade: both keys must be Uint8Arrays");
  }
  if (aliceKey.length !== bobKey.length) {
    throw new RangeError(
      `reconcileCascade: key lengths differ (Alice ${aliceKey.length}, Bob ${bobKey.length})`,
    );
  }
  const plan = new CascadePlan(aliceKey.length, params);
  return new CascadeCorrector(plan).reconcile(bobKey, new KeyParityOracle(aliceKey, plan));
}
