import type { DensityMatrix } from "./density-matrix.js";
import { CNOT, H } from "./gates.js";
import type { RandomSource } from "./random-source.js";

/**
 * The four Bell states, indexed by the outcome bits (m1, m2) of the standard Bell-state measurement
 * (CNOT then H on the first qubit, then measure both): index = 2·m1 + m2.
 *   0 Φ+ = (|00⟩+|11⟩)/√2   1 Ψ+ = (|01⟩+|10⟩)/√2   2 Φ− = (|00⟩−|11⟩)/√2   3 Ψ− = (|01⟩−|10⟩)/√2
 */
export const BellState = { PhiPlus: 0, PsiPlus: 1, PhiMinus: 2, PsiMinus: 3 } as const;
export type BellState = (typeof BellState)[keyof typeof BellState];

const R = Math.SQRT1_2;
const AMPLITUDES: readonly (readonly number[])[] = [
  [R, 0, 0, R],
  [0, R, R, 0],
  [R, 0, 0, -R],
  [0, R, -R, 0],
];

/** Real amplitudes of a Bell state over |00⟩, |01⟩, |10⟩, |11⟩. */
export function bellAmplitudes(b: BellState): readonly number[] {
  return AMPLITUDES[b];
}

/**
 * Bell-state measurement of qubits a and b of ρ: returns the index of the Bell state found (see
 * {@link BellState}); both qubits are left in the computational-basis product state measured.
 */
export function bellMeasure(rho: DensityMatrix, a: number, b: number, rng: RandomSource): BellState {
  rho.apply(CNOT, [a, b]);
  rho.apply(H, a);
  const m1 = rho.measure(a, rng);
  const m2 = rho.measure(b, rng);
  return (2 * m1 + m2) as BellState;
}
