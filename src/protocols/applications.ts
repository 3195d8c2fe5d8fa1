import { bellMeasure } from "../quantum/bell.js";
import { type BellDiagonal, bellDiagonalToDensityMatrix } from "../quantum/bell-diagonal.js";
import { DensityMatrix } from "../quantum/density-matrix.js";
import { type Gate, ry, rz, X, Z } from "../quantum/gates.js";
import type { RandomSource } from "../quantum/random-source.js";

/**
 * Applications that consume delivered pairs, run as circuits on density matrices so that every kind of
 * pair (not only Werner pairs) is handled exactly.
 */

/** The qubit state cos(θ/2)|0⟩ + e^{iφ} sin(θ/2)|1⟩ as a density matrix. */
export function blochState(theta: number, phi: number): DensityMatrix {
  return DensityMatrix.basis(1).apply(ry(theta), 0).apply(rz(phi), 0);
}

/**
 * Teleports the state (θ, φ) from the first to the second node of `pair` (Bell-diagonal, DEJMPS order,
 * Φ+ target): Bell-state measurement of the input with the sender's half, outcomes sampled with `rng`,
 * Pauli correction at the receiver. Returns the fidelity of the received state with the input.
 */
export function teleportThroughPair(
  pair: BellDiagonal,
  theta: number,
  phi: number,
  rng: RandomSource,
): number {
  const input = blochState(theta, phi);
  const rho = input.tensor(bellDiagonalToDensityMatrix(pair));
  const outcome = bellMeasure(rho, 0, 1, rng);
  // Outcome bits (m1, m2) = (phase, parity): correct X^{m2} then Z^{m1}.
  if (outcome & 1) rho.apply(X, 2);
  if (outcome & 2) rho.apply(Z, 2);
  const out = rho.partialTrace([2]);
  let f = 0;
  for (let k = 0; k < 4; k++) f += input.re[k] * out.re[k] + input.im[k] * out.im[k];
  return f;
}

/** Measurement angles in the X–Z plane (radians) that maximise S for Φ+: a ∈ {0, π/2}, b ∈ {π/4, −π/4}. */
export const CHSH_ANGLES = { a: [0, Math.PI / 2], b: [Math.PI / 4, -Math.PI / 4] } as const;

/** The result of a CHSH test: S = E(a0,b0) + E(a0,b1) + E(a1,b0) − E(a1,b1) and its standard error. */
export interface ChshResult {
  rounds: number;
  s: number;
  sStderr: number;
  /** Correlators E(a_i, b_j) in the order (0,0), (0,1), (1,0), (1,1). */
  correlators: number[];
  /** Rounds per setting, same order. */
  counts: number[];
}

/**
 * A CHSH Bell test over delivered pairs: each pair is measured once, with settings chosen uniformly at
 * random, each party measuring cos(angle)·Z + sin(angle)·X on its half. Local realism bounds |S| ≤ 2;
 * Φ+ reaches 2√2, a Werner pair 2√2·w.
 */
export class ChshTest {
  private readonly sums = new Float64Array(4);
  private readonly counts = new Float64Array(4);
  private readonly bases: Gate[];

  constructor() {
    // Measuring cos θ·Z + sin θ·X is measuring in the basis Ry(θ)|0⟩, Ry(θ)|1⟩.
    this.bases = [...CHSH_ANGLES.a, ...CHSH_ANGLES.b].map((t) => ry(t));
  }

  /** Measures one pair with random settings; returns the product of the ±1 outcomes. */
  record(pair: BellDiagonal, rng: RandomSource): number {
    const i = rng.random() < 0.5 ? 0 : 1;
    const j = rng.random() < 0.5 ? 0 : 1;
    const rho = bellDiagonalToDensityMatrix(pair);
    const x = rho.measure(0, rng, this.bases[i]);
    const y = rho.measure(1, rng, this.bases[2 + j]);
    const product = x === y ? 1 : -1;
    this.sums[2 * i + j] += product;
    this.counts[2 * i + j]++;
    return product;
  }

  result(): ChshResult {
    const e = Array.from(this.sums, (s, k) => (this.counts[k] > 0 ? s / this.counts[k] : Number.NaN));
    const sign = [1, 1, 1, -1];
    let s = 0;
    let variance = 0;
    for (let k = 0; k < 4; k++) {
      s += sign[k] * e[k];
      // A ±1 variable with mean E has variance 1 − E².
      variance += this.counts[k] > 0 ? (1 - e[k] * e[k]) / this.counts[k] : Number.NaN;
    }
    return {
      rounds: this.counts.reduce((a, b) => a + b, 0),
      s,
      sStderr: Math.sqrt(variance),
      correlators: e,
      counts: Array.from(this.counts),
    };
  }
}
