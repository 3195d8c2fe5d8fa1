import type { Topology } from "./topology.js";

/**
 * Cheapest path between two nodes by Dijkstra's algorithm over the topology's links, with a
 * caller-supplied non-negative cost per link (e.g. the expected time to herald one pair). Ties are
 * broken by fewer hops, then by node order in the file, so the choice is deterministic.
 *
 * @returns node indices from `src` to `dst`, or null when they are not connected.
 */
export function cheapestPath(
  topology: Topology,
  src: number,
  dst: number,
  linkCost: (linkIndex: number) => number,
): number[] | null {
  const n = topology.nodes.length;
  const index = new Map(topology.nodes.map((node, i) => [node.id, i]));
  const adj: { to: number; link: number }[][] = Array.from({ length: n }, () => []);
  topology.links.forEach((l, li) => {
    const a = index.get(l.a)!;
    const b = index.get(l.b)!;
    adj[a].push({ to: b, link: li });
    adj[b].push({ to: a, link: li });
  });
  const dist = new Float64Array(n).fill(Number.POSITIVE_INFINITY);
  const hops = new Int32Array(n).fill(0x7fffffff);
  const prev = new Int32Array(n).fill(-1);
  const done = new Uint8Array(n);
  dist[src] = 0;
  hops[src] = 0;
  for (;;) {
    let u = -1;
    for (let i = 0; i < n; i++) {
      if (done[i] || dist[i] === Number.POSITIVE_INFINITY) continue;
      if (u < 0 || dist[i] < dist[u] || (dist[i] === dist[u] && hops[i] < hops[u])) u = i;
    }
    if (u < 0 || u === dst) break;
    done[u] = 1;
    for (const { to, link } of adj[u]) {
      const c = linkCost(link);
      if (!(c >= 0)) throw new RangeError(`link ${topology.links[link].id} has an invalid routing cost ${c}`);
      const d = dist[u] + c;
      if (d < dist[to] || (d === dist[to] && hops[u] + 1 < hops[to])) {
        dist[to] = d;
        hops[to] = hops[u] + 1;
        prev[to] = u;
      }
    }
  }
  if (dist[dst] === Number.POSITIVE_INFINITY) return null;
  const path = [dst];
  while (path[path.length - 1] !== src) path.push(prev[path[path.length - 1]]);
  return path.reverse();
}
