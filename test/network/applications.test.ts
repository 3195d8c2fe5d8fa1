import { describe, expect, it } from "vitest";
import { simulate } from "../../src/network/simulation.js";
import type { Topology } from "../../src/network/topology.js";
import { ChshTest, teleportThroughPair } from "../../src/protocols/applications.js";
import { createBellDiagonal, wernerState } from "../../src/quantum/bell-diagonal.js";
import { RngStreams } from "../../src/sim/rng.js";
import { abstractLink, chain, node, request } from "../support/topologies.js";

describe("teleportation of a given state end to end", () => {
  it("through Werner pairs: fidelity (2F+1)/3 for every state (physics.md), F = 0.903333 after one swap", () => {
    const t = chain({
      links: 2,
      p: 0.3,
      fidelity: 0.95,
      request: { application: { kind: "teleport", theta: 1.1, phi: 0.4 } },
    });
    const app = simulate(t, 1e4, { seed: 1 }).requests[0].application;
    if (app?.kind !== "teleport") throw new Error("expected a teleport report");
    const f = 0.95 * 0.95 + 0.05 ** 2 / 3;
    expect(app.fidelity.mean).toBeCloseTo((2 * f + 1) / 3, 9);
    expect(app.fidelity.p05).toBeCloseTo((2 * f + 1) / 3, 9);
  });
  it("through dephased pairs the fidelity depends on the state: 1 − p_Z·sin²θ", () => {
    // A pair stored t = 0.1·T2 in both memories before the swap (physics.md: F = 0.909365, all Φ−).
    const mem = (q: number) => ({
      qubits: q,
      t1Ns: Infinity,
      t2Ns: 1e6,
      depolarizingTimeNs: Infinity,
      efficiency: 1,
    });
    const make = (theta: number): Topology => ({
      apiVersion: "qnet/v1",
      name: "dephased",
      nodes: [
        { ...node("A"), memory: mem(1) },
        { ...node("R"), memory: mem(2) },
        { ...node("B"), memory: mem(1) },
      ],
      links: [abstractLink("A", "R", 1, 1000), abstractLink("R", "B", 1, 1000 + 1e5)],
      swap: "asap",
      requests: [request("A", "B", { pairs: 1, application: { kind: "teleport", theta, phi: 0.3 } })],
    });
    const pz = 1 - 0.909365;
    for (const theta of [0, Math.PI / 2, 1]) {
      const app = simulate(make(theta), 1e9).requests[0].application;
      if (app?.kind !== "teleport") throw new Error("expected a teleport report");
      expect(app.fidelity.mean).toBeCloseTo(1 - pz * Math.sin(theta) ** 2, 6);
    }
  });
  it("is exact for each Bell-state error: σ_k ψ σ_k", () => {
    const rng = new RngStreams(2).stream("t");
    // Pure Φ− (a Z error): the state (θ = π/2, φ) arrives as (π/2, φ + π), fidelity 0.
    expect(teleportThroughPair(createBellDiagonal(0, 0, 0, 1), Math.PI / 2, 0.2, rng)).toBeCloseTo(0, 12);
    // Pure Ψ+ (an X error): |0⟩ arrives as |1⟩.
    expect(teleportThroughPair(createBellDiagonal(0, 0, 1, 0), 0, 0, rng)).toBeCloseTo(0, 12);
    expect(teleportThroughPair(wernerState(1), 0.7, 2.1, rng)).toBeCloseTo(1, 12);
  });
});

describe("CHSH Bell test on delivered pairs", () => {
  it("S = 2√2·w for Werner pairs, within 5σ (w = (4F−1)/3, F = 0.903333)", () => {
    const t = chain({
      links: 2,
      p: 0.5,
      fidelity: 0.95,
      qubitsPerSide: 4,
      request: { application: { kind: "chsh" } },
    });
    const app = simulate(t, 2e5, { seed: 3 }).requests[0].application;
    if (app?.kind !== "chsh") throw new Error("expected a CHSH report");
    const f = 0.95 * 0.95 + 0.05 ** 2 / 3;
    const expected = 2 * Math.SQRT2 * ((4 * f - 1) / 3);
    expect(app.rounds).toBeGreaterThan(20000);
    expect(Math.abs(app.s - expected)).toBeLessThan(5 * app.s_stderr);
    expect(app.s).toBeGreaterThan(2); // violates the local-realist bound
  });
  it("finds no violation with the maximally mixed state", () => {
    const chsh = new ChshTest();
    const rng = new RngStreams(4).stream("c");
    const mixed = createBellDiagonal(0.25, 0.25, 0.25, 0.25);
    for (let i = 0; i < 20000; i++) chsh.record(mixed, rng);
    const r = chsh.result();
    expect(Math.abs(r.s)).toBeLessThan(5 * r.sStderr);
  });
});
