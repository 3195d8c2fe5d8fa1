import { type Gate, gateQubits } from "./gates.js";
import type { RandomSource } from "./random-source.js";

/**
 * A density matrix of `n` qubits: a 2^n × 2^n complex matrix stored row-major as two Float64Arrays
 * (`re`, `im`). Qubit 0 is the most significant bit of a basis index, so |q0 q1 … q(n−1)⟩ has index
 * q0·2^(n−1) + … + q(n−1).
 *
 * Operations act in place and return `this`; they allocate nothing per call once an operation on the
 * same qubits has been seen (index tables are cached per qubit set).
 */
export class DensityMatrix {
  /** Number of qubits. */
  readonly n: number;
  /** 2^n. */
  readonly dim: number;
  readonly re: Float64Array;
  readonly im: Float64Array;

  /** A zeroed (not normalised) matrix; use the static constructors for states. */
  constructor(n: number, re?: Float64Array, im?: Float64Array) {
    if (!Number.isInteger(n) || n < 0 || n > MAX_QUBITS)
      throw new RangeError(`qubit count must be an integer in 0..${MAX_QUBITS}, got ${n}`);
    this.n = n;
    this.dim = 1 << n;
    const size = this.dim * this.dim;
    if ((re && re.length !== size) || (im && im.length !== size))
      throw new RangeError(`arrays for ${n} qubits need ${size} entries`);
    this.re = re ?? new Float64Array(size);
    this.im = im ?? new Float64Array(size);
  }

  /** |index⟩⟨index| on n qubits (default |0…0⟩). */
  static basis(n: number, index = 0): DensityMatrix {
    const m = new DensityMatrix(n);
    if (!Number.isInteger(index) || index < 0 || index >= m.dim)
      throw new RangeError(`basis index must be in 0..${m.dim - 1}, got ${index}`);
    m.re[index * m.dim + index] = 1;
    return m;
  }

  /** I / 2^n. */
  static maximallyMixed(n: number): DensityMatrix {
    const m = new DensityMatrix(n);
    for (let i = 0; i < m.dim; i++) m.re[i * m.dim + i] = 1 / m.dim;
    return m;
  }

  /** |ψ⟩⟨ψ| from amplitudes (normalised here). */
  static fromPure(re: ArrayLike<number>, im?: ArrayLike<number>): DensityMatrix {
    const dim = re.length;
    const n = Math.round(Math.log2(dim));
    if (1 << n !== dim) throw new RangeError(`a state vector needs 2^n amplitudes, got ${dim}`);
    if (im && im.length !== dim) throw new RangeError("real and imaginary parts differ in length");
    let norm = 0;
    for (let i = 0; i < dim; i++) norm += re[i] * re[i] + (im ? im[i] * im[i] : 0);
    if (!(norm > 0)) throw new RangeError("the zero vector is not a state");
    const m = new DensityMatrix(n);
    for (let r = 0; r < dim; r++) {
      const ar = re[r];
      const ai = im ? im[r] : 0;
      for (let c = 0; c < dim; c++) {
        const br = re[c];
        const bi = im ? -im[c] : 0;
        m.re[r * dim + c] = (ar * br - ai * bi) / norm;
        m.im[r * dim + c] = (ar * bi + ai * br) / norm;
      }
    }
    return m;
  }

  clone(): DensityMatrix {
    return new DensityMatrix(this.n, this.re.slice(), this.im.slice());
  }

  /** Copies another matrix of the same size into this one. */
  copyFrom(other: DensityMatrix): this {
    if (other.n !== this.n) throw new RangeError(`cannot copy ${other.n} qubits into ${this.n}`);
    this.re.set(other.re);
    this.im.set(other.im);
    return this;
  }

  /** Tr ρ (real part). */
  trace(): number {
    let t = 0;
    for (let i = 0; i < this.dim; i++) t += this.re[i * this.dim + i];
    return t;
  }

  /** Tr ρ². */
  purity(): number {
    let s = 0;
    const { re, im } = this;
    for (let k = 0; k < re.length; k++) s += re[k] * re[k] + im[k] * im[k];
    return s;
  }

  /** Divides by the trace. */
  normalize(): this {
    const t = this.trace();
    if (!(t > 0)) throw new RangeError("cannot normalise a matrix with non-positive trace");
    for (let k = 0; k < this.re.length; k++) {
      this.re[k] /= t;
      this.im[k] /= t;
    }
    return this;
  }

  /** ⟨r|ρ|c⟩ real part. */
  getRe(r: number, c: number): number {
    return this.re[r * this.dim + c];
  }
  /** ⟨r|ρ|c⟩ imaginary part. */
  getIm(r: number, c: number): number {
    return this.im[r * this.dim + c];
  }

  /**
   * ρ → UρU† for a k-qubit gate on the listed qubits (the gate's first qubit is `qubits[0]`).
   * A single qubit may be passed as a number.
   */
  apply(g: Gate, qubits: number | readonly number[]): this {
    const qs = typeof qubits === "number" ? [qubits] : qubits;
    const k = gateQubits(g);
    this.checkQubits(qs, k);
    if (k === 1) applySuperop1(this, unitarySuperop1(g, SUPEROP_SCRATCH), qs[0]);
    else if (k === 2) applyUnitary2(this, g, qs[0], qs[1]);
    else applyUnitaryK(this, g, qs, k);
    return this;
  }

  /**
   * ρ → Σ K ρ K† for Kraus operators on the listed qubits. Operators are not checked for
   * completeness; see {@link krausCompleteness}.
   */
  applyKraus(ops: readonly Gate[], qubits: number | readonly number[]): this {
    const qs = typeof qubits === "number" ? [qubits] : qubits;
    if (ops.length === 0) throw new RangeError("a Kraus channel needs at least one operator");
    const k = gateQubits(ops[0]);
    for (const op of ops)
      if (op.length !== ops[0].length) throw new RangeError("Kraus operators act on different qubit counts");
    this.checkQubits(qs, k);
    if (k === 1) applySuperop1(this, krausSuperop1(ops, SUPEROP_SCRATCH), qs[0]);
    else applyKrausK(this, ops, qs, k);
    return this;
  }

  /**
   * Depolarizing channel ρ → (1−p)ρ + p·(I/2 ⊗ Tr_q ρ): with probability p the qubit is replaced by
   * the maximally mixed state (equivalently, X, Y, Z each with probability p/4).
   */
  depolarize(q: number, p: number): this {
    checkProbability(p, "depolarizing probability");
    this.checkQubits([q], 1);
    applyBlockMap(this, q, 1 - p / 2, p / 2, p / 2, 1 - p / 2, 1 - p);
    return this;
  }

  /** Dephasing ρ → (1−p)ρ + pZρZ: coherences of the qubit shrink by (1−2p). */
  dephase(q: number, p: number): this {
    checkProbability(p, "dephasing probability");
    return this.scaleCoherence(q, 1 - 2 * p);
  }

  /** Amplitude damping with decay probability γ (|1⟩ → |0⟩ with probability γ). */
  amplitudeDamp(q: number, gamma: number): this {
    checkProbability(gamma, "damping probability γ");
    this.checkQubits([q], 1);
    applyBlockMap(this, q, 1, gamma, 0, 1 - gamma, Math.sqrt(1 - gamma));
    return this;
  }

  /**
   * Free decay of a stored qubit for a duration `t` with energy relaxation time `t1` and coherence time
   * `t2` (all three in the same unit; `Infinity` disables a process). Populations relax with
   * γ = 1 − e^{−t/T1}; coherences decay as e^{−t/T2} in total, so T2 ≤ 2·T1 is required.
   */
  decay(q: number, t: number, t1: number, t2: number): this {
    if (!(t >= 0)) throw new RangeError(`decay duration must be ≥ 0, got ${t}`);
    if (!(t1 > 0) || !(t2 > 0)) throw new RangeError(`T1 and T2 must be > 0, got T1=${t1}, T2=${t2}`);
    if (t2 > 2 * t1 * (1 + 1e-12))
      throw new RangeError(`T2 (${t2}) cannot exceed 2·T1 (${2 * t1}); lower T2 or raise T1`);
    this.checkQubits([q], 1);
    const gamma = Number.isFinite(t1) ? 1 - Math.exp(-t / t1) : 0;
    // Populations relax by amplitude damping; coherences take the total factor e^{−t/T2}, of which
    // amplitude damping supplies e^{−t/(2T1)} and pure dephasing the rest.
    const coherence = Number.isFinite(t2) ? Math.exp(-t / t2) : 1;
    applyBlockMap(this, q, 1, gamma, 0, 1 - gamma, coherence);
    return this;
  }

  /** Multiplies the off-diagonal blocks of qubit q (entries with differing bit q) by `factor`. */
  scaleCoherence(q: number, factor: number): this {
    this.checkQubits([q], 1);
    applyBlockMap(this, q, 1, 0, 0, 1, factor);
    return this;
  }

  /** Probability that measuring qubit q in the computational basis gives `outcome`. */
  probability(q: number, outcome: 0 | 1): number {
    this.checkQubits([q], 1);
    const m = 1 << (this.n - 1 - q);
    let p = 0;
    for (let i = 0; i < this.dim; i++) if ((i & m) !== 0) p += this.re[i * this.dim + i];
    p /= this.trace();
    return outcome === 1 ? p : 1 - p;
  }

  /**
   * Projects qubit q onto |outcome⟩ (or onto the basis vector `basis·|outcome⟩` when a basis unitary is
   * given; its columns are the basis states), renormalises, and returns the outcome's probability.
   */
  project(q: number, outcome: 0 | 1, basis?: Gate): number {
    if (basis) this.apply(inverseBasis(basis), q);
    const p = this.probability(q, outcome);
    if (!(p > 0)) {
      if (basis) this.apply(basis, q); // leave the state as it was
      throw new RangeError(`outcome ${outcome} on qubit ${q} has probability 0`);
    }
    this.collapse(q, outcome, p);
    if (basis) this.apply(basis, q);
    return p;
  }

  /**
   * Projective measurement of qubit q in the computational basis, or in the basis whose states are the
   * columns of the unitary `basis`. The qubit is left in the measured basis state.
   */
  measure(q: number, rng: RandomSource, basis?: Gate): 0 | 1 {
    if (basis) this.apply(inverseBasis(basis), q);
    const p1 = this.probability(q, 1);
    const outcome: 0 | 1 = rng.random() < p1 ? 1 : 0;
    this.collapse(q, outcome, outcome === 1 ? p1 : 1 - p1);
    if (basis) this.apply(basis, q);
    return outcome;
  }

  /** ⟨ψ|ρ|ψ⟩ for a pure state given by its amplitudes (assumed normalised). */
  fidelityPure(re: ArrayLike<number>, im?: ArrayLike<number>): number {
    const { dim } = this;
    if (re.length !== dim) throw new RangeError(`state has ${re.length} amplitudes; expected ${dim}`);
    let f = 0;
    for (let r = 0; r < dim; r++) {
      // (ρψ)_r
      let sr = 0;
      let si = 0;
      const row = r * dim;
      for (let c = 0; c < dim; c++) {
        const pr = this.re[row + c];
        const pi = this.im[row + c];
        const vr = re[c];
        const vi = im ? im[c] : 0;
        sr += pr * vr - pi * vi;
        si += pr * vi + pi * vr;
      }
      const ur = re[r];
      const ui = im ? im[r] : 0;
      f += ur * sr + ui * si; // Re(conj(ψ_r)·(ρψ)_r)
    }
    return f;
  }

  /** Expectation Tr(ρ·O) of a k-qubit operator on the listed qubits (real part). */
  expectation(op: Gate, qubits: number | readonly number[]): number {
    const qs = typeof qubits === "number" ? [qubits] : qubits;
    const k = gateQubits(op);
    this.checkQubits(qs, k);
    const d = 1 << k;
    const off = offsetsFor(this.n, qs);
    const bases = basesFor(this.n, qs);
    const { dim, re, im } = this;
    let t = 0;
    // Tr(ρ O) = Σ_{b} Σ_{j,l} ρ[b+off_j, b+off_l] · O[l, j]
    for (let bi = 0; bi < bases.length; bi++) {
      const b = bases[bi];
      for (let j = 0; j < d; j++) {
        const row = (b + off[j]) * dim + b;
        for (let l = 0; l < d; l++) {
          const o = 2 * (l * d + j);
          t += re[row + off[l]] * op[o] - im[row + off[l]] * op[o + 1];
        }
      }
    }
    return t;
  }

  /** ρ ⊗ σ: this matrix on the first (most significant) qubits. */
  tensor(other: DensityMatrix): DensityMatrix {
    const out = new DensityMatrix(this.n + other.n);
    const da = this.dim;
    const db = other.dim;
    const d = out.dim;
    for (let ar = 0; ar < da; ar++)
      for (let ac = 0; ac < da; ac++) {
        const xr = this.re[ar * da + ac];
        const xi = this.im[ar * da + ac];
        if (xr === 0 && xi === 0) continue;
        for (let br = 0; br < db; br++) {
          const orow = (ar * db + br) * d + ac * db;
          const irow = br * db;
          for (let bc = 0; bc < db; bc++) {
            const yr = other.re[irow + bc];
            const yi = other.im[irow + bc];
            out.re[orow + bc] = xr * yr - xi * yi;
            out.im[orow + bc] = xr * yi + xi * yr;
          }
        }
      }
    return out;
  }

  /** Reduced state of the kept qubits, in the order listed (the others are traced out). */
  partialTrace(keep: readonly number[]): DensityMatrix {
    this.checkQubits(keep, keep.length);
    const traced: number[] = [];
    for (let q = 0; q < this.n; q++) if (!keep.includes(q)) traced.push(q);
    const out = new DensityMatrix(keep.length);
    const keepOff = offsetsFor(this.n, keep);
    const trOff = offsetsFor(this.n, traced);
    const { dim } = this;
    for (let i = 0; i < out.dim; i++)
      for (let j = 0; j < out.dim; j++) {
        let sr = 0;
        let si = 0;
        for (let t = 0; t < trOff.length; t++) {
          const k = (keepOff[i] + trOff[t]) * dim + keepOff[j] + trOff[t];
          sr += this.re[k];
          si += this.im[k];
        }
        out.re[i * out.dim + j] = sr;
        out.im[i * out.dim + j] = si;
      }
    return out;
  }

  /** Largest entrywise deviation from Hermiticity, |ρ − ρ†|_max. */
  hermiticityError(): number {
    let e = 0;
    const { dim, re, im } = this;
    for (let r = 0; r < dim; r++)
      for (let c = r; c < dim; c++) {
        e = Math.max(
          e,
          Math.abs(re[r * dim + c] - re[c * dim + r]),
          Math.abs(im[r * dim + c] + im[c * dim + r]),
        );
      }
    return e;
  }

  private collapse(q: number, outcome: 0 | 1, p: number): void {
    const { dim, re, im } = this;
    const m = 1 << (this.n - 1 - q);
    const want = outcome === 1 ? m : 0;
    const inv = 1 / p / this.trace();
    for (let r = 0; r < dim; r++) {
      const keepRow = (r & m) === want;
      const row = r * dim;
      for (let c = 0; c < dim; c++) {
        if (keepRow && (c & m) === want) {
          re[row + c] *= inv;
          im[row + c] *= inv;
        } else {
          re[row + c] = 0;
          im[row + c] = 0;
        }
      }
    }
  }

  private checkQubits(qs: readonly number[], k: number): void {
    if (qs.length !== k)
      throw new RangeError(`operation on ${k} qubit(s) was given ${qs.length} qubit index(es)`);
    for (let i = 0; i < qs.length; i++) {
      const q = qs[i];
      if (!Number.isInteger(q) || q < 0 || q >= this.n)
        throw new RangeError(`qubit index ${q} is out of range for ${this.n} qubit(s) (0..${this.n - 1})`);
      for (let j = 0; j < i; j++) if (qs[j] === q) throw new RangeError(`qubit ${q} is listed twice`);
    }
  }
}

/** Largest register the engine accepts; 2^13 × 2^13 complex entries take 1 GiB. */
export const MAX_QUBITS = 13;

function checkProbability(p: number, what: string): void {
  if (!(p >= 0 && p <= 1)) throw new RangeError(`${what} must be in [0, 1], got ${p}`);
}

function inverseBasis(basis: Gate): Gate {
  if (basis.length !== 8) throw new RangeError("a measurement basis is a single-qubit unitary (2×2)");
  const inv = new Float64Array(8);
  inv[0] = basis[0];
  inv[1] = -basis[1];
  inv[2] = basis[4];
  inv[3] = -basis[5];
  inv[4] = basis[2];
  inv[5] = -basis[3];
  inv[6] = basis[6];
  inv[7] = -basis[7];
  return inv;
}

// ---- index tables -------------------------------------------------------------------------------

const offsetCache = new Map<string, Int32Array>();
const baseCache = new Map<string, Int32Array>();

/** offsets[j] = the index bits of the listed qubits set from j (qs[0] most significant). */
function offsetsFor(n: number, qs: readonly number[]): Int32Array {
  const key = `${n}:${qs.join(",")}`;
  let off = offsetCache.get(key);
  if (!off) {
    const k = qs.length;
    off = new Int32Array(1 << k);
    for (let j = 0; j < 1 << k; j++) {
      let idx = 0;
      for (let t = 0; t < k; t++) if ((j >> (k - 1 - t)) & 1) idx |= 1 << (n - 1 - qs[t]);
      off[j] = idx;
    }
    if (offsetCache.size > 4096) offsetCache.clear();
    offsetCache.set(key, off);
  }
  return off;
}

/** All indices with zero bits at the listed qubits, ascending. */
function basesFor(n: number, qs: readonly number[]): Int32Array {
  let mask = 0;
  for (const q of qs) mask |= 1 << (n - 1 - q);
  const key = `${n}:${mask}`;
  let b = baseCache.get(key);
  if (!b) {
    b = new Int32Array((1 << n) >> qs.length);
    let k = 0;
    for (let i = 0; i < 1 << n; i++) if ((i & mask) === 0) b[k++] = i;
    if (baseCache.size > 4096) baseCache.clear();
    baseCache.set(key, b);
  }
  return b;
}

// ---- single-qubit superoperators --------------------------------------------------------------
// A single-qubit channel acts on each 2×2 block B of ρ (rows r0,r1 / columns c0,c1 differing in the
// qubit's bit) as vec(B') = S·vec(B), vec index a*2+b. S is 4×4 complex, interleaved.

const SUPEROP_SCRATCH = new Float64Array(32);

/** S[(a,b),(c,d)] = U[a,c]·conj(U[b,d]). */
function unitarySuperop1(u: Gate, s: Float64Array): Float64Array {
  s.fill(0);
  addKrausTerm(u, s);
  return s;
}

function krausSuperop1(ops: readonly Gate[], s: Float64Array): Float64Array {
  s.fill(0);
  for (const k of ops) addKrausTerm(k, s);
  return s;
}

function addKrausTerm(k: Gate, s: Float64Array): void {
  for (let a = 0; a < 2; a++)
    for (let b = 0; b < 2; b++)
      for (let c = 0; c < 2; c++)
        for (let d = 0; d < 2; d++) {
          const xr = k[2 * (a * 2 + c)];
          const xi = k[2 * (a * 2 + c) + 1];
          const yr = k[2 * (b * 2 + d)];
          const yi = -k[2 * (b * 2 + d) + 1];
          const o = 2 * ((a * 2 + b) * 4 + c * 2 + d);
          s[o] += xr * yr - xi * yi;
          s[o + 1] += xr * yi + xi * yr;
        }
}

function applySuperop1(m: DensityMatrix, s: Float64Array, q: number): void {
  const { dim, re, im } = m;
  const mask = 1 << (m.n - 1 - q);
  const half = dim >> 1;
  const low = mask - 1;
  const s0r = s[0],
    s0i = s[1],
    s1r = s[2],
    s1i = s[3],
    s2r = s[4],
    s2i = s[5],
    s3r = s[6],
    s3i = s[7];
  const s4r = s[8],
    s4i = s[9],
    s5r = s[10],
    s5i = s[11],
    s6r = s[12],
    s6i = s[13],
    s7r = s[14],
    s7i = s[15];
  const s8r = s[16],
    s8i = s[17],
    s9r = s[18],
    s9i = s[19],
    sAr = s[20],
    sAi = s[21],
    sBr = s[22],
    sBi = s[23];
  const sCr = s[24],
    sCi = s[25],
    sDr = s[26],
    sDi = s[27],
    sEr = s[28],
    sEi = s[29],
    sFr = s[30],
    sFi = s[31];
  for (let i = 0; i < half; i++) {
    const r0 = ((i & ~low) << 1) | (i & low);
    const row0 = r0 * dim;
    const row1 = (r0 | mask) * dim;
    for (let j = 0; j < half; j++) {
      const c0 = ((j & ~low) << 1) | (j & low);
      const c1 = c0 | mask;
      const k0 = row0 + c0,
        k1 = row0 + c1,
        k2 = row1 + c0,
        k3 = row1 + c1;
      const ar = re[k0],
        ai = im[k0],
        br = re[k1],
        bi = im[k1];
      const cr = re[k2],
        ci = im[k2],
        dr = re[k3],
        di = im[k3];
      re[k0] = s0r * ar - s0i * ai + s1r * br - s1i * bi + s2r * cr - s2i * ci + s3r * dr - s3i * di;
      im[k0] = s0r * ai + s0i * ar + s1r * bi + s1i * br + s2r * ci + s2i * cr + s3r * di + s3i * dr;
      re[k1] = s4r * ar - s4i * ai + s5r * br - s5i * bi + s6r * cr - s6i * ci + s7r * dr - s7i * di;
      im[k1] = s4r * ai + s4i * ar + s5r * bi + s5i * br + s6r * ci + s6i * cr + s7r * di + s7i * dr;
      re[k2] = s8r * ar - s8i * ai + s9r * br - s9i * bi + sAr * cr - sAi * ci + sBr * dr - sBi * di;
      im[k2] = s8r * ai + s8i * ar + s9r * bi + s9i * br + sAr * ci + sAi * cr + sBr * di + sBi * dr;
      re[k3] = sCr * ar - sCi * ai + sDr * br - sDi * bi + sEr * cr - sEi * ci + sFr * dr - sFi * di;
      im[k3] = sCr * ai + sCi * ar + sDr * bi + sDi * br + sEr * ci + sEi * cr + sFr * di + sFi * dr;
    }
  }
}

/**
 * A phase-covariant single-qubit channel with real coefficients, per 2×2 block [[a, b], [c, d]]:
 * a' = k00·a + k01·d, d' = k10·a + k11·d, b' = kc·b, c' = kc·c. Depolarizing, dephasing, amplitude
 * damping and T1/T2 decay are all of this form; one pass over the matrix, no complex products.
 */
function applyBlockMap(
  m: DensityMatrix,
  q: number,
  k00: number,
  k01: number,
  k10: number,
  k11: number,
  kc: number,
): void {
  const { dim, re, im } = m;
  const mask = 1 << (m.n - 1 - q);
  const half = dim >> 1;
  const low = mask - 1;
  for (let i = 0; i < half; i++) {
    const r0 = ((i & ~low) << 1) | (i & low);
    const row0 = r0 * dim;
    const row1 = (r0 | mask) * dim;
    for (let j = 0; j < half; j++) {
      const c0 = ((j & ~low) << 1) | (j & low);
      const k0 = row0 + c0;
      const k1 = k0 + mask;
      const k2 = row1 + c0;
      const k3 = k2 + mask;
      const ar = re[k0],
        ai = im[k0],
        dr = re[k3],
        di = im[k3];
      re[k0] = k00 * ar + k01 * dr;
      im[k0] = k00 * ai + k01 * di;
      re[k3] = k10 * ar + k11 * dr;
      im[k3] = k10 * ai + k11 * di;
      re[k1] *= kc;
      im[k1] *= kc;
      re[k2] *= kc;
      im[k2] *= kc;
    }
  }
}

/**
 * ρ → UρU† for a two-qubit gate in two passes: rows (U·ρ), then columns (·U†). Each pass mixes four
 * entries at a time with the gate held in locals, which keeps the inner loops tight.
 */
function applyUnitary2(m: DensityMatrix, u: Gate, qa: number, qb: number): void {
  const { dim, re, im } = m;
  const ma = 1 << (m.n - 1 - qa);
  const mb = 1 << (m.n - 1 - qb);
  const bases = basesFor(m.n, [qa, qb]);
  const o1 = mb,
    o2 = ma,
    o3 = ma | mb;
  const u00r = u[0],
    u00i = u[1],
    u01r = u[2],
    u01i = u[3],
    u02r = u[4],
    u02i = u[5],
    u03r = u[6],
    u03i = u[7];
  const u10r = u[8],
    u10i = u[9],
    u11r = u[10],
    u11i = u[11],
    u12r = u[12],
    u12i = u[13],
    u13r = u[14],
    u13i = u[15];
  const u20r = u[16],
    u20i = u[17],
    u21r = u[18],
    u21i = u[19],
    u22r = u[20],
    u22i = u[21],
    u23r = u[22],
    u23i = u[23];
  const u30r = u[24],
    u30i = u[25],
    u31r = u[26],
    u31i = u[27],
    u32r = u[28],
    u32i = u[29],
    u33r = u[30],
    u33i = u[31];
  // Rows: for each row quadruple and every column, v' = U v.
  for (let bi = 0; bi < bases.length; bi++) {
    const b = bases[bi];
    const r0 = b * dim,
      r1 = (b + o1) * dim,
      r2 = (b + o2) * dim,
      r3 = (b + o3) * dim;
    for (let c = 0; c < dim; c++) {
      const ar = re[r0 + c],
        ai = im[r0 + c],
        br = re[r1 + c],
        bi2 = im[r1 + c];
      const cr = re[r2 + c],
        ci = im[r2 + c],
        dr = re[r3 + c],
        di = im[r3 + c];
      re[r0 + c] =
        u00r * ar - u00i * ai + u01r * br - u01i * bi2 + u02r * cr - u02i * ci + u03r * dr - u03i * di;
      im[r0 + c] =
        u00r * ai + u00i * ar + u01r * bi2 + u01i * br + u02r * ci + u02i * cr + u03r * di + u03i * dr;
      re[r1 + c] =
        u10r * ar - u10i * ai + u11r * br - u11i * bi2 + u12r * cr - u12i * ci + u13r * dr - u13i * di;
      im[r1 + c] =
        u10r * ai + u10i * ar + u11r * bi2 + u11i * br + u12r * ci + u12i * cr + u13r * di + u13i * dr;
      re[r2 + c] =
        u20r * ar - u20i * ai + u21r * br - u21i * bi2 + u22r * cr - u22i * ci + u23r * dr - u23i * di;
      im[r2 + c] =
        u20r * ai + u20i * ar + u21r * bi2 + u21i * br + u22r * ci + u22i * cr + u23r * di + u23i * dr;
      re[r3 + c] =
        u30r * ar - u30i * ai + u31r * br - u31i * bi2 + u32r * cr - u32i * ci + u33r * dr - u33i * di;
      im[r3 + c] =
        u30r * ai + u30i * ar + u31r * bi2 + u31i * br + u32r * ci + u32i * cr + u33r * di + u33i * dr;
    }
  }
  // Columns: for each row and column quadruple, w' = w U† (entry y: Σ_x w_x conj(U[y][x])).
  for (let r = 0; r < dim; r++) {
    const row = r * dim;
    for (let bi = 0; bi < bases.length; bi++) {
      const k0 = row + bases[bi];
      const k1 = k0 + o1,
        k2 = k0 + o2,
        k3 = k0 + o3;
      const ar = re[k0],
        ai = im[k0],
        br = re[k1],
        bi2 = im[k1];
      const cr = re[k2],
        ci = im[k2],
        dr = re[k3],
        di = im[k3];
      re[k0] = ar * u00r + ai * u00i + br * u01r + bi2 * u01i + cr * u02r + ci * u02i + dr * u03r + di * u03i;
      im[k0] = ai * u00r - ar * u00i + bi2 * u01r - br * u01i + ci * u02r - cr * u02i + di * u03r - dr * u03i;
      re[k1] = ar * u10r + ai * u10i + br * u11r + bi2 * u11i + cr * u12r + ci * u12i + dr * u13r + di * u13i;
      im[k1] = ai * u10r - ar * u10i + bi2 * u11r - br * u11i + ci * u12r - cr * u12i + di * u13r - dr * u13i;
      re[k2] = ar * u20r + ai * u20i + br * u21r + bi2 * u21i + cr * u22r + ci * u22i + dr * u23r + di * u23i;
      im[k2] = ai * u20r - ar * u20i + bi2 * u21r - br * u21i + ci * u22r - cr * u22i + di * u23r - dr * u23i;
      re[k3] = ar * u30r + ai * u30i + br * u31r + bi2 * u31i + cr * u32r + ci * u32i + dr * u33r + di * u33i;
      im[k3] = ai * u30r - ar * u30i + bi2 * u31r - br * u31i + ci * u32r - cr * u32i + di * u33r - dr * u33i;
    }
  }
}

// ---- k-qubit operations -------------------------------------------------------------------------

let blockRe = new Float64Array(256);
let blockIm = new Float64Array(256);
let tmpRe = new Float64Array(256);
let tmpIm = new Float64Array(256);
let accRe = new Float64Array(256);
let accIm = new Float64Array(256);

function ensureScratch(d: number): void {
  if (blockRe.length < d * d) {
    blockRe = new Float64Array(d * d);
    blockIm = new Float64Array(d * d);
    tmpRe = new Float64Array(d * d);
    tmpIm = new Float64Array(d * d);
    accRe = new Float64Array(d * d);
    accIm = new Float64Array(d * d);
  }
}

/** tmp = U·B; out = tmp·U† (d×d blocks in the scratch arrays). */
function sandwich(u: Gate, d: number, outRe: Float64Array, outIm: Float64Array, add: boolean): void {
  for (let a = 0; a < d; a++)
    for (let c = 0; c < d; c++) {
      let sr = 0;
      let si = 0;
      for (let x = 0; x < d; x++) {
        const ur = u[2 * (a * d + x)];
        const ui = u[2 * (a * d + x) + 1];
        if (ur === 0 && ui === 0) continue;
        const br = blockRe[x * d + c];
        const bi = blockIm[x * d + c];
        sr += ur * br - ui * bi;
        si += ur * bi + ui * br;
      }
      tmpRe[a * d + c] = sr;
      tmpIm[a * d + c] = si;
    }
  for (let a = 0; a < d; a++)
    for (let b = 0; b < d; b++) {
      let sr = 0;
      let si = 0;
      for (let x = 0; x < d; x++) {
        // (U†)[x,b] = conj(U[b,x])
        const ur = u[2 * (b * d + x)];
        const ui = -u[2 * (b * d + x) + 1];
        if (ur === 0 && ui === 0) continue;
        const tr = tmpRe[a * d + x];
        const ti = tmpIm[a * d + x];
        sr += tr * ur - ti * ui;
        si += tr * ui + ti * ur;
      }
      if (add) {
        outRe[a * d + b] += sr;
        outIm[a * d + b] += si;
      } else {
        outRe[a * d + b] = sr;
        outIm[a * d + b] = si;
      }
    }
}

function forEachBlock(
  m: DensityMatrix,
  qs: readonly number[],
  k: number,
  transform: (d: number) => { re: Float64Array; im: Float64Array },
): void {
  const d = 1 << k;
  ensureScratch(d);
  const off = offsetsFor(m.n, qs);
  const bases = basesFor(m.n, qs);
  const { dim, re, im } = m;
  for (let bi = 0; bi < bases.length; bi++) {
    const br = bases[bi];
    for (let bj = 0; bj < bases.length; bj++) {
      const bc = bases[bj];
      for (let x = 0; x < d; x++) {
        const row = (br + off[x]) * dim + bc;
        for (let y = 0; y < d; y++) {
          blockRe[x * d + y] = re[row + off[y]];
          blockIm[x * d + y] = im[row + off[y]];
        }
      }
      const out = transform(d);
      for (let x = 0; x < d; x++) {
        const row = (br + off[x]) * dim + bc;
        for (let y = 0; y < d; y++) {
          re[row + off[y]] = out.re[x * d + y];
          im[row + off[y]] = out.im[x * d + y];
        }
      }
    }
  }
}

function applyUnitaryK(m: DensityMatrix, u: Gate, qs: readonly number[], k: number): void {
  const result = { re: accRe, im: accIm };
  forEachBlock(m, qs, k, (d) => {
    sandwich(u, d, accRe, accIm, false);
    result.re = accRe;
    result.im = accIm;
    return result;
  });
}

function applyKrausK(m: DensityMatrix, ops: readonly Gate[], qs: readonly number[], k: number): void {
  const result = { re: accRe, im: accIm };
  forEachBlock(m, qs, k, (d) => {
    accRe.fill(0, 0, d * d);
    accIm.fill(0, 0, d * d);
    for (const op of ops) sandwich(op, d, accRe, accIm, true);
    result.re = accRe;
    result.im = accIm;
    return result;
  });
}

/** Σ K†K − I, max entry magnitude: 0 for a trace-preserving channel. */
export function krausCompleteness(ops: readonly Gate[]): number {
  const d = 1 << gateQubits(ops[0]);
  let e = 0;
  for (let r = 0; r < d; r++)
    for (let c = 0; c < d; c++) {
      let sr = r === c ? -1 : 0;
      let si = 0;
      for (const k of ops)
        for (let x = 0; x < d; x++) {
          // (K†K)[r,c] = Σ_x conj(K[x,r]) K[x,c]
          const ar = k[2 * (x * d + r)];
          const ai = -k[2 * (x * d + r) + 1];
          const br = k[2 * (x * d + c)];
          const bi = k[2 * (x * d + c) + 1];
          sr += ar * br - ai * bi;
          si += ar * bi + ai * br;
        }
      e = Math.max(e, Math.hypot(sr, si));
    }
  return e;
}
