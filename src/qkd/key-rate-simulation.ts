/**
 * Key rates measured on simulated links: decoy-state BB84 pulses are sampled exactly (bb84.ts), sifted,
 * and the observed gains and error rates per intensity go through the same vacuum + weak decoy
 * estimator a real system would use (decoy-estimation.ts). The result is directly comparable with the
 * analytic `vacuum-weak` model, which evaluates the same estimator on the expected gains.
 */
import type { Rng } from "../sim/rng.js";
import { Basis, type Bb84Params, simulateBb84 } from "./bb84.js";
import { decoyKeyRateAsymptotic, type PerIntensity } from "./decoy-estimation.js";
import { type KeyRateParameters, resolveKeyRateParameters } from "./key-rate.js";

/** Options of {@link simulateDecoyKeyRate}. */
export interface DecoyKeyRateSimulation {
  /** Fiber length in km, ≥ 0. */
  distanceKm: number;
  /** Signal intensity μ, photons per pulse, > ν. */
  mu: number;
  /** Physical and post-processing parameters (the vacuum + weak decoy model's); defaults GYS. */
  params?: Partial<KeyRateParameters>;
  /** Pulses to simulate (all intensities together), a positive integer. */
  pulses: number;
  /** Probabilities of [signal, weak decoy, vacuum]. Default [0.5, 0.25, 0.25]. */
  intensityProbabilities?: PerIntensity;
}

/** A simulated key rate with its statistical uncertainty. */
export interface SimulatedDecoyKeyRate {
  distance_km: number;
  mu: number;
  nu: number;
  /** R from the observed statistics, bits per pulse, ≥ 0. */
  key_rate_per_pulse: number;
  /** Standard error of R from the binomial errors of the six observed quantities (delta method). */
  stderr: number;
  pulses: number;
  detections: number;
  /** Observed gains Q_k and error rates E_k, [signal, weak decoy, vacuum]. */
  gains: PerIntensity;
  error_rates: PerIntensity;
}

/**
 * Simulates `pulses` decoy-state BB84 pulses over the link the key-rate parameters describe and returns
 * the key rate the vacuum + weak decoy estimator gives on what was observed.
 *
 * Mapping: η_Bob is the detector efficiency; the background Y0 is spread over two detectors, each with a
 * dark-count probability d such that 1 − (1 − d)² = Y0; the misalignment is e_det; bases are chosen
 * with probability ½ each (so q = ½); all sifted bits of both bases are used for estimation.
 */
export function simulateDecoyKeyRate(sim: DecoyKeyRateSimulation, rng: Rng): SimulatedDecoyKeyRate {
  const p = resolveKeyRateParameters(sim.params);
  if (!(Number.isSafeInteger(sim.pulses) && sim.pulses > 0))
    throw new RangeError(`simulated key rate: pulses must be a positive integer, got ${sim.pulses}`);
  if (!(sim.mu > p.nu))
    throw new RangeError(`simulated key rate: mu must exceed nu = ${p.nu}, got ${sim.mu}`);
  const intensities: PerIntensity = [sim.mu, p.nu, 0];
  const probabilities = sim.intensityProbabilities ?? [0.5, 0.25, 0.25];
  const bb84: Bb84Params = {
    intensities,
    intensityProbabilities: probabilities,
    sourceRateHz: 1e9,
    lengthKm: sim.distanceKm,
    attenuationDbPerKm: p.attenuationDbPerKm,
    misalignment: p.misalignment,
    detectorEfficiency: p.etaDetector,
    darkCountProbability: 1 - Math.sqrt(1 - p.y0),
  };
  const batch = simulateBb84(bb84, { pulses: sim.pulses }, rng);
  const sent = [0, 0, 0];
  const sifted = [0, 0, 0];
  const errors = [0, 0, 0];
  for (let k = 0; k < 3; k++) sent[k] = batch.pulsesSent[k][Basis.Z] + batch.pulsesSent[k][Basis.X];
  for (let i = 0; i < batch.count; i++) {
    if (batch.aliceBasis[i] !== batch.bobBasis[i]) continue;
    const k = batch.intensity[i];
    sifted[k]++;
    errors[k] += batch.aliceBit[i] ^ batch.bobBit[i];
  }
  const gains = [0, 1, 2].map((k) => batch.detections[k] / sent[k]) as unknown as PerIntensity;
  const errorRates = [0, 1, 2].map((k) =>
    sifted[k] > 0 ? errors[k] / sifted[k] : 0.5,
  ) as unknown as PerIntensity;
  const rate = (g: PerIntensity, e: PerIntensity): number =>
    decoyKeyRateAsymptotic({ intensities, gains: g, errorRates: e }, { ecEfficiency: p.ecEfficiency, q: p.q })
      .key_rate_per_pulse;
  const r = rate(gains, errorRates);

  // Delta method: Var R ≈ Σ (∂R/∂x)²·Var x over the six observed quantities, each binomial.
  let variance = 0;
  for (let k = 0; k < 3; k++) {
    for (const which of ["gain", "error"] as const) {
      const x = which === "gain" ? gains[k] : errorRates[k];
      const n = which === "gain" ? sent[k] : sifted[k];
      if (n === 0) continue;
      const varX = Math.max(x * (1 - x), 1 / n) / n;
      const h = Math.max(Math.sqrt(varX) * 1e-3, 1e-15);
      const shifted = (delta: number): number => {
        const g = [...gains] as [number, number, number];
        const e = [...errorRates] as [number, number, number];
        if (which === "gain") g[k] = Math.min(1, Math.max(0, x + delta));
        else e[k] = Math.min(1, Math.max(0, x + delta));
        return rate(g, e);
      };
      const d = (shifted(h) - shifted(-h)) / (2 * h);
      variance += d * d * varX;
    }
  }
  return {
    distance_km: sim.distanceKm,
    mu: sim.mu,
    nu: p.nu,
    key_rate_per_pulse: r,
    stderr: Math.sqrt(variance),
    pulses: sim.pulses,
    detections: batch.count,
    gains,
    error_rates: errorRates,
  };
}
