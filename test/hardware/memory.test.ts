import { describe, expect, it } from "vitest";
import { decayPair, memoryPauliChannel } from "../../src/hardware/memory.js";
import {
  type BellDiagonal,
  bellDiagonalFromDensityMatrix,
  bellDiagonalToDensityMatrix,
  composePauliErrors,
  decayDephasing,
  decayDepolarizing,
  fromPauliOrder,
  wernerState,
} from "../../src/quantum/bell-diagonal.js";
import { RngStreams } from "../../src/sim/rng.js";
import { memory } from "./fixtures.js";

const PHI_PLUS = (): BellDiagonal => Float64Array.of(1, 0, 0, 0);
const PERFECT = memory();

/** A random Bell-diagonal state (uniform on the simplex). */
function randomPair(rng: { exponential(rate: number): number }): BellDiagonal {
  const v = Float64Array.from({ length: 4 }, () => rng.exponential(1));
  const s = v[0] + v[1] + v[2] + v[3];
  for (let k = 0; k < 4; k++) v[k] /= s;
  return v;
}

function expectClose(a: ArrayLike<number>, b: ArrayLike<number>, digits = 13): void {
  for (let k = 0; k < 4; k++) expect(a[k]).toBeCloseTo(b[k], digits);
}

describe("memory decoherence of stored pair halves", () => {
  it("the twirled T1/T2 channel: p_X = p_Y = (1 − e^{−t/T1})/4, p_Z = 1/2 − p_X − e^{−t/T2}/2", () => {
    const mem = memory({ t1Ns: 1e6, t2Ns: 5e5 });
    for (const t of [0, 1e4, 2e5, 3e6]) {
      const [pI, pX, pY, pZ] = memoryPauliChannel(new Float64Array(4), t, mem);
      expect(pX).toBeCloseTo((1 - Math.exp(-t / 1e6)) / 4, 15);
      expect(pY).toBe(pX);
      expect(pZ).toBeCloseTo(0.5 - pX - Math.exp(-t / 5e5) / 2, 15);
      expect(pI + pX + pY + pZ).toBeCloseTo(1, 15);
      expect(pZ).toBeGreaterThanOrEqual(0);
    }
    // Depolarizing: X, Y, Z each (1 − e^{−t/T})/4.
    const [pI, pX, pY, pZ] = memoryPauliChannel(
      new Float64Array(4),
      1e5,
      memory({ depolarizingTimeNs: 1e6 }),
    );
    const e = (1 - Math.exp(-0.1)) / 4;
    expect([pX, pY, pZ].every((x) => Math.abs(x - e) < 1e-16)).toBe(true);
    expect(pI).toBeCloseTo(1 - 3 * e, 15);
  });

  it("one stored half: equals the Pauli-twirl of DensityMatrix.decay on one half of Φ+ (and of any Bell-diagonal pair)", () => {
    const mem = memory({ t1Ns: 2e6, t2Ns: 1.5e6 });
    const rng = new RngStreams(3).stream("one-half");
    for (const t of [1e3, 5e5, 4e6]) {
      for (const start of [PHI_PLUS(), randomPair(rng), randomPair(rng)]) {
        const rho = bellDiagonalToDensityMatrix(start).decay(0, t, 2e6, 1.5e6);
        const exact = bellDiagonalFromDensityMatrix(rho);
        expectClose(decayPair(new Float64Array(4), start, t, mem, 0, PERFECT), exact);
        // …which is the twirled channel applied as a Pauli error on one qubit.
        const pauli = fromPauliOrder(new Float64Array(4), memoryPauliChannel(new Float64Array(4), t, mem));
        expectClose(composePauliErrors(new Float64Array(4), start, pauli), exact);
        // The second half gives the same (P⊗I|Φ+⟩ = I⊗Pᵀ|Φ+⟩).
        expectClose(decayPair(new Float64Array(4), start, 0, PERFECT, t, mem), exact);
      }
    }
  });

  it("both halves, any memories: equals the Bell-diagonal part of DensityMatrix.decay / depolarize on both qubits", () => {
    const rng = new RngStreams(3).stream("two-halves");
    const memA = memory({ t1Ns: 1e6, t2Ns: 4e5 });
    const memB = memory({ t1Ns: 3e6, t2Ns: 5e6 });
    const depB = memory({ depolarizingTimeNs: 7e5 });
    const dephB = memory({ t2Ns: 2e5 });
    for (let i = 0; i < 5; i++) {
      const start = randomPair(rng);
      const tA = rng.uniform(0, 2e6);
      const tB = rng.uniform(0, 2e6);
      const t1t2 = bellDiagonalToDensityMatrix(start).decay(0, tA, 1e6, 4e5).decay(1, tB, 3e6, 5e6);
      expectClose(
        decayPair(new Float64Array(4), start, tA, memA, tB, memB),
        bellDiagonalFromDensityMatrix(t1t2),
      );
      const mixed = bellDiagonalToDensityMatrix(start)
        .decay(0, tA, 1e6, 4e5)
        .depolarize(1, 1 - Math.exp(-tB / 7e5));
      expectClose(
        decayPair(new Float64Array(4), start, tA, memA, tB, depB),
        bellDiagonalFromDensityMatrix(mixed),
      );
      const deph = bellDiagonalToDensityMatrix(start).decay(0, tA, 1e6, 4e5).decay(1, tB, Infinity, 2e5);
      expectClose(
        decayPair(new Float64Array(4), start, tA, memA, tB, dephB),
        bellDiagonalFromDensityMatrix(deph),
      );
    }
  });

  it("physics.md (Bell-diagonal and Werner states, both qubits stored): depolarizing 0.864048, dephasing 0.909365", () => {
    const dep = memory({ depolarizingTimeNs: 1e6 });
    const f1 = decayPair(new Float64Array(4), PHI_PLUS(), 1e5, dep, 1e5, dep)[0];
    expect(Math.abs(f1 - 0.864048)).toBeLessThanOrEqual(5e-7);
    const deph = memory({ t2Ns: 1e6 });
    const f2 = decayPair(new Float64Array(4), PHI_PLUS(), 1e5, deph, 1e5, deph)[0];
    expect(Math.abs(f2 - 0.909365)).toBeLessThanOrEqual(5e-7);
    // One qubit stored only: replace 2t by t — w0·e^{−t/T}; (1 + w0 + 2w0e^{−t/T2})/4.
    const w0 = 0.8;
    const start = wernerState((1 + 3 * w0) / 4);
    expect(decayPair(new Float64Array(4), start, 1e5, dep, 0, dep)[0]).toBeCloseTo(
      (1 + 3 * w0 * Math.exp(-0.1)) / 4,
      15,
    );
    expect(decayPair(new Float64Array(4), start, 0, deph, 1e5, deph)[0]).toBeCloseTo(
      (1 + w0 + 2 * w0 * Math.exp(-0.1)) / 4,
      15,
    );
    // And the quantum module's maps agree.
    expectClose(
      decayPair(new Float64Array(4), start, 3e5, dep, 1e5, dep),
      decayDepolarizing(new Float64Array(4), start, 3e5, 1e5, 1e6),
      15,
    );
    expectClose(
      decayPair(new Float64Array(4), start, 3e5, deph, 1e5, deph),
      decayDephasing(new Float64Array(4), start, 3e5, 1e5, 1e6),
      15,
    );
  });

  it("physics.md amplitude damping + dephasing, both stored: F = [1 − γ + γ² + e^{−2t/T2}]/2 (the twirl keeps F)", () => {
    const mem = memory({ t1Ns: 1e6, t2Ns: 6e5 });
    for (const t of [1e4, 3e5, 1e6, 5e6]) {
      const g = 1 - Math.exp(-t / 1e6);
      const expected = (1 - g + g * g + Math.exp((-2 * t) / 6e5)) / 2;
      const p = decayPair(new Float64Array(4), PHI_PLUS(), t, mem, t, mem);
      expect(p[0]).toBeCloseTo(expected, 14);
      // The fidelity of the untwirled density matrix is the same number.
      const rho = bellDiagonalToDensityMatrix(PHI_PLUS()).decay(0, t, 1e6, 6e5).decay(1, t, 1e6, 6e5);
      const { re } = rho;
      expect((re[0] + re[15] + re[3] + re[12]) / 2).toBeCloseTo(expected, 14);
      // Independent per-qubit twirls would lose the γ² correlation of both qubits relaxing to |0⟩: F − γ²/4.
      const pauli = fromPauliOrder(new Float64Array(4), memoryPauliChannel(new Float64Array(4), t, mem));
      const twice = composePauliErrors(
        new Float64Array(4),
        composePauliErrors(new Float64Array(4), PHI_PLUS(), pauli),
        pauli,
      );
      expect(twice[0]).toBeCloseTo(expected - (g * g) / 4, 14);
    }
    // Long storage: both qubits in |0⟩, whose Bell-diagonal part is ½Φ+ + ½Φ−.
    expectClose(decayPair(new Float64Array(4), PHI_PLUS(), 1e9, mem, 1e9, mem), [0.5, 0, 0, 0.5], 12);
  });

  it("the twirled channel of one qubit composes exactly in time: t1 then t2 equals t1 + t2", () => {
    for (const mem of [
      memory({ t1Ns: 1e6, t2Ns: 7e5 }),
      memory({ depolarizingTimeNs: 2e6 }),
      memory({ t2Ns: 3e5 }),
    ]) {
      const a = fromPauliOrder(new Float64Array(4), memoryPauliChannel(new Float64Array(4), 2e5, mem));
      const b = fromPauliOrder(new Float64Array(4), memoryPauliChannel(new Float64Array(4), 7e5, mem));
      const ab = fromPauliOrder(new Float64Array(4), memoryPauliChannel(new Float64Array(4), 9e5, mem));
      expectClose(composePauliErrors(new Float64Array(4), a, b), ab, 15);
    }
  });

  it("decayPair composes exactly in time except when both halves relax, where c_z falls short by e^{−t2/T1}(γ_A1γ_B2 + γ_B1γ_A2)", () => {
    const rng = new RngStreams(3).stream("compose");
    const t1 = 3e5;
    const t2 = 5e5;
    const relaxing = memory({ t1Ns: 1e6, t2Ns: 8e5 });
    const exactCases = [
      [memory({ depolarizingTimeNs: 1e6 }), memory({ depolarizingTimeNs: 2e6 })],
      [memory({ t2Ns: 4e5 }), memory({ t2Ns: 9e5 })],
      [memory({ depolarizingTimeNs: 1e6 }), relaxing],
    ] as const;
    for (let i = 0; i < 3; i++) {
      const start = randomPair(rng);
      for (const [memA, memB] of exactCases) {
        const once = decayPair(new Float64Array(4), start, t1 + t2, memA, t1 + t2, memB);
        const twice = decayPair(new Float64Array(4), start, t1, memA, t1, memB);
        decayPair(twice, twice, t2, memA, t2, memB);
        expectClose(twice, once, 14);
      }
      // One half relaxing, the other perfect: exact as well.
      const once = decayPair(new Float64Array(4), start, t1 + t2, relaxing, 0, PERFECT);
      const twice = decayPair(new Float64Array(4), start, t1, relaxing, 0, PERFECT);
      expectClose(decayPair(twice, twice, t2, relaxing, 0, PERFECT), once, 14);

      // Both relaxing: the documented deviation, second order in t/T1.
      const full = decayPair(new Float64Array(4), start, t1 + t2, relaxing, t1 + t2, relaxing);
      const lazy = decayPair(new Float64Array(4), start, t1, relaxing, t1, relaxing);
      decayPair(lazy, lazy, t2, relaxing, t2, relaxing);
      const g1 = 1 - Math.exp(-t1 / 1e6);
      const g2 = 1 - Math.exp(-t2 / 1e6);
      const dcz = 2 * (1 - g2) * g1 * g2;
      // c_z enters Φ± with +¼ and Ψ± with −¼.
      expectClose(
        [full[0] - lazy[0], full[1] - lazy[1], full[2] - lazy[2], full[3] - lazy[3]],
        [dcz / 4, -dcz / 4, -dcz / 4, dcz / 4],
        14,
      );
      // In F: at most γ1γ2/2 ≤ t1·t2/(2·T1²), second order in t/T1.
      expect(dcz / 4).toBeLessThanOrEqual((t1 * t2) / (2 * 1e6 * 1e6));
    }
  });

  it("allocates nothing: writes into out, which may alias the input; zero storage is the identity", () => {
    const mem = memory({ t1Ns: 1e6, t2Ns: 1e6 });
    const p = wernerState(0.9);
    const copy = Float64Array.from(p);
    expect(decayPair(p, p, 0, mem, 0, mem)).toBe(p);
    expectClose(p, copy, 16);
    const out = new Float64Array(4);
    expect(decayPair(out, copy, 1e5, mem, 2e5, mem)).toBe(out);
    decayPair(copy, copy, 1e5, mem, 2e5, mem);
    expectClose(copy, out, 16);
  });

  it("rejects negative times, T2 > 2·T1, non-positive constants and a memory that is both depolarizing and T1/T2", () => {
    const ok = memory({ t1Ns: 1e6, t2Ns: 1e6 });
    const p = PHI_PLUS();
    const out = new Float64Array(4);
    expect(() => decayPair(out, p, -1, ok, 0, ok)).toThrow(/storage time/);
    expect(() => decayPair(out, p, 0, ok, Number.NaN, ok)).toThrow(RangeError);
    expect(() => decayPair(out, p, 1, memory({ t1Ns: 1e6, t2Ns: 3e6 }), 0, ok)).toThrow(/cannot exceed 2·T1/);
    expect(() => decayPair(out, p, 1, memory({ t1Ns: 1e6 }), 0, ok)).toThrow(/cannot exceed 2·T1/);
    expect(() => decayPair(out, p, 1, ok, 0, memory({ t2Ns: 0 }))).toThrow(/memory B/);
    expect(() => decayPair(out, p, 1, memory({ depolarizingTimeNs: 1e6, t2Ns: 1e6 }), 0, ok)).toThrow(
      /either depolarizing or T1\/T2/,
    );
    expect(() => memoryPauliChannel(out, -5, ok)).toThrow(RangeError);
  });
});
