import { linkAttemptModel } from "./link-model.js";
import { NetworkSimulation, type SimulationObserver, type SimulationReport } from "./simulation.js";
import type { RequestSpec, Topology } from "./topology.js";

/** Options of a {@link LiveTwin}. */
export interface LiveTwinOptions {
  /** Seed of every random stream. Default 1. */
  seed?: number | string;
  /** Told everything the twin's links do (heralds, attempts, fidelities, deliveries, memory use). */
  observer?: SimulationObserver;
  /**
   * Pairs per simulated second each link makes at most: its probe request's target rate, so that a
   * link's memories idle once it is a pair ahead. Default: unthrottled (every link generates flat out).
   */
  probeRateHz?: number;
  /** Events processed at most per {@link LiveTwin.advanceTo} call. Default 1,000,000. */
  maxEventsPerAdvance?: number;
  /** How many of a link's most recent heralded pairs its reported fidelity averages. Default 1000. */
  fidelityWindow?: number;
}

/** One link of a live twin, as {@link LiveTwin.linkStatus} reports it. */
export interface LiveLinkStatus {
  id: string;
  a: string;
  b: string;
  /** False while set down with {@link LiveTwin.setLinkUp}. */
  up: boolean;
  /** False when an end node has no memory qubit, so the link cannot generate at all. */
  running: boolean;
  /** The link model's success probability per attempt. */
  expectedSuccessProbability: number;
  /** Attempts told to the observer so far: all attempts made up to the last advance. */
  attempts: number;
  /** Heralded pairs. */
  successes: number;
  /** Pairs handed to the link's ends (and discarded there). */
  pairsDelivered: number;
  /** Mean fidelity of the link's most recent heralded pairs (see `fidelityWindow`); null before any. */
  fidelityRecent: number | null;
}

/** What one {@link LiveTwin.advanceTo} call did. */
export interface LiveAdvance {
  /** Simulated time reached, in ns. */
  nowNs: number;
  /** Events processed in this call. */
  events: number;
  /** True when the event cap stopped the call before the requested time: the twin lags behind it. */
  behind: boolean;
}

/** The probe request's ID for a link. */
const probeId = (linkId: string) => `probe:${linkId}`;

/**
 * What a {@link LiveTwin} simulates: the topology with its requests replaced by one endless single-hop
 * request per link (ID `probe:<link ID>`, any fidelity, at most `probeRateHz` pairs per second, 0: no
 * limit), pinned to that link, and without purification. Links with an end node that has no memory
 * qubit get none: they cannot generate.
 */
export function liveTwinProbes(
  topology: Topology,
  probeRateHz = 0,
): { topology: Topology; requestLinks: Record<string, string> } {
  const qubits = new Map(topology.nodes.map((n) => [n.id, n.memory.qubits]));
  const requests: RequestSpec[] = [];
  const requestLinks: Record<string, string> = {};
  for (const link of topology.links) {
    if (!(qubits.get(link.a)! > 0 && qubits.get(link.b)! > 0)) continue;
    const id = probeId(link.id);
    requestLinks[id] = link.id;
    requests.push({
      id,
      src: link.a,
      dst: link.b,
      path: [link.a, link.b],
      pairs: Number.POSITIVE_INFINITY,
      rateHz: probeRateHz,
      minFidelity: 0,
      deadlineNs: Number.POSITIVE_INFINITY,
    });
  }
  return { topology: { ...topology, purification: undefined, requests }, requestLinks };
}

/** Per link: what the observer was told, kept for {@link LiveTwin.linkStatus}. */
interface LinkTally {
  expected: number;
  attempts: number;
  successes: number;
  delivered: number;
  fidelity: Float64Array;
  fidelityCount: number;
  fidelityNext: number;
}

/**
 * A continuously running twin of a whole topology: every link generates entanglement all the time,
 * through one endless single-hop request per link whose delivered pairs are discarded at once (the
 * topology's own requests and purification are left out: the twin measures raw links). It advances
 * only when told to, by {@link LiveTwin.advanceTo} with a simulated time (a caller maps the wall clock
 * to it), with a cap on the events per call; links can be set down and up at the current time.
 *
 * It is a {@link NetworkSimulation} advanced in steps, so it is deterministic: the same topology,
 * seed and sequence of calls (times, and link changes at those times) give the same results, however
 * the advances are split. Nothing here reads a clock or draws host randomness.
 */
export class LiveTwin {
  private readonly simulation: NetworkSimulation;
  private readonly tallies = new Map<string, LinkTally>();
  private readonly linkOfRequest = new Map<string, string>();
  private readonly maxEvents: number;
  private readonly window: number;

  constructor(
    private readonly topology: Topology,
    options: LiveTwinOptions = {},
  ) {
    const rate = options.probeRateHz ?? 0;
    if (!(rate >= 0 && rate < Number.POSITIVE_INFINITY))
      throw new RangeError(`probeRateHz must be a finite rate >= 0 Hz, got ${rate}`);
    this.maxEvents = options.maxEventsPerAdvance ?? 1_000_000;
    if (!(this.maxEvents >= 1))
      throw new RangeError(`maxEventsPerAdvance must be >= 1, got ${this.maxEvents}`);
    this.window = options.fidelityWindow ?? 1000;
    if (!(Number.isInteger(this.window) && this.window >= 1))
      throw new RangeError(`fidelityWindow must be an integer >= 1, got ${this.window}`);
    for (const link of topology.links)
      this.tallies.set(link.id, {
        expected: Number.NaN,
        attempts: 0,
        successes: 0,
        delivered: 0,
        fidelity: new Float64Array(this.window),
        fidelityCount: 0,
        fidelityNext: 0,
      });
    const probes = liveTwinProbes(topology, rate);
    for (const r of probes.topology.requests) this.linkOfRequest.set(r.id, probes.requestLinks[r.id]);
    const nodes = new Map(topology.nodes.map((n) => [n.id, n]));
    for (const link of topology.links)
      this.tallies.get(link.id)!.expected = linkAttemptModel(
        link,
        nodes.get(link.a)!,
        nodes.get(link.b)!,
      ).successProbability;
    this.simulation = new NetworkSimulation(probes.topology, {
      seed: options.seed,
      observer: this.tap(options.observer),
      requestLinks: probes.requestLinks,
    });
  }

  /** The simulated time reached, in ns. */
  get nowNs(): number {
    return this.simulation.nowNs;
  }

  /**
   * Advances to simulated time `simNs` (a time not after the current one does nothing), processing at
   * most `maxEvents` events (default: the twin's `maxEventsPerAdvance`); then tells the observer the
   * attempts made so far. If the cap stops it early, `behind` is true and the next call carries on.
   */
  advanceTo(simNs: number, maxEvents = this.maxEvents): LiveAdvance {
    if (Number.isNaN(simNs)) throw new RangeError("advanceTo: simNs must be a number of ns, got NaN");
    const before = this.simulation.sim.eventsProcessed;
    const reached = this.simulation.advance(Math.max(simNs, this.simulation.nowNs), maxEvents);
    this.simulation.flushAttempts();
    return {
      nowNs: this.simulation.nowNs,
      events: this.simulation.sim.eventsProcessed - before,
      behind: !reached,
    };
  }

  /**
   * Sets a link down or up at the current simulated time: while down none of its attempts succeeds
   * (pairs already stored are kept); see {@link NetworkSimulation.setLinkUp}.
   */
  setLinkUp(linkId: string, up: boolean): void {
    this.simulation.setLinkUp(linkId, up);
  }

  /** Every topology link, in topology order, with what it has done so far. */
  linkStatus(): LiveLinkStatus[] {
    return this.topology.links.map((link) => {
      const t = this.tallies.get(link.id)!;
      let fidelityRecent: number | null = null;
      if (t.fidelityCount > 0) {
        let sum = 0;
        for (let i = 0; i < t.fidelityCount; i++) sum += t.fidelity[i];
        fidelityRecent = sum / t.fidelityCount;
      }
      return {
        id: link.id,
        a: link.a,
        b: link.b,
        up: this.simulation.isLinkUp(link.id),
        running: this.linkOfRequest.has(probeId(link.id)),
        expectedSuccessProbability: t.expected,
        attempts: t.attempts,
        successes: t.successes,
        pairsDelivered: t.delivered,
        fidelityRecent,
      };
    });
  }

  /** The full simulation report at the current time (requests are the per-link probes). */
  report(): SimulationReport {
    return this.simulation.currentReport();
  }

  /** An observer that keeps the per-link tallies and passes everything on. */
  private tap(next: SimulationObserver | undefined): SimulationObserver {
    const tallies = this.tallies;
    const linkOfRequest = this.linkOfRequest;
    const window = this.window;
    return {
      linkExpectedSuccess(linkId, probability) {
        next?.linkExpectedSuccess(linkId, probability);
      },
      linkAttempts(linkId, attempts, successes) {
        const t = tallies.get(linkId)!;
        t.attempts += attempts;
        t.successes += successes;
        next?.linkAttempts(linkId, attempts, successes);
      },
      pairFidelity(linkId, fidelity) {
        const t = tallies.get(linkId)!;
        t.fidelity[t.fidelityNext] = fidelity;
        t.fidelityNext = (t.fidelityNext + 1) % window;
        if (t.fidelityCount < window) t.fidelityCount++;
        next?.pairFidelity(linkId, fidelity);
      },
      pairDelivered(route, fidelity, latencyS) {
        const link = linkOfRequest.get(route.requestId);
        if (link !== undefined) tallies.get(link)!.delivered++;
        next?.pairDelivered(route, fidelity, latencyS);
      },
      memoryOccupancy(nodeId, occupied, capacity) {
        next?.memoryOccupancy(nodeId, occupied, capacity);
      },
      memoryStorageTime(nodeId, seconds) {
        next?.memoryStorageTime(nodeId, seconds);
      },
    };
  }
}
