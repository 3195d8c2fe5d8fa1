import { DensityMatrix, MAX_QUBITS } from "./density-matrix.js";
import { type Gate, gateQubits } from "./gates.js";
import type { RandomSource } from "./random-source.js";

/** Largest register a state vector accepts (2^24 amplitudes = 256 MiB). */
export const MAX_STATE_VECTOR_QUBITS = 24;

/**
 * A pure state of `n` qubits for noiseless work: 2^n complex amplitudes in `re`/`im`. Qubit 0 is the
 * most significant bit of a basis index, as for {@link DensityMatrix}. Operations act in place.
 */
export class StateVector {
  readonly n: number;
  readonly dim: number;
  readonly re: Float64Array;
  readonly im: Float64Array;

  /** |index⟩ on n qubits (default |0…0⟩). */
  constructor(n: number, index = 0) {
    if (!Number.isInteger(n) || n < 0 || n > MAX_STATE_VECTOR_QUBITS)
      throw new RangeError(`qubit count must be an integer in 0..${MAX_STATE_VECTOR_QUBITS}, got ${n}`);
    this.n = n;
    this.dim = 1 << n;
    if (!Number.isInteger(index) || index < 0 || index >= this.dim)
      throw new RangeError(`basis index must be in 0..${this.dim - 1}, got ${index}`);
    this.re = new Float64Array(this.dim);
    this.im = new Float64Array(this.dim);
    this.re[index] = 1;
  }

  /** A state from amplitudes (normalised here). */
  static fromAmplitudes(re: ArrayLike<number>, im?: ArrayLike<number>): StateVector {
    const n = Math.round(Math.log2(re.length));
    if (1 << n !== re.length) throw new RangeError(`a state vector needs 2^n amplitudes, got ${re.length}`);
    if (im && im.length !== re.length) throw new RangeError("real and imaginary parts differ in length");
    const s = new StateVector(n);
    let norm = 0;
    for (let i = 0; i < re.length; i++) {
      s.re[i] = re[i];
      s.im[i] = im ? im[i] : 0;
      norm += s.re[i] * s.re[i] + s.im[i] * s.im[i];
    }
    if (!(norm > 0)) throw new RangeError("the zero vector is not a state");
    s.scale(1 / Math.sqrt(norm));
    return s;
  }

  clone(): StateVector {
    const s = new StateVector(this.n);
    s.re.set(this.re);
    s.im.set(this.im);
    return s;
  }

  /** Σ|a|². */
  norm2(): number {
    let t = 0;
    for (let i = 0; i < this.dim; i++) t += this.re[i] * this.re[i] + this.im[i] * this.im[i];
    return t;
  }

  /** Applies a k-qubit gate to the listed qubits (the gate's first qubit is `qubits[0]`). */
  apply(g: Gate, qubits: number | readonly number[]): this {
    const qs = typeof qubits === "number" ? [qubits] : qubits;
    const k = gateQubits(g);
    if (qs.length !== k) throw new RangeError(`a ${k}-qubit gate was given ${qs.length} qubit index(es)`);
    let mask = 0;
    for (const q of qs) {
      if (!Number.isInteger(q) || q < 0 || q >= this.n)
        throw new RangeError(`qubit index ${q} is out of range for ${this.n} qubit(s)`);
      const b = 1 << (this.n - 1 - q);
      if (mask & b) throw new RangeError(`qubit ${q} is listed twice`);
      mask |= b;
    }
    if (k === 1) this.apply1(g, mask);
    else this.applyK(g, qs, k, mask);
    return this;
  }

  private apply1(g: Gate, mask: number): void {
    const { re, im, dim } = this;
    const u0r = g[0],
      u0i = g[1],
      u1r = g[2],
      u1i = g[3],
      u2r = g[4],
      u2i = g[5],
      u3r = g[6],
      u3i = g[7];
    const low = mask - 1;
    for (let i = 0; i < dim >> 1; i++) {
      const a = ((i & ~low) << 1) | (i & low);
      const b = a | mask;
      const ar = re[a],
        ai = im[a],
        br = re[b],
        bi = im[b];
      re[a] = u0r * ar - u0i * ai + u1r * br - u1i * bi;
      im[a] = u0r * ai + u0i * ar + u1r * bi + u1i * br;
      re[b] = u2r * ar - u2i * ai + u3r * br - u3i * bi;
      im[b] = u2r * ai + u2i * ar + u3r * bi + u3i * br;
    }
  }

  private applyK(g: Gate, qs: readonly number[], k: number, mask: number): void {
    const d = 1 << k;
    const off = new Int32Array(d);
    for (let j = 0; j < d; j++)
      for (let t = 0; t < k; t++) if ((j >> (k - 1 - t)) & 1) off[j] |= 1 << (this.n - 1 - qs[t]);
    const vr = new Float64Array(d);
    const vi = new Float64Array(d);
    const { re, im, dim } = this;
    for (let base = 0; base < dim; base++) {
      if ((base & mask) !== 0) continue;
      for (let j = 0; j < d; j++) {
        vr[j] = re[base + off[j]];
        vi[j] = im[base + off[j]];
      }
      for (let a = 0; a < d; a++) {
        let sr = 0;
        let si = 0;
        for (let x = 0; x < d; x++) {
          const ur = g[2 * (a * d + x)];
          const ui = g[2 * (a * d + x) + 1];
          sr += ur * vr[x] - ui * vi[x];
          si += ur * vi[x] + ui * vr[x];
        }
        re[base + off[a]] = sr;
        im[base + off[a]] = si;
      }
    }
  }

  /** Probability of `outcome` when qubit q is measured in the computational basis. */
  probability(q: number, outcome: 0 | 1): number {
    const m = this.mask(q);
    let p = 0;
    for (let i = 0; i < this.dim; i++)
      if ((i & m) !== 0) p += this.re[i] * this.re[i] + this.im[i] * this.im[i];
    p /= this.norm2();
    return outcome === 1 ? p : 1 - p;
  }

  /**
   * Projective measurement of qubit q in the computational basis, or in the basis whose states are the
   * columns of the single-qubit unitary `basis`. The qubit is left in the measured basis state.
   */
  measure(q: number, rng: RandomSource, basis?: Gate): 0 | 1 {
    if (basis) this.apply(adjoint2(basis), q);
    const p1 = this.probability(q, 1);
    const outcome: 0 | 1 = rng.random() < p1 ? 1 : 0;
    this.collapse(q, outcome, outcome === 1 ? p1 : 1 - p1);
    if (basis) this.apply(basis, q);
    return outcome;
  }

  /** Projects qubit q onto |outcome⟩, renormalises and returns the outcome's probability. */
  project(q: number, outcome: 0 | 1): number {
    const p = this.probability(q, outcome);
    if (!(p > 0)) throw new RangeError(`outcome ${outcome} on qubit ${q} has probability 0`);
    this.collapse(q, outcome, p);
    return p;
  }

  /** |⟨this|other⟩|². */
  fidelity(other: StateVector): number {
    if (other.n !== this.n) throw new RangeError(`states have ${this.n} and ${other.n} qubits`);
    let sr = 0;
    let si = 0;
    for (let i = 0; i < this.dim; i++) {
      sr += this.re[i] * other.re[i] + this.im[i] * other.im[i];
      si += this.re[i] * other.im[i] - this.im[i] * other.re[i];
    }
    return (sr * sr + si * si) / (this.norm2() * other.norm2());
  }

  /** |this⟩ ⊗ |other⟩. */
  tensor(other: StateVector): StateVector {
    const s = new StateVector(this.n + other.n);
    s.re[0] = 0;
    for (let a = 0; a < this.dim; a++)
      for (let b = 0; b < other.dim; b++) {
        const k = a * other.dim + b;
        s.re[k] = this.re[a] * other.re[b] - this.im[a] * other.im[b];
        s.im[k] = this.re[a] * other.im[b] + this.im[a] * other.re[b];
      }
    return s;
  }

  /** |ψ⟩⟨ψ| (up to {@link MAX_QUBITS} qubits). */
  toDensityMatrix(): DensityMatrix {
    if (this.n > MAX_QUBITS) throw new RangeError(`a density matrix holds at most ${MAX_QUBITS} qubits`);
    return DensityMatrix.fromPure(this.re, this.im);
  }

  private scale(f: number): void {
    for (let i = 0; i < this.dim; i++) {
      this.re[i] *= f;
      this.im[i] *= f;
    }
  }

  private mask(q: number): number {
    if (!Number.isInteger(q) || q < 0 || q >= this.n)
      throw new RangeError(`qubit index ${q} is out of range for ${this.n} qubit(s)`);
    return 1 << (this.n - 1 - q);
  }

  private collapse(q: number, outcome: 0 | 1, p: number): void {
    const m = this.mask(q);
    const want = outcome === 1 ? m : 0;
    const f = 1 / Math.sqrt(p * this.norm2());
    for (let i = 0; i < this.dim; i++) {
      if ((i & m) === want) {
        this.re[i] *= f;
        this.im[i] *= f;
      } else {
        this.re[i] = 0;
        this.im[i] = 0;
      }
    }
  }
}

function adjoint2(u: Gate): Gate {
  if (u.length !== 8) throw new RangeError("a measurement basis is a single-qubit unitary (2×2)");
  return Float64Array.of(u[0], -u[1], u[4], -u[5], u[2], -u[3], u[6], -u[7]);
}
