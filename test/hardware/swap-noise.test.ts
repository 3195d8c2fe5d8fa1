import { describe, expect, it } from "vitest";
import { swapNoise } from "../../src/hardware/swap-noise.js";
import { swapBellDiagonal, wernerState } from "../../src/quantum/bell-diagonal.js";
import { node } from "./fixtures.js";

describe("swap noise from a node's gate and measurement fidelities (topology NodeSpec)", () => {
  it("depolarizes with 1 − gateFidelity and misreads each outcome bit with 1 − measurementFidelity", () => {
    const noise = swapNoise(node({ gateFidelity: 0.98, measurementFidelity: 0.995 }));
    expect(noise.depolarizing).toBeCloseTo(0.02, 16);
    expect(noise.measurementError).toBeCloseTo(0.005, 16);
    expect(swapNoise(node())).toEqual({ depolarizing: 0, measurementError: 0 });
  });

  it("a perfect node swaps Werner pairs to F1F2 + (1−F1)(1−F2)/3 = 0.726667 (physics.md, F1 = 0.9, F2 = 0.8)", () => {
    const out = swapBellDiagonal(new Float64Array(4), wernerState(0.9), wernerState(0.8), swapNoise(node()));
    expect(Math.abs(out[0] - 0.726667)).toBeLessThanOrEqual(5e-7);
  });

  it("gate depolarizing shrinks the Werner factor by gateFidelity: w = g·w1·w2", () => {
    const g = 0.97;
    const out = swapBellDiagonal(
      new Float64Array(4),
      wernerState(0.9),
      wernerState(0.8),
      swapNoise(node({ gateFidelity: g })),
    );
    const w = (g * (4 * 0.9 - 1) * (4 * 0.8 - 1)) / 9;
    expect(out[0]).toBeCloseTo((1 + 3 * w) / 4, 15);
  });

  it("rejects fidelities outside [0, 1], naming the node", () => {
    expect(() => swapNoise(node({ id: "r1", gateFidelity: 1.1 }))).toThrow(/node r1: gate fidelity/);
    expect(() => swapNoise(node({ measurementFidelity: -0.1 }))).toThrow(RangeError);
  });
});
