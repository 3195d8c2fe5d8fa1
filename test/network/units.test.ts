import { describe, expect, it } from "vitest";
import {
  parseDurationNs,
  parseLengthKm,
  parseNumber,
  parseProbability,
  parseRateHz,
  UnitError,
} from "../../src/network/units.js";

/** The UnitError thrown by `f`, so tests can look at its parts. */
function unitError(f: () => unknown): UnitError {
  try {
    f();
  } catch (e) {
    if (e instanceof UnitError) return e;
    throw e;
  }
  throw new Error("expected a UnitError");
}

describe("parseDurationNs", () => {
  it.each([
    ["5 ms", 5e6],
    ["5ms", 5e6],
    ["2.5 us", 2500],
    ["2.5 µs", 2500], // U+00B5 MICRO SIGN
    ["2.5 μs", 2500], // U+03BC GREEK SMALL LETTER MU
    ["10 ns", 10],
    ["1 s", 1e9],
    ["2 min", 120e9],
    ["1 h", 3600e9],
    ["1e-3 s", 1e6],
    ["  7 ms  ", 7e6],
    ["5", 5e9],
    [".5 s", 5e8],
    [5, 5e9],
    [0, 0],
  ])("reads %j as %d ns", (value, ns) => {
    expect(parseDurationNs(value, "f")).toBe(ns);
  });

  it("scales through the decimal text, so 0.067 s is exactly 67,000,000 ns", () => {
    expect(0.067 * 1e9).not.toBe(67e6); // the float multiply would be off by one ulp
    expect(parseDurationNs("0.067 s", "f")).toBe(67e6);
    expect(parseDurationNs(0.067, "f")).toBe(67e6);
    expect(parseDurationNs("1.001 s", "f")).toBe(1_001_000_000);
    expect(parseDurationNs(1e-7, "f")).toBe(100);
  });

  it("rejects negatives, NaN and values that are not durations", () => {
    expect(unitError(() => parseDurationNs("-5 ms", "f")).reason).toMatch(/negative/);
    expect(unitError(() => parseDurationNs(-1, "f")).reason).toMatch(/negative/);
    expect(unitError(() => parseDurationNs(Number.NaN, "f")).reason).toMatch(/NaN/);
    for (const bad of ["fast", "ms", true, [], {}])
      expect(() => parseDurationNs(bad, "f")).toThrow(UnitError);
  });

  it("names the field and lists the accepted units for an unknown unit", () => {
    const e = unitError(() => parseDurationNs("5 parsecs", "links[0].attempt_duration"));
    expect(e.field).toBe("links[0].attempt_duration");
    expect(e.message).toBe(`links[0].attempt_duration: ${e.reason}`);
    expect(e.reason).toContain("unknown unit 'parsecs'");
    expect(e.reason).toContain("ns, us, µs, ms, s, min, h");
    expect(e.reason).toContain("a bare number is seconds");
  });

  it("suggests the accepted unit that differs only in case", () => {
    expect(unitError(() => parseDurationNs("5 MS", "f")).reason).toContain("did you mean 'ms'?");
  });

  it("reads none/inf/null as Infinity only where the field allows it", () => {
    for (const v of ["none", "inf", "Infinity", "unlimited", null, Number.POSITIVE_INFINITY])
      expect(parseDurationNs(v, "f", { infinity: true })).toBe(Number.POSITIVE_INFINITY);
    expect(unitError(() => parseDurationNs("none", "f")).reason).toMatch(/finite/);
    expect(unitError(() => parseDurationNs(Number.POSITIVE_INFINITY, "f")).reason).toMatch(/finite/);
    expect(unitError(() => parseDurationNs(null, "f")).reason).toMatch(/required/);
  });

  it("rejects 0 when the duration must be positive", () => {
    expect(unitError(() => parseDurationNs("0 us", "f", { positive: true })).reason).toMatch(
      /greater than 0/,
    );
  });
});

describe("parseRateHz", () => {
  it.each([
    ["2 kHz", 2e3],
    ["80 MHz", 80e6],
    ["80MHz", 80e6],
    ["1 GHz", 1e9],
    ["10 Hz", 10],
    [10, 10],
    ["2.5", 2.5],
  ])("reads %j as %d Hz", (value, hz) => {
    expect(parseRateHz(value, "f")).toBe(hz);
  });

  it("treats unit case as significant and suggests the right case", () => {
    const e = unitError(() => parseRateHz("2 khz", "source_rate"));
    expect(e.reason).toContain("did you mean 'kHz'?");
    expect(e.reason).toContain("Hz, kHz, MHz, GHz");
  });

  it("rejects negatives and accepts Infinity only when allowed", () => {
    expect(() => parseRateHz("-2 kHz", "f")).toThrow(/negative/);
    expect(parseRateHz("none", "f", { infinity: true })).toBe(Number.POSITIVE_INFINITY);
    expect(() => parseRateHz("none", "f")).toThrow(UnitError);
  });
});

describe("parseLengthKm", () => {
  it.each([
    [2, 2],
    ["2 km", 2],
    ["500 m", 0.5],
    ["30 m", 0.03],
    ["12.5", 12.5],
  ])("reads %j as %d km", (value, km) => {
    expect(parseLengthKm(value, "f")).toBe(km);
  });

  it("rejects negative lengths, other units, and 0 when the length must be positive", () => {
    expect(() => parseLengthKm(-1, "f")).toThrow(/negative/);
    expect(unitError(() => parseLengthKm("3 miles", "f")).reason).toContain("accepted units: km, m");
    expect(() => parseLengthKm(0, "f", { positive: true })).toThrow(/greater than 0/);
  });
});

describe("parseProbability", () => {
  it.each([
    [0.9, 0.9],
    [0, 0],
    [1, 1],
    ["90 %", 0.9],
    ["90%", 0.9],
    ["12.5 %", 0.125],
    ["100 %", 1],
  ])("reads %j as %d", (value, p) => {
    expect(parseProbability(value, "f")).toBe(p);
  });

  it("rejects values outside [0, 1] and says what is allowed", () => {
    const e = unitError(() => parseProbability(1.5, "links[1].success_probability"));
    expect(e.reason).toBe(
      '1.5 is out of range; expected a probability in [0, 1] (a number such as 0.9, or a percentage such as "90 %")',
    );
    expect(() => parseProbability(-0.1, "f")).toThrow(/out of range/);
    expect(() => parseProbability("110 %", "f")).toThrow(/out of range/);
    expect(() => parseProbability(Number.NaN, "f")).toThrow(UnitError);
    expect(() => parseProbability("0.9", "f")).toThrow(/is not a probability/); // only percentages are strings
    expect(() => parseProbability("high", "f")).toThrow(UnitError);
  });

  it("excludes 0 or 1 on request and says so in the range", () => {
    expect(unitError(() => parseProbability(0, "f", { allowZero: false })).reason).toContain("(0, 1]");
    expect(unitError(() => parseProbability(1, "f", { allowOne: false })).reason).toContain("[0, 1)");
  });
});

describe("parseNumber", () => {
  it("accepts numbers within bounds", () => {
    expect(parseNumber(1.4682, "f", { min: 1 })).toBe(1.4682);
    expect(parseNumber(3, "f", { integer: true, min: 0 })).toBe(3);
  });

  it("rejects strings, non-integers, and values out of bounds", () => {
    expect(unitError(() => parseNumber("2", "f")).reason).toBe("'2' is not a number");
    expect(unitError(() => parseNumber(2.5, "f", { integer: true, min: 0 })).reason).toBe(
      "2.5 is not an integer ≥ 0",
    );
    expect(unitError(() => parseNumber(-1, "f", { integer: true, min: 0 })).reason).toBe(
      "-1 is out of range; expected an integer ≥ 0",
    );
    expect(unitError(() => parseNumber(0, "f", { min: 0, exclusiveMin: true })).reason).toMatch(
      /greater than 0/,
    );
    expect(() => parseNumber(Number.POSITIVE_INFINITY, "f")).toThrow(UnitError);
  });
});
