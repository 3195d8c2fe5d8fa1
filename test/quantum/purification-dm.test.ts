import { describe, expect, it } from "vitest";
import {
  type BellDiagonal,
  bbpssw,
  bellDiagonalFromDensityMatrix,
  bellDiagonalToDensityMatrix,
  bilateralCnot,
  createBellDiagonal,
  dejmps,
  twirlBellDiagonal,
  wernerState,
} from "../../src/quantum/bell-diagonal.js";
import { DensityMatrix } from "../../src/quantum/density-matrix.js";
import { CNOT, rx } from "../../src/quantum/gates.js";

/**
 * Recurrence purification computed on four-qubit density matrices and compared with the Bell-diagonal
 * maps of bell-diagonal.ts. Pair A is qubits 0–1 (kept), pair B qubits 2–3 (measured); Alice holds 0
 * and 2, Bob 1 and 3. Published values: shared/reference/physics.md (Bennett et al., PRL 76, 722 (1996);
 * Deutsch et al., PRL 77, 2818 (1996)).
 */

const PHI_PLUS = [Math.SQRT1_2, 0, 0, Math.SQRT1_2];

interface Round {
  /** Exact success probability: the sum over the two agreeing outcomes. */
  readonly success: number;
  /** The kept pair (qubits 0, 1), conditioned on success. */
  readonly kept: DensityMatrix;
}

/**
 * One round: optional DEJMPS rotations (Rx(π/2) on Alice's qubits, Rx(−π/2) on Bob's), bilateral CNOT
 * (0→2 at Alice, 1→3 at Bob), Z measurement of pair B at both ends, keep on equal outcomes.
 */
function purifyOnDensityMatrices(pairA: DensityMatrix, pairB: DensityMatrix, rotate: boolean): Round {
  const joint = pairA.tensor(pairB);
  if (rotate) {
    joint.apply(rx(Math.PI / 2), 0).apply(rx(Math.PI / 2), 2);
    joint.apply(rx(-Math.PI / 2), 1).apply(rx(-Math.PI / 2), 3);
  }
  joint.apply(CNOT, [0, 2]).apply(CNOT, [1, 3]);
  const kept = new DensityMatrix(2);
  let success = 0;
  for (const m of [0, 1] as const) {
    const branch = joint.clone();
    if (branch.probability(2, m) === 0) continue;
    const pAlice = branch.project(2, m);
    if (branch.probability(3, m) === 0) continue;
    const pBob = branch.project(3, m);
    const p = pAlice * pBob;
    const pair = branch.partialTrace([0, 1]);
    for (let k = 0; k < kept.re.length; k++) {
      kept.re[k] += p * pair.re[k];
      kept.im[k] += p * pair.im[k];
    }
    success += p;
  }
  for (let k = 0; k < kept.re.length; k++) {
    kept.re[k] /= success;
    kept.im[k] /= success;
  }
  return { success, kept };
}

function maxDiff(a: DensityMatrix, b: DensityMatrix): number {
  let e = 0;
  for (let k = 0; k < a.re.length; k++)
    e = Math.max(e, Math.abs(a.re[k] - b.re[k]), Math.abs(a.im[k] - b.im[k]));
  return e;
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number): void {
  for (let k = 0; k < 4; k++) expect(Math.abs(actual[k] - expected[k])).toBeLessThan(tol);
}

/** Checks a density-matrix round against a Bell-diagonal map and returns the map's output. */
function expectSameRound(
  round: Round,
  map: (out: BellDiagonal, a: BellDiagonal, b: BellDiagonal) => number,
  a: BellDiagonal,
  b: BellDiagonal,
): BellDiagonal {
  const out = new Float64Array(4);
  const p = map(out, a, b);
  expect(Math.abs(round.success - p)).toBeLessThan(1e-9);
  expect(round.kept.trace()).toBeCloseTo(1, 12);
  // The kept pair is exactly Bell-diagonal, so the whole matrix must agree, not only its Bell diagonal.
  expect(maxDiff(round.kept, bellDiagonalToDensityMatrix(out))).toBeLessThan(1e-9);
  return out;
}

describe("BBPSSW on four-qubit density matrices (Werner input)", () => {
  it("round 1 from F = 0.7: p = 0.680000, F = 0.735294 after the re-twirl", () => {
    const werner = wernerState(0.7);
    const rho = bellDiagonalToDensityMatrix(werner);
    const round = purifyOnDensityMatrices(rho, rho, false);
    expect(round.success).toBeCloseTo(0.68, 6);
    // Before the twirl the kept pair is the plain bilateral-CNOT output …
    const raw = expectSameRound(round, bilateralCnot, werner, werner);
    // … whose fidelity the twirl keeps, and whose twirl is what BBPSSW returns.
    expect(round.kept.fidelityPure(PHI_PLUS)).toBeCloseTo(0.735294, 6);
    const twirled = twirlBellDiagonal(new Float64Array(4), bellDiagonalFromDensityMatrix(round.kept));
    const out = new Float64Array(4);
    expect(Math.abs(bbpssw(out, werner, werner) - round.success)).toBeLessThan(1e-9);
    expectClose(twirled, out, 1e-9);
    expectClose(twirlBellDiagonal(raw, raw), out, 1e-9);
  });

  it("round 2 on the twirled round-1 output: p = 0.709343, F = 0.773171", () => {
    const round1 = purifyOnDensityMatrices(
      bellDiagonalToDensityMatrix(wernerState(0.7)),
      bellDiagonalToDensityMatrix(wernerState(0.7)),
      false,
    );
    const twirled = twirlBellDiagonal(new Float64Array(4), bellDiagonalFromDensityMatrix(round1.kept));
    const rho = bellDiagonalToDensityMatrix(twirled);
    const round2 = purifyOnDensityMatrices(rho, rho, false);
    expect(round2.success).toBeCloseTo(0.709343, 6);
    expect(round2.kept.fidelityPure(PHI_PLUS)).toBeCloseTo(0.773171, 6);
    const out = new Float64Array(4);
    expect(Math.abs(bbpssw(out, twirled, twirled) - round2.success)).toBeLessThan(1e-9);
    expect(Math.abs(out[0] - round2.kept.fidelityPure(PHI_PLUS))).toBeLessThan(1e-9);
  });

  it("unequal Werner pairs agree with the Bell-diagonal map", () => {
    const a = wernerState(0.82);
    const b = wernerState(0.64);
    const round = purifyOnDensityMatrices(
      bellDiagonalToDensityMatrix(a),
      bellDiagonalToDensityMatrix(b),
      false,
    );
    const raw = expectSameRound(round, bilateralCnot, a, b);
    const out = new Float64Array(4);
    bbpssw(out, a, b);
    expectClose(twirlBellDiagonal(raw, raw), out, 1e-9);
  });
});

describe("DEJMPS on four-qubit density matrices", () => {
  it("round 1 from Werner F = 0.7: p = 0.680000, (A, B, C, D) = (0.735294, 0.029412, 0.029412, 0.205882)", () => {
    const werner = wernerState(0.7);
    const rho = bellDiagonalToDensityMatrix(werner);
    const round = purifyOnDensityMatrices(rho, rho, true);
    expect(round.success).toBeCloseTo(0.68, 6);
    const out = expectSameRound(round, dejmps, werner, werner);
    const coefficients = bellDiagonalFromDensityMatrix(round.kept);
    expectClose(coefficients, out, 1e-9);
    expectClose(coefficients, [0.735294, 0.029412, 0.029412, 0.205882], 5e-7);
  });

  it("round 2 on the round-1 density matrix (no twirl): p = 0.640138, F = 0.845946", () => {
    const werner = wernerState(0.7);
    const rho = bellDiagonalToDensityMatrix(werner);
    const round1 = purifyOnDensityMatrices(rho, rho, true);
    const round2 = purifyOnDensityMatrices(round1.kept, round1.kept, true);
    expect(round2.success).toBeCloseTo(0.640138, 6);
    expect(round2.kept.fidelityPure(PHI_PLUS)).toBeCloseTo(0.845946, 6);
    const mapped = new Float64Array(4);
    dejmps(mapped, werner, werner);
    expectSameRound(round2, dejmps, mapped, mapped.slice());
  });

  it("two different non-Werner pairs agree with the general two-input map", () => {
    const a = createBellDiagonal(0.66, 0.07, 0.19, 0.08);
    const b = createBellDiagonal(0.74, 0.15, 0.02, 0.09);
    const round = purifyOnDensityMatrices(
      bellDiagonalToDensityMatrix(a),
      bellDiagonalToDensityMatrix(b),
      true,
    );
    expectSameRound(round, dejmps, a, b);
    // Without the rotations the same pairs follow the plain bilateral-CNOT map instead.
    const plain = purifyOnDensityMatrices(
      bellDiagonalToDensityMatrix(a),
      bellDiagonalToDensityMatrix(b),
      false,
    );
    expectSameRound(plain, bilateralCnot, a, b);
  });
});
