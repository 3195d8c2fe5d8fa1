/**
 * Path finding for the orchestrator on live link estimates (issue 6, C6; failure mode F1 in
 * docs/system-map.md). Three pieces:
 *
 * 1. {@link kShortestPaths}: Yen's k shortest loopless paths on an undirected weighted graph, generic.
 * 2. {@link entanglementPaths} / {@link predictPath}: candidate repeater paths ranked by an additive
 *    proxy of the time per end-to-end pair, then each evaluated with a simple model of rate and
 *    fidelity (parallel link generation, swap-ASAP, Werner links, memory decay while waiting).
 * 3. {@link trustedNodePaths}: QKD paths through trusted nodes, each hop running its own QKD session.
 *
 * Down links (LinkEstimator.isUp false) and links with zero estimated rate are never used. The models
 * and their assumptions are in docs/orchestrator-decisions.md. Core layer: no clock, no randomness.
 */

import type { LinkSpec, NodeSpec, Topology } from "../network/topology.js";
import { binaryEntropy } from "../qkd/bits.js";
import {
  decayDephasing,
  decayDepolarizing,
  swapBellDiagonal,
  wernerState,
} from "../quantum/bell-diagonal.js";
import type { LinkEstimator } from "./link-estimates.js";

/** An undirected edge of the graph given to {@link kShortestPaths}. */
export interface WeightedEdge {
  /** Node indices of the two ends. */
  a: number;
  b: number;
  /** Non-negative, finite cost of using the edge. */
  cost: number;
}

/** One path found by {@link kShortestPaths}. */
export interface IndexPath {
  /** Node indices from source to destination. */
  nodes: number[];
  /** Sum of the edge costs along the path. */
  cost: number;
}

/**
 * Yen's algorithm: up to `k` loopless paths from `src` to `dst` in order of increasing cost. Where
 * several edges join the same two nodes, the cheapest is used. Ties are broken by fewer hops, then by
 * the node sequence (lexicographically), so the result is deterministic.
 * @param nodeCount - nodes are 0 … nodeCount − 1.
 * @param canTransit - whether a node may be an intermediate hop (default: every node may).
 */
export function kShortestPaths(
  nodeCount: number,
  edges: readonly WeightedEdge[],
  src: number,
  dst: number,
  k: number,
  canTransit: (node: number) => boolean = () => true,
): IndexPath[] {
  if (!(src >= 0 && src < nodeCount && dst >= 0 && dst < nodeCount))
    throw new RangeError(`src ${src} and dst ${dst} must be nodes 0 … ${nodeCount - 1}`);
  if (src === dst || k < 1) return [];
  // Cost per unordered pair of nodes (key min · nodeCount + max): parallel edges collapse to the cheapest.
  const pairCost = new Map<number, number>();
  for (const e of edges) {
    if (!(e.cost >= 0 && Number.isFinite(e.cost)))
      throw new RangeError(`edge ${e.a}–${e.b} has cost ${e.cost}; costs must be finite and ≥ 0`);
    if (e.a === e.b) continue;
    const key = e.a < e.b ? e.a * nodeCount + e.b : e.b * nodeCount + e.a;
    const prev = pairCost.get(key);
    if (prev === undefined || e.cost < prev) pairCost.set(key, e.cost);
  }
  const pathCost = (nodes: number[]) => {
    let c = 0;
    for (let i = 0; i + 1 < nodes.length; i++) {
      const u = nodes[i];
      const v = nodes[i + 1];
      c += pairCost.get(u < v ? u * nodeCount + v : v * nodeCount + u)!;
    }
    return c;
  };

  // The same adjacency in compressed rows, both directions, for the inner loop of Dijkstra.
  const rowStart = new Int32Array(nodeCount + 1);
  for (const key of pairCost.keys()) {
    const a = Math.floor(key / nodeCount);
    rowStart[a + 1]++;
    rowStart[key - a * nodeCount + 1]++;
  }
  for (let u = 0; u < nodeCount; u++) rowStart[u + 1] += rowStart[u];
  const rowTo = new Int32Array(rowStart[nodeCount]);
  const rowCost = new Float64Array(rowStart[nodeCount]);
  const fill = rowStart.slice(0, nodeCount);
  for (const [key, c] of pairCost) {
    const a = Math.floor(key / nodeCount);
    const b = key - a * nodeCount;
    rowTo[fill[a]] = b;
    rowCost[fill[a]++] = c;
    rowTo[fill[b]] = a;
    rowCost[fill[b]++] = c;
  }
  const transit = new Uint8Array(nodeCount);
  for (let i = 0; i < nodeCount; i++) transit[i] = canTransit(i) ? 1 : 0;

  // Dijkstra's work arrays, reused by every search; the heap holds (distance, hops, node) entries and
  // at most one entry per relaxation.
  const dist = new Float64Array(nodeCount);
  const hops = new Int32Array(nodeCount);
  const prev = new Int32Array(nodeCount);
  const done = new Uint8Array(nodeCount);
  const banned = new Uint8Array(nodeCount);
  const bannedFromSpur = new Uint8Array(nodeCount);
  const heapCap = rowTo.length + 1;
  const heapD = new Float64Array(heapCap);
  const heapH = new Int32Array(heapCap);
  const heapN = new Int32Array(heapCap);
  /** Whether heap entry i comes before heap entry j: by distance, then hops, then node index. */
  const before = (i: number, j: number) =>
    heapD[i] < heapD[j] ||
    (heapD[i] === heapD[j] && (heapH[i] < heapH[j] || (heapH[i] === heapH[j] && heapN[i] < heapN[j])));
  const swap = (i: number, j: number) => {
    const d = heapD[i];
    heapD[i] = heapD[j];
    heapD[j] = d;
    const h = heapH[i];
    heapH[i] = heapH[j];
    heapH[j] = h;
    const n = heapN[i];
    heapN[i] = heapN[j];
    heapN[j] = n;
  };

  /**
   * Dijkstra from `from` to `dst`, avoiding the nodes marked in `banned` and the edges from `from` to
   * the nodes marked in `bannedFromSpur`. Nodes are settled in order of (distance, hops, index), and a
   * label improves only to a smaller distance or the same distance in fewer hops.
   */
  const shortest = (from: number): number[] | null => {
    dist.fill(Number.POSITIVE_INFINITY);
    hops.fill(0x7fffffff);
    prev.fill(-1);
    done.fill(0);
    dist[from] = 0;
    hops[from] = 0;
    heapD[0] = 0;
    heapH[0] = 0;
    heapN[0] = from;
    let size = 1;
    while (size > 0) {
      const u = heapN[0];
      const du = heapD[0];
      const hu = heapH[0];
      size--;
      if (size > 0) {
        heapD[0] = heapD[size];
        heapH[0] = heapH[size];
        heapN[0] = heapN[size];
        for (let i = 0; ; ) {
          const l = 2 * i + 1;
          if (l >= size) break;
          const c = l + 1 < size && before(l + 1, l) ? l + 1 : l;
          if (!before(c, i)) break;
          swap(c, i);
          i = c;
        }
      }
      // Stale entries (the node settled, or its label improved since) are skipped.
      if (done[u] || du !== dist[u] || hu !== hops[u]) continue;
      if (u === dst) break;
      done[u] = 1;
      if (u !== from && !transit[u]) continue;
      for (let j = rowStart[u]; j < rowStart[u + 1]; j++) {
        const v = rowTo[j];
        if (banned[v] || (u === from && bannedFromSpur[v])) continue;
        const d = du + rowCost[j];
        if (d < dist[v] || (d === dist[v] && hu + 1 < hops[v])) {
          dist[v] = d;
          hops[v] = hu + 1;
          prev[v] = u;
          heapD[size] = d;
          heapH[size] = hu + 1;
          heapN[size] = v;
          for (let i = size++; i > 0; ) {
            const p = (i - 1) >> 1;
            if (!before(i, p)) break;
            swap(i, p);
            i = p;
          }
        }
      }
    }
    if (dist[dst] === Number.POSITIVE_INFINITY) return null;
    const path = [dst];
    while (path[path.length - 1] !== from) path.push(prev[path[path.length - 1]]);
    return path.reverse();
  };

  const first = shortest(src);
  if (first === null) return [];
  const found: IndexPath[] = [{ nodes: first, cost: pathCost(first) }];
  const candidates: IndexPath[] = [];
  const seen = new Set<string>([first.join(",")]);
  const better = (x: IndexPath, y: IndexPath) =>
    x.cost !== y.cost
      ? x.cost < y.cost
      : x.nodes.length !== y.nodes.length
        ? x.nodes.length < y.nodes.length
        : x.nodes.join(",") < y.nodes.join(",");

  while (found.length < k) {
    const last = found[found.length - 1].nodes;
    for (let i = 0; i + 1 < last.length; i++) {
      const spur = last[i];
      // The spur node must be allowed to forward traffic unless it is the source.
      if (i > 0 && !transit[spur]) continue;
      const root = last.slice(0, i + 1);
      // Edges leaving the spur node along paths already found that share this root are banned, and so
      // are the root's nodes before the spur.
      for (const p of found) {
        if (p.nodes.length > i + 1 && root.every((n, j) => p.nodes[j] === n))
          bannedFromSpur[p.nodes[i + 1]] = 1;
      }
      for (let j = 0; j < i; j++) banned[root[j]] = 1;
      const tail = shortest(spur);
      banned.fill(0);
      bannedFromSpur.fill(0);
      if (tail === null) continue;
      const nodes = [...root.slice(0, i), ...tail];
      const key = nodes.join(",");
      if (seen.has(key)) continue;
      seen.add(key);
      candidates.push({ nodes, cost: pathCost(nodes) });
    }
    if (candidates.length === 0) break;
    let best = 0;
    for (let j = 1; j < candidates.length; j++) if (better(candidates[j], candidates[best])) best = j;
    found.push(candidates.splice(best, 1)[0]);
  }
  return found;
}

/** Settings of the routing functions. */
export interface RoutingOptions {
  /** How many candidate paths to consider. Default 4. */
  k?: number;
  /**
   * Whether a link can carry a QKD session on its own (a trusted-node hop). Default: every link — any
   * fiber can carry prepare-and-measure or entanglement-based QKD between its two ends.
   */
  qkdCapable?: (link: LinkSpec) => boolean;
}

/** Default number of candidate paths. */
export const DEFAULT_K_PATHS = 4;

/** What {@link predictPath} expects of a repeater path. */
export interface PathPrediction {
  /** Node IDs from source to destination. */
  nodes: string[];
  /** Link IDs, `links[i]` joining `nodes[i]` and `nodes[i + 1]`. */
  links: string[];
  /** Predicted fidelity of end-to-end pairs to Φ+. */
  fidelity: number;
  /** Predicted end-to-end pairs per second on one memory pair per link, Hz. */
  pairRateHz: number;
  /** 1 / pairRateHz: expected time per end-to-end pair, s. */
  timePerPairS: number;
  /** Expected time each link's pair waits in memory for the rest of the path, s (same order as `links`). */
  linkWaitS: number[];
}

/** A trusted-node QKD path: each hop a separate QKD session, keys relayed hop by hop. */
export interface TrustedPathPrediction {
  nodes: string[];
  links: string[];
  /** Secret key rate end to end: the slowest hop's, bits/s. */
  keyRateBps: number;
  /** Secret key rate of each hop, bits/s (same order as `links`). */
  hopKeyRateBps: number[];
}

/**
 * Secret key bits per entangled pair of fidelity F for entanglement-based QKD (BBM92), asymptotic:
 * sifting keeps ½ of the pairs (random bases), then 1 − 2h(Q) of them survive error correction and
 * privacy amplification, where Q = 2(1 − F)/3 is the quantum bit error rate of a Werner pair in either
 * basis. 0 when Q exceeds ≈ 11 %, i.e. F below ≈ 0.835.
 */
export function keyBitsPerPair(fidelity: number): number {
  const q = (2 * (1 - fidelity)) / 3;
  return Math.max(0, 0.5 * (1 - 2 * binaryEntropy(q)));
}

/**
 * Mean of the maximum of independent exponential times with the given means, s: the expected time
 * until every link of a path holds a pair when all generate in parallel. Exact by inclusion–exclusion
 * for up to 12 links; Simpson's rule on ∫₀^∞ 1 − Π(1 − e^{−t/Tᵢ}) dt beyond.
 */
export function expectedMaxOfExponentials(means: readonly number[]): number {
  const n = means.length;
  if (n === 0) return 0;
  if (n === 1) return means[0];
  if (means.some((m) => m === Number.POSITIVE_INFINITY)) return Number.POSITIVE_INFINITY;
  if (n <= 12) {
    // rate[mask] = Σ 1/means[i] over the bits of mask, added in increasing i (the highest bit last).
    const inverse = means.map((m) => 1 / m);
    const rate = new Float64Array(1 << n);
    const odd = new Uint8Array(1 << n);
    let sum = 0;
    for (let mask = 1, high = 0; mask < 1 << n; mask++) {
      if (mask === 1 << (high + 1)) high++;
      const rest = mask ^ (1 << high);
      rate[mask] = rate[rest] + inverse[high];
      odd[mask] = odd[rest] ^ 1;
      sum += (odd[mask] === 1 ? 1 : -1) / rate[mask];
    }
    return sum;
  }
  const tMax = Math.max(...means) * (Math.log(n) + 40);
  const steps = 8192;
  const h = tMax / steps;
  const f = (t: number) => {
    let all = 1;
    for (const m of means) all *= 1 - Math.exp(-t / m);
    return 1 - all;
  };
  let s = f(0) + f(tMax);
  for (let i = 1; i < steps; i++) s += (i % 2 === 1 ? 4 : 2) * f(i * h);
  return (s * h) / 3;
}

interface Graph {
  nodes: NodeSpec[];
  index: Map<string, number>;
  /** Best usable link ID between two node indices i ≤ j, keyed i · nodes + j ({@link pairKey}). */
  linkBetween: Map<number, string>;
  /** The cost of that link, same keys (absent where the graph was not built with costs). */
  costBetween?: Map<number, number>;
}

/** The key of the unordered node pair {a, b} among `n` nodes. */
function pairKey(a: number, b: number, n: number): number {
  return a < b ? a * n + b : b * n + a;
}

function nodeIndex(topology: Topology): Map<string, number> {
  return new Map(topology.nodes.map((n, i) => [n.id, i]));
}

/** Node index of `id`, or a RangeError naming the unknown node. */
function requireNode(index: Map<string, number>, id: string): number {
  const i = index.get(id);
  if (i === undefined) throw new RangeError(`unknown node ${JSON.stringify(id)}: not in the topology`);
  return i;
}

/** Expected seconds to herald one pair on a link (Infinity when down or hopeless). */
function linkTimeS(estimates: LinkEstimator, linkId: string): number {
  const r = estimates.expectedPairRateHz(linkId);
  return r > 0 ? 1 / r : Number.POSITIVE_INFINITY;
}

/**
 * Candidate repeater paths from `src` to `dst`, best first, each with its {@link predictPath}
 * prediction. Yen ranks paths by an additive proxy: each link costs its expected time per pair
 * Tₑ = 1/rateₑ, multiplied by 1 + Σ (1 − a)/a over its intermediate end nodes (a: swap success
 * probability), i.e. the sequential-generation time with the links around a failed swap regenerated.
 * Only nodes with memories can take part: ends need ≥ 1 qubit, intermediate nodes ≥ 2 and a > 0.
 * Down links are excluded. The list keeps Yen's order; callers choose by the predictions.
 * @throws RangeError if `src` or `dst` is not a node.
 */
export function entanglementPaths(
  topology: Topology,
  estimates: LinkEstimator,
  src: string,
  dst: string,
  options: RoutingOptions = {},
): PathPrediction[] {
  const index = nodeIndex(topology);
  const s = requireNode(index, src);
  const d = requireNode(index, dst);
  const nodes = topology.nodes;
  const n = nodes.length;
  if (nodes[s].memory.qubits < 1 || nodes[d].memory.qubits < 1) return [];
  const transit = (i: number) => nodes[i].memory.qubits >= 2 && nodes[i].swapSuccessProbability > 0;
  const penalty = (i: number) =>
    i === s || i === d ? 0 : (1 - nodes[i].swapSuccessProbability) / nodes[i].swapSuccessProbability;
  const graph = usableGraph(topology, index, estimates, (l) => linkTimeS(estimates, l.id));
  const edges: WeightedEdge[] = [];
  for (const key of graph.linkBetween.keys()) {
    const a = Math.floor(key / n);
    const b = key - a * n;
    edges.push({ a, b, cost: graph.costBetween!.get(key)! * (1 + penalty(a) + penalty(b)) });
  }
  const paths = kShortestPaths(n, edges, s, d, options.k ?? DEFAULT_K_PATHS, transit);
  return paths.map((p) => {
    const ids = p.nodes.map((i) => nodes[i].id);
    return predictIndexed(topology, index, estimates, ids, linksAlong(graph, p.nodes));
  });
}

/** Usable links (up, finite cost), the cheapest per node pair. */
function usableGraph(
  topology: Topology,
  index: Map<string, number>,
  estimates: LinkEstimator,
  cost: (link: LinkSpec) => number,
  usable: (link: LinkSpec) => boolean = () => true,
): Graph {
  const n = topology.nodes.length;
  const linkBetween = new Map<number, string>();
  const best = new Map<number, number>();
  for (const l of topology.links) {
    if (!estimates.isUp(l.id) || !usable(l)) continue;
    const c = cost(l);
    if (!(c < Number.POSITIVE_INFINITY)) continue;
    const key = pairKey(index.get(l.a)!, index.get(l.b)!, n);
    const prev = best.get(key);
    if (prev === undefined || c < prev) {
      best.set(key, c);
      linkBetween.set(key, l.id);
    }
  }
  return { nodes: topology.nodes, index, linkBetween, costBetween: best };
}

function linksAlong(graph: Graph, path: number[]): string[] {
  const n = graph.nodes.length;
  const out: string[] = [];
  for (let i = 0; i + 1 < path.length; i++)
    out.push(graph.linkBetween.get(pairKey(path[i], path[i + 1], n))!);
  return out;
}

/**
 * Predicted rate and fidelity of end-to-end pairs along a given path (node IDs and the link IDs
 * between them), from the live estimates:
 * - **Rate.** Every link generates on one memory pair, in parallel; a link's time to a pair is taken as
 *   exponential with mean Tₑ = 1/rateₑ, so all links hold a pair after E[max] (see
 *   {@link expectedMaxOfExponentials}). Swaps are instantaneous; a failed swap (probability 1 − a at
 *   each intermediate node) is taken to restart the whole path, so the time per pair is
 *   E[max] / Π a. Classical signalling time is neglected.
 * - **Fidelity.** Each link delivers a Werner pair of its estimated fidelity, whose two qubits then
 *   wait Wₑ = max(0, E[max] − Tₑ) (at most the node's cutoff) in memory: depolarizing memories multiply
 *   w by e^{−2W/T}, dephasing ones (T2) apply the Bell-diagonal dephasing map; T1 is not modelled
 *   separately (T2 ≤ 2T1 already carries its dephasing). Swaps at intermediate nodes compose the
 *   pairs (w = w₁w₂ for perfect swaps, physics.md) with a depolarizing error 1 − gateFidelity and
 *   measurement errors 1 − measurementFidelity.
 * A down link gives rate 0 (and time Infinity) but a fidelity prediction all the same.
 * @throws RangeError if the path is malformed or names unknown nodes or links.
 */
export function predictPath(
  topology: Topology,
  estimates: LinkEstimator,
  nodeIds: readonly string[],
  linkIds: readonly string[],
): PathPrediction {
  if (nodeIds.length < 2 || linkIds.length !== nodeIds.length - 1)
    throw new RangeError(
      `a path needs at least 2 nodes and one link between each consecutive pair; got ${nodeIds.length} nodes and ${linkIds.length} links`,
    );
  return predictIndexed(topology, nodeIndex(topology), estimates, nodeIds, linkIds);
}

/** {@link predictPath} with the topology's node index at hand. */
function predictIndexed(
  topology: Topology,
  index: Map<string, number>,
  estimates: LinkEstimator,
  nodeIds: readonly string[],
  linkIds: readonly string[],
): PathPrediction {
  const nodes = nodeIds.map((id) => topology.nodes[requireNode(index, id)]);
  linkIds.forEach((id, i) => {
    const spec = estimates.spec(id);
    const ends = [nodeIds[i], nodeIds[i + 1]];
    if (!(ends.includes(spec.a) && ends.includes(spec.b) && spec.a !== spec.b))
      throw new RangeError(`link ${id} joins ${spec.a} and ${spec.b}, not ${ends[0]} and ${ends[1]}`);
  });
  const times = linkIds.map((id) => linkTimeS(estimates, id));
  const allReadyS = expectedMaxOfExponentials(times);
  let swapSuccess = 1;
  for (let i = 1; i + 1 < nodes.length; i++) swapSuccess *= nodes[i].swapSuccessProbability;
  const timePerPairS = swapSuccess > 0 ? allReadyS / swapSuccess : Number.POSITIVE_INFINITY;
  const pairRateHz = timePerPairS < Number.POSITIVE_INFINITY ? 1 / timePerPairS : 0;

  const linkWaitS = times.map((t) => (Number.isFinite(allReadyS) ? Math.max(0, allReadyS - t) : 0));
  const acc = new Float64Array(4);
  const pair = new Float64Array(4);
  for (let i = 0; i < linkIds.length; i++) {
    const left = nodes[i];
    const right = nodes[i + 1];
    const waitNs = Math.min(linkWaitS[i] * 1e9, left.cutoffNs, right.cutoffNs);
    wernerState(estimates.fidelity(linkIds[i]), pair);
    storeQubit(pair, left, waitNs, true);
    storeQubit(pair, right, waitNs, false);
    if (i === 0) acc.set(pair);
    else
      swapBellDiagonal(acc, acc, pair, {
        depolarizing: 1 - left.gateFidelity,
        measurementError: 1 - left.measurementFidelity,
      });
  }
  return {
    nodes: [...nodeIds],
    links: [...linkIds],
    fidelity: acc[0],
    pairRateHz,
    timePerPairS,
    linkWaitS,
  };
}

/** Decay of one half of a pair stored `waitNs` in `node`'s memory (`first`: the pair's first qubit). */
function storeQubit(pair: Float64Array, node: NodeSpec, waitNs: number, first: boolean): void {
  if (!(waitNs > 0)) return;
  const tA = first ? waitNs : 0;
  const tB = first ? 0 : waitNs;
  if (Number.isFinite(node.memory.depolarizingTimeNs))
    decayDepolarizing(pair, pair, tA, tB, node.memory.depolarizingTimeNs);
  if (Number.isFinite(node.memory.t2Ns)) decayDephasing(pair, pair, tA, tB, node.memory.t2Ns);
}

/**
 * Trusted-node QKD paths from `src` to `dst`, best first: every intermediate node is of type `trusted`
 * or `end` (a site that may see the key), every hop an up, QKD-capable link
 * ({@link RoutingOptions.qkdCapable}) with a positive key rate. A hop's key rate is taken as its pair
 * rate times {@link keyBitsPerPair} of its fidelity — an entanglement-based session on that link; the
 * path's rate is the slowest hop's, as the relay combines one key from each hop. Yen ranks by the sum
 * of the hops' seconds per key bit; the list keeps that order.
 * @throws RangeError if `src` or `dst` is not a node.
 */
export function trustedNodePaths(
  topology: Topology,
  estimates: LinkEstimator,
  src: string,
  dst: string,
  options: RoutingOptions = {},
): TrustedPathPrediction[] {
  const index = nodeIndex(topology);
  const s = requireNode(index, src);
  const d = requireNode(index, dst);
  const hopRate = (id: string) => estimates.expectedPairRateHz(id) * keyBitsPerPair(estimates.fidelity(id));
  const capable = options.qkdCapable ?? (() => true);
  const graph = usableGraph(
    topology,
    index,
    estimates,
    (l) => {
      const r = hopRate(l.id);
      return r > 0 ? 1 / r : Number.POSITIVE_INFINITY;
    },
    capable,
  );
  const transit = (i: number) => topology.nodes[i].type === "trusted" || topology.nodes[i].type === "end";
  const edges: WeightedEdge[] = [];
  const n = topology.nodes.length;
  for (const key of graph.linkBetween.keys()) {
    const a = Math.floor(key / n);
    edges.push({ a, b: key - a * n, cost: graph.costBetween!.get(key)! });
  }
  const paths = kShortestPaths(topology.nodes.length, edges, s, d, options.k ?? DEFAULT_K_PATHS, transit);
  return paths.map((p) => {
    const links = linksAlong(graph, p.nodes);
    const hopKeyRateBps = links.map(hopRate);
    return {
      nodes: p.nodes.map((i) => topology.nodes[i].id),
      links,
      keyRateBps: Math.min(...hopKeyRateBps),
      hopKeyRateBps,
    };
  });
}

/**
 * The links that cut `src` off from `dst`: links that are down and lie on the cheapest path when down
 * links are allowed (by hop count). Empty when the nodes are connected through up links or not at all.
 * Used to explain a refusal ("link a-r1 is down and no alternative exists").
 */
export function downLinksBlocking(
  topology: Topology,
  estimates: LinkEstimator,
  src: string,
  dst: string,
): string[] {
  const index = nodeIndex(topology);
  const s = requireNode(index, src);
  const d = requireNode(index, dst);
  const n = topology.nodes.length;
  const linkBetween = new Map<number, string>();
  const edges: WeightedEdge[] = [];
  for (const l of topology.links) {
    const a = index.get(l.a)!;
    const b = index.get(l.b)!;
    const key = pairKey(a, b, n);
    const prev = linkBetween.get(key);
    // Prefer an up link between the same pair of nodes; count down links as very expensive hops so
    // the path found uses as few of them as possible.
    const up = estimates.isUp(l.id);
    if (prev === undefined || (up && !estimates.isUp(prev))) linkBetween.set(key, l.id);
    edges.push({ a, b, cost: up ? 1 : 1e6 });
  }
  const [p] = kShortestPaths(topology.nodes.length, edges, s, d, 1);
  if (p === undefined) return [];
  const graph: Graph = { nodes: topology.nodes, index, linkBetween };
  return linksAlong(graph, p.nodes).filter((id) => !estimates.isUp(id));
}
