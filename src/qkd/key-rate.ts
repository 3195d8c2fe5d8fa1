/**
 * Analytic secret-key rates of prepare-and-measure BB84 with a phase-randomized weak laser, per pulse
 * sent, against fiber length; and the repeaterless bound that no such point-to-point scheme can beat.
 *
 * Channel and detector model (Lo, Ma, Chen, PRL 94, 230504 (2005); Ma, Qi, Zhao, Lo, PRA 72, 012326
 * (2005)); e0 = 1/2 is the error rate of a dark count:
 * - overall transmittance η = η_Bob·10^(−αL/10);
 * - gain of intensity μ: Q_μ = Y0 + 1 − e^(−ημ); error: E_μ·Q_μ = e0·Y0 + e_det·(1 − e^(−ημ));
 * - single-photon yield Y1 = Y0 + η − Y0·η, error e1 = (e0·Y0 + e_det·η)/Y1, gain Q1 = Y1·μ·e^(−μ);
 * - key rate (GLLP form) R = q·{−Q_μ·f·h(E_μ) + Q1·[1 − h(e1)]}, negative values clamped to 0.
 *
 * The models differ only in how much they may claim about Q1 and e1:
 * - `infinite-decoy`: the true Y1 and e1 (the limit of infinitely many decoy intensities);
 * - `vacuum-weak`: the lower bound Y1^L and upper bound e1^U from one vacuum and one weak decoy ν;
 * - `no-decoy`: GLLP without decoys, every multi-photon pulse assumed to be detected (worst case);
 * - `plob`: −log2(1 − η_channel), the PLOB bound (Pirandola, Laurenza, Ottaviani, Banchi, Nat. Commun.
 *   8, 15043 (2017)) on any repeaterless protocol over a pure-loss channel, in bits per channel use.
 *
 * Defaults are the GYS experiment parameters used by Lo–Ma–Chen (physics.md, "Decoy-state BB84"), plus a
 * weak decoy ν = 0.1 for the vacuum+weak model.
 *
 * @module
 */
import { fiberTransmission } from "../hardware/fiber.js";
import { binaryEntropy } from "./bits.js";

/** The analytic key-rate models. */
export type KeyRateModel = "infinite-decoy" | "vacuum-weak" | "no-decoy" | "plob";

/** Every model, in the order tables and plots list them. */
export const KEY_RATE_MODELS: readonly KeyRateModel[] = ["infinite-decoy", "vacuum-weak", "no-decoy", "plob"];

/** A signal intensity: a mean photon number per pulse (> 0), or `"optimal"` to maximize R per distance. */
export type Intensity = number | "optimal";

/** Physical and post-processing parameters of the key-rate models. */
export interface KeyRateParameters {
  /** Fiber attenuation α in dB/km, ≥ 0. Default 0.21 (GYS). */
  attenuationDbPerKm: number;
  /** Bob's overall detection efficiency η_Bob (optics and detector), in (0, 1]. Default 0.045 (GYS). */
  etaDetector: number;
  /** Background (dark count) probability per pulse Y0, in [0, 1). Default 1.7e-6 (GYS). */
  y0: number;
  /** Probability e_det that a detected photon hits the wrong detector, in [0, 0.5]. Default 0.033 (GYS). */
  misalignment: number;
  /** Error-correction inefficiency f(e) ≥ 1 (1 is the Shannon limit). Default 1.22 (GYS). */
  ecEfficiency: number;
  /** Sifting factor q in (0, 1]: the fraction of pulses whose bases agree. Default 1/2 (standard BB84). */
  q: number;
  /** Weak decoy intensity ν of the vacuum+weak model, in (0, 1) and below μ. Default 0.1. */
  nu: number;
}

/**
 * The GYS parameters used by Lo–Ma–Chen 2005 (α = 0.21 dB/km, η_Bob = 4.5 %, Y0 = 1.7e-6,
 * e_det = 3.3 %, f = 1.22, q = 1/2), plus a weak decoy ν = 0.1 for the vacuum+weak model.
 */
export const GYS_PARAMETERS: Readonly<KeyRateParameters> = Object.freeze({
  attenuationDbPerKm: 0.21,
  etaDetector: 0.045,
  y0: 1.7e-6,
  misalignment: 0.033,
  ecEfficiency: 1.22,
  q: 0.5,
  nu: 0.1,
});

/** Error rate of a background (dark) count: its bit is random. */
export const DARK_COUNT_ERROR_RATE = 0.5;

/** Bounds of the intensity search for `"optimal"`: mean photon numbers per pulse. */
export const OPTIMAL_INTENSITY_RANGE: Readonly<{ min: number; max: number }> = Object.freeze({
  min: 1e-7,
  max: 2,
});

/** One point of a key-rate curve. Rates are bits per pulse sent (PLOB: per channel use). */
export interface KeyRatePoint {
  /** The model that produced this point. */
  model: KeyRateModel;
  /** Fiber length in km. */
  distance_km: number;
  /** Secret key rate in bits per pulse, clamped to ≥ 0. */
  key_rate_per_pulse: number;
  /** Quantum bit error rate E_μ of the signal; null for PLOB and, with `"optimal"`, past the cutoff. */
  qber: number | null;
  /**
   * Signal intensity μ used (the maximizer for `"optimal"`); null for PLOB, and for `"optimal"` past the
   * cutoff, where no intensity gives a key (the other μ-dependent fields are null there too).
   */
  mu: number | null;
  /** Weak decoy intensity ν (vacuum-weak only), else null. */
  nu: number | null;
  /** Transmittance η: channel and detector for the BB84 models, channel only for PLOB. */
  transmittance: number;
  /** Signal gain Q_μ, detections per pulse; null for PLOB. */
  gain: number | null;
  /** Single-photon yield Y1 claimed by the model (a lower bound except for infinite-decoy); null for PLOB. */
  single_photon_yield: number | null;
  /** Single-photon gain Q1 = Y1·μ·e^(−μ) claimed by the model; null for PLOB. */
  single_photon_gain: number | null;
  /** Single-photon error rate e1 claimed by the model (an upper bound, capped at 1/2); null for PLOB. */
  single_photon_error: number | null;
}

/** A key-rate curve and the distance where its rate reaches zero. */
export interface KeyRateCurve {
  model: KeyRateModel;
  /** The intensity setting the curve was computed with. */
  mu: Intensity;
  parameters: Readonly<KeyRateParameters>;
  points: KeyRatePoint[];
  /** Distance in km beyond which the rate is 0; null when it never reaches 0 (PLOB). */
  cutoff_km: number | null;
}

/**
 * Fills unspecified parameters with {@link GYS_PARAMETERS} and checks every value.
 * @throws RangeError naming the first parameter out of range.
 */
export function resolveKeyRateParameters(params: Partial<KeyRateParameters> = {}): KeyRateParameters {
  const p: KeyRateParameters = { ...GYS_PARAMETERS };
  // Only the known keys: a caller's object may carry other fields (e.g. parsed CLI options).
  for (const k of Object.keys(GYS_PARAMETERS) as (keyof KeyRateParameters)[])
    if (params[k] !== undefined) p[k] = params[k];
  const check = (ok: boolean, name: keyof KeyRateParameters, range: string) => {
    if (!ok || !Number.isFinite(p[name]))
      throw new RangeError(`key rate: ${name} must be ${range}, got ${p[name]}`);
  };
  check(p.attenuationDbPerKm >= 0, "attenuationDbPerKm", "a finite number ≥ 0 dB/km");
  check(p.etaDetector > 0 && p.etaDetector <= 1, "etaDetector", "a probability in (0, 1]");
  check(p.y0 >= 0 && p.y0 < 1, "y0", "a probability in [0, 1)");
  check(p.misalignment >= 0 && p.misalignment <= 0.5, "misalignment", "a probability in [0, 0.5]");
  check(p.ecEfficiency >= 1, "ecEfficiency", "a finite number ≥ 1");
  check(p.q > 0 && p.q <= 1, "q", "a fraction in (0, 1]");
  check(p.nu > 0 && p.nu < 1, "nu", "an intensity in (0, 1)");
  return p;
}

/** Overall transmittance η = η_Bob·10^(−αL/10) of fiber and detection, for a length in km. */
export function overallTransmittance(distanceKm: number, params: Partial<KeyRateParameters> = {}): number {
  const p = resolveKeyRateParameters(params);
  return p.etaDetector * fiberTransmission(distanceKm, p.attenuationDbPerKm);
}

/** Gain Q_μ and error rate E_μ of one intensity: what Bob's detectors are expected to record. */
export interface IntensityStatistics {
  /** Q_μ = Y0 + 1 − e^(−ημ), detections per pulse. */
  gain: number;
  /** E_μ = [e0·Y0 + e_det·(1 − e^(−ημ))]/Q_μ. */
  errorRate: number;
}

/**
 * Expected gain and error rate of intensity `mu` through transmittance `eta` (Lo–Ma–Chen model; the
 * Y0 + 1 − e^(−ημ) form neglects the Y0·(1 − e^(−ημ)) overlap, as the published values do).
 * @param mu - mean photon number per pulse, ≥ 0 (0 is the vacuum: Q = Y0, E = 1/2).
 * @param eta - overall transmittance in [0, 1].
 */
export function intensityStatistics(
  mu: number,
  eta: number,
  params: Pick<KeyRateParameters, "y0" | "misalignment">,
): IntensityStatistics {
  if (!(mu >= 0 && Number.isFinite(mu))) throw new RangeError(`key rate: intensity must be ≥ 0, got ${mu}`);
  if (!(eta >= 0 && eta <= 1)) throw new RangeError(`key rate: transmittance must be in [0, 1], got ${eta}`);
  const clicks = -Math.expm1(-eta * mu);
  const gain = params.y0 + clicks;
  const errors = DARK_COUNT_ERROR_RATE * params.y0 + params.misalignment * clicks;
  return { gain, errorRate: gain > 0 ? errors / gain : DARK_COUNT_ERROR_RATE };
}

/** h(e) for an error rate capped at 1/2: an error rate above 1/2 leaves no key, never a negative cost. */
function entropyCapped(e: number): number {
  return e >= 0.5 ? 1 : binaryEntropy(Math.max(0, e));
}

/** GLLP rate before clamping, R = q·{−Q·f·h(E) + Q1·[1 − h(e1)]}. */
function gllpRate(p: KeyRateParameters, gain: number, qber: number, q1: number, e1: number): number {
  return p.q * (-gain * p.ecEfficiency * binaryEntropy(qber) + Math.max(0, q1) * (1 - entropyCapped(e1)));
}

interface RawPoint {
  rate: number;
  gain: number;
  qber: number;
  y1: number;
  q1: number;
  e1: number;
}

function rawInfiniteDecoy(mu: number, eta: number, p: KeyRateParameters): RawPoint {
  const { gain, errorRate } = intensityStatistics(mu, eta, p);
  const y1 = p.y0 + eta - p.y0 * eta;
  const e1 = (DARK_COUNT_ERROR_RATE * p.y0 + p.misalignment * eta) / y1;
  const q1 = y1 * mu * Math.exp(-mu);
  return { rate: gllpRate(p, gain, errorRate, q1, e1), gain, qber: errorRate, y1, q1, e1: Math.min(e1, 0.5) };
}

function rawVacuumWeak(mu: number, eta: number, p: KeyRateParameters): RawPoint {
  const nu = p.nu;
  if (!(nu < mu))
    throw new RangeError(`key rate: the weak decoy nu = ${nu} must be below the signal mu = ${mu}`);
  const s = intensityStatistics(mu, eta, p);
  const w = intensityStatistics(nu, eta, p);
  // Ma, Qi, Zhao, Lo 2005, vacuum + weak decoy; the vacuum decoy measures Y0 itself.
  const y1 =
    (mu / (mu * nu - nu * nu)) *
    (w.gain * Math.exp(nu) -
      s.gain * Math.exp(mu) * ((nu * nu) / (mu * mu)) -
      ((mu * mu - nu * nu) / (mu * mu)) * p.y0);
  const y1L = Math.max(0, y1);
  const e1 =
    y1L > 0 ? (w.errorRate * w.gain * Math.exp(nu) - DARK_COUNT_ERROR_RATE * p.y0) / (y1L * nu) : 0.5;
  const q1 = y1L * mu * Math.exp(-mu);
  return {
    rate: gllpRate(p, s.gain, s.errorRate, q1, e1),
    gain: s.gain,
    qber: s.errorRate,
    y1: y1L,
    q1,
    e1: Math.min(Math.max(e1, 0), 0.5),
  };
}

function rawNoDecoy(mu: number, eta: number, p: KeyRateParameters): RawPoint {
  const { gain, errorRate } = intensityStatistics(mu, eta, p);
  // Without decoys nothing distinguishes single from multi-photon detections: assume every
  // multi-photon pulse was detected, and every error happened on a single photon.
  const multiPhoton = -Math.expm1(-mu) - mu * Math.exp(-mu);
  const q1 = Math.max(0, gain - multiPhoton);
  const e1 = q1 > 0 ? (errorRate * gain) / q1 : 0.5;
  const y1 = q1 / (mu * Math.exp(-mu));
  return { rate: gllpRate(p, gain, errorRate, q1, e1), gain, qber: errorRate, y1, q1, e1: Math.min(e1, 0.5) };
}

const RAW: Record<
  Exclude<KeyRateModel, "plob">,
  (mu: number, eta: number, p: KeyRateParameters) => RawPoint
> = {
  "infinite-decoy": rawInfiniteDecoy,
  "vacuum-weak": rawVacuumWeak,
  "no-decoy": rawNoDecoy,
};

/** The result of {@link maximizeScalar}. */
export interface ScalarMaximum {
  /** The maximizer. */
  x: number;
  /** The function's value there. */
  value: number;
}

/**
 * Maximizes `f` on [lo, hi] (0 < lo < hi): a log-spaced grid scan finds the best cell, so a function
 * with flat or negative stretches is not mistaken for its local shape, then golden-section search
 * refines inside the neighbouring cells. NaN values count as −∞.
 * @param gridPoints - scan resolution, ≥ 3 (default 161: about 21 points per decade over 7.3 decades).
 * @param relTolerance - relative width at which the refinement stops (default 1e-10).
 */
export function maximizeScalar(
  f: (x: number) => number,
  lo: number,
  hi: number,
  gridPoints = 161,
  relTolerance = 1e-10,
): ScalarMaximum {
  if (!(lo > 0 && hi > lo && Number.isFinite(hi)))
    throw new RangeError(`maximizeScalar: need 0 < lo < hi, got [${lo}, ${hi}]`);
  if (!(gridPoints >= 3)) throw new RangeError(`maximizeScalar: gridPoints must be ≥ 3, got ${gridPoints}`);
  const g = (u: number) => {
    const v = f(Math.exp(u));
    return Number.isNaN(v) ? Number.NEGATIVE_INFINITY : v;
  };
  const a = Math.log(lo);
  const b = Math.log(hi);
  const step = (b - a) / (gridPoints - 1);
  let bestI = 0;
  let bestV = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < gridPoints; i++) {
    const v = g(a + i * step);
    if (v > bestV) {
      bestV = v;
      bestI = i;
    }
  }
  let l = a + Math.max(0, bestI - 1) * step;
  let r = a + Math.min(gridPoints - 1, bestI + 1) * step;
  const invPhi = (Math.sqrt(5) - 1) / 2;
  let x1 = r - invPhi * (r - l);
  let x2 = l + invPhi * (r - l);
  let f1 = g(x1);
  let f2 = g(x2);
  // Widths are in log x, so the tolerance is relative to x.
  for (let it = 0; it < 200 && r - l > relTolerance; it++) {
    if (f1 >= f2) {
      r = x2;
      x2 = x1;
      f2 = f1;
      x1 = r - invPhi * (r - l);
      f1 = g(x1);
    } else {
      l = x1;
      x1 = x2;
      f1 = f2;
      x2 = l + invPhi * (r - l);
      f2 = g(x2);
    }
  }
  const u = f1 >= f2 ? x1 : x2;
  const v = Math.max(f1, f2);
  return v >= bestV ? { x: Math.exp(u), value: v } : { x: Math.exp(a + bestI * step), value: bestV };
}

function checkDistance(distanceKm: number): void {
  if (!(distanceKm >= 0 && Number.isFinite(distanceKm)))
    throw new RangeError(`key rate: distance must be a finite number ≥ 0 km, got ${distanceKm}`);
}

function checkIntensity(mu: Intensity): void {
  if (mu === "optimal") return;
  if (!(typeof mu === "number" && mu > 0 && Number.isFinite(mu)))
    throw new RangeError(`key rate: mu must be a finite number > 0 or "optimal", got ${String(mu)}`);
}

/** The intensity range searched for `"optimal"`; the vacuum+weak bound needs μ above ν. */
function searchRange(model: Exclude<KeyRateModel, "plob">, p: KeyRateParameters): [number, number] {
  const lo = model === "vacuum-weak" ? p.nu * (1 + 1e-9) : OPTIMAL_INTENSITY_RANGE.min;
  return [lo, OPTIMAL_INTENSITY_RANGE.max];
}

/** Raw (unclamped) best point of a BB84 model at transmittance η. */
function bestRaw(
  model: Exclude<KeyRateModel, "plob">,
  mu: Intensity,
  eta: number,
  p: KeyRateParameters,
): { mu: number; raw: RawPoint } {
  const f = RAW[model];
  if (mu !== "optimal") return { mu, raw: f(mu, eta, p) };
  const [lo, hi] = searchRange(model, p);
  const best = maximizeScalar((m) => f(m, eta, p).rate, lo, hi);
  return { mu: best.x, raw: f(best.x, eta, p) };
}

/** PLOB repeaterless bound −log2(1 − η) in bits per channel use, for a channel transmissivity η ∈ [0, 1]. */
export function plobBound(transmissivity: number): number {
  if (!(transmissivity >= 0 && transmissivity <= 1))
    throw new RangeError(`PLOB bound: transmissivity must be in [0, 1], got ${transmissivity}`);
  return -Math.log1p(-transmissivity) / Math.LN2;
}

/**
 * Secret key rate of one model at one distance.
 * @param model - which model (see the module comment).
 * @param distanceKm - fiber length in km, ≥ 0.
 * @param mu - signal intensity, or `"optimal"` (default) to maximize R over μ ∈ [1e-7, 2] (vacuum-weak:
 *   μ ∈ (ν, 2]). Ignored by `plob`.
 * @param params - parameters; unspecified ones default to {@link GYS_PARAMETERS}.
 * @throws RangeError for a negative distance, μ ≤ 0, parameters out of range, or ν ≥ μ (vacuum-weak).
 */
export function keyRate(
  model: KeyRateModel,
  distanceKm: number,
  mu: Intensity = "optimal",
  params: Partial<KeyRateParameters> = {},
): KeyRatePoint {
  checkModel(model);
  checkDistance(distanceKm);
  checkIntensity(mu);
  const p = resolveKeyRateParameters(params);
  if (model === "plob") {
    const eta = fiberTransmission(distanceKm, p.attenuationDbPerKm);
    return {
      model,
      distance_km: distanceKm,
      key_rate_per_pulse: plobBound(eta),
      qber: null,
      mu: null,
      nu: null,
      transmittance: eta,
      gain: null,
      single_photon_yield: null,
      single_photon_gain: null,
      single_photon_error: null,
    };
  }
  const eta = p.etaDetector * fiberTransmission(distanceKm, p.attenuationDbPerKm);
  const best = bestRaw(model, mu, eta, p);
  const r = best.raw;
  if (mu === "optimal" && !(r.rate > 0))
    // Past the cutoff no intensity gives a key, and the maximizer of a negative rate means nothing.
    return {
      model,
      distance_km: distanceKm,
      key_rate_per_pulse: 0,
      qber: null,
      mu: null,
      nu: model === "vacuum-weak" ? p.nu : null,
      transmittance: eta,
      gain: null,
      single_photon_yield: null,
      single_photon_gain: null,
      single_photon_error: null,
    };
  return {
    model,
    distance_km: distanceKm,
    key_rate_per_pulse: Math.max(0, r.rate),
    qber: r.qber,
    mu: best.mu,
    nu: model === "vacuum-weak" ? p.nu : null,
    transmittance: eta,
    gain: r.gain,
    single_photon_yield: r.y1,
    single_photon_gain: r.q1,
    single_photon_error: r.e1,
  };
}

/** Lo–Ma–Chen rate with infinitely many decoys (true Y1 and e1). See {@link keyRate}. */
export function keyRateInfiniteDecoy(
  distanceKm: number,
  mu: Intensity = "optimal",
  params: Partial<KeyRateParameters> = {},
): KeyRatePoint {
  return keyRate("infinite-decoy", distanceKm, mu, params);
}

/** Ma–Qi–Zhao–Lo rate with a vacuum and one weak decoy ν (`params.nu`, default 0.1). See {@link keyRate}. */
export function keyRateVacuumWeak(
  distanceKm: number,
  mu: Intensity = "optimal",
  params: Partial<KeyRateParameters> = {},
): KeyRatePoint {
  return keyRate("vacuum-weak", distanceKm, mu, params);
}

/** GLLP rate without decoys (multi-photon pulses assumed all detected). See {@link keyRate}. */
export function keyRateNoDecoy(
  distanceKm: number,
  mu: Intensity = "optimal",
  params: Partial<KeyRateParameters> = {},
): KeyRatePoint {
  return keyRate("no-decoy", distanceKm, mu, params);
}

/** PLOB bound over the fiber alone (detector losses are inside the trusted lab), bits per channel use. */
export function keyRatePlob(distanceKm: number, params: Partial<KeyRateParameters> = {}): KeyRatePoint {
  return keyRate("plob", distanceKm, "optimal", params);
}

/**
 * The distance in km where a model's rate falls to zero, to 1e-6 km, by bisection on the sign of the
 * unclamped rate (which decreases with distance). 0 when there is no key even at 0 km; null when the rate
 * stays positive up to 10^5 km (PLOB always does).
 */
export function cutoffDistanceKm(
  model: KeyRateModel,
  mu: Intensity = "optimal",
  params: Partial<KeyRateParameters> = {},
): number | null {
  checkModel(model);
  checkIntensity(mu);
  const p = resolveKeyRateParameters(params);
  if (model === "plob") return null;
  const positive = (L: number) =>
    bestRaw(model, mu, p.etaDetector * fiberTransmission(L, p.attenuationDbPerKm), p).raw.rate > 0;
  if (!positive(0)) return 0;
  let lo = 0;
  let hi = 64;
  while (positive(hi)) {
    lo = hi;
    hi *= 2;
    if (hi > 1e5) return null;
  }
  while (hi - lo > 1e-6) {
    const mid = (lo + hi) / 2;
    if (positive(mid)) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/**
 * A model's curve over several distances, with its cutoff distance.
 * @param distancesKm - fiber lengths in km, each ≥ 0, in the order wanted.
 */
export function keyRateCurve(
  model: KeyRateModel,
  distancesKm: readonly number[],
  mu: Intensity = "optimal",
  params: Partial<KeyRateParameters> = {},
): KeyRateCurve {
  const p = resolveKeyRateParameters(params);
  return {
    model,
    mu,
    parameters: Object.freeze({ ...p }),
    points: distancesKm.map((L) => keyRate(model, L, mu, p)),
    cutoff_km: cutoffDistanceKm(model, mu, p),
  };
}

function checkModel(model: KeyRateModel): void {
  if (!KEY_RATE_MODELS.includes(model))
    throw new RangeError(
      `key rate: unknown model '${String(model)}'; expected one of ${KEY_RATE_MODELS.join(", ")}`,
    );
}
