/**
 * Live per-link estimates for the orchestrator (issue 6, C6; failure modes F1, F4, E3 in
 * docs/system-map.md): how likely an attempt is to herald a pair, how long an attempt takes, how good
 * the heralded pairs are, and whether the link is up at all.
 *
 * Each link starts from its topology model (src/network/link-model.ts) and is then moved by what the
 * network reports. Success probability uses an **exponentially weighted window over attempts**: the
 * model counts as a long run of earlier attempts (weight ≈ `windowAttempts`), and every observed
 * attempt makes older evidence (the prior included) fade by a factor e^{−1/windowAttempts}. So after
 * a few windows of observations the estimate follows the link, not the model, and a collapse
 * (misalignment, E3) shows within about one window. Fidelity is an exponentially weighted mean of heralded-pair fidelity samples.
 *
 * Core layer: no clock, no randomness. See docs/orchestrator-decisions.md.
 */
import { linkAttemptModel } from "../network/link-model.js";
import type { LinkSpec, Topology } from "../network/topology.js";

/** Settings of a {@link LinkEstimator}. */
export interface LinkEstimatorOptions {
  /**
   * Length W of the exponentially weighted window over attempts: evidence W attempts old counts e^{−1}
   * as much as the newest. The topology model counts as an endless run of earlier attempts (total
   * weight ≈ W). Default 1000.
   */
  windowAttempts?: number;
  /** Weight in (0, 1] of each new fidelity sample in the running mean. Default 0.05 (≈ 20 samples). */
  fidelitySampleWeight?: number;
}

/** A snapshot of one link's estimate. */
export interface LinkEstimate {
  /** The link's canonical ID (topology `links[].id`). */
  id: string;
  /** Node IDs of the two ends. */
  a: string;
  b: string;
  /** Estimated probability that one attempt heralds a pair, in [0, 1]. */
  successProbability: number;
  /** Time between attempt starts on one memory pair, ns. */
  attemptPeriodNs: number;
  /** Estimated fidelity of heralded pairs to Φ+, in [0, 1]. */
  fidelity: number;
  /** False after {@link LinkEstimator.markDown} until {@link LinkEstimator.markUp}. */
  up: boolean;
  /** Attempts observed since construction (not weighted). */
  observedAttempts: number;
  /** Fidelity samples observed since construction. */
  fidelitySamples: number;
}

interface LinkState {
  spec: LinkSpec;
  attemptPeriodNs: number;
  /** Exponentially weighted attempt and success counts (the model's prior included). */
  weightedAttempts: number;
  weightedSuccesses: number;
  fidelity: number;
  up: boolean;
  observedAttempts: number;
  fidelitySamples: number;
}

/**
 * Live per-link estimates, seeded from a topology's link models and updated by observations. All
 * methods taking a link ID throw a `RangeError` naming the known links when the ID is unknown.
 */
export class LinkEstimator {
  private readonly links = new Map<string, LinkState>();
  private readonly window: number;
  private readonly fidelityWeight: number;

  constructor(
    readonly topology: Topology,
    options: LinkEstimatorOptions = {},
  ) {
    this.window = options.windowAttempts ?? 1000;
    if (!(this.window > 0 && Number.isFinite(this.window)))
      throw new RangeError(`windowAttempts must be a finite number > 0; got ${this.window}`);
    this.fidelityWeight = options.fidelitySampleWeight ?? 0.05;
    if (!(this.fidelityWeight > 0 && this.fidelityWeight <= 1))
      throw new RangeError(`fidelitySampleWeight must be in (0, 1]; got ${this.fidelityWeight}`);
    const nodes = new Map(topology.nodes.map((n) => [n.id, n]));
    for (const spec of topology.links) {
      const a = nodes.get(spec.a);
      const b = nodes.get(spec.b);
      if (a === undefined || b === undefined)
        throw new RangeError(`link ${spec.id} joins ${spec.a} and ${spec.b}, which are not both nodes`);
      const m = linkAttemptModel(spec, a, b);
      this.links.set(spec.id, {
        spec,
        attemptPeriodNs: m.attemptPeriodNs,
        // The model counts as an endless run of earlier attempts at its own probability.
        weightedAttempts: this.priorWeight(),
        weightedSuccesses: this.priorWeight() * m.successProbability,
        fidelity: m.state[0],
        up: true,
        observedAttempts: 0,
        fidelitySamples: 0,
      });
    }
  }

  /** Total weight of an endless run of attempts in the window: 1 / (1 − e^{−1/W}) ≈ W. */
  private priorWeight(): number {
    return 1 / -Math.expm1(-1 / this.window);
  }

  private get(linkId: string): LinkState {
    const s = this.links.get(linkId);
    if (s === undefined) {
      const known = [...this.links.keys()];
      const shown = known.length > 10 ? `${known.slice(0, 10).join(", ")}, …` : known.join(", ");
      throw new RangeError(`unknown link ${JSON.stringify(linkId)}: known links are ${shown || "none"}`);
    }
    return s;
  }

  /** IDs of every link, in topology order. */
  linkIds(): string[] {
    return [...this.links.keys()];
  }

  /** Whether `linkId` names a link of the topology. */
  has(linkId: string): boolean {
    return this.links.has(linkId);
  }

  /** The topology spec of a link (ends, physics). */
  spec(linkId: string): LinkSpec {
    return this.get(linkId).spec;
  }

  /**
   * Records `attempts` generation attempts on a link of which `successes` heralded a pair. Older
   * evidence fades by e^{−attempts/windowAttempts}; the batch's attempts count as if they came one by
   * one with the successes spread evenly, so one large batch and many small ones with the same success
   * fraction move the estimate alike.
   */
  observeAttempts(linkId: string, attempts: number, successes: number): void {
    const s = this.get(linkId);
    if (!(Number.isFinite(attempts) && attempts >= 0))
      throw new RangeError(`attempts must be a finite number ≥ 0; got ${attempts}`);
    if (!(Number.isFinite(successes) && successes >= 0 && successes <= attempts))
      throw new RangeError(`successes must be between 0 and attempts (${attempts}); got ${successes}`);
    if (attempts === 0) return;
    // The batch's attempts are taken as evenly spread, arriving one after another: together they weigh
    // Σ_{j<n} e^{−j/W}, and its successes the same fraction of that. So batching does not matter.
    const fade = Math.exp(-attempts / this.window);
    const weight = -Math.expm1(-attempts / this.window) / -Math.expm1(-1 / this.window);
    s.weightedAttempts = s.weightedAttempts * fade + weight;
    s.weightedSuccesses = s.weightedSuccesses * fade + (weight * successes) / attempts;
    s.observedAttempts += attempts;
  }

  /** Records the measured (or tomography-estimated) fidelity of one heralded pair on a link, in [0, 1]. */
  observeFidelity(linkId: string, fidelity: number): void {
    const s = this.get(linkId);
    if (!(fidelity >= 0 && fidelity <= 1))
      throw new RangeError(`fidelity must be in [0, 1]; got ${fidelity}`);
    s.fidelity += this.fidelityWeight * (fidelity - s.fidelity);
    s.fidelitySamples++;
  }

  /** Marks a link down (fiber cut, alarm): routing excludes it and its rate is 0 until {@link markUp}. */
  markDown(linkId: string): void {
    this.get(linkId).up = false;
  }

  /** Marks a link up again. Its estimates are kept: they recover through new observations. */
  markUp(linkId: string): void {
    this.get(linkId).up = true;
  }

  /** Whether the link is up. */
  isUp(linkId: string): boolean {
    return this.get(linkId).up;
  }

  /** Estimated success probability of one attempt, in [0, 1] (regardless of up/down). */
  successProbability(linkId: string): number {
    const s = this.get(linkId);
    return s.weightedAttempts > 0 ? s.weightedSuccesses / s.weightedAttempts : 0;
  }

  /** Time between attempt starts on one memory pair, ns. */
  attemptPeriodNs(linkId: string): number {
    return this.get(linkId).attemptPeriodNs;
  }

  /**
   * Expected heralded pairs per second on one memory pair of the link, Hz: success probability /
   * attempt period. 0 while the link is down.
   */
  expectedPairRateHz(linkId: string): number {
    const s = this.get(linkId);
    if (!s.up) return 0;
    return (this.successProbability(linkId) / s.attemptPeriodNs) * 1e9;
  }

  /** Estimated fidelity of heralded pairs to Φ+, in [0, 1]. */
  fidelity(linkId: string): number {
    return this.get(linkId).fidelity;
  }

  /** A snapshot of one link's estimates. */
  estimate(linkId: string): LinkEstimate {
    const s = this.get(linkId);
    return {
      id: linkId,
      a: s.spec.a,
      b: s.spec.b,
      successProbability: this.successProbability(linkId),
      attemptPeriodNs: s.attemptPeriodNs,
      fidelity: s.fidelity,
      up: s.up,
      observedAttempts: s.observedAttempts,
      fidelitySamples: s.fidelitySamples,
    };
  }
}
