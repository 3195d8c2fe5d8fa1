/**
 * Failure detection on links (issue 6: failures are injected, detected and survived). A link that is
 * up fails each attempt independently with probability 1 − p, so a run of k failed attempts in a row
 * has probability (1 − p)^k. The monitor declares a link down once its run of failures since the last
 * herald is longer than any run a working link shows with more than `falseAlarmProbability`:
 *
 *   k* = ⌈ln α / ln(1 − p)⌉,
 *
 * with p the link model's success probability (not the live estimate, which falls during an outage).
 * A herald on a link it declared down declares it up again. Idle links (no attempts) are never
 * suspected: silence without attempts is not a failure. Links someone else marked down (an operator)
 * are left to them.
 *
 * Core layer: it is told attempts and successes (e.g. by the live twin's observer) and polled.
 */
import type { LinkEstimator } from "./link-estimates.js";

/** Settings of a {@link LinkMonitor}. */
export interface LinkMonitorOptions {
  /** Probability that a working link is declared down at a given herald gap. Default 1e-9. */
  falseAlarmProbability?: number;
}

/** A change the monitor detected, for the caller to act on (e.g. `Orchestrator.linkDown`). */
export interface LinkChange {
  linkId: string;
  up: boolean;
  /** For people: why, with the evidence. */
  reason: string;
}

interface Watch {
  /** Success probability per attempt of the link's model. */
  p: number;
  /** Failed attempts since the last herald. */
  failures: number;
  /** The monitor declared this link down (and has not seen it recover). */
  declaredDown: boolean;
  /** The declaration was handed to the caller by {@link LinkMonitor.poll}, to be applied. */
  verdictApplied: boolean;
}

/** Detects dead and recovered links from their attempt records. */
export class LinkMonitor {
  readonly falseAlarmProbability: number;
  private readonly watches = new Map<string, Watch>();
  private readonly pending: LinkChange[] = [];

  constructor(
    private readonly estimator: LinkEstimator,
    options: LinkMonitorOptions = {},
  ) {
    const alpha = options.falseAlarmProbability ?? 1e-9;
    if (!(alpha > 0 && alpha < 1))
      throw new RangeError(`falseAlarmProbability must be in (0, 1), got ${alpha}`);
    this.falseAlarmProbability = alpha;
  }

  /** The model's success probability per attempt of a link (the live twin reports it once at the start). */
  expectSuccess(linkId: string, probability: number): void {
    const w = this.watch(linkId);
    if (!(probability > 0 && probability <= 1))
      throw new RangeError(`success probability of ${linkId} must be in (0, 1], got ${probability}`);
    w.p = probability;
  }

  /**
   * The failed attempts after which the link is declared down: the smallest k with (1 − p)^k < α.
   * Infinity for a link whose success probability is not known yet.
   */
  threshold(linkId: string): number {
    const p = this.watches.get(linkId)?.p ?? 0;
    if (!(p > 0)) return Number.POSITIVE_INFINITY;
    if (p >= 1) return 1;
    return Math.floor(Math.log(this.falseAlarmProbability) / Math.log1p(-p)) + 1;
  }

  /**
   * Records `attempts` attempts of which `successes` heralded. A herald ends its batch (the live twin
   * reports each herald with the attempts it took, and failed attempts in progress with no success).
   */
  observe(linkId: string, attempts: number, successes: number): void {
    const w = this.watch(linkId);
    if (successes > 0) {
      w.failures = 0;
      if (w.declaredDown) {
        w.declaredDown = false;
        w.verdictApplied = false;
        this.pending.push({ linkId, up: true, reason: "heralding again after a detected failure" });
      }
      return;
    }
    if (w.declaredDown) {
      // Up, but the verdict was not handed over yet (by poll): keep it. Handed over and then brought
      // up by someone else while still silent: watch it afresh.
      if (!this.estimator.isUp(linkId) || !w.verdictApplied) return;
      w.declaredDown = false;
      w.verdictApplied = false;
      w.failures = 0;
    }
    if (!this.estimator.isUp(linkId)) {
      // Down by someone else's hand: its silence is expected, and counting starts afresh when it is up.
      w.failures = 0;
      return;
    }
    w.failures += attempts;
    const k = this.threshold(linkId);
    if (w.failures >= k) {
      w.declaredDown = true;
      this.pending.push({
        linkId,
        up: false,
        reason: `no herald in ${w.failures} attempts; a working link (p = ${w.p.toPrecision(3)}) fails ${k} in a row with probability below ${this.falseAlarmProbability}`,
      });
    }
  }

  /** Puts back changes a caller took by {@link poll} but could not apply, ahead of newer ones. */
  restore(changes: readonly LinkChange[]): void {
    for (const c of changes) {
      const w = this.watches.get(c.linkId);
      if (w !== undefined && !c.up) w.verdictApplied = false;
    }
    this.pending.unshift(...changes);
  }

  /** Whether the monitor holds the link down. */
  declaredDown(linkId: string): boolean {
    return this.watches.get(linkId)?.declaredDown ?? false;
  }

  /** The changes detected since the last call, oldest first; the caller is to apply them. */
  poll(): LinkChange[] {
    const changes = this.pending.splice(0);
    for (const c of changes) {
      const w = this.watches.get(c.linkId);
      if (w !== undefined && !c.up && w.declaredDown) w.verdictApplied = true;
    }
    return changes;
  }

  private watch(linkId: string): Watch {
    let w = this.watches.get(linkId);
    if (w === undefined) {
      if (!this.estimator.has(linkId)) throw new RangeError(`unknown link ${JSON.stringify(linkId)}`);
      w = { p: 0, failures: 0, declaredDown: false, verdictApplied: false };
      this.watches.set(linkId, w);
    }
    return w;
  }
}
