import { describe, expect, it } from "vitest";
import { BellState, bellAmplitudes } from "../../src/quantum/bell.js";
import { DensityMatrix } from "../../src/quantum/density-matrix.js";
import { CNOT, H, rx, ry, rz, X, Z } from "../../src/quantum/gates.js";
import { StateVector } from "../../src/quantum/state-vector.js";

/** Werner pair with fidelity F to Φ+: F|Φ+⟩⟨Φ+| + (1−F)/3 (I − |Φ+⟩⟨Φ+|). */
function werner(f: number): DensityMatrix {
  const phi = DensityMatrix.fromPure(bellAmplitudes(BellState.PhiPlus));
  const m = new DensityMatrix(2);
  for (let k = 0; k < 16; k++) {
    const id = k % 5 === 0 ? 1 : 0;
    m.re[k] = f * phi.re[k] + ((1 - f) / 3) * (id - phi.re[k]);
  }
  return m;
}

/**
 * Teleports |ψ⟩ (qubit 0) through the pair on qubits 1 (Alice) and 2 (Bob) as a full circuit: Bell-state
 * measurement (CNOT 0→1, H on 0, measure both), then Bob applies X^{m2} Z^{m1}. Every measurement branch
 * is followed exactly and weighted by its probability, so the output is the exact average state.
 */
function teleport(psi: StateVector, pair: DensityMatrix): DensityMatrix {
  const rho = psi.toDensityMatrix().tensor(pair);
  rho.apply(CNOT, [0, 1]).apply(H, 0);
  const out = new DensityMatrix(1);
  for (const m1 of [0, 1] as const)
    for (const m2 of [0, 1] as const) {
      const branch = rho.clone();
      let p: number;
      try {
        p = branch.project(0, m1) * branch.project(1, m2);
      } catch {
        continue; // a branch of probability zero contributes nothing
      }
      if (m2) branch.apply(X, 2);
      if (m1) branch.apply(Z, 2);
      const bob = branch.partialTrace([2]);
      for (let k = 0; k < 4; k++) {
        out.re[k] += p * bob.re[k];
        out.im[k] += p * bob.im[k];
      }
    }
  return out;
}

/** The six Pauli eigenstates: a 2-design, so their average fidelity equals the Haar average. */
const CARDINAL: readonly StateVector[] = [
  new StateVector(1, 0),
  new StateVector(1, 1),
  StateVector.fromAmplitudes([1, 1]),
  StateVector.fromAmplitudes([1, -1]),
  StateVector.fromAmplitudes([1, 0], [0, 1]),
  StateVector.fromAmplitudes([1, 0], [0, -1]),
];

describe("teleportation on density matrices (physics.md: average fidelity (2F+1)/3)", () => {
  it("is perfect with a perfect pair, for arbitrary input states", () => {
    for (const angles of [
      [0.3, 1.2, -0.4],
      [2.1, 0.2, 0.9],
    ]) {
      const psi = new StateVector(1).apply(rx(angles[0]), 0).apply(ry(angles[1]), 0).apply(rz(angles[2]), 0);
      const out = teleport(psi, werner(1));
      expect(out.fidelityPure(psi.re, psi.im)).toBeCloseTo(1, 12);
    }
  });
  for (const [f, expected] of [
    [0.9, 0.933333],
    [0.75, (2 * 0.75 + 1) / 3],
    [0.5, (2 * 0.5 + 1) / 3],
  ] as const) {
    it(`Werner F=${f} gives average fidelity ${expected.toFixed(6)}`, () => {
      let sum = 0;
      for (const psi of CARDINAL) sum += teleport(psi, werner(f)).fidelityPure(psi.re, psi.im);
      expect(sum / CARDINAL.length).toBeCloseTo(expected, 6);
    });
  }
});
