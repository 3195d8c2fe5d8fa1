/**
 * Connects the live twin to the orchestrator: what the twin observes goes to the metrics sink, to the
 * orchestrator's link estimates (which admission and routing read) and to the failure detector, and
 * the detector's verdicts are applied to the orchestrator (rerouting waiting jobs off a dead link).
 *
 * Core layer: the caller drives it (advances the twin, then calls {@link LiveFeed.apply}).
 */
import type { SimulationObserver } from "../network/simulation.js";
import { type LinkChange, LinkMonitor, type LinkMonitorOptions } from "./link-monitor.js";
import type { Orchestrator } from "./orchestrator.js";

/** The twin's observer and the detector behind it. */
export class LiveFeed {
  readonly monitor: LinkMonitor;
  readonly observer: SimulationObserver;

  /**
   * @param sink where every observation also goes (e.g. the Prometheus sink); none for estimates only.
   */
  constructor(
    private readonly orchestrator: Orchestrator,
    sink?: SimulationObserver,
    options: LinkMonitorOptions = {},
  ) {
    const estimator = orchestrator.estimator;
    const monitor = new LinkMonitor(estimator, options);
    this.monitor = monitor;
    this.observer = {
      linkExpectedSuccess: (id, p) => {
        sink?.linkExpectedSuccess(id, p);
        if (p > 0) monitor.expectSuccess(id, p);
      },
      linkAttempts: (id, attempts, successes) => {
        sink?.linkAttempts(id, attempts, successes);
        estimator.observeAttempts(id, attempts, successes);
        monitor.observe(id, attempts, successes);
      },
      pairFidelity: (id, f) => {
        sink?.pairFidelity(id, f);
        estimator.observeFidelity(id, f);
      },
      pairDelivered: (route, f, latencyS) => sink?.pairDelivered(route, f, latencyS),
      memoryOccupancy: (node, occupied, capacity) => sink?.memoryOccupancy(node, occupied, capacity),
      memoryStorageTime: (node, s) => sink?.memoryStorageTime(node, s),
    };
  }

  /**
   * Applies what the detector found since the last call: a dead link is taken down (its waiting jobs
   * rerouted or failed), a recovered one brought up, each as a `detected` link event. Returns the changes.
   */
  async apply(): Promise<LinkChange[]> {
    const changes = this.monitor.poll();
    for (let i = 0; i < changes.length; i++) {
      const c = changes[i];
      try {
        if (c.up) await this.orchestrator.linkUp(c.linkId, "detected", c.reason);
        else await this.orchestrator.linkDown(c.linkId, "detected", c.reason);
      } catch (e) {
        // Not applied (e.g. the store failed): hand this change and the rest back for the next call.
        this.monitor.restore(changes.slice(i));
        throw e;
      }
    }
    return changes;
  }
}
