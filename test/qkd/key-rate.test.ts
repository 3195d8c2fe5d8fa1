import { describe, expect, it } from "vitest";
import {
  cutoffDistanceKm,
  GYS_PARAMETERS,
  intensityStatistics,
  KEY_RATE_MODELS,
  keyRate,
  keyRateCurve,
  keyRateInfiniteDecoy,
  keyRateNoDecoy,
  keyRatePlob,
  keyRateVacuumWeak,
  maximizeScalar,
  overallTransmittance,
  plobBound,
  resolveKeyRateParameters,
} from "../../src/qkd/key-rate.js";

const rel = (a: number, b: number) => Math.abs(a / b - 1);

describe("infinite-decoy model (Lo, Ma, Chen, PRL 94, 230504 (2005))", () => {
  // physics.md, "Decoy-state BB84": GYS parameters, fixed μ = 0.48, values to 5 significant digits.
  const published: [number, number][] = [
    [0, 2.5546e-3],
    [20, 9.6245e-4],
    [40, 3.6308e-4],
    [60, 1.3607e-4],
    [80, 4.9899e-5],
    [100, 1.7184e-5],
    [120, 4.8145e-6],
  ];
  it.each(published)("reproduces R at L = %d km with μ = 0.48 to 1e-4 relative", (L, R) => {
    expect(rel(keyRateInfiniteDecoy(L, 0.48).key_rate_per_pulse, R)).toBeLessThan(1e-4);
  });

  it("reports the signal statistics behind the rate", () => {
    const p = keyRateInfiniteDecoy(0, 0.48);
    // η = η_Bob at 0 km; Q = Y0 + 1 − e^(−ημ); Y1 = Y0 + η − Y0·η; e1 = (Y0/2 + e_det·η)/Y1.
    expect(p.transmittance).toBe(0.045);
    expect(p.gain).toBeCloseTo(1.7e-6 + 1 - Math.exp(-0.045 * 0.48), 15);
    expect(p.single_photon_yield).toBeCloseTo(1.7e-6 + 0.045 - 1.7e-6 * 0.045, 15);
    expect(p.single_photon_error).toBeCloseTo((0.5 * 1.7e-6 + 0.033 * 0.045) / p.single_photon_yield!, 15);
    expect(p.qber).toBeCloseTo((0.5 * 1.7e-6 + 0.033 * (1 - Math.exp(-0.0216))) / p.gain!, 15);
    expect(p.mu).toBe(0.48);
    expect(p.model).toBe("infinite-decoy");
  });

  it("finds an optimal μ near 0.48 at mid distances (Lo–Ma–Chen: μ ≈ 0.48 for GYS)", () => {
    for (const L of [20, 40, 60, 80, 100]) {
      const opt = keyRateInfiniteDecoy(L, "optimal");
      expect(opt.mu!).toBeGreaterThan(0.45);
      expect(opt.mu!).toBeLessThan(0.52);
      // The optimum is at least as good as the published fixed intensity, and as any nearby one.
      for (const mu of [0.3, 0.48, 0.6])
        expect(opt.key_rate_per_pulse).toBeGreaterThanOrEqual(keyRateInfiniteDecoy(L, mu).key_rate_per_pulse);
    }
  });

  it("clamps to 0 past a cutoff near 142 km and reports the cutoff", () => {
    const cut = cutoffDistanceKm("infinite-decoy", 0.48)!;
    expect(cut).toBeGreaterThan(135);
    expect(cut).toBeLessThan(150);
    expect(keyRateInfiniteDecoy(cut - 0.01, 0.48).key_rate_per_pulse).toBeGreaterThan(0);
    expect(keyRateInfiniteDecoy(cut + 0.01, 0.48).key_rate_per_pulse).toBe(0);
    expect(keyRateInfiniteDecoy(200, 0.48).key_rate_per_pulse).toBe(0);
    // The optimal-μ cutoff lies at least as far.
    expect(cutoffDistanceKm("infinite-decoy")!).toBeGreaterThanOrEqual(cut - 1e-6);
  });

  it("past the cutoff with optimal μ reports no intensity", () => {
    const p = keyRateInfiniteDecoy(200);
    expect(p.key_rate_per_pulse).toBe(0);
    expect(p.mu).toBeNull();
    expect(p.qber).toBeNull();
  });
});

describe("vacuum + weak decoy model (Ma, Qi, Zhao, Lo, PRA 72, 012326 (2005))", () => {
  it("bounds Y1 from below and e1 from above, so its rate stays below infinite decoys", () => {
    for (const L of [0, 30, 60, 90, 120]) {
      const ideal = keyRateInfiniteDecoy(L, 0.48);
      const vw = keyRateVacuumWeak(L, 0.48, { nu: 0.1 });
      expect(vw.single_photon_yield!).toBeLessThanOrEqual(ideal.single_photon_yield!);
      expect(vw.single_photon_error!).toBeGreaterThanOrEqual(ideal.single_photon_error!);
      expect(vw.key_rate_per_pulse).toBeLessThan(ideal.key_rate_per_pulse);
      expect(vw.nu).toBe(0.1);
    }
  });

  it("matches the formulas of physics.md term by term", () => {
    const L = 50;
    const mu = 0.48;
    const nu = 0.1;
    const eta = overallTransmittance(L);
    const s = intensityStatistics(mu, eta, GYS_PARAMETERS);
    const w = intensityStatistics(nu, eta, GYS_PARAMETERS);
    const y0 = 1.7e-6;
    const y1L =
      (mu / (mu * nu - nu * nu)) *
      (w.gain * Math.exp(nu) -
        s.gain * Math.exp(mu) * (nu ** 2 / mu ** 2) -
        ((mu ** 2 - nu ** 2) / mu ** 2) * y0);
    const e1U = (w.errorRate * w.gain * Math.exp(nu) - 0.5 * y0) / (y1L * nu);
    const p = keyRateVacuumWeak(L, mu, { nu });
    expect(rel(p.single_photon_yield!, y1L)).toBeLessThan(1e-12);
    expect(rel(p.single_photon_error!, e1U)).toBeLessThan(1e-12);
  });

  it("approaches infinite decoys as ν → 0", () => {
    for (const L of [20, 80]) {
      const ideal = keyRateInfiniteDecoy(L, 0.48).key_rate_per_pulse;
      const gaps = [0.2, 0.1, 0.01, 0.001].map(
        (nu) => (ideal - keyRateVacuumWeak(L, 0.48, { nu }).key_rate_per_pulse) / ideal,
      );
      for (let i = 1; i < gaps.length; i++) expect(gaps[i]).toBeLessThan(gaps[i - 1]);
      expect(gaps[0]).toBeGreaterThan(0.1);
      expect(gaps[3]).toBeLessThan(0.005);
    }
  });

  it("rejects a weak decoy that is not weaker than the signal", () => {
    expect(() => keyRateVacuumWeak(10, 0.1, { nu: 0.1 })).toThrow(
      /nu = 0\.1 must be below the signal mu = 0\.1/,
    );
    // With optimal μ the search starts above ν.
    expect(keyRateVacuumWeak(10, "optimal", { nu: 0.3 }).mu!).toBeGreaterThan(0.3);
  });
});

describe("no-decoy model (GLLP, Gottesman, Lo, Lütkenhaus, Preskill 2004)", () => {
  it("assumes every multi-photon pulse is detected: Q1 ≥ Q − P(n ≥ 2)", () => {
    const mu = 0.02;
    const p = keyRateNoDecoy(10, mu);
    const multi = 1 - Math.exp(-mu) - mu * Math.exp(-mu);
    expect(p.single_photon_gain!).toBeCloseTo(p.gain! - multi, 15);
    expect(p.single_photon_error!).toBeCloseTo((p.qber! * p.gain!) / p.single_photon_gain!, 12);
  });

  it("is well below both decoy models and dies within tens of km", () => {
    for (const L of [0, 10, 20, 30]) {
      const nd = keyRateNoDecoy(L).key_rate_per_pulse;
      expect(nd).toBeLessThan(0.2 * keyRateVacuumWeak(L).key_rate_per_pulse);
      expect(nd).toBeLessThan(0.2 * keyRateInfiniteDecoy(L).key_rate_per_pulse);
    }
    // Optimal μ scales with the transmittance, ~η rather than ~0.5.
    expect(keyRateNoDecoy(0).mu!).toBeLessThan(0.05);
    const cut = cutoffDistanceKm("no-decoy")!;
    expect(cut).toBeGreaterThan(20);
    expect(cut).toBeLessThan(60);
    expect(cut).toBeLessThan(cutoffDistanceKm("vacuum-weak")!);
    // A fixed μ = 0.48 leaks too many multi-photon pulses for any key.
    expect(cutoffDistanceKm("no-decoy", 0.48)).toBe(0);
  });
});

describe("PLOB repeaterless bound (Pirandola et al., Nat. Commun. 8, 15043 (2017))", () => {
  it("gives −log2(1 − η) over the fiber alone (physics.md values, α = 0.21 dB/km)", () => {
    expect(rel(keyRatePlob(10).key_rate_per_pulse, 1.383)).toBeLessThan(5e-4);
    expect(rel(keyRatePlob(50).key_rate_per_pulse, 0.1347)).toBeLessThan(5e-4);
    expect(rel(keyRatePlob(100).key_rate_per_pulse, 1.151e-2)).toBeLessThan(5e-4);
    expect(plobBound(0.5)).toBe(1);
    expect(plobBound(0)).toBe(0);
    expect(plobBound(1)).toBe(Number.POSITIVE_INFINITY);
    expect(keyRatePlob(50).mu).toBeNull();
    expect(keyRatePlob(50).qber).toBeNull();
    expect(cutoffDistanceKm("plob")).toBeNull();
  });

  it("lies above every BB84 model at every distance", () => {
    for (let L = 0; L <= 150; L += 10)
      for (const m of ["infinite-decoy", "vacuum-weak", "no-decoy"] as const)
        expect(keyRate(m, L).key_rate_per_pulse).toBeLessThan(keyRatePlob(L).key_rate_per_pulse);
  });
});

describe("curves, parameters and the intensity search", () => {
  it("builds a curve per model with the cutoff, points in the order given", () => {
    for (const model of KEY_RATE_MODELS) {
      const c = keyRateCurve(model, [100, 0, 50]);
      expect(c.points.map((p) => p.distance_km)).toEqual([100, 0, 50]);
      expect(c.points.every((p) => p.model === model)).toBe(true);
      expect(c.parameters).toEqual(resolveKeyRateParameters());
    }
    const vw = keyRateCurve("vacuum-weak", [0, 50, 100]);
    expect(vw.cutoff_km!).toBeGreaterThan(130);
    expect(vw.cutoff_km!).toBeLessThan(cutoffDistanceKm("infinite-decoy")!);
  });

  it("decreases monotonically with distance", () => {
    for (const m of KEY_RATE_MODELS) {
      const r = keyRateCurve(m, [0, 10, 20, 40, 60, 80, 100, 120, 140]).points.map(
        (p) => p.key_rate_per_pulse,
      );
      for (let i = 1; i < r.length; i++) expect(r[i]).toBeLessThanOrEqual(r[i - 1]);
    }
  });

  it("defaults to the GYS parameters and accepts overrides", () => {
    expect(resolveKeyRateParameters()).toEqual({
      attenuationDbPerKm: 0.21,
      etaDetector: 0.045,
      y0: 1.7e-6,
      misalignment: 0.033,
      ecEfficiency: 1.22,
      q: 0.5,
      nu: 0.1,
    });
    // A better detector gives more key; more misalignment gives less.
    expect(keyRateInfiniteDecoy(50, 0.48, { etaDetector: 0.1 }).key_rate_per_pulse).toBeGreaterThan(
      keyRateInfiniteDecoy(50, 0.48).key_rate_per_pulse,
    );
    expect(keyRateInfiniteDecoy(50, 0.48, { misalignment: 0.05 }).key_rate_per_pulse).toBeLessThan(
      keyRateInfiniteDecoy(50, 0.48).key_rate_per_pulse,
    );
    // q scales the rate linearly.
    expect(keyRateInfiniteDecoy(50, 0.48, { q: 1 }).key_rate_per_pulse).toBeCloseTo(
      2 * keyRateInfiniteDecoy(50, 0.48).key_rate_per_pulse,
      15,
    );
  });

  it("rejects invalid parameters with a RangeError naming them", () => {
    expect(() => keyRateInfiniteDecoy(-1)).toThrow(/distance must be a finite number ≥ 0 km, got -1/);
    expect(() => keyRateInfiniteDecoy(10, 0)).toThrow(/mu must be a finite number > 0 or "optimal", got 0/);
    expect(() => keyRateInfiniteDecoy(10, -0.5)).toThrow(RangeError);
    expect(() => keyRateInfiniteDecoy(10, 0.5, { etaDetector: 1.5 })).toThrow(
      /etaDetector must be a probability in \(0, 1\]/,
    );
    expect(() => keyRateInfiniteDecoy(10, 0.5, { y0: -1e-6 })).toThrow(/y0 must be/);
    expect(() => keyRateInfiniteDecoy(10, 0.5, { misalignment: 0.7 })).toThrow(/misalignment must be/);
    expect(() => keyRateInfiniteDecoy(10, 0.5, { ecEfficiency: 0.9 })).toThrow(
      /ecEfficiency must be a finite number ≥ 1/,
    );
    expect(() => keyRateInfiniteDecoy(10, 0.5, { attenuationDbPerKm: Number.NaN })).toThrow(
      /attenuationDbPerKm/,
    );
    expect(() => keyRateInfiniteDecoy(10, 0.5, { q: 0 })).toThrow(/q must be a fraction in \(0, 1\]/);
    expect(() => keyRate("bb85" as never, 10)).toThrow(/unknown model 'bb85'/);
    expect(() => plobBound(1.2)).toThrow(RangeError);
  });

  it("maximizeScalar finds the peak of a narrow or flat-sided function", () => {
    const peak = maximizeScalar((x) => -((Math.log(x) - Math.log(3e-4)) ** 2), 1e-7, 2);
    expect(rel(peak.x, 3e-4)).toBeLessThan(1e-6);
    // Flat (−1) everywhere except a bump that a coarse bracketing search would miss.
    const bump = maximizeScalar((x) => (Math.abs(x - 0.5) < 0.02 ? 1 - Math.abs(x - 0.5) : -1), 1e-3, 2);
    expect(Math.abs(bump.x - 0.5)).toBeLessThan(1e-6);
    expect(() => maximizeScalar((x) => x, 0, 1)).toThrow(RangeError);
  });
});
