import { teleportThroughPair } from "../protocols/applications.js";
import {
  type BellDiagonal,
  bellDiagonalFidelity,
  decayDepolarizing,
  swapBellDiagonal,
  wernerState,
} from "../quantum/bell-diagonal.js";
import type { Rng } from "../sim/rng.js";
import { RngStreams } from "../sim/rng.js";
import { type EventHandler, Simulator } from "../sim/simulator.js";

/**
 * A three-node repeater line A — R — B with abstract links, the smallest network that exercises every
 * part of the foundation: heralded generation on both links (geometric numbers of attempts), pairs
 * waiting in depolarizing memories, a probabilistic entanglement swap at R, the swap outcome travelling
 * to the end nodes as a classical message, and teleportation of random qubit states through every
 * delivered pair, run as a full circuit on density matrices.
 */
export interface RepeaterLineDemoOptions {
  /** Seed of every random stream. Default 1. */
  seed?: number | string;
  /** Simulated time to run, in ns. Default 1e9 (1 s). */
  durationNs?: number;
  /** Success probability of one generation attempt on each link. Default 0.1. */
  linkSuccessProbability?: number;
  /** Duration of one attempt, in ns. Default 10,000 (10 µs). */
  attemptDurationNs?: number;
  /** Werner fidelity of freshly heralded pairs. Default 0.95. */
  linkFidelity?: number;
  /** Success probability of the swap at R; a failure loses both pairs. Default 0.9. */
  swapSuccessProbability?: number;
  /** Depolarizing time constant of every memory, in ns (`Infinity`: perfect memories). Default 1e8 (0.1 s). */
  memoryTimeConstantNs?: number;
  /** One-way classical latency from R to each end node, in ns. Default 25,000 (5 km of fiber). */
  classicalLatencyNs?: number;
}

/** What the demonstration measured, with the closed forms it can be checked against. */
export interface RepeaterLineDemoResult {
  simulatedTimeNs: number;
  events: number;
  linkAttempts: number;
  linkSuccesses: number;
  swapAttempts: number;
  swapFailures: number;
  delivered: number;
  /** Mean time to a successful swap, in link attempts, counting rounds lost to failed swaps. */
  meanAttemptsToSwap: number;
  /** Closed form for the mean above with perfect memories (Brand, Coopmans, Elkouss 2020): (3−2p)/(a·p·(2−p)). */
  expectedAttemptsToSwap: number;
  /** Mean fidelity to Φ+ of delivered pairs, when the end nodes hold them. */
  meanFidelity: number;
  /** Fidelity of swapping two fresh links with no waiting: F² + (1−F)²/3. */
  fidelityWithoutWaiting: number;
  /** Mean fidelity of teleported states (measured on density matrices, one random state per pair). */
  meanTeleportationFidelity: number;
  /** (2F̄+1)/3 for the mean delivered fidelity F̄. */
  expectedTeleportationFidelity: number;
}

const LINK_HERALD = 1;
const SWAP_MESSAGE_ARRIVES = 2;

class RepeaterLine implements EventHandler {
  readonly id: number;
  private readonly pairs: BellDiagonal[] = [new Float64Array(4), new Float64Array(4)];
  private readonly heraldedAt = [Number.NaN, Number.NaN];
  private readonly endPair: BellDiagonal = new Float64Array(4);
  private roundStart = 0;
  private linkRng: Rng[];
  private swapRng: Rng;
  private teleportRng: Rng;
  stats = {
    linkAttempts: 0,
    linkSuccesses: 0,
    swapAttempts: 0,
    swapFailures: 0,
    delivered: 0,
    attemptsToSwapSum: 0,
    fidelitySum: 0,
    teleportFidelitySum: 0,
  };

  constructor(
    private readonly sim: Simulator,
    private readonly o: Required<Omit<RepeaterLineDemoOptions, "seed">>,
    streams: RngStreams,
  ) {
    this.id = sim.register(this);
    this.linkRng = [streams.stream("link-A-R"), streams.stream("link-R-B")];
    this.swapRng = streams.stream("node-R");
    this.teleportRng = streams.stream("teleport");
  }

  start(): void {
    this.roundStart = this.sim.now;
    this.attempt(0);
    this.attempt(1);
  }

  /** Draws the number of attempts to the next herald in one go: no event per failed attempt. */
  private attempt(link: number): void {
    const k = this.linkRng[link].geometric(this.o.linkSuccessProbability);
    this.stats.linkAttempts += k;
    this.sim.schedule(k * this.o.attemptDurationNs, this.id, LINK_HERALD, link);
  }

  handleEvent(kind: number, data: number, sim: Simulator): void {
    if (kind === LINK_HERALD) {
      this.stats.linkSuccesses++;
      wernerState(this.o.linkFidelity, this.pairs[data]);
      this.heraldedAt[data] = sim.now;
      if (!Number.isNaN(this.heraldedAt[1 - data])) this.swap(sim);
    } else if (kind === SWAP_MESSAGE_ARRIVES) {
      this.deliver();
    }
  }

  private swap(sim: Simulator): void {
    const now = sim.now;
    this.stats.swapAttempts++;
    this.stats.attemptsToSwapSum += (now - this.roundStart) / this.o.attemptDurationNs;
    // Both qubits of each pair have waited since their herald.
    for (let l = 0; l < 2; l++) {
      const waited = now - this.heraldedAt[l];
      decayDepolarizing(this.pairs[l], this.pairs[l], waited, waited, this.o.memoryTimeConstantNs);
      this.heraldedAt[l] = Number.NaN;
    }
    if (!this.swapRng.bernoulli(this.o.swapSuccessProbability)) {
      this.stats.swapFailures++;
      this.start();
      return;
    }
    swapBellDiagonal(this.endPair, this.pairs[0], this.pairs[1]);
    // The end nodes learn the Bell-state outcome one classical latency later; until then their qubits wait.
    sim.schedule(this.o.classicalLatencyNs, this.id, SWAP_MESSAGE_ARRIVES, 0);
  }

  private deliver(): void {
    const wait = this.o.classicalLatencyNs;
    decayDepolarizing(this.endPair, this.endPair, wait, wait, this.o.memoryTimeConstantNs);
    const f = bellDiagonalFidelity(this.endPair);
    this.stats.delivered++;
    this.stats.fidelitySum += f;
    this.stats.teleportFidelitySum += this.teleportRandomState();
    this.start();
  }

  /** Teleports a random pure state from A to B through the delivered pair; returns its fidelity. */
  private teleportRandomState(): number {
    const rng = this.teleportRng;
    const theta = Math.acos(1 - 2 * rng.random());
    const phi = 2 * Math.PI * rng.random();
    return teleportThroughPair(this.endPair, theta, phi, rng);
  }
}

/** Runs the demonstration and returns its measurements. Deterministic for a given seed. */
export function runRepeaterLineDemo(options: RepeaterLineDemoOptions = {}): RepeaterLineDemoResult {
  const o = {
    durationNs: options.durationNs ?? 1e9,
    linkSuccessProbability: options.linkSuccessProbability ?? 0.1,
    attemptDurationNs: options.attemptDurationNs ?? 10_000,
    linkFidelity: options.linkFidelity ?? 0.95,
    swapSuccessProbability: options.swapSuccessProbability ?? 0.9,
    memoryTimeConstantNs: options.memoryTimeConstantNs ?? 1e8,
    classicalLatencyNs: options.classicalLatencyNs ?? 25_000,
  };
  const sim = new Simulator();
  const line = new RepeaterLine(sim, o, new RngStreams(options.seed ?? 1));
  line.start();
  const run = sim.run({ untilNs: o.durationNs });
  const s = line.stats;
  const p = o.linkSuccessProbability;
  const a = o.swapSuccessProbability;
  const swaps = s.swapAttempts - s.swapFailures;
  const meanFidelity = s.delivered > 0 ? s.fidelitySum / s.delivered : Number.NaN;
  const f0 = o.linkFidelity;
  return {
    simulatedTimeNs: run.nowNs,
    events: sim.eventsProcessed,
    linkAttempts: s.linkAttempts,
    linkSuccesses: s.linkSuccesses,
    swapAttempts: s.swapAttempts,
    swapFailures: s.swapFailures,
    delivered: s.delivered,
    meanAttemptsToSwap: swaps > 0 ? s.attemptsToSwapSum / swaps : Number.NaN,
    expectedAttemptsToSwap: (3 - 2 * p) / (a * p * (2 - p)),
    meanFidelity,
    fidelityWithoutWaiting: f0 * f0 + ((1 - f0) * (1 - f0)) / 3,
    meanTeleportationFidelity: s.delivered > 0 ? s.teleportFidelitySum / s.delivered : Number.NaN,
    expectedTeleportationFidelity: (2 * meanFidelity + 1) / 3,
  };
}
