/**
 * An exact convolution oracle for the privacy-amplification tests (the product hashes with the FFT in
 * src/qkd/fft.ts and checks itself against this).
 *
 * Number-theoretic transform (NTT) over GF(p), p = 167772161 = 5·2^25 + 1, for exact convolutions of
 * long 0/1 sequences.
 *
 * Why this prime: it has roots of unity of every order 2^k up to 2^25, and it is below 2^28, so the
 * signed 32-bit integers that hold the values have room for twelve additions of p before they must be
 * reduced. The transforms exploit that headroom ("lazy" reduction): a butterfly reduces the operand it
 * multiplies by a twiddle and lets the others grow, reducing them only when the bound it tracks says
 * the next pass could overflow. All arithmetic is on Numbers (no BigInt): a product a·w mod p is
 * computed as a·w − q·p, where q = trunc(a·w/p) comes from double precision (with w/p precomputed per
 * twiddle) and the difference is taken exactly with `Math.imul` on the low 32 bits; it is known to lie
 * within ±(p + 2048), far inside the signed 32-bit range. Truncating rather than rounding q costs
 * half the headroom and saves two floating-point additions per product.
 *
 * Layout: {@link forwardLazy} takes natural order to bit-reversed order with Cooley–Tukey butterflies,
 * {@link inverseLazy} takes bit-reversed order back to natural order with Gentleman–Sande butterflies;
 * both use one twiddle per block from a single table of N/2 values, and a convolution needs no
 * bit-reversal permutation. Both recurse depth-first so that sub-transforms of up to 2^16 values run
 * in cache, and both do two stages per pass over memory (radix 4).
 *
 * The inverse uses the forward root ω instead of ω^{-1}, which returns N·c[(N − j) mod N] at index j;
 * {@link nttInverse} undoes the reversal and the factor N, the lazy form leaves that to the caller.
 *
 * @module
 */

/** The prime modulus p = 5·2^25 + 1 = 167772161. */
export const NTT_MODULUS = 167_772_161;
/** log2 of the longest supported transform: 2^25 values (128 MiB as an `Int32Array`). */
export const NTT_MAX_LOG2 = 25;
/** A generator of the multiplicative group of GF(p). */
export const NTT_GENERATOR = 3;

const P = NTT_MODULUS;
const INV_P = 1 / P;
/** 1.5·2^52: adding and subtracting it rounds a double of magnitude < 2^51 to the nearest integer. */
const ROUND = 6755399441055744;
/**
 * A bound on |a·w − q·p| with q = trunc(a·w/p) as computed here: below p, plus the effect of the
 * rounding error of the quotient (at most 2^-20 relative for operands below 2^31 in magnitude).
 */
const BOUND = P + 2048;
/** The largest magnitude a stored value may reach. */
const LIMIT = 2147483647;
/** The largest input bound the inverse accepts: a pass forms sums of four values. */
const INVERSE_LIMIT = Math.floor(LIMIT / 4);
/** Sub-transforms of at most this many values run iteratively (they fit in a 256 KiB L2 slice). */
const LEAF = 1 << 16;

/** (a·b) mod p in [0, p) for any integers a, b with |a|, |b| < 2^31. */
export function mulMod(a: number, b: number): number {
  const q = a * b * INV_P + ROUND - ROUND;
  const r = (Math.imul(a, b) - Math.imul(q, P)) | 0;
  return r < 0 ? r + P : r >= P ? r - P : r;
}

/** v mod p in [0, p) for any integer |v| < 2^31. */
export function reduceMod(v: number): number {
  const r = v % P;
  return r < 0 ? r + P : r;
}

/** base^exp mod p for an integer exponent exp ≥ 0. */
export function powMod(base: number, exp: number): number {
  if (!Number.isSafeInteger(exp) || exp < 0)
    throw new RangeError(`powMod: exponent must be a non-negative integer, got ${exp}`);
  let b = reduceMod(base);
  let r = 1;
  while (exp > 0) {
    if (exp % 2 === 1) r = mulMod(r, b);
    b = mulMod(b, b);
    exp = Math.floor(exp / 2);
  }
  return r;
}

/** The twiddle factors of one transform length, shared by every transform of that length. */
export interface NttTables {
  /** log2 of the transform length. */
  readonly log2Size: number;
  /** The transform length N = 2^log2Size. */
  readonly size: number;
  /** `blockTwiddles[k]` = ω^brv(k) for k < N/2, with ω = g^((p−1)/N) and brv the bit reversal on log2(N/2) bits. */
  readonly blockTwiddles: Int32Array;
  /** N^{-1} mod p. */
  readonly inverseSize: number;
}

const tableCache = new Map<number, NttTables>();
/** Tables up to this size stay cached between calls (2 MiB); larger ones live as long as the caller holds them. */
const CACHE_MAX_LOG2 = 20;

/**
 * The twiddle tables for transforms of length 2^log2Size (1 ≤ 2^log2Size ≤ 2^25). Small tables are
 * cached; large ones (2^(log2Size−1) values, 64 MiB at 2^25) are built on each call, so hold on to
 * them for repeated transforms.
 */
export function nttTables(log2Size: number): NttTables {
  if (!Number.isInteger(log2Size) || log2Size < 0 || log2Size > NTT_MAX_LOG2) {
    throw new RangeError(`nttTables: log2Size must be an integer in [0, ${NTT_MAX_LOG2}], got ${log2Size}`);
  }
  const cached = tableCache.get(log2Size);
  if (cached) return cached;
  // A shift, not 2 ** k: the optimizing compiler treats the result as a small integer, which the
  // passes rely on for fast index arithmetic.
  const size = 1 << log2Size;
  const half = Math.max(1, size >>> 1);
  const omega = powMod(NTT_GENERATOR, (P - 1) / size);
  // brv(B + k) = brv(B) + brv(k) for k < B = 2^b, and brv(B) = N/(4B): each doubling multiplies the
  // entries found so far by one power of ω.
  const blockTwiddles = new Int32Array(half);
  blockTwiddles[0] = 1;
  for (let b = 1; b < half; b *= 2) {
    const step = powMod(omega, size / (4 * b));
    for (let k = 0; k < b; k++) blockTwiddles[b + k] = mulMod(blockTwiddles[k], step);
  }
  const tables: NttTables = {
    log2Size,
    size,
    blockTwiddles,
    inverseSize: powMod(size, P - 2),
  };
  if (log2Size <= CACHE_MAX_LOG2) tableCache.set(log2Size, tables);
  return tables;
}

function checkLength(a: Int32Array, tables: NttTables, what: string): void {
  if (a.length !== tables.size) {
    throw new RangeError(
      `${what}: array length ${a.length} does not match the tables' length ${tables.size}`,
    );
  }
}

/* -------------------------------------------------------------------------------------------- */
/* Forward transform: natural order in, bit-reversed order out.                                  */
/* -------------------------------------------------------------------------------------------- */

/**
 * One radix-4 pass (two Cooley–Tukey stages) over every block of length `len` in [off, off + span):
 * block b has index k0 + b at its level and uses the twiddles tw[k], tw[2k], tw[2k+1]. With `reduce`
 * the two operands that are not multiplied in the first stage are first brought below p + 2048.
 */
function forwardPass4(
  a: Int32Array,
  tw: Int32Array,
  off: number,
  span: number,
  len: number,
  k0: number,
  reduce: boolean,
): void {
  const p = P;
  const invP = INV_P;
  const q4 = len >>> 2;
  const blocks = span / len;
  for (let b = 0; b < blocks; b++) {
    const k = k0 + b;
    const w1 = tw[k];
    const w1f = w1 * invP;
    const w2 = tw[2 * k];
    const w2f = w2 * invP;
    const w3 = tw[2 * k + 1];
    const w3f = w3 * invP;
    const base = off + b * len;
    const end = base + q4;
    for (let i = base; i < end; i++) {
      const i1 = i + q4;
      const i2 = i1 + q4;
      const i3 = i2 + q4;
      let x0 = a[i];
      let x1 = a[i1];
      const x2 = a[i2];
      const x3 = a[i3];
      if (reduce) {
        x0 = (x0 - Math.imul(x0 * invP, p)) | 0;
        x1 = (x1 - Math.imul(x1 * invP, p)) | 0;
      }
      let t = (Math.imul(x2, w1) - Math.imul(x2 * w1f, p)) | 0;
      const y0 = x0 + t;
      const y2 = x0 - t;
      t = (Math.imul(x3, w1) - Math.imul(x3 * w1f, p)) | 0;
      const y1 = x1 + t;
      const y3 = x1 - t;
      t = (Math.imul(y1, w2) - Math.imul(y1 * w2f, p)) | 0;
      a[i] = y0 + t;
      a[i1] = y0 - t;
      t = (Math.imul(y3, w3) - Math.imul(y3 * w3f, p)) | 0;
      a[i2] = y2 + t;
      a[i3] = y2 - t;
    }
  }
}

/** The last radix-4 pass, blocks of four: one iteration per block, so the block loop is the inner loop. */
function forwardPass4Last(
  a: Int32Array,
  tw: Int32Array,
  off: number,
  span: number,
  k0: number,
  reduce: boolean,
): void {
  const p = P;
  const invP = INV_P;
  for (let i = off, k = k0, end = off + span; i < end; i += 4, k++) {
    const w1 = tw[k];
    const w1f = w1 * invP;
    const w2 = tw[2 * k];
    const w3 = tw[2 * k + 1];
    let x0 = a[i];
    let x1 = a[i + 1];
    const x2 = a[i + 2];
    const x3 = a[i + 3];
    if (reduce) {
      x0 = (x0 - Math.imul(x0 * invP, p)) | 0;
      x1 = (x1 - Math.imul(x1 * invP, p)) | 0;
    }
    let t = (Math.imul(x2, w1) - Math.imul(x2 * w1f, p)) | 0;
    const y0 = x0 + t;
    const y2 = x0 - t;
    t = (Math.imul(x3, w1) - Math.imul(x3 * w1f, p)) | 0;
    const y1 = x1 + t;
    const y3 = x1 - t;
    t = (Math.imul(y1, w2) - Math.imul(y1 * (w2 * invP), p)) | 0;
    a[i] = y0 + t;
    a[i + 1] = y0 - t;
    t = (Math.imul(y3, w3) - Math.imul(y3 * (w3 * invP), p)) | 0;
    a[i + 2] = y2 + t;
    a[i + 3] = y2 - t;
  }
}

/** The bound after a radix-4 pass on values bounded by `bound`, and whether the pass must reduce first. */
function nextBound4(bound: number): [number, boolean] {
  return bound + 2 * BOUND <= LIMIT ? [bound + 2 * BOUND, false] : [3 * BOUND, true];
}

function forwardBlock(
  a: Int32Array,
  tw: Int32Array,
  off: number,
  len: number,
  k: number,
  bound: number,
): number {
  if (len <= LEAF) {
    for (let l = len, k0 = k; l >= 4; l >>>= 2, k0 *= 4) {
      const [next, reduce] = nextBound4(bound);
      if (l === 4) forwardPass4Last(a, tw, off, len, k0, reduce);
      else forwardPass4(a, tw, off, len, l, k0, reduce);
      bound = next;
    }
    return bound;
  }
  const [next, reduce] = nextBound4(bound);
  forwardPass4(a, tw, off, len, len, k, reduce);
  const q = len >>> 2;
  let out = next;
  for (let c = 0; c < 4; c++) out = forwardBlock(a, tw, off + c * q, q, 4 * k + c, next);
  return out;
}

/**
 * In-place forward transform, natural order in, bit-reversed order out: afterwards a[i] ≡ A(ω^brv(i))
 * (mod p), where A(z) = Σ a_j z^j, ω = g^((p−1)/N) and brv reverses log2(N) bits.
 *
 * Lazy: the results are congruent mod p but not reduced; |a[i]| < 2^31 holds throughout.
 *
 * @param a values with |a[i]| ≤ inputBound, length `tables.size`
 * @param tables the tables of that length, from {@link nttTables}
 * @param inputBound a bound on |a[i]| on entry (default 2^31 − 1; pass 1 for 0/1 data)
 * @returns a bound on |a[i]| on exit, to pass to the next stage
 */
export function forwardLazy(a: Int32Array, tables: NttTables, inputBound = LIMIT): number {
  checkLength(a, tables, "forwardLazy");
  const n = tables.size;
  const tw = tables.blockTwiddles;
  let bound = inputBound;
  if (n === 1) return bound;
  if (tables.log2Size & 1) {
    // One radix-2 stage first, with twiddle 1, so that every remaining block is a power of 4 long.
    const h = n >>> 1;
    const reduce = bound + BOUND > LIMIT;
    const p = P;
    const invP = INV_P;
    for (let i = 0; i < h; i++) {
      let u = a[i];
      if (reduce) u = (u - Math.imul(u * invP, p)) | 0;
      const v = a[i + h];
      const t = (v - Math.imul(v * invP, p)) | 0;
      a[i] = u + t;
      a[i + h] = u - t;
    }
    bound = reduce ? 2 * BOUND : bound + BOUND;
    if (n === 2) return bound;
    forwardBlock(a, tw, 0, h, 0, bound);
    return forwardBlock(a, tw, h, h, 1, bound);
  }
  return forwardBlock(a, tw, 0, n, 0, bound);
}

/* -------------------------------------------------------------------------------------------- */
/* Inverse transform: bit-reversed order in, natural order out.                                  */
/* -------------------------------------------------------------------------------------------- */

/**
 * One radix-4 Gentleman–Sande pass over every block of length `len` in [off, off + span): block b has
 * index k = k0 + b at its level; first the two halves are finished with twiddles tw[2k] and tw[2k+1],
 * then the block with tw[k]. Inputs must satisfy |v| ≤ (2^31 − 1)/4; the one output that is a pure sum is
 * reduced, so the outputs do too.
 */
function inversePass4(
  a: Int32Array,
  tw: Int32Array,
  off: number,
  span: number,
  len: number,
  k0: number,
): void {
  const p = P;
  const invP = INV_P;
  const q4 = len >>> 2;
  const blocks = span / len;
  for (let b = 0; b < blocks; b++) {
    const k = k0 + b;
    const w1 = tw[k];
    const w1f = w1 * invP;
    const w2 = tw[2 * k];
    const w2f = w2 * invP;
    const w3 = tw[2 * k + 1];
    const w3f = w3 * invP;
    const base = off + b * len;
    const end = base + q4;
    for (let i = base; i < end; i++) {
      const i1 = i + q4;
      const i2 = i1 + q4;
      const i3 = i2 + q4;
      const x0 = a[i];
      const x1 = a[i1];
      const x2 = a[i2];
      const x3 = a[i3];
      const s0 = x0 + x1;
      let d = x0 - x1;
      const d0 = (Math.imul(d, w2) - Math.imul(d * w2f, p)) | 0;
      const s1 = x2 + x3;
      d = x2 - x3;
      const d1 = (Math.imul(d, w3) - Math.imul(d * w3f, p)) | 0;
      const z0 = s0 + s1;
      a[i] = (z0 - Math.imul(z0 * invP, p)) | 0;
      d = s0 - s1;
      a[i2] = (Math.imul(d, w1) - Math.imul(d * w1f, p)) | 0;
      a[i1] = d0 + d1;
      d = d0 - d1;
      a[i3] = (Math.imul(d, w1) - Math.imul(d * w1f, p)) | 0;
    }
  }
}

/** The first radix-4 pass, blocks of four: one iteration per block, so the block loop is the inner loop. */
function inversePass4First(a: Int32Array, tw: Int32Array, off: number, span: number, k0: number): void {
  const p = P;
  const invP = INV_P;
  for (let i = off, k = k0, end = off + span; i < end; i += 4, k++) {
    const w1 = tw[k];
    const w1f = w1 * invP;
    const w2 = tw[2 * k];
    const w3 = tw[2 * k + 1];
    const x0 = a[i];
    const x1 = a[i + 1];
    const x2 = a[i + 2];
    const x3 = a[i + 3];
    const s0 = x0 + x1;
    let d = x0 - x1;
    const d0 = (Math.imul(d, w2) - Math.imul(d * (w2 * invP), p)) | 0;
    const s1 = x2 + x3;
    d = x2 - x3;
    const d1 = (Math.imul(d, w3) - Math.imul(d * (w3 * invP), p)) | 0;
    const z0 = s0 + s1;
    a[i] = (z0 - Math.imul(z0 * invP, p)) | 0;
    d = s0 - s1;
    a[i + 2] = (Math.imul(d, w1) - Math.imul(d * w1f, p)) | 0;
    a[i + 1] = d0 + d1;
    d = d0 - d1;
    a[i + 3] = (Math.imul(d, w1) - Math.imul(d * w1f, p)) | 0;
  }
}

function inverseBlock(a: Int32Array, tw: Int32Array, off: number, len: number, k: number): void {
  if (len <= LEAF) {
    for (let l = 4, k0 = k * (len >>> 2); l <= len; l <<= 2, k0 >>>= 2) {
      if (l === 4) inversePass4First(a, tw, off, len, k0);
      else inversePass4(a, tw, off, len, l, k0);
    }
    return;
  }
  const q = len >>> 2;
  for (let c = 0; c < 4; c++) inverseBlock(a, tw, off + c * q, q, 4 * k + c);
  inversePass4(a, tw, off, len, len, k);
}

/**
 * In-place inverse of {@link forwardLazy} up to a reversal and a factor: takes bit-reversed values
 * A(ω^brv(i)) and leaves a[j] ≡ N·c[(N − j) mod N] (mod p), where A(z) = Σ c_j z^j. It runs the
 * Gentleman–Sande butterflies with the forward twiddles: that is the transpose of the forward
 * transform, i.e. the DFT matrix V times the bit-reversal, and V² = N·(index reversal).
 *
 * @param inputBound a bound on |a[i]| on entry (default 2^31 − 1); above (2^31 − 1)/4 the values are
 *   reduced first, since a pass adds four of them
 * @returns a bound on |a[i]| on exit
 */
export function inverseLazy(a: Int32Array, tables: NttTables, inputBound = LIMIT): number {
  checkLength(a, tables, "inverseLazy");
  if (inputBound > INVERSE_LIMIT) reduceSigned(a);
  const n = tables.size;
  const tw = tables.blockTwiddles;
  if (n === 1) return inputBound > INVERSE_LIMIT ? BOUND : inputBound;
  if (tables.log2Size & 1) {
    // The last stage alone, with twiddle 1, after both halves are done.
    const h = n >>> 1;
    if (h > 1) {
      inverseBlock(a, tw, 0, h, 0);
      inverseBlock(a, tw, h, h, 1);
    }
    const p = P;
    const invP = INV_P;
    for (let i = 0; i < h; i++) {
      const u = a[i];
      const v = a[i + h];
      const s = u + v;
      const d = u - v;
      a[i] = (s - Math.imul(s * invP, p)) | 0;
      a[i + h] = (d - Math.imul(d * invP, p)) | 0;
    }
    return BOUND;
  }
  inverseBlock(a, tw, 0, n, 0);
  return 2 * BOUND;
}

/** Brings every value below p + 2048 in magnitude (still congruent mod p). */
export function reduceSigned(a: Int32Array): void {
  const p = P;
  const invP = INV_P;
  for (let i = 0; i < a.length; i++) {
    const v = a[i];
    a[i] = (v - Math.imul(v * invP, p)) | 0;
  }
}

/* -------------------------------------------------------------------------------------------- */
/* Reduced, conventional-order entry points.                                                      */
/* -------------------------------------------------------------------------------------------- */

function log2Exact(n: number, what: string): number {
  const k = Math.log2(n);
  if (!Number.isInteger(k) || k > NTT_MAX_LOG2) {
    throw new RangeError(`${what}: length must be a power of two ≤ 2^${NTT_MAX_LOG2}, got ${n}`);
  }
  return k;
}

/**
 * In-place forward NTT, natural order in, bit-reversed order out, every value reduced to [0, p):
 * a[i] = Σ_j a_j ω^(j·brv(i)) mod p. Input values may be any integers with |a[i]| < 2^31.
 * The length must be a power of two ≤ 2^25.
 */
export function nttForward(a: Int32Array): void {
  const tables = nttTables(log2Exact(a.length, "nttForward"));
  forwardLazy(a, tables);
  for (let i = 0; i < a.length; i++) a[i] = reduceMod(a[i]);
}

/**
 * In-place inverse of {@link nttForward}: bit-reversed order in, natural order out, values in [0, p).
 * `nttInverse(nttForward(a))` returns a mod p.
 */
export function nttInverse(a: Int32Array): void {
  const tables = nttTables(log2Exact(a.length, "nttInverse"));
  inverseLazy(a, tables);
  const n = a.length;
  const scale = tables.inverseSize;
  for (let i = 0; i < n; i++) a[i] = mulMod(a[i], scale);
  // a[j] holds c[(N − j) mod N]: reverse a[1..N−1].
  for (let i = 1, j = n - 1; i < j; i++, j--) {
    const t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
}

/**
 * The cyclic convolution of `x` and `y` modulo p: c[k] = Σ_{i+j ≡ k (mod N)} x[i]·y[j] mod p, with N
 * the common length (a power of two ≤ 2^25). Exact as an integer convolution whenever every true sum is
 * below p, e.g. for 0/1 sequences of length below p.
 */
export function cyclicConvolution(x: ArrayLike<number>, y: ArrayLike<number>): Int32Array {
  if (x.length !== y.length)
    throw new RangeError(`cyclicConvolution: lengths ${x.length} and ${y.length} differ`);
  const n = x.length;
  const tables = nttTables(log2Exact(n, "cyclicConvolution"));
  const a = new Int32Array(n);
  const b = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    a[i] = reduceMod(x[i]);
    b[i] = reduceMod(y[i]);
  }
  forwardLazy(a, tables, P);
  forwardLazy(b, tables, P);
  inverseLazy(a, tables, multiplyPointwise(a, a, b));
  const out = new Int32Array(n);
  const scale = tables.inverseSize;
  for (let j = 0; j < n; j++) out[j] = mulMod(a[(n - j) & (n - 1)], scale);
  return out;
}

/**
 * Pointwise products mod p, lazily: without `accBound`, acc[i] ← x[i]·y[i]; with it, acc[i] ← acc[i] +
 * x[i]·y[i], where `accBound` bounds |acc[i]| on entry (the value this function or {@link forwardLazy}
 * returned). Each product is reduced below p + 2048 in magnitude; sums are reduced only when another term could
 * overflow. x and y may hold any values of magnitude < 2^31.
 *
 * @returns a bound on |acc[i]| on exit
 */
export function multiplyPointwise(acc: Int32Array, x: Int32Array, y: Int32Array, accBound?: number): number {
  const n = acc.length;
  if (x.length !== n || y.length !== n) throw new RangeError("multiplyPointwise: lengths differ");
  const p = P;
  const invP = INV_P;
  if (accBound === undefined) {
    for (let i = 0; i < n; i++) {
      const u = x[i];
      const v = y[i];
      acc[i] = (Math.imul(u, v) - Math.imul(u * v * invP, p)) | 0;
    }
    return BOUND;
  }
  if (accBound + BOUND <= LIMIT) {
    for (let i = 0; i < n; i++) {
      const u = x[i];
      const v = y[i];
      acc[i] += (Math.imul(u, v) - Math.imul(u * v * invP, p)) | 0;
    }
    return accBound + BOUND;
  }
  for (let i = 0; i < n; i++) {
    const u = x[i];
    const v = y[i];
    const s = acc[i];
    acc[i] = ((s - Math.imul(s * invP, p)) | 0) + ((Math.imul(u, v) - Math.imul(u * v * invP, p)) | 0);
  }
  return 2 * BOUND;
}
