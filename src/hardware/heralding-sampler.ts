/**
 * Sampling helpers for heralded entanglement generation.
 *
 * - {@link sampleAttemptsToSuccess} and {@link sampleHeraldTimeNs}: what the simulator draws — the number
 *   of attempts up to the next success is geometric with the per-attempt success probability.
 * - {@link sampleHeraldingAttempt}: a Monte Carlo simulation of one attempt photon by photon (spin
 *   configuration, each arm's photon survival, the detector a photon reaches, each detector's dark counts,
 *   the heralding rule). It never uses the closed forms of heralding.ts for the click statistics, so the
 *   tests use it to validate them independently.
 *
 * @module
 */

import type { Rng } from "../sim/rng.js";
import type { HeraldingParameters, LinkAttemptModel } from "./heralding.js";

/** Returned by {@link sampleHeraldingAttempt} when no mode heralded a pair. */
export const HERALD_FAILURE = -1;

/**
 * Number of attempts up to and including the next success (1, 2, …): geometric with the model's
 * per-attempt success probability. `Infinity` when that probability is 0.
 */
export function sampleAttemptsToSuccess(model: LinkAttemptModel, rng: Rng): number {
  const p = model.successProbability;
  if (p === 0) return Number.POSITIVE_INFINITY;
  return rng.geometric(p);
}

/**
 * Time from the start of the first attempt until both ends learn of the next success, in ns: attempts are
 * back to back, so k attempts take (k − 1)·attemptDuration + heraldDelay. `Infinity` when the success
 * probability is 0.
 */
export function sampleHeraldTimeNs(model: LinkAttemptModel, rng: Rng): number {
  const k = sampleAttemptsToSuccess(model, rng);
  if (k === Number.POSITIVE_INFINITY) return k;
  return (k - 1) * model.attemptDurationNs + model.heraldDelayNs;
}

/**
 * Simulates one attempt (all its modes, stopping at the first success) photon by photon, under the
 * assumptions stated in heralding.ts:
 * - the spins are drawn in the computational basis (the which-path unravelling): ↑ with probability ½
 *   (double click) or α (single click) at each node, independently;
 * - a ↑ spin emits a photon, which survives its arm with probability η_A or η_B; photons that reach the
 *   station go to one detector, chosen uniformly (two photons bunch onto the same one);
 * - each detector dark-counts independently with p_d in each detection window;
 * - double click: exactly one click in round 1, the spins flip, exactly one click in round 2; single
 *   click: exactly one click.
 *
 * For a success it reports the Bell-diagonal component of the corrected pair: Φ+ when every click was a
 * photon and the spins were in a one-excitation configuration (a coherent herald; for single click with
 * η_A ≠ η_B the pure state √η_A|↑↓⟩ + √η_B|↓↑⟩ is projected on Φ+/Φ−); otherwise the spins are
 * classical, and an equal draw between the two Bell states of their parity after correction (Φ± for
 * anti-correlated spins, Ψ± for correlated ones). Finally the source's Pauli error (none with probability
 * F_s, else X, Y or Z uniformly) is applied.
 * @returns {@link HERALD_FAILURE} (−1), or the DEJMPS index 0–3 (Φ+, Ψ−, Ψ+, Φ−) of the heralded pair.
 */
export function sampleHeraldingAttempt(params: HeraldingParameters, rng: Rng): number {
  for (let m = 0; m < params.modes; m++) {
    const k =
      params.scheme === "double-click" ? sampleDoubleClick(params, rng) : sampleSingleClick(params, rng);
    if (k !== HERALD_FAILURE) return applySourceError(k, params.sourceFidelity, rng);
  }
  return HERALD_FAILURE;
}

// A detection window's outcome, as returned by `window`: no click or more than one click (fail), or exactly
// one click made by a photon (REAL) or by a dark count alone (DARK).
const FAIL = 0;
const REAL = 1;
const DARK = 2;

/** One detection window with photons emitted by A and/or B; returns FAIL, REAL or DARK. */
function detectionWindow(emitA: boolean, emitB: boolean, params: HeraldingParameters, rng: Rng): number {
  const arrivedA = emitA && rng.bernoulli(params.armTransmissionA);
  const arrivedB = emitB && rng.bernoulli(params.armTransmissionB);
  const photon = arrivedA || arrivedB;
  const detector = rng.bernoulli(0.5); // where the photon(s) go
  const pd = params.darkCountProbability;
  const dark0 = rng.bernoulli(pd);
  const dark1 = rng.bernoulli(pd);
  const click0 = (photon && !detector) || dark0;
  const click1 = (photon && detector) || dark1;
  if (click0 === click1) return FAIL;
  return photon ? REAL : DARK;
}

function sampleDoubleClick(params: HeraldingParameters, rng: Rng): number {
  const upA = rng.bernoulli(0.5);
  const upB = rng.bernoulli(0.5);
  const round1 = detectionWindow(upA, upB, params, rng);
  if (round1 === FAIL) return HERALD_FAILURE;
  const round2 = detectionWindow(!upA, !upB, params, rng); // after the π pulse
  if (round2 === FAIL) return HERALD_FAILURE;
  if (upA !== upB) {
    // Both branches of a one-excitation herald carry amplitude √(η_Aη_B): a perfect Bell pair.
    if (round1 === REAL && round2 === REAL) return 0;
    return rng.bernoulli(0.5) ? 0 : 3; // anti-correlated spins → correlated after correction: Φ±
  }
  return rng.bernoulli(0.5) ? 1 : 2; // correlated spins → anti-correlated after correction: Ψ±
}

function sampleSingleClick(params: HeraldingParameters, rng: Rng): number {
  const alpha = params.brightStatePopulation;
  const upA = rng.bernoulli(alpha);
  const upB = rng.bernoulli(alpha);
  const outcome = detectionWindow(upA, upB, params, rng);
  if (outcome === FAIL) return HERALD_FAILURE;
  if (upA !== upB) {
    if (outcome === REAL) {
      // Coherent herald √η_A|↑↓⟩ ± √η_B|↓↑⟩ (normalised), measured in the Bell basis.
      const ea = params.armTransmissionA;
      const eb = params.armTransmissionB;
      const pPlus = 0.5 + Math.sqrt(ea * eb) / (ea + eb);
      return rng.bernoulli(Math.min(1, pPlus)) ? 0 : 3;
    }
    return rng.bernoulli(0.5) ? 0 : 3;
  }
  return rng.bernoulli(0.5) ? 1 : 2;
}

/** A Pauli error on one qubit: none with probability F_s, else one of the three others uniformly (XOR). */
function applySourceError(k: number, sourceFidelity: number, rng: Rng): number {
  if (sourceFidelity === 1 || rng.bernoulli(sourceFidelity)) return k;
  return k ^ (1 + rng.int(3));
}
