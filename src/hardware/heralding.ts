/**
 * Heralded entanglement generation over a link with a midpoint station: the per-attempt model.
 *
 * Each end node holds a memory qubit (a "spin") entangled with the presence of a photon: the photon is
 * emitted iff the spin is ↑. The photons travel L/2 each to a 50:50 beam splitter at the midpoint whose
 * outputs go to two threshold detectors; the station tells both ends which detectors clicked. The arm
 * transmission of node i is η_i = efficiency_i · η_det · 10^(−α·(L/2)/10) (memory emission × collection,
 * detector efficiency, fiber loss over L/2).
 *
 * ## Assumptions (both schemes)
 * - Threshold detectors: a detector clicks for one photon or more. Both detectors have the same efficiency,
 *   so detector loss commutes with the beam splitter and is folded into η_i.
 * - Photons from the two nodes are indistinguishable, so two photons arriving together bunch (Hong–Ou–
 *   Mandel) and give a single click. Imperfect indistinguishability, optical phase noise and the like are
 *   lumped into `sourceFidelity` (below).
 * - Dark counts are independent: each detector fires spuriously with p_d = 1 − exp(−rate · window) per
 *   detection window. A double-click attempt has two detection windows (one per round), a single-click
 *   attempt one.
 * - The station accepts every click pattern; the pattern tells which Bell state was heralded and the ends
 *   correct it with a local Pauli (Pauli-frame update), so the target is always Φ+. States are written in
 *   the DEJMPS order [Φ+, Ψ−, Ψ+, Φ−] of src/quantum/bell-diagonal.ts.
 *
 * Within these assumptions the formulas below are exact (not a first-order expansion in p_d); they are
 * checked independently by the Monte Carlo sampler in heralding-sampler.ts.
 *
 * ## Double click (Barrett & Kok, PRA 71, 060310 (2005))
 * Each node emits (|↑⟩|1⟩ + |↓⟩|0⟩)/√2; after the first detection round both spins are flipped and a
 * second photon is emitted. The herald is exactly one click in each round. Unravelling in the spin basis
 * (each configuration with probability 1/4), and writing s(x) = (1 − p_d)·[x + 2p_d(1 − x)] for the
 * probability that a round in which a photon reaches the station with probability x gives exactly one click
 * (the photon arrives and the other detector stays dark, or it is lost and exactly one detector fires):
 * - ↑↓ and ↓↑ send one photon per round, from alternate nodes: both rounds click with s(η_A)·s(η_B).
 * - ↑↑ and ↓↓ send two photons in one round and none in the other: s(η_A + η_B − η_Aη_B)·s(0).
 *
 * So P = ½·s(η_A)s(η_B) + ½·s(η_∪)s(0), with η_∪ = η_A + η_B − η_Aη_B; without dark counts P = η_Aη_B/2
 * (physics.md: η²/2). Heralded state:
 * - Both rounds real detections in ↑↓/↓↑ (weight ½η_Aη_B(1 − p_d)²): the two branches both carry amplitude
 *   √(η_Aη_B), even for η_A ≠ η_B, so the pair is exactly the Bell state: Φ+.
 * - A dark click standing in for a lost photon in ↑↓/↓↑: the lost photon carries which-path information,
 *   leaving a classical mixture of anti-correlated spins, correlated after the frame correction
 *   (|00⟩⟨00| and |11⟩⟨11|), whose Bell-diagonal part is ½Φ+ + ½Φ−.
 * - ↑↑/↓↓ heralded by a dark count in the empty round: correlated spins, anti-correlated after correction:
 *   ½Ψ+ + ½Ψ−.
 *
 * ## Single click (Cabrillo et al., PRA 59, 1025 (1999); Humphreys et al., Nature 558, 268 (2018))
 * Each node prepares √(1−α)|↓⟩ + √α|↑⟩ (bright-state population α) and emits once; the herald is exactly
 * one click. Configurations: ↓↓ with (1−α)² heralds only by a dark count, s(0); ↑↓ and ↓↑ with α(1−α)
 * each, s(η_A) and s(η_B); ↑↑ with α², s(η_∪). So
 * P = (1−α)²·s(0) + α(1−α)·[s(η_A) + s(η_B)] + α²·s(η_∪), which for p_d = 0 and η_A = η_B = η is
 * physics.md's P = 2α(1−α)η + α²(2η − η²). Heralded state:
 * - Real one-photon clicks of ↑↓ and ↓↑ are indistinguishable: the spins are left in
 *   √a|↑↓⟩ ± e^{iφ}√b|↓↑⟩ with a = α(1−α)η_A(1−p_d), b = α(1−α)η_B(1−p_d). The sign (which detector) and the
 *   optical phase φ (assumed stabilised and known) are corrected. Its Bell-diagonal part puts (√a+√b)²/2 on
 *   Φ+ and (√a−√b)²/2 on Φ−: for η_A = η_B all on Φ+. This is the generalisation to unequal arms with one
 *   common α (experiments balance α_Aη_A = α_Bη_B instead; a per-node α is not in the topology model).
 * - A dark click standing in for a lost photon of ↑↓/↓↑ (weight D = α(1−α)(2 − η_A − η_B)·2p_d(1−p_d)):
 *   ½Φ+ + ½Φ−, as for double click.
 * - The double excitation ↑↑ (no photon-number resolution tells it apart) and dark-count heralds of ↓↓:
 *   classically correlated |11⟩⟨11| or |00⟩⟨00|. In the raw frame, where the heralded state is Ψ-like,
 *   their Bell-diagonal part is ½Φ+ + ½Φ− (equal weights on the two Bell states of the wrong parity);
 *   after the X correction that maps the target Ψ to Φ+ that is ½Ψ+ + ½Ψ−, contributing nothing to F.
 *
 * Hence without dark counts F = α(1−α)(√η_A + √η_B)²/2 / P, which for η_A = η_B is physics.md's
 * F = (1−α)/(1 − αη/2).
 *
 * ## Source fidelity
 * `sourceFidelity` F_s multiplies a Werner factor into the heralded state: ρ → w_s·ρ + (1 − w_s)·I/4 with
 * w_s = (4F_s − 1)/3, i.e. a random Pauli error on one qubit, none with probability F_s and each of X, Y, Z
 * with (1 − F_s)/3. It does not change the success probability.
 *
 * ## Multiplexing and timing
 * With M modes per attempt (frequency or time bins), the attempt succeeds if any mode does:
 * P_attempt = 1 − (1 − P)^M; the state of a success is the single-mode state.
 *
 * Attempts are not pipelined (physics.md's convention): a node emits, the photon travels L/2 to the station,
 * the herald travels L/2 back, and only then does the node re-initialise its memory and try again. So the
 * herald delay is the light time over L, n_g·L/c (10 km → 48.97 µs), and the attempt period is
 * max(n_g·L/c, 1/sourceRate).
 *
 * @module
 */

import type { AbstractLinkSpec, HeraldingScheme, PhysicalLinkSpec } from "../network/topology.js";
import type { BellDiagonal } from "../quantum/bell-diagonal.js";
import { fiberDelayNs, fiberTransmission } from "./fiber.js";

/**
 * The per-attempt outcome of an entanglement-generation link: what the simulator needs to schedule
 * attempts and to create the heralded pair.
 */
export interface LinkAttemptModel {
  /** Probability that one attempt heralds a pair (after multiplexing: any of the modes succeeds). */
  readonly successProbability: number;
  /** Success probability of a single mode, before multiplexing. */
  readonly modeSuccessProbability: number;
  /** Time from the start of one attempt to the start of the next, in ns (attempts are not pipelined). */
  readonly attemptDurationNs: number;
  /** Time from the start of an attempt until both ends know its outcome, in ns (≤ attemptDurationNs). */
  readonly heraldDelayNs: number;
  /**
   * The heralded pair in DEJMPS order [Φ+, Ψ−, Ψ+, Φ−], after the ends' Pauli-frame correction. Shared:
   * copy it before changing it. Filled with NaN when the success probability is 0.
   */
  readonly state: BellDiagonal;
  /** Modes tried per attempt (1 for an abstract link). */
  readonly modes: number;
}

/** The resolved physical parameters of one heralding attempt (per mode). */
export interface HeraldingParameters {
  readonly scheme: HeraldingScheme;
  /** η_A: probability that node A's photon reaches the station and is detected (detector efficiency included). */
  readonly armTransmissionA: number;
  /** η_B, as {@link HeraldingParameters.armTransmissionA} for node B. */
  readonly armTransmissionB: number;
  /** p_d: probability that a detector dark-counts in one detection window. */
  readonly darkCountProbability: number;
  /** α: bright-state population (single click only). */
  readonly brightStatePopulation: number;
  /** F_s: Werner fidelity of the source, multiplied into the heralded state. */
  readonly sourceFidelity: number;
  /** M: modes per attempt, an integer ≥ 1. */
  readonly modes: number;
}

/**
 * Probability that a detector with the given dark-count rate fires at least once in a detection window:
 * 1 − exp(−rate · window).
 * @param rateHz - dark-count rate in Hz, finite and ≥ 0.
 * @param windowNs - detection window in ns, finite and ≥ 0.
 */
export function darkCountProbability(rateHz: number, windowNs: number): number {
  if (!(rateHz >= 0 && Number.isFinite(rateHz)))
    throw new RangeError(`dark-count rate must be a finite number ≥ 0 Hz, got ${rateHz}`);
  if (!(windowNs >= 0 && Number.isFinite(windowNs)))
    throw new RangeError(`detection window must be a finite number ≥ 0 ns, got ${windowNs}`);
  return -Math.expm1(-rateHz * windowNs * 1e-9);
}

/**
 * Resolves a physical link and the end nodes' memory efficiencies into per-attempt parameters; validates
 * every field.
 * @param efficiencyA - node A's memory efficiency (emission × collection) in [0, 1]; default 1.
 * @param efficiencyB - node B's memory efficiency in [0, 1]; default 1.
 */
export function heraldingParameters(
  link: PhysicalLinkSpec,
  efficiencyA = 1,
  efficiencyB = 1,
): HeraldingParameters {
  checkProbability(efficiencyA, "memory efficiency of node A");
  checkProbability(efficiencyB, "memory efficiency of node B");
  checkProbability(link.detectorEfficiency, "detector efficiency");
  checkProbability(link.brightStatePopulation, "bright-state population α");
  checkProbability(link.sourceFidelity, "source fidelity");
  if (link.heralding !== "single-click" && link.heralding !== "double-click")
    throw new RangeError(`heralding scheme must be "single-click" or "double-click", got ${link.heralding}`);
  if (!(Number.isInteger(link.multiplexingModes) && link.multiplexingModes >= 1))
    throw new RangeError(`multiplexing modes must be an integer ≥ 1, got ${link.multiplexingModes}`);
  if (!(link.lengthKm >= 0 && Number.isFinite(link.lengthKm)))
    throw new RangeError(`link length must be a finite number ≥ 0 km, got ${link.lengthKm}`);
  const arm = link.detectorEfficiency * fiberTransmission(link.lengthKm / 2, link.attenuationDbPerKm);
  return {
    scheme: link.heralding,
    armTransmissionA: efficiencyA * arm,
    armTransmissionB: efficiencyB * arm,
    darkCountProbability: darkCountProbability(link.darkCountRateHz, link.detectionWindowNs),
    brightStatePopulation: link.brightStatePopulation,
    sourceFidelity: link.sourceFidelity,
    modes: link.multiplexingModes,
  };
}

/**
 * The single-mode success probability and the heralded pair of one attempt (see the module notes for the
 * derivation). Parameters are assumed valid (as {@link heraldingParameters} makes them).
 * @param out - receives the heralded state in DEJMPS order (NaN when the success probability is 0).
 * @returns the success probability of one mode.
 */
export function heraldedPair(out: BellDiagonal, params: HeraldingParameters): number {
  const ea = params.armTransmissionA;
  const eb = params.armTransmissionB;
  const pd = params.darkCountProbability;
  const q = 1 - pd;
  const eUnion = ea + eb - ea * eb;
  // s(x): exactly one click in a window where a photon arrives with probability x.
  const sUnion = q * (eUnion + 2 * pd * (1 - eUnion));
  const sEmpty = 2 * pd * q;
  let phiPlus: number;
  let phiMinus: number;
  let psi: number; // weight on each of Ψ+ and Ψ−
  let p: number;
  if (params.scheme === "double-click") {
    // ½·s(η_A)s(η_B) split into the coherent part ½η_Aη_B q² and the which-path-decohered rest, written
    // without the cancelling subtraction so that p_d = 0 gives exactly zero.
    const coherent = 0.5 * ea * eb * q * q;
    const decohered =
      0.5 * q * q * (2 * pd * (ea * (1 - eb) + eb * (1 - ea)) + 4 * pd * pd * (1 - ea) * (1 - eb));
    const correlated = 0.5 * sUnion * sEmpty;
    phiPlus = coherent + decohered / 2;
    phiMinus = decohered / 2;
    psi = correlated / 2;
    p = coherent + decohered + correlated;
  } else {
    const alpha = params.brightStatePopulation;
    const single = alpha * (1 - alpha);
    const ra = Math.sqrt(single * ea * q);
    const rb = Math.sqrt(single * eb * q);
    const plus = ((ra + rb) * (ra + rb)) / 2;
    const minus = ((ra - rb) * (ra - rb)) / 2;
    const decohered = single * (2 - ea - eb) * sEmpty;
    const correlated = (1 - alpha) * (1 - alpha) * sEmpty + alpha * alpha * sUnion;
    phiPlus = plus + decohered / 2;
    phiMinus = minus + decohered / 2;
    psi = correlated / 2;
    p = plus + minus + decohered + correlated;
  }
  if (!(p > 0)) {
    out.fill(Number.NaN);
    return 0;
  }
  // Source infidelity: w_s·ρ + (1 − w_s)·I/4.
  const w = (4 * params.sourceFidelity - 1) / 3;
  const floor = (1 - w) / 4;
  out[0] = (w * phiPlus) / p + floor;
  out[1] = (w * psi) / p + floor;
  out[2] = (w * psi) / p + floor;
  out[3] = (w * phiMinus) / p + floor;
  return p;
}

/**
 * Success probability of an attempt over M modes, each succeeding independently with probability p:
 * 1 − (1 − p)^M, computed without cancellation for small p.
 */
export function multiplexedSuccessProbability(p: number, modes: number): number {
  checkProbability(p, "success probability per mode");
  if (!(Number.isInteger(modes) && modes >= 1))
    throw new RangeError(`multiplexing modes must be an integer ≥ 1, got ${modes}`);
  if (p === 1) return 1;
  return -Math.expm1(modes * Math.log1p(-p));
}

/**
 * The per-attempt model of a link.
 *
 * Physical links: see the module notes (midpoint station, arms L/2, attempts not pipelined). Abstract
 * links: the stated success probability and attempt duration, a Werner pair of the stated fidelity, and a
 * herald delay equal to the attempt duration; the efficiencies are ignored.
 * @param efficiencyA - node A's memory efficiency in [0, 1] (`NodeSpec.memory.efficiency`); default 1.
 * @param efficiencyB - node B's memory efficiency in [0, 1]; default 1.
 * @throws RangeError for invalid parameters, or a physical link with zero attempt duration (length 0 and
 *   an unlimited source rate).
 */
export function linkAttemptModel(
  link: PhysicalLinkSpec | AbstractLinkSpec,
  efficiencyA = 1,
  efficiencyB = 1,
): LinkAttemptModel {
  if (link.kind === "abstract") return abstractModel(link);
  const params = heraldingParameters(link, efficiencyA, efficiencyB);
  if (!(link.sourceRateHz > 0))
    throw new RangeError(`source rate must be > 0 Hz (Infinity: unlimited), got ${link.sourceRateHz}`);
  const heraldDelayNs = fiberDelayNs(link.lengthKm, link.groupIndex);
  const attemptDurationNs = Math.max(heraldDelayNs, 1e9 / link.sourceRateHz);
  if (!(attemptDurationNs > 0))
    throw new RangeError(
      "a physical link of length 0 with an unlimited source rate has zero attempt duration; give a length > 0 or a finite sourceRateHz",
    );
  const state = new Float64Array(4);
  const modeSuccessProbability = heraldedPair(state, params);
  return {
    successProbability: multiplexedSuccessProbability(modeSuccessProbability, params.modes),
    modeSuccessProbability,
    attemptDurationNs,
    heraldDelayNs,
    state,
    modes: params.modes,
  };
}

/** Mean pair-generation rate of a link in Hz: successProbability / attemptDuration (physics.md's pairs/s). */
export function pairRateHz(model: LinkAttemptModel): number {
  return (model.successProbability / model.attemptDurationNs) * 1e9;
}

function abstractModel(link: AbstractLinkSpec): LinkAttemptModel {
  checkProbability(link.successProbability, "success probability");
  checkProbability(link.fidelity, "link fidelity");
  if (!(link.attemptDurationNs > 0 && Number.isFinite(link.attemptDurationNs)))
    throw new RangeError(`attempt duration must be a finite number > 0 ns, got ${link.attemptDurationNs}`);
  const e = (1 - link.fidelity) / 3;
  return {
    successProbability: link.successProbability,
    modeSuccessProbability: link.successProbability,
    attemptDurationNs: link.attemptDurationNs,
    heraldDelayNs: link.attemptDurationNs,
    state: Float64Array.of(link.fidelity, e, e, e),
    modes: 1,
  };
}

function checkProbability(p: number, what: string): void {
  if (!(p >= 0 && p <= 1)) throw new RangeError(`${what} must be in [0, 1], got ${p}`);
}
