import { decayPairWith, type MemoryDecay, memoryDecay } from "../hardware/memory.js";
import { swapNoise } from "../hardware/swap-noise.js";
import { ChshTest, teleportThroughPair } from "../protocols/applications.js";
import {
  type BellDiagonal,
  bbpssw,
  bellDiagonalFidelity,
  dejmps,
  type SwapNoise,
  swapBellDiagonal,
} from "../quantum/bell-diagonal.js";
import type { Rng } from "../sim/rng.js";
import { RngStreams } from "../sim/rng.js";
import { type EventHandler, Simulator } from "../sim/simulator.js";
import { OutageSchedule } from "./outages.js";
import { type LinkPlan, type NetworkPlan, type PathPlan, planNetwork } from "./plan.js";
import { type Histogram, SampleSet } from "./statistics.js";
import type { ClassicalChannelSpec, Topology } from "./topology.js";

/** Options of a network simulation run. */
export interface SimulationOptions {
  /** Seed of every random stream (one stream per link, node and request). Default 1. */
  seed?: number | string;
  /**
   * Called every `progressEvery` events and once at the end with the simulated time reached (ns) and
   * the events processed so far. Default: none.
   */
  onProgress?: (simulatedNs: number, events: number) => void;
  /** Events between progress calls. Default 200,000. */
  progressEvery?: number;
  /**
   * Width of the time bins of each link's attempt/success timeline, in ns (e.g. to watch a link's
   * success rate collapse during an outage and recover). Default: no timeline.
   */
  timelineBinNs?: number;
  /**
   * Called for every pair handed to a request's end nodes (at or above its minimum fidelity), with the
   * request's ID, the pair's Bell-diagonal state in the DEJMPS order [Φ+, Ψ−, Ψ+, Φ−] and the simulated
   * time in ns; e.g. to run entanglement-based QKD on the delivered pairs. The state array is reused
   * after the call returns: copy it to keep it. Default: none.
   */
  onPairDelivered?: (requestId: string, state: BellDiagonal, timeNs: number) => void;
  /**
   * Told what happens as it happens, for live metrics: heralds, delivered pairs, memory use. The
   * telemetry layer's `ObservationSink` fits. Default: none (and no cost).
   */
  observer?: SimulationObserver;
  /**
   * For single-hop requests between nodes joined by parallel links: the topology link (by ID) that each
   * request, by request ID, generates on. Default: the link with the shortest expected time per pair.
   */
  requestLinks?: Readonly<Record<string, string>>;
}

/**
 * What a simulation reports as it runs, named and shaped like the telemetry layer's observations so
 * that a sink can be passed straight in. Link and node IDs are the topology's canonical IDs.
 */
export interface SimulationObserver {
  /** The model's success probability per attempt of a link, once at the start. */
  linkExpectedSuccess(linkId: string, probability: number): void;
  /** A herald: the attempts it took (including itself) and one success. */
  linkAttempts(linkId: string, attempts: number, successes: number): void;
  /** Fidelity of a pair as heralded. */
  pairFidelity(linkId: string, fidelity: number): void;
  /** A pair handed to a request's end nodes, with its fidelity and the time since the previous one (s). */
  pairDelivered(
    route: { requestId: string; srcNodeId: string; dstNodeId: string },
    fidelity: number,
    latencyS: number,
  ): void;
  /** A node's occupied memory qubits changed. */
  memoryOccupancy(nodeId: string, occupied: number, capacity: number): void;
  /** A qubit gave up its half of a pair after holding it this long (s). */
  memoryStorageTime(nodeId: string, seconds: number): void;
}

/** One bin of a link's timeline: attempts made and pairs heralded in [start_s, start_s + bin). */
export interface TimelineBin {
  start_s: number;
  attempts: number;
  successes: number;
  success_rate: number;
}

/** Memory use at one node. */
export interface NodeMemoryReport {
  id: string;
  qubits: number;
  /** Time-averaged fraction of the node's qubits holding heralded entanglement (M8). */
  occupancy_mean: number;
  /** Most qubits occupied at once. */
  occupancy_max: number;
  /**
   * How long qubits held their halves of pairs before being freed (swapped, delivered, purified away
   * or discarded), in s (M5, observed).
   */
  storage_time_s: { mean: number; p50: number; p99: number; max: number };
  /** Pairs this node discarded because a qubit outlived its cutoff. */
  decohered_discarded: number;
}

/** Statistics of a distribution of values, as reported. */
export interface DistributionReport {
  mean: number;
  p05: number;
  p50: number;
  histogram: Histogram;
}

export interface LinkReport {
  id: string;
  /** Its end nodes. */
  a: string;
  b: string;
  /** Generation attempts made (all memory pairs of the link together). */
  attempts: number;
  /** Heralded pairs. */
  successes: number;
  success_rate: number;
  /** Heralded pairs per simulated second. */
  pairs_per_s: number;
  /** Fidelity of pairs as heralded, before any storage. */
  fidelity: DistributionReport;
  /** Link-level purification rounds, and how many failed. */
  purifications: number;
  purifications_failed: number;
  /** Outages (scheduled or random) that began during the run, and the time the link was down, in s. */
  outages: number;
  downtime_s: number;
  /** Attempts and successes per time bin, when a timeline bin width is given. */
  timeline?: TimelineBin[];
}

export interface RequestReport {
  id: string;
  src: string;
  dst: string;
  path: string[];
  /** Pairs handed to the application at the end nodes with at least the minimum fidelity. */
  delivered: number;
  /** Delivered pairs per simulated second over the time the request was active. */
  delivered_per_s: number;
  /** End-to-end pairs discarded on arrival because their fidelity was below `min_fidelity`. */
  discarded_low_fidelity: number;
  /** `pairs` asked for (null for a rate request). */
  pairs_requested: number | null;
  /** For a rate request: the target rate, and delivered_per_s as a fraction of it (null otherwise). */
  target_rate_hz: number | null;
  rate_fraction: number | null;
  /** Whether every requested pair was delivered (before the deadline, if any). */
  completed: boolean;
  /** Whether the deadline passed before completion. */
  expired: boolean;
  /** Fidelity to Φ+ of delivered pairs when the end nodes hold them, after all corrections. */
  fidelity: DistributionReport;
  /** Time for each delivered pair: from the previous delivery (or the request's start) to this one, in s. */
  latency_s: { mean: number; p50: number; p99: number };
  /** Results of the request's application, when it has one. */
  application?: ApplicationReport;
  /** Swaps performed for this request, and how many failed. */
  swaps: number;
  swaps_failed: number;
  /** End-to-end purification rounds performed for this request, and how many failed. */
  purifications: number;
  purifications_failed: number;
}

export type ApplicationReport =
  | {
      kind: "teleport";
      theta: number;
      phi: number;
      /** Fidelity of each teleported state with the input. */
      fidelity: DistributionReport;
    }
  | {
      kind: "chsh";
      rounds: number;
      /** S = E(a0,b0) + E(a0,b1) + E(a1,b0) − E(a1,b1); local realism allows |S| ≤ 2. */
      s: number;
      s_stderr: number;
      correlators: number[];
    };

export interface SimulationReport {
  topology: string;
  seed: number | string;
  simulated_time_s: number;
  events: number;
  wall_time_s?: number;
  links: LinkReport[];
  requests: RequestReport[];
  memory: {
    /** Time-averaged fraction of memory qubits holding heralded entanglement, over all nodes. */
    occupancy_mean: number;
    /** Pairs discarded because a qubit was stored longer than its node's cutoff. */
    decohered_discarded: number;
    /** Per node, in topology order. */
    nodes: NodeMemoryReport[];
  };
}

// Event kinds.
const HERALD = 1;
const SWAP = 2;
const CUTOFF = 3;
const FREE = 4;
const DELIVER = 5;
const DEADLINE = 6;
const PURIFIED = 7;
const RESUME = 8;

// Life of a pair record.
const GENERATING = 0;
const STORED = 1;
const RELEASED = 2;

const NONE = -1;
/**
 * Event data for a pair carries its generation: gen · PAIR_ID_SPAN + id, so stale events are ignored.
 * A power of two, so that splitting the data again is exact without a (slow) floating-point `%`.
 */
const PAIR_ID_SPAN = 1 << 22;
/**
 * The generation of a pair record when first used. Any start works for telling events apart; this one
 * makes every gen · PAIR_ID_SPAN exceed the int32 range from the first event, so V8 compiles that
 * arithmetic for doubles at once rather than for small integers, only to bail out of the optimized
 * code (deoptimize) when the generations grow.
 */
const FIRST_PAIR_GEN = 1 << 9;
const SIDE_LEFT = 0; // a qubit entangled towards lower path positions
const SIDE_RIGHT = 1;

/**
 * A discrete-event simulation of a topology's entanglement requests: heralded generation on every link
 * of each request's path, storage in decohering memories with cutoffs, entanglement swapping (ASAP or
 * nested) with swap outcomes carried to the end nodes as classical messages, and delivery to the end
 * nodes. Link-level pairs are Bell-diagonal states; decoherence is applied lazily, exactly, whenever a
 * pair is touched, because memory channels compose in time.
 *
 * Memories: each node's qubits are split evenly between the sides of the request paths through it;
 * each link of a path pairs free qubits of its two end ports and attempts generation on every such pair
 * in parallel (number of attempts to success drawn in one geometric draw, one event per herald).
 */
export class NetworkSimulation implements EventHandler {
  readonly sim = new Simulator();
  private readonly plan: NetworkPlan;
  private readonly handler: number;
  private readonly streams: RngStreams;
  private readonly linkRng: Rng[];
  private readonly nodeRng: Rng[];
  private readonly classicalRng: Rng;

  // --- qubits (struct of arrays, global ids) ---
  private readonly qNode: Int32Array;
  private readonly qPath: Int32Array;
  private readonly qPos: Int32Array;
  private readonly qPair: Int32Array;
  private readonly qStoredAt: Float64Array;
  private readonly qGen: Int32Array;
  /** Port of each qubit: (path, pos, side) → path.portBase + 2·pos + side. */
  private readonly qPort: Int32Array;
  /** Global index of the path link on which each qubit generates pairs. */
  private readonly qLink: Int32Array;
  /**
   * Qubit lists per port, in flat arrays: port k owns entries portStart[k] … portStart[k + 1] − 1 (as
   * many as its qubits) of `freeList` and of `storedList`, of which the first freeCount[k] (a stack:
   * the last is taken next) and storedCount[k] (stored, i.e. heralded and not yet swapped, oldest first)
   * are in use.
   */
  private readonly portStart: Int32Array;
  private readonly freeList: Int32Array;
  private readonly freeCount: Int32Array;
  private readonly storedList: Int32Array;
  private readonly storedCount: Int32Array;
  private readonly swapScheduled: Uint8Array;

  // --- pairs (struct of arrays, pooled) ---
  private pairCap = 0;
  private pairFree: number[] = [];
  private pQ0 = new Int32Array(0); // end at the lower path position
  private pQ1 = new Int32Array(0);
  private pT = new Float64Array(0); // time up to which decay has been applied (to both ends)
  private pFrame0 = new Float64Array(0); // time at which each end knows its partner and Pauli frame
  private pFrame1 = new Float64Array(0);
  private pLo = new Int32Array(0); // path positions spanned
  private pHi = new Int32Array(0);
  private pDead = new Uint8Array(0);
  private pRefs = new Uint8Array(0); // qubits referring to the pair
  private pPhase = new Uint8Array(0); // GENERATING, STORED or RELEASED
  private pGenStart = new Float64Array(0); // while generating: start of the attempts
  private pAttempts = new Float64Array(0); // while generating: attempts drawn up to the herald
  private pGen = new Int32Array(0); // bumped at each reuse; see PAIR_ID_SPAN
  private pLevel = new Int32Array(0); // purification rounds the pair has passed
  private pBusy = new Uint8Array(0); // waiting for the outcome messages of a purification round
  private pPurifyOk = new Uint8Array(0); // the outcome of that round, revealed when the messages arrive
  /** While generating: the herald event, or 0 while suspended because the link is set down. */
  private pHerald = new Float64Array(0);
  /** While generating: attempts already told to the observer by flushAttempts. */
  private pReported = new Float64Array(0);
  private pState: BellDiagonal[] = [];

  // --- statistics ---
  private readonly linkAttempts: Float64Array;
  private readonly linkSuccesses: Float64Array;
  private readonly linkFidelity: SampleSet[];
  private readonly reqDelivered: Int32Array;
  private readonly reqLowFidelity: Int32Array;
  private readonly reqSwaps: Int32Array;
  private readonly reqSwapFails: Int32Array;
  private readonly reqDone: Uint8Array;
  private readonly reqExpired: Uint8Array;
  private readonly reqEndNs: Float64Array;
  private readonly reqLastDelivery: Float64Array;
  private readonly reqFidelity: SampleSet[];
  private readonly reqLatency: SampleSet[];
  private readonly reqAppFidelity: SampleSet[];
  private readonly reqChsh: (ChshTest | null)[];
  private readonly appRng: Rng;
  private decoheredDiscarded = 0;
  private readonly nodeDiscarded: Int32Array;
  private readonly nodeOccupied: Int32Array;
  private readonly nodeOccupiedMax: Int32Array;
  private readonly nodeOccupiedIntegral: Float64Array;
  private readonly nodeOccupiedSince: Float64Array;
  private readonly nodeStorage: SampleSet[];
  private readonly outages: OutageSchedule[];
  /** Per topology link: 1 while set down by {@link NetworkSimulation.setLinkUp}. */
  private readonly linkSetDown: Uint8Array;
  /** Per path link: 1 while its topology link is set down. */
  private readonly pathLinkDown: Uint8Array;
  /** Per topology link: its path links (global indices). */
  private readonly topologyLinkUses: number[][];
  /** The one-time start-up (deadlines, first attempts) has been done. */
  private started = false;
  // Per path link (global index): what the event handlers read of its plan, unpacked into arrays.
  private readonly linkPath: Int32Array;
  private readonly linkPos: Int32Array;
  private readonly linkLeftPort: Int32Array;
  private readonly linkRightPort: Int32Array;
  /** ln(1 − p) of the link's success probability p (−∞ when every attempt succeeds). */
  private readonly linkLogFail: Float64Array;
  private readonly linkPeriodNs: Float64Array;
  private readonly linkHeraldDelayNs: Float64Array;
  private readonly linkStoredBeforeHeraldNs: Float64Array;
  private readonly linkLatencyNs: Float64Array;
  /** The pair each link heralds (the same every time). */
  private readonly linkState: BellDiagonal[];
  /**
   * 1 when the link never goes down (no outages, scheduled or random) and its success probability is
   * one the random stream accepts: the attempts up to a success are then one geometric draw.
   */
  private readonly linkPlainDraw: Uint8Array;
  private readonly pathRateHz: Float64Array;
  /** Per path: its last position (its end nodes are at 0 and here). */
  private readonly pathLast: Int32Array;
  /**
   * Per path, when its classical hops are deterministic and every sum of consecutive latencies is exact:
   * the sums of the first k latencies, so that a message delay costs one subtraction, not a loop over
   * the hops (with the same result to the bit). Null otherwise.
   */
  private readonly latencyPrefix: (Float64Array | null)[];
  /** Per path link: a RESUME event is pending because its rate request is ahead of schedule. */
  private readonly linkWaiting: Uint8Array;
  private readonly timelineAttempts: Float64Array[];
  private readonly timelineSuccesses: Float64Array[];
  private readonly timelineBinNs: number;
  private occupied = 0;
  private occupiedIntegral = 0;
  private occupiedSince = 0;
  private readonly totalQubits: number;
  private activeRequests: number;

  private readonly swapNoise: SwapNoise[];
  /** Each node's memory, validated and resolved once for the decay in the event loop. */
  private readonly memories: MemoryDecay[];
  private readonly nodeCutoffNs: Float64Array;
  /** Rounds of link-level and of end-to-end purification (0: none). */
  private readonly linkRounds: number;
  private readonly endRounds: number;
  private readonly pumping: boolean;
  private readonly purifyMap: (out: BellDiagonal, a: BellDiagonal, b: BellDiagonal) => number;
  private readonly purifyScratch: BellDiagonal = new Float64Array(4);
  private readonly reqPurifications: Int32Array;
  private readonly reqPurifyFails: Int32Array;
  private readonly linkPurifications: Float64Array;
  private readonly linkPurifyFails: Float64Array;

  constructor(
    private readonly topology: Topology,
    private readonly options: SimulationOptions = {},
  ) {
    this.plan = planNetwork(topology, options.requestLinks);
    this.handler = this.sim.register(this);
    this.streams = new RngStreams(options.seed ?? 1);
    this.linkRng = this.plan.links.map((l) => this.streams.stream(`link:${l.path}:${l.pos}`));
    this.nodeRng = topology.nodes.map((n) => this.streams.stream(`node:${n.id}`));
    this.classicalRng = this.streams.stream("classical");
    this.swapNoise = topology.nodes.map(swapNoise);
    this.outages = topology.links.map(
      (l) => new OutageSchedule(l.outages, l.intermittency, this.streams.stream(`outage:${l.id}`)),
    );
    this.linkSetDown = new Uint8Array(topology.links.length);
    const nn = topology.nodes.length;
    this.nodeDiscarded = new Int32Array(nn);
    this.nodeOccupied = new Int32Array(nn);
    this.nodeOccupiedMax = new Int32Array(nn);
    this.nodeOccupiedIntegral = new Float64Array(nn);
    this.nodeOccupiedSince = new Float64Array(nn);
    this.nodeStorage = topology.nodes.map(() => new SampleSet());
    const bin = options.timelineBinNs;
    if (bin !== undefined && !(bin > 0 && Number.isFinite(bin)))
      throw new RangeError(`timelineBinNs must be a positive number of ns, got ${bin}`);
    this.timelineBinNs = bin ?? 0;
    this.memories = topology.nodes.map((n) => memoryDecay(n.memory, `node ${n.id}: memory`));
    this.nodeCutoffNs = Float64Array.from(topology.nodes, (n) => n.cutoffNs);

    const pur = topology.purification;
    this.linkRounds = pur?.level === "link" ? pur.rounds : 0;
    this.endRounds = pur?.level === "end-to-end" ? pur.rounds : 0;
    this.pumping = pur?.mode === "pumping";
    this.purifyMap = pur?.scheme === "dejmps" ? dejmps : bbpssw;

    const qubits = this.plan.qubits;
    const nq = qubits.length;
    this.totalQubits = this.plan.totalMemoryQubits;
    this.qNode = Int32Array.from(qubits, (q) => q.node);
    this.qPath = Int32Array.from(qubits, (q) => q.path);
    this.qPos = Int32Array.from(qubits, (q) => q.pos);
    this.qPair = new Int32Array(nq).fill(NONE);
    this.qStoredAt = new Float64Array(nq);
    this.qGen = new Int32Array(nq);
    const ports = this.plan.ports;
    this.qPort = new Int32Array(nq);
    this.qLink = new Int32Array(nq);
    this.portStart = new Int32Array(ports.length + 1);
    this.freeList = new Int32Array(nq);
    this.freeCount = new Int32Array(ports.length);
    this.storedList = new Int32Array(nq);
    this.storedCount = new Int32Array(ports.length);
    for (let k = 0; k < ports.length; k++) {
      const port = ports[k];
      const start = this.portStart[k];
      this.portStart[k + 1] = start + port.qubits.length;
      // Stacked so that the port's first qubit is taken first.
      port.qubits.forEach((q, i) => {
        this.freeList[start + port.qubits.length - 1 - i] = q;
        this.qPort[q] = k;
        this.qLink[q] =
          this.plan.paths[port.path].links[port.side === SIDE_LEFT ? port.pos - 1 : port.pos].index;
      });
      this.freeCount[k] = port.qubits.length;
    }
    this.swapScheduled = new Uint8Array(ports.length);

    const nl = this.plan.links.length;
    this.linkAttempts = new Float64Array(nl);
    this.linkSuccesses = new Float64Array(nl);
    this.linkFidelity = this.plan.links.map(() => new SampleSet());
    this.linkPurifications = new Float64Array(nl);
    this.linkPurifyFails = new Float64Array(nl);
    this.linkWaiting = new Uint8Array(nl);
    this.pathLinkDown = new Uint8Array(nl);
    const links = this.plan.links;
    this.topologyLinkUses = topology.links.map(() => [] as number[]);
    for (const l of links) this.topologyLinkUses[l.topologyLink].push(l.index);
    this.linkPath = Int32Array.from(links, (l) => l.path);
    this.linkPos = Int32Array.from(links, (l) => l.pos);
    this.linkLeftPort = Int32Array.from(links, (l) => l.leftPort);
    this.linkRightPort = Int32Array.from(links, (l) => l.rightPort);
    this.linkLogFail = Float64Array.from(links, (l) => Math.log1p(-l.model.successProbability));
    this.linkPeriodNs = Float64Array.from(links, (l) => l.model.attemptPeriodNs);
    this.linkHeraldDelayNs = Float64Array.from(links, (l) => l.model.heraldDelayNs);
    this.linkStoredBeforeHeraldNs = Float64Array.from(links, (l) => l.model.storedBeforeHeraldNs);
    this.linkLatencyNs = Float64Array.from(links, (l) => l.classical.latencyNs);
    this.linkState = links.map((l) => l.model.state);
    // Links with outages, or with a probability the random stream rejects, take the general path.
    this.linkPlainDraw = Uint8Array.from(links, (l) => {
      const p = l.model.successProbability;
      return this.outages[l.topologyLink].never && p > 0 && p <= 1 ? 1 : 0;
    });
    this.pathRateHz = Float64Array.from(this.plan.paths, (p) => p.request.rateHz);
    this.pathLast = Int32Array.from(this.plan.paths, (p) => p.nodes.length - 1);
    this.latencyPrefix = this.plan.paths.map((p) => exactLatencySums(p.links.map((l) => l.classical)));
    this.timelineAttempts = this.plan.links.map(() => new Float64Array(0));
    this.timelineSuccesses = this.plan.links.map(() => new Float64Array(0));
    const nr = this.plan.paths.length;
    this.reqDelivered = new Int32Array(nr);
    this.reqLowFidelity = new Int32Array(nr);
    this.reqSwaps = new Int32Array(nr);
    this.reqSwapFails = new Int32Array(nr);
    this.reqPurifications = new Int32Array(nr);
    this.reqPurifyFails = new Int32Array(nr);
    this.reqDone = new Uint8Array(nr);
    this.reqExpired = new Uint8Array(nr);
    this.reqEndNs = new Float64Array(nr).fill(Number.NaN);
    this.reqLastDelivery = new Float64Array(nr);
    this.reqFidelity = this.plan.paths.map(() => new SampleSet());
    this.reqLatency = this.plan.paths.map(() => new SampleSet());
    this.reqAppFidelity = this.plan.paths.map(() => new SampleSet());
    this.reqChsh = this.plan.paths.map((p) =>
      p.request.application?.kind === "chsh" ? new ChshTest() : null,
    );
    this.appRng = this.streams.stream("applications");
    this.activeRequests = nr;
    this.growPairs(Math.max(16, nq));
  }

  /** Canonical ID of the topology link under path link `l` (for observations). */
  private linkIdOf(l: number): string {
    return this.topology.links[this.plan.links[l].topologyLink].id;
  }

  /** Runs until `untilNs` (or until every request is complete) and returns the report. */
  run(untilNs: number): SimulationReport {
    if (!(untilNs > 0)) throw new RangeError(`simulation time must be > 0 ns, got ${untilNs}`);
    this.advance(untilNs);
    return this.report();
  }

  /** The current simulated time in ns. */
  get nowNs(): number {
    return this.sim.now;
  }

  /** True once every request has completed or expired: the simulation advances no further. */
  get finished(): boolean {
    return this.activeRequests === 0;
  }

  /**
   * Advances the simulation to `untilNs` (≥ the current time), or until every request is complete;
   * may be called again with later times. Advancing in any number of steps gives the same results,
   * to the bit, as one `run` to the final time. With `maxEvents`, returns after at most that many
   * events even if `untilNs` is not reached (the clock then stays at the last event's time).
   *
   * @returns true if `untilNs` was reached (or every request is complete), false if stopped by `maxEvents`.
   */
  advance(untilNs: number, maxEvents = Number.POSITIVE_INFINITY): boolean {
    if (!(untilNs >= this.sim.now))
      throw new RangeError(`simulation time must be >= now (${this.sim.now} ns), got ${untilNs}`);
    if (!(maxEvents >= 0)) throw new RangeError(`maxEvents must be a non-negative number, got ${maxEvents}`);
    this.growTimeline(untilNs);
    if (!this.started) this.startUp();
    if (this.activeRequests === 0) return true;
    const every = this.options.progressEvery ?? 200_000;
    const progress = this.options.onProgress;
    let left = maxEvents;
    for (;;) {
      const cap = progress ? Math.min(every, left) : left;
      const r = this.sim.run({ untilNs, maxEvents: cap });
      left -= r.events;
      progress?.(this.sim.now, this.sim.eventsProcessed);
      if (r.reason !== "maxEvents" || this.activeRequests === 0) return true;
      if (left <= 0) return false;
    }
  }

  /** The report at the current simulated time; the simulation can be advanced further afterwards. */
  currentReport(): SimulationReport {
    return this.report();
  }

  /** The one-time start-up: expected success per link to the observer, deadlines, first attempts. */
  private startUp(): void {
    this.started = true;
    const observer = this.options.observer;
    if (observer) {
      const seen = new Set<number>();
      for (const l of this.plan.links) {
        if (seen.has(l.topologyLink)) continue;
        seen.add(l.topologyLink);
        observer.linkExpectedSuccess(this.topology.links[l.topologyLink].id, l.model.successProbability);
      }
    }
    this.plan.paths.forEach((p, r) => {
      if (Number.isFinite(p.request.deadlineNs))
        this.sim.scheduleAt(p.request.deadlineNs, this.handler, DEADLINE, r);
    });
    for (let l = 0; l < this.plan.links.length; l++) this.startGeneration(l);
  }

  /**
   * Makes the timeline bins cover every time up to `untilNs` (bin ⌊untilNs / width⌋ included), so that
   * no attempt made by then is dropped, however the run is split; bins past the current time are not
   * reported.
   */
  private growTimeline(untilNs: number): void {
    if (!(this.timelineBinNs > 0 && Number.isFinite(untilNs))) return;
    const bins = Math.ceil(untilNs / this.timelineBinNs);
    if (bins > 1e6)
      throw new RangeError(
        `a timeline of ${bins} bins is too long; use a bin of at least ${untilNs / 1e6} ns`,
      );
    const need = Math.floor(untilNs / this.timelineBinNs) + 1;
    const have = this.timelineAttempts[0]?.length ?? 0;
    if (need <= have) return;
    const size = Math.max(need, Math.min(2 * have, 1e6 + 1));
    for (let i = 0; i < this.plan.links.length; i++) {
      const a = new Float64Array(size);
      a.set(this.timelineAttempts[i]);
      this.timelineAttempts[i] = a;
      const s = new Float64Array(size);
      s.set(this.timelineSuccesses[i]);
      this.timelineSuccesses[i] = s;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Events

  handleEvent(kind: number, data: number, sim: Simulator): void {
    switch (kind) {
      case HERALD:
        this.onHerald(data, sim.now);
        break;
      case SWAP:
        this.onSwap(data, sim.now);
        break;
      case CUTOFF:
        this.onCutoff(data, sim.now);
        break;
      case FREE:
        this.onFree(data);
        break;
      case DELIVER:
        this.onDeliver(data, sim.now);
        break;
      case PURIFIED:
        this.onPurified(data, sim.now);
        break;
      case RESUME:
        this.linkWaiting[data] = 0;
        this.startGeneration(data);
        break;
      case DEADLINE:
        if (!this.reqDone[data]) {
          this.reqExpired[data] = 1;
          this.finishRequest(data, sim.now);
        }
        break;
    }
  }

  /**
   * Pairs free qubits at both ends of path link `l` (its global index) and starts attempts on each such
   * memory pair.
   */
  private startGeneration(l: number): void {
    const path = this.linkPath[l];
    if (this.reqDone[path] || this.linkWaiting[l]) return;
    const freeCount = this.freeCount;
    const leftPort = this.linkLeftPort[l];
    const rightPort = this.linkRightPort[l];
    if (freeCount[leftPort] === 0 || freeCount[rightPort] === 0) return;
    const now = this.sim.now;
    const rateHz = this.pathRateHz[path];
    if (rateHz > 0) {
      // A rate request a whole pair ahead of rate·t starts no new attempts until the next pair is due.
      const dueNs = (this.reqDelivered[path] / rateHz) * 1e9;
      if (dueNs > now) {
        this.linkWaiting[l] = 1;
        this.sim.scheduleAt(dueNs, this.handler, RESUME, l);
        return;
      }
    }
    const pos = this.linkPos[l];
    const periodNs = this.linkPeriodNs[l];
    const heraldDelayNs = this.linkHeraldDelayNs[l];
    while (freeCount[leftPort] > 0 && freeCount[rightPort] > 0) {
      const q0 = this.freeList[this.portStart[leftPort] + --freeCount[leftPort]];
      const q1 = this.freeList[this.portStart[rightPort] + --freeCount[rightPort]];
      const p = this.allocPair();
      this.pQ0[p] = q0;
      this.pQ1[p] = q1;
      this.pLo[p] = pos;
      this.pHi[p] = pos + 1;
      this.pPhase[p] = GENERATING;
      this.pGenStart[p] = now;
      this.pReported[p] = 0;
      if (this.pathLinkDown[l]) {
        // The link is down: the pair attempts in vain until it is set up again (see setLinkUp).
        this.pAttempts[p] = 0;
        this.pHerald[p] = 0;
        continue;
      }
      let k: number;
      if (this.linkPlainDraw[l]) {
        // What linkRng[l].geometric(p) draws and returns, 1 + ⌊ln u / ln(1 − p)⌋ with u = 1 − random(),
        // with ln(1 − p) taken once per link instead of per draw: the same numbers.
        const u = 1 - this.linkRng[l].random();
        const logFail = this.linkLogFail[l];
        k = logFail === Number.NEGATIVE_INFINITY ? 1 : 1 + Math.floor(Math.log(u) / logFail);
      } else {
        k = this.drawAttempts(this.plan.links[l], now);
      }
      this.linkAttempts[l] += k;
      this.pAttempts[p] = k; // for the partial count if the run ends before the herald
      this.pHerald[p] = this.sim.schedule((k - 1) * periodNs + heraldDelayNs, this.handler, HERALD, p);
    }
  }

  /**
   * Sets a topology link down or up from the current simulated time on (for a live twin, or to script
   * a failure). While it is down no attempt on it succeeds: a memory pair whose drawn success falls at
   * or after the down time loses that draw and keeps attempting in vain (its attempts count, as during
   * a scheduled outage); when the link comes up, its attempts are drawn again from the first attempt at
   * or after the up time. Attempts are memoryless, so this is exact. A success drawn before the down
   * time still heralds. Pairs already stored are kept. Setting a link to the state it is in does
   * nothing. Down periods count as outages in the report.
   */
  setLinkUp(linkId: string, up: boolean): void {
    const li = this.topology.links.findIndex((l) => l.id === linkId);
    if (li < 0) throw new RangeError(`no link '${linkId}' in topology '${this.topology.name}'`);
    if ((this.linkSetDown[li] === 0) === up) return;
    const now = this.sim.now;
    this.linkSetDown[li] = up ? 0 : 1;
    this.outages[li].setDown(now, !up);
    const uses = this.topologyLinkUses[li];
    for (const l of uses) this.pathLinkDown[l] = up ? 0 : 1;
    if (uses.length === 0) return;
    for (let p = 0; p < this.pairCap; p++) {
      if (this.pPhase[p] !== GENERATING) continue;
      const l = this.qLink[this.pQ0[p]];
      if (this.plan.links[l].topologyLink !== li) continue;
      const periodNs = this.linkPeriodNs[l];
      const start = this.pGenStart[p];
      if (!up) {
        if (this.pHerald[p] === 0) continue;
        // The successful attempt began before now: its herald stands.
        if (start + (this.pAttempts[p] - 1) * periodNs < now) continue;
        this.sim.cancel(this.pHerald[p]);
        this.linkAttempts[l] -= this.pAttempts[p];
        this.pAttempts[p] = 0;
        this.pHerald[p] = 0;
      } else {
        if (this.pHerald[p] !== 0) continue;
        // Attempts before now failed; draw again from the first attempt at or after now.
        const failed = Math.max(0, Math.ceil((now - start) / periodNs));
        const k = this.drawAttempts(this.plan.links[l], start, failed);
        this.linkAttempts[l] += k;
        this.pAttempts[p] = k;
        const at = Math.max(now, start + (k - 1) * periodNs + this.linkHeraldDelayNs[l]);
        this.pHerald[p] = this.sim.scheduleAt(at, this.handler, HERALD, p);
      }
    }
  }

  /**
   * Tells the observer the attempts made so far by memory pairs still generating (as `linkAttempts`
   * with no success), so that attempt counts keep flowing between heralds, e.g. while a link is down.
   * Their herald then reports only the rest. Right after a flush, the attempts the observer has been
   * told per link equal the report's `attempts`. Changes nothing else.
   */
  flushAttempts(): void {
    const observer = this.options.observer;
    if (!observer) return;
    const now = this.sim.now;
    for (let p = 0; p < this.pairCap; p++) {
      if (this.pPhase[p] !== GENERATING) continue;
      const l = this.qLink[this.pQ0[p]];
      const elapsed = Math.floor((now - this.pGenStart[p]) / this.linkPeriodNs[l]);
      const made = this.pHerald[p] === 0 ? elapsed : Math.min(this.pAttempts[p], elapsed);
      if (made > this.pReported[p]) {
        observer.linkAttempts(this.linkIdOf(l), made - this.pReported[p], 0);
        this.pReported[p] = made;
      }
    }
  }

  /** Whether a topology link is up (not set down with {@link NetworkSimulation.setLinkUp}). */
  isLinkUp(linkId: string): boolean {
    const li = this.topology.links.findIndex((l) => l.id === linkId);
    if (li < 0) throw new RangeError(`no link '${linkId}' in topology '${this.topology.name}'`);
    return this.linkSetDown[li] === 0;
  }

  /**
   * Attempts up to and including the first success for a memory pair starting at `startNs`, of which
   * the first `failedBefore` are known to have failed. Attempts
   * while the link is down all fail; because attempts are memoryless, a success drawn to fall in or
   * after an outage is redrawn from the first attempt after it, which is exact.
   */
  private drawAttempts(link: LinkPlan, startNs: number, failedBefore = 0): number {
    const rng = this.linkRng[link.index];
    const m = link.model;
    const periodNs = m.attemptPeriodNs;
    const schedule = this.outages[link.topologyLink];
    let failed = failedBefore;
    for (;;) {
      const k = rng.geometric(m.successProbability);
      if (schedule.never) return failed + k;
      const i = schedule.firstEndingAfter(startNs + failed * periodNs);
      if (i < 0 || schedule.start(i) > startNs + (failed + k - 1) * periodNs) return failed + k;
      failed = Math.max(failed, Math.ceil((schedule.end(i) - startNs) / periodNs));
    }
  }

  /** Adds `count` attempts made every `periodNs` from `startNs` to the link's timeline bins. */
  private binAttempts(link: number, startNs: number, count: number, periodNs: number): void {
    binAttemptsInto(this.timelineAttempts[link], this.timelineBinNs, startNs, count, periodNs);
  }

  private onHerald(p: number, now: number): void {
    const q0 = this.pQ0[p];
    const q1 = this.pQ1[p];
    const l = this.qLink[q0]; // a link pair's lower end generates on its link
    const path = this.linkPath[l];
    this.linkSuccesses[l]++;
    const observer = this.options.observer;
    if (observer) observer.linkAttempts(this.linkIdOf(l), this.pAttempts[p] - this.pReported[p], 1);
    if (this.timelineBinNs > 0) {
      const periodNs = this.linkPeriodNs[l];
      this.binAttempts(l, this.pGenStart[p], this.pAttempts[p], periodNs);
      const b = Math.floor((this.pGenStart[p] + (this.pAttempts[p] - 1) * periodNs) / this.timelineBinNs);
      if (b < this.timelineSuccesses[l].length) this.timelineSuccesses[l][b]++;
    }
    if (this.reqDone[path]) {
      this.releasePair(p);
      this.returnQubit(q0);
      this.returnQubit(q1);
      return;
    }
    const s = this.pState[p];
    const heralded = this.linkState[l];
    s[0] = heralded[0];
    s[1] = heralded[1];
    s[2] = heralded[2];
    s[3] = heralded[3];
    this.linkFidelity[l].add(s[0]);
    if (observer) observer.pairFidelity(this.linkIdOf(l), s[0]);
    this.pPhase[p] = STORED;
    this.pDead[p] = 0;
    // The qubits have decohered since they took their halves of the pair.
    const emitted = now - this.linkStoredBeforeHeraldNs[l];
    this.pT[p] = emitted;
    this.pFrame0[p] = now;
    this.pFrame1[p] = now;
    this.store(q0, p, now);
    this.store(q1, p, now);
    this.pairReady(p, now);
  }

  /** A pair that nothing is happening to: purify it further, swap it, or deliver it. */
  private pairReady(p: number, now: number): void {
    if (this.linkRounds > 0 && this.pHi[p] - this.pLo[p] === 1 && this.pLevel[p] < this.linkRounds) {
      this.tryPurifyLink(p, now);
      return;
    }
    this.considerSwap(this.pQ0[p], now);
    this.considerSwap(this.pQ1[p], now);
    this.considerDelivery(p);
  }

  /**
   * Link-level purification. Recurrence: two pairs of the same level on the same link make one of the
   * next level. Pumping: a fresh pair lifts the best unfinished one by a level.
   */
  private tryPurifyLink(p: number, now: number): void {
    const q0 = this.pQ0[p];
    const lo = this.pLo[p];
    const port = this.qPort[q0]; // the lower end's port, facing the link
    const start = this.portStart[port];
    const end = start + this.storedCount[port];
    let partner = NONE;
    for (let i = start; i < end; i++) {
      const o = this.qPair[this.storedList[i]];
      if (o === p || this.pBusy[o] || this.pHi[o] !== lo + 1 || this.pLevel[o] >= this.linkRounds) continue;
      if (this.pumping) {
        // Pump the most purified pair with a fresh one; two fresh pairs start a new ladder.
        const fresh = this.pLevel[p] === 0 ? p : this.pLevel[o] === 0 ? o : NONE;
        if (fresh === NONE) continue;
        if (partner === NONE || this.pLevel[o] > this.pLevel[partner]) partner = o;
      } else if (this.pLevel[o] === this.pLevel[p]) {
        partner = o;
        break;
      }
    }
    if (partner === NONE) return;
    let keep = partner;
    let sacrifice = p;
    if (this.pumping && this.pLevel[p] > this.pLevel[partner]) {
      keep = p;
      sacrifice = partner;
    }
    const l = this.qLink[q0];
    this.purify(keep, sacrifice, now, this.linkRng[l], this.linkLatencyNs[l]);
    this.linkPurifications[l]++;
  }

  /**
   * One purification round on pairs `keep` and `sacrifice`, which share their end nodes: bilateral
   * CNOTs and measurement of the sacrificed pair (its memories are free at once); the kept pair is
   * usable once the ends have exchanged their outcomes, one classical latency later.
   */
  private purify(keep: number, sacrifice: number, now: number, rng: Rng, latencyNs: number): void {
    this.decayTo(keep, now);
    this.decayTo(sacrifice, now);
    const out = this.purifyScratch;
    const success = this.purifyMap(out, this.pState[keep], this.pState[sacrifice]);
    const ok = rng.bernoulli(Math.min(1, success));
    if (ok) {
      const s = this.pState[keep];
      s[0] = out[0];
      s[1] = out[1];
      s[2] = out[2];
      s[3] = out[3];
    }
    this.pPurifyOk[keep] = ok ? 1 : 0;
    this.pBusy[keep] = 1;
    const s0 = this.pQ0[sacrifice];
    const s1 = this.pQ1[sacrifice];
    this.unstore(s0, now);
    this.unstore(s1, now);
    this.returnQubit(s0);
    this.returnQubit(s1);
    this.sim.scheduleAt(now + latencyNs, this.handler, PURIFIED, this.pGen[keep] * PAIR_ID_SPAN + keep);
  }

  private onPurified(data: number, now: number): void {
    const gen = Math.floor(data / PAIR_ID_SPAN);
    const p = data - gen * PAIR_ID_SPAN;
    if (this.pGen[p] !== gen) return;
    const q0 = this.pQ0[p];
    const q1 = this.pQ1[p];
    if (this.qPair[q0] !== p || this.qPair[q1] !== p) return; // discarded meanwhile (cutoff)
    this.pBusy[p] = 0;
    const path = this.qPath[q0];
    const endToEnd = this.pHi[p] - this.pLo[p] === this.pathLast[path] && this.endRounds > 0;
    if (endToEnd) this.reqPurifications[path]++;
    if (!this.pPurifyOk[p]) {
      if (endToEnd) this.reqPurifyFails[path]++;
      else this.linkPurifyFails[this.qLink[q0]]++;
      this.unstore(q0, now);
      this.unstore(q1, now);
      this.returnQubit(q0);
      this.returnQubit(q1);
      return;
    }
    this.pLevel[p]++;
    if (endToEnd) this.endToEndReady(p, now);
    else this.pairReady(p, now);
  }

  private store(q: number, p: number, now: number): void {
    this.attach(q, p);
    this.qStoredAt[q] = now;
    this.setOccupied(this.occupied + 1, now);
    this.setNodeOccupied(this.qNode[q], 1, now);
    const port = this.qPort[q];
    this.storedList[this.portStart[port] + this.storedCount[port]++] = q;
    const cutoff = this.nodeCutoffNs[this.qNode[q]];
    if (Number.isFinite(cutoff)) {
      // Strictly after storedAt + cutoff: a qubit exactly `cutoff` old is still usable, and any event
      // at that instant fires first.
      this.sim.scheduleAt(nextAfter(now + cutoff), this.handler, CUTOFF, q);
    }
  }

  /** Checks whether the node holding qubit q can swap for its path, and schedules it. */
  private considerSwap(q: number, now: number): void {
    const path = this.qPath[q];
    const pos = this.qPos[q];
    const plan = this.plan.paths[path];
    if (pos === 0 || pos === plan.nodes.length - 1) return;
    const portL = plan.portBase + 2 * pos + SIDE_LEFT;
    if (this.swapScheduled[portL]) return;
    if (this.findSwapPartners(plan, pos, now) === null) return;
    this.swapScheduled[portL] = 1;
    const node = this.topology.nodes[plan.nodes[pos]];
    this.sim.scheduleAt(now + node.processingDelayNs, this.handler, SWAP, plan.portBase + 2 * pos);
  }

  private readonly partners = new Int32Array(2);

  /**
   * The oldest stored left and right qubits at path position `pos` that may be swapped now, or null.
   * ASAP: any pair on each side. Nested: the pairs must span exactly this node's segments of the
   * doubling scheme, and the node must already know this (the swap messages that made them have
   * arrived).
   */
  private findSwapPartners(plan: PathPlan, pos: number, now: number): Int32Array | null {
    const portL = plan.portBase + 2 * pos + SIDE_LEFT;
    const portR = portL + 1;
    const stored = this.storedList;
    const leftStart = this.portStart[portL];
    const leftEnd = leftStart + this.storedCount[portL];
    const rightStart = this.portStart[portR];
    const rightEnd = rightStart + this.storedCount[portR];
    if (leftEnd === leftStart || rightEnd === rightStart) return null;
    if (!plan.nested) {
      const ql = this.firstSwappable(leftStart, leftEnd);
      if (ql === NONE) return null;
      const qr = this.firstSwappable(rightStart, rightEnd);
      if (qr === NONE) return null;
      this.partners[0] = ql;
      this.partners[1] = qr;
      return this.partners;
    }
    const wantLo = plan.nestLo[pos];
    const wantHi = plan.nestHi[pos];
    let ql = NONE;
    for (let i = leftStart; i < leftEnd; i++) {
      const p = this.qPair[stored[i]];
      if (this.pLo[p] === wantLo && this.pFrame1[p] <= now && this.swappable(p)) {
        ql = stored[i];
        break;
      }
    }
    if (ql === NONE) return null;
    for (let i = rightStart; i < rightEnd; i++) {
      const p = this.qPair[stored[i]];
      if (this.pHi[p] === wantHi && this.pFrame0[p] <= now && this.swappable(p)) {
        this.partners[0] = ql;
        this.partners[1] = stored[i];
        return this.partners;
      }
    }
    return null;
  }

  /** Not in a purification round, and done with link-level purification if it is a link pair. */
  private swappable(p: number): boolean {
    if (this.pBusy[p]) return false;
    return this.linkRounds === 0 || this.pHi[p] - this.pLo[p] > 1 || this.pLevel[p] >= this.linkRounds;
  }

  /** The first qubit in storedList[start … end − 1] whose pair may be swapped, or NONE. */
  private firstSwappable(start: number, end: number): number {
    const stored = this.storedList;
    for (let i = start; i < end; i++) if (this.swappable(this.qPair[stored[i]])) return stored[i];
    return NONE;
  }

  private onSwap(portBase: number, now: number): void {
    this.swapScheduled[portBase + SIDE_LEFT] = 0;
    const port = this.plan.ports[portBase];
    const path = port.path;
    const pos = port.pos;
    const plan = this.plan.paths[path];
    if (this.reqDone[path]) return;
    const found = this.findSwapPartners(plan, pos, now);
    if (found === null) return;
    const qL = found[0];
    const qR = found[1];
    const pL = this.qPair[qL];
    const pR = this.qPair[qR];
    const nodeIndex = plan.nodes[pos];
    const node = this.topology.nodes[nodeIndex];
    this.unstore(qL, now);
    this.unstore(qR, now);
    this.reqSwaps[path]++;
    // Far ends: the lower end of the left pair, the upper end of the right pair.
    const qa = this.pQ0[pL];
    const qb = this.pQ1[pR];
    const latA = this.messageDelay(plan, pos, this.qPos[qa]);
    const latB = this.messageDelay(plan, pos, this.qPos[qb]);
    const failed = !this.nodeRng[nodeIndex].bernoulli(node.swapSuccessProbability);
    // A far end that no longer holds its pair has already given it up (its message has not arrived
    // here yet): the swap then joins nothing, and only the other end needs telling.
    const broken = this.qPair[qa] !== pL || this.qPair[qb] !== pR;
    if (failed || broken) {
      if (failed) this.reqSwapFails[path]++;
      // Both pairs are lost; the far ends learn it from this node's message.
      this.killPairAtEnd(pL, qa, now + latA);
      this.killPairAtEnd(pR, qb, now + latB);
      this.returnQubit(qL);
      this.returnQubit(qR);
      this.considerSwap(qL, now);
      return;
    }
    this.decayTo(pL, now);
    this.decayTo(pR, now);
    const p = this.allocPair();
    const s = this.pState[p];
    swapBellDiagonal(s, this.pState[pL], this.pState[pR], this.swapNoise[nodeIndex]);
    this.pQ0[p] = qa;
    this.pQ1[p] = qb;
    this.pT[p] = now;
    this.pLo[p] = this.pLo[pL];
    this.pHi[p] = this.pHi[pR];
    this.pDead[p] = this.pDead[pL] | this.pDead[pR];
    this.pPhase[p] = STORED;
    this.pFrame0[p] = Math.max(this.pFrame0[pL], now + latA);
    this.pFrame1[p] = Math.max(this.pFrame1[pR], now + latB);
    this.attach(qa, p);
    this.attach(qb, p);
    this.returnQubit(qL);
    this.returnQubit(qR);
    // More swaps may be possible here (several memories), and at the far ends once they learn.
    this.considerSwap(qL, now);
    if (plan.nested) {
      this.scheduleRecheck(qa, this.pFrame0[p]);
      this.scheduleRecheck(qb, this.pFrame1[p]);
    }
    this.considerDelivery(p);
  }

  /** In nested swapping a node may act only once the message about its new partner has arrived. */
  private scheduleRecheck(q: number, atNs: number): void {
    const plan = this.plan.paths[this.qPath[q]];
    const pos = this.qPos[q];
    if (pos === 0 || pos === plan.nodes.length - 1) return;
    const portL = plan.portBase + 2 * pos + SIDE_LEFT;
    if (this.swapScheduled[portL]) return;
    this.swapScheduled[portL] = 1;
    const node = this.topology.nodes[plan.nodes[pos]];
    this.sim.scheduleAt(atNs + node.processingDelayNs, this.handler, SWAP, plan.portBase + 2 * pos);
  }

  private considerDelivery(p: number): void {
    const path = this.qPath[this.pQ0[p]];
    const plan = this.plan.paths[path];
    if (this.pLo[p] !== 0 || this.pHi[p] !== plan.nodes.length - 1 || !this.swappable(p)) return;
    const at = Math.max(this.sim.now, this.pFrame0[p], this.pFrame1[p]);
    this.sim.scheduleAt(at, this.handler, DELIVER, this.pGen[p] * PAIR_ID_SPAN + p);
  }

  private onDeliver(data: number, now: number): void {
    const gen = Math.floor(data / PAIR_ID_SPAN);
    const p = data - gen * PAIR_ID_SPAN;
    if (this.pGen[p] !== gen) return; // the pair was discarded meanwhile
    const q0 = this.pQ0[p];
    const q1 = this.pQ1[p];
    const path = this.qPath[q0];
    if (this.qPair[q0] !== p || this.qPair[q1] !== p) return; // the pair was discarded meanwhile
    if (this.endRounds > 0 && !this.reqDone[path] && !this.pDead[p] && this.pLevel[p] < this.endRounds) {
      this.endToEndReady(p, now);
      return;
    }
    this.unstore(q0, now);
    this.unstore(q1, now);
    if (!this.reqDone[path]) {
      if (this.pDead[p]) {
        // A pair merged with one that an end had already given up: its state is lost.
      } else {
        this.decayTo(p, now);
        const f = bellDiagonalFidelity(this.pState[p]);
        const req = this.plan.paths[path].request;
        if (f >= req.minFidelity) {
          this.reqDelivered[path]++;
          this.reqFidelity[path].add(f);
          this.reqLatency[path].add((now - this.reqLastDelivery[path]) / 1e9);
          this.options.observer?.pairDelivered(
            { requestId: req.id, srcNodeId: req.src, dstNodeId: req.dst },
            f,
            (now - this.reqLastDelivery[path]) / 1e9,
          );
          this.reqLastDelivery[path] = now;
          this.runApplication(path, this.pState[p]);
          this.options.onPairDelivered?.(req.id, this.pState[p], now);
          if (this.reqDelivered[path] >= req.pairs) this.finishRequest(path, now);
        } else {
          this.reqLowFidelity[path]++;
        }
      }
    }
    this.returnQubit(q0);
    this.returnQubit(q1);
  }

  /** Hands a delivered pair to its request's application. */
  private runApplication(path: number, pair: BellDiagonal): void {
    const app = this.plan.paths[path].request.application;
    if (app === undefined) return;
    if (app.kind === "teleport")
      this.reqAppFidelity[path].add(teleportThroughPair(pair, app.theta, app.phi, this.appRng));
    else this.reqChsh[path]!.record(pair, this.appRng);
  }

  private applicationReport(path: number): ApplicationReport | undefined {
    const app = this.plan.paths[path].request.application;
    if (app === undefined) return undefined;
    if (app.kind === "teleport")
      return {
        kind: "teleport",
        theta: app.theta,
        phi: app.phi,
        fidelity: distribution(this.reqAppFidelity[path]),
      };
    const r = this.reqChsh[path]!.result();
    return { kind: "chsh", rounds: r.rounds, s: r.s, s_stderr: r.sStderr, correlators: r.correlators };
  }

  /**
   * An end-to-end pair known at both ends that still needs purification rounds: pair it with another
   * one of the same level (recurrence) or lift the best one with it (pumping); else it waits.
   */
  private endToEndReady(p: number, now: number): void {
    if (this.pLevel[p] >= this.endRounds) {
      this.onDeliver(this.pGen[p] * PAIR_ID_SPAN + p, now);
      return;
    }
    const q0 = this.pQ0[p];
    const path = this.qPath[q0];
    const plan = this.plan.paths[path];
    const last = plan.nodes.length - 1;
    const port = plan.portBase + SIDE_RIGHT;
    const start = this.portStart[port];
    const end = start + this.storedCount[port];
    let partner = NONE;
    for (let i = start; i < end; i++) {
      const o = this.qPair[this.storedList[i]];
      if (
        o === p ||
        this.pBusy[o] ||
        this.pDead[o] ||
        this.pHi[o] !== last ||
        this.pLevel[o] >= this.endRounds
      )
        continue;
      if (Math.max(this.pFrame0[o], this.pFrame1[o]) > now) continue; // not yet known at both ends
      if (this.pumping ? this.pLevel[o] === 0 || this.pLevel[p] === 0 : this.pLevel[o] === this.pLevel[p]) {
        if (partner === NONE || this.pLevel[o] > this.pLevel[partner]) partner = o;
      }
    }
    if (partner === NONE) return;
    let keep = partner;
    let sacrifice = p;
    if (this.pLevel[p] > this.pLevel[partner]) {
      keep = p;
      sacrifice = partner;
    }
    this.purify(keep, sacrifice, now, this.classicalRng, this.messageDelay(plan, 0, last));
  }

  private onCutoff(q: number, now: number): void {
    const p = this.qPair[q];
    if (p === NONE) return;
    const node = this.topology.nodes[this.qNode[q]];
    if (now - this.qStoredAt[q] <= node.cutoffNs) return; // a later storage of this qubit
    // The node gives up its qubit now and tells the pair's other end.
    if (!this.pDead[p]) {
      this.decoheredDiscarded++;
      this.nodeDiscarded[this.qNode[q]]++;
    }
    const other = this.pQ0[p] === q ? this.pQ1[p] : this.pQ0[p];
    const plan = this.plan.paths[this.qPath[q]];
    this.unstore(q, now);
    this.killPairAtEnd(p, other, now + this.messageDelay(plan, this.qPos[q], this.qPos[other]));
    this.returnQubit(q);
  }

  /**
   * Marks pair p lost and frees its qubit `q` at the other end when the message arrives; if that end
   * swaps the qubit first, the merged pair inherits the loss (it is discarded on delivery).
   */
  private killPairAtEnd(p: number, q: number, atNs: number): void {
    this.pDead[p] = 1;
    if (this.qPair[q] !== p) return;
    this.sim.scheduleAt(atNs, this.handler, FREE, q + this.qGen[q] * this.qPair.length);
  }

  private onFree(data: number): void {
    const n = this.qPair.length;
    const q = data % n;
    const gen = Math.floor(data / n);
    if (this.qGen[q] !== gen) return;
    if (this.qPair[q] === NONE) return;
    this.unstore(q, this.sim.now);
    this.returnQubit(q);
  }

  private finishRequest(path: number, now: number): void {
    if (this.reqDone[path]) return;
    this.reqDone[path] = 1;
    this.reqEndNs[path] = now;
    this.activeRequests--;
    if (this.activeRequests === 0) this.sim.stop();
  }

  // ---------------------------------------------------------------------------------------------
  // Helpers

  /** Takes qubit q off its port's stored list (keeping the others' order), if it is on it. */
  private unstore(q: number, now: number): void {
    const port = this.qPort[q];
    const stored = this.storedList;
    const end = this.portStart[port] + this.storedCount[port];
    let i = this.portStart[port];
    while (i < end && stored[i] !== q) i++;
    if (i === end) return;
    for (; i < end - 1; i++) stored[i] = stored[i + 1];
    this.storedCount[port]--;
    this.setOccupied(this.occupied - 1, now);
    this.setNodeOccupied(this.qNode[q], -1, now);
    this.nodeStorage[this.qNode[q]].add((now - this.qStoredAt[q]) / 1e9);
    this.options.observer?.memoryStorageTime(
      this.topology.nodes[this.qNode[q]].id,
      (now - this.qStoredAt[q]) / 1e9,
    );
  }

  /** Frees a qubit for new generation on its link. */
  private returnQubit(q: number): void {
    this.detach(q);
    this.qGen[q]++; // messages about its previous pair no longer apply
    const port = this.qPort[q];
    this.freeList[this.portStart[port] + this.freeCount[port]++] = q;
    this.startGeneration(this.qLink[q]);
  }

  /** Points qubit q at pair p; a pair record lives while a qubit refers to it. */
  private attach(q: number, p: number): void {
    this.detach(q);
    this.qPair[q] = p;
    this.pRefs[p]++;
  }

  private detach(q: number): void {
    const p = this.qPair[q];
    if (p === NONE) return;
    this.qPair[q] = NONE;
    if (--this.pRefs[p] === 0) this.releasePair(p);
  }

  // The occupancy integrals grow by occupancy × elapsed time; at an unchanged time that adds exactly
  // +0, so it is skipped (qubits are often stored or freed in twos at one instant).
  private setNodeOccupied(node: number, delta: number, now: number): void {
    const since = this.nodeOccupiedSince[node];
    if (now !== since) {
      this.nodeOccupiedIntegral[node] += this.nodeOccupied[node] * (now - since);
      this.nodeOccupiedSince[node] = now;
    }
    const n = this.nodeOccupied[node] + delta;
    this.nodeOccupied[node] = n;
    if (n > this.nodeOccupiedMax[node]) this.nodeOccupiedMax[node] = n;
    if (delta !== 0)
      this.options.observer?.memoryOccupancy(
        this.topology.nodes[node].id,
        n,
        this.topology.nodes[node].memory.qubits,
      );
  }

  private setOccupied(n: number, now: number): void {
    if (now !== this.occupiedSince) {
      this.occupiedIntegral += this.occupied * (now - this.occupiedSince);
      this.occupiedSince = now;
    }
    this.occupied = n;
  }

  /** One-way classical message delay between two positions of a path: latency, jitter and resends. */
  private messageDelay(plan: PathPlan, from: number, to: number): number {
    const lo = Math.min(from, to);
    const hi = Math.max(from, to);
    const prefix = this.latencyPrefix[plan.links[0].path];
    if (prefix !== null) return prefix[hi] - prefix[lo];
    let delay = 0;
    for (let i = lo; i < hi; i++) {
      const c = plan.links[i].classical;
      let hop = c.latencyNs;
      if (c.jitterNs > 0) hop += this.classicalRng.random() * c.jitterNs;
      if (c.lossProbability > 0) {
        // Each lost transmission costs a timeout of two latencies before the resend.
        const tries = this.classicalRng.geometric(1 - c.lossProbability);
        hop += (tries - 1) * 2 * c.latencyNs;
      }
      delay += hop;
    }
    return delay;
  }

  /**
   * Applies memory decoherence to both ends of pair p up to `now`, in one step per storage interval
   * (see decayPair: with T1 on both halves, splitting an interval changes the result at second order).
   */
  private decayTo(p: number, now: number): void {
    const elapsed = now - this.pT[p];
    if (elapsed > 0) {
      const s = this.pState[p];
      const memories = this.memories;
      decayPairWith(
        s,
        s,
        elapsed,
        memories[this.qNode[this.pQ0[p]]],
        elapsed,
        memories[this.qNode[this.pQ1[p]]],
      );
    }
    this.pT[p] = now;
  }

  private allocPair(): number {
    if (this.pairFree.length === 0) this.growPairs(this.pairCap * 2);
    const p = this.pairFree.pop()!;
    this.pGen[p]++;
    this.pDead[p] = 0;
    this.pRefs[p] = 0;
    this.pLevel[p] = 0;
    this.pBusy[p] = 0;
    return p;
  }

  private releasePair(p: number): void {
    if (this.pPhase[p] === RELEASED) return;
    this.pPhase[p] = RELEASED;
    this.pairFree.push(p);
  }

  private growPairs(cap: number): void {
    const old = this.pairCap;
    const grow = <T extends Int32Array | Float64Array | Uint8Array>(a: T, make: (n: number) => T): T => {
      const b = make(cap);
      b.set(a);
      return b;
    };
    this.pQ0 = grow(this.pQ0, (n) => new Int32Array(n));
    this.pQ1 = grow(this.pQ1, (n) => new Int32Array(n));
    this.pT = grow(this.pT, (n) => new Float64Array(n));
    this.pFrame0 = grow(this.pFrame0, (n) => new Float64Array(n));
    this.pFrame1 = grow(this.pFrame1, (n) => new Float64Array(n));
    this.pLo = grow(this.pLo, (n) => new Int32Array(n));
    this.pHi = grow(this.pHi, (n) => new Int32Array(n));
    this.pDead = grow(this.pDead, (n) => new Uint8Array(n));
    this.pRefs = grow(this.pRefs, (n) => new Uint8Array(n));
    // Unused records are RELEASED, as they are when freed, so that only live pairs look GENERATING.
    this.pPhase = grow(this.pPhase, (n) => new Uint8Array(n).fill(RELEASED));
    this.pGenStart = grow(this.pGenStart, (n) => new Float64Array(n));
    this.pAttempts = grow(this.pAttempts, (n) => new Float64Array(n));
    this.pGen = grow(this.pGen, (n) => new Int32Array(n).fill(FIRST_PAIR_GEN));
    this.pLevel = grow(this.pLevel, (n) => new Int32Array(n));
    this.pBusy = grow(this.pBusy, (n) => new Uint8Array(n));
    this.pPurifyOk = grow(this.pPurifyOk, (n) => new Uint8Array(n));
    this.pHerald = grow(this.pHerald, (n) => new Float64Array(n));
    this.pReported = grow(this.pReported, (n) => new Float64Array(n));
    if (cap > PAIR_ID_SPAN) throw new RangeError(`more than ${PAIR_ID_SPAN} pairs in flight`);
    for (let p = old; p < cap; p++) this.pState.push(new Float64Array(4));
    for (let p = cap - 1; p >= old; p--) this.pairFree.push(p);
    this.pairCap = cap;
  }

  // ---------------------------------------------------------------------------------------------
  // Report

  /** The report at the current time. It changes nothing, so the simulation may go on afterwards. */
  private report(): SimulationReport {
    const now = this.sim.now;
    // The occupancy integrals brought up to now, as setOccupied/setNodeOccupied would (without storing).
    const occupiedIntegral =
      now !== this.occupiedSince
        ? this.occupiedIntegral + this.occupied * (now - this.occupiedSince)
        : this.occupiedIntegral;
    const nodeIntegral = (n: number): number =>
      now !== this.nodeOccupiedSince[n]
        ? this.nodeOccupiedIntegral[n] + this.nodeOccupied[n] * (now - this.nodeOccupiedSince[n])
        : this.nodeOccupiedIntegral[n];
    const seconds = now / 1e9;
    return {
      topology: this.topology.name,
      seed: this.options.seed ?? 1,
      simulated_time_s: seconds,
      events: this.sim.eventsProcessed,
      links: this.linkReports(seconds),
      requests: this.plan.paths.map((plan, r) => {
        const req = plan.request;
        const end = Number.isNaN(this.reqEndNs[r]) ? now : this.reqEndNs[r];
        const lat = this.reqLatency[r];
        return {
          id: req.id,
          src: req.src,
          dst: req.dst,
          path: plan.nodes.map((n) => this.topology.nodes[n].id),
          delivered: this.reqDelivered[r],
          delivered_per_s: end > 0 ? this.reqDelivered[r] / (end / 1e9) : 0,
          discarded_low_fidelity: this.reqLowFidelity[r],
          pairs_requested: Number.isFinite(req.pairs) ? req.pairs : null,
          target_rate_hz: req.rateHz > 0 ? req.rateHz : null,
          rate_fraction: req.rateHz > 0 && end > 0 ? this.reqDelivered[r] / (end / 1e9) / req.rateHz : null,
          completed: this.reqDelivered[r] >= req.pairs,
          expired: this.reqExpired[r] === 1,
          fidelity: distribution(this.reqFidelity[r]),
          latency_s: { mean: lat.mean(), p50: lat.quantile(0.5), p99: lat.quantile(0.99) },
          ...(req.application ? { application: this.applicationReport(r) } : {}),
          swaps: this.reqSwaps[r],
          swaps_failed: this.reqSwapFails[r],
          purifications: this.reqPurifications[r],
          purifications_failed: this.reqPurifyFails[r],
        };
      }),
      memory: {
        occupancy_mean: now > 0 && this.totalQubits > 0 ? occupiedIntegral / now / this.totalQubits : 0,
        decohered_discarded: this.decoheredDiscarded,
        nodes: this.topology.nodes.map((node, n) => {
          const st = this.nodeStorage[n];
          return {
            id: node.id,
            qubits: node.memory.qubits,
            occupancy_mean:
              now > 0 && node.memory.qubits > 0 ? nodeIntegral(n) / now / node.memory.qubits : 0,
            occupancy_max: this.nodeOccupiedMax[n],
            storage_time_s: {
              mean: st.mean(),
              p50: st.quantile(0.5),
              p99: st.quantile(0.99),
              max: st.quantile(1),
            },
            decohered_discarded: this.nodeDiscarded[n],
          };
        }),
      },
    };
  }

  /** Per topology link, summed over the request paths that use it. */
  private linkReports(seconds: number): LinkReport[] {
    const { beyondEnd, pendingBins } = this.settlePendingAttempts();
    const now = this.sim.now;
    // The path links over each topology link: their fidelity samples are merged only when there are several.
    const uses = this.topology.links.map(() => [] as LinkPlan[]);
    for (const l of this.plan.links) uses[l.topologyLink].push(l);
    return this.topology.links.map((link, li) => {
      let attempts = 0;
      let successes = 0;
      let purifications = 0;
      let purificationsFailed = 0;
      const fid = uses[li].length === 1 ? this.linkFidelity[uses[li][0].index] : new SampleSet();
      const binAttempts = new Float64Array(this.timelineAttempts[0]?.length ?? 0);
      const binSuccesses = new Float64Array(binAttempts.length);
      for (const l of uses[li]) {
        // Attempts are drawn up front to the next success; those beyond the end of the run are not made.
        attempts += this.linkAttempts[l.index] - beyondEnd[l.index];
        successes += this.linkSuccesses[l.index];
        purifications += this.linkPurifications[l.index];
        purificationsFailed += this.linkPurifyFails[l.index];
        const s = this.linkFidelity[l.index];
        if (s !== fid) for (let i = 0; i < s.count; i++) fid.add(s.at(i));
        const pending = pendingBins[l.index];
        for (let b = 0; b < binAttempts.length; b++) {
          binAttempts[b] += this.timelineAttempts[l.index][b] + pending[b];
          binSuccesses[b] += this.timelineSuccesses[l.index][b];
        }
      }
      const down = this.outages[li].summary(now);
      const report: LinkReport = {
        id: link.id,
        a: link.a,
        b: link.b,
        attempts,
        successes,
        success_rate: attempts > 0 ? successes / attempts : 0,
        pairs_per_s: seconds > 0 ? successes / seconds : 0,
        fidelity: distribution(fid),
        purifications,
        purifications_failed: purificationsFailed,
        outages: down.outages,
        downtime_s: down.downtimeNs / 1e9,
      };
      if (this.timelineBinNs > 0) {
        const used = Math.min(binAttempts.length, Math.ceil(now / this.timelineBinNs));
        report.timeline = Array.from({ length: used }, (_, b) => ({
          start_s: (b * this.timelineBinNs) / 1e9,
          attempts: binAttempts[b],
          successes: binSuccesses[b],
          success_rate: binAttempts[b] > 0 ? binSuccesses[b] / binAttempts[b] : 0,
        }));
      }
      return report;
    });
  }

  /**
   * For memory pairs still generating at the current time: the attempts drawn that lie beyond it, per
   * path link (subtracted from the counts), and the attempts already made, binned as the timeline would
   * bin them at the herald (kept apart from the timeline, which they join only when the herald comes).
   */
  private settlePendingAttempts(): { beyondEnd: Float64Array; pendingBins: Float64Array[] } {
    const extra = new Float64Array(this.plan.links.length);
    const bins = this.timelineBinNs > 0 ? (this.timelineAttempts[0]?.length ?? 0) : 0;
    const pendingBins = this.plan.links.map(() => new Float64Array(bins));
    const now = this.sim.now;
    for (let p = 0; p < this.pairCap; p++) {
      if (this.pPhase[p] !== GENERATING) continue;
      const link = this.plan.paths[this.qPath[this.pQ0[p]]].links[this.pLo[p]];
      const periodNs = link.model.attemptPeriodNs;
      const elapsed = Math.floor((now - this.pGenStart[p]) / periodNs);
      // A pair suspended while its link is set down has attempted (in vain) all along.
      const made = this.pHerald[p] === 0 ? elapsed : Math.min(this.pAttempts[p], elapsed);
      extra[link.index] += this.pAttempts[p] - made;
      if (bins > 0)
        binAttemptsInto(pendingBins[link.index], this.timelineBinNs, this.pGenStart[p], made, periodNs);
    }
    return { beyondEnd: extra, pendingBins };
  }
}

/** Adds `count` attempts made every `periodNs` from `startNs` to bins of width `w` (dropping any past the last). */
function binAttemptsInto(
  bins: Float64Array,
  w: number,
  startNs: number,
  count: number,
  periodNs: number,
): void {
  let i = 0;
  while (i < count) {
    const b = Math.floor((startNs + i * periodNs) / w);
    if (b >= bins.length) return;
    // Attempts i … j−1 fall in bin b: those with startNs + i·period < (b + 1)·w.
    const j = Math.min(count, Math.max(i + 1, Math.ceil(((b + 1) * w - startNs) / periodNs)));
    bins[b] += j - i;
    i = j;
  }
}

function distribution(s: SampleSet): DistributionReport {
  return { mean: s.mean(), p05: s.quantile(0.05), p50: s.quantile(0.5), histogram: s.histogram(0.5, 1, 10) };
}

/**
 * Running sums of the channels' latencies (k-th entry: the first k), if no channel adds jitter or loss
 * and every sum of consecutive latencies is exact in float64, so that prefix[hi] − prefix[lo] equals the
 * hop-by-hop sum bit for bit; else null. Exact when all latencies are multiples of one power of two g and
 * their total is below 2^53·g: every partial sum is then a representable multiple of g.
 */
function exactLatencySums(channels: ClassicalChannelSpec[]): Float64Array | null {
  let grain = Number.POSITIVE_INFINITY;
  const prefix = new Float64Array(channels.length + 1);
  for (let i = 0; i < channels.length; i++) {
    const c = channels[i];
    const x = c.latencyNs;
    if (!(c.jitterNs === 0 && c.lossProbability === 0 && x >= 0 && x < Number.POSITIVE_INFINITY)) return null;
    if (x > 0) {
      // The largest power of two dividing x (the weight of its lowest set bit); fmod is exact.
      let g = 2 ** Math.floor(Math.log2(x));
      while (x % g !== 0) g /= 2;
      grain = Math.min(grain, g);
    }
    prefix[i + 1] = prefix[i] + x;
  }
  return grain === Number.POSITIVE_INFINITY || prefix[channels.length] < 2 ** 53 * grain ? prefix : null;
}

/** The smallest double greater than x (x ≥ 0, finite). */
function nextAfter(x: number): number {
  return x === 0 ? Number.MIN_VALUE : x + x * Number.EPSILON;
}

/** Builds and runs a simulation in one call. */
export function simulate(
  topology: Topology,
  untilNs: number,
  options: SimulationOptions = {},
): SimulationReport {
  return new NetworkSimulation(topology, options).run(untilNs);
}
