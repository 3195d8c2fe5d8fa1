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
  private readonly sink?: SimulationObserver;
  /** Attempts and successes per link not yet passed to the sink (summed: they are counters). */
  private readonly attempts = new Map<string, { attempts: number; successes: number }>();
  /** The latest occupancy per node not yet passed to the sink (a gauge: only the last value counts). */
  private readonly occupancy = new Map<string, { occupied: number; capacity: number }>();

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
    this.sink = sink;
    // Counters and gauges reach the sink summed per link, latest per node, on flush: the twin reports
    // every herald, and a metrics client's per-call cost would dominate. Histograms take every value.
    this.observer = {
      linkExpectedSuccess: (id, p) => {
        sink?.linkExpectedSuccess(id, p);
        if (p > 0) monitor.expectSuccess(id, p);
      },
      linkAttempts: (id, attempts, successes) => {
        if (sink) {
          const a = this.attempts.get(id);
          if (a === undefined) this.attempts.set(id, { attempts, successes });
          else {
            a.attempts += attempts;
            a.successes += successes;
          }
        }
        estimator.observeAttempts(id, attempts, successes);
        monitor.observe(id, attempts, successes);
      },
      pairFidelity: (id, f) => {
        sink?.pairFidelity(id, f);
        estimator.observeFidelity(id, f);
      },
      pairDelivered: (route, f, latencyS) => sink?.pairDelivered(route, f, latencyS),
      memoryOccupancy: (node, occupied, capacity) => {
        if (sink) this.occupancy.set(node, { occupied, capacity });
      },
      memoryStorageTime: (node, s) => sink?.memoryStorageTime(node, s),
    };
  }

  /** Passes the summed attempts and the latest occupancies to the sink. {@link apply} calls it first. */
  flush(): void {
    const sink = this.sink;
    if (!sink) return;
    for (const [id, a] of this.attempts) sink.linkAttempts(id, a.attempts, a.successes);
    for (const [node, o] of this.occupancy) sink.memoryOccupancy(node, o.occupied, o.capacity);
    this.attempts.clear();
    this.occupancy.clear();
  }

  /**
   * Flushes the metrics, then applies what the detector found since the last call: a dead link is
   * taken down (its waiting jobs rerouted or failed), a recovered one brought up, each as a `detected`
   * link event. Returns the changes.
   */
  async apply(): Promise<LinkChange[]> {
    this.flush();
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
