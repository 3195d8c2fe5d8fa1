import { describe, expect, it } from "vitest";
import { runBbm92OverNetwork } from "../../src/qkd/bbm92-network.js";
import { chain } from "../support/topologies.js";

// BBM92 (Bennett, Brassard, Mermin, PRL 68, 557, 1992) on the pairs a simulated repeater chain delivers.
// A pair's Z-basis error probability is p(Ψ+) + p(Ψ−) and its X-basis one p(Φ−) + p(Ψ−); both are linear
// in the state, so the observed rates must match those of the delivered pairs' mean state within the
// binomial standard error. Secret fraction 1 − f·h(e_Z) − h(e_X) (Shor & Preskill, PRL 85, 441, 2000).
describe("a repeater chain carries entanglement-based QKD", () => {
  it("error rates on a 4-link chain with decohering memories match the delivered states within 5σ", () => {
    const t = chain({ links: 4, p: 0.2, attemptDurationNs: 1000, fidelity: 0.97, latencyNs: 2000 });
    for (const n of t.nodes) n.memory = { ...n.memory, depolarizingTimeNs: 2e6 };
    const r = runBbm92OverNetwork(t, { untilNs: 2e9, seed: 5 });
    expect(r.pairs).toBe(r.network.requests[0].delivered);
    expect(r.pairs).toBeGreaterThan(20_000);
    for (const b of ["z", "x"] as const) {
      const e = r.expected_qber[b];
      const sigma = Math.sqrt((e * (1 - e)) / r.sifted[b]);
      expect(Math.abs(r.qber[b] - e)).toBeLessThan(5 * sigma);
    }
    // Werner links and depolarizing memories keep the state Werner-like: both error rates equal 2(1−F)/3.
    const f = r.network.requests[0].fidelity.mean;
    expect(r.expected_qber.z).toBeCloseTo((2 * (1 - f)) / 3, 2);
    expect(r.secret_bits).toBeGreaterThan(0);
    expect(r.secret_key_rate_bps).toBeCloseTo(r.secret_bits / 2, 6);
  });

  it("no key when the delivered pairs are too noisy", () => {
    const t = chain({ links: 3, p: 0.5, attemptDurationNs: 1000, fidelity: 0.85 });
    const r = runBbm92OverNetwork(t, { untilNs: 2e8, seed: 2 });
    expect(r.qber.z).toBeGreaterThan(0.11);
    expect(r.secret_bits).toBe(0);
  });

  it("names a missing request", () => {
    const t = chain({ links: 1, p: 0.5 });
    expect(() => runBbm92OverNetwork(t, { untilNs: 1e6, requestId: "nope" })).toThrow(
      /no request 'nope' \(requests: req\)/,
    );
  });
});
