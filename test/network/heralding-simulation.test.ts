import { describe, expect, it } from "vitest";
import { simulate } from "../../src/network/simulation.js";
import { parseTopology } from "../../src/network/topology-loader.js";

/** One fiber link between two single-qubit end nodes, heralded at its midpoint, as a user writes it. */
function link(lengthKm: number, heralding: string, extra = ""): string {
  return `apiVersion: qnet/v1
name: link-${lengthKm}km
nodes:
  - { id: a, type: end, memory: { qubits: 1 } }
  - { id: b, type: end, memory: { qubits: 1 } }
links:
  - { a: a, b: b, length_km: ${lengthKm}, heralding: ${heralding}, detector_efficiency: 0.9 ${extra} }
requests:
  - { id: ab, src: a, dst: b }
`;
}

describe("heralded generation on fiber links, simulated end to end (physics.md, midpoint station, 0.2 dB/km)", () => {
  // Double click (Barrett–Kok): P = η²/2 with η = η_det·10^{−0.2·(L/2)/10}; attempt time L·n_g/c.
  for (const [lengthKm, p, rateHz, seconds] of [
    [10, 0.25554, 5.22e3, 2],
    [100, 4.05e-3, 8.27, 200],
  ] as const) {
    it(`double click, L = ${lengthKm} km: P = ${p}, ${rateHz} pairs/s, F = 1`, () => {
      const r = simulate(parseTopology(link(lengthKm, "double-click"), "link.yaml"), seconds * 1e9, {
        seed: 7,
      });
      const l = r.links[0];
      const pExact = (0.9 * 10 ** ((-0.2 * (lengthKm / 2)) / 10)) ** 2 / 2;
      expect(pExact).toBeCloseTo(p, 5);
      // Attempts are Bernoulli(P): successes ~ Binomial(attempts, P).
      const sigma = Math.sqrt(l.attempts * pExact * (1 - pExact));
      expect(Math.abs(l.successes - l.attempts * pExact)).toBeLessThan(5 * sigma);
      const attemptNs = (lengthKm * 1.4682 * 1e9) / 299_792.458; // L·n_g/c
      expect(l.attempts).toBeCloseTo((seconds * 1e9) / attemptNs, -1);
      expect(Math.abs(l.pairs_per_s - rateHz)).toBeLessThan((5 * sigma) / seconds + rateHz * 1e-3);
      expect(l.fidelity.mean).toBeCloseTo(1, 12);
      expect(r.requests[0].fidelity.mean).toBeCloseTo(1, 12);
    });
  }

  it("single click, α = 0.1, L = 10 km: P = 0.13787, F = 0.9334", () => {
    const r = simulate(
      parseTopology(link(10, "single-click", ", bright_state_population: 0.1"), "link.yaml"),
      2e9,
      { seed: 8 },
    );
    const l = r.links[0];
    const p = 0.13787;
    const sigma = Math.sqrt(l.attempts * p * (1 - p));
    expect(Math.abs(l.successes - l.attempts * p)).toBeLessThan(5 * sigma + l.attempts * 5e-6);
    expect(l.fidelity.mean).toBeCloseTo(0.9334, 4);
    expect(r.requests[0].fidelity.mean).toBeCloseTo(0.9334, 4);
  });

  it("rate falls with length as the transmission squared for double click", () => {
    const rates = [5, 20, 40].map(
      (km) => simulate(parseTopology(link(km, "double-click"), "l.yaml"), 5e9, { seed: km }).links[0],
    );
    for (const l of rates) expect(l.success_rate).toBeGreaterThan(0);
    expect(rates[0].success_rate).toBeGreaterThan(rates[1].success_rate);
    expect(rates[1].success_rate).toBeGreaterThan(rates[2].success_rate);
    // P(40 km) / P(20 km) = 10^{−0.2·20/10} = 0.398 per arm pair; within 5σ of each estimate.
    const ratio = rates[2].success_rate / rates[1].success_rate;
    const rel = Math.sqrt(1 / rates[2].successes + 1 / rates[1].successes);
    expect(Math.abs(ratio - 10 ** -0.4)).toBeLessThan(5 * rel * ratio);
  });
});
