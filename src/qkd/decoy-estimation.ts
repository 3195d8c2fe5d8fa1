/**
 * Decoy-state parameter estimation from what a BB84 run actually records: per-intensity gains and error
 * rates (asymptotic), or per-intensity detection and error counts (finite key).
 *
 * Three intensities μ1 > μ2 + μ3, μ2 > μ3 ≥ 0: the signal, a weak decoy, and a vacuum (μ3 = 0) or
 * second, weaker decoy. With μ3 = 0 the asymptotic bounds are exactly the vacuum + weak decoy bounds of
 * Ma, Qi, Zhao, Lo, PRA 72, 012326 (2005):
 *   Y1^L = μ/(μν − ν²)·[Q_ν·e^ν − Q_μ·e^μ·ν²/μ² − (μ² − ν²)/μ²·Y0],
 *   e1^U = (E_ν·Q_ν·e^ν − E_0·Y0)/(ν·Y1^L).
 * The finite-key version follows Lim, Curty, Walenta, Xu, Zbinden, "Concise security bounds for practical
 * decoy-state quantum key distribution", PRA 89, 022307 (2014), Eqs. (1)–(5): Hoeffding intervals on the
 * counts, then the same decoy algebra on the bounded counts, then a sampling bound γ on the phase error.
 *
 * @module
 */
import { binaryEntropy } from "./bits.js";

/** One value per intensity, in the order [μ1 signal, μ2 weak decoy, μ3 vacuum or weakest decoy]. */
export type PerIntensity = readonly [number, number, number];

/** What a run measured per intensity, as fractions of pulses sent at that intensity. */
export interface DecoyObservation {
  /** Intensities [μ1, μ2, μ3], mean photon numbers with μ1 > μ2 + μ3 and μ2 > μ3 ≥ 0. */
  intensities: PerIntensity;
  /** Gains Q_k: detections per pulse sent with intensity k, each in [0, 1]. */
  gains: PerIntensity;
  /** Quantum bit error rates E_k of those detections, each in [0, 1]. */
  errorRates: PerIntensity;
}

/** Bounds on the vacuum and single-photon contributions. Yields are detections per pulse. */
export interface SinglePhotonBounds {
  /** Lower bound on the vacuum yield Y0 (≥ 0). */
  y0Lower: number;
  /** Lower bound on the single-photon yield Y1 (≥ 0). */
  y1Lower: number;
  /** Upper bound on the single-photon error rate e1, capped at 1/2 (1/2 when Y1^L = 0). */
  e1Upper: number;
  /** Lower bound on the single-photon gain of the signal, Q1^L = Y1^L·μ1·e^(−μ1). */
  q1Lower: number;
}

function assertIntensities(mu: PerIntensity, where: string): void {
  if (!Array.isArray(mu) || mu.length !== 3 || !mu.every((m) => Number.isFinite(m)))
    throw new RangeError(`${where}: intensities must be three finite numbers [μ1, μ2, μ3]`);
  const [m1, m2, m3] = mu;
  if (!(m3 >= 0 && m2 > m3 && m1 > m2 + m3))
    throw new RangeError(
      `${where}: intensities must satisfy μ1 > μ2 + μ3 and μ2 > μ3 ≥ 0, got [${m1}, ${m2}, ${m3}]`,
    );
}

function assertTriple(v: PerIntensity, what: string, where: string, lo: number, hi: number): void {
  if (!Array.isArray(v) || v.length !== 3)
    throw new RangeError(`${where}: ${what} must have one value per intensity (3 values)`);
  for (let k = 0; k < 3; k++)
    if (!(v[k] >= lo && v[k] <= hi))
      throw new RangeError(`${where}: ${what}[${k}] must be in [${lo}, ${hi}], got ${v[k]}`);
}

/**
 * Vacuum lower bound Y0^L and single-photon lower bound Y1^L from "normalized" observations
 * a_k = (quantity at intensity k)·e^(μ_k). Shared by the asymptotic estimator (a_k = Q_k·e^(μ_k)) and the
 * finite-key one (a_k = n_k^±·e^(μ_k)/p_k), which differ only in which side of each interval they use.
 */
function vacuumLower(mu: PerIntensity, a3Minus: number, a2Plus: number): number {
  const [, m2, m3] = mu;
  return Math.max(0, (m2 * a3Minus - m3 * a2Plus) / (m2 - m3));
}

function singlePhotonLower(
  mu: PerIntensity,
  a1Plus: number,
  a2Minus: number,
  a3Plus: number,
  vacuum: number,
): number {
  const [m1, m2, m3] = mu;
  const num = m1 * (a2Minus - a3Plus - ((m2 * m2 - m3 * m3) / (m1 * m1)) * (a1Plus - vacuum));
  const den = m1 * (m2 - m3) - m2 * m2 + m3 * m3;
  return Math.max(0, num / den);
}

/**
 * Asymptotic decoy bounds from observed gains and error rates (no statistical fluctuations), the
 * vacuum + weak decoy method generalized to a weakest intensity μ3 ≥ 0.
 * @throws RangeError for intensities that violate μ1 > μ2 + μ3, μ2 > μ3 ≥ 0, or values outside [0, 1].
 */
export function estimateDecoyBounds(obs: DecoyObservation): SinglePhotonBounds {
  const where = "decoy estimate";
  assertIntensities(obs.intensities, where);
  assertTriple(obs.gains, "gains", where, 0, 1);
  assertTriple(obs.errorRates, "errorRates", where, 0, 1);
  const mu = obs.intensities;
  const a = obs.gains.map((q, k) => q * Math.exp(mu[k]));
  const errs = obs.gains.map((q, k) => obs.errorRates[k] * q * Math.exp(mu[k]));
  const y0Lower = vacuumLower(mu, a[2], a[1]);
  const y1Lower = singlePhotonLower(mu, a[0], a[1], a[2], y0Lower);
  // Single-photon errors: e1·Y1 ≤ (E2·Q2·e^μ2 − E3·Q3·e^μ3)/(μ2 − μ3).
  const e1Y1 = (errs[1] - errs[2]) / (mu[1] - mu[2]);
  const e1Upper = y1Lower > 0 ? Math.min(0.5, Math.max(0, e1Y1 / y1Lower)) : 0.5;
  return { y0Lower, y1Lower, e1Upper, q1Lower: y1Lower * mu[0] * Math.exp(-mu[0]) };
}

/** Options of {@link decoyKeyRateAsymptotic}. */
export interface AsymptoticRateOptions {
  /** Error-correction inefficiency f ≥ 1. Default 1.22. */
  ecEfficiency?: number;
  /** Sifting factor q in (0, 1]. Default 1/2. */
  q?: number;
}

/** The asymptotic key rate of {@link decoyKeyRateAsymptotic}, with the bounds it used. */
export interface AsymptoticRate extends SinglePhotonBounds {
  /** R = q·{−Q_μ1·f·h(E_μ1) + Q1^L·[1 − h(e1^U)]}, bits per pulse, clamped to ≥ 0. */
  key_rate_per_pulse: number;
  /** Signal gain Q_μ1. */
  gain: number;
  /** Signal error rate E_μ1. */
  qber: number;
}

/**
 * Asymptotic secret key rate per pulse, key from the signal intensity only (the GLLP formula with decoy
 * bounds, as in Lo–Ma–Chen and Ma et al.).
 */
export function decoyKeyRateAsymptotic(
  obs: DecoyObservation,
  opts: AsymptoticRateOptions = {},
): AsymptoticRate {
  const f = opts.ecEfficiency ?? 1.22;
  const q = opts.q ?? 0.5;
  if (!(f >= 1 && Number.isFinite(f)))
    throw new RangeError(`decoy key rate: ecEfficiency must be a finite number ≥ 1, got ${f}`);
  if (!(q > 0 && q <= 1)) throw new RangeError(`decoy key rate: q must be in (0, 1], got ${q}`);
  const b = estimateDecoyBounds(obs);
  const gain = obs.gains[0];
  const qber = obs.errorRates[0];
  const h1 = b.e1Upper >= 0.5 ? 1 : binaryEntropy(b.e1Upper);
  const rate = q * (-gain * f * binaryEntropy(qber) + b.q1Lower * (1 - h1));
  return { ...b, key_rate_per_pulse: Math.max(0, rate), gain, qber };
}

/** Counts recorded in one basis, per intensity. */
export interface BasisCounts {
  /** Sifted detections n_k (both chose this basis), each ≥ 0. */
  detections: PerIntensity;
  /** Bit errors m_k among them, each in [0, n_k]. */
  errors: PerIntensity;
}

/** Input of {@link finiteKeyLength}: one block of a three-intensity decoy BB84 run. */
export interface FiniteKeyInput {
  /** Intensities [μ1, μ2, μ3] with μ1 > μ2 + μ3, μ2 > μ3 ≥ 0. */
  intensities: PerIntensity;
  /** Probabilities p_k with which Alice picks each intensity; each in (0, 1], summing to 1. */
  probabilities: PerIntensity;
  /** Key basis X: detections and errors per intensity (errors used only to estimate λ_EC). */
  x: BasisCounts;
  /** Test basis Z: detections and errors per intensity. */
  z: BasisCounts;
  /** Secrecy parameter ε_sec in (0, 1). Default 1e-10. */
  epsSec?: number;
  /** Correctness parameter ε_cor in (0, 1). Default 1e-15. */
  epsCor?: number;
  /**
   * Bits disclosed by error correction, λ_EC ≥ 0. When omitted it is estimated as f·n_X·h(E_X), with E_X
   * the error rate of the whole X block and f = `ecEfficiency`.
   */
  lambdaEC?: number;
  /** Error-correction inefficiency f ≥ 1 used when `lambdaEC` is omitted. Default 1.22. */
  ecEfficiency?: number;
  /** Pulses N sent to collect the block; when given, the result has a rate per pulse ℓ/N. */
  pulses?: number;
}

/** The result of {@link finiteKeyLength} and {@link asymptoticKeyLength}. All counts are in events. */
export interface FiniteKeyResult {
  /** Secret key length ℓ in bits, rounded down, ≥ 0. */
  key_length_bits: number;
  /** ℓ/N when `pulses` was given, else null. */
  key_rate_per_pulse: number | null;
  /** X block size n_X = Σ_k n_{X,k}. */
  n_x: number;
  /** Z block size n_Z. */
  n_z: number;
  /** Observed X error rate E_X. */
  qber_x: number;
  /** Lower bounds on vacuum and single-photon events in the X block. */
  s_x0: number;
  s_x1: number;
  /** Lower bounds on vacuum and single-photon events in the Z block. */
  s_z0: number;
  s_z1: number;
  /** Upper bound on the bit errors of single-photon events in the Z block. */
  v_z1: number;
  /** Upper bound on the phase error rate φ_X of the X single-photon events, capped at 1/2. */
  phi_x: number;
  /** Bits disclosed in error correction. */
  lambda_ec: number;
  /** Bits paid for secrecy and correctness, 6·log2(21/ε_sec) + log2(2/ε_cor); 0 asymptotically. */
  security_cost_bits: number;
}

/**
 * Sampling bound on the phase error rate (Lim et al. 2014, Eq. (5)):
 * γ(a, b, c, d) = sqrt{ (c+d)(1−b)b/(c·d·ln 2) · log2[ (c+d)/(c·d·(1−b)·b) · 21²/a² ] }.
 * At b = 0 (no observed single-photon errors) this is the limit b → 0, which is 0.
 * @param a - ε_sec; b - observed single-photon error rate in the test basis; c, d - test and key sample sizes.
 */
export function phaseErrorDeviation(a: number, b: number, c: number, d: number): number {
  if (!(c > 0 && d > 0))
    throw new RangeError(`phase error deviation: sample sizes must be > 0, got ${c}, ${d}`);
  if (!(a > 0 && a < 1)) throw new RangeError(`phase error deviation: ε must be in (0, 1), got ${a}`);
  // b(1 − b) → 0 at both ends and b·log(1/b) → 0, so the bound's limit there is 0.
  if (!(b > 0 && b < 1)) return 0;
  const w = (c + d) / (c * d);
  const spread = b * (1 - b);
  const g2 = ((w * spread) / Math.LN2) * Math.log2(((w / spread) * 21 * 21) / (a * a));
  return Math.sqrt(Math.max(0, g2));
}

function checkBasis(c: BasisCounts, name: string, where: string): void {
  if (c === null || typeof c !== "object") throw new RangeError(`${where}: ${name} counts are missing`);
  assertTriple(c.detections, `${name}.detections`, where, 0, Number.MAX_VALUE);
  assertTriple(c.errors, `${name}.errors`, where, 0, Number.MAX_VALUE);
  for (let k = 0; k < 3; k++)
    if (c.errors[k] > c.detections[k])
      throw new RangeError(
        `${where}: ${name}.errors[${k}] = ${c.errors[k]} exceeds ${name}.detections[${k}] = ${c.detections[k]}`,
      );
}

interface Resolved {
  mu: PerIntensity;
  p: PerIntensity;
  epsSec: number;
  epsCor: number;
  lambdaEC: number;
  nX: number;
  nZ: number;
  qberX: number;
}

function resolve(input: FiniteKeyInput, where: string): Resolved {
  assertIntensities(input.intensities, where);
  assertTriple(input.probabilities, "probabilities", where, 0, 1);
  if (!input.probabilities.every((p) => p > 0))
    throw new RangeError(`${where}: every intensity needs a probability > 0, got [${input.probabilities}]`);
  const sum = input.probabilities[0] + input.probabilities[1] + input.probabilities[2];
  if (Math.abs(sum - 1) > 1e-9) throw new RangeError(`${where}: probabilities must sum to 1, got ${sum}`);
  checkBasis(input.x, "x", where);
  checkBasis(input.z, "z", where);
  const epsSec = input.epsSec ?? 1e-10;
  const epsCor = input.epsCor ?? 1e-15;
  if (!(epsSec > 0 && epsSec < 1)) throw new RangeError(`${where}: epsSec must be in (0, 1), got ${epsSec}`);
  if (!(epsCor > 0 && epsCor < 1)) throw new RangeError(`${where}: epsCor must be in (0, 1), got ${epsCor}`);
  const sumOf = (v: PerIntensity) => v[0] + v[1] + v[2];
  const nX = sumOf(input.x.detections);
  const nZ = sumOf(input.z.detections);
  const qberX = nX > 0 ? sumOf(input.x.errors) / nX : 0;
  let lambdaEC: number;
  if (input.lambdaEC !== undefined) {
    if (!(input.lambdaEC >= 0 && Number.isFinite(input.lambdaEC)))
      throw new RangeError(`${where}: lambdaEC must be a finite number ≥ 0 bits, got ${input.lambdaEC}`);
    lambdaEC = input.lambdaEC;
  } else {
    const f = input.ecEfficiency ?? 1.22;
    if (!(f >= 1 && Number.isFinite(f)))
      throw new RangeError(`${where}: ecEfficiency must be a finite number ≥ 1, got ${f}`);
    lambdaEC = f * nX * binaryEntropy(qberX);
  }
  if (input.pulses !== undefined && !(input.pulses > 0 && Number.isFinite(input.pulses)))
    throw new RangeError(`${where}: pulses must be a finite number > 0, got ${input.pulses}`);
  return { mu: input.intensities, p: input.probabilities, epsSec, epsCor, lambdaEC, nX, nZ, qberX };
}

/** τ_n = Σ_k p_k·e^(−μ_k)·μ_k^n/n!: the probability that Alice sends n photons (n = 0, 1). */
function photonNumberProbability(mu: PerIntensity, p: PerIntensity, n: 0 | 1): number {
  let t = 0;
  for (let k = 0; k < 3; k++) t += p[k] * Math.exp(-mu[k]) * (n === 0 ? 1 : mu[k]);
  return t;
}

/**
 * Counts rescaled to "per pulse of intensity k, times e^μ_k", with a Hoeffding half-width δ on the count:
 * lower = e^μ_k/p_k·max(0, n_k − δ), upper = e^μ_k/p_k·(n_k + δ) (Lim et al. 2014, below Eq. (2)).
 */
function bounded(counts: PerIntensity, r: Resolved, delta: number): { lo: number[]; hi: number[] } {
  const lo: number[] = [];
  const hi: number[] = [];
  for (let k = 0; k < 3; k++) {
    const s = Math.exp(r.mu[k]) / r.p[k];
    // The bounded quantity is an expected count, never negative: clamping keeps the bound valid.
    lo.push(s * Math.max(0, counts[k] - delta));
    hi.push(s * (counts[k] + delta));
  }
  return { lo, hi };
}

/** Vacuum and single-photon lower bounds for one basis (Lim et al. 2014, Eqs. (2) and (3)). */
function basisBounds(
  counts: PerIntensity,
  r: Resolved,
  delta: number,
): { s0: number; s1: number; tau0: number; tau1: number } {
  const tau0 = photonNumberProbability(r.mu, r.p, 0);
  const tau1 = photonNumberProbability(r.mu, r.p, 1);
  const n = bounded(counts, r, delta);
  const v = vacuumLower(r.mu, n.lo[2], n.hi[1]);
  const s1 = tau1 * singlePhotonLower(r.mu, n.hi[0], n.lo[1], n.hi[2], v);
  return { s0: tau0 * v, s1, tau0, tau1 };
}

function keyLength(input: FiniteKeyInput, finite: boolean): FiniteKeyResult {
  const where = finite ? "finite key" : "asymptotic key";
  const r = resolve(input, where);
  const ln = Math.log(21 / r.epsSec);
  const deltaX = finite ? Math.sqrt((r.nX / 2) * ln) : 0;
  const deltaZ = finite ? Math.sqrt((r.nZ / 2) * ln) : 0;
  const x = basisBounds(input.x.detections, r, deltaX);
  const z = basisBounds(input.z.detections, r, deltaZ);
  // Errors of single photons in Z: v_Z1 ≤ τ1·(m_{Z,2}^+ − m_{Z,3}^−)/(μ2 − μ3), Eq. (4).
  const mZ = input.z.errors[0] + input.z.errors[1] + input.z.errors[2];
  const deltaM = finite ? Math.sqrt((mZ / 2) * ln) : 0;
  const m = bounded(input.z.errors, r, deltaM);
  const vZ1 = Math.max(0, (z.tau1 * (m.hi[1] - m.lo[2])) / (r.mu[1] - r.mu[2]));
  let phi = 0.5;
  if (z.s1 > 0 && x.s1 > 0) {
    const b = Math.min(0.5, vZ1 / z.s1);
    phi = b + (finite ? phaseErrorDeviation(r.epsSec, b, z.s1, x.s1) : 0);
  }
  phi = Math.min(0.5, phi);
  const hPhi = phi >= 0.5 ? 1 : binaryEntropy(phi);
  const security = finite ? 6 * Math.log2(21 / r.epsSec) + Math.log2(2 / r.epsCor) : 0;
  const raw = x.s0 + x.s1 * (1 - hPhi) - r.lambdaEC - security;
  const length = Math.max(0, Math.floor(raw));
  return {
    key_length_bits: length,
    key_rate_per_pulse: input.pulses !== undefined ? length / input.pulses : null,
    n_x: r.nX,
    n_z: r.nZ,
    qber_x: r.qberX,
    s_x0: x.s0,
    s_x1: x.s1,
    s_z0: z.s0,
    s_z1: z.s1,
    v_z1: vZ1,
    phi_x: phi,
    lambda_ec: r.lambdaEC,
    security_cost_bits: security,
  };
}

/**
 * Finite-key secret key length of one block (Lim et al. 2014, Eq. (1)):
 * ℓ = ⌊s_X0 + s_X1·(1 − h(φ_X)) − λ_EC − 6·log2(21/ε_sec) − log2(2/ε_cor)⌋, clamped to ≥ 0, where
 * s_X0, s_X1 are lower bounds from Hoeffding-bounded counts n_{X,k}^± = e^μk/p_k·[n_{X,k} ± sqrt(n_X/2·ln(21/ε_sec))],
 * and φ_X ≤ v_Z1/s_Z1 + γ(ε_sec, v_Z1/s_Z1, s_Z1, s_X1).
 * Counts may be non-integers (expected counts of a model); real data are integers.
 * @throws RangeError naming the first invalid input.
 */
export function finiteKeyLength(input: FiniteKeyInput): FiniteKeyResult {
  return keyLength(input, true);
}

/**
 * The same estimate without statistical fluctuations: no Hoeffding widths, no γ, no ε costs. This is
 * the limit that ℓ/N of {@link finiteKeyLength} approaches as the block grows with fixed frequencies
 * (ℓ is still rounded down).
 */
export function asymptoticKeyLength(input: FiniteKeyInput): FiniteKeyResult {
  return keyLength(input, false);
}
