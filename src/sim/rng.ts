/**
 * Seeded pseudo-random numbers for the simulation kernel.
 *
 * The generator is xoshiro128** 1.1 (Blackman & Vigna, "Scrambled linear pseudorandom number
 * generators", ACM TOMS 2021; reference code at prng.di.unimi.it/xoshiro128starstar.c): 128 bits of
 * state, period 2^128 − 1, 32-bit output, implemented with 32-bit integer operations only (`Math.imul`,
 * shifts, xor) so the hot path never allocates and never touches `BigInt`.
 *
 * Seeding goes through SplitMix64 (Steele, Lea & Flood 2014), the initialisation recommended by the
 * xoshiro authors, with its 64-bit arithmetic emulated on pairs of 32-bit words. {@link RngStreams}
 * derives one independent generator per key from a single seed, so an entity's numbers depend only on
 * the seed and its own key, never on how many other entities exist or how much they draw.
 *
 * @module
 */

const TWO_POW_32 = 4294967296;
const TWO_POW_53 = 9007199254740992;
/** 2^-53: the spacing of the doubles that {@link Rng.random} returns. */
const TWO_POW_M53 = 1 / TWO_POW_53;
const LN_SQRT_2PI = 0.9189385332046728; // ln(sqrt(2π))

/** The four 32-bit state words of an {@link Rng}, each an unsigned integer in [0, 2^32). */
export type RngState = readonly [number, number, number, number];

/* -------------------------------------------------------------------------------------------- */
/* 64-bit helpers on (hi, lo) pairs of unsigned 32-bit words. Only used for seeding.            */
/* -------------------------------------------------------------------------------------------- */

/** High 32 bits of the 64-bit product of two unsigned 32-bit integers. */
function mulHi32(a: number, b: number): number {
  const a0 = a & 0xffff;
  const a1 = a >>> 16;
  const b0 = b & 0xffff;
  const b1 = b >>> 16;
  const p00 = a0 * b0;
  const p01 = a0 * b1;
  const p10 = a1 * b0;
  const p11 = a1 * b1;
  const mid = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  return (p11 + (p01 >>> 16) + (p10 >>> 16) + (mid >>> 16)) >>> 0;
}

/** A 64-bit unsigned integer as two unsigned 32-bit halves. */
interface U64 {
  hi: number;
  lo: number;
}

/** (a * b) mod 2^64. */
function mul64(ah: number, al: number, bh: number, bl: number, out: U64): void {
  out.hi = (mulHi32(al, bl) + Math.imul(al, bh) + Math.imul(ah, bl)) >>> 0;
  out.lo = Math.imul(al, bl) >>> 0;
}

/** (a + b) mod 2^64. */
function add64(ah: number, al: number, bh: number, bl: number, out: U64): void {
  const lo = al + bl;
  out.lo = lo >>> 0;
  out.hi = (ah + bh + (lo >= TWO_POW_32 ? 1 : 0)) >>> 0;
}

/**
 * The SplitMix64 output function ("mix64", variant 13 of Stafford's MurmurHash3 finaliser): a
 * bijection of 64-bit integers with full avalanche. Writes the result into `out`.
 */
function mix64(hi: number, lo: number, out: U64): void {
  // z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9
  lo = (lo ^ ((lo >>> 30) | (hi << 2))) >>> 0;
  hi = (hi ^ (hi >>> 30)) >>> 0;
  mul64(hi, lo, 0xbf58476d, 0x1ce4e5b9, out);
  hi = out.hi;
  lo = out.lo;
  // z = (z ^ (z >>> 27)) * 0x94d049bb133111eb
  lo = (lo ^ ((lo >>> 27) | (hi << 5))) >>> 0;
  hi = (hi ^ (hi >>> 27)) >>> 0;
  mul64(hi, lo, 0x94d049bb, 0x133111eb, out);
  hi = out.hi;
  lo = out.lo;
  // z ^ (z >>> 31)
  out.lo = (lo ^ ((lo >>> 31) | (hi << 1))) >>> 0;
  out.hi = (hi ^ (hi >>> 31)) >>> 0;
}

/** The SplitMix64 increment, 2^64 / φ. */
const GOLDEN_HI = 0x9e3779b9;
const GOLDEN_LO = 0x7f4a7c15;

/** Absorbs one 64-bit word `w` into the running hash `h`: h ← mix64((h ⊕ w) + γ). */
function absorb(h: U64, whi: number, wlo: number): void {
  add64((h.hi ^ whi) >>> 0, (h.lo ^ wlo) >>> 0, GOLDEN_HI, GOLDEN_LO, h);
  mix64(h.hi, h.lo, h);
}

// Domain-separation tags, so that e.g. the number seed 5 and the string seed "5" differ, and a
// stream of a child namespace never coincides with a stream of its parent.
const TAG_NUMBER = 0x6e756d62; // "numb"
const TAG_STRING = 0x73747269; // "stri"
const TAG_STREAM = 0x73747265; // "stre"
const TAG_CHILD = 0x6368696c; // "chil"
const TAG_ROOT = 0x726f6f74; // "root"

/** Hashes a seed or key (a safe integer or a string) to a 64-bit word. */
function hashKey(key: number | string, what: string): U64 {
  const h: U64 = { hi: 0, lo: 0 };
  if (typeof key === "number") {
    if (!Number.isSafeInteger(key)) {
      throw new RangeError(`${what} must be a safe integer or a string, got ${key}`);
    }
    absorb(h, 0, TAG_NUMBER);
    // Two's-complement 64-bit representation of the integer.
    absorb(h, Math.floor(key / TWO_POW_32) >>> 0, key >>> 0);
  } else if (typeof key === "string") {
    absorb(h, 0, TAG_STRING);
    for (let i = 0; i < key.length; i++) absorb(h, 0, key.charCodeAt(i));
    absorb(h, 1, key.length >>> 0);
  } else {
    throw new TypeError(`${what} must be a safe integer or a string, got ${typeof key}`);
  }
  return h;
}

/** Expands a 64-bit seed into a non-zero xoshiro128 state with two SplitMix64 outputs. */
function expandSeed(seed: U64): [number, number, number, number] {
  const x: U64 = { hi: seed.hi, lo: seed.lo };
  const z: U64 = { hi: 0, lo: 0 };
  add64(x.hi, x.lo, GOLDEN_HI, GOLDEN_LO, x);
  mix64(x.hi, x.lo, z);
  const s0 = z.lo;
  const s1 = z.hi;
  add64(x.hi, x.lo, GOLDEN_HI, GOLDEN_LO, x);
  mix64(x.hi, x.lo, z);
  const s2 = z.lo;
  const s3 = z.hi;
  // Two consecutive SplitMix64 outputs are never both zero (mix64 is a bijection of distinct inputs),
  // so the xoshiro state is never the forbidden all-zero state.
  return [s0, s1, s2, s3];
}

/**
 * SplitMix64: returns the first `count` 64-bit outputs from `seed` as `[hi, lo]` pairs of unsigned
 * 32-bit words. Exposed for tests and for callers that need the standard SplitMix64 sequence.
 */
export function splitMix64(seedHi: number, seedLo: number, count: number): Array<[number, number]> {
  const x: U64 = { hi: seedHi >>> 0, lo: seedLo >>> 0 };
  const z: U64 = { hi: 0, lo: 0 };
  const out: Array<[number, number]> = [];
  for (let i = 0; i < count; i++) {
    add64(x.hi, x.lo, GOLDEN_HI, GOLDEN_LO, x);
    mix64(x.hi, x.lo, z);
    out.push([z.hi, z.lo]);
  }
  return out;
}

/* -------------------------------------------------------------------------------------------- */
/* Argument checks (RangeError with the method name and the offending value).                    */
/* -------------------------------------------------------------------------------------------- */

function probability(method: string, name: string, p: number): never {
  throw new RangeError(`Rng.${method}: ${name} must be a probability in [0, 1], got ${p}`);
}

function bad(method: string, what: string, v: number): never {
  throw new RangeError(`Rng.${method}: ${what}, got ${v}`);
}

/* -------------------------------------------------------------------------------------------- */
/* Log-probabilities used by the rejection samplers.                                               */
/* -------------------------------------------------------------------------------------------- */

/** stirlerr(k) = ln(k!) − [(k + ½) ln k − k + ln √(2π)] for k = 0..15, tabulated at load time. */
const STIRLERR_TABLE: Float64Array = (() => {
  const t = new Float64Array(16);
  let lnFact = 0;
  t[0] = Number.NaN; // unused: k = 0 is handled by the callers
  for (let k = 1; k < 16; k++) {
    lnFact += Math.log(k);
    t[k] = lnFact - ((k + 0.5) * Math.log(k) - k + LN_SQRT_2PI);
  }
  return t;
})();

/**
 * The error of Stirling's approximation to ln(k!) for an integer k ≥ 1 (Loader 2000, "Fast and
 * accurate computation of binomial probabilities"): exact table below 16, asymptotic series above.
 */
function stirlerr(k: number): number {
  if (k < 16) return STIRLERR_TABLE[k];
  const S0 = 1 / 12;
  const S1 = 1 / 360;
  const S2 = 1 / 1260;
  const S3 = 1 / 1680;
  const S4 = 1 / 1188;
  const nn = k * k;
  if (k > 500) return (S0 - S1 / nn) / k;
  if (k > 80) return (S0 - (S1 - S2 / nn) / nn) / k;
  if (k > 35) return (S0 - (S1 - (S2 - S3 / nn) / nn) / nn) / k;
  return (S0 - (S1 - (S2 - (S3 - S4 / nn) / nn) / nn) / nn) / k;
}

/** bd0(x, m) = x ln(x/m) + m − x, computed without cancellation when x ≈ m (Loader 2000). */
function bd0(x: number, m: number): number {
  const d = x - m;
  if (Math.abs(d) < 0.1 * (x + m)) {
    let v = d / (x + m);
    let s = d * v;
    let ej = 2 * x * v;
    v *= v;
    for (let j = 1; j < 1000; j++) {
      ej *= v;
      const s1 = s + ej / (2 * j + 1);
      if (s1 === s) return s1;
      s = s1;
    }
    return s;
  }
  return x * Math.log(x / m) + m - x;
}

/**
 * ln P(K = k) for K ~ Poisson(λ), accurate to a few ulps of the result for any λ (no cancellation
 * between k ln λ and ln k! even when λ ~ 1e15).
 */
export function logPoissonPmf(k: number, lambda: number): number {
  if (k === 0) return -lambda;
  return -stirlerr(k) - bd0(k, lambda) - 0.5 * Math.log(2 * Math.PI * k);
}

/* -------------------------------------------------------------------------------------------- */
/* The generator.                                                                                  */
/* -------------------------------------------------------------------------------------------- */

/*
 * Ziggurat tables for the standard exponential, 256 layers (Marsaglia & Tsang, "The ziggurat method
 * for generating random variables", J. Stat. Softw. 5(8), 2000), scaled for 53-bit positions. Layer i
 * (1..255) is the box [0, x_i] × [e^-x_i, e^-x_(i-1)] with x_0 = 0 < x_1 < … < x_255 = R; layer 0 is the
 * base strip of area V that also stands for the tail beyond R. ZE_K[i] = 2^53 · x_(i-1)/x_i (below it a
 * point is certainly under the curve), ZE_W[i] = x_i / 2^53, ZE_F[i] = e^-x_i.
 */
const ZE_R = 7.697117470131487;
const ZE_V = 3.949659822581572e-3;
const ZE_K = new Float64Array(256);
const ZE_W = new Float64Array(256);
const ZE_F = new Float64Array(256);
{
  let de = ZE_R;
  let te = de;
  const q = ZE_V / Math.exp(-de);
  ZE_K[0] = (de / q) * TWO_POW_53;
  ZE_K[1] = 0;
  ZE_W[0] = q / TWO_POW_53;
  ZE_W[255] = de / TWO_POW_53;
  ZE_F[0] = 1;
  ZE_F[255] = Math.exp(-de);
  for (let i = 254; i >= 1; i--) {
    de = -Math.log(ZE_V / de + Math.exp(-de));
    ZE_K[i + 1] = (de / te) * TWO_POW_53;
    te = de;
    ZE_F[i] = Math.exp(-de);
    ZE_W[i] = de / TWO_POW_53;
  }
}

/** Set while {@link Rng.blank} constructs an instance whose state the caller fills in. */
let skipSeeding = false;

// Jump polynomials from the reference implementation: jump() advances by 2^64 outputs, longJump()
// by 2^96.
const JUMP = [0x8764000b, 0xf542d2d3, 0x6fa035c3, 0x77f2db5b] as const;
const LONG_JUMP = [0xb523952e, 0x0b6f099f, 0xccf5a0ef, 0x1c580662] as const;

/**
 * A xoshiro128** generator with sampling methods for the distributions the simulator needs.
 *
 * Every method draws from this generator only, so two `Rng`s with the same state produce the same
 * values in the same order. Methods validate their parameters and throw a `RangeError` naming the
 * method and the offending value.
 *
 * Obtain one from {@link RngStreams.stream} (one per entity), from `new Rng(seed)`, or from
 * {@link Rng.fromState} when restoring a checkpoint.
 */
export class Rng {
  // State words, kept as signed int32 (the bit pattern is what matters). Always initialised in this
  // order so every Rng shares one hidden class and call sites stay monomorphic.
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 1;

  /**
   * A generator seeded from a safe integer or a string by hashing it through SplitMix64.
   * Equal seeds give equal sequences; `new Rng(s)` never equals any `RngStreams` stream.
   *
   * @param seed - a safe integer (negative allowed) or any string. Default 0.
   */
  constructor(seed: number | string = 0) {
    if (skipSeeding) return;
    const h = hashKey(seed, "Rng seed");
    absorb(h, 0, TAG_ROOT);
    this.setWords(expandSeed(h));
  }

  /** A generator with exactly this state, e.g. one saved with {@link Rng.getState}. */
  static fromState(state: ArrayLike<number>): Rng {
    const r = Rng.blank();
    r.setState(state);
    return r;
  }

  /** An unseeded instance, to be given a state by the caller. */
  private static blank(): Rng {
    skipSeeding = true;
    try {
      return new Rng();
    } finally {
      skipSeeding = false;
    }
  }

  private setWords(s: ArrayLike<number>): void {
    this.s0 = s[0] | 0;
    this.s1 = s[1] | 0;
    this.s2 = s[2] | 0;
    this.s3 = s[3] | 0;
  }

  /** The current state as four unsigned 32-bit integers: a checkpoint for {@link Rng.setState}. */
  getState(): RngState {
    return [this.s0 >>> 0, this.s1 >>> 0, this.s2 >>> 0, this.s3 >>> 0];
  }

  /**
   * Restores a state saved by {@link Rng.getState}. Throws a `RangeError` unless `state` holds four
   * integers in [0, 2^32) that are not all zero (the all-zero state is a fixed point).
   */
  setState(state: ArrayLike<number>): void {
    if (state.length !== 4) throw new RangeError(`Rng.setState: expected 4 words, got ${state.length}`);
    let or = 0;
    for (let i = 0; i < 4; i++) {
      const w = state[i];
      if (!Number.isInteger(w) || w < 0 || w >= TWO_POW_32) {
        throw new RangeError(`Rng.setState: word ${i} must be an integer in [0, 2^32), got ${w}`);
      }
      or |= w;
    }
    if (or === 0) throw new RangeError("Rng.setState: the all-zero state is not allowed");
    this.setWords(state);
  }

  /** An independent copy with the same state: both produce the same sequence from here on. */
  clone(): Rng {
    const r = Rng.blank();
    r.s0 = this.s0;
    r.s1 = this.s1;
    r.s2 = this.s2;
    r.s3 = this.s3;
    return r;
  }

  /** Next output as a signed 32-bit integer (the raw bit pattern). */
  private next(): number {
    const s1 = this.s1;
    const r = Math.imul(s1, 5);
    const result = Math.imul((r << 7) | (r >>> 25), 9);
    const t = s1 << 9;
    const s2 = this.s2 ^ this.s0;
    const s3 = this.s3 ^ s1;
    this.s1 = s1 ^ s2;
    this.s0 = this.s0 ^ s3;
    this.s2 = s2 ^ t;
    this.s3 = (s3 << 11) | (s3 >>> 21);
    return result;
  }

  // The methods below that return a double compute their uniforms from `next()` (which returns a
  // small integer) rather than by calling `random()`: if V8 declined to inline `random()`, its
  // double result would be boxed — one allocation per draw.

  /** A uniform integer in [0, 2^32). */
  nextUint32(): number {
    return this.next() >>> 0;
  }

  /**
   * A uniform double in [0, 1) with 53 random bits (every multiple of 2^-53 equally likely), built
   * from two 32-bit outputs: the top 27 bits of the first and the top 26 of the second.
   */
  random(): number {
    const a = this.next() >>> 5;
    const b = this.next() >>> 6;
    return (a * 67108864 + b) * TWO_POW_M53;
  }

  /** A uniform double in [a, b) (for a < b); `a + (b − a) · random()`. */
  uniform(a: number, b: number): number {
    if (!(Number.isFinite(a) && Number.isFinite(b) && a <= b)) {
      throw new RangeError(`Rng.uniform: need finite a <= b, got a=${a}, b=${b}`);
    }
    return a + (b - a) * (((this.next() >>> 5) * 67108864 + (this.next() >>> 6)) * TWO_POW_M53);
  }

  /**
   * A uniform integer in [0, n), exactly unbiased (rejection sampling), for any safe integer n ≥ 1.
   * Uses one 32-bit output per try when n ≤ 2^32, two otherwise.
   */
  int(n: number): number {
    if (!(n >= 1 && n <= TWO_POW_53 && Math.floor(n) === n)) {
      bad("int", "n must be an integer in [1, 2^53]", n);
    }
    if (n <= TWO_POW_32) {
      // Accept x < limit, where limit is the largest multiple of n that is ≤ 2^32.
      const limit = TWO_POW_32 - (TWO_POW_32 % n);
      let x = this.next() >>> 0;
      while (x >= limit) x = this.next() >>> 0;
      return x % n;
    }
    const limit = TWO_POW_53 - (TWO_POW_53 % n);
    for (;;) {
      const x = (this.next() >>> 11) * TWO_POW_32 + (this.next() >>> 0); // 53 random bits
      if (x < limit) return x % n;
    }
  }

  /** True with probability p. */
  bernoulli(p: number): boolean {
    if (!(p >= 0 && p <= 1)) probability("bernoulli", "p", p);
    return ((this.next() >>> 5) * 67108864 + (this.next() >>> 6)) * TWO_POW_M53 < p;
  }

  /**
   * An exponential variate with the given rate (mean 1/rate, variance 1/rate²), by the ziggurat
   * method (Marsaglia & Tsang 2000, 256 layers; exact rejection sampling): two 32-bit outputs and one
   * table comparison in 98.9% of calls, about 2.5 times faster than inversion's logarithm.
   *
   * @param rate - events per unit; must be finite and > 0. For a delay in ns with mean `m` ns, pass 1/m.
   */
  exponential(rate: number): number {
    if (!(rate > 0 && rate < Number.POSITIVE_INFINITY))
      bad("exponential", "rate must be finite and > 0", rate);
    // Layer from the low 8 bits of the first output; a 53-bit position within it from its top 21 bits
    // and all 32 bits of the second.
    const r1 = this.next();
    const layer = r1 & 255;
    const j = (r1 >>> 11) * TWO_POW_32 + (this.next() >>> 0);
    if (j < ZE_K[layer]) return (j * ZE_W[layer]) / rate;
    return this.exponentialSlow(layer, j) / rate;
  }

  /** The ziggurat's rare paths (tail and wedges) for a standard exponential. */
  private exponentialSlow(layer: number, j: number): number {
    for (;;) {
      if (layer === 0) {
        // Beyond the base strip: by memorylessness, R plus a fresh exponential.
        return ZE_R - Math.log(1 - this.random());
      }
      const x = j * ZE_W[layer];
      if (ZE_F[layer] + this.random() * (ZE_F[layer - 1] - ZE_F[layer]) < Math.exp(-x)) return x;
      const r1 = this.next();
      layer = r1 & 255;
      j = (r1 >>> 11) * TWO_POW_32 + (this.next() >>> 0);
      if (j < ZE_K[layer]) return j * ZE_W[layer];
    }
  }

  /**
   * A normal variate (Box–Muller, one of the pair; two uniforms per call, no cached spare so the
   * state stays four words).
   *
   * @param mean - default 0.
   * @param sd - standard deviation, finite and ≥ 0; default 1.
   */
  normal(mean = 0, sd = 1): number {
    if (!Number.isFinite(mean)) bad("normal", "mean must be finite", mean);
    if (!(sd >= 0 && sd < Number.POSITIVE_INFINITY)) bad("normal", "sd must be finite and >= 0", sd);
    const u1 = 1 - ((this.next() >>> 5) * 67108864 + (this.next() >>> 6)) * TWO_POW_M53; // (0, 1]
    const u2 = ((this.next() >>> 5) * 67108864 + (this.next() >>> 6)) * TWO_POW_M53;
    return mean + sd * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }

  /**
   * The number of Bernoulli(p) trials up to and including the first success (support 1, 2, …;
   * mean 1/p, variance (1 − p)/p²). O(1) by inversion: 1 + ⌊ln U / ln(1 − p)⌋ with U in (0, 1].
   *
   * @param p - success probability in (0, 1]; p = 1 always gives 1.
   */
  geometric(p: number): number {
    if (!(p > 0 && p <= 1)) bad("geometric", "p must be in (0, 1]", p);
    const u = 1 - ((this.next() >>> 5) * 67108864 + (this.next() >>> 6)) * TWO_POW_M53; // (0, 1]
    if (p === 1) return 1;
    return 1 + Math.floor(Math.log(u) / Math.log1p(-p));
  }

  /**
   * A binomial variate: successes in n independent Bernoulli(p) trials. Exact (up to floating-point
   * rounding) for any n: inversion when min(p, 1 − p) · n ≤ 30, otherwise the BTPE rejection algorithm
   * of Kachitvichyanukul & Schmeiser (CACM 1988), following NumPy's implementation.
   *
   * @param n - number of trials, a safe integer ≥ 0.
   * @param p - success probability in [0, 1].
   */
  binomial(n: number, p: number): number {
    if (!(n >= 0 && Number.isSafeInteger(n))) bad("binomial", "n must be a safe integer >= 0", n);
    if (!(p >= 0 && p <= 1)) probability("binomial", "p", p);
    if (n === 0 || p === 0) return 0;
    if (p === 1) return n;
    if (p <= 0.5) {
      return p * n <= 30 ? this.binomialInversion(n, p) : this.binomialBtpe(n, p);
    }
    const q = 1 - p;
    return n - (q * n <= 30 ? this.binomialInversion(n, q) : this.binomialBtpe(n, q));
  }

  /** Binomial by sequential inversion from 0, for n·p ≤ 30 and p ≤ ½. */
  private binomialInversion(n: number, p: number): number {
    const q = 1 - p;
    const qn = Math.exp(n * Math.log1p(-p));
    const np = n * p;
    // Restart past np + 10·sd + 10: the neglected tail is below 1e-20, far under rounding noise, and
    // the restart protects against the residual u never reaching the tiny remaining probabilities.
    const bound = Math.min(n, Math.floor(np + 10 * Math.sqrt(np * q + 1) + 10));
    let x = 0;
    let px = qn;
    let u = this.random();
    while (u > px) {
      x++;
      if (x > bound) {
        x = 0;
        px = qn;
        u = this.random();
      } else {
        u -= px;
        px = ((n - x + 1) * p * px) / (x * q);
      }
    }
    return x;
  }

  /** Binomial by BTPE, for n·p > 30 and p ≤ ½. */
  private binomialBtpe(n: number, p: number): number {
    const r = p;
    const q = 1 - r;
    const fm = n * r + r;
    const m = Math.floor(fm);
    const p1 = Math.floor(2.195 * Math.sqrt(n * r * q) - 4.6 * q) + 0.5;
    const xm = m + 0.5;
    const xl = xm - p1;
    const xr = xm + p1;
    const c = 0.134 + 20.5 / (15.3 + m);
    let a = (fm - xl) / (fm - xl * r);
    const laml = a * (1 + a / 2);
    a = (xr - fm) / (xr * q);
    const lamr = a * (1 + a / 2);
    const p2 = p1 * (1 + 2 * c);
    const p3 = p2 + c / laml;
    const p4 = p3 + c / lamr;
    const nrq = n * r * q;

    for (;;) {
      const u = this.random() * p4;
      let v = this.random();
      let y: number;
      if (u <= p1) {
        // Triangular centre: always accepted.
        return Math.floor(xm - p1 * v + u);
      }
      if (u <= p2) {
        // Parallelograms.
        const x = xl + (u - p1) / c;
        v = v * c + 1 - Math.abs(m - x + 0.5) / p1;
        if (v > 1) continue;
        y = Math.floor(x);
      } else if (u <= p3) {
        // Left exponential tail.
        y = Math.floor(xl + Math.log(v) / laml);
        if (y < 0 || v === 0) continue;
        v = v * (u - p2) * laml;
      } else {
        // Right exponential tail.
        y = Math.floor(xr - Math.log(v) / lamr);
        if (y > n || v === 0) continue;
        v = v * (u - p3) * lamr;
      }

      const k = Math.abs(y - m);
      if (k <= 20 || k >= nrq / 2 - 1) {
        // Explicit evaluation of f(y)/f(m) by the recurrence.
        const s = r / q;
        const aa = s * (n + 1);
        let f = 1;
        if (m < y) {
          for (let i = m + 1; i <= y; i++) f *= aa / i - s;
        } else if (m > y) {
          for (let i = y + 1; i <= m; i++) f /= aa / i - s;
        }
        if (v > f) continue;
        return y;
      }

      // Squeeze using upper and lower bounds on ln(f(y)/f(m)).
      const rho = (k / nrq) * ((k * (k / 3 + 0.625) + 0.16666666666666666) / nrq + 0.5);
      const t = (-k * k) / (2 * nrq);
      const A = Math.log(v);
      if (A < t - rho) return y;
      if (A > t + rho) continue;

      // Final acceptance test with Stirling's formula.
      const x1 = y + 1;
      const f1 = m + 1;
      const z = n + 1 - m;
      const w = n - y + 1;
      const x2 = x1 * x1;
      const f2 = f1 * f1;
      const z2 = z * z;
      const w2 = w * w;
      const bound =
        xm * Math.log(f1 / x1) +
        (n - m + 0.5) * Math.log(z / w) +
        (y - m) * Math.log((w * r) / (x1 * q)) +
        (13680 - (462 - (132 - (99 - 140 / f2) / f2) / f2) / f2) / f1 / 166320 +
        (13680 - (462 - (132 - (99 - 140 / z2) / z2) / z2) / z2) / z / 166320 +
        (13680 - (462 - (132 - (99 - 140 / x2) / x2) / x2) / x2) / x1 / 166320 +
        (13680 - (462 - (132 - (99 - 140 / w2) / w2) / w2) / w2) / w / 166320;
      if (A > bound) continue;
      return y;
    }
  }

  /**
   * A Poisson variate with mean λ. Exact (up to floating-point rounding) for any λ: sequential
   * inversion for λ < 10; for λ ≥ 10 the PTRS transformed-rejection method of Hörmann (Insurance:
   * Mathematics and Economics 12, 1993), with the acceptance test's ln P(k) computed by Loader's
   * saddle-point form so it stays accurate for very large λ.
   *
   * @param lambda - mean, finite and ≥ 0.
   */
  poisson(lambda: number): number {
    if (!(lambda >= 0 && lambda < Number.POSITIVE_INFINITY)) {
      bad("poisson", "lambda must be finite and >= 0", lambda);
    }
    if (lambda === 0) return 0;
    if (lambda < 10) {
      const e = Math.exp(-lambda);
      const bound = Math.floor(lambda + 10 * Math.sqrt(lambda) + 20);
      let k = 0;
      let pk = e;
      let u = this.random();
      while (u > pk) {
        k++;
        if (k > bound) {
          k = 0;
          pk = e;
          u = this.random();
        } else {
          u -= pk;
          pk *= lambda / k;
        }
      }
      return k;
    }
    const slam = Math.sqrt(lambda);
    const b = 0.931 + 2.53 * slam;
    const a = -0.059 + 0.02483 * b;
    const logInvAlpha = Math.log(1.1239 + 1.1328 / (b - 3.4));
    const vr = 0.9277 - 3.6224 / (b - 2);
    for (;;) {
      const u = this.random() - 0.5;
      const v = this.random();
      const us = 0.5 - Math.abs(u);
      const k = Math.floor(((2 * a) / us + b) * u + lambda + 0.43);
      if (us >= 0.07 && v <= vr) return k;
      if (k < 0 || (us < 0.013 && v > us)) continue;
      // ln(0) = -Infinity is fine here: it always accepts.
      if (Math.log(v) + logInvAlpha - Math.log(a / (us * us) + b) <= logPoissonPmf(k, lambda)) return k;
    }
  }

  /** Advances the state by 2^64 outputs: 2^64 non-overlapping subsequences for parallel use. */
  jump(): void {
    this.applyJump(JUMP);
  }

  /** Advances the state by 2^96 outputs: 2^32 starting points, each with room for 2^32 jump()s. */
  longJump(): void {
    this.applyJump(LONG_JUMP);
  }

  private applyJump(poly: readonly number[]): void {
    let a = 0;
    let b = 0;
    let c = 0;
    let d = 0;
    for (let i = 0; i < 4; i++) {
      const word = poly[i];
      for (let bit = 0; bit < 32; bit++) {
        if ((word >>> bit) & 1) {
          a ^= this.s0;
          b ^= this.s1;
          c ^= this.s2;
          d ^= this.s3;
        }
        this.next();
      }
    }
    this.s0 = a;
    this.s1 = b;
    this.s2 = c;
    this.s3 = d;
  }
}

/**
 * Independent random streams derived from one seed, one per key.
 *
 * `stream(key)` hashes (seed, key) with SplitMix64-style mixing into a 64-bit value and expands it
 * into a xoshiro128** state. The result depends only on the seed and the key, so the numbers that
 * stream `"node-3"` produces are the same whatever other streams exist, in whatever order they were
 * created, and however much they draw. Distinct keys start at unrelated points of the 2^128 − 1
 * period. Among s streams, two share a 64-bit hash (and so are identical) with probability about
 * s²/2^65 — 3·10^-8 for a million streams — and two of them overlap within n draws each with
 * probability about s²·n/2^128, negligible in practice.
 *
 * Keys may be strings or safe integers; `3` and `"3"` are different keys. Each call returns a fresh
 * generator positioned at the start of its stream: ask once per entity and keep it (two entities that
 * both ask for the same key get identical, fully correlated numbers).
 *
 * @example
 * const streams = new RngStreams(42);
 * const rng = streams.stream("node-3"); // same numbers whatever else draws
 */
export class RngStreams {
  /** The seed these streams were derived from. */
  readonly seed: number | string;
  // The 64-bit hash of the seed (and, for a child, of the path of keys leading to it).
  private hi = 0;
  private lo = 0;

  /** @param seed - a safe integer or a string. */
  constructor(seed: number | string) {
    const h = hashKey(seed, "RngStreams seed");
    this.seed = seed;
    this.hi = h.hi;
    this.lo = h.lo;
  }

  /** A new generator at the start of the stream named `key` (a safe integer or a string). */
  stream(key: number | string): Rng {
    const k = hashKey(key, "stream key");
    const h: U64 = { hi: 0, lo: 0 };
    absorb(h, 0, TAG_STREAM);
    absorb(h, this.hi, this.lo);
    absorb(h, k.hi, k.lo);
    return Rng.fromState(expandSeed(h));
  }

  /**
   * A namespace of streams derived from this one and `key`, for hierarchical names: e.g.
   * `streams.child("node-3").stream("detector")`. Its streams are unrelated to this one's (the
   * derivation is domain-separated from {@link RngStreams.stream}).
   */
  child(key: number | string): RngStreams {
    const k = hashKey(key, "child key");
    const h: U64 = { hi: 0, lo: 0 };
    absorb(h, 0, TAG_CHILD);
    absorb(h, this.hi, this.lo);
    absorb(h, k.hi, k.lo);
    const c = new RngStreams(this.seed);
    c.hi = h.hi;
    c.lo = h.lo;
    return c;
  }
}
