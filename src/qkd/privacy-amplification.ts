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
 * y is a window of the integer convolution s * x reduced mod 2. It is computed with double-precision
 * FFTs ({@link "./fft.js"}) in O((n + ℓ) log(n + ℓ)), and every integer is recovered exactly by
 * rounding: the planner only uses layouts whose proved rounding-error bound
 * ({@link convolutionErrorBound}) is at most 1/4, splitting long sums over several inverse transforms
 * where one would exceed it. The transforms run as WebAssembly SIMD kernels where the runtime has them,
 * else in TypeScript, with bit-for-bit the same results.
 *
 * Blocks: inputs longer than one transform allows are cut into blocks. With input blocks x_K and output
 * blocks y_I, y_I = ⊕_K T_{I,K} x_K, where each T_{I,K} is itself Toeplitz; when input and output blocks
 * have the same length its seed segment depends only on I − K, so one transform serves every pair on
 * that block diagonal. Products are summed in the transform domain, so an output block needs one inverse
 * transform (or a few, when the error bound of a long sum would exceed 1/4). A "split" plan computes each
 * length-N cyclic product as a cyclic and a negacyclic one of length N/2 (c = (c₊ ± c₋)/2, so c mod 2
 * follows from c₊ and c₋ mod 4): the same products in half the memory, which at 10^8 bits lets blocks of
 * 2^24 bits fit in about 1 GiB.
 *
 * Packing several bits per transform value does not pay here, and the code does not do it: with k bits
 * per value in base 2^b (Kronecker substitution), every one of the 2k − 1 digits of a product must hold
 * a sum of up to n ones exactly, so b ≥ log2(n) + 1 and an exact product needs about (2k − 1)·log2(n)
 * bits, beyond the 53 of a double (or the ~90 of three NTT primes) for any k ≥ 2 at useful block sizes.
 * One bit per real value, i.e. two per complex value, is what the transforms carry.
 *
 * @module
 */
import type { Rng } from "../sim/rng.js";
import { type Bits, randomBits } from "./bits.js";
import {
  convolutionErrorBound,
  FFT_MAX_LOG2,
  FFT_MIN_LOG2,
  type FftWorkspace,
  fftAccelerationAvailable,
  fftWorkspace,
  releaseFftWorkspace,
  SPARE_MAX_BYTES,
} from "./fft.js";

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
   * fastest block layout that fits: longer transforms and more resident spectra are faster. The
   * caller's input, seed and output arrays are not counted.
   */
  memoryBudgetBytes?: number;
  /**
   * log2 of the longest cyclic convolution length N to use (default and maximum 26, i.e. transforms of
   * up to {@link FFT_MAX_LOG2} = 25 real values, split in two phases at 26; minimum 2). Lower it to
   * force smaller blocks.
   */
  maxLog2Size?: number;
  /**
   * Compute each block product as a cyclic and a negacyclic half ({@link ToeplitzPlan.split}): true,
   * false, or "auto" (default) to let the planner choose.
   */
  split?: boolean | "auto";
  /**
   * Most input blocks whose products are summed before an inverse transform (default: as many as the
   * rounding-error bound allows, see {@link ToeplitzPlan.errorBound}). Lower values only add transforms.
   */
  maxBlocksPerInverse?: number;
  /**
   * Run the transforms with the WebAssembly SIMD kernels where the runtime has them (default true).
   * The results are bit-for-bit the same either way; false forces the TypeScript transforms.
   */
  accelerate?: boolean;
}

/** How {@link toeplitzHash} splits a problem into transforms (see {@link planToeplitz}). */
export interface ToeplitzPlan {
  /** Input bits n. */
  readonly inputBits: number;
  /** Output bits ℓ. */
  readonly outputBits: number;
  /** log2 of the cyclic convolution length N each block product is computed at. */
  readonly log2Size: number;
  /**
   * Whether each length-N cyclic convolution is computed as a cyclic and a negacyclic one of length N/2
   * (two phases over all blocks; c = (c₊ ± c₋)/2, so the parities follow from both results mod 4).
   * It halves every buffer and the twiddle table at the same number of products, so that longer blocks
   * fit a memory budget.
   */
  readonly split: boolean;
  /**
   * "diagonal": input and output blocks of N/2 bits, one seed transform per block diagonal; each pass
   * over the input keeps `outputBlocksPerPass` output accumulators and as many seed spectra resident.
   * "stream": one output block at a time, input blocks as long as the transform then allows; input
   * transforms are kept when `cacheInput`, otherwise recomputed per output block.
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
  /** Output blocks accumulated per pass over the input ("diagonal"; 1 in "stream" mode). */
  readonly outputBlocksPerPass: number;
  /** Whether input-block transforms are kept between output blocks ("stream" mode). */
  readonly cacheInput: boolean;
  /** Input blocks summed per inverse transform; more blocks than this take several inverses per output block. */
  readonly blocksPerInverse: number;
  /** Transform buffers of N (or, split, N/2) doubles. */
  readonly buffers: number;
  /** Forward plus inverse transforms the plan runs (of length N/2 when split). */
  readonly transforms: number;
  /** Working memory, bytes: transform buffers, twiddle tables, a split plan's segment bytes, the output. */
  readonly memoryBytes: number;
  /**
   * The proved bound on the rounding error of every convolution value before rounding
   * ({@link convolutionErrorBound} for blocks of all ones and `blocksPerInverse` terms); at most 1/4,
   * so rounding is exact with a margin of 2.
   */
  readonly errorBound: number;
  /** The cost estimate the planner minimised, roughly nanoseconds of single-core time. */
  readonly cost: number;
}

/** Default working-memory budget of {@link toeplitzHash}: 1.5 GiB. */
export const DEFAULT_TOEPLITZ_MEMORY_BYTES = 1.5 * 2 ** 30;
/** The largest rounding-error bound a plan may have (exact rounding needs < 1/2). */
export const TOEPLITZ_ERROR_TARGET = 0.25;
/** Integer sums per inverse transform stay below this, so parities can be taken on 32-bit integers. */
const MAX_SUM = 2 ** 30;

/**
 * Cost model, nanoseconds on one core, measured on the benchmark machine (Node 20, x86-64): per
 * complex value, a transform costs `stage` per radix-2 stage (WebAssembly SIMD or TypeScript) plus
 * `tangle` for (un)tangling or twisting; a real value costs `load` to bring in from bits; a slot
 * product-and-add costs `product`; an output value `emit`. Buffers beyond 8 MiB no longer sit in the
 * caches and pay the "big" figures. Fresh working memory costs `memory` per byte (the first touch of
 * each page) unless the workspace is small enough to be kept between calls.
 */
const COSTS = {
  small: { stage: 0.48, tangle: 1.2, load: 1.0, product: 2.5, emit: 3 },
  big: { stage: 0.57, tangle: 2.5, load: 1.8, product: 5.4, emit: 6 },
  typescriptStage: 0.75,
  memory: 0.5,
  bigBuffer: 8 * 2 ** 20,
  /** Workspaces the FFT keeps between calls cost no fresh memory. */
  keptWorkspace: SPARE_MAX_BYTES,
};

/**
 * The largest number of block products (at most `cap`) whose sum one inverse transform of length
 * 2^log2 recovers with error bound ≤ {@link TOEPLITZ_ERROR_TARGET}; 0 if not even one.
 */
function blocksPerInverse(
  log2: number,
  inputBlock: number,
  segment: number,
  cap: number,
  folded: boolean,
): number {
  const bound = (g: number): number => convolutionErrorBound(log2, inputBlock, segment, g, folded);
  const top = Math.max(1, Math.min(cap, Math.floor(MAX_SUM / ((folded ? 2 : 1) * inputBlock))));
  const one = bound(1);
  if (one > TOEPLITZ_ERROR_TARGET) return 0;
  // bound(g) ≥ g·bound(1), so no g beyond the linear estimate qualifies; bisect below it if needed.
  let hi = Math.min(top, Math.max(1, Math.floor(TOEPLITZ_ERROR_TARGET / one)));
  if (bound(hi) <= TOEPLITZ_ERROR_TARGET) return hi;
  let lo = 1;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (bound(mid) <= TOEPLITZ_ERROR_TARGET) lo = mid;
    else hi = mid;
  }
  return lo;
}

/** The block structure of a candidate plan, before transform length and phases are costed. */
interface Layout {
  mode: "diagonal" | "stream";
  inputBlock: number;
  outputBlock: number;
  inputBlocks: number;
  outputBlocks: number;
  outputBlocksPerPass: number;
  cacheInput: boolean;
  /** Forward transforms of input blocks and of seed segments, per phase. */
  inputs: number;
  seeds: number;
  /** Transform buffers. */
  buffers: number;
}

/**
 * Chooses block sizes and transform length for an n-bit to ℓ-bit Toeplitz hash: the cheapest layout,
 * by a cost model of the transforms, products, loads and memory, whose working memory fits the budget
 * and whose rounding-error bound is at most {@link TOEPLITZ_ERROR_TARGET}.
 */
export function planToeplitz(
  inputBits: number,
  outputBits: number,
  options: ToeplitzOptions = {},
): ToeplitzPlan {
  checkSizes(inputBits, outputBits, "planToeplitz");
  const key = [
    inputBits,
    outputBits,
    options.memoryBudgetBytes,
    options.maxLog2Size,
    options.maxBlocksPerInverse,
    options.split,
    (options.accelerate ?? true) && fftAccelerationAvailable(),
  ].join(",");
  const cached = planCache.get(key);
  if (cached) return cached;
  const plan = Object.freeze(choosePlan(inputBits, outputBits, options));
  if (planCache.size >= PLAN_CACHE_SIZE) planCache.delete(planCache.keys().next().value as string);
  planCache.set(key, plan);
  return plan;
}

/** Recent plans by their arguments (plans are immutable), so that hashing many small keys plans once. */
const planCache = new Map<string, ToeplitzPlan>();
const PLAN_CACHE_SIZE = 64;

function choosePlan(inputBits: number, outputBits: number, options: ToeplitzOptions): ToeplitzPlan {
  const budget = options.memoryBudgetBytes ?? DEFAULT_TOEPLITZ_MEMORY_BYTES;
  const maxLog2 = options.maxLog2Size ?? FFT_MAX_LOG2 + 1;
  if (!(budget > 0)) throw new RangeError(`planToeplitz: memoryBudgetBytes must be positive, got ${budget}`);
  if (!Number.isInteger(maxLog2) || maxLog2 < FFT_MIN_LOG2 || maxLog2 > FFT_MAX_LOG2 + 1) {
    throw new RangeError(
      `planToeplitz: maxLog2Size must be an integer in [${FFT_MIN_LOG2}, ${FFT_MAX_LOG2 + 1}], got ${maxLog2}`,
    );
  }
  const limit = options.maxBlocksPerInverse ?? Number.POSITIVE_INFINITY;
  if (!(limit >= 1) || (Number.isFinite(limit) && !Number.isInteger(limit))) {
    throw new RangeError(`planToeplitz: maxBlocksPerInverse must be an integer ≥ 1, got ${limit}`);
  }
  const splitting = options.split ?? "auto";
  const accelerated = (options.accelerate ?? true) && fftAccelerationAvailable();
  const n = inputBits;
  const l = outputBits;
  let best: ToeplitzPlan | undefined;
  let smallest: ToeplitzPlan | undefined;
  const consider = (plan: ToeplitzPlan): void => {
    if (!smallest || plan.memoryBytes < smallest.memoryBytes) smallest = plan;
    if (plan.memoryBytes <= budget && (!best || plan.cost < best.cost)) best = plan;
  };
  // Transforms longer than twice the whole convolution only cost more.
  const top = Math.min(maxLog2, Math.max(FFT_MIN_LOG2 + 1, Math.ceil(Math.log2(n + l)) + 1));
  for (let log2 = FFT_MIN_LOG2; log2 <= top; log2++) {
    const size = 2 ** log2;
    // Block structures for this transform length; each is then costed whole and split in two phases.
    const layouts: Layout[] = [];
    // Diagonal mode: equal blocks b with 2b − 1 ≤ N; g output blocks per pass over the input.
    {
      const b = size / 2;
      const m = Math.ceil(n / b);
      const r = Math.ceil(l / b);
      if (m > 1 || r > 1) {
        for (let passes = 1; passes <= r; passes = passes < 8 ? passes + 1 : passes * 2) {
          const g = Math.ceil(r / passes);
          const p = Math.ceil(r / g);
          if (p !== passes) continue;
          layouts.push({
            mode: "diagonal",
            inputBlock: b,
            outputBlock: b,
            inputBlocks: m,
            outputBlocks: r,
            outputBlocksPerPass: g,
            cacheInput: false,
            inputs: p * m,
            seeds: p * m + r - p,
            buffers: 2 * g + 1,
          });
        }
      }
    }
    // Stream mode: output blocks of ceil(ℓ/r), input blocks as long as the transform then allows.
    const rMin = Math.max(1, Math.ceil(l / size));
    for (let r = rMin; r < rMin + 32; r++) {
      const by = Math.ceil(l / r);
      if (r > rMin && Math.ceil(l / by) !== r) continue;
      const bxMax = size + 1 - by;
      if (bxMax < 1) continue;
      const m = Math.ceil(n / bxMax);
      const bx = Math.ceil(n / m);
      for (const cacheInput of m > 1 && r > 1 ? [false, true] : [m === 1]) {
        layouts.push({
          mode: "stream",
          inputBlock: bx,
          outputBlock: by,
          inputBlocks: m,
          outputBlocks: r,
          outputBlocksPerPass: 1,
          cacheInput,
          inputs: cacheInput ? m : r * m,
          seeds: r * m,
          buffers: m === 1 ? 2 : cacheInput ? m + 2 : 3,
        });
      }
      if (by === 1) break;
    }
    for (const split of [false, true]) {
      if (split ? splitting === false : splitting === true) continue;
      const phaseLog2 = split ? log2 - 1 : log2;
      // A split plan folds 4 bytes at a time, so its halves have at least 8 values.
      if (phaseLog2 < (split ? 3 : FFT_MIN_LOG2) || phaseLog2 > FFT_MAX_LOG2) continue;
      const phases = split ? 2 : 1;
      const phaseSize = size / phases;
      const bufferBytes = 8 * phaseSize;
      // Twiddles, max(1, N/4) complex values per phase length, and two small twist tables.
      const tableBytes = 16 * Math.max(1, phaseSize / 4) + 32 * 2 ** Math.ceil((phaseLog2 - 1) / 2);
      const c = bufferBytes > COSTS.bigBuffer ? COSTS.big : COSTS.small;
      const stage = accelerated ? c.stage : COSTS.typescriptStage;
      const transform = (phaseSize / 2) * (stage * (phaseLog2 - 1) + c.tangle);
      const forward = transform + phaseSize * c.load;
      for (const lay of layouts) {
        const { inputBlock: bx, outputBlock: by, inputBlocks: m, outputBlocks: r } = lay;
        const group = blocksPerInverse(phaseLog2, bx, bx + by - 1, Math.min(limit, m), split);
        if (group === 0) continue;
        const inverses = r * Math.ceil(m / group);
        // A split plan also keeps a segment's N bytes before reducing them; the output is built in place.
        const memoryBytes = lay.buffers * bufferBytes + tableBytes + (split ? size : 0) + l;
        const perPhase =
          (lay.inputs + lay.seeds) * forward +
          inverses * (transform + by * c.emit) +
          m * r * (phaseSize / 2) * c.product;
        consider({
          inputBits: n,
          outputBits: l,
          log2Size: log2,
          split,
          mode: lay.mode,
          inputBlock: bx,
          outputBlock: by,
          inputBlocks: m,
          outputBlocks: r,
          outputBlocksPerPass: lay.outputBlocksPerPass,
          cacheInput: lay.cacheInput,
          blocksPerInverse: group,
          buffers: lay.buffers,
          transforms: phases * (lay.inputs + lay.seeds + inverses),
          memoryBytes,
          errorBound: convolutionErrorBound(phaseLog2, bx, bx + by - 1, group, split),
          cost: phases * perPhase + (memoryBytes > COSTS.keptWorkspace ? memoryBytes * COSTS.memory : 0),
        });
      }
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
  /** The transform buffers and the transforms on them. */
  readonly ws: FftWorkspace;
  /** Buffers of `ws` handed out so far. */
  used: number;
  readonly input: Bits;
  readonly seed: Bits;
  readonly plan: ToeplitzPlan;
  /** 0: the whole product, or the cyclic half of a split plan; 1: the negacyclic half. */
  phase: 0 | 1;
}

/** The next unused buffer of the workspace (arbitrary contents). */
function buffer(w: Work): Float64Array {
  return w.ws.buffers[w.used++];
}

/**
 * Loads the length-N segment v[t] = bits[start + t] (t < len, and zero where that index is outside
 * `bits`) into `buf` and transforms it: as it is, or in a split plan reduced to length L = N/2 as
 * v[t] + v[t + L] (phase 0, cyclic) or v[t] − v[t + L] (phase 1, negacyclic), via the workspace's
 * scratch bytes.
 */
function loadSegment(w: Work, bits: Bits, start: number, len: number, buf: Float64Array, name: string): void {
  const lo = Math.max(0, -start);
  const hi = Math.max(lo, Math.min(len, bits.length - start));
  let bad: number;
  if (!w.plan.split) {
    bad = loadBits(bits, start + lo, hi - lo, buf, lo);
    if ((bad & 0xfefefefe) === 0) w.ws.realForward(buf);
  } else {
    const seg = w.ws.scratch.subarray(0, 2 * buf.length);
    seg.fill(0, 0, lo);
    seg.set(bits.subarray(start + lo, start + hi), lo);
    seg.fill(0, hi);
    bad = w.phase === 0 ? w.ws.loadCyclic(buf) : w.ws.loadNegacyclic(buf);
  }
  if ((bad & 0xfefefefe) !== 0) {
    for (let i = start + lo; i < start + hi; i++)
      if (bits[i] > 1) throw notABit("toeplitzHash", name, i, bits[i]);
  }
}

/**
 * buf ← `len` bits of `bits` from `start` as doubles, from index `at`, four at a time where the bytes
 * are 4-aligned, zero elsewhere. Returns the OR of the bytes read, so a caller can tell that one was not
 * a bit. (Each loop sits in a function of its own, which keeps V8 from repeatedly deoptimising code
 * compiled in the middle of a long loop.)
 */
function loadBits(bits: Bits, start: number, len: number, buf: Float64Array, at: number): number {
  buf.fill(0, 0, at);
  const head = Math.min(len, (4 - ((bits.byteOffset + start) & 3)) & 3);
  const count = (len - head) >>> 2;
  const tail = start + head + 4 * count;
  let bad = bytesToDoubles(bits, start, head, buf, at);
  if (count > 0) {
    bad |= wordsToDoubles(
      new Uint32Array(bits.buffer, bits.byteOffset + start + head, count),
      buf,
      at + head,
    );
  }
  bad |= bytesToDoubles(bits, tail, start + len - tail, buf, at + len - (start + len - tail));
  buf.fill(0, at + len);
  return bad;
}

/** buf[at + j] = bits[start + j] for j < len; returns the OR of the values. */
function bytesToDoubles(bits: Bits, start: number, len: number, buf: Float64Array, at: number): number {
  let bad = 0;
  for (let j = 0; j < len; j++) {
    const v = bits[start + j];
    bad |= v;
    buf[at + j] = v;
  }
  return bad;
}

/** The bytes of `words` (little-endian, as on every platform Node runs on) to buf from `at`; returns their OR. */
function wordsToDoubles(words: Uint32Array, buf: Float64Array, at: number): number {
  let bad = 0;
  const count = words.length;
  for (let k = 0, o = at; k < count; k++, o += 4) {
    const v = words[k];
    bad |= v;
    buf[o] = v & 0xff;
    buf[o + 1] = (v >>> 8) & 0xff;
    buf[o + 2] = (v >>> 16) & 0xff;
    buf[o + 3] = v >>> 24;
  }
  return bad;
}

/** Writes input block K (length `plan.inputBlock`, zero beyond the input) into `buf` and transforms it. */
function loadInputBlock(w: Work, k: number, buf: Float64Array): void {
  const start = k * w.plan.inputBlock;
  loadSegment(w, w.input, start, Math.min(w.plan.inputBlock, w.input.length - start), buf, "input");
}

/**
 * Writes the seed segment that couples output block I to input block K and transforms it: for output
 * offset i′ and input offset j′ the matrix entry is s[I·by − K·bx + n − 1 + i′ − j′], so the segment
 * starts at s0 = I·by − K·bx + n − bx and has bx + by − 1 bits; positions outside the seed are zero
 * (they only ever meet input positions past the end, which are zero too).
 */
function loadSeedSegment(w: Work, outBlock: number, inBlock: number, buf: Float64Array): void {
  const { plan } = w;
  const bx = plan.inputBlock;
  const start = outBlock * plan.outputBlock - inBlock * bx + plan.inputBits - bx;
  loadSegment(w, w.seed, start, bx + plan.outputBlock - 1, buf, "seed");
}

/** acc ← x·y, or acc ← acc + x·y, in the spectra of the current phase. */
function multiply(w: Work, acc: Float64Array, x: Float64Array, y: Float64Array, accumulate: boolean): void {
  if (w.phase === 1) w.ws.multiplyComplex(acc, x, y, accumulate);
  else w.ws.multiply(acc, x, y, accumulate);
}

/**
 * Inverse-transforms an accumulated output block and adds its sums into the output: output i′ of the
 * block is c[i′ + bx − 1] of the length-N convolution. Whole: its parity is XORed in. Split: c[t] is
 * (c₊[t mod L] ± c₋[t mod L])/2 with L = N/2 and the sign − for t ≥ L, so c₊ (phase 0) and ±c₋
 * (phase 1) are added mod 4 and {@link toeplitzHash} keeps bit 1 at the end.
 */
function emitOutputBlock(w: Work, outBlock: number, acc: Float64Array): void {
  const { plan, ws } = w;
  const start = outBlock * plan.outputBlock;
  const len = Math.min(plan.outputBlock, plan.outputBits - start);
  const shift = plan.inputBlock - 1;
  if (!plan.split) {
    ws.realInverse(acc);
    ws.roundInto(start, acc, shift, len, 1, 1 / acc.length, 0);
  } else if (w.phase === 0) {
    ws.realInverse(acc);
    const half = acc.length;
    // t = shift + i < L reads acc[t], t ≥ L reads acc[t − L].
    const low = Math.max(0, Math.min(len, half - shift));
    if (low > 0) ws.roundInto(start, acc, shift, low, 1, 1 / half, 1);
    if (len > low) ws.roundInto(start + low, acc, shift + low - half, len - low, 1, 1 / half, 1);
  } else {
    ws.negacyclicInverse(acc);
    const half = acc.length;
    const m = half >>> 1;
    // c₋[j] sits at acc[2j] for j < M and at acc[2(j − M) + 1] for j ≥ M; t ≥ L enters with sign −1.
    for (const [from, to, mode] of [
      [0, m, 1],
      [m, half, 1],
      [half, half + m, 2],
      [half + m, 2 * half, 2],
    ] as const) {
      const a = Math.max(0, from - shift);
      const b = Math.min(len, to - shift);
      if (b <= a) continue;
      const j = shift + a - (mode === 2 ? half : 0);
      const at = j < m ? 2 * j : 2 * (j - m) + 1;
      ws.roundInto(start + a, acc, at, b - a, 2, 1 / m, mode);
    }
  }
}

function runDiagonal(w: Work): void {
  const { plan } = w;
  const m = plan.inputBlocks;
  const r = plan.outputBlocks;
  const g = plan.outputBlocksPerPass;
  const accs = Array.from({ length: g }, () => buffer(w));
  // Seed spectra of the diagonals d = I − K a pass still needs, in slot d mod (blocks in the pass).
  const seeds = Array.from({ length: g }, () => buffer(w));
  const x = buffer(w);
  const terms = new Int32Array(g);
  for (let first = 0; first < r; first += g) {
    const last = Math.min(r, first + g); // exclusive
    const span = last - first;
    const slot = (d: number): number => ((d % span) + span) % span;
    terms.fill(0);
    for (let i = first; i < last; i++) loadSeedSegment(w, i, m - 1, seeds[slot(i - (m - 1))]);
    for (let k = m - 1; k >= 0; k--) {
      // Diagonal d = last − 1 − k enters; it takes the slot of d − span, which no pair needs any more.
      if (k < m - 1) loadSeedSegment(w, last - 1, k, seeds[slot(last - 1 - k)]);
      loadInputBlock(w, k, x);
      for (let i = first; i < last; i++) {
        const acc = accs[i - first];
        multiply(w, acc, x, seeds[slot(i - k)], terms[i - first] > 0);
        if (++terms[i - first] === plan.blocksPerInverse) {
          emitOutputBlock(w, i, acc);
          terms[i - first] = 0;
        }
      }
    }
    for (let i = first; i < last; i++) if (terms[i - first] > 0) emitOutputBlock(w, i, accs[i - first]);
  }
}

function runStream(w: Work): void {
  const { plan } = w;
  const m = plan.inputBlocks;
  const r = plan.outputBlocks;
  const seedBuf = buffer(w);
  if (m === 1) {
    // One input block: its spectrum stays, each seed spectrum is multiplied by it in place.
    const x = buffer(w);
    loadInputBlock(w, 0, x);
    for (let i = 0; i < r; i++) {
      loadSeedSegment(w, i, 0, seedBuf);
      multiply(w, seedBuf, seedBuf, x, false);
      emitOutputBlock(w, i, seedBuf);
    }
    return;
  }
  const inputs = plan.cacheInput ? Array.from({ length: m }, () => buffer(w)) : [buffer(w)];
  const acc = buffer(w);
  for (let i = 0; i < r; i++) {
    let pending = 0;
    for (let k = 0; k < m; k++) {
      let x: Float64Array;
      if (plan.cacheInput) {
        x = inputs[k];
        if (i === 0) loadInputBlock(w, k, x);
      } else {
        x = inputs[0];
        loadInputBlock(w, k, x);
      }
      loadSeedSegment(w, i, k, seedBuf);
      multiply(w, acc, x, seedBuf, pending > 0);
      pending++;
      if (pending === plan.blocksPerInverse || k === m - 1) {
        emitOutputBlock(w, i, acc);
        pending = 0;
      }
    }
  }
}

/**
 * Toeplitz hash of `input` with `seed` to `outputBits` bits (convention in the module comment),
 * computed exactly by FFT convolution in O((n + ℓ) log(n + ℓ)).
 *
 * Memory: with the default budget, at most 1.5 GiB of working memory (about 1.0 GiB at n = 10^8,
 * ℓ = n/2); pass `options.memoryBudgetBytes` to trade speed for less (see {@link planToeplitz}).
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
  const ws = fftWorkspace(plan.split ? plan.log2Size - 1 : plan.log2Size, plan.buffers, {
    accelerate: options.accelerate ?? true,
    scratchBytes: plan.split ? 2 ** plan.log2Size : 0,
    outputBytes: outputBits,
  });
  // The output is built in the workspace: parities, or in a split plan sums mod 4.
  ws.output.fill(0, 0, outputBits);
  const w: Work = { ws, used: 0, input, seed, plan, phase: 0 };
  const run = plan.mode === "diagonal" ? runDiagonal : runStream;
  try {
    run(w);
    if (!plan.split) return ws.output.slice(0, outputBits);
    w.phase = 1;
    w.used = 0;
    run(w);
    // Each output now holds c₊ ± c₋ = 2c mod 4; an odd value would mean a wrong sum.
    const out = ws.output.slice(0, outputBits);
    let odd = 0;
    for (let i = 0; i < out.length; i++) {
      odd |= out[i];
      out[i] >>>= 1;
    }
    if (odd & 1) throw new Error("toeplitzHash: internal error, inconsistent cyclic and negacyclic sums");
    return out;
  } finally {
    releaseFftWorkspace(ws);
  }
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
