import { describe, expect, it } from "vitest";
import { DensityMatrix, krausCompleteness } from "../../src/quantum/density-matrix.js";
import {
  CNOT,
  CZ,
  dagger,
  type Gate,
  gate,
  H,
  I,
  isUnitary,
  kron,
  matmul,
  rx,
  ry,
  rz,
  S,
  SWAP,
  T,
  X,
  Y,
  Z,
} from "../../src/quantum/gates.js";
import { StateVector } from "../../src/quantum/state-vector.js";

/** A fixed, unnormalised test state with entangled, complex amplitudes on n qubits. */
function testState(n: number, salt = 1): StateVector {
  const d = 1 << n;
  const re = Array.from({ length: d }, (_, i) => Math.sin(1.3 * i + salt) + 0.1);
  const im = Array.from({ length: d }, (_, i) => Math.cos(0.7 * i * salt + 0.4));
  return StateVector.fromAmplitudes(re, im);
}

/** A mixed test state: a mixture of three pure states. */
function mixedState(n: number): DensityMatrix {
  const a = testState(n, 1).toDensityMatrix();
  const b = testState(n, 2).toDensityMatrix();
  const c = testState(n, 3).toDensityMatrix();
  const m = new DensityMatrix(n);
  for (let k = 0; k < m.re.length; k++) {
    m.re[k] = 0.5 * a.re[k] + 0.3 * b.re[k] + 0.2 * c.re[k];
    m.im[k] = 0.5 * a.im[k] + 0.3 * b.im[k] + 0.2 * c.im[k];
  }
  return m;
}

function maxDiff(a: DensityMatrix, b: DensityMatrix): number {
  let e = 0;
  for (let k = 0; k < a.re.length; k++)
    e = Math.max(e, Math.abs(a.re[k] - b.re[k]), Math.abs(a.im[k] - b.im[k]));
  return e;
}

/** A generic 2-qubit unitary: a product of entangling and rotation gates. */
const U2: Gate = matmul(matmul(kron(rx(0.3), ry(1.1)), CNOT), matmul(kron(rz(0.7), H), CZ));

describe("gates", () => {
  it("are unitary", () => {
    for (const g of [I, X, Y, Z, H, S, T, rx(0.4), ry(-1.2), rz(2.2), CNOT, CZ, SWAP, U2])
      expect(isUnitary(g)).toBe(true);
  });
  it("satisfy the Pauli algebra: XY = iZ, HZH = X, S² = Z, T² = S", () => {
    const xy = matmul(X, Y);
    expect(Array.from(xy)).toEqual(
      Array.from(
        gate([
          [[0, 1], 0],
          [0, [0, -1]],
        ]),
      ),
    );
    expect(matmul(matmul(H, Z), H).map((v) => Math.round(v * 1e12) / 1e12)).toEqual(X);
    expect(matmul(S, S)).toEqual(Z);
    const t2 = matmul(T, T);
    for (let k = 0; k < 8; k++) expect(t2[k]).toBeCloseTo(S[k], 14);
  });
  it("rejects malformed matrices", () => {
    expect(() =>
      gate([
        [1, 0, 0],
        [0, 1, 0],
        [0, 0, 1],
      ]),
    ).toThrow(/2\^k rows/);
    expect(() => gate([[1, 0], [0]])).toThrow(/row 1 has 1 entries/);
  });
});

describe("DensityMatrix unitaries agree with the state-vector path", () => {
  for (const n of [1, 2, 3, 5]) {
    it(`single-qubit gates on every qubit of ${n}`, () => {
      const sv = testState(n);
      const rho = sv.toDensityMatrix();
      for (let q = 0; q < n; q++) {
        for (const g of [H, T, rx(0.3 + q), Y]) {
          sv.apply(g, q);
          rho.apply(g, q);
        }
      }
      expect(maxDiff(rho, sv.toDensityMatrix())).toBeLessThan(1e-12);
    });
  }
  it("two- and three-qubit gates on arbitrary, unordered qubits", () => {
    const n = 4;
    const sv = testState(n);
    const rho = sv.toDensityMatrix();
    const U3 = matmul(kron(U2, H), kron(X, CNOT));
    for (const [g, qs] of [
      [U2, [2, 0]],
      [CNOT, [3, 1]],
      [U3, [1, 3, 0]],
      [SWAP, [0, 3]],
    ] as const) {
      sv.apply(g, qs);
      rho.apply(g, qs);
    }
    expect(maxDiff(rho, sv.toDensityMatrix())).toBeLessThan(1e-12);
  });
  it("a Kronecker product acts as its factors on their qubits", () => {
    const a = mixedState(3);
    const b = a.clone();
    a.apply(kron(rx(0.5), ry(0.9)), [2, 0]);
    b.apply(rx(0.5), 2).apply(ry(0.9), 0);
    expect(maxDiff(a, b)).toBeLessThan(1e-13);
  });
  it("U then U† restores a mixed state, keeping trace and Hermiticity", () => {
    const rho = mixedState(3);
    const copy = rho.clone();
    rho.apply(U2, [1, 2]).apply(dagger(U2), [1, 2]);
    expect(maxDiff(rho, copy)).toBeLessThan(1e-13);
    expect(rho.trace()).toBeCloseTo(1, 13);
    expect(rho.hermiticityError()).toBeLessThan(1e-14);
  });
  it("rejects bad qubit lists with a message naming the problem", () => {
    const rho = DensityMatrix.basis(2);
    expect(() => rho.apply(H, 2)).toThrow(/qubit index 2 is out of range for 2 qubit/);
    expect(() => rho.apply(CNOT, [0, 0])).toThrow(/listed twice/);
    expect(() => rho.apply(CNOT, [0])).toThrow(/2 qubit\(s\) was given 1/);
    expect(() => new DensityMatrix(40)).toThrow(/0\.\.13/);
  });
});

describe("Kraus channels", () => {
  const depolarizingKraus = (p: number): Gate[] => [
    I.map((v) => v * Math.sqrt(1 - (3 * p) / 4)),
    X.map((v) => v * Math.sqrt(p / 4)),
    Y.map((v) => v * Math.sqrt(p / 4)),
    Z.map((v) => v * Math.sqrt(p / 4)),
  ];
  it("depolarizing equals its Kraus form {√(1−3p/4) I, √(p/4) X, Y, Z}", () => {
    const ops = depolarizingKraus(0.3);
    expect(krausCompleteness(ops)).toBeLessThan(1e-15);
    const a = mixedState(3);
    const b = a.clone();
    a.depolarize(1, 0.3);
    b.applyKraus(ops, 1);
    expect(maxDiff(a, b)).toBeLessThan(1e-15);
  });
  it("full depolarizing replaces the qubit by I/2 and keeps the rest", () => {
    const rho = mixedState(3);
    const restBefore = rho.partialTrace([0, 2]);
    rho.depolarize(1, 1);
    const q1 = rho.partialTrace([1]);
    expect(q1.getRe(0, 0)).toBeCloseTo(0.5, 14);
    expect(Math.hypot(q1.getRe(0, 1), q1.getIm(0, 1))).toBeLessThan(1e-15);
    expect(maxDiff(rho.partialTrace([0, 2]), restBefore)).toBeLessThan(1e-15);
  });
  it("two-qubit Kraus channels (a correlated ZZ flip) match the direct sum", () => {
    const p = 0.2;
    const ops = [kron(I, I).map((v) => v * Math.sqrt(1 - p)), kron(Z, Z).map((v) => v * Math.sqrt(p))];
    const a = mixedState(3);
    const zz = a.clone().apply(kron(Z, Z), [2, 0]);
    a.applyKraus(ops, [2, 0]);
    const want = new DensityMatrix(3);
    const orig = mixedState(3);
    for (let k = 0; k < want.re.length; k++) {
      want.re[k] = (1 - p) * orig.re[k] + p * zz.re[k];
      want.im[k] = (1 - p) * orig.im[k] + p * zz.im[k];
    }
    expect(maxDiff(a, want)).toBeLessThan(1e-14);
  });
  it("dephasing shrinks coherences by 1−2p and leaves populations", () => {
    const rho = StateVector.fromAmplitudes([1, 1]).toDensityMatrix();
    rho.dephase(0, 0.1);
    expect(rho.getRe(0, 1)).toBeCloseTo(0.5 * 0.8, 15);
    expect(rho.getRe(1, 1)).toBeCloseTo(0.5, 15);
  });
  it("amplitude damping moves population γ from |1⟩ to |0⟩", () => {
    const rho = DensityMatrix.basis(1, 1).amplitudeDamp(0, 0.25);
    expect(rho.getRe(0, 0)).toBeCloseTo(0.25, 15);
    expect(rho.getRe(1, 1)).toBeCloseTo(0.75, 15);
  });
  it("T1/T2 decay: ⟨1|ρ|1⟩ = e^{−t/T1} from |1⟩ and |ρ01| = e^{−t/T2}/2 from |+⟩", () => {
    const t1 = 3;
    const t2 = 1.5;
    for (const t of [0, 0.2, 1, 4]) {
      const excited = DensityMatrix.basis(1, 1).decay(0, t, t1, t2);
      expect(excited.getRe(1, 1)).toBeCloseTo(Math.exp(-t / t1), 14);
      const plus = StateVector.fromAmplitudes([1, 1]).toDensityMatrix().decay(0, t, t1, t2);
      expect(plus.getRe(0, 1)).toBeCloseTo(0.5 * Math.exp(-t / t2), 14);
      expect(plus.trace()).toBeCloseTo(1, 14);
    }
    expect(() => DensityMatrix.basis(1).decay(0, 1, 1, 3)).toThrow(/T2 \(3\) cannot exceed 2·T1/);
    // Pure dephasing only (T1 = ∞).
    const plus = StateVector.fromAmplitudes([1, 1]).toDensityMatrix().decay(0, 1, Infinity, 2);
    expect(plus.getRe(0, 1)).toBeCloseTo(0.5 * Math.exp(-0.5), 14);
    expect(plus.getRe(1, 1)).toBeCloseTo(0.5, 15);
  });
  it("channels reject probabilities outside [0, 1]", () => {
    const rho = DensityMatrix.basis(1);
    expect(() => rho.depolarize(0, 1.5)).toThrow(/depolarizing probability must be in \[0, 1\], got 1.5/);
    expect(() => rho.dephase(0, -0.1)).toThrow(/dephasing probability/);
  });
});

describe("measurement, partial trace and tensor product", () => {
  it("project returns Born probabilities and leaves the post-measurement state", () => {
    const sv = testState(3);
    const rho = sv.toDensityMatrix();
    const p1 = rho.probability(1, 1);
    let expected = 0;
    for (let i = 0; i < 8; i++) if (i & 0b010) expected += sv.re[i] ** 2 + sv.im[i] ** 2;
    expect(p1).toBeCloseTo(expected, 14);
    const post = rho.clone();
    expect(post.project(1, 1)).toBeCloseTo(p1, 14);
    expect(post.probability(1, 1)).toBeCloseTo(1, 14);
    expect(post.trace()).toBeCloseTo(1, 14);
    const svPost = sv.clone();
    svPost.project(1, 1);
    expect(maxDiff(post, svPost.toDensityMatrix())).toBeLessThan(1e-13);
  });
  it("projects onto a rotated basis: |+⟩ measured in the X basis (columns of H) is always 0", () => {
    const plus = StateVector.fromAmplitudes([1, 1]).toDensityMatrix();
    expect(plus.clone().project(0, 0, H)).toBeCloseTo(1, 14);
    const untouched = plus.clone();
    expect(() => untouched.project(0, 1, H)).toThrow(/probability 0/);
    expect(maxDiff(untouched, plus)).toBeLessThan(1e-15);
    const rng = { random: () => 0.999999 };
    const m = plus.clone();
    expect(m.measure(0, rng, H)).toBe(0);
    expect(m.fidelityPure([Math.SQRT1_2, Math.SQRT1_2])).toBeCloseTo(1, 14);
  });
  it("the reduced state of a Bell pair is I/2 and tensor/partial trace invert each other", () => {
    const bell = StateVector.fromAmplitudes([1, 0, 0, 1]).toDensityMatrix();
    const half = bell.partialTrace([1]);
    expect(half.getRe(0, 0)).toBeCloseTo(0.5, 15);
    expect(half.getRe(0, 1)).toBeCloseTo(0, 15);
    const a = mixedState(2);
    const b = testState(1).toDensityMatrix();
    const ab = a.tensor(b);
    expect(ab.trace()).toBeCloseTo(1, 14);
    expect(maxDiff(ab.partialTrace([0, 1]), a)).toBeLessThan(1e-14);
    expect(maxDiff(ab.partialTrace([2]), b)).toBeLessThan(1e-14);
    // Reordering the kept qubits swaps them.
    expect(maxDiff(a.partialTrace([1, 0]), a.clone().apply(SWAP, [0, 1]))).toBeLessThan(1e-14);
  });
  it("expectation values: ⟨Z⊗Z⟩ = 1 and ⟨X⊗X⟩ = 1 on Φ+, ⟨Y⊗Y⟩ = −1", () => {
    const bell = StateVector.fromAmplitudes([1, 0, 0, 1]).toDensityMatrix();
    expect(bell.expectation(kron(Z, Z), [0, 1])).toBeCloseTo(1, 14);
    expect(bell.expectation(kron(X, X), [0, 1])).toBeCloseTo(1, 14);
    expect(bell.expectation(kron(Y, Y), [1, 0])).toBeCloseTo(-1, 14);
    expect(bell.expectation(Z, 0)).toBeCloseTo(0, 14);
  });
});
