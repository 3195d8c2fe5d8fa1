/**
 * Double-precision fast Fourier transforms for exact convolutions of long 0/1 sequences, with a proved
 * bound on the rounding error ({@link transformErrorBound}, {@link convolutionErrorBound}).
 *
 * Real transforms. A real sequence of N = 2M values is transformed as M complex values
 * z_j = x_{2j} + i·x_{2j+1} (the array's natural interleaving, no copy), by a complex FFT of length M
 * followed by an "untangling" pass that separates the spectra of the even and odd samples (e.g. Press
 * et al., Numerical Recipes, §12.3). The spectrum is stored as M complex values: slot p holds X[brv(p)],
 * brv reversing log2(M) bits, except slot 0, which holds the two real values X[0] and X[M]; the other
 * half is the complex conjugate and is not stored. Two spectra in this layout multiply slot by slot
 * ({@link multiplySpectra}) into the spectrum of the cyclic convolution.
 *
 * Negacyclic transforms ({@link negacyclicForward}) give convolutions modulo z^N + 1 of real sequences
 * at the same cost: v_j + i·v_(j+M) twisted by ζ^j (ζ^M = i) and transformed by the complex FFT of
 * length M. A cyclic convolution of length 2N is the pair (mod z^N − 1, mod z^N + 1), so it can be
 * computed in two halves of half the memory (see the Toeplitz hash's "split" plans).
 *
 * The complex FFT ({@link fftForward}) runs Cooley–Tukey butterflies from natural to bit-reversed
 * order, the inverse ({@link fftInverse}) Gentleman–Sande butterflies back, so a convolution never
 * permutes. Both use one twiddle per block from a single table of M/2 values, do two stages per pass
 * over memory (radix 4: three complex multiplications per butterfly of four values), and recurse
 * depth first so that sub-transforms of 2^12 values run in the caches. The inverses are unnormalised:
 * {@link realInverse} returns N times the sequence, and N is a power of two, so dividing by it is exact.
 *
 * Speed. The passes exist twice: in TypeScript, and as WebAssembly with 128-bit SIMD (one complex value
 * per f64x2 vector, assembled in this module from opcodes), which is about twice as fast and, above the
 * cache-sized leaves, also does two radix-4 levels per pass over memory, tile by tile. Both compute the
 * same IEEE operations in the same order, so their results agree bit for bit; the WebAssembly kernels
 * run where the runtime has them ({@link fftWorkspace}). A real transform of 2^21 values takes about
 * 9 ms with them, 17 ms in TypeScript, against 39 ms for the number-theoretic transform of the same
 * length (the exact NTT the tests keep as an oracle): JavaScript multiplies doubles in one instruction, while a product modulo
 * a 28-bit prime takes several, and a real input of length N needs a complex transform of only N/2.
 *
 * @module
 */

/** log2 of the longest supported real transform: 2^25 values (256 MiB as a `Float64Array`). */
export const FFT_MAX_LOG2 = 25;
/** log2 of the shortest supported real transform: 4 values. */
export const FFT_MIN_LOG2 = 2;
/** The unit roundoff of IEEE double precision, 2^−53. */
export const UNIT_ROUNDOFF = 2 ** -53;

/** Sub-transforms of at most this many complex values run pass by pass (64 KiB). */
const LEAF = 1 << 12;
/** Values per run in the WebAssembly two-level passes: 16 runs of 64 values are 16 KiB. */
const TILE = 64;
/** The WebAssembly passes' leaves: 2^10 values (16 KiB); above them two levels share a pass. */
const WASM_LEAF = 1 << 10;

/** The tables of one real transform length N = 2^log2Size, shared by every transform of that length. */
export interface FftTables {
  /** log2 of the real transform length N. */
  readonly log2Size: number;
  /** The real transform length N (values of a real sequence). */
  readonly size: number;
  /** M = N/2, the length of the complex FFT. */
  readonly half: number;
  /**
   * Interleaved twiddles: entry k (re at 2k, im at 2k + 1) is exp(−2πi·brv(k)/M) for k < max(1, M/2),
   * brv reversing log2(M) − 1 bits. It equals exp(−2πi·e/N) for e = brv′(k) reversing log2(M) bits,
   * the factor the untangling pass needs at slot k.
   */
  readonly twiddles: Float64Array;
  /** Real part of exp(−2πi/N), the extra factor for untangling slots M/2 … M − 1. */
  readonly stepRe: number;
  /** Imaginary part of exp(−2πi/N). */
  readonly stepIm: number;
  /**
   * Twist factors of the negacyclic transform ({@link negacyclicForward}): ζ^j = exp(πi·j/N) for
   * j < M is twistHigh[j >> twistBits]·twistLow[j & (2^twistBits − 1)], interleaved like the twiddles.
   */
  readonly twistLow: Float64Array;
  readonly twistHigh: Float64Array;
  readonly twistBits: number;
}

const tableCache = new Map<number, FftTables>();
/** Tables up to this real length stay cached between calls (8 MiB of twiddles). */
const CACHE_MAX_LOG2 = 21;

/** Reverses the low `bits` bits of `x`. */
export function bitReverse(x: number, bits: number): number {
  let r = 0;
  for (let b = 0; b < bits; b++) r = (r << 1) | ((x >>> b) & 1);
  return r;
}

/**
 * exp(−2πi·j/K) for a power of two K and 0 ≤ j < K, written at out[at], out[at + 1]. The angle is
 * reduced exactly (j/K is a dyadic fraction) to [0, π/4] before calling sin and cos, so the result is
 * within 3u of the exact value (u = 2^−53): the angle 2π·x carries a relative error of at most 1.35u
 * (π rounded, one product) on |angle| ≤ π/4, i.e. ≤ 1.1u absolute, and V8's sin and cos (fdlibm) err
 * by less than one unit in the last place, ≤ u on values below 1. Per component 2.1u, in modulus 3u.
 */
export function unitRoot(j: number, k: number, out: Float64Array, at: number): void {
  const r = j / k;
  const q = Math.floor(r * 4);
  const x = r - q / 4;
  let c: number;
  let s: number;
  if (x <= 0.125) {
    const th = 2 * Math.PI * x;
    c = Math.cos(th);
    s = Math.sin(th);
  } else {
    const th = 2 * Math.PI * (0.25 - x);
    c = Math.sin(th);
    s = Math.cos(th);
  }
  // (cos θ, sin θ) for θ = 2π·r: rotate (c, s) by q quarter turns, then conjugate.
  let cr = c;
  let sr = s;
  if (q === 1) {
    cr = -s;
    sr = c;
  } else if (q === 2) {
    cr = -c;
    sr = -s;
  } else if (q === 3) {
    cr = s;
    sr = -c;
  }
  out[at] = cr === 0 ? 0 : cr;
  out[at + 1] = sr === 0 ? 0 : -sr;
}

/** exp(+2πi·j/k) at out[at], out[at + 1], from {@link unitRoot}. */
function conjugateRoot(j: number, k: number, out: Float64Array, at: number): void {
  unitRoot(j, k, out, at);
  out[at + 1] = out[at + 1] === 0 ? 0 : -out[at + 1];
}

/**
 * The tables for real transforms of length 2^log2Size (FFT_MIN_LOG2 ≤ log2Size ≤ FFT_MAX_LOG2). Each
 * twiddle is the product of two roots from {@link unitRoot} (a coarse and a fine angle), so it is within
 * μ = 2·3u + √2·γ₂ + O(u²) < 9u of exact; building the table costs one complex product per entry.
 * Tables up to 2^21 are cached; larger ones (M/2 complex values, 128 MiB at 2^25) are built per call.
 */
export function fftTables(log2Size: number): FftTables {
  if (!Number.isInteger(log2Size) || log2Size < FFT_MIN_LOG2 || log2Size > FFT_MAX_LOG2) {
    throw new RangeError(
      `fftTables: log2Size must be an integer in [${FFT_MIN_LOG2}, ${FFT_MAX_LOG2}], got ${log2Size}`,
    );
  }
  const cached = tableCache.get(log2Size);
  if (cached) return cached;
  const size = 1 << log2Size;
  const half = size >>> 1;
  const m = log2Size - 1;
  const h = m - 1; // bits of a twiddle index
  const count = Math.max(1, half >>> 1);
  const twiddles = new Float64Array(2 * count);
  // k = a·2^s + c: brv_h(k) = brv_s(c)·2^(h−s) + brv_(h−s)(a), so the twiddle is hi[a]·lo[c].
  const s = h >>> 1;
  const lo = new Float64Array(2 << s);
  const hi = new Float64Array(2 << (h - s));
  for (let c = 0; c < 1 << s; c++) unitRoot(bitReverse(c, s) * 2 ** (h - s), half, lo, 2 * c);
  for (let a = 0; a < 1 << (h - s); a++) unitRoot(bitReverse(a, h - s), half, hi, 2 * a);
  for (let k = 0; k < count; k++) {
    const a = k >>> s;
    const c = k & ((1 << s) - 1);
    const ar = hi[2 * a];
    const ai = hi[2 * a + 1];
    const cr = lo[2 * c];
    const ci = lo[2 * c + 1];
    twiddles[2 * k] = ar * cr - ai * ci;
    twiddles[2 * k + 1] = ar * ci + ai * cr;
  }
  const step = new Float64Array(2);
  unitRoot(1, size, step, 0);
  // ζ^j = exp(πi·j/N) = conj exp(−2πi·j/2N), j = h·2^b + l: a coarse and a fine root, like the twiddles.
  const twistBits = m >>> 1;
  const twistLow = new Float64Array(2 << twistBits);
  const twistHigh = new Float64Array(2 << (m - twistBits));
  for (let l = 0; l < 1 << twistBits; l++) conjugateRoot(l, 2 * size, twistLow, 2 * l);
  for (let h = 0; h < 1 << (m - twistBits); h++) conjugateRoot(h << twistBits, 2 * size, twistHigh, 2 * h);
  const tables: FftTables = {
    log2Size,
    size,
    half,
    twiddles,
    stepRe: step[0],
    stepIm: step[1],
    twistLow,
    twistHigh,
    twistBits,
  };
  if (log2Size <= CACHE_MAX_LOG2) tableCache.set(log2Size, tables);
  return tables;
}

function checkLength(a: Float64Array, tables: FftTables, what: string): void {
  if (a.length !== tables.size) {
    throw new RangeError(
      `${what}: array length ${a.length} does not match the tables' length ${tables.size}`,
    );
  }
}

/* -------------------------------------------------------------------------------------------- */
/* Complex FFT, natural order in, bit-reversed order out.                                        */
/* -------------------------------------------------------------------------------------------- */

/**
 * One radix-4 pass (two Cooley–Tukey stages) over every block of `len` complex values in
 * [off, off + span): block b has index k = k0 + b at its level. With A = x0, B = t1·x2, C = t2·x1,
 * D = t1t2·x3 (t1 = tw[k], t2 = tw[2k], and tw[2k + 1] = −i·t2), the outputs are (A + B) ± (C + D)
 * and (A − B) ∓ i(C − D).
 */
function forwardPass4(
  a: Float64Array,
  tw: Float64Array,
  off: number,
  span: number,
  len: number,
  k0: number,
): void {
  const q2 = len >>> 1; // a quarter block, in doubles
  const blocks = span / len;
  for (let b = 0; b < blocks; b++) {
    const k = k0 + b;
    const t1r = tw[2 * k];
    const t1i = tw[2 * k + 1];
    const t2r = tw[4 * k];
    const t2i = tw[4 * k + 1];
    const t3r = t1r * t2r - t1i * t2i;
    const t3i = t1r * t2i + t1i * t2r;
    const base = 2 * (off + b * len);
    const end = base + q2;
    for (let i = base; i < end; i += 2) {
      const i1 = i + q2;
      const i2 = i1 + q2;
      const i3 = i2 + q2;
      const ar = a[i];
      const ai = a[i + 1];
      let xr = a[i2];
      let xi = a[i2 + 1];
      const br = xr * t1r - xi * t1i;
      const bi = xr * t1i + xi * t1r;
      xr = a[i1];
      xi = a[i1 + 1];
      const cr = xr * t2r - xi * t2i;
      const ci = xr * t2i + xi * t2r;
      xr = a[i3];
      xi = a[i3 + 1];
      const dr = xr * t3r - xi * t3i;
      const di = xr * t3i + xi * t3r;
      const s0r = ar + br;
      const s0i = ai + bi;
      const s1r = ar - br;
      const s1i = ai - bi;
      const s2r = cr + dr;
      const s2i = ci + di;
      const s3r = cr - dr;
      const s3i = ci - di;
      a[i] = s0r + s2r;
      a[i + 1] = s0i + s2i;
      a[i1] = s0r - s2r;
      a[i1 + 1] = s0i - s2i;
      a[i2] = s1r + s3i;
      a[i2 + 1] = s1i - s3r;
      a[i3] = s1r - s3i;
      a[i3 + 1] = s1i + s3r;
    }
  }
}

function forwardBlock(a: Float64Array, tw: Float64Array, off: number, len: number, k: number): void {
  if (len <= LEAF) {
    for (let l = len, k0 = k; l >= 4; l >>>= 2, k0 *= 4) forwardPass4(a, tw, off, len, l, k0);
    return;
  }
  forwardPass4(a, tw, off, len, len, k);
  const q = len >>> 2;
  for (let c = 0; c < 4; c++) forwardBlock(a, tw, off + c * q, q, 4 * k + c);
}

/**
 * In-place complex FFT of the M = N/2 interleaved complex values in `a` (length N), natural order in,
 * bit-reversed order out: afterwards slot p holds Σ_j z_j·exp(−2πi·j·brv(p)/M).
 */
export function fftForward(a: Float64Array, tables: FftTables): void {
  checkLength(a, tables, "fftForward");
  const n = tables.half;
  const tw = tables.twiddles;
  if ((tables.log2Size - 1) & 1) {
    // One radix-2 stage first, with twiddle 1, so that every remaining block is a power of 4 long.
    const h = n; // half of M complex values, in doubles
    for (let i = 0; i < h; i++) {
      const u = a[i];
      const v = a[i + h];
      a[i] = u + v;
      a[i + h] = u - v;
    }
    if (n === 2) return;
    forwardBlock(a, tw, 0, n >>> 1, 0);
    forwardBlock(a, tw, n >>> 1, n >>> 1, 1);
    return;
  }
  forwardBlock(a, tw, 0, n, 0);
}

/* -------------------------------------------------------------------------------------------- */
/* Complex inverse FFT, bit-reversed order in, natural order out, unnormalised.                  */
/* -------------------------------------------------------------------------------------------- */

/**
 * The inverse of {@link forwardPass4} times 4: from z0…z3 it forms s = z0 + z1, d = z0 − z1,
 * s′ = z2 + z3, d′ = z3 − z2 and returns x0 = s + s′, x2 = t̄1(s − s′), x1 = t̄2(d − i·d′),
 * x3 = conj(t1t2)(d + i·d′).
 */
function inversePass4(
  a: Float64Array,
  tw: Float64Array,
  off: number,
  span: number,
  len: number,
  k0: number,
): void {
  const q2 = len >>> 1;
  const blocks = span / len;
  for (let b = 0; b < blocks; b++) {
    const k = k0 + b;
    const t1r = tw[2 * k];
    const t1i = tw[2 * k + 1];
    const t2r = tw[4 * k];
    const t2i = tw[4 * k + 1];
    const t3r = t1r * t2r - t1i * t2i;
    const t3i = t1r * t2i + t1i * t2r;
    const base = 2 * (off + b * len);
    const end = base + q2;
    for (let i = base; i < end; i += 2) {
      const i1 = i + q2;
      const i2 = i1 + q2;
      const i3 = i2 + q2;
      const z0r = a[i];
      const z0i = a[i + 1];
      const z1r = a[i1];
      const z1i = a[i1 + 1];
      const z2r = a[i2];
      const z2i = a[i2 + 1];
      const z3r = a[i3];
      const z3i = a[i3 + 1];
      const sr = z0r + z1r;
      const si = z0i + z1i;
      const dr = z0r - z1r;
      const di = z0i - z1i;
      const s2r = z2r + z3r;
      const s2i = z2i + z3i;
      const d2r = z3r - z2r;
      const d2i = z3i - z2i;
      a[i] = sr + s2r;
      a[i + 1] = si + s2i;
      // x2 = conj(t1)·(s − s′)
      let ur = sr - s2r;
      let ui = si - s2i;
      a[i2] = ur * t1r + ui * t1i;
      a[i2 + 1] = ui * t1r - ur * t1i;
      // x1 = conj(t2)·(d − i·d′), x3 = conj(t1t2)·(d + i·d′)
      ur = dr + d2i;
      ui = di - d2r;
      a[i1] = ur * t2r + ui * t2i;
      a[i1 + 1] = ui * t2r - ur * t2i;
      ur = dr - d2i;
      ui = di + d2r;
      a[i3] = ur * t3r + ui * t3i;
      a[i3 + 1] = ui * t3r - ur * t3i;
    }
  }
}

function inverseBlock(a: Float64Array, tw: Float64Array, off: number, len: number, k: number): void {
  if (len <= LEAF) {
    for (let l = 4, k0 = k * (len >>> 2); l <= len; l <<= 2, k0 >>>= 2) inversePass4(a, tw, off, len, l, k0);
    return;
  }
  const q = len >>> 2;
  for (let c = 0; c < 4; c++) inverseBlock(a, tw, off + c * q, q, 4 * k + c);
  inversePass4(a, tw, off, len, len, k);
}

/**
 * In-place inverse of {@link fftForward} times M: bit-reversed order in, natural order out, so
 * `fftInverse(fftForward(z))` = M·z.
 */
export function fftInverse(a: Float64Array, tables: FftTables): void {
  checkLength(a, tables, "fftInverse");
  const n = tables.half;
  const tw = tables.twiddles;
  if ((tables.log2Size - 1) & 1) {
    if (n > 2) {
      inverseBlock(a, tw, 0, n >>> 1, 0);
      inverseBlock(a, tw, n >>> 1, n >>> 1, 1);
    }
    const h = n;
    for (let i = 0; i < h; i++) {
      const u = a[i];
      const v = a[i + h];
      a[i] = u + v;
      a[i + h] = u - v;
    }
    return;
  }
  inverseBlock(a, tw, 0, n, 0);
}

/* -------------------------------------------------------------------------------------------- */
/* Real transforms: the complex FFT of the packed sequence plus (un)tangling of its spectrum.   */
/* -------------------------------------------------------------------------------------------- */

/**
 * Turns Z = FFT_M(x_even + i·x_odd), bit-reversed, into the half spectrum of x in place. For the
 * frequency e at slot p and its mirror M − e at slot p′ (p′ = 3·2^j − 1 − p within the octave
 * [2^j, 2^(j+1)) of p), E = (Z_e + conj Z_(M−e))/2 and O = (Z_e − conj Z_(M−e))/(2i) are the spectra of
 * the even and odd samples, and X_e = E + w^e·O, X_(M−e) = conj(E − w^e·O) with w = exp(−2πi/N).
 * Every loop is in a function of its own, which keeps V8 from repeatedly deoptimising code compiled
 * in the middle of a long loop.
 */
function untangle(a: Float64Array, tables: FftTables): void {
  const z0r = a[0];
  const z0i = a[1];
  a[0] = z0r + z0i; // X[0]
  a[1] = z0r - z0i; // X[M]
  a[3] = -a[3]; // X[M/2] = conj Z[M/2]
  const hm = tables.half >>> 1;
  for (let lo = 2; lo < hm; lo <<= 1) untangleOctave(a, tables.twiddles, lo);
  if (hm >= 2) untangleTop(a, tables.twiddles, hm, tables.stepRe, tables.stepIm);
}

/** The pairs of the octave [lo, 2·lo) below M/2, with w^e = tw[p]. */
function untangleOctave(a: Float64Array, tw: Float64Array, lo: number): void {
  for (let p = lo, q = 2 * lo - 1; p < q; p++, q--) untanglePair(a, 2 * p, 2 * q, tw[2 * p], tw[2 * p + 1]);
}

/** The pairs of the top octave [M/2, M), with w^e = tw[p − M/2]·exp(−2πi/N). */
function untangleTop(a: Float64Array, tw: Float64Array, hm: number, sr: number, si: number): void {
  for (let p = hm, q = 2 * hm - 1; p < q; p++, q--) {
    const br = tw[2 * (p - hm)];
    const bi = tw[2 * (p - hm) + 1];
    untanglePair(a, 2 * p, 2 * q, br * sr - bi * si, br * si + bi * sr);
  }
}

function untanglePair(a: Float64Array, p: number, q: number, wr: number, wi: number): void {
  const pr = a[p];
  const pi = a[p + 1];
  const qr = a[q];
  const qi = a[q + 1];
  const er = 0.5 * (pr + qr);
  const ei = 0.5 * (pi - qi);
  const or = 0.5 * (pi + qi);
  const oi = 0.5 * (qr - pr);
  const tr = wr * or - wi * oi;
  const ti = wr * oi + wi * or;
  a[p] = er + tr;
  a[p + 1] = ei + ti;
  a[q] = er - tr;
  a[q + 1] = -(ei - ti);
}

/**
 * The inverse of {@link untangle} times 2: from the half spectrum P of a real sequence c, slot p gets
 * 2·(E + i·O) with E = (P_e + conj P_(M−e))/2 and O = (P_e − conj P_(M−e))·conj(w^e)/2, the spectra of
 * the even and odd samples of c.
 */
function retangle(a: Float64Array, tables: FftTables): void {
  const p0 = a[0];
  const pm = a[1];
  a[0] = p0 + pm;
  a[1] = p0 - pm;
  a[2] = 2 * a[2];
  a[3] = -2 * a[3];
  const hm = tables.half >>> 1;
  for (let lo = 2; lo < hm; lo <<= 1) retangleOctave(a, tables.twiddles, lo);
  if (hm >= 2) retangleTop(a, tables.twiddles, hm, tables.stepRe, tables.stepIm);
}

function retangleOctave(a: Float64Array, tw: Float64Array, lo: number): void {
  for (let p = lo, q = 2 * lo - 1; p < q; p++, q--) retanglePair(a, 2 * p, 2 * q, tw[2 * p], tw[2 * p + 1]);
}

function retangleTop(a: Float64Array, tw: Float64Array, hm: number, sr: number, si: number): void {
  for (let p = hm, q = 2 * hm - 1; p < q; p++, q--) {
    const br = tw[2 * (p - hm)];
    const bi = tw[2 * (p - hm) + 1];
    retanglePair(a, 2 * p, 2 * q, br * sr - bi * si, br * si + bi * sr);
  }
}

function retanglePair(a: Float64Array, p: number, q: number, wr: number, wi: number): void {
  const pr = a[p];
  const pi = a[p + 1];
  const qr = a[q];
  const qi = a[q + 1];
  const ar = pr + qr;
  const ai = pi - qi;
  const dr = pr - qr;
  const di = pi + qi;
  const br = dr * wr + di * wi;
  const bi = di * wr - dr * wi;
  a[p] = ar - bi;
  a[p + 1] = ai + br;
  a[q] = ar + bi;
  a[q + 1] = -(ai - br);
}

/**
 * In-place forward transform of N real values: afterwards `a` holds the half spectrum in the layout of
 * the module comment, slot p = X[brv(p)] for p ≥ 1 and slot 0 = (X[0], X[M]), where
 * X[e] = Σ_j x_j·exp(−2πi·j·e/N).
 */
export function realForward(a: Float64Array, tables: FftTables): void {
  checkLength(a, tables, "realForward");
  fftForward(a, tables);
  untangle(a, tables);
}

/** In-place inverse of {@link realForward} times N: `realInverse(realForward(x))` = N·x. */
export function realInverse(a: Float64Array, tables: FftTables): void {
  checkLength(a, tables, "realInverse");
  retangle(a, tables);
  fftInverse(a, tables);
}

/**
 * Slot-by-slot products of two half spectra: acc ← x·y, or acc ← acc + x·y when `accumulate`. Slot 0
 * holds two real values and is multiplied componentwise. `acc` may be `x` or `y`.
 */
export function multiplySpectra(
  acc: Float64Array,
  x: Float64Array,
  y: Float64Array,
  accumulate: boolean,
): void {
  const n = acc.length;
  if (x.length !== n || y.length !== n) throw new RangeError("multiplySpectra: lengths differ");
  if (accumulate) {
    acc[0] += x[0] * y[0];
    acc[1] += x[1] * y[1];
    multiplyAdd(acc, x, y, n);
  } else {
    acc[0] = x[0] * y[0];
    acc[1] = x[1] * y[1];
    multiplyInto(acc, x, y, n);
  }
}

function multiplyAdd(acc: Float64Array, x: Float64Array, y: Float64Array, n: number): void {
  for (let i = 2; i < n; i += 2) {
    const xr = x[i];
    const xi = x[i + 1];
    const yr = y[i];
    const yi = y[i + 1];
    acc[i] += xr * yr - xi * yi;
    acc[i + 1] += xr * yi + xi * yr;
  }
}

function multiplyInto(acc: Float64Array, x: Float64Array, y: Float64Array, n: number): void {
  for (let i = 2; i < n; i += 2) {
    const xr = x[i];
    const xi = x[i + 1];
    const yr = y[i];
    const yi = y[i + 1];
    acc[i] = xr * yr - xi * yi;
    acc[i + 1] = xr * yi + xi * yr;
  }
}

/** The frequency e whose value slot p ≥ 1 of a half spectrum of length 2^log2Size holds (brv(p)). */
export function spectrumFrequency(p: number, log2Size: number): number {
  return bitReverse(p, log2Size - 1);
}

/**
 * Slot-by-slot products of two complex spectra (no special slot): acc ← x·y, or acc ← acc + x·y.
 * `acc` may be `x` or `y`.
 */
export function multiplyComplex(
  acc: Float64Array,
  x: Float64Array,
  y: Float64Array,
  accumulate: boolean,
): void {
  const n = acc.length;
  if (x.length !== n || y.length !== n) throw new RangeError("multiplyComplex: lengths differ");
  if (accumulate) {
    acc[0] += x[0] * y[0] - x[1] * y[1];
    acc[1] += x[0] * y[1] + x[1] * y[0];
    multiplyAdd(acc, x, y, n);
  } else {
    const r = x[0] * y[0] - x[1] * y[1];
    acc[1] = x[0] * y[1] + x[1] * y[0];
    acc[0] = r;
    multiplyInto(acc, x, y, n);
  }
}

/* -------------------------------------------------------------------------------------------- */
/* Negacyclic transforms: convolutions modulo z^N + 1 of real sequences ("right-angle").          */
/* -------------------------------------------------------------------------------------------- */

/**
 * Multiplies complex value j of `a` by ζ^j = exp(πi·j/N), or by its conjugate with `conjugate`,
 * j < M. ζ^j is formed as twistHigh·twistLow (one complex product) and then multiplies the value.
 */
function twist(a: Float64Array, tables: FftTables, conjugate: boolean): void {
  const bits = tables.twistBits;
  const count = 1 << bits;
  const lo = tables.twistLow;
  const hi = tables.twistHigh;
  for (let h = 0; h < tables.half >>> bits; h++) {
    twistRow(a, 2 * (h << bits), count, hi[2 * h], hi[2 * h + 1], lo, conjugate);
  }
}

function twistRow(
  a: Float64Array,
  at: number,
  count: number,
  hr: number,
  hi: number,
  lo: Float64Array,
  conjugate: boolean,
): void {
  for (let l = 0; l < count; l++) {
    const lr = lo[2 * l];
    const li = lo[2 * l + 1];
    const zr = hr * lr - hi * li;
    const zi = hr * li + hi * lr;
    const i = at + 2 * l;
    const ar = a[i];
    const ai = a[i + 1];
    if (conjugate) {
      a[i] = ar * zr + ai * zi;
      a[i + 1] = ai * zr - ar * zi;
    } else {
      a[i] = ar * zr - ai * zi;
      a[i + 1] = ar * zi + ai * zr;
    }
  }
}

/**
 * Negacyclic forward transform: `a` holds a real sequence v of length N packed as the M = N/2 complex
 * values v_j + i·v_(j+M). Afterwards it holds the FFT of (v_j + i·v_(j+M))·ζ^j (ζ^M = i), in
 * bit-reversed order; these spectra multiply slot by slot ({@link multiplyComplex}) into the spectrum
 * of the product modulo z^N + 1, which is the product modulo z^M − i since v is real (Crandall & Fagin,
 * "Discrete weighted transforms and large-integer arithmetic", Math. Comp. 62 (1994)).
 */
export function negacyclicForward(a: Float64Array, tables: FftTables): void {
  checkLength(a, tables, "negacyclicForward");
  twist(a, tables, false);
  fftForward(a, tables);
}

/**
 * The inverse of {@link negacyclicForward} times M: afterwards a[2j] = M·c_j and a[2j + 1] = M·c_(j+M),
 * c being the real sequence.
 */
export function negacyclicInverse(a: Float64Array, tables: FftTables): void {
  checkLength(a, tables, "negacyclicInverse");
  fftInverse(a, tables);
  twist(a, tables, true);
}

/**
 * The negacyclic convolution of two real sequences of a common power-of-two length N
 * (4 ≤ N ≤ 2^25): c[k] = Σ_{i+j = k} x[i]·y[j] − Σ_{i+j = k+N} x[i]·y[j], in floating point.
 */
export function realNegacyclicConvolution(x: ArrayLike<number>, y: ArrayLike<number>): Float64Array {
  const n = checkConvolutionLength(x, y, "realNegacyclicConvolution");
  const tables = fftTables(Math.log2(n));
  const half = n / 2;
  const pack = (v: ArrayLike<number>): Float64Array => {
    const a = new Float64Array(n);
    for (let j = 0; j < half; j++) {
      a[2 * j] = v[j];
      a[2 * j + 1] = v[j + half];
    }
    return a;
  };
  const a = pack(x);
  const b = pack(y);
  negacyclicForward(a, tables);
  negacyclicForward(b, tables);
  multiplyComplex(a, a, b, false);
  negacyclicInverse(a, tables);
  const out = new Float64Array(n);
  for (let j = 0; j < half; j++) {
    out[j] = a[2 * j] / half;
    out[j + half] = a[2 * j + 1] / half;
  }
  return out;
}

function checkConvolutionLength(x: ArrayLike<number>, y: ArrayLike<number>, what: string): number {
  if (x.length !== y.length) throw new RangeError(`${what}: lengths ${x.length} and ${y.length} differ`);
  const n = x.length;
  const log2 = Math.log2(n);
  if (!Number.isInteger(log2) || log2 < FFT_MIN_LOG2 || log2 > FFT_MAX_LOG2) {
    throw new RangeError(
      `${what}: length must be a power of two in [2^${FFT_MIN_LOG2}, 2^${FFT_MAX_LOG2}], got ${n}`,
    );
  }
  return n;
}

/**
 * dst[t] = v[t] + v[t + L] for t < L = dst.length, v being the 2L bytes of `src` (0 or 1, else the
 * caller rejects them by the returned OR of all bytes): a 0/1 sequence of length 2L reduced modulo
 * z^L − 1. Four bytes at a time: the bytes of a sum of two words are the sums of the bytes, at most 2.
 * `src` must start at a multiple of 4 bytes and L be a multiple of 4.
 */
export function foldCyclic(src: Uint8Array, dst: Float64Array): number {
  const q = dst.length >>> 2;
  const words = new Uint32Array(src.buffer, src.byteOffset, 2 * q);
  return foldCyclicWords(words, dst, q);
}

function foldCyclicWords(words: Uint32Array, buf: Float64Array, q: number): number {
  let bad = 0;
  for (let k = 0, o = 0; k < q; k++, o += 4) {
    const a = words[k];
    const b = words[k + q];
    bad |= a | b;
    const v = a + b;
    buf[o] = v & 0xff;
    buf[o + 1] = (v >>> 8) & 0xff;
    buf[o + 2] = (v >>> 16) & 0xff;
    buf[o + 3] = v >>> 24;
  }
  return bad;
}

/**
 * dst[2j] = v[j] − v[j + L], dst[2j + 1] = v[j + M] − v[j + M + L] for j < M = L/2, L = dst.length: the
 * reduction of the 2L bytes of `src` modulo z^L + 1, packed as M complex values for
 * {@link negacyclicForward} (which twists them). Bytewise a + 1 − b lies in [0, 2], so
 * word + 0x01010101 − word borrows across no byte; each byte less 1 is a difference. Returns the OR of
 * all bytes. `src` must start at a multiple of 4 bytes and L be a multiple of 8.
 */
export function foldNegacyclic(src: Uint8Array, dst: Float64Array): number {
  const q = dst.length >>> 2;
  const words = new Uint32Array(src.buffer, src.byteOffset, 2 * q);
  return foldNegacyclicWords(words, dst, q);
}

function foldNegacyclicWords(words: Uint32Array, buf: Float64Array, q: number): number {
  const h = q >>> 1; // M/4
  const ones = 0x01010101;
  let bad = 0;
  for (let k = 0, o = 0; k < h; k++, o += 8) {
    const a = words[k];
    const b = words[k + q];
    const c = words[k + h];
    const d = words[k + h + q];
    bad |= a | b | c | d;
    const re = a + ones - b;
    const im = c + ones - d;
    buf[o] = (re & 0xff) - 1;
    buf[o + 1] = (im & 0xff) - 1;
    buf[o + 2] = ((re >>> 8) & 0xff) - 1;
    buf[o + 3] = ((im >>> 8) & 0xff) - 1;
    buf[o + 4] = ((re >>> 16) & 0xff) - 1;
    buf[o + 5] = ((im >>> 16) & 0xff) - 1;
    buf[o + 6] = (re >>> 24) - 1;
    buf[o + 7] = (im >>> 24) - 1;
  }
  return bad;
}

/** 1.5·2^52: adding and subtracting it rounds a double below 2^51 in magnitude to the nearest integer, ties to even. */
const ROUND = 6755399441055744;

/**
 * Reduces convolution values to the bytes of an output: for i < count, with the integer
 * c = nearest(src[from + stride·i]·scale) (ties to even, as WebAssembly's f64.nearest), mode 0 sets
 * out[at + i] ^= c & 1, mode 1 sets out[at + i] = (out[at + i] + c) & 3 and mode 2
 * out[at + i] = (out[at + i] − c) & 3. |c| must stay below 2^31.
 */
export function roundInto(
  out: Uint8Array,
  at: number,
  src: Float64Array,
  from: number,
  count: number,
  stride: number,
  scale: number,
  mode: 0 | 1 | 2,
): void {
  if (mode === 0) xorRounded(out, at, src, from, count, stride, scale);
  else if (mode === 1) addRounded(out, at, src, from, count, stride, scale);
  else subtractRounded(out, at, src, from, count, stride, scale);
}

function xorRounded(
  o: Uint8Array,
  at: number,
  c: Float64Array,
  from: number,
  n: number,
  s: number,
  k: number,
): void {
  for (let i = 0, j = from; i < n; i++, j += s) o[at + i] ^= (c[j] * k + ROUND - ROUND) & 1;
}

function addRounded(
  o: Uint8Array,
  at: number,
  c: Float64Array,
  from: number,
  n: number,
  s: number,
  k: number,
): void {
  for (let i = 0, j = from; i < n; i++, j += s) o[at + i] = (o[at + i] + (c[j] * k + ROUND - ROUND)) & 3;
}

function subtractRounded(
  o: Uint8Array,
  at: number,
  c: Float64Array,
  from: number,
  n: number,
  s: number,
  k: number,
): void {
  for (let i = 0, j = from; i < n; i++, j += s) o[at + i] = (o[at + i] - (c[j] * k + ROUND - ROUND)) & 3;
}

/* -------------------------------------------------------------------------------------------- */
/* Error bounds.                                                                                 */
/* -------------------------------------------------------------------------------------------- */

/** γ_k = k·u/(1 − k·u) (Higham 2002, §3.1). */
function gamma(k: number): number {
  return (k * UNIT_ROUNDOFF) / (1 - k * UNIT_ROUNDOFF);
}

/**
 * ε_T: a bound on the relative 2-norm error ‖ŷ − y‖₂/‖y‖₂ of {@link realForward} and
 * {@link realInverse} (on their stored half spectra), and of {@link negacyclicForward} and
 * {@link negacyclicInverse}, for real length N = 2^log2Size, M = N/2, m = log2 M: ε_T = (16·m + 32)·u.
 *
 * Derivation, in the style of Higham, "Accuracy and Stability of Numerical Algorithms" (2002), Thm 24.2:
 * every pass maps each group of values by a scaled unitary matrix, so if a pass adds an error of at most
 * ρ times the norm of its exact output, the transform errs by at most Π(1 + ρ) − 1 relative to ‖y‖₂.
 * Twiddles are within μ < 9u ({@link fftTables}); a twiddle product t1·t2 formed per block is within
 * 2μ + √2γ₂ + O(u²) < 21u. A complex product errs by √2γ₂|a||b| (Higham, Lemma 3.5), so each of the
 * three twiddled inputs of a radix-4 butterfly is within β < 24u·|x_j| of exact; the four outputs are
 * sums of four terms formed in two rounding steps, off by at most γ₂·Σ|terms| ≤ 2γ₂‖terms‖₂ each, while
 * the exact butterfly doubles the norm. So ρ ≤ β + 2γ₂(1 + β) < 28u per radix-4 pass (two stages), and
 * the same for the inverse butterflies, which add first and multiply last. The odd radix-2 stage has
 * twiddle 1 (ρ < 2u). The (un)tangling pass uses w^e within μ + 3u + √2γ₂ < 15u and, per pair of
 * slots (a unitary map up to a factor 2), errs by ρ < 15u + 7u. The negacyclic twist instead forms
 * ζ^j within 2·3u + √2γ₂ < 9u and multiplies by it (ρ < 12u). Hence ε_T < 14u·m + 24u; the constants
 * are rounded up.
 */
export function transformErrorBound(log2Size: number): number {
  const m = log2Size - 1;
  return (16 * m + 32) * UNIT_ROUNDOFF;
}

/**
 * A bound on max_i |ĉ_i − c_i| when c = Σ_g x_g ⊛ y_g (G terms) is computed as the real inverse of
 * Σ_g realForward(x_g)·realForward(y_g) divided by N, for 0/1 sequences x_g with at most `xOnes` ones
 * and y_g with at most `yOnes` ones, length N = 2^log2Size. If it is below 1/2, rounding ĉ recovers c
 * exactly.
 *
 * With ε = {@link transformErrorBound}, X = realForward(x) (‖X‖₂ = √M‖x‖₂, ‖X‖∞ ≤ ‖x‖₁, likewise Y):
 * the computed spectra err by ‖ΔX‖₂ ≤ ε√M‖x‖₂; products and the sum over G terms add at most
 * α = √2γ₂ + γ_(G−1)(1 + √2γ₂) times Σ|X||Y| per slot; so the accumulated spectrum errs in 2-norm by
 * at most Σ_g √M·(ε‖x_g‖₂‖y_g‖₁ + (ε + α)‖x_g‖₁‖y_g‖₂), to first order. The inverse maps an error
 * of norm e to a sequence error of norm e/√M and adds ε‖c‖₂ ≤ ε·Σ_g‖x_g‖₁‖y_g‖₂ (Young's inequality).
 * The max-norm is at most the 2-norm, and for 0/1 data ‖x‖₁ ≤ X₁, ‖x‖₂ ≤ √X₁:
 *
 *     |ĉ − c| ≤ G·[(1 + ε)(ε·√X₁·Y₁ + (ε + α)·X₁·√Y₁) + ε·X₁·√Y₁]·(1 + 10^−6),
 *
 * the last factor covering the second-order terms (each below ε√M < 2^−30 relative). For equal blocks
 * of L bits (X₁ = L, Y₁ = 2L) this is about G·L^1.5·(4.8ε + 1.4α): 0.015·G for L = 2^24, N = 2^25.
 *
 * The same holds for negacyclic products ({@link negacyclicForward}, {@link multiplyComplex}), whose
 * spectra obey the same norm relations. With `folded`, x_g and y_g are instead sums or differences
 * a_t ± b_t of two 0/1 sequences with X₁ (Y₁) ones in all, as when a length-2N product is split into a
 * cyclic and a negacyclic one of length N: the 1-norms stay below X₁ and Y₁, the 2-norms below √(2X₁)
 * and √(2Y₁), since (a ± b)² ≤ 2(a + b) for bits.
 */
export function convolutionErrorBound(
  log2Size: number,
  xOnes: number,
  yOnes: number,
  terms: number,
  folded = false,
): number {
  const eps = transformErrorBound(log2Size);
  const alpha = Math.SQRT2 * gamma(2) + gamma(Math.max(0, terms - 1)) * (1 + Math.SQRT2 * gamma(2));
  const sx = Math.sqrt(folded ? 2 * xOnes : xOnes);
  const sy = Math.sqrt(folded ? 2 * yOnes : yOnes);
  const perTerm = (1 + eps) * (eps * sx * yOnes + (eps + alpha) * xOnes * sy) + eps * xOnes * sy;
  return terms * perTerm * (1 + 1e-6);
}

/**
 * The cyclic convolution of two real sequences of a common power-of-two length N (4 ≤ N ≤ 2^25):
 * c[k] = Σ_{i+j ≡ k (mod N)} x[i]·y[j], in floating point. For 0/1 inputs whose
 * {@link convolutionErrorBound} is below 1/2, `Math.round` of each value is the exact integer.
 */
export function realCyclicConvolution(x: ArrayLike<number>, y: ArrayLike<number>): Float64Array {
  const n = checkConvolutionLength(x, y, "realCyclicConvolution");
  const tables = fftTables(Math.log2(n));
  const a = Float64Array.from(x);
  const b = Float64Array.from(y);
  realForward(a, tables);
  realForward(b, tables);
  multiplySpectra(a, a, b, false);
  realInverse(a, tables);
  const scale = 1 / n;
  for (let i = 0; i < n; i++) a[i] *= scale;
  return a;
}

/* -------------------------------------------------------------------------------------------- */
/* WebAssembly SIMD kernels.                                                                      */
/* -------------------------------------------------------------------------------------------- */

/*
 * The passes, (un)tangling, twists, products, folds and rounding once more, as WebAssembly with 128-bit
 * SIMD: one complex value per f64x2 vector, about twice as fast as the TypeScript code. Every lane
 * performs the same IEEE operation on the same operands, in the same order, as the TypeScript code (a
 * complex product x·t is x·(t_re, t_re) + swap(x)·(−t_im, t_im); multiplying by ±1 and swapping lanes are
 * exact), so the results are bit-for-bit identical, which the tests check, and the error bounds carry
 * over unchanged. Above the cache-sized leaves, the WebAssembly transforms also fuse two radix-4 levels
 * per pass over memory ({@link pass16Kernel}), which reorders independent butterflies only. The module
 * is assembled below from a few dozen opcodes (WebAssembly core specification 2.0, §5, with the
 * fixed-width SIMD proposal) rather than shipped as an opaque binary. Where WebAssembly or its SIMD
 * extension is missing, the TypeScript code runs instead.
 */

/** The parts of the WebAssembly JavaScript API used here (the project's type libraries omit it). */
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { readonly exports: Record<string, unknown> };
  Memory: new (descriptor: { initial: number; maximum: number }) => { readonly buffer: ArrayBuffer };
}

/** A kernel on byte offsets into linear memory and complex indices. */
type Kernel6 = (a: number, tw: number, off: number, span: number, len: number, k0: number) => void;

interface WasmKernels {
  /** {@link forwardPass4} on the array at byte offset a with twiddles at byte offset tw. */
  readonly forward4: Kernel6;
  /** {@link inversePass4}, likewise. */
  readonly inverse4: Kernel6;
  /** Two forward levels on one block, tiled: (a, tw, off, len, k, tile); see {@link pass16Kernel}. */
  readonly forward16: Kernel6;
  /** Two inverse levels on one block, tiled. */
  readonly inverse16: Kernel6;
  /** x_i, x_(i+h) ← x_i + x_(i+h), x_i − x_(i+h) for the `bytes` bytes from a (a radix-2 stage with twiddle 1). */
  readonly butterfly2: (a: number, bytes: number) => void;
  /** {@link untangle} at byte offset a, twiddles at tw, M complex values, step exp(−2πi/N). */
  readonly untangle: (a: number, tw: number, half: number, stepRe: number, stepIm: number) => void;
  /** {@link retangle}, likewise. */
  readonly retangle: (a: number, tw: number, half: number, stepRe: number, stepIm: number) => void;
  /** {@link multiplySpectra} ({@link multiplyComplex} if `plain` is 1) on byte offsets, accumulating if `add` is 1. */
  readonly multiply: (acc: number, x: number, y: number, bytes: number, add: number, plain: number) => void;
  /** {@link twist} on byte offset a with the twist tables at byte offsets lo and hi. */
  readonly twist: (a: number, lo: number, hi: number, half: number, bits: number, conjugate: number) => void;
  /** {@link foldCyclic} from the bytes at src into the buffer at dst; the OR of the bytes. */
  readonly foldCyclic: (dst: number, src: number, half: number) => number;
  /** {@link foldNegacyclic} and the forward twist; the OR of the bytes. */
  readonly foldNegacyclic: (
    dst: number,
    src: number,
    half: number,
    lo: number,
    hi: number,
    bits: number,
  ) => number;
  /** {@link roundInto} on byte offsets, `stride` in bytes. */
  readonly roundInto: (
    dst: number,
    src: number,
    count: number,
    stride: number,
    scale: number,
    mode: number,
  ) => void;
}

const I32 = 0x7f;
const F64 = 0x7c;
const V128 = 0x7b;

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

function name(s: string): number[] {
  const bytes = Array.from(s, (c) => c.charCodeAt(0));
  return [...uleb(bytes.length), ...bytes];
}

/** One function body under construction: parameters of the given types, at most one result. */
class Body {
  readonly code: number[] = [];
  private readonly locals: number[] = [];
  private next: number;
  constructor(
    readonly params: readonly number[],
    readonly results: readonly number[] = [],
  ) {
    this.next = params.length;
  }
  local(type: number): number {
    this.locals.push(type);
    return this.next++;
  }
  private op(...bytes: number[]): this {
    for (const b of bytes) this.code.push(b);
    return this;
  }
  get(i: number): this {
    return this.op(0x20, ...uleb(i));
  }
  set(i: number): this {
    return this.op(0x21, ...uleb(i));
  }
  tee(i: number): this {
    return this.op(0x22, ...uleb(i));
  }
  i32(c: number): this {
    return this.op(0x41, ...sleb(c));
  }
  add(): this {
    return this.op(0x6a);
  }
  mul(): this {
    return this.op(0x6c);
  }
  shl(): this {
    return this.op(0x74);
  }
  divU(): this {
    return this.op(0x6e);
  }
  sub(): this {
    return this.op(0x6b);
  }
  or(): this {
    return this.op(0x72);
  }
  and(): this {
    return this.op(0x71);
  }
  xor(): this {
    return this.op(0x73);
  }
  /** select: the first operand if the i32 on top is non-zero, else the second. */
  select(): this {
    return this.op(0x1b);
  }
  /** i32.store8 at the address below the value. */
  storeByte(): this {
    return this.op(0x3a, 0x00, 0x00);
  }
  /** f64.load */
  loadF64(): this {
    return this.op(0x2b, 0x03, 0x00);
  }
  /** f64.store */
  storeF64(): this {
    return this.op(0x39, 0x03, 0x00);
  }
  /** f64.mul */
  mulF64(): this {
    return this.op(0xa2);
  }
  /** The nearest i32 of the f64 on the stack: f64.nearest (ties to even), i32.trunc_sat_f64_s. */
  roundToI32(): this {
    return this.op(0x9e, 0xfc, 0x02);
  }
  /** i32.load8_u at the address on the stack. */
  loadByte(): this {
    return this.op(0x2d, 0x00, 0x00);
  }
  /** f64.convert_i32_s */
  toF64(): this {
    return this.op(0xb7);
  }
  /** f64x2.replace_lane */
  replace(i: number): this {
    return this.op(0xfd, 0x22, i);
  }
  shrU(): this {
    return this.op(0x76);
  }
  geU(): this {
    return this.op(0x4f);
  }
  /** if … end around the code that `then` emits, on the i32 on the stack. */
  when(then: () => void): this {
    this.op(0x04, 0x40);
    then();
    return this.op(0x0b);
  }
  /** block + loop: `br 0` continues the loop, `br_if 1` leaves it. */
  loop(): this {
    return this.op(0x02, 0x40, 0x03, 0x40);
  }
  endLoop(): this {
    return this.op(0x0c, 0x00, 0x0b, 0x0b);
  }
  eq(): this {
    return this.op(0x46);
  }
  eqz(): this {
    return this.op(0x45);
  }
  breakIf(): this {
    return this.op(0x0d, 0x01);
  }
  load(): this {
    return this.op(0xfd, 0x00, 0x03, 0x00);
  }
  store(): this {
    return this.op(0xfd, 0x0b, 0x03, 0x00);
  }
  /** A v128 constant of two doubles. */
  f64x2(a: number, b: number): this {
    return this.op(0xfd, 0x0c, ...new Uint8Array(Float64Array.of(a, b).buffer));
  }
  fadd(): this {
    return this.op(0xfd, 0xf0, 0x01);
  }
  fsub(): this {
    return this.op(0xfd, 0xf1, 0x01);
  }
  fmul(): this {
    return this.op(0xfd, 0xf2, 0x01);
  }
  splat(): this {
    return this.op(0xfd, 0x14);
  }
  lane(i: number): this {
    return this.op(0xfd, 0x21, i);
  }
  /** Swaps the two doubles of the vector on the stack (given twice: shuffles take two operands). */
  swap(): this {
    return this.shuffle(1, 0);
  }
  /** (first[i], first[j]) of two vectors, lanes 2 and 3 naming the second's. */
  shuffle(i: number, j: number): this {
    const lane = (k: number): number[] => Array.from({ length: 8 }, (_, b) => 8 * k + b);
    return this.op(0xfd, 0x0d, ...lane(i), ...lane(j));
  }
  /** x·(r, r) + swap(x)·s for locals x, r, s: a complex product when s = (−t_im, t_im). */
  twist(x: number, r: number, s: number): this {
    return this.get(x).get(r).fmul().get(x).get(x).swap().get(s).fmul().fadd();
  }
  encode(): number[] {
    const groups: [number, number][] = [];
    for (const t of this.locals) {
      const last = groups[groups.length - 1];
      if (last && last[1] === t) last[0]++;
      else groups.push([1, t]);
    }
    const body = [...uleb(groups.length), ...groups.flatMap(([c, t]) => [...uleb(c), t]), ...this.code, 0x0b];
    return [...uleb(body.length), ...body];
  }
}

/** The locals one radix-4 butterfly loop uses (see {@link butterflyEmitter}). */
interface ButterflyLocals {
  i: number;
  end: number;
  i2: number;
  q: number;
  sign: number;
  x: number[];
  y: number[];
  u: number;
}

function butterflyLocals(f: Body): ButterflyLocals {
  const v = (): number => f.local(V128);
  return {
    i: f.local(I32),
    end: f.local(I32),
    i2: f.local(I32),
    q: f.local(I32),
    sign: v(),
    x: [v(), v(), v(), v()],
    y: [v(), v(), v(), v()],
    u: v(),
  };
}

/**
 * Emits: the twiddles (r1, s1, r2, s2, r3, s3) of the block with index in local k, from the table at
 * byte offset in local tw: for t1 = tw[k], t2 = tw[2k], t3 = t1·t2, r = (t_re, t_re) and
 * s = (−t_im, t_im) for x·t, or (t_im, −t_im) for x·conj(t) when `inverse`.
 */
function emitTwiddles(f: Body, inverse: boolean, tw: number, k: number, rs: number[], t: number[]): void {
  const [r1, s1, r2, s2, r3, s3] = rs;
  const [t1, t2, t3] = t;
  const split = (tv: number, r: number, sv: number): void => {
    f.get(tv).lane(0).splat().set(r);
    f.get(tv)
      .lane(1)
      .splat()
      .f64x2(inverse ? 1 : -1, inverse ? -1 : 1)
      .fmul()
      .set(sv);
  };
  f.get(tw).get(k).i32(4).shl().add().load().set(t1);
  f.get(tw).get(k).i32(5).shl().add().load().set(t2);
  // t3 = t1·t2 as t2·(t1_re, t1_re) + swap(t2)·(−t1_im, t1_im), like t1r·t2r − t1i·t2i, t1r·t2i + t1i·t2r.
  f.get(t1).lane(0).splat().set(r1);
  f.get(t1).lane(1).splat().f64x2(-1, 1).fmul().set(s1);
  f.twist(t2, r1, s1).set(t3);
  split(t1, r1, s1);
  split(t2, r2, s2);
  split(t3, r3, s3);
}

/**
 * Emits the loop of radix-4 butterflies (forward or inverse, as {@link forwardPass4} and
 * {@link inversePass4}) over the values at byte addresses [i, end) in steps of 16, the four inputs of
 * each q bytes apart; i, end, q are locals of `l` set by the caller.
 */
function emitButterflies(f: Body, inverse: boolean, l: ButterflyLocals, rs: number[]): void {
  const [r1, s1, r2, s2, r3, s3] = rs;
  const { i, end, i2, q, sign, u } = l;
  const [x0, x1, x2, x3] = l.x;
  const [y0, y1, y2, y3] = l.y;
  f.loop();
  f.get(i).get(end).geU().breakIf();
  f.get(i).get(q).add().get(q).add().set(i2);
  f.get(i).load().set(x0);
  f.get(i).get(q).add().load().set(x1);
  f.get(i2).load().set(x2);
  f.get(i2).get(q).add().load().set(x3);
  if (!inverse) {
    // A = x0, B = t1·x2, C = t2·x1, D = t3·x3; y = A ± B, C ± D.
    f.twist(x2, r1, s1).set(x2);
    f.twist(x1, r2, s2).set(x1);
    f.twist(x3, r3, s3).set(x3);
    f.get(x0).get(x2).fadd().set(y0);
    f.get(x0).get(x2).fsub().set(y1);
    f.get(x1).get(x3).fadd().set(y2);
    f.get(x1).get(x3).fsub().set(y3);
    f.get(i).get(y0).get(y2).fadd().store();
    f.get(i).get(q).add().get(y0).get(y2).fsub().store();
    // −i·(C − D) = (y3_im, −y3_re)
    f.get(y3).get(y3).swap().get(sign).fmul().set(u);
    f.get(i2).get(y1).get(u).fadd().store();
    f.get(i2).get(q).add().get(y1).get(u).fsub().store();
  } else {
    // s = z0 + z1, d = z0 − z1, s′ = z2 + z3, d′ = z3 − z2.
    f.get(x0).get(x1).fadd().set(y0);
    f.get(x0).get(x1).fsub().set(y1);
    f.get(x2).get(x3).fadd().set(y2);
    f.get(x3).get(x2).fsub().set(y3);
    f.get(i).get(y0).get(y2).fadd().store();
    f.get(y0).get(y2).fsub().set(u);
    f.get(i2).twist(u, r1, s1).store();
    // −i·d′ = (d′_im, −d′_re)
    f.get(y3).get(y3).swap().get(sign).fmul().set(y3);
    f.get(y1).get(y3).fadd().set(u);
    f.get(i).get(q).add().twist(u, r2, s2).store();
    f.get(y1).get(y3).fsub().set(u);
    f.get(i2).get(q).add().twist(u, r3, s3).store();
  }
  f.get(i).i32(16).add().set(i);
  f.endLoop();
}

/**
 * A radix-4 pass (forward or inverse) over blocks of `len` complex values, parameters as in
 * {@link forwardPass4}, with byte offsets a and tw for the array and the twiddles.
 */
function passKernel(inverse: boolean): Body {
  const f = new Body([I32, I32, I32, I32, I32, I32]);
  const [a, tw, off, span, len, k0] = [0, 1, 2, 3, 4, 5];
  const b = f.local(I32);
  const blocks = f.local(I32);
  const k = f.local(I32);
  const l = butterflyLocals(f);
  const rs = Array.from({ length: 6 }, () => f.local(V128));
  const t = Array.from({ length: 3 }, () => f.local(V128));
  f.f64x2(1, -1).set(l.sign);
  f.get(len).i32(4).mul().set(l.q); // a quarter block in bytes: len/4 values of 16 bytes
  f.get(span).get(len).divU().set(blocks);
  f.loop();
  f.get(b).get(blocks).geU().breakIf();
  f.get(k0).get(b).add().set(k);
  emitTwiddles(f, inverse, tw, k, rs, t);
  f.get(a).get(off).get(b).get(len).mul().add().i32(4).shl().add().tee(l.i).get(l.q).add().set(l.end);
  emitButterflies(f, inverse, l, rs);
  f.get(b).i32(1).add().set(b);
  f.endLoop();
  return f;
}

/**
 * Two radix-4 levels at once on the block of `len` complex values at complex offset `off` with index k
 * (forward: the level of len, then its four sub-blocks of len/4 with indices 4k + c; inverse: the
 * reverse), tile by tile: a tile is the 16 runs of `tile` values at offsets c·len/4 + d·len/16 + t0,
 * which both levels touch and nothing else, so each value crosses the memory bus once per two stages.
 * The butterflies are exactly those of two {@link passKernel} passes, in another order.
 */
function pass16Kernel(inverse: boolean): Body {
  const f = new Body([I32, I32, I32, I32, I32, I32]);
  const [a, tw, off, len, k, tile] = [0, 1, 2, 3, 4, 5];
  const base = f.local(I32);
  const qa = f.local(I32); // len/4 values, in bytes
  const qb = f.local(I32); // len/16 values, in bytes
  const t0 = f.local(I32);
  const run = f.local(I32); // bytes per run
  const kk = f.local(I32);
  const l = butterflyLocals(f);
  const t = Array.from({ length: 3 }, () => f.local(V128));
  // Twiddles of the block (level len) and of its four sub-blocks (level len/4).
  const top = Array.from({ length: 6 }, () => f.local(V128));
  const subs = Array.from({ length: 4 }, () => Array.from({ length: 6 }, () => f.local(V128)));
  f.f64x2(1, -1).set(l.sign);
  f.get(len).i32(2).shl().set(qa);
  f.get(len).set(qb); // len/16 values · 16 bytes
  f.get(tile).i32(4).shl().set(run);
  f.get(a).get(off).i32(4).shl().add().set(base);
  emitTwiddles(f, inverse, tw, k, top, t);
  for (let c = 0; c < 4; c++) {
    f.get(k).i32(2).shl().i32(c).add().set(kk);
    emitTwiddles(f, inverse, tw, kk, subs[c], t);
  }
  const topLevel = (): void => {
    // Level len: butterflies at t0 + d·len/16 + [0, tile), inputs len/4 apart.
    f.get(qa).set(l.q);
    for (let d = 0; d < 4; d++) {
      f.get(base).get(t0).add().i32(d).get(qb).mul().add().tee(l.i).get(run).add().set(l.end);
      emitButterflies(f, inverse, l, top);
    }
  };
  const subLevel = (): void => {
    // Level len/4, sub-block c: butterflies at c·len/4 + t0 + [0, tile), inputs len/16 apart.
    f.get(qb).set(l.q);
    for (let c = 0; c < 4; c++) {
      f.get(base).get(t0).add().i32(c).get(qa).mul().add().tee(l.i).get(run).add().set(l.end);
      emitButterflies(f, inverse, l, subs[c]);
    }
  };
  f.loop();
  f.get(t0).get(qb).geU().breakIf();
  if (!inverse) {
    topLevel();
    subLevel();
  } else {
    subLevel();
    topLevel();
  }
  f.get(t0).get(run).add().set(t0);
  f.endLoop();
  return f;
}

function butterflyKernel(): Body {
  const f = new Body([I32, I32]);
  const [a, bytes] = [0, 1];
  const i = f.local(I32);
  const end = f.local(I32);
  const j = f.local(I32);
  const x = f.local(V128);
  const y = f.local(V128);
  f.get(a).tee(i).get(bytes).add().set(end);
  f.loop();
  f.get(i).get(end).geU().breakIf();
  f.get(i).get(bytes).add().set(j);
  f.get(i).load().set(x);
  f.get(j).load().set(y);
  f.get(i).get(x).get(y).fadd().store();
  f.get(j).get(x).get(y).fsub().store();
  f.get(i).i32(16).add().set(i);
  f.endLoop();
  return f;
}

/**
 * {@link untangle} (or, with `inverse`, {@link retangle}) on the array at byte offset a, twiddles at
 * byte offset tw, M = half complex values, (sr, si) = exp(−2πi/N).
 */
function tangleKernel(inverse: boolean): Body {
  const f = new Body([I32, I32, I32, F64, F64]);
  const [a, tw, half, sr, si] = [0, 1, 2, 3, 4];
  const lo = f.local(I32);
  const hm = f.local(I32);
  const p = f.local(I32);
  const q = f.local(I32);
  const w = f.local(I32);
  const v = (): number => f.local(V128);
  const [x, y, e, o, t, wr, ws, sign, stepR, stepS] = [v(), v(), v(), v(), v(), v(), v(), v(), v(), v()];
  f.f64x2(1, -1).set(sign);
  // Slot 0: (z_re + z_im, z_re − z_im); slot 1: conj (forward) or 2·conj (inverse).
  f.get(a).load().set(x);
  f.get(a).get(x).get(x).get(x).swap().fadd().get(x).get(x).get(x).swap().fsub().shuffle(0, 2).store();
  f.get(a)
    .i32(16)
    .add()
    .get(a)
    .i32(16)
    .add()
    .load()
    .f64x2(inverse ? 2 : 1, inverse ? -2 : -1)
    .fmul()
    .store();
  /** The pair at byte addresses p, q with the twiddle (wr, wr), ws. */
  const pair = (): void => {
    f.get(p).load().set(x);
    f.get(q).load().set(y);
    if (!inverse) {
      // E = (P + conj Q)/2, O = (swap(P)·(1, −1) + swap(Q))/2, T = w·O; P ← E + T, Q ← (E − T)·(1, −1).
      f.get(x).get(y).get(sign).fmul().fadd().f64x2(0.5, 0.5).fmul().set(e);
      f.get(x).get(x).swap().get(sign).fmul().get(y).get(y).swap().fadd().f64x2(0.5, 0.5).fmul().set(o);
      f.twist(o, wr, ws).set(t);
      f.get(p).get(e).get(t).fadd().store();
      f.get(q).get(e).get(t).fsub().get(sign).fmul().store();
    } else {
      // A = P + conj Q, D = P − conj Q, B = D·conj(w), V = (−B_im, B_re); P ← A + V, Q ← (A − V)·(1, −1).
      f.get(y).get(sign).fmul().set(y);
      f.get(x).get(y).fadd().set(e);
      f.get(x).get(y).fsub().set(o);
      f.twist(o, wr, ws).set(t);
      f.get(t).get(t).swap().f64x2(-1, 1).fmul().set(t);
      f.get(p).get(e).get(t).fadd().store();
      f.get(q).get(e).get(t).fsub().get(sign).fmul().store();
    }
    f.get(p).i32(16).add().set(p);
    f.get(q).i32(16).sub().set(q);
    f.get(w).i32(16).add().set(w);
  };
  /** wr = (w_re, w_re), ws = (−w_im, w_im) for x·w, or (w_im, −w_im) for x·conj(w), from vector local t. */
  const twiddle = (): void => {
    f.get(t).lane(0).splat().set(wr);
    f.get(t)
      .lane(1)
      .splat()
      .f64x2(inverse ? 1 : -1, inverse ? -1 : 1)
      .fmul()
      .set(ws);
  };
  f.get(half).i32(1).shrU().set(hm);
  f.i32(2).set(lo);
  f.loop();
  f.get(lo).get(hm).geU().breakIf();
  f.get(a).get(lo).i32(4).shl().add().set(p);
  f.get(a).get(lo).i32(5).shl().add().i32(16).sub().set(q);
  f.get(tw).get(lo).i32(4).shl().add().set(w);
  f.loop();
  f.get(p).get(q).geU().breakIf();
  f.get(w).load().set(t);
  twiddle();
  pair();
  f.endLoop();
  f.get(lo).i32(1).shl().set(lo);
  f.endLoop();
  f.get(hm).i32(2).geU();
  f.when(() => {
    // w^e = tw[p − M/2]·exp(−2πi/N), formed like the TypeScript br·sr − bi·si, br·si + bi·sr.
    f.get(sr).splat().set(stepR);
    f.get(si).splat().f64x2(-1, 1).fmul().set(stepS);
    f.get(a).get(hm).i32(4).shl().add().set(p);
    f.get(a).get(hm).i32(5).shl().add().i32(16).sub().set(q);
    f.get(tw).set(w);
    f.loop();
    f.get(p).get(q).geU().breakIf();
    f.get(w).load().set(t);
    f.twist(t, stepR, stepS).set(t);
    twiddle();
    pair();
    f.endLoop();
  });
  return f;
}

/**
 * {@link multiplySpectra} (or, if `plain` ≠ 0, {@link multiplyComplex}) on byte offsets acc, x, y of
 * `bytes` bytes each; accumulates if `add` ≠ 0.
 */
function multiplyKernel(): Body {
  const f = new Body([I32, I32, I32, I32, I32, I32]);
  const [acc, x, y, bytes, add, plain] = [0, 1, 2, 3, 4, 5];
  const i = f.local(I32);
  const xv = f.local(V128);
  const yv = f.local(V128);
  const xr = f.local(V128);
  const xs = f.local(V128);
  const product = (): void => {
    // x·y as y·(x_re, x_re) + swap(y)·(−x_im, x_im), like x_re·y_re − x_im·y_im, x_re·y_im + x_im·y_re.
    f.get(x).get(i).add().load().set(xv);
    f.get(y).get(i).add().load().set(yv);
    f.get(xv).get(xv).shuffle(0, 0).set(xr);
    f.get(xv).get(xv).shuffle(1, 1).f64x2(-1, 1).fmul().set(xs);
    f.twist(yv, xr, xs);
  };
  const loop = (accumulate: boolean): void => {
    f.i32(0).set(i);
    f.get(plain).i32(0).eq();
    f.when(() => {
      // A half spectrum: slot 0 holds two reals, multiplied componentwise.
      f.get(acc);
      if (accumulate) f.get(acc).load();
      f.get(x).load().get(y).load().fmul();
      if (accumulate) f.fadd();
      f.store();
      f.i32(16).set(i);
    });
    f.loop();
    f.get(i).get(bytes).geU().breakIf();
    f.get(acc).get(i).add();
    if (accumulate) f.get(acc).get(i).add().load();
    product();
    if (accumulate) f.fadd();
    f.store();
    f.get(i).i32(16).add().set(i);
    f.endLoop();
  };
  f.get(add).when(() => loop(true));
  f.get(add)
    .i32(0)
    .eq()
    .when(() => loop(false));
  return f;
}

/** {@link twist} on byte offset a, tables lo and hi at byte offsets, M values, 2^bits per row. */
function twistKernel(): Body {
  const f = new Body([I32, I32, I32, I32, I32, I32]);
  const [a, lo, hi, half, bits, conjugate] = [0, 1, 2, 3, 4, 5];
  const h = f.local(I32);
  const rows = f.local(I32);
  const l = f.local(I32);
  const end = f.local(I32);
  const p = f.local(I32);
  const v = (): number => f.local(V128);
  const [hv, hr, hs, z, zr, zs, x, sign] = [v(), v(), v(), v(), v(), v(), v(), v()];
  f.f64x2(-1, 1).set(sign);
  f.get(conjugate).when(() => {
    f.f64x2(1, -1).set(sign);
  });
  f.get(half).get(bits).shrU().set(rows);
  f.i32(1).get(bits).shl().i32(4).shl().set(end); // bytes per row
  f.get(a).set(p);
  f.i32(0).set(h);
  f.loop();
  f.get(h).get(rows).geU().breakIf();
  f.get(hi).get(h).i32(4).shl().add().load().set(hv);
  f.get(hv).lane(0).splat().set(hr);
  f.get(hv).lane(1).splat().f64x2(-1, 1).fmul().set(hs);
  f.i32(0).set(l);
  f.loop();
  f.get(l).get(end).geU().breakIf();
  // ζ^j = high·low, like hr·lr − hi·li, hr·li + hi·lr; then the value times ζ^j or its conjugate.
  f.get(lo).get(l).add().load().set(z);
  f.twist(z, hr, hs).set(z);
  f.get(z).lane(0).splat().set(zr);
  f.get(z).lane(1).splat().get(sign).fmul().set(zs);
  f.get(p).load().set(x);
  f.get(p).twist(x, zr, zs).store();
  f.get(p).i32(16).add().set(p);
  f.get(l).i32(16).add().set(l);
  f.endLoop();
  f.get(h).i32(1).add().set(h);
  f.endLoop();
  return f;
}

/**
 * {@link foldCyclic}: dst[t] = src[t] + src[t + L] as doubles for t < L = half, from the bytes at src;
 * returns the OR of the 2L bytes.
 */
function foldCyclicKernel(): Body {
  const f = new Body([I32, I32, I32], [I32]);
  const [dst, src, half] = [0, 1, 2];
  const t = f.local(I32);
  const a = f.local(I32);
  const b = f.local(I32);
  const bad = f.local(I32);
  f.loop();
  f.get(t).get(half).geU().breakIf();
  f.get(src).get(t).add().loadByte().set(a);
  f.get(src).get(t).add().get(half).add().loadByte().set(b);
  f.get(bad).get(a).or().get(b).or().set(bad);
  f.get(dst).get(t).i32(3).shl().add().get(a).get(b).add().toF64().storeF64();
  f.get(t).i32(1).add().set(t);
  f.endLoop();
  f.get(bad);
  return f;
}

/**
 * {@link foldNegacyclic} and the forward {@link twist} at once: complex j < M of dst becomes
 * ((src[j] − src[j + L]) + i·(src[j + M] − src[j + M + L]))·ζ^j, L = half, twist tables at byte
 * offsets lo and hi; returns the OR of the 2L bytes.
 */
function foldNegacyclicKernel(): Body {
  const f = new Body([I32, I32, I32, I32, I32, I32], [I32]);
  const [dst, src, half, lo, hi, bits] = [0, 1, 2, 3, 4, 5];
  const m = f.local(I32);
  const rows = f.local(I32);
  const h = f.local(I32);
  const l = f.local(I32);
  const end = f.local(I32);
  const j = f.local(I32);
  const p = f.local(I32);
  const bad = f.local(I32);
  const [a, b, c, d] = [f.local(I32), f.local(I32), f.local(I32), f.local(I32)];
  const v = (): number => f.local(V128);
  const [hv, hr, hs, z, zr, zs, x] = [v(), v(), v(), v(), v(), v(), v()];
  f.get(half).i32(1).shrU().set(m);
  f.get(m).get(bits).shrU().set(rows);
  f.i32(1).get(bits).shl().i32(4).shl().set(end);
  f.get(dst).set(p);
  f.loop();
  f.get(h).get(rows).geU().breakIf();
  f.get(hi).get(h).i32(4).shl().add().load().set(hv);
  f.get(hv).lane(0).splat().set(hr);
  f.get(hv).lane(1).splat().f64x2(-1, 1).fmul().set(hs);
  f.i32(0).set(l);
  f.loop();
  f.get(l).get(end).geU().breakIf();
  f.get(src).get(j).add().loadByte().set(a);
  f.get(src).get(j).add().get(half).add().loadByte().set(b);
  f.get(src).get(j).add().get(m).add().loadByte().set(c);
  f.get(src).get(j).add().get(m).add().get(half).add().loadByte().set(d);
  f.get(bad).get(a).or().get(b).or().get(c).or().get(d).or().set(bad);
  f.get(a).get(b).sub().toF64().splat().get(c).get(d).sub().toF64().replace(1).set(x);
  // ζ^j = high·low, then the value times ζ^j, exactly as in twistKernel.
  f.get(lo).get(l).add().load().set(z);
  f.twist(z, hr, hs).set(z);
  f.get(z).lane(0).splat().set(zr);
  f.get(z).lane(1).splat().f64x2(-1, 1).fmul().set(zs);
  f.get(p).twist(x, zr, zs).store();
  f.get(p).i32(16).add().set(p);
  f.get(j).i32(1).add().set(j);
  f.get(l).i32(16).add().set(l);
  f.endLoop();
  f.get(h).i32(1).add().set(h);
  f.endLoop();
  f.get(bad);
  return f;
}

/**
 * {@link roundInto} on byte offsets: dst is the first output byte, src the first double; `mode` 0 XORs
 * the parity in, 1 adds the value mod 4, 2 subtracts it mod 4. Rounding is f64.nearest (ties to even;
 * the values are within 1/4 of an integer, where it agrees with Math.round) and a saturating
 * conversion to i32.
 */
function roundKernel(): Body {
  const f = new Body([I32, I32, I32, I32, F64, I32]);
  const [dst, src, count, stride, scale, mode] = [0, 1, 2, 3, 4, 5];
  const i = f.local(I32);
  const j = f.local(I32);
  const c = f.local(I32);
  const d = f.local(I32);
  f.get(src).set(j);
  f.loop();
  f.get(i).get(count).geU().breakIf();
  // c = round(src[j]·scale), d = dst[i]
  f.get(j).loadF64().get(scale).mulF64().roundToI32().set(c);
  f.get(dst).get(i).add().loadByte().set(d);
  f.get(dst).get(i).add();
  // mode 0: d ^ (c & 1); otherwise (d ± c) & 3 — both formed, then `select`ed.
  f.get(d).get(c).i32(1).and().xor();
  f.get(d).i32(0).get(c).sub().get(c).get(mode).i32(2).eq().select().add().i32(3).and();
  f.get(mode).eqz().select();
  f.storeByte();
  f.get(i).i32(1).add().set(i);
  f.get(j).get(stride).add().set(j);
  f.endLoop();
  return f;
}

/** The module: memory imported as env.memory, the kernels of {@link WasmKernels} exported. */
function kernelModule(): Uint8Array {
  const fns: [string, Body][] = [
    ["forward4", passKernel(false)],
    ["inverse4", passKernel(true)],
    ["forward16", pass16Kernel(false)],
    ["inverse16", pass16Kernel(true)],
    ["butterfly2", butterflyKernel()],
    ["untangle", tangleKernel(false)],
    ["retangle", tangleKernel(true)],
    ["multiply", multiplyKernel()],
    ["twist", twistKernel()],
    ["foldCyclic", foldCyclicKernel()],
    ["foldNegacyclic", foldNegacyclicKernel()],
    ["roundInto", roundKernel()],
  ];
  const section = (id: number, items: number[][]): number[] => {
    const body = [...uleb(items.length), ...items.flat()];
    return [id, ...uleb(body.length), ...body];
  };
  const bytes = [
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(
      1,
      fns.map(([, f]) => [
        0x60,
        ...uleb(f.params.length),
        ...f.params,
        ...uleb(f.results.length),
        ...f.results,
      ]),
    ),
    ...section(2, [[...name("env"), ...name("memory"), 0x02, 0x00, 0x00]]),
    ...section(
      3,
      fns.map((_, i) => uleb(i)),
    ),
    ...section(
      7,
      fns.map(([n], i) => [...name(n), 0x00, ...uleb(i)]),
    ),
    ...section(
      10,
      fns.map(([, f]) => f.encode()),
    ),
  ];
  return Uint8Array.from(bytes);
}

let wasmModule: object | null | undefined;

function wasmApi(): WasmApi | undefined {
  return (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
}

/** The compiled kernel module, or null where WebAssembly SIMD is unavailable. */
function compiledKernels(): object | null {
  if (wasmModule !== undefined) return wasmModule;
  wasmModule = null;
  const api = wasmApi();
  try {
    const bytes = kernelModule();
    if (api?.validate(bytes)) wasmModule = new api.Module(bytes);
  } catch {
    wasmModule = null;
  }
  return wasmModule;
}

/** Whether this runtime has WebAssembly with SIMD, i.e. whether workspaces can be accelerated. */
export function fftAccelerationAvailable(): boolean {
  return compiledKernels() !== null;
}

/* -------------------------------------------------------------------------------------------- */
/* Workspaces: transform buffers with the transforms that run on them.                            */
/* -------------------------------------------------------------------------------------------- */

/**
 * A set of transform buffers of one length, and the transforms on them (see {@link fftWorkspace}). The
 * methods are the module's functions of the same names, restricted to the workspace's buffers.
 */
export interface FftWorkspace {
  readonly tables: FftTables;
  /** The buffers, N doubles each, with arbitrary initial contents. */
  readonly buffers: readonly Float64Array[];
  /** Whether the WebAssembly SIMD kernels run the transforms (else the TypeScript ones). */
  readonly accelerated: boolean;
  /** Bytes of memory the workspace holds (buffers, scratch, and the tables when accelerated). */
  readonly bytes: number;
  /** A byte area for {@link loadCyclic} and {@link loadNegacyclic} to read (arbitrary contents). */
  readonly scratch: Uint8Array;
  /** A byte area for {@link roundInto} to write (arbitrary contents). */
  readonly output: Uint8Array;
  /** {@link roundInto} into {@link output}, from one of {@link buffers}; `from` and `stride` count doubles. */
  roundInto(
    at: number,
    src: Float64Array,
    from: number,
    count: number,
    stride: number,
    scale: number,
    mode: 0 | 1 | 2,
  ): void;
  /** {@link foldCyclic} of {@link scratch} (2N bytes) into `a`, then {@link realForward}; the OR of the bytes. */
  loadCyclic(a: Float64Array): number;
  /** {@link foldNegacyclic} of {@link scratch} (2N bytes) into `a`, then {@link negacyclicForward}; the OR. */
  loadNegacyclic(a: Float64Array): number;
  realForward(a: Float64Array): void;
  realInverse(a: Float64Array): void;
  negacyclicForward(a: Float64Array): void;
  negacyclicInverse(a: Float64Array): void;
  /** {@link multiplySpectra} (half spectra). */
  multiply(acc: Float64Array, x: Float64Array, y: Float64Array, accumulate: boolean): void;
  multiplyComplex(acc: Float64Array, x: Float64Array, y: Float64Array, accumulate: boolean): void;
}

class TypeScriptWorkspace implements FftWorkspace {
  readonly accelerated = false;
  readonly buffers: Float64Array[];
  readonly bytes: number;
  readonly scratch: Uint8Array;
  readonly output: Uint8Array;
  constructor(
    readonly tables: FftTables,
    count: number,
    scratchBytes: number,
    outputBytes: number,
  ) {
    this.buffers = Array.from({ length: count }, () => new Float64Array(tables.size));
    this.scratch = new Uint8Array(scratchBytes);
    this.output = new Uint8Array(outputBytes);
    this.bytes = 8 * tables.size * count + scratchBytes + outputBytes;
  }
  roundInto(
    at: number,
    src: Float64Array,
    from: number,
    count: number,
    stride: number,
    scale: number,
    mode: 0 | 1 | 2,
  ): void {
    roundInto(this.output, at, src, from, count, stride, scale, mode);
  }
  loadCyclic(a: Float64Array): number {
    const bad = foldCyclic(this.scratch, a);
    realForward(a, this.tables);
    return bad;
  }
  loadNegacyclic(a: Float64Array): number {
    const bad = foldNegacyclic(this.scratch, a);
    negacyclicForward(a, this.tables);
    return bad;
  }
  realForward(a: Float64Array): void {
    realForward(a, this.tables);
  }
  realInverse(a: Float64Array): void {
    realInverse(a, this.tables);
  }
  negacyclicForward(a: Float64Array): void {
    negacyclicForward(a, this.tables);
  }
  negacyclicInverse(a: Float64Array): void {
    negacyclicInverse(a, this.tables);
  }
  multiply(acc: Float64Array, x: Float64Array, y: Float64Array, accumulate: boolean): void {
    multiplySpectra(acc, x, y, accumulate);
  }
  multiplyComplex(acc: Float64Array, x: Float64Array, y: Float64Array, accumulate: boolean): void {
    multiplyComplex(acc, x, y, accumulate);
  }
}

/** Linear memory: the twiddles at 0, then the twist tables, the buffers, and the scratch bytes. */
class WasmWorkspace implements FftWorkspace {
  readonly accelerated = true;
  readonly buffers: Float64Array[];
  readonly bytes: number;
  readonly scratch: Uint8Array;
  readonly output: Uint8Array;
  private readonly kernels: WasmKernels;
  private readonly memory: ArrayBuffer;
  private readonly twistLow: number;
  private readonly twistHigh: number;
  constructor(
    readonly tables: FftTables,
    count: number,
    scratchBytes: number,
    outputBytes: number,
    module: object,
    api: WasmApi,
  ) {
    const { twiddles, twistLow, twistHigh } = tables;
    this.twistLow = twiddles.byteLength;
    this.twistHigh = this.twistLow + twistLow.byteLength;
    const first = this.twistHigh + twistHigh.byteLength;
    const bufBytes = 8 * tables.size;
    this.bytes = first + count * bufBytes + scratchBytes + outputBytes;
    const pages = Math.ceil(this.bytes / 65536);
    const memory = new api.Memory({ initial: pages, maximum: pages });
    const { exports } = new api.Instance(module, { env: { memory } });
    this.kernels = exports as unknown as WasmKernels;
    this.memory = memory.buffer;
    new Float64Array(this.memory, 0, twiddles.length).set(twiddles);
    new Float64Array(this.memory, this.twistLow, twistLow.length).set(twistLow);
    new Float64Array(this.memory, this.twistHigh, twistHigh.length).set(twistHigh);
    this.buffers = Array.from(
      { length: count },
      (_, i) => new Float64Array(this.memory, first + i * bufBytes, tables.size),
    );
    this.scratch = new Uint8Array(this.memory, first + count * bufBytes, scratchBytes);
    this.output = new Uint8Array(this.memory, first + count * bufBytes + scratchBytes, outputBytes);
  }
  roundInto(
    at: number,
    src: Float64Array,
    from: number,
    count: number,
    stride: number,
    scale: number,
    mode: 0 | 1 | 2,
  ): void {
    const base = this.offset(src, "roundInto");
    if (at < 0 || at + count > this.output.length) throw new RangeError("roundInto: outside the output area");
    this.kernels.roundInto(this.output.byteOffset + at, base + 8 * from, count, 8 * stride, scale, mode);
  }
  private checkScratch(what: string): void {
    if (this.scratch.length < 2 * this.tables.size) {
      throw new RangeError(`${what}: the workspace has ${this.scratch.length} scratch bytes, not 2N`);
    }
  }
  loadCyclic(a: Float64Array): number {
    const at = this.offset(a, "loadCyclic");
    this.checkScratch("loadCyclic");
    const bad = this.kernels.foldCyclic(at, this.scratch.byteOffset, this.tables.size);
    this.forward(at);
    const t = this.tables;
    this.kernels.untangle(at, 0, t.half, t.stepRe, t.stepIm);
    return bad;
  }
  loadNegacyclic(a: Float64Array): number {
    const at = this.offset(a, "loadNegacyclic");
    this.checkScratch("loadNegacyclic");
    const t = this.tables;
    const bad = this.kernels.foldNegacyclic(
      at,
      this.scratch.byteOffset,
      t.size,
      this.twistLow,
      this.twistHigh,
      t.twistBits,
    );
    this.forward(at);
    return bad;
  }
  private offset(a: Float64Array, what: string): number {
    if (a.buffer !== this.memory || a.length !== this.tables.size) {
      throw new RangeError(`${what}: the array is not a buffer of this workspace`);
    }
    return a.byteOffset;
  }
  // Above the cache-sized leaves, two levels per pass over memory (pass16Kernel) where two remain.
  private forwardBlock(a: number, off: number, len: number, k: number): void {
    const pass = this.kernels.forward4;
    if (len <= WASM_LEAF) {
      for (let l = len, k0 = k; l >= 4; l >>>= 2, k0 *= 4) pass(a, 0, off, len, l, k0);
      return;
    }
    if (len >>> 2 <= WASM_LEAF) {
      pass(a, 0, off, len, len, k);
      const q = len >>> 2;
      for (let c = 0; c < 4; c++) this.forwardBlock(a, off + c * q, q, 4 * k + c);
      return;
    }
    this.kernels.forward16(a, 0, off, len, k, TILE);
    const q = len >>> 4;
    for (let c = 0; c < 16; c++) this.forwardBlock(a, off + c * q, q, 16 * k + c);
  }
  private inverseBlock(a: number, off: number, len: number, k: number): void {
    const pass = this.kernels.inverse4;
    if (len <= WASM_LEAF) {
      for (let l = 4, k0 = k * (len >>> 2); l <= len; l <<= 2, k0 >>>= 2) pass(a, 0, off, len, l, k0);
      return;
    }
    if (len >>> 2 <= WASM_LEAF) {
      const q = len >>> 2;
      for (let c = 0; c < 4; c++) this.inverseBlock(a, off + c * q, q, 4 * k + c);
      pass(a, 0, off, len, len, k);
      return;
    }
    const q = len >>> 4;
    for (let c = 0; c < 16; c++) this.inverseBlock(a, off + c * q, q, 16 * k + c);
    this.kernels.inverse16(a, 0, off, len, k, TILE);
  }
  /** {@link fftForward} on the buffer at byte offset `at`. */
  private forward(at: number): void {
    const n = this.tables.half;
    if ((this.tables.log2Size - 1) & 1) {
      this.kernels.butterfly2(at, 8 * n);
      if (n > 2) {
        this.forwardBlock(at, 0, n >>> 1, 0);
        this.forwardBlock(at, n >>> 1, n >>> 1, 1);
      }
    } else {
      this.forwardBlock(at, 0, n, 0);
    }
  }
  /** {@link fftInverse} on the buffer at byte offset `at`. */
  private inverse(at: number): void {
    const n = this.tables.half;
    if ((this.tables.log2Size - 1) & 1) {
      if (n > 2) {
        this.inverseBlock(at, 0, n >>> 1, 0);
        this.inverseBlock(at, n >>> 1, n >>> 1, 1);
      }
      this.kernels.butterfly2(at, 8 * n);
    } else {
      this.inverseBlock(at, 0, n, 0);
    }
  }
  private twist(at: number, conjugate: boolean): void {
    const t = this.tables;
    this.kernels.twist(at, this.twistLow, this.twistHigh, t.half, t.twistBits, conjugate ? 1 : 0);
  }
  realForward(a: Float64Array): void {
    const at = this.offset(a, "realForward");
    this.forward(at);
    const t = this.tables;
    this.kernels.untangle(at, 0, t.half, t.stepRe, t.stepIm);
  }
  realInverse(a: Float64Array): void {
    const at = this.offset(a, "realInverse");
    const t = this.tables;
    this.kernels.retangle(at, 0, t.half, t.stepRe, t.stepIm);
    this.inverse(at);
  }
  negacyclicForward(a: Float64Array): void {
    const at = this.offset(a, "negacyclicForward");
    this.twist(at, false);
    this.forward(at);
  }
  negacyclicInverse(a: Float64Array): void {
    const at = this.offset(a, "negacyclicInverse");
    this.inverse(at);
    this.twist(at, true);
  }
  private product(
    acc: Float64Array,
    x: Float64Array,
    y: Float64Array,
    accumulate: boolean,
    plain: number,
  ): void {
    const a = this.offset(acc, "multiply");
    const b = this.offset(x, "multiply");
    const c = this.offset(y, "multiply");
    this.kernels.multiply(a, b, c, 8 * acc.length, accumulate ? 1 : 0, plain);
  }
  multiply(acc: Float64Array, x: Float64Array, y: Float64Array, accumulate: boolean): void {
    this.product(acc, x, y, accumulate, 0);
  }
  multiplyComplex(acc: Float64Array, x: Float64Array, y: Float64Array, accumulate: boolean): void {
    this.product(acc, x, y, accumulate, 1);
  }
}

/** A released workspace kept for the next call, if small (see {@link releaseFftWorkspace}). */
let spare: FftWorkspace | undefined;
/** Workspaces up to this size are kept between calls: fresh memory costs a page fault per 4 KiB. */
export const SPARE_MAX_BYTES = 64 * 2 ** 20;

/** Options of {@link fftWorkspace}. */
export interface FftWorkspaceOptions {
  /** Use the WebAssembly SIMD kernels where available (default true). */
  accelerate?: boolean;
  /** Bytes of {@link FftWorkspace.scratch} (default 0). */
  scratchBytes?: number;
  /** Bytes of {@link FftWorkspace.output} (default 0). */
  outputBytes?: number;
}

/**
 * A workspace of `count` buffers for real transforms of length 2^log2Size. With `accelerate` (the
 * default) and WebAssembly SIMD available, the buffers live in a WebAssembly memory of exactly the needed
 * size and the SIMD kernels transform them; otherwise they are ordinary arrays. A workspace handed back
 * with {@link releaseFftWorkspace} is reused by the next request it can serve, if it is at most 64 MiB.
 */
export function fftWorkspace(
  log2Size: number,
  count: number,
  options: FftWorkspaceOptions = {},
): FftWorkspace {
  const tables = fftTables(log2Size);
  const module = (options.accelerate ?? true) ? compiledKernels() : null;
  const scratchBytes = Math.ceil((options.scratchBytes ?? 0) / 16) * 16;
  const outputBytes = Math.ceil((options.outputBytes ?? 0) / 16) * 16;
  if (
    spare &&
    spare.tables.log2Size === log2Size &&
    spare.accelerated === (module !== null) &&
    spare.buffers.length >= count &&
    spare.scratch.length >= scratchBytes &&
    spare.output.length >= outputBytes
  ) {
    const ws = spare;
    spare = undefined;
    return ws;
  }
  const api = wasmApi();
  if (module !== null && api) {
    try {
      return new WasmWorkspace(tables, count, scratchBytes, outputBytes, module, api);
    } catch {
      // A memory this large may be refused (4 GiB at most): fall back to ordinary arrays.
    }
  }
  return new TypeScriptWorkspace(tables, count, scratchBytes, outputBytes);
}

/** Hands a workspace back for reuse; its buffers must not be used afterwards. */
export function releaseFftWorkspace(ws: FftWorkspace): void {
  if (ws.bytes <= SPARE_MAX_BYTES) spare = ws;
}
