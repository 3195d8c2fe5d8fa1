/**
 * The quantum-state engine: pure mathematics of qubit registers (no time, no I/O).
 *
 * @module
 */

export { BellState, bellAmplitudes, bellMeasure } from "./bell.js";
export * from "./bell-diagonal.js";
export { DensityMatrix, krausCompleteness, MAX_QUBITS } from "./density-matrix.js";
export { fidelity, traceDistance } from "./fidelity.js";
export * from "./gates.js";
export { type ComplexMatrix, complexMatmul, hermitianEigenvalues, hermitianFunction } from "./linalg.js";
export type { RandomSource } from "./random-source.js";
export { MAX_STATE_VECTOR_QUBITS, StateVector } from "./state-vector.js";
export * from "./tomography.js";
