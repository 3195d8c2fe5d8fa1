/**
 * Privacy amplification by Toeplitz hashing, and the secret key length the leftover hash lemma allows.
 *
 * Toeplitz convention: for an n-bit input x, an ℓ-bit output and a seed s of n + ℓ − 1 bits,
 *
 *     y_i = ⊕_{j<n} s[i − j + n − 1] · x_j        (0 ≤ i < ℓ),
 *
 * i.e. the ℓ × n matrix T[i][j] = s[i − j + n − 1] is constant along its diagonals, its first row is
 * s[n−1], s[n−2], …, s[0] and its first column is s[n−1], …, s[n+ℓ−2]. Random Toeplitz matrices form a
 * universal family (Carter & Wegman 1979; Krawczyk 1994): for x ≠ x′, Pr_s[Tx = Tx′] = 2^−ℓ.
 *
 * y is a window of the convolution s * x, so it is computed exactly with number-theoretic transforms
 * ({@link "./ntt.js"}) in O((n + ℓ) log(n + ℓ)) and reduced mod 2. Inputs longer than one transform
 * allows are cut into blocks: with input blocks x_K and output blocks y_I, y_I = ⊕_K T_{I,K} x_K, where
 * each T_{I,K} is itself Toeplitz and its seed segment depends only on I − K when input and output blocks
 * have the same length, so one transform serves every pair on that block diagonal. The products are
 * summed in the transform domain, so each output block needs one inverse transform, or a few when the
 * integer sums of many blocks could reach the NTT modulus (inputs beyond about 1.6·10^8 bits).
 *
 * @module
 */
import type { Rng } from "../sim/rng.js";
import { type Bits, randomBits } from "./bits.js";
import {
  forwardLazy,
  inverseLazy,
  mulMod,
  multiplyPointwise,
  NTT_MAX_LOG2,
  NTT_MODULUS,
  type NttTables,
  nttTables,
} from "./ntt.js";

/** The number of seed bits a Toeplitz hash from `inputBits` to `outputBits` needs: n + ℓ − 1. */
export function toeplitzSeedLength(inputBits: number, outputBits: number): number {
  checkSizes(inputBits, outputBits, "toeplitzSeedLength");
  return inputBits + outputBits - 1;
}

/** A fresh uniformly random Toeplitz seed (n + ℓ − 1 bits) drawn from `rng`. */
export function randomToeplitzSeed(inputBits: number, outputBits: number, rng: Rng): Bits {
  return randomBits(toeplitzSeedLength(inputBits, outputBits), rng);
}

function checkSizes(n: number, l: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new RangeError(`${what}: the input must have at least 1 bit, got ${n}`);
  }
  if (!Number.isSafeInteger(l) || l < 1 || l > n) {
    throw new RangeError(`${what}: outputBits must be an integer in [1, ${n}] (the input length), got ${l}`);
  }
}

function checkArguments(input: Bits, seed: Bits, outputBits: number, what: string): void {
  checkSizes(input.length, outputBits, what);
  const need = input.length + outputBits - 1;
  if (seed.length !== need) {
    throw new RangeError(
      `${what}: the seed must have n + ℓ − 1 = ${input.length} + ${outputBits} − 1 = ${need} bits, got ${seed.length}`,
    );
  }
}

function notABit(what: string, name: string, index: number, value: number): RangeError {
  return new RangeError(`${what}: ${name}[${index}] = ${value} is not a bit (0 or 1)`);
}

/**
 * The Toeplitz hash computed straight from its definition, O(n·ℓ) bit operations. Slow; it is the
 * reference that the fast {@link toeplitzHash} is checked against, and a baseline for benchmarks.
 */
export function toeplitzHashReference(input: Bits, seed: Bits, outputBits: number): Bits {
  checkArguments(input, seed, outputBits, "toeplitzHashReference");
  const n = input.length;
  const out = new Uint8Array(outputBits);
  for (let i = 0; i < outputBits; i++) {
    let acc = 0;
    for (let j = 0; j < n; j++) acc ^= seed[i - j + n - 1] & input[j];
    out[i] = acc & 1;
  }
  return out;
}

/** Tuning of {@link toeplitzHash}. */
export interface ToeplitzOptions {
  /**
   * Upper bound on the working memory of the transforms, bytes (default 1.5 GiB). The planner picks the
   * fastest block layout that fits: longer transforms and keeping every block's transform resident are
   * faster. The caller's input, seed and output arrays are not counted.
   */
  memoryBudgetBytes?: number;
  /** log2 of the longest transform to use (default and maximum 25). Lower it to force smaller blocks. */
  maxLog2Size?: number;
  /**
   * Most input blocks whose products are summed before an inverse transform (default: as many as keep
   * every integer sum below the NTT modulus, ⌊(p − 1)/inputBlock⌋). Lower values only add transforms.
   */
  maxBlocksPerInverse?: number;
}

/** How {@link toeplitzHash} splits a problem into transforms (see {@link planToeplitz}). */
export interface ToeplitzPlan {
  /** Input bits n. */
  readonly inputBits: number;
  /** Output bits ℓ. */
  readonly outputBits: number;
  /** log2 of the transform length. */
  readonly log2Size: number;
  /**
   * "diagonal": input and output blocks of one length, one seed transform per block diagonal, every
   * block transform resident. "stream": one output block at a time; input transforms are kept when
   * `cacheInput`, otherwise recomputed per output block.
   */
  readonly mode: "diagonal" | "stream";
  /** Bits per input block. */
  readonly inputBlock: number;
  /** Bits per output block. */
  readonly outputBlock: number;
  /** Number of input blocks. */
  readonly inputBlocks: number;
  /** Number of output blocks. */
  readonly outputBlocks: number;
  /** Whether input-block transforms are kept between output blocks ("stream" mode). */
  readonly cacheInput: boolean;
  /** Input blocks summed per inverse transform; more blocks than this take several inverses per output block. */
  readonly blocksPerInverse: number;
  /** Forward plus inverse transforms the plan runs. */
  readonly transforms: number;
  /** Working memory, bytes (transform buffers and twiddle table). */
  readonly memoryBytes: number;
  /** The cost estimate the planner minimised, roughly nanoseconds of single-core time. */
  readonly cost: number;
}

/** Default working-memory budget of {@link toeplitzHash}: 1.5 GiB. */
export const DEFAULT_TOEPLITZ_MEMORY_BYTES = 1.5 * 2 ** 30;

// Cost model, roughly nanoseconds: per butterfly, per pointwise product element, per element loaded.
const COST_BUTTERFLY = 2.0;
const COST_POINTWISE = 2.0;
const COST_LOAD = 1.0;

/**
 * Chooses block sizes and transform length for an n-bit to ℓ-bit Toeplitz hash: the cheapest layout,
 * by a cost model of the transforms, pointwise products and block loads, whose memory fits the budget.
 * Every layout keeps the integer convolution sums below the NTT modulus, so the result is exact.
 */
export function planToeplitz(
  inputBits: number,
  outputBits: number,
  options: ToeplitzOptions = {},
): ToeplitzPlan {
  checkSizes(inputBits, outputBits, "planToeplitz");
  const budget = options.memoryBudgetBytes ?? DEFAULT_TOEPLITZ_MEMORY_BYTES;
  const maxLog2 = options.maxLog2Size ?? NTT_MAX_LOG2;
  if (!(budget > 0)) throw new RangeError(`planToeplitz: memoryBudgetBytes must be positive, got ${budget}`);
  if (!Number.isInteger(maxLog2) || maxLog2 < 1 || maxLog2 > NTT_MAX_LOG2) {
    throw new RangeError(
      `planToeplitz: maxLog2Size must be an integer in [1, ${NTT_MAX_LOG2}], got ${maxLog2}`,
    );
  }
  const limit = options.maxBlocksPerInverse ?? Number.POSITIVE_INFINITY;
  if (!(limit >= 1) || (Number.isFinite(limit) && !Number.isInteger(limit))) {
    throw new RangeError(`planToeplitz: maxBlocksPerInverse must be an integer ≥ 1, got ${limit}`);
  }
  const n = inputBits;
  const l = outputBits;
  let best: ToeplitzPlan | undefined;
  let smallest: ToeplitzPlan | undefined;
  const consider = (plan: ToeplitzPlan): void => {
    if (!smallest || plan.memoryBytes < smallest.memoryBytes) smallest = plan;
    if (plan.memoryBytes <= budget && (!best || plan.cost < best.cost)) best = plan;
  };
  for (let log2 = 1; log2 <= maxLog2; log2++) {
    const size = 2 ** log2;
    const transformCost = COST_BUTTERFLY * (size / 2) * log2;
    // Twiddle table (size/2 values) plus the transform buffers, 4 bytes per value.
    const bytes = (buffers: number): number => 4 * size * (buffers + 0.5);
    // Sums of `group` blocks of bx bits stay below p, so each partial convolution is an exact integer.
    const groupOf = (bx: number): number => Math.max(1, Math.min(limit, Math.floor((NTT_MODULUS - 1) / bx)));
    // Diagonal mode: equal blocks b with 2b − 1 ≤ size.
    {
      const b = Math.floor((size + 1) / 2);
      const m = Math.ceil(n / b);
      const r = Math.ceil(l / b);
      if (m > 1 || r > 1) {
        const group = groupOf(b);
        const transforms = m + (m + r - 1) + r * Math.ceil(m / group);
        consider({
          inputBits: n,
          outputBits: l,
          log2Size: log2,
          mode: "diagonal",
          inputBlock: b,
          outputBlock: b,
          inputBlocks: m,
          outputBlocks: r,
          cacheInput: true,
          blocksPerInverse: group,
          transforms,
          memoryBytes: bytes(m + r + 1),
          cost:
            transforms * transformCost + m * r * size * COST_POINTWISE + (2 * m + r - 1) * size * COST_LOAD,
        });
      }
    }
    // Stream mode: output blocks of ceil(ℓ/r), input blocks as long as the transform then allows.
    const rMin = Math.max(1, Math.ceil(l / size));
    for (let r = rMin; r < rMin + 32; r++) {
      const by = Math.ceil(l / r);
      if (by < 1 || (r > rMin && Math.ceil(l / by) !== r)) continue;
      const bxMax = size + 1 - by;
      if (bxMax < 1) continue;
      const m = Math.ceil(n / bxMax);
      const bx = Math.ceil(n / m);
      const group = groupOf(bx);
      const inverses = r * Math.ceil(m / group);
      for (const cacheInput of r > 1 && m > 1 ? [false, true] : [false]) {
        const transforms = (cacheInput ? m + r * m : 2 * r * m) + inverses;
        consider({
          inputBits: n,
          outputBits: l,
          log2Size: log2,
          mode: "stream",
          inputBlock: bx,
          outputBlock: by,
          inputBlocks: m,
          outputBlocks: r,
          cacheInput,
          blocksPerInverse: group,
          transforms,
          memoryBytes: bytes(cacheInput ? m + 2 : 3),
          cost: transforms * transformCost + r * m * size * COST_POINTWISE + r * 2 * m * size * COST_LOAD,
        });
      }
      if (by === 1) break;
    }
  }
  if (best) return best;
  // Nothing fits the budget: say what the leanest layout would need.
  const need = smallest ? smallest.memoryBytes : 0;
  throw new RangeError(
    `planToeplitz: no block layout for ${n} → ${l} bits fits memoryBudgetBytes = ${budget}; the smallest needs ${need} bytes`,
  );
}

/** Scratch state shared by the block loops of one hash. */
interface Work {
  readonly input: Bits;
  readonly seed: Bits;
  readonly out: Uint8Array;
  readonly tables: NttTables;
  readonly plan: ToeplitzPlan;
}

/** Writes input block K (length `plan.inputBlock`, zero beyond the input) into `buf` and transforms it. */
function loadInputBlock(w: Work, k: number, buf: Int32Array): void {
  const { input, plan } = w;
  const start = k * plan.inputBlock;
  const end = Math.min(start + plan.inputBlock, input.length);
  const len = end - start;
  for (let j = 0; j < len; j++) {
    const v = input[start + j];
    if (v > 1) throw notABit("toeplitzHash", "input", start + j, v);
    buf[j] = v;
  }
  buf.fill(0, len);
  forwardLazy(buf, w.tables, 1);
}

/**
 * Writes the seed segment that couples output block I to input block K and transforms it: for output
 * offset i′ and input offset j′ the matrix entry is s[I·by − K·bx + n − 1 + i′ − j′], so the segment
 * starts at s0 = I·by − K·bx + n − bx and has bx + by − 1 bits; positions outside the seed are zero
 * (they only ever meet input positions past the end, which are zero too).
 */
function loadSeedSegment(w: Work, outBlock: number, inBlock: number, buf: Int32Array): void {
  const { seed, plan } = w;
  const bx = plan.inputBlock;
  const start = outBlock * plan.outputBlock - inBlock * bx + plan.inputBits - bx;
  const len = bx + plan.outputBlock - 1;
  const lo = Math.max(0, -start);
  const hi = Math.min(len, seed.length - start);
  buf.fill(0, 0, lo);
  for (let k = lo; k < hi; k++) {
    const v = seed[start + k];
    if (v > 1) throw notABit("toeplitzHash", "seed", start + k, v);
    buf[k] = v;
  }
  buf.fill(0, Math.max(lo, hi));
  forwardLazy(buf, w.tables, 1);
}

/**
 * Inverse-transforms an accumulated output block and XORs its parities into the output: after
 * {@link inverseLazy}, acc[j] ≡ N·c[(N − j) mod N] and output i′ of the block is c[i′ + bx − 1].
 */
function emitOutputBlock(w: Work, outBlock: number, acc: Int32Array, bound: number): void {
  const { out, plan, tables } = w;
  inverseLazy(acc, tables, bound);
  const size = tables.size;
  const mask = size - 1;
  const scale = tables.inverseSize;
  const start = outBlock * plan.outputBlock;
  const len = Math.min(plan.outputBlock, plan.outputBits - start);
  const shift = plan.inputBlock - 1;
  for (let i = 0; i < len; i++) {
    const c = mulMod(acc[(size - i - shift) & mask], scale);
    out[start + i] ^= c & 1;
  }
}

function runDiagonal(w: Work): void {
  const { plan, tables } = w;
  const size = tables.size;
  const m = plan.inputBlocks;
  const r = plan.outputBlocks;
  const inputs = Array.from({ length: m }, () => new Int32Array(size));
  for (let k = 0; k < m; k++) loadInputBlock(w, k, inputs[k]);
  const accs = Array.from({ length: r }, () => new Int32Array(size));
  // Per output block: the bound on its accumulator (0 while empty) and the products summed into it.
  const bounds = new Float64Array(r);
  const terms = new Int32Array(r);
  const seedBuf = new Int32Array(size);
  for (let d = -(m - 1); d <= r - 1; d++) {
    // Seed segment of diagonal d = I − K; the pair (I, K) = (d, 0) or (0, −d) names it.
    loadSeedSegment(w, Math.max(d, 0), Math.max(-d, 0), seedBuf);
    for (let i = Math.max(0, d); i < r && i - d < m; i++) {
      bounds[i] = multiplyPointwise(accs[i], inputs[i - d], seedBuf, terms[i] > 0 ? bounds[i] : undefined);
      if (++terms[i] === plan.blocksPerInverse) {
        emitOutputBlock(w, i, accs[i], bounds[i]);
        terms[i] = 0;
      }
    }
  }
  for (let i = 0; i < r; i++) if (terms[i] > 0) emitOutputBlock(w, i, accs[i], bounds[i]);
}

function runStream(w: Work): void {
  const { plan, tables } = w;
  const size = tables.size;
  const m = plan.inputBlocks;
  const r = plan.outputBlocks;
  const inputs = plan.cacheInput
    ? Array.from({ length: m }, () => new Int32Array(size))
    : [new Int32Array(size)];
  const seedBuf = new Int32Array(size);
  const acc = new Int32Array(size);
  for (let i = 0; i < r; i++) {
    let pending = 0;
    let bound = 0;
    for (let k = 0; k < m; k++) {
      let x: Int32Array;
      if (plan.cacheInput) {
        x = inputs[k];
        if (i === 0) loadInputBlock(w, k, x);
      } else {
        x = inputs[0];
        loadInputBlock(w, k, x);
      }
      loadSeedSegment(w, i, k, seedBuf);
      bound = multiplyPointwise(acc, x, seedBuf, pending > 0 ? bound : undefined);
      pending++;
      if (pending === plan.blocksPerInverse || k === m - 1) {
        emitOutputBlock(w, i, acc, bound);
        pending = 0;
      }
    }
  }
}

/**
 * Toeplitz hash of `input` with `seed` to `outputBits` bits (convention in the module comment),
 * computed exactly by NTT convolution in O((n + ℓ) log(n + ℓ)).
 *
 * Memory: with the default budget, about 1.3 GiB of transform buffers at n = 10^8, ℓ = n/2; pass
 * `options.memoryBudgetBytes` to trade speed for less (see {@link planToeplitz}).
 *
 * @param input n ≥ 1 bits (0/1 values; anything else is a RangeError)
 * @param seed exactly n + ℓ − 1 bits, public and uniformly random
 * @param outputBits ℓ, 1 ≤ ℓ ≤ n
 * @returns ℓ bits
 */
export function toeplitzHash(
  input: Bits,
  seed: Bits,
  outputBits: number,
  options: ToeplitzOptions = {},
): Bits {
  checkArguments(input, seed, outputBits, "toeplitzHash");
  const plan = planToeplitz(input.length, outputBits, options);
  const w: Work = { input, seed, out: new Uint8Array(outputBits), tables: nttTables(plan.log2Size), plan };
  if (plan.mode === "diagonal") runDiagonal(w);
  else runStream(w);
  return w.out;
}

/** The result of {@link privacyAmplify}. */
export interface PrivacyAmplificationResult {
  /** The final secret key, `outputBits` bits. */
  key: Bits;
  /** The public Toeplitz seed used, n + ℓ − 1 bits; the other party hashes its key with the same seed. */
  seed: Bits;
}

/**
 * Privacy amplification of a reconciled, verified key: draws a public Toeplitz seed from `rng` and
 * hashes the key to `outputBits` bits (choose them with {@link secretKeyLength}).
 */
export function privacyAmplify(
  key: Bits,
  outputBits: number,
  rng: Rng,
  options: ToeplitzOptions = {},
): PrivacyAmplificationResult {
  const seed = randomToeplitzSeed(key.length, outputBits, rng);
  return { key: toeplitzHash(key, seed, outputBits, options), seed };
}

/** The inputs of the leftover-hash-lemma key length, all in bits except ε. */
export interface SecretKeyLengthInput {
  /**
   * H_min^ε(X|E): the smooth min-entropy of the n-bit raw key X given the eavesdropper's quantum side
   * information E, before any classical post-processing message. For BB84 this is what parameter
   * estimation certifies, e.g. n·(1 − h(e_ph)) asymptotically, or the decoy-state bound on single-photon
   * bits times (1 − h(e1)) at finite size.
   */
  minEntropy: number;
  /**
   * leak_EC: every bit disclosed during information reconciliation (syndromes, Cascade parities, and
   * any retransmissions), since each disclosed bit can lower Eve's uncertainty by at most one bit.
   */
  reconciliationLeak: number;
  /** Bits disclosed by error verification: the length of the hash tag one party announced (default 0). */
  verificationLeak?: number;
  /**
   * Key bits spent on authenticating this block's classical messages (Wegman–Carter one-time pads and
   * the share of hash key), charged here so that the output replaces what was consumed (default 0; leave
   * at 0 if the pool is accounted elsewhere).
   */
  authenticationCost?: number;
  /**
   * ε_PA ∈ (0, 1/2]: the privacy-amplification error, i.e. the allowed trace distance between the
   * output key with E′ and a uniform key independent of E′ (beyond the smoothing ε).
   */
  epsilonPA: number;
}

/**
 * The secret key length the leftover hash lemma allows after Toeplitz (two-universal) hashing, per
 * Renner (2005) and Tomamichel, Schaffner, Smith & Renner, IEEE Trans. Inf. Theory 57, 5524 (2011):
 *
 *     ℓ = ⌊ H_min^ε(X|E) − leaked − 2·log2(1/(2·ε_PA)) ⌋, clamped to ≥ 0,
 *
 * where leaked = reconciliationLeak + verificationLeak + authenticationCost. H_min^ε(X|E) minus the
 * disclosed bits bounds H_min^ε(X|E′), E′ being E together with the public transcript (the chain rule
 * loses at most one bit of min-entropy per disclosed bit); the authentication term is not leakage but
 * key spent, charged so the block pays for itself. The last term is the price of closeness: the output
 * is then ε_PA + 2ε close to a uniform key independent of E′, ε being the smoothing parameter.
 *
 * @returns ℓ in bits (an integer ≥ 0)
 */
export function secretKeyLength(input: SecretKeyLengthInput): number {
  const { minEntropy, reconciliationLeak, epsilonPA } = input;
  const verificationLeak = input.verificationLeak ?? 0;
  const authenticationCost = input.authenticationCost ?? 0;
  const nonNegative: [string, number][] = [
    ["minEntropy", minEntropy],
    ["reconciliationLeak", reconciliationLeak],
    ["verificationLeak", verificationLeak],
    ["authenticationCost", authenticationCost],
  ];
  for (const [name, v] of nonNegative) {
    if (!Number.isFinite(v) || v < 0)
      throw new RangeError(`secretKeyLength: ${name} must be a finite number ≥ 0, got ${v}`);
  }
  if (!(epsilonPA > 0 && epsilonPA <= 0.5)) {
    throw new RangeError(`secretKeyLength: epsilonPA must be in (0, 1/2], got ${epsilonPA}`);
  }
  const leaked = reconciliationLeak + verificationLeak + authenticationCost;
  const l = Math.floor(minEntropy - leaked - 2 * Math.log2(1 / (2 * epsilonPA)));
  return Math.max(0, l);
}
