import { describe, expect, it } from "vitest";
import {
  type BellDiagonal,
  BellIndex,
  bbpssw,
  bellDiagonalFidelity,
  bellDiagonalFromDensityMatrix,
  bellDiagonalToDensityMatrix,
  bellDiagonalWernerParameter,
  bilateralCnot,
  checkBellDiagonal,
  composePauliErrors,
  createBellDiagonal,
  decayDephasing,
  decayDepolarizing,
  dejmps,
  fidelityFromWernerParameter,
  fromPauliOrder,
  swapBellDiagonal,
  toPauliOrder,
  twirlBellDiagonal,
  wernerParameter,
  wernerState,
} from "../../src/quantum/bell-diagonal.js";
import { DensityMatrix } from "../../src/quantum/density-matrix.js";
import { CNOT, H, I, X, Y, Z } from "../../src/quantum/gates.js";
import { Rng } from "../../src/sim/rng.js";

// Bell states in DEJMPS order (Φ+, Ψ−, Ψ+, Φ−) over |00⟩, |01⟩, |10⟩, |11⟩ (qubit 0 most significant).
const R = Math.SQRT1_2;
const BELL: readonly (readonly number[])[] = [
  [R, 0, 0, R],
  [0, R, -R, 0],
  [0, R, R, 0],
  [R, 0, 0, -R],
];

/** Largest entrywise difference of two density matrices. */
function maxDiff(a: DensityMatrix, b: DensityMatrix): number {
  let e = 0;
  for (let k = 0; k < a.re.length; k++)
    e = Math.max(e, Math.abs(a.re[k] - b.re[k]), Math.abs(a.im[k] - b.im[k]));
  return e;
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-12): void {
  expect(actual.length).toBe(expected.length);
  for (let k = 0; k < expected.length; k++)
    expect(Math.abs(actual[k] - expected[k])).toBeLessThanOrEqual(tol);
}

/** A random Bell-diagonal state with all four coefficients distinct (not Werner). */
function randomBellDiagonal(rng: Rng): BellDiagonal {
  const p = new Float64Array(4);
  let s = 0;
  for (let k = 0; k < 4; k++) s += p[k] = 0.05 + rng.random();
  for (let k = 0; k < 4; k++) p[k] /= s;
  return p;
}

/**
 * Entanglement swap on density matrices: pairs (0,1) and (2,3), Bell-state measurement on qubits 1 and 2
 * by CNOT(1→2), H(1) and Z measurements (each outcome branch via project(), weighted by its exact
 * probability), Pauli-frame correction X^m2 then Z^m1 on qubit 3, output pair (0,3). Each outcome bit is
 * misread with probability `misread`, in which case the wrong correction is applied.
 */
function swapOnDensityMatrices(left: DensityMatrix, right: DensityMatrix, misread = 0): DensityMatrix {
  const joint = left.tensor(right);
  joint.apply(CNOT, [1, 2]).apply(H, 1);
  const out = new DensityMatrix(2);
  for (const m1 of [0, 1] as const)
    for (const m2 of [0, 1] as const) {
      const branch = joint.clone();
      if (branch.probability(1, m1) === 0) continue;
      const p1 = branch.project(1, m1);
      if (branch.probability(2, m2) === 0) continue;
      const p2 = branch.project(2, m2);
      for (const r1 of [0, 1])
        for (const r2 of [0, 1]) {
          const read = (r1 === m1 ? 1 - misread : misread) * (r2 === m2 ? 1 - misread : misread);
          if (read === 0) continue;
          const corrected = branch.clone();
          if (r2 === 1) corrected.apply(X, 3);
          if (r1 === 1) corrected.apply(Z, 3);
          const pair = corrected.partialTrace([0, 3]);
          const w = p1 * p2 * read;
          for (let k = 0; k < out.re.length; k++) {
            out.re[k] += w * pair.re[k];
            out.im[k] += w * pair.im[k];
          }
        }
    }
  return out;
}

describe("Bell-diagonal representation (DEJMPS order Φ+, Ψ−, Ψ+, Φ−)", () => {
  it("indexes the Bell states as documented", () => {
    expect(BellIndex).toEqual({ PHI_PLUS: 0, PSI_MINUS: 1, PSI_PLUS: 2, PHI_MINUS: 3 });
    for (let k = 0; k < 4; k++) {
      const p = new Float64Array(4);
      p[k] = 1;
      const rho = bellDiagonalToDensityMatrix(p);
      expect(rho.fidelityPure(BELL[k])).toBeCloseTo(1, 14);
      expect(rho.trace()).toBeCloseTo(1, 14);
    }
  });

  it("is Φ+ with a Pauli error on either qubit: I→Φ+, Y→Ψ−, X→Ψ+, Z→Φ−", () => {
    const errors = [I, Y, X, Z];
    for (const qubit of [0, 1])
      for (let k = 0; k < 4; k++) {
        const rho = DensityMatrix.fromPure(BELL[0]).apply(errors[k], qubit);
        const expected = new Float64Array(4);
        expected[k] = 1;
        expectClose(bellDiagonalFromDensityMatrix(rho), expected);
      }
  });

  it("converts to and from Pauli-error order [I, X, Y, Z] = [Φ+, Ψ+, Ψ−, Φ−]", () => {
    const p = createBellDiagonal(0.7, 0.1, 0.15, 0.05);
    const pauli = toPauliOrder(new Float64Array(4), p);
    expectClose(pauli, [0.7, 0.15, 0.1, 0.05]);
    expectClose(fromPauliOrder(new Float64Array(4), pauli), p);
    // In place as well.
    const q = p.slice();
    fromPauliOrder(q, toPauliOrder(q, q));
    expectClose(q, p);
  });

  it("round-trips through a 2-qubit density matrix", () => {
    const rng = new Rng("bell-diagonal round trip");
    for (let trial = 0; trial < 20; trial++) {
      const p = randomBellDiagonal(rng);
      const rho = bellDiagonalToDensityMatrix(p);
      expect(rho.hermiticityError()).toBe(0);
      for (let k = 0; k < 4; k++) expect(rho.fidelityPure(BELL[k])).toBeCloseTo(p[k], 14);
      expectClose(bellDiagonalFromDensityMatrix(rho), p);
    }
  });

  it("takes the Bell-basis diagonal of a state that is not Bell-diagonal", () => {
    // |00⟩ = (Φ+ + Φ−)/√2, so half Φ+ and half Φ−.
    expectClose(bellDiagonalFromDensityMatrix(DensityMatrix.basis(2, 0)), [0.5, 0, 0, 0.5]);
    // |01⟩ = (Ψ+ + Ψ−)/√2.
    expectClose(bellDiagonalFromDensityMatrix(DensityMatrix.basis(2, 1)), [0, 0.5, 0.5, 0]);
    expect(() => bellDiagonalFromDensityMatrix(DensityMatrix.basis(1))).toThrow(/2-qubit state; got 1/);
  });

  it("rejects invalid coefficients with a message saying what to change", () => {
    expect(() => createBellDiagonal(0.5, 0.5, 0.5, 0)).toThrow(/sum to 1.5; they must sum to 1/);
    expect(() => createBellDiagonal(1.1, -0.1, 0, 0)).toThrow(/probability 1 is -0.1; each must be .* ≥ 0/);
    expect(() => createBellDiagonal(Number.NaN, 0, 0, 1)).toThrow(/probability 0 is NaN/);
    expect(() => checkBellDiagonal([1, 0, 0], "link 3")).toThrow(/link 3 needs 4 probabilities/);
    expect(() => wernerState(1.2)).toThrow(/fidelity must be in \[0, 1\], got 1.2/);
    expect(() => fidelityFromWernerParameter(-0.5)).toThrow(/Werner parameter must be in/);
  });
});

describe("Werner states (physics.md: w = (4F−1)/3, F = (1+3w)/4)", () => {
  it("converts fidelity and Werner parameter both ways", () => {
    expect(wernerParameter(1)).toBe(1);
    expect(wernerParameter(0.25)).toBe(0);
    expect(wernerParameter(0.7)).toBeCloseTo(0.6, 15);
    expect(fidelityFromWernerParameter(0.6)).toBeCloseTo(0.7, 15);
    expect(fidelityFromWernerParameter(-1 / 3)).toBeCloseTo(0, 15);
    for (const f of [0, 0.3, 0.5, 0.9, 1])
      expect(fidelityFromWernerParameter(wernerParameter(f))).toBeCloseTo(f, 15);
  });

  it("puts F on Φ+ and (1−F)/3 on the others, i.e. w·Φ+ + (1−w)·I/4", () => {
    const p = wernerState(0.85);
    expectClose(p, [0.85, 0.05, 0.05, 0.05]);
    expect(bellDiagonalFidelity(p)).toBe(0.85);
    expect(bellDiagonalWernerParameter(p)).toBeCloseTo(0.8, 15);
    const w = 0.8;
    const mixed = DensityMatrix.fromPure(BELL[0]);
    for (let k = 0; k < 16; k++) mixed.re[k] = w * mixed.re[k] + (k % 5 === 0 ? (1 - w) / 4 : 0);
    expect(maxDiff(bellDiagonalToDensityMatrix(p), mixed)).toBeLessThan(1e-15);
  });

  it("twirling keeps the fidelity and makes the other three coefficients equal", () => {
    const p = createBellDiagonal(0.6, 0.25, 0.1, 0.05);
    const t = twirlBellDiagonal(new Float64Array(4), p);
    expect(t[0]).toBe(0.6);
    expect(t[1]).toBeCloseTo(0.4 / 3, 15);
    expect(t[2]).toBe(t[1]);
    expect(t[3]).toBe(t[1]);
    expectClose(t, wernerState(0.6));
    twirlBellDiagonal(p, p);
    expectClose(p, t, 0);
  });
});

describe("entanglement swapping (physics.md; perfect gates compose Pauli errors)", () => {
  it("composes Pauli errors as the Pauli product table says", () => {
    // X·Z ∝ Y, X·Y ∝ Z, Y·Z ∝ X: Ψ+ ∘ Φ− = Ψ−, Ψ+ ∘ Ψ− = Φ−, Ψ− ∘ Φ− = Ψ+.
    const unit = (k: number) => {
      const p = new Float64Array(4);
      p[k] = 1;
      return p;
    };
    const { PHI_PLUS, PSI_MINUS, PSI_PLUS, PHI_MINUS } = BellIndex;
    expectClose(composePauliErrors(new Float64Array(4), unit(PSI_PLUS), unit(PHI_MINUS)), unit(PSI_MINUS));
    expectClose(composePauliErrors(new Float64Array(4), unit(PSI_PLUS), unit(PSI_MINUS)), unit(PHI_MINUS));
    expectClose(composePauliErrors(new Float64Array(4), unit(PSI_MINUS), unit(PHI_MINUS)), unit(PSI_PLUS));
    for (let k = 0; k < 4; k++)
      expectClose(composePauliErrors(new Float64Array(4), unit(k), unit(k)), unit(PHI_PLUS));
  });

  it("Werner pairs F1 = 0.9, F2 = 0.8 give F = F1F2 + (1−F1)(1−F2)/3 = 0.726667 (w = w1·w2)", () => {
    const out = swapBellDiagonal(new Float64Array(4), wernerState(0.9), wernerState(0.8));
    expect(out[0]).toBeCloseTo(0.726667, 6);
    expect(bellDiagonalWernerParameter(out)).toBeCloseTo(wernerParameter(0.9) * wernerParameter(0.8), 14);
    expectClose(out, wernerState(0.9 * 0.8 + (0.1 * 0.2) / 3));
  });

  const chain: readonly [number, number][] = [
    [2, 0.903333],
    [4, 0.819126],
    [8, 0.681872],
  ];

  it.each(chain)("a chain of %i identical F = 0.95 links swaps to F = %f (physics.md)", (links, expected) => {
    const link = wernerState(0.95);
    const end = link.slice();
    for (let i = 1; i < links; i++) swapBellDiagonal(end, end, link);
    expect(end[0]).toBeCloseTo(expected, 6);
    expect(bellDiagonalWernerParameter(end)).toBeCloseTo(wernerParameter(0.95) ** links, 14);
  });

  it.each(chain)("the same %i-link chain swapped on density matrices gives F = %f", (links, expected) => {
    const link = bellDiagonalToDensityMatrix(wernerState(0.95));
    let end = link.clone();
    for (let i = 1; i < links; i++) end = swapOnDensityMatrices(end, link);
    expect(end.trace()).toBeCloseTo(1, 12);
    expect(end.fidelityPure(BELL[0])).toBeCloseTo(expected, 6);
    // The density-matrix result is itself the Werner state the Bell-diagonal chain predicts.
    const predicted = wernerState(0.95);
    for (let i = 1; i < links; i++) swapBellDiagonal(predicted, predicted, wernerState(0.95));
    expect(maxDiff(end, bellDiagonalToDensityMatrix(predicted))).toBeLessThan(1e-12);
  });

  it("non-Werner pairs: Pauli-error composition equals density-matrix swapping with Pauli-frame correction", () => {
    const rng = new Rng("non-Werner swap");
    for (let trial = 0; trial < 10; trial++) {
      const a = randomBellDiagonal(rng);
      const b = randomBellDiagonal(rng);
      const viaMatrices = swapOnDensityMatrices(
        bellDiagonalToDensityMatrix(a),
        bellDiagonalToDensityMatrix(b),
      );
      const predicted = swapBellDiagonal(new Float64Array(4), a, b);
      // The whole matrix, not only its Bell diagonal: the swapped pair is exactly Bell-diagonal.
      expect(maxDiff(viaMatrices, bellDiagonalToDensityMatrix(predicted))).toBeLessThan(1e-12);
      // Swapping is symmetric in the two pairs.
      expectClose(swapBellDiagonal(new Float64Array(4), b, a), predicted, 1e-15);
    }
  });

  it("a misread Bell-measurement bit applies the wrong correction, as on density matrices", () => {
    const rng = new Rng("misread swap");
    const a = randomBellDiagonal(rng);
    const b = randomBellDiagonal(rng);
    const eps = 0.07;
    const viaMatrices = swapOnDensityMatrices(
      bellDiagonalToDensityMatrix(a),
      bellDiagonalToDensityMatrix(b),
      eps,
    );
    const predicted = swapBellDiagonal(new Float64Array(4), a, b, { measurementError: eps });
    expect(maxDiff(viaMatrices, bellDiagonalToDensityMatrix(predicted))).toBeLessThan(1e-12);
    // Perfect pairs: the output fidelity is the chance that both bits are read right, (1−ε)².
    const perfect = wernerState(1);
    expect(swapBellDiagonal(new Float64Array(4), perfect, perfect, { measurementError: eps })[0]).toBeCloseTo(
      (1 - eps) ** 2,
      15,
    );
  });

  it("gate depolarizing replaces the output by I/4 with the given probability", () => {
    const out = swapBellDiagonal(new Float64Array(4), wernerState(0.9), wernerState(0.8), {
      depolarizing: 0.1,
    });
    expect(out[0]).toBeCloseTo(0.9 * (0.9 * 0.8 + (0.1 * 0.2) / 3) + 0.1 / 4, 15);
    expect(out[0] + out[1] + out[2] + out[3]).toBeCloseTo(1, 15);
    expect(() => swapBellDiagonal(out, out, out, { depolarizing: 2 })).toThrow(
      /swap depolarizing probability must be in \[0, 1\], got 2/,
    );
  });
});

describe("memory decoherence of a stored pair (physics.md)", () => {
  it("depolarizing memories: w(t) = w0·e^{−2t/T}; F0 = 1, t/T = 0.1 → 0.864048", () => {
    const out = decayDepolarizing(new Float64Array(4), wernerState(1), 0.1, 0.1, 1);
    expect(out[0]).toBeCloseTo(0.864048, 6);
    // A Werner start stays Werner with w0·e^{−2t/T}.
    const f0 = 0.9;
    const aged = decayDepolarizing(new Float64Array(4), wernerState(f0), 3, 3, 20);
    expectClose(
      aged,
      wernerState(fidelityFromWernerParameter(wernerParameter(f0) * Math.exp(-6 / 20))),
      1e-15,
    );
  });

  it("depolarizing, one qubit stored only: replace 2t by t", () => {
    const out = decayDepolarizing(new Float64Array(4), wernerState(1), 0.1, 0, 1);
    expect(out[0]).toBeCloseTo((1 + 3 * Math.exp(-0.1)) / 4, 15);
  });

  it("pure dephasing: F(t) = (1 + w0 + 2·w0·e^{−2t/T2})/4; F0 = 1, t/T2 = 0.1 → 0.909365", () => {
    const out = decayDephasing(new Float64Array(4), wernerState(1), 0.1, 0.1, 1);
    expect(out[0]).toBeCloseTo(0.909365, 6);
    const w0 = wernerParameter(0.9);
    const aged = decayDephasing(new Float64Array(4), wernerState(0.9), 0.4, 0.4, 2);
    expect(aged[0]).toBeCloseTo((1 + w0 + 2 * w0 * Math.exp(-0.8 / 2)) / 4, 15);
  });

  it("dephasing, one qubit stored only: replace 2t by t", () => {
    const out = decayDephasing(new Float64Array(4), wernerState(1), 0.1, 0, 1);
    expect(out[0]).toBeCloseTo((1 + 1 + 2 * Math.exp(-0.1)) / 4, 15);
    // Only Φ+ ↔ Φ− and Ψ+ ↔ Ψ− mix.
    const p = decayDephasing(new Float64Array(4), createBellDiagonal(0.7, 0.2, 0.1, 0), 1, 0, 1);
    const q = (1 - Math.exp(-1)) / 2;
    expectClose(p, [0.7 * (1 - q), 0.2 * (1 - q) + 0.1 * q, 0.1 * (1 - q) + 0.2 * q, 0.7 * q], 1e-15);
  });

  it("matches DensityMatrix.depolarize on each stored qubit (p = 1 − e^{−t/T})", () => {
    const rng = new Rng("depolarizing cross-check");
    const T = 5;
    for (const [tA, tB] of [
      [0.5, 0.5],
      [1.2, 0],
      [0, 2],
      [0.3, 1.7],
    ]) {
      const p = randomBellDiagonal(rng);
      const rho = bellDiagonalToDensityMatrix(p);
      rho.depolarize(0, 1 - Math.exp(-tA / T)).depolarize(1, 1 - Math.exp(-tB / T));
      const predicted = decayDepolarizing(new Float64Array(4), p, tA, tB, T);
      expect(maxDiff(rho, bellDiagonalToDensityMatrix(predicted))).toBeLessThan(1e-15);
    }
  });

  it("matches DensityMatrix.decay(q, t, T1 = ∞, T2) on each stored qubit", () => {
    const rng = new Rng("dephasing cross-check");
    const t2 = 3;
    for (const [tA, tB] of [
      [0.3, 0.3],
      [1, 0],
      [0, 0.4],
      [0.2, 2.5],
    ]) {
      const p = randomBellDiagonal(rng);
      const rho = bellDiagonalToDensityMatrix(p);
      rho.decay(0, tA, Number.POSITIVE_INFINITY, t2).decay(1, tB, Number.POSITIVE_INFINITY, t2);
      const predicted = decayDephasing(new Float64Array(4), p, tA, tB, t2);
      expect(maxDiff(rho, bellDiagonalToDensityMatrix(predicted))).toBeLessThan(1e-15);
    }
    // The Bell-state starting point of physics.md, on the density matrix directly.
    const bell = DensityMatrix.fromPure(BELL[0]).decay(0, 0.1, Number.POSITIVE_INFINITY, 1);
    bell.decay(1, 0.1, Number.POSITIVE_INFINITY, 1);
    expect(bell.fidelityPure(BELL[0])).toBeCloseTo(0.909365, 6);
  });

  it("does not decay with an infinite time constant, and rejects bad times", () => {
    const p = createBellDiagonal(0.7, 0.1, 0.1, 0.1);
    expectClose(decayDepolarizing(new Float64Array(4), p, 5, 5, Number.POSITIVE_INFINITY), p, 0);
    expectClose(decayDephasing(new Float64Array(4), p, 5, 5, Number.POSITIVE_INFINITY), p, 0);
    expect(() => decayDephasing(p, p, -1, 0, 1)).toThrow(
      /storage times must be finite and ≥ 0, got -1 and 0/,
    );
    expect(() => decayDepolarizing(p, p, 1, 0, 0)).toThrow(/depolarizing time constant T must be > 0/);
  });
});

describe("recurrence purification, Werner input F = 0.7 (physics.md)", () => {
  it("BBPSSW (Bennett et al. 1996), re-twirled: round 1 p = 0.680000 F = 0.735294, round 2 p = 0.709343 F = 0.773171", () => {
    const pair = wernerState(0.7);
    const p1 = bbpssw(pair, pair, pair);
    expect(p1).toBeCloseTo(0.68, 6);
    expect(pair[0]).toBeCloseTo(0.735294, 6);
    const p2 = bbpssw(pair, pair, pair);
    expect(p2).toBeCloseTo(0.709343, 6);
    expect(pair[0]).toBeCloseTo(0.773171, 6);
    // Closed form p = F² + 2F(1−F)/3 + 5(1−F)²/9, F' = [F² + (1−F)²/9]/p, for any F.
    for (const f of [0.3, 0.5, 0.9, 1]) {
      const out = new Float64Array(4);
      const p = bbpssw(out, wernerState(f), wernerState(f));
      const closed = f * f + (2 * f * (1 - f)) / 3 + (5 * (1 - f) ** 2) / 9;
      expect(p).toBeCloseTo(closed, 15);
      expectClose(out, wernerState((f * f + (1 - f) ** 2 / 9) / closed), 1e-15);
    }
  });

  it("BBPSSW output is the twirl of the plain bilateral-CNOT round on the twirled inputs", () => {
    const rng = new Rng("bbpssw");
    const a = randomBellDiagonal(rng);
    const b = randomBellDiagonal(rng);
    const raw = new Float64Array(4);
    const pRaw = bilateralCnot(
      raw,
      twirlBellDiagonal(new Float64Array(4), a),
      twirlBellDiagonal(new Float64Array(4), b),
    );
    const out = new Float64Array(4);
    expect(bbpssw(out, a, b)).toBeCloseTo(pRaw, 15);
    expectClose(out, twirlBellDiagonal(raw, raw), 1e-15);
  });

  it("DEJMPS (Deutsch et al. 1996): round 1 p = 0.680000 F = 0.735294, (B, C, D) = (0.029412, 0.029412, 0.205882)", () => {
    const out = new Float64Array(4);
    const p = dejmps(out, wernerState(0.7), wernerState(0.7));
    expect(p).toBeCloseTo(0.68, 6);
    expect(out[BellIndex.PHI_PLUS]).toBeCloseTo(0.735294, 6);
    expect(out[BellIndex.PSI_MINUS]).toBeCloseTo(0.029412, 6);
    expect(out[BellIndex.PSI_PLUS]).toBeCloseTo(0.029412, 6);
    expect(out[BellIndex.PHI_MINUS]).toBeCloseTo(0.205882, 6);
  });

  it("DEJMPS round 2 (no twirl in between): p = 0.640138, F = 0.845946", () => {
    const pair = wernerState(0.7);
    dejmps(pair, pair, pair);
    const p2 = dejmps(pair, pair, pair);
    expect(p2).toBeCloseTo(0.640138, 6);
    expect(pair[0]).toBeCloseTo(0.845946, 6);
    expect(pair[0] + pair[1] + pair[2] + pair[3]).toBeCloseTo(1, 15);
  });

  it("DEJMPS of two copies is the map of physics.md: N = (A+B)² + (C+D)², A' = (A²+B²)/N, B' = 2CD/N, …", () => {
    const [A, B, C, D] = [0.62, 0.08, 0.18, 0.12];
    const out = new Float64Array(4);
    const N = (A + B) ** 2 + (C + D) ** 2;
    expect(dejmps(out, createBellDiagonal(A, B, C, D), createBellDiagonal(A, B, C, D))).toBeCloseTo(N, 15);
    expectClose(out, [(A * A + B * B) / N, (2 * C * D) / N, (C * C + D * D) / N, (2 * A * B) / N], 1e-15);
  });

  it("reports success probability 0 (and a NaN state) when the outcomes can never agree", () => {
    const out = new Float64Array(4);
    // Φ+ and Ψ+ differ in their X part, so the target outcomes always disagree.
    expect(bilateralCnot(out, createBellDiagonal(1, 0, 0, 0), createBellDiagonal(0, 0, 1, 0))).toBe(0);
    expect(Number.isNaN(out[0])).toBe(true);
    // After DEJMPS's rotation Φ+ and Φ− land in different X parts too.
    expect(dejmps(out, createBellDiagonal(1, 0, 0, 0), createBellDiagonal(0, 0, 0, 1))).toBe(0);
  });
});
