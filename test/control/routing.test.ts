import { describe, expect, it } from "vitest";
import { LinkEstimator } from "../../src/control/link-estimates.js";
import {
  entanglementPaths,
  expectedMaxOfExponentials,
  keyBitsPerPair,
  kShortestPaths,
  predictPath,
  trustedNodePaths,
  type WeightedEdge,
} from "../../src/control/routing.js";
import type { LinkSpec, NodeSpec, Topology } from "../../src/network/topology.js";
import { Rng } from "../../src/sim/rng.js";
import { abstractLink, chain, node } from "../support/topologies.js";

function topo(nodes: NodeSpec[], links: LinkSpec[]): Topology {
  return { apiVersion: "qnet/v1", name: "t", nodes, links, swap: "asap", requests: [] };
}

/** Every loopless path src → dst whose intermediate nodes may transit, with its cost, cheapest first. */
function bruteForce(
  n: number,
  edges: WeightedEdge[],
  src: number,
  dst: number,
  transit: (i: number) => boolean,
) {
  const cost = new Map<string, number>();
  for (const e of edges) {
    for (const k of [`${e.a}:${e.b}`, `${e.b}:${e.a}`]) {
      const prev = cost.get(k);
      if (prev === undefined || e.cost < prev) cost.set(k, e.cost);
    }
  }
  const out: { nodes: number[]; cost: number }[] = [];
  const visit = (path: number[], c: number) => {
    const u = path[path.length - 1];
    if (u === dst) {
      out.push({ nodes: [...path], cost: c });
      return;
    }
    if (u !== src && !transit(u)) return;
    for (let v = 0; v < n; v++) {
      const w = cost.get(`${u}:${v}`);
      if (w === undefined || path.includes(v)) continue;
      path.push(v);
      visit(path, c + w);
      path.pop();
    }
  };
  visit([src], 0);
  return out.sort((x, y) => x.cost - y.cost);
}

describe("kShortestPaths (Yen)", () => {
  it("matches brute-force enumeration on small random graphs", () => {
    const rng = new Rng("yen-vs-brute-force");
    let compared = 0;
    for (let trial = 0; trial < 150; trial++) {
      const n = 4 + rng.int(5);
      const edges: WeightedEdge[] = [];
      for (let a = 0; a < n; a++)
        for (let b = a + 1; b < n; b++)
          if (rng.bernoulli(0.45)) edges.push({ a, b, cost: rng.uniform(0.1, 10) });
      // Sometimes a parallel edge, sometimes nodes that may not transit.
      if (edges.length > 0 && rng.bernoulli(0.3)) edges.push({ ...edges[0], cost: rng.uniform(0.1, 10) });
      const blocked = new Set<number>();
      if (rng.bernoulli(0.3)) blocked.add(rng.int(n));
      const transit = (i: number) => !blocked.has(i);
      const src = rng.int(n);
      let dst = rng.int(n - 1);
      if (dst >= src) dst++;
      const k = 1 + rng.int(8);
      const expected = bruteForce(n, edges, src, dst, transit).slice(0, k);
      const got = kShortestPaths(n, edges, src, dst, k, transit);
      expect(got.map((p) => p.nodes)).toEqual(expected.map((p) => p.nodes));
      for (let i = 0; i < got.length; i++) expect(got[i].cost).toBeCloseTo(expected[i].cost, 9);
      compared += got.length;
    }
    expect(compared).toBeGreaterThan(200);
  });

  it("returns nothing for unconnected or identical ends and breaks ties deterministically", () => {
    expect(kShortestPaths(3, [{ a: 0, b: 1, cost: 1 }], 0, 2, 3)).toEqual([]);
    expect(kShortestPaths(2, [{ a: 0, b: 1, cost: 1 }], 0, 0, 3)).toEqual([]);
    // Two equal-cost two-hop paths: the lexicographically smaller node sequence first.
    const square: WeightedEdge[] = [
      { a: 0, b: 2, cost: 1 },
      { a: 2, b: 3, cost: 1 },
      { a: 0, b: 1, cost: 1 },
      { a: 1, b: 3, cost: 1 },
    ];
    expect(kShortestPaths(4, square, 0, 3, 2).map((p) => p.nodes)).toEqual([
      [0, 1, 3],
      [0, 2, 3],
    ]);
    expect(() => kShortestPaths(2, [{ a: 0, b: 1, cost: -1 }], 0, 1, 1)).toThrow(/finite and ≥ 0/);
  });
});

describe("path prediction", () => {
  it("composes Werner links as physics.md says (perfect swaps and memories)", () => {
    // physics.md: N identical links of F = 0.95 → N=2 0.903333, N=4 0.819126, N=8 0.681872.
    for (const [n, f] of [
      [2, 0.903333],
      [4, 0.819126],
      [8, 0.681872],
    ] as const) {
      const t = chain({ links: n, p: 0.5, attemptDurationNs: 1e6, fidelity: 0.95 });
      const est = new LinkEstimator(t);
      const [best] = entanglementPaths(t, est, "n0", `n${n}`);
      expect(best.nodes).toEqual(Array.from({ length: n + 1 }, (_, i) => `n${i}`));
      expect(best.fidelity).toBeCloseTo(f, 6);
    }
    // F1 = 0.9, F2 = 0.8 → 0.726667.
    const t = topo(
      [node("a", { type: "end" }), node("r"), node("b", { type: "end" })],
      [abstractLink("a", "r", 0.5, 1e6, 0.9), abstractLink("r", "b", 0.5, 1e6, 0.8)],
    );
    expect(predictPath(t, new LinkEstimator(t), ["a", "r", "b"], ["a-r", "r-b"]).fidelity).toBeCloseTo(
      0.726667,
      6,
    );
  });

  it("decays waiting pairs in depolarizing memories: w·e^{−2W/T} per link", () => {
    // Two links of 500 Hz (T = 2 ms): E[max] = 1.5·T = 3 ms, so each pair waits W = 1 ms.
    const t = chain({
      links: 2,
      p: 0.5,
      attemptDurationNs: 1e6,
      node: { memory: memory({ depolarizingTimeNs: 1e7 }) },
    });
    const p = predictPath(t, new LinkEstimator(t), ["n0", "n1", "n2"], ["n0-n1", "n1-n2"]);
    expect(p.timePerPairS).toBeCloseTo(3e-3, 12);
    expect(p.linkWaitS).toEqual([expect.closeTo(1e-3, 12), expect.closeTo(1e-3, 12)]);
    const w = Math.exp((-2 * 1e6) / 1e7) ** 2;
    expect(p.fidelity).toBeCloseTo((1 + 3 * w) / 4, 12);
    // Dephasing memories, physics.md's form F = (1 + w0 + 2·w0·e^{−2t/T2})/4 composed over the two links.
    const d = chain({ links: 2, p: 0.5, attemptDurationNs: 1e6, node: { memory: memory({ t2Ns: 1e7 }) } });
    const q = predictPath(d, new LinkEstimator(d), ["n0", "n1", "n2"], ["n0-n1", "n1-n2"]);
    // Each link: Z error with probability (1 − e^{−2W/T2})/2; two independent Z errors compose.
    const z = (1 - Math.exp(-0.2)) / 2;
    expect(q.fidelity).toBeCloseTo((1 - z) ** 2 + z ** 2, 12);
  });

  it("applies the swapping node's gate noise", () => {
    const t = chain({ links: 2, p: 0.5, attemptDurationNs: 1e6, node: { gateFidelity: 0.9 } });
    const p = predictPath(t, new LinkEstimator(t), ["n0", "n1", "n2"], ["n0-n1", "n1-n2"]);
    // A depolarizing error 0.1 at the swap: w = 0.9 → F = (1 + 3·0.9)/4.
    expect(p.fidelity).toBeCloseTo(0.925, 12);
  });

  it("predicts the time per pair close to the discrete repeater-chain values (physics.md)", () => {
    // Brand et al.: p = 0.1, N = 2: 14.736842 attempts with a = 1, 29.473684 with a = 0.5.
    for (const [a, attempts] of [
      [1, 14.736842],
      [0.5, 29.473684],
    ] as const) {
      const t = chain({ links: 2, p: 0.1, attemptDurationNs: 1e3, swapSuccessProbability: a });
      const p = predictPath(t, new LinkEstimator(t), ["n0", "n1", "n2"], ["n0-n1", "n1-n2"]);
      expect(p.timePerPairS / (attempts * 1e-6)).toBeGreaterThan(0.97);
      expect(p.timePerPairS / (attempts * 1e-6)).toBeLessThan(1.03);
    }
  });

  it("computes E[max] of exponentials exactly and by quadrature", () => {
    const harmonic = (n: number) =>
      Array.from({ length: n }, (_, i) => 1 / (i + 1)).reduce((x, y) => x + y, 0);
    expect(expectedMaxOfExponentials([2, 2, 2])).toBeCloseTo(2 * harmonic(3), 12);
    expect(expectedMaxOfExponentials(Array(20).fill(1))).toBeCloseTo(harmonic(20), 6);
    // Two different means: 1/λ1 + 1/λ2 − 1/(λ1 + λ2).
    expect(expectedMaxOfExponentials([1, 3])).toBeCloseTo(1 + 3 - 1 / (1 + 1 / 3), 12);
  });

  it("gives key fractions from Werner QBER (BBM92, asymptotic)", () => {
    expect(keyBitsPerPair(1)).toBeCloseTo(0.5, 12);
    expect(keyBitsPerPair(0.8)).toBe(0);
    expect(keyBitsPerPair(0.95)).toBeGreaterThan(0.15);
  });
});

describe("candidate paths on live estimates", () => {
  // Diamond: a–r1–b fast, a–r2–b slow.
  const diamond = () =>
    topo(
      [node("a", { type: "end" }), node("r1"), node("r2"), node("b", { type: "end" })],
      [
        abstractLink("a", "r1", 0.5, 1e6, 0.97),
        abstractLink("r1", "b", 0.5, 1e6, 0.97),
        abstractLink("a", "r2", 0.1, 1e6, 0.99),
        abstractLink("r2", "b", 0.1, 1e6, 0.99),
      ],
    );

  it("ranks the faster path first and reroutes around a down link", () => {
    const t = diamond();
    const est = new LinkEstimator(t);
    const paths = entanglementPaths(t, est, "a", "b");
    expect(paths.map((p) => p.nodes.join("-"))).toEqual(["a-r1-b", "a-r2-b"]);
    est.markDown("a-r1");
    expect(entanglementPaths(t, est, "a", "b").map((p) => p.nodes.join("-"))).toEqual(["a-r2-b"]);
    est.markUp("a-r1");
    // Observations that the r1 links collapsed move the choice too.
    est.observeAttempts("a-r1", 20_000, 200);
    expect(entanglementPaths(t, est, "a", "b")[0].nodes.join("-")).toBe("a-r2-b");
  });

  it("never routes through a node without the memories to swap", () => {
    const t = diamond();
    t.nodes[1] = node("r1", { qubits: 1 });
    expect(entanglementPaths(t, new LinkEstimator(t), "a", "b").map((p) => p.nodes.join("-"))).toEqual([
      "a-r2-b",
    ]);
    expect(() => entanglementPaths(t, new LinkEstimator(t), "a", "zz")).toThrow(/unknown node "zz"/);
  });

  it("finds trusted-node QKD paths only through trusted or end nodes and QKD-capable links", () => {
    const t = topo(
      [
        node("a", { type: "end", qubits: 0 }),
        node("t1", { type: "trusted", qubits: 0 }),
        node("r", { type: "repeater" }),
        node("b", { type: "end", qubits: 0 }),
      ],
      [
        abstractLink("a", "t1", 0.5, 1e6, 0.99),
        abstractLink("t1", "b", 0.2, 1e6, 0.99),
        abstractLink("a", "r", 0.5, 1e6, 0.99),
        abstractLink("r", "b", 0.5, 1e6, 0.99),
      ],
    );
    const est = new LinkEstimator(t);
    const [p, ...rest] = trustedNodePaths(t, est, "a", "b");
    expect(rest).toEqual([]);
    expect(p.nodes).toEqual(["a", "t1", "b"]);
    // The relay is as fast as its slowest hop.
    expect(p.keyRateBps).toBeCloseTo(200 * keyBitsPerPair(0.99), 9);
    expect(trustedNodePaths(t, est, "a", "b", { qkdCapable: (l) => l.id !== "t1-b" })).toEqual([]);
  });
});

function memory(o: Partial<NodeSpec["memory"]>): NodeSpec["memory"] {
  return {
    qubits: 2,
    t1Ns: Number.POSITIVE_INFINITY,
    t2Ns: Number.POSITIVE_INFINITY,
    depolarizingTimeNs: Number.POSITIVE_INFINITY,
    efficiency: 1,
    ...o,
  };
}
