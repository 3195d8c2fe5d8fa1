import { DensityMatrix } from "../src/quantum/density-matrix.js";
import { CNOT, H, rx } from "../src/quantum/gates.js";
import { StateVector } from "../src/quantum/state-vector.js";
import { type Bench, type BenchResult, measureRate } from "./harness.js";

/** A generic mixed state so that no entry is trivially zero. */
function workState(n: number): DensityMatrix {
  const rho = DensityMatrix.basis(n);
  for (let q = 0; q < n; q++) rho.apply(rx(0.3 + q), q);
  for (let q = 0; q + 1 < n; q++) rho.apply(CNOT, [q, q + 1]);
  for (let q = 0; q < n; q++) rho.depolarize(q, 0.1);
  return rho;
}

function densityMatrixBench(n: number): BenchResult[] {
  const initial = workState(n);
  const rho = initial.clone();
  const ops: [string, (i: number) => void][] = [
    ["h", (i) => rho.apply(H, i % n)],
    ["cnot", (i) => rho.apply(CNOT, [i % n, (i + 1) % n])],
    ["depolarize", (i) => rho.depolarize(i % n, 0.01)],
    ["amplitude_damp", (i) => rho.amplitudeDamp(i % n, 0.01)],
    ["decay_t1_t2", (i) => rho.decay(i % n, 1e-3, 1, 0.5)],
  ];
  return ops.map(([name, op]) => ({
    name: `quantum.dm_${n}q_${name}`,
    value: measureRate((count) => {
      for (let i = 0; i < count; i++) {
        op(i);
        // Repeated damping drives coherences into subnormal floats, which are slow and unlike any
        // real workload: start again from the working state now and then.
        if ((i & 63) === 63) rho.copyFrom(initial);
      }
    }, 0.2),
    unit: "ops/s",
  }));
}

function stateVectorBench(n: number): BenchResult[] {
  const sv = new StateVector(n);
  return [
    {
      name: `quantum.sv_${n}q_h`,
      value: measureRate((count) => {
        for (let i = 0; i < count; i++) sv.apply(H, i % n);
      }, 0.2),
      unit: "ops/s",
    },
  ];
}

export const benches: Bench[] = [
  { name: "quantum.dm_2q", run: () => densityMatrixBench(2) },
  { name: "quantum.dm_6q", run: () => densityMatrixBench(6) },
  { name: "quantum.dm_10q", run: () => densityMatrixBench(10) },
  { name: "quantum.sv_20q", run: () => stateVectorBench(20) },
];
