import type { BellDiagonal } from "../quantum/bell-diagonal.js";
import { linkAttemptModel } from "./link-model.js";
import { cheapestPath } from "./routing.js";
import type { ClassicalChannelSpec, RequestSpec, Topology } from "./topology.js";

/** What one generation attempt on a link does, as the simulation needs it. */
export interface LinkAttemptModel {
  /** Probability that an attempt heralds a pair (all multiplexed modes together). */
  successProbability: number;
  /** Time between the starts of consecutive attempts on one memory pair, in ns. */
  attemptPeriodNs: number;
  /** Time from the start of the successful attempt until both ends know of it, in ns. */
  heraldDelayNs: number;
  /**
   * How long the memory qubits have already held their halves when the herald arrives, in ns: they
   * decohere from then on. Physical links: the herald's round trip; abstract links: 0, because the
   * stated fidelity is that of the pair as delivered.
   */
  storedBeforeHeraldNs: number;
  /** The heralded pair, Bell-diagonal in DEJMPS order. */
  state: BellDiagonal;
}

/** One hop of a request's path. */
export interface LinkPlan {
  /** Global index over all paths' hops. */
  index: number;
  path: number;
  /** The hop joins path positions pos and pos + 1. */
  pos: number;
  /** Index into topology.links. */
  topologyLink: number;
  /** Port (qubit pool) at position pos facing right, and at pos + 1 facing left. */
  leftPort: number;
  rightPort: number;
  model: LinkAttemptModel;
  classical: ClassicalChannelSpec;
}

export interface PathPlan {
  request: RequestSpec;
  /** Node indices from src to dst. */
  nodes: number[];
  links: LinkPlan[];
  /** Ports of this path are portBase + 2·pos + side (side 0 faces lower positions). */
  portBase: number;
  nested: boolean;
  /** For nested swapping: the segment [nestLo[pos], nestHi[pos]] that the node at pos joins. */
  nestLo: Int32Array;
  nestHi: Int32Array;
}

export interface PortPlan {
  path: number;
  pos: number;
  side: 0 | 1;
  node: number;
  qubits: number[];
}

export interface QubitPlan {
  node: number;
  path: number;
  pos: number;
  side: 0 | 1;
}

export interface NetworkPlan {
  paths: PathPlan[];
  links: LinkPlan[];
  ports: PortPlan[];
  qubits: QubitPlan[];
  totalMemoryQubits: number;
}

/** A plan that cannot be built from the topology (a user mistake): the message says what to change. */
export class PlanError extends Error {
  override name = "PlanError";
}

/**
 * Resolves a topology's requests into paths, link attempt models and memory allocations. Each node's
 * memory qubits are split as evenly as possible between the sides of the paths through it (an end
 * node has one side per path, a repeater two); remainders go to the earlier requests.
 * `requestLinks` pins single-hop requests (by request ID) to a topology link (by link ID), for nodes
 * joined by parallel links; otherwise a hop uses the parallel link with the shortest expected time.
 */
export function planNetwork(
  topology: Topology,
  requestLinks: Readonly<Record<string, string>> = {},
): NetworkPlan {
  const nodeIndex = new Map(topology.nodes.map((n, i) => [n.id, i]));
  const models = topology.links.map((l) =>
    linkAttemptModel(l, topology.nodes[nodeIndex.get(l.a)!], topology.nodes[nodeIndex.get(l.b)!]),
  );
  const linkBetween = new Map<string, number>();
  topology.links.forEach((l, i) => {
    const a = nodeIndex.get(l.a)!;
    const b = nodeIndex.get(l.b)!;
    const key = a < b ? `${a}:${b}` : `${b}:${a}`;
    // Parallel links: keep the one with the higher rate.
    const prev = linkBetween.get(key);
    if (prev === undefined || expectedTimeNs(models[i]) < expectedTimeNs(models[prev]))
      linkBetween.set(key, i);
  });
  const hop = (a: number, b: number) => linkBetween.get(a < b ? `${a}:${b}` : `${b}:${a}`);

  if (topology.requests.length === 0)
    throw new PlanError(
      `topology '${topology.name}' has no requests: add a 'requests:' section or pass --requests FILE`,
    );

  const paths: PathPlan[] = [];
  const links: LinkPlan[] = [];
  const ports: PortPlan[] = [];
  topology.requests.forEach((request, r) => {
    const src = nodeIndex.get(request.src)!;
    const dst = nodeIndex.get(request.dst)!;
    let nodes: number[] | null;
    if (request.path) {
      nodes = request.path.map((id) => nodeIndex.get(id)!);
    } else {
      nodes = cheapestPath(topology, src, dst, (li) => expectedTimeNs(models[li]));
      if (nodes === null)
        throw new PlanError(
          `request ${request.id}: no path connects ${request.src} to ${request.dst}; add a link`,
        );
    }
    if (nodes.length < 2) throw new PlanError(`request ${request.id}: source and destination must differ`);
    const portBase = ports.length;
    for (let pos = 0; pos < nodes.length; pos++)
      for (const side of [0, 1] as const) ports.push({ path: r, pos, side, node: nodes[pos], qubits: [] });
    const plan: PathPlan = {
      request,
      nodes,
      links: [],
      portBase,
      nested: topology.swap === "nested",
      nestLo: new Int32Array(nodes.length).fill(-1),
      nestHi: new Int32Array(nodes.length).fill(-1),
    };
    const pinned = Object.hasOwn(requestLinks, request.id) ? requestLinks[request.id] : undefined;
    let pinnedIndex: number | undefined;
    if (pinned !== undefined) {
      pinnedIndex = topology.links.findIndex((l) => l.id === pinned);
      const l = topology.links[pinnedIndex];
      const ends = [topology.nodes[nodes[0]].id, topology.nodes[nodes[nodes.length - 1]].id];
      if (l === undefined || nodes.length !== 2 || !ends.includes(l.a) || !ends.includes(l.b))
        throw new PlanError(
          `request ${request.id}: can use link ${pinned} only as a single hop between its own end nodes`,
        );
    }
    for (let pos = 0; pos + 1 < nodes.length; pos++) {
      const li = pinnedIndex ?? hop(nodes[pos], nodes[pos + 1]);
      if (li === undefined)
        throw new PlanError(
          `request ${request.id}: path has no link between ${topology.nodes[nodes[pos]].id} and ${topology.nodes[nodes[pos + 1]].id}`,
        );
      const link: LinkPlan = {
        index: links.length,
        path: r,
        pos,
        topologyLink: li,
        leftPort: portBase + 2 * pos + 1,
        rightPort: portBase + 2 * (pos + 1),
        model: models[li],
        classical: topology.links[li].classical,
      };
      plan.links.push(link);
      links.push(link);
    }
    assignNestedSegments(plan.nestLo, plan.nestHi, 0, nodes.length - 1);
    paths.push(plan);
  });

  // Memory allocation: the used ports of each node share its qubits.
  const qubits: QubitPlan[] = [];
  const usedPorts = ports.filter((p) => {
    const last = paths[p.path].nodes.length - 1;
    return !(p.pos === 0 && p.side === 0) && !(p.pos === last && p.side === 1);
  });
  topology.nodes.forEach((node, ni) => {
    const mine = usedPorts.filter((p) => p.node === ni);
    if (mine.length === 0) return;
    const total = node.memory.qubits;
    if (total < mine.length)
      throw new PlanError(
        `node ${node.id} has ${total} memory qubit(s) but the request paths through it need at least ${mine.length} ` +
          "(one per link of each path): raise its memory.qubits",
      );
    const base = Math.floor(total / mine.length);
    let extra = total - base * mine.length;
    for (const port of mine) {
      const count = base + (extra > 0 ? 1 : 0);
      if (extra > 0) extra--;
      for (let k = 0; k < count; k++) {
        port.qubits.push(qubits.length);
        qubits.push({ node: ni, path: port.path, pos: port.pos, side: port.side });
      }
    }
  });
  const totalMemoryQubits = topology.nodes.reduce((s, n) => s + n.memory.qubits, 0);
  return { paths, links, ports, qubits, totalMemoryQubits };
}

/** Expected time to herald one pair on one memory pair, in ns: the routing cost of a link. */
export function expectedTimeNs(m: LinkAttemptModel): number {
  return m.attemptPeriodNs / m.successProbability;
}

/**
 * The doubling scheme: the node in the middle of [lo, hi] joins the two halves; recurse into each half.
 * For lengths that are not powers of two the split point is rounded down.
 */
function assignNestedSegments(nestLo: Int32Array, nestHi: Int32Array, lo: number, hi: number): void {
  if (hi - lo < 2) return;
  const mid = lo + Math.floor((hi - lo) / 2);
  nestLo[mid] = lo;
  nestHi[mid] = hi;
  assignNestedSegments(nestLo, nestHi, lo, mid);
  assignNestedSegments(nestLo, nestHi, mid, hi);
}
