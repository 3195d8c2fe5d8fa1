import { describe, expect, it } from "vitest";
import { BellState, bellAmplitudes, bellMeasure } from "../../src/quantum/bell.js";
import { DensityMatrix } from "../../src/quantum/density-matrix.js";
import { H, matmul, ry, S } from "../../src/quantum/gates.js";
import { StateVector } from "../../src/quantum/state-vector.js";
import { RngStreams } from "../../src/sim/rng.js";

describe("Bell-state measurement", () => {
  it("identifies each Bell state with certainty, on any pair of qubits", () => {
    const rng = new RngStreams(1).stream("bsm");
    for (const b of [BellState.PhiPlus, BellState.PsiPlus, BellState.PhiMinus, BellState.PsiMinus]) {
      const pair = DensityMatrix.fromPure(bellAmplitudes(b));
      // The pair on qubits 1 and 2 of three, with qubit 0 in |+⟩.
      const rho = DensityMatrix.fromPure([1, 1]).tensor(pair);
      for (let k = 0; k < 5; k++) expect(bellMeasure(rho.clone(), 1, 2, rng)).toBe(b);
      // Bell states are symmetric under exchange of the qubits up to a sign, so the order does not matter.
      expect(bellMeasure(pair.clone(), 1, 0, rng)).toBe(b);
    }
  });
  it("on a product state |00⟩, finds Φ+ and Φ− each with probability 1/2 (binomial, 5σ)", () => {
    const rng = new RngStreams(2).stream("bsm");
    const n = 4000;
    let phiPlus = 0;
    for (let i = 0; i < n; i++) {
      const r = bellMeasure(DensityMatrix.basis(2), 0, 1, rng);
      expect(r === BellState.PhiPlus || r === BellState.PhiMinus).toBe(true);
      if (r === BellState.PhiPlus) phiPlus++;
    }
    expect(Math.abs(phiPlus / n - 0.5)).toBeLessThan(5 * Math.sqrt(0.25 / n));
  });
});

describe("projective measurement with a supplied RNG", () => {
  it("follows the Born rule: Ry(θ)|0⟩ gives 1 with probability sin²(θ/2) (binomial, 5σ)", () => {
    const rng = new RngStreams(3).stream("measure");
    const theta = 1.1;
    const p = Math.sin(theta / 2) ** 2;
    const n = 20000;
    let ones = 0;
    let onesSv = 0;
    for (let i = 0; i < n; i++) {
      ones += DensityMatrix.basis(1).apply(ry(theta), 0).measure(0, rng);
      onesSv += new StateVector(1).apply(ry(theta), 0).measure(0, rng);
    }
    const sigma = Math.sqrt((p * (1 - p)) / n);
    expect(Math.abs(ones / n - p)).toBeLessThan(5 * sigma);
    expect(Math.abs(onesSv / n - p)).toBeLessThan(5 * sigma);
  });
  it("measures in the Y basis (columns of S·H): |+i⟩ always gives 0 and stays |+i⟩", () => {
    const yBasis = matmul(S, H);
    const rng = new RngStreams(4).stream("y");
    const plusI = StateVector.fromAmplitudes([1, 0], [0, 1]);
    for (let i = 0; i < 50; i++) {
      const rho = plusI.toDensityMatrix();
      expect(rho.measure(0, rng, yBasis)).toBe(0);
      expect(rho.fidelityPure(plusI.re, plusI.im)).toBeCloseTo(1, 12);
    }
  });
  it("is reproducible: the same stream gives the same outcomes", () => {
    const outcomes = (seed: number) => {
      const rng = new RngStreams(seed).stream("m");
      return Array.from({ length: 64 }, () => DensityMatrix.basis(1).apply(H, 0).measure(0, rng));
    };
    expect(outcomes(9)).toEqual(outcomes(9));
    expect(outcomes(9)).not.toEqual(outcomes(10));
  });
});
