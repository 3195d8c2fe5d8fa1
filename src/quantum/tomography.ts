import { DensityMatrix } from "./density-matrix.js";
import { hermitianEigenvalues } from "./linalg.js";
import type { RandomSource } from "./random-source.js";

/**
 * Quantum state tomography of n qubits from Pauli-basis measurement counts.
 *
 * Data format ({@link TomographyData}): a list of measurement settings. A setting names the basis of
 * every qubit, one letter per qubit with qubit 0 first — "XZ" measures qubit 0 in X and qubit 1 in Z — and
 * carries 2^n outcome counts. Outcome index = the measured bit string read as a binary number with qubit 0
 * as the most significant bit (as in {@link DensityMatrix}); bit 0 means the +1 eigenstate (|0⟩, |+⟩,
 * |+i⟩) and bit 1 the −1 eigenstate (|1⟩, |−⟩, |−i⟩). The standard complete set is all 3^n settings
 * ({@link pauliSettings}); a setting listed twice has its counts added.
 *
 * Pauli strings (for {@link estimatePauliExpectations} and {@link pauliExpectations}) are indexed in
 * base 4 with qubit 0 as the most significant digit and digits I = 0, X = 1, Y = 2, Z = 3;
 * {@link pauliLabel} turns an index into its label.
 *
 * Estimators: {@link linearInversion} (fast, unbiased, may be unphysical) and {@link maximumLikelihood}
 * (the iterative RρR algorithm of Hradil and Řeháček, always positive semidefinite with unit trace).
 */

/** One measurement setting and its outcome counts; see the module comment for the format. */
export interface SettingCounts {
  /** Basis of each qubit, qubit 0 first: one of "X", "Y", "Z" per qubit, e.g. "XZ". */
  readonly basis: string;
  /**
   * 2^n non-negative finite counts indexed by outcome bit string (qubit 0 most significant, bit 0 = +1
   * eigenvalue). Non-integers are accepted, so exact probabilities can stand in for infinite shots.
   */
  readonly counts: ArrayLike<number>;
}

/** Tomography input: counts for each measured setting. */
export type TomographyData = readonly SettingCounts[];

/** Largest register accepted: 3^n settings × 2^n outcomes and 4^n Pauli strings grow fast. */
export const MAX_TOMOGRAPHY_QUBITS = 6;

const BASIS_LETTERS = "XYZ";
const PAULI_LETTERS = "IXYZ";
const S2 = Math.SQRT1_2;

/** All 3^n settings, qubit 0's letter varying slowest, letters in the order X, Y, Z ("XX", "XY", … "ZZ"). */
export function pauliSettings(n: number): string[] {
  checkQubitCount(n);
  const out: string[] = [];
  const total = 3 ** n;
  for (let s = 0; s < total; s++) {
    let label = "";
    for (let q = n - 1, v = s; q >= 0; q--, v = Math.floor(v / 3)) label = BASIS_LETTERS[v % 3] + label;
    out.push(label);
  }
  return out;
}

/** Label of Pauli string `index` on n qubits, e.g. pauliLabel(7, 2) = "XZ" (base 4, qubit 0 first). */
export function pauliLabel(index: number, n: number): string {
  checkQubitCount(n);
  if (!Number.isInteger(index) || index < 0 || index >= 4 ** n)
    throw new RangeError(`Pauli index must be an integer in 0..${4 ** n - 1}, got ${index}`);
  let label = "";
  for (let q = 0; q < n; q++) label = PAULI_LETTERS[(index >> (2 * q)) & 3] + label;
  return label;
}

/** Exact ⟨P⟩ = Tr(ρP) for every Pauli string P, indexed as in {@link pauliLabel} (entry 0 is Tr ρ). */
export function pauliExpectations(rho: DensityMatrix): Float64Array {
  checkQubitCount(rho.n);
  return expectationsInto(rho, pauliTable(rho.n), new Float64Array(4 ** rho.n));
}

/**
 * Estimates every ⟨P⟩ from the counts, pooling all settings that measure each non-identity factor of P
 * in its own basis (so ⟨XI⟩ uses "XX", "XY" and "XZ"). Entry 0 (the identity) is 1.
 * Throws a `RangeError` naming the problem when the data are malformed or do not determine some ⟨P⟩.
 */
export function estimatePauliExpectations(data: TomographyData): Float64Array {
  return pauliEstimates(prepare(data));
}

/**
 * Linear-inversion estimate ρ = 2^−n Σ_P ⟨P⟩_est P. Unbiased and exact for exact probabilities, but
 * with finite counts it can have negative eigenvalues; use {@link maximumLikelihood} for a physical state.
 */
export function linearInversion(data: TomographyData): DensityMatrix {
  const prepared = prepare(data);
  const coefficients = pauliEstimates(prepared);
  const rho = new DensityMatrix(prepared.n);
  for (let k = 0; k < coefficients.length; k++) coefficients[k] /= rho.dim;
  pauliSumInto(coefficients, pauliTable(prepared.n), rho);
  return rho;
}

/** Options of {@link maximumLikelihood}. */
export interface MaximumLikelihoodOptions {
  /**
   * Stop once the estimate is certified to be within this many nats (natural-log units, summed over all
   * counts) of the maximum log-likelihood; see {@link MaximumLikelihoodResult.likelihoodGap}. Default 1e-4,
   * far below the statistical spread of a log-likelihood (about half the number of parameters, 4^n − 1).
   */
  readonly tolerance?: number;
  /** Iteration cap; the estimate is returned (still physical) with `converged: false` if reached. Default 10 000. */
  readonly maxIterations?: number;
}

/** Result of {@link maximumLikelihood}. */
export interface MaximumLikelihoodResult {
  /** The estimate: Hermitian, positive semidefinite, trace 1. */
  readonly state: DensityMatrix;
  /** Iterations performed (accepted steps). */
  readonly iterations: number;
  /** Whether the likelihood gap fell below the tolerance before the iteration cap. */
  readonly converged: boolean;
  /** Σ counts·ln p of the estimate (natural log, without the constant multinomial term). */
  readonly logLikelihood: number;
  /**
   * Certified bound on how far the log-likelihood is below its maximum, N·(λmax(R) − 1) in nats: since
   * ln x ≤ x − 1, L(σ) − L(ρ) ≤ Σ n_j(p_j(σ)/p_j(ρ) − 1) = N·Tr(σR) − N for every state σ.
   */
  readonly likelihoodGap: number;
}

/**
 * Maximum-likelihood estimate by the RρR iteration (Hradil, PRA 55, R1561 (1997); Řeháček, Hradil, Ježek,
 * PRA 63, 040303 (2001)). With p_j = Tr(ρΠ_j) over all settings and outcomes and N the total count,
 * R = Σ (n_j / p_j) Π_j / N; the likelihood is maximal exactly when R ≤ I with R = I on the support of ρ.
 * Each step is ρ ← MρM / Tr(MρM) with M = I + t(R − I): t = 1 is the plain RρR step and t < 1 the diluted
 * step, which raises the likelihood for small enough t (Řeháček, Hradil, Knill, Lvovsky, PRA 75, 042108
 * (2007)). The plain step is tried first and halved while it would lower the likelihood, so the likelihood
 * never decreases. MρM is positive semidefinite for any Hermitian M, so every iterate is a physical state.
 * Each setting is a complete measurement (its projectors sum to I), which is what makes this form correct
 * when settings have different shot counts. The data must determine every Pauli expectation (as for
 * {@link linearInversion}) so that the maximum is unique. Starts from I/2^n.
 *
 * Cost: probabilities and R are computed in the Pauli basis (a Walsh–Hadamard transform per setting), so
 * an iteration costs O(4^n·2^n) rather than O(6^n·4^n). Convergence is fast when the estimate has full rank
 * and slows to a gap shrinking like 1/iterations when it lies on the boundary (rank-deficient, e.g. few
 * shots of a nearly pure state); a run stopped by the cap is still physical and reports its gap.
 */
export function maximumLikelihood(
  data: TomographyData,
  options: MaximumLikelihoodOptions = {},
): MaximumLikelihoodResult {
  const tolerance = options.tolerance ?? 1e-4;
  const maxIterations = options.maxIterations ?? 10000;
  if (!(tolerance > 0)) throw new RangeError(`tolerance must be > 0 (nats), got ${tolerance}`);
  if (!Number.isInteger(maxIterations) || maxIterations < 1)
    throw new RangeError(`maxIterations must be an integer ≥ 1, got ${maxIterations}`);

  const prepared = prepare(data);
  // Without every ⟨P⟩ determined the likelihood has a ridge of equally good states and the iteration
  // would return an arbitrary one of them, so incomplete data are rejected as in linear inversion.
  pauliEstimates(prepared);
  const model = likelihoodModel(prepared);
  const d = 1 << prepared.n;

  let rho = { re: new Float64Array(d * d), im: new Float64Array(d * d) };
  for (let i = 0; i < d; i++) rho.re[i * d + i] = 1 / d;
  let r = { re: new Float64Array(d * d), im: new Float64Array(d * d) };
  let candidate = { re: new Float64Array(d * d), im: new Float64Array(d * d) };
  let rCandidate = { re: new Float64Array(d * d), im: new Float64Array(d * d) };
  const m = { re: new Float64Array(d * d), im: new Float64Array(d * d) };
  const tmp = { re: new Float64Array(d * d), im: new Float64Array(d * d) };

  let logLikelihood = model.evaluate(rho, r);
  let step = 1;
  let iterations = 0;
  let converged = false;
  let gap = Number.POSITIVE_INFINITY;
  for (;;) {
    // Certify before stepping. The exact λmax costs about as much as several iterations, so it is checked
    // only every few of them.
    if (iterations % CHECK_EVERY === 0) {
      gap = likelihoodGap(r, model.total, d);
      if (gap <= tolerance) {
        converged = true;
        break;
      }
    }
    if (iterations >= maxIterations) break;
    iterations++;
    for (;;) {
      for (let k = 0; k < d * d; k++) {
        m.re[k] = step * r.re[k];
        m.im[k] = step * r.im[k];
      }
      for (let i = 0; i < d; i++) m.re[i * d + i] += 1 - step;
      complexProduct(m.re, m.im, rho.re, rho.im, tmp.re, tmp.im, d);
      complexProduct(tmp.re, tmp.im, m.re, m.im, candidate.re, candidate.im, d);
      hermitianNormalise(candidate.re, candidate.im, d);
      const next = model.evaluate(candidate, rCandidate);
      // Round-off allowance: at the maximum every step changes L only in its last digits.
      if (next >= logLikelihood - 1e-12 * Math.abs(logLikelihood) || step < MIN_STEP) {
        [rho, candidate] = [candidate, rho];
        [r, rCandidate] = [rCandidate, r];
        logLikelihood = next;
        step = Math.min(step * 2, 1);
        break;
      }
      step /= 2;
    }
  }
  if (!converged) gap = likelihoodGap(r, model.total, d);
  return {
    state: new DensityMatrix(prepared.n, rho.re, rho.im),
    iterations,
    converged,
    logLikelihood,
    likelihoodGap: gap,
  };
}

/** Iterations between certificate checks. */
const CHECK_EVERY = 8;
/** Below this the diluted step is accepted regardless: the likelihood is then flat to round-off. */
const MIN_STEP = 1e-9;

/**
 * Fidelity ⟨ψ|ρ|ψ⟩ of an estimate to a target pure state given by its amplitudes (normalised here, so
 * unnormalised amplitudes such as [1, 0, 0, 1] are fine). For a mixed target use `fidelity(ρ, σ)` from
 * fidelity.ts.
 */
export function fidelityToPure(
  estimate: DensityMatrix,
  re: ArrayLike<number>,
  im?: ArrayLike<number>,
): number {
  if (re.length !== estimate.dim || (im !== undefined && im.length !== estimate.dim))
    throw new RangeError(
      `target has ${re.length} amplitudes but the estimate is ${estimate.n}-qubit; give ${estimate.dim} amplitudes`,
    );
  let norm = 0;
  for (let i = 0; i < re.length; i++) norm += re[i] * re[i] + (im ? im[i] * im[i] : 0);
  if (!(norm > 0)) throw new RangeError("the target state's amplitudes are all zero");
  return estimate.fidelityPure(re, im) / norm;
}

/**
 * Exact outcome probabilities of `rho` in one setting, indexed like {@link SettingCounts.counts}.
 * @param out - array of length 2^n to write into; a new one by default.
 */
export function settingProbabilities(
  rho: DensityMatrix,
  basis: string,
  out: Float64Array = new Float64Array(rho.dim),
): Float64Array {
  const codes = parseBasis(basis, rho.n, `basis "${basis}"`);
  if (out.length !== rho.dim) throw new RangeError(`output needs ${rho.dim} entries, got ${out.length}`);
  for (let o = 0; o < rho.dim; o++) {
    const v = outcomeVector(codes, o);
    // Round-off can leave −1e-17 on impossible outcomes; probabilities are never negative.
    out[o] = Math.max(0, quadraticForm(rho.re, rho.im, v.re, v.im, rho.dim));
  }
  return out;
}

/**
 * Expected counts (probability × shots, not rounded) for every setting of {@link pauliSettings}: the
 * infinite-statistics limit, for testing estimators without sampling noise.
 * @param shotsPerSetting - scale of each setting's counts, > 0. Default 1 (exact probabilities).
 */
export function expectedTomographyCounts(rho: DensityMatrix, shotsPerSetting = 1): SettingCounts[] {
  if (!(shotsPerSetting > 0 && Number.isFinite(shotsPerSetting)))
    throw new RangeError(`shotsPerSetting must be a finite number > 0, got ${shotsPerSetting}`);
  return pauliSettings(rho.n).map((basis) => {
    const counts = settingProbabilities(rho, basis);
    for (let o = 0; o < counts.length; o++) counts[o] *= shotsPerSetting;
    return { basis, counts };
  });
}

/**
 * Simulated tomography data: for each setting, `shotsPerSetting` independent measurements of fresh copies
 * of `rho`, i.e. a multinomial sample from the exact outcome probabilities, drawn from `rng`.
 * @param shotsPerSetting - positive integer number of measurements per setting.
 * @param settings - settings to measure; all 3^n of {@link pauliSettings} by default.
 */
export function simulateTomographyCounts(
  rho: DensityMatrix,
  shotsPerSetting: number,
  rng: RandomSource,
  settings: readonly string[] = pauliSettings(rho.n),
): SettingCounts[] {
  if (!Number.isInteger(shotsPerSetting) || shotsPerSetting < 1)
    throw new RangeError(`shotsPerSetting must be an integer ≥ 1, got ${shotsPerSetting}`);
  const cumulative = new Float64Array(rho.dim);
  return settings.map((basis) => {
    const probs = settingProbabilities(rho, basis);
    let acc = 0;
    for (let o = 0; o < probs.length; o++) cumulative[o] = acc += probs[o];
    const counts = new Float64Array(rho.dim);
    for (let shot = 0; shot < shotsPerSetting; shot++) {
      // Scale the draw by the total so a trace of 1 ± round-off never leaves the last bin short.
      const u = rng.random() * acc;
      let o = 0;
      while (o < probs.length - 1 && u >= cumulative[o]) o++;
      counts[o]++;
    }
    return { basis, counts };
  });
}

// ---- validation ---------------------------------------------------------------------------------

interface PreparedSetting {
  readonly basis: string;
  /** Per qubit 1 = X, 2 = Y, 3 = Z (the Pauli digit). */
  readonly codes: Uint8Array;
  readonly counts: Float64Array;
  total: number;
}

interface Prepared {
  readonly n: number;
  readonly settings: readonly PreparedSetting[];
}

function prepare(data: TomographyData): Prepared {
  if (!Array.isArray(data) || data.length === 0)
    throw new RangeError(
      'tomography data are empty: give a list of { basis, counts } settings, e.g. all 3^n from pauliSettings(n) ("XX", "XY", … "ZZ")',
    );
  const first = data[0];
  if (typeof first?.basis !== "string")
    throw new RangeError('setting 0 has no basis string: each entry needs { basis: "XZ…", counts: [...] }');
  const n = first.basis.length;
  checkQubitCount(n, `setting 0 ("${first.basis}") implies`);
  const dim = 1 << n;
  const byBasis = new Map<string, PreparedSetting>();
  data.forEach((entry, i) => {
    const where = `setting ${i}`;
    if (typeof entry?.basis !== "string")
      throw new RangeError(`${where} has no basis string: each entry needs { basis: "XZ…", counts: [...] }`);
    const codes = parseBasis(entry.basis, n, `${where} ("${entry.basis}")`);
    const counts = entry.counts;
    if (counts == null || typeof counts.length !== "number" || counts.length !== dim)
      throw new RangeError(
        `${where} ("${entry.basis}") has ${counts?.length ?? "no"} counts; ${n} qubit(s) need ${dim}, one per outcome bit string`,
      );
    let total = 0;
    for (let o = 0; o < dim; o++) {
      const c = counts[o];
      if (typeof c !== "number" || !Number.isFinite(c) || c < 0)
        throw new RangeError(
          `${where} ("${entry.basis}") count ${o} is ${c}; counts must be finite numbers ≥ 0`,
        );
      total += c;
    }
    if (!(total > 0))
      throw new RangeError(
        `${where} ("${entry.basis}") has no counts at all; remove it or record its outcomes`,
      );
    const existing = byBasis.get(entry.basis);
    if (existing) {
      for (let o = 0; o < dim; o++) existing.counts[o] += counts[o];
      existing.total += total;
    } else byBasis.set(entry.basis, { basis: entry.basis, codes, counts: Float64Array.from(counts), total });
  });
  return { n, settings: [...byBasis.values()] };
}

function parseBasis(basis: string, n: number, where: string): Uint8Array {
  if (basis.length !== n)
    throw new RangeError(
      `${where} names ${basis.length} qubit(s) but the data are for ${n}; give one letter per qubit`,
    );
  const codes = new Uint8Array(n);
  for (let q = 0; q < n; q++) {
    const k = BASIS_LETTERS.indexOf(basis[q]);
    if (k < 0)
      throw new RangeError(
        `${where}: letter ${q} is "${basis[q]}"; each qubit's basis must be X, Y or Z (upper case)`,
      );
    codes[q] = k + 1;
  }
  return codes;
}

function checkQubitCount(n: number, what = "asked for"): void {
  if (!Number.isInteger(n) || n < 1 || n > MAX_TOMOGRAPHY_QUBITS)
    throw new RangeError(`${what} ${n} qubit(s); tomography supports 1..${MAX_TOMOGRAPHY_QUBITS}`);
}

// ---- estimation ---------------------------------------------------------------------------------

function pauliEstimates(prepared: Prepared): Float64Array {
  const { n, settings } = prepared;
  const dim = 1 << n;
  const out = new Float64Array(4 ** n);
  const { parity } = pauliTable(n);
  const missing: string[] = [];
  for (let idx = 0; idx < out.length; idx++) {
    let support = 0; // outcome bits whose parity gives the eigenvalue of P
    for (let q = 0; q < n; q++) if (digit(idx, q, n) !== 0) support |= 1 << (n - 1 - q);
    let sum = 0;
    let shots = 0;
    for (const s of settings) {
      let matches = true;
      for (let q = 0; q < n && matches; q++) {
        const p = digit(idx, q, n);
        matches = p === 0 || p === s.codes[q];
      }
      if (!matches) continue;
      for (let o = 0; o < dim; o++) sum += parity[o & support] ? -s.counts[o] : s.counts[o];
      shots += s.total;
    }
    if (shots === 0) missing.push(pauliLabel(idx, n));
    else out[idx] = sum / shots;
  }
  if (missing.length > 0) {
    const example = missing[0];
    const setting = example.replaceAll("I", "Z");
    throw new RangeError(
      `the data do not determine ⟨${example}⟩${missing.length > 1 ? ` or ${missing.length - 1} other Pauli expectation(s)` : ""}: ` +
        `add a setting that measures each of its non-identity factors in that basis (e.g. "${setting}"), ` +
        "or measure all 3^n settings of pauliSettings(n)",
    );
  }
  return out;
}

// ---- maximum-likelihood machinery --------------------------------------------------------------

interface ComplexSquare {
  re: Float64Array;
  im: Float64Array;
}

/** p below this is treated as this: keeps R finite if an iterate nears the edge of the state space. */
const P_FLOOR = 1e-300;

/**
 * The likelihood of the data as a function of ρ, evaluated in the Pauli basis. A projector of setting s is
 * Π_{s,o} = 2^−n Σ_T (−1)^{|o∧T|} P(s,T), where T runs over subsets of the qubits and P(s,T) is s's
 * Pauli on T and I elsewhere; so a setting's outcome probabilities are a Walsh–Hadamard transform of the
 * ⟨P(s,T)⟩, and R's Pauli coefficients are the transform of the weights n_{s,o}/(N·p_{s,o}).
 */
function likelihoodModel(prepared: Prepared): {
  total: number;
  /** Writes R(ρ) into r and returns the log-likelihood Σ n_j ln p_j. */
  evaluate(rho: ComplexSquare, r: ComplexSquare): number;
} {
  const { n, settings } = prepared;
  const d = 1 << n;
  const table = pauliTable(n);
  // For each setting, the Pauli index of P(s,T) for each subset T (bit n−1−q of T is qubit q).
  const pauliOf = settings.map((s) => {
    const map = new Int32Array(d);
    for (let t = 0; t < d; t++) {
      let idx = 0;
      for (let q = 0; q < n; q++) idx = idx * 4 + ((t >> (n - 1 - q)) & 1 ? s.codes[q] : 0);
      map[t] = idx;
    }
    return map;
  });
  let total = 0;
  for (const s of settings) total += s.total;
  const expect = new Float64Array(4 ** n);
  const coefficients = new Float64Array(4 ** n);
  const buffer = new Float64Array(d);
  return {
    total,
    evaluate(rho, r) {
      expectationsInto(rho, table, expect);
      coefficients.fill(0);
      let logLikelihood = 0;
      for (let s = 0; s < settings.length; s++) {
        const map = pauliOf[s];
        const counts = settings[s].counts;
        for (let t = 0; t < d; t++) buffer[t] = expect[map[t]];
        walshHadamard(buffer);
        for (let o = 0; o < d; o++) {
          const c = counts[o];
          if (c === 0) {
            // Outcomes never seen contribute nothing to L or R.
            buffer[o] = 0;
            continue;
          }
          const p = Math.max(buffer[o] / d, P_FLOOR);
          logLikelihood += c * Math.log(p);
          buffer[o] = c / (p * total);
        }
        walshHadamard(buffer);
        for (let t = 0; t < d; t++) coefficients[map[t]] += buffer[t] / d;
      }
      r.re.fill(0);
      r.im.fill(0);
      pauliSumInto(coefficients, table, r);
      return logLikelihood;
    },
  };
}

/** In-place unnormalised Walsh–Hadamard transform: x[o] ← Σ_t x[t]·(−1)^{popcount(o∧t)}. */
function walshHadamard(x: Float64Array): void {
  const d = x.length;
  for (let len = 1; len < d; len <<= 1)
    for (let i = 0; i < d; i += len << 1)
      for (let j = i; j < i + len; j++) {
        const a = x[j];
        const b = x[j + len];
        x[j] = a + b;
        x[j + len] = a - b;
      }
}

/** N·(λmax(R) − 1), with λmax from the Jacobi eigensolver of linalg.ts; never negative. */
function likelihoodGap(r: ComplexSquare, total: number, d: number): number {
  const ev = hermitianEigenvalues({ d, re: r.re, im: r.im });
  return Math.max(0, total * (ev[d - 1] - 1));
}

// ---- small helpers ------------------------------------------------------------------------------

/** Pauli digit of qubit q in a base-4 index (qubit 0 most significant): 0 I, 1 X, 2 Y, 3 Z. */
function digit(index: number, q: number, n: number): number {
  return (index >> (2 * (n - 1 - q))) & 3;
}

/**
 * Matrix structure of every Pauli string on n qubits: P[r, r⊕x] = phase·(−1)^popcount(r ∧ yz), all other
 * entries 0, where x marks the qubits with X or Y, yz those with Y or Z, and phase = (−i)^(number of Y)
 * (from Y = [[0, −i], [i, 0]] = −i·(−1)^row off the diagonal).
 */
interface PauliTable {
  readonly n: number;
  readonly x: Int32Array;
  readonly yz: Int32Array;
  readonly phaseRe: Float64Array;
  readonly phaseIm: Float64Array;
  /** parity[k] = popcount(k) mod 2, for k < 2^n. */
  readonly parity: Uint8Array;
}

/** Tables are immutable and small (4^n entries), so one per register size is shared. */
const pauliTables = new Map<number, PauliTable>();

function pauliTable(n: number): PauliTable {
  const cached = pauliTables.get(n);
  if (cached) return cached;
  const count = 4 ** n;
  const x = new Int32Array(count);
  const yz = new Int32Array(count);
  const phaseRe = new Float64Array(count);
  const phaseIm = new Float64Array(count);
  for (let idx = 0; idx < count; idx++) {
    let nY = 0;
    for (let q = 0; q < n; q++) {
      const p = digit(idx, q, n);
      const bit = 1 << (n - 1 - q);
      if (p === 1 || p === 2) x[idx] |= bit;
      if (p === 2 || p === 3) yz[idx] |= bit;
      if (p === 2) nY++;
    }
    phaseRe[idx] = MINUS_I_POWER_RE[nY & 3];
    phaseIm[idx] = MINUS_I_POWER_IM[nY & 3];
  }
  const parity = new Uint8Array(1 << n);
  for (let k = 1; k < parity.length; k++) parity[k] = parity[k >> 1] ^ (k & 1);
  const table = { n, x, yz, phaseRe, phaseIm, parity };
  pauliTables.set(n, table);
  return table;
}

/** (−i)^k for k = 0..3. */
const MINUS_I_POWER_RE = [1, 0, -1, 0];
const MINUS_I_POWER_IM = [0, -1, 0, 1];

/** out[P] = Tr(ρP) = Σ_c ρ[c⊕x, c]·P[c, c⊕x] (real part; exact for Hermitian ρ). */
function expectationsInto(rho: ComplexSquare, table: PauliTable, out: Float64Array): Float64Array {
  const d = 1 << table.n;
  const { re, im } = rho;
  for (let idx = 0; idx < out.length; idx++) {
    const x = table.x[idx];
    const yz = table.yz[idx];
    const phRe = table.phaseRe[idx];
    const phIm = table.phaseIm[idx];
    let t = 0;
    for (let c = 0; c < d; c++) {
      const k = (c ^ x) * d + c;
      const v = re[k] * phRe - im[k] * phIm;
      t += table.parity[c & yz] ? -v : v;
    }
    out[idx] = t;
  }
  return out;
}

/** out += Σ_P coefficients[P]·P. */
function pauliSumInto(coefficients: Float64Array, table: PauliTable, out: ComplexSquare): void {
  const d = 1 << table.n;
  for (let idx = 0; idx < coefficients.length; idx++) {
    const c = coefficients[idx];
    if (c === 0) continue;
    const x = table.x[idx];
    const yz = table.yz[idx];
    const cRe = c * table.phaseRe[idx];
    const cIm = c * table.phaseIm[idx];
    for (let r = 0; r < d; r++) {
      const k = r * d + (r ^ x);
      if (table.parity[r & yz]) {
        out.re[k] -= cRe;
        out.im[k] -= cIm;
      } else {
        out.re[k] += cRe;
        out.im[k] += cIm;
      }
    }
  }
}

/** Product eigenvector of one outcome: qubit q in the +1 (bit 0) or −1 (bit 1) eigenstate of its basis. */
function outcomeVector(codes: Uint8Array, outcome: number): { re: Float64Array; im: Float64Array } {
  const n = codes.length;
  const d = 1 << n;
  const re = new Float64Array(d);
  const im = new Float64Array(d);
  for (let b = 0; b < d; b++) {
    let ar = 1;
    let ai = 0;
    for (let q = 0; q < n && (ar !== 0 || ai !== 0); q++) {
      const shift = n - 1 - q;
      const minus = (outcome >> shift) & 1;
      const one = (b >> shift) & 1;
      // Single-qubit amplitude ⟨one|e⟩: Z: δ; X: (1, ±1)/√2; Y: (1, ±i)/√2.
      let er: number;
      let ei = 0;
      if (codes[q] === 3) er = one === minus ? 1 : 0;
      else if (codes[q] === 1) er = one === 1 && minus === 1 ? -S2 : S2;
      else if (one === 0) er = S2;
      else {
        er = 0;
        ei = minus === 1 ? -S2 : S2;
      }
      const nr = ar * er - ai * ei;
      ai = ar * ei + ai * er;
      ar = nr;
    }
    re[b] = ar;
    im[b] = ai;
  }
  return { re, im };
}

/** Re(v† ρ v). */
function quadraticForm(
  rhoRe: Float64Array,
  rhoIm: Float64Array,
  vRe: Float64Array,
  vIm: Float64Array,
  d: number,
): number {
  let t = 0;
  for (let r = 0; r < d; r++) {
    let sr = 0;
    let si = 0;
    const row = r * d;
    for (let c = 0; c < d; c++) {
      const pr = rhoRe[row + c];
      const pi = rhoIm[row + c];
      sr += pr * vRe[c] - pi * vIm[c];
      si += pr * vIm[c] + pi * vRe[c];
    }
    t += vRe[r] * sr + vIm[r] * si;
  }
  return t;
}

/** out = a·b for d×d complex matrices (out distinct from a and b). */
function complexProduct(
  aRe: Float64Array,
  aIm: Float64Array,
  bRe: Float64Array,
  bIm: Float64Array,
  outRe: Float64Array,
  outIm: Float64Array,
  d: number,
): void {
  outRe.fill(0);
  outIm.fill(0);
  for (let r = 0; r < d; r++)
    for (let k = 0; k < d; k++) {
      const ar = aRe[r * d + k];
      const ai = aIm[r * d + k];
      if (ar === 0 && ai === 0) continue;
      for (let c = 0; c < d; c++) {
        const br = bRe[k * d + c];
        const bi = bIm[k * d + c];
        outRe[r * d + c] += ar * br - ai * bi;
        outIm[r * d + c] += ar * bi + ai * br;
      }
    }
}

/** Replaces m by (m + m†)/2 and divides by its trace, absorbing round-off each iteration. */
function hermitianNormalise(mRe: Float64Array, mIm: Float64Array, d: number): void {
  let trace = 0;
  for (let i = 0; i < d; i++) trace += mRe[i * d + i];
  for (let r = 0; r < d; r++) {
    mRe[r * d + r] /= trace;
    mIm[r * d + r] = 0;
    for (let c = r + 1; c < d; c++) {
      const a = (mRe[r * d + c] + mRe[c * d + r]) / (2 * trace);
      const b = (mIm[r * d + c] - mIm[c * d + r]) / (2 * trace);
      mRe[r * d + c] = a;
      mRe[c * d + r] = a;
      mIm[r * d + c] = b;
      mIm[c * d + r] = -b;
    }
  }
}
