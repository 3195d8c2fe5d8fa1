/**
 * The classical control plane's timing (issue 6, M4 in docs/system-map.md): the controller sits at one
 * node and talks to the agents at the others over the topology's classical channels. A message follows
 * the lowest-latency route; on each hop it takes the channel's latency plus a uniform jitter, and a lost
 * message is resent after a timeout of twice the hop's latency (the topology format's definition). An
 * agent answers after a processing delay. {@link ControlPlane.roundTrips} draws one request–answer
 * exchange with each of a set of nodes, which is how the orchestrator sets up a job's path, and the
 * round trips it draws are the M4 measurements.
 *
 * Core layer: randomness comes from the caller's seeded {@link Rng}.
 */
import type { Topology } from "../network/topology.js";
import type { Rng } from "../sim/rng.js";

/** Settings of a {@link ControlPlane}. */
export interface ControlPlaneOptions {
  /** The node the controller runs at. Default: the node whose farthest node is nearest (the centre by latency). */
  controller?: string;
  /** Time an agent takes to handle a request before answering, ns. Default 50 µs. */
  processingNs?: number;
}

/** One classical hop of a control route. */
interface Hop {
  latencyNs: number;
  jitterNs: number;
  lossProbability: number;
}

/** One drawn request–answer exchange. */
export interface RoundTrip {
  nodeId: string;
  /** From sending the request to receiving the answer at the controller, ns. */
  rttNs: number;
}

/** Default agent processing delay, ns. */
export const DEFAULT_AGENT_PROCESSING_NS = 50_000;

type Adjacency = Map<string, { to: string; hop: Hop }[]>;

/** Each node's classical hops to its neighbours. */
function adjacencyOf(topology: Topology): Adjacency {
  const adjacent: Adjacency = new Map();
  for (const n of topology.nodes) adjacent.set(n.id, []);
  for (const l of topology.links) {
    const hop = {
      latencyNs: l.classical.latencyNs,
      jitterNs: l.classical.jitterNs,
      lossProbability: l.classical.lossProbability,
    };
    adjacent.get(l.a)?.push({ to: l.b, hop });
    adjacent.get(l.b)?.push({ to: l.a, hop });
  }
  return adjacent;
}

/** Lowest one-way latency from `from` to every node, with the hop into each node on that route. */
function shortestRoutes(
  adjacent: Adjacency,
  from: string,
): { distance: Map<string, number>; via: Map<string, { prev: string; hop: Hop }> } {
  const distance = new Map<string, number>([[from, 0]]);
  const via = new Map<string, { prev: string; hop: Hop }>();
  const done = new Set<string>();
  // Dijkstra with a binary heap of [distance, node]; stale entries are skipped when popped.
  const heap: [number, string][] = [[0, from]];
  const less = (x: [number, string], y: [number, string]) => x[0] < y[0] || (x[0] === y[0] && x[1] < y[1]);
  const push = (e: [number, string]) => {
    heap.push(e);
    for (let i = heap.length - 1; i > 0; ) {
      const parent = (i - 1) >> 1;
      if (!less(heap[i], heap[parent])) break;
      [heap[i], heap[parent]] = [heap[parent], heap[i]];
      i = parent;
    }
  };
  const pop = (): [number, string] => {
    const top = heap[0];
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && less(heap[l], heap[m])) m = l;
        if (r < heap.length && less(heap[r], heap[m])) m = r;
        if (m === i) break;
        [heap[i], heap[m]] = [heap[m], heap[i]];
        i = m;
      }
    }
    return top;
  };
  while (heap.length > 0) {
    const [d0, u] = pop();
    if (done.has(u)) continue;
    done.add(u);
    for (const { to, hop } of adjacent.get(u) ?? []) {
      const d = d0 + hop.latencyNs;
      if (d < (distance.get(to) ?? Number.POSITIVE_INFINITY)) {
        distance.set(to, d);
        via.set(to, { prev: u, hop });
        push([d, to]);
      }
    }
  }
  return { distance, via };
}

/** The controller's position and the routes of its messages to every agent. */
export class ControlPlane {
  readonly controller: string;
  readonly processingNs: number;
  private readonly routes = new Map<string, Hop[]>();

  constructor(topology: Topology, options: ControlPlaneOptions = {}) {
    const ids = topology.nodes.map((n) => n.id);
    if (ids.length === 0) throw new RangeError("a control plane needs at least one node");
    const processing = options.processingNs ?? DEFAULT_AGENT_PROCESSING_NS;
    if (!(processing >= 0) || !Number.isFinite(processing))
      throw new RangeError(`agent processing delay must be a finite number of ns ≥ 0, got ${processing}`);
    this.processingNs = processing;
    const adjacent = adjacencyOf(topology);
    let controller = options.controller;
    if (controller !== undefined && !ids.includes(controller))
      throw new RangeError(
        `controller node '${controller}' is not in the topology; choose one of ${ids.join(", ")}`,
      );
    if (controller === undefined) {
      let best = Number.POSITIVE_INFINITY;
      for (const id of [...ids].sort()) {
        const { distance } = shortestRoutes(adjacent, id);
        let reach = distance.size === ids.length ? 0 : Number.POSITIVE_INFINITY;
        for (const d of distance.values()) if (d > reach) reach = d;
        if (controller === undefined || reach < best) {
          controller = id;
          best = reach;
        }
      }
    }
    this.controller = controller!;
    const { via } = shortestRoutes(adjacent, this.controller);
    for (const id of ids) {
      const hops: Hop[] = [];
      let at = id;
      while (at !== this.controller) {
        const step = via.get(at);
        if (step === undefined) break;
        hops.push(step.hop);
        at = step.prev;
      }
      if (at === this.controller) this.routes.set(id, hops.reverse());
    }
  }

  /** Whether the controller can reach `nodeId` over classical channels. */
  reaches(nodeId: string): boolean {
    return this.routes.has(nodeId);
  }

  /** The round trip to `nodeId` without jitter or loss, ns. */
  nominalRttNs(nodeId: string): number {
    const hops = this.route(nodeId);
    let oneWay = 0;
    for (const h of hops) oneWay += h.latencyNs;
    return 2 * oneWay + this.processingNs;
  }

  private route(nodeId: string): Hop[] {
    const hops = this.routes.get(nodeId);
    if (hops === undefined)
      throw new RangeError(`node '${nodeId}' is not reachable from the controller at '${this.controller}'`);
    return hops;
  }

  /** Time for one message over `hops`, with jitter and resends drawn from `rng`. */
  private static transit(hops: readonly Hop[], rng: Rng): number {
    let t = 0;
    for (const h of hops) {
      for (;;) {
        if (h.lossProbability > 0 && rng.bernoulli(h.lossProbability)) {
          t += 2 * h.latencyNs;
          continue;
        }
        t += h.latencyNs + (h.jitterNs > 0 ? rng.uniform(0, h.jitterNs) : 0);
        break;
      }
    }
    return t;
  }

  /**
   * Sends a request to each of `nodes` at once and draws when each answer is back. A node that is the
   * controller itself answers after the processing delay alone.
   */
  roundTrips(nodes: readonly string[], rng: Rng): RoundTrip[] {
    return nodes.map((nodeId) => {
      const hops = this.route(nodeId);
      const out = ControlPlane.transit(hops, rng);
      const back = ControlPlane.transit([...hops].reverse(), rng);
      return { nodeId, rttNs: out + this.processingNs + back };
    });
  }
}
