import { describe, expect, it } from "vitest";
import {
  DEFAULT_GROUP_INDEX,
  fiberDelayNs,
  fiberDelayNsPerKm,
  fiberTransmission,
  SPEED_OF_LIGHT_KM_PER_S,
} from "../../src/hardware/fiber.js";

describe("fiber", () => {
  it("transmits 10^(−αL/10): 0.2 dB/km over 10 km is 2 dB, 100 km is 20 dB", () => {
    expect(fiberTransmission(10, 0.2)).toBeCloseTo(10 ** -0.2, 15);
    expect(fiberTransmission(100, 0.2)).toBeCloseTo(0.01, 15);
    expect(fiberTransmission(50)).toBeCloseTo(0.1, 15); // default 0.2 dB/km
    expect(fiberTransmission(0, 0.2)).toBe(1);
    expect(fiberTransmission(25, 0)).toBe(1);
  });

  it("delays light by n_g/c: 1.4682 → 4.897 µs/km (physics.md, Constants and hardware)", () => {
    expect(SPEED_OF_LIGHT_KM_PER_S).toBe(299792.458);
    // physics.md quotes 4 significant digits: within half a unit of the last one.
    expect(Math.abs(fiberDelayNsPerKm(DEFAULT_GROUP_INDEX) - 4897)).toBeLessThan(0.5);
    expect(fiberDelayNs(1)).toBe(fiberDelayNsPerKm());
    expect(fiberDelayNs(10, 1.4682)).toBeCloseTo((10 * 1.4682 * 1e9) / 299792.458, 9);
    // physics.md: attempt time over 10 km ≈ 48.97 µs.
    expect(Math.abs(fiberDelayNs(10) / 1e3 - 48.97)).toBeLessThan(0.005);
    expect(fiberDelayNs(0)).toBe(0);
  });

  it("rejects negative or non-finite lengths, negative attenuation and group indices below 1", () => {
    expect(() => fiberTransmission(-1, 0.2)).toThrow(RangeError);
    expect(() => fiberTransmission(Number.NaN, 0.2)).toThrow(/fiber length/);
    expect(() => fiberTransmission(1, -0.2)).toThrow(/attenuation/);
    expect(() => fiberDelayNs(-1)).toThrow(/fiber length/);
    expect(() => fiberDelayNs(Number.POSITIVE_INFINITY)).toThrow(RangeError);
    expect(() => fiberDelayNs(1, 0.5)).toThrow(/group index/);
    expect(() => fiberDelayNsPerKm(Number.NaN)).toThrow(RangeError);
  });
});
