import { describe, expect, it } from "vitest";
import { LinkEstimator } from "../../src/control/link-estimates.js";
import {
  entanglementPaths,
  expectedMaxOfExponentials,
  type IndexPath,
  kShortestPaths,
  predictPath,
  type WeightedEdge,
} from "../../src/control/routing.js";
import type { LinkSpec, NodeSpec, Topology } from "../../src/network/topology.js";
import { Rng } from "../../src/sim/rng.js";
import { abstractLink, node } from "../support/topologies.js";

/**
 * Yen's algorithm written plainly: adjacency maps, Dijkstra by a linear scan for the node of least
 * (distance, hops, index), banned edges as strings. `kShortestPaths` must return exactly what this
 * returns — same paths, same order, same costs — on graphs too large to enumerate.
 */
function referenceYen(
  nodeCount: number,
  edges: readonly WeightedEdge[],
  src: number,
  dst: number,
  k: number,
  canTransit: (node: number) => boolean,
): IndexPath[] {
  if (src === dst || k < 1) return [];
  const adj: Map<number, number>[] = Array.from({ length: nodeCount }, () => new Map());
  for (const e of edges) {
    if (e.a === e.b) continue;
    const prev = adj[e.a].get(e.b);
    if (prev === undefined || e.cost < prev) {
      adj[e.a].set(e.b, e.cost);
      adj[e.b].set(e.a, e.cost);
    }
  }
  const pathCost = (nodes: number[]) => {
    let c = 0;
    for (let i = 0; i + 1 < nodes.length; i++) c += adj[nodes[i]].get(nodes[i + 1])!;
    return c;
  };
  const shortest = (from: number, bannedNodes: Set<number>, bannedEdges: Set<string>): number[] | null => {
    const dist = new Float64Array(nodeCount).fill(Number.POSITIVE_INFINITY);
    const hops = new Int32Array(nodeCount).fill(0x7fffffff);
    const prev = new Int32Array(nodeCount).fill(-1);
    const done = new Uint8Array(nodeCount);
    dist[from] = 0;
    hops[from] = 0;
    for (;;) {
      let u = -1;
      for (let i = 0; i < nodeCount; i++) {
        if (done[i] || dist[i] === Number.POSITIVE_INFINITY) continue;
        if (u < 0 || dist[i] < dist[u] || (dist[i] === dist[u] && hops[i] < hops[u])) u = i;
      }
      if (u < 0 || u === dst) break;
      done[u] = 1;
      if (u !== from && !canTransit(u)) continue;
      for (const [v, c] of adj[u]) {
        if (bannedNodes.has(v) || bannedEdges.has(`${u}>${v}`)) continue;
        const d = dist[u] + c;
        if (d < dist[v] || (d === dist[v] && hops[u] + 1 < hops[v])) {
          dist[v] = d;
          hops[v] = hops[u] + 1;
          prev[v] = u;
        }
      }
    }
    if (dist[dst] === Number.POSITIVE_INFINITY) return null;
    const path = [dst];
    while (path[path.length - 1] !== from) path.push(prev[path[path.length - 1]]);
    return path.reverse();
  };
  const first = shortest(src, new Set(), new Set());
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
      if (i > 0 && !canTransit(spur)) continue;
      const root = last.slice(0, i + 1);
      const bannedEdges = new Set<string>();
      for (const p of found)
        if (p.nodes.length > i + 1 && root.every((n, j) => p.nodes[j] === n))
          bannedEdges.add(`${p.nodes[i]}>${p.nodes[i + 1]}`);
      const tail = shortest(spur, new Set(root.slice(0, i)), bannedEdges);
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

/** A random sparse graph of `n` nodes, average degree ≈ `degree`, costs from `cost`. */
function randomGraph(rng: Rng, n: number, degree: number, cost: () => number): WeightedEdge[] {
  const edges: WeightedEdge[] = [];
  // A random spanning tree keeps most of the graph connected; extra edges make the mesh.
  for (let v = 1; v < n; v++) edges.push({ a: rng.int(v), b: v, cost: cost() });
  const extra = Math.max(0, Math.round((n * degree) / 2) - (n - 1));
  for (let i = 0; i < extra; i++) edges.push({ a: rng.int(n), b: rng.int(n), cost: cost() });
  return edges;
}

describe("kShortestPaths on 100-node graphs", () => {
  it("returns exactly what plain Yen returns, ties and blocked nodes included", () => {
    const rng = new Rng("yen-100-nodes");
    let compared = 0;
    for (let trial = 0; trial < 60; trial++) {
      const n = 100;
      // Integer costs (0 included) make many ties; real costs make none; unit costs make hop counts.
      const style = trial % 3;
      const cost = style === 0 ? () => rng.int(4) : style === 1 ? () => rng.uniform(0.01, 10) : () => 1;
      const edges = randomGraph(rng, n, 3 + rng.int(3), cost);
      const blocked = new Set<number>();
      for (let i = 0; i < 10; i++) if (rng.bernoulli(0.5)) blocked.add(rng.int(n));
      const transit = (i: number) => !blocked.has(i);
      for (let q = 0; q < 5; q++) {
        const src = rng.int(n);
        const dst = rng.int(n);
        const k = 1 + rng.int(8);
        const got = kShortestPaths(n, edges, src, dst, k, transit);
        expect(got).toEqual(referenceYen(n, edges, src, dst, k, transit));
        compared += got.length;
      }
    }
    expect(compared).toBeGreaterThan(800);
  });
});

describe("expectedMaxOfExponentials", () => {
  it("gives the inclusion–exclusion sum bit for bit, up to 12 links", () => {
    const rng = new Rng("emax");
    for (let trial = 0; trial < 300; trial++) {
      const n = 2 + rng.int(11);
      const means = Array.from({ length: n }, () => 10 ** rng.uniform(-4, 2));
      let sum = 0;
      for (let mask = 1; mask < 1 << n; mask++) {
        let rate = 0;
        let bits = 0;
        for (let i = 0; i < n; i++)
          if (mask & (1 << i)) {
            rate += 1 / means[i];
            bits++;
          }
        sum += (bits % 2 === 1 ? 1 : -1) / rate;
      }
      expect(expectedMaxOfExponentials(means)).toBe(sum);
    }
  });
});

describe("entanglementPaths on a 100-node network", () => {
  /** 30 repeaters and 70 end nodes on random abstract links; a few nodes with poor swaps. */
  function network(rng: Rng): Topology {
    const nodes: NodeSpec[] = [];
    for (let i = 0; i < 30; i++)
      nodes.push(node(`r${i}`, { qubits: 4, swapSuccessProbability: rng.bernoulli(0.2) ? 0.5 : 0.95 }));
    for (let i = 0; i < 70; i++)
      nodes.push(node(`e${i}`, { type: "end", qubits: rng.bernoulli(0.5) ? 1 : 4 }));
    const links: LinkSpec[] = [];
    const seen = new Set<string>();
    const add = (a: string, b: string) => {
      const key = a < b ? `${a}|${b}` : `${b}|${a}`;
      if (a === b || seen.has(key)) return;
      seen.add(key);
      // Success probabilities on a coarse grid give equal link times, hence ties.
      links.push(abstractLink(a, b, rng.int(4) * 0.1 + 0.1, 1000, 0.9 + rng.int(10) * 0.01));
    };
    for (let i = 1; i < 30; i++) add(`r${rng.int(i)}`, `r${i}`);
    for (let i = 0; i < 30; i++) add(`r${rng.int(30)}`, `r${rng.int(30)}`);
    for (let i = 0; i < 70; i++) {
      add(`e${i}`, `r${rng.int(30)}`);
      if (rng.bernoulli(0.5)) add(`e${i}`, `r${rng.int(30)}`);
      if (rng.bernoulli(0.2)) add(`e${i}`, `e${rng.int(70)}`);
    }
    return { apiVersion: "qnet/v1", name: "net100", nodes, links, swap: "asap", requests: [] };
  }

  it("ranks by the documented link cost and predicts each path as predictPath does", () => {
    const rng = new Rng("net-100");
    const t = network(rng);
    const est = new LinkEstimator(t);
    for (const l of t.links) if (rng.bernoulli(0.1)) est.markDown(l.id);
    const index = new Map(t.nodes.map((n, i) => [n.id, i]));
    const linkOf = new Map<string, string>();
    for (const l of t.links)
      linkOf.set([index.get(l.a)!, index.get(l.b)!].sort((x, y) => x - y).join(":"), l.id);
    const ends = t.nodes.filter((n) => n.type === "end").map((n) => n.id);
    let compared = 0;
    for (let q = 0; q < 150; q++) {
      const src = ends[rng.int(ends.length)];
      const dst = ends[rng.int(ends.length)];
      if (src === dst) continue;
      const s = index.get(src)!;
      const d = index.get(dst)!;
      const penalty = (i: number) =>
        i === s || i === d ? 0 : (1 - t.nodes[i].swapSuccessProbability) / t.nodes[i].swapSuccessProbability;
      const edges: WeightedEdge[] = t.links
        .filter((l) => est.isUp(l.id))
        .map((l) => {
          const a = index.get(l.a)!;
          const b = index.get(l.b)!;
          return { a, b, cost: (1 / est.expectedPairRateHz(l.id)) * (1 + penalty(a) + penalty(b)) };
        });
      const transit = (i: number) => t.nodes[i].memory.qubits >= 2 && t.nodes[i].swapSuccessProbability > 0;
      const expected =
        t.nodes[s].memory.qubits < 1 || t.nodes[d].memory.qubits < 1
          ? []
          : referenceYen(t.nodes.length, edges, s, d, 4, transit);
      const got = entanglementPaths(t, est, src, dst);
      expect(got.map((p) => p.nodes)).toEqual(expected.map((p) => p.nodes.map((i) => t.nodes[i].id)));
      for (const p of got) {
        const links = p.nodes
          .slice(1)
          .map((id, i) =>
            linkOf.get([index.get(p.nodes[i])!, index.get(id)!].sort((x, y) => x - y).join(":")),
          );
        expect(p.links).toEqual(links);
        expect(p).toEqual(predictPath(t, est, p.nodes, p.links));
      }
      compared += got.length;
    }
    expect(compared).toBeGreaterThan(300);
  });
});
