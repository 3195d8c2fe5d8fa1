import { describe, expect, it } from "vitest";
import {
  DEFAULT_QKD_PARAMETERS,
  fnv1a64,
  parameterSetFingerprint,
  resolveQkdParameters,
} from "../../src/qkd/parameter-set.js";

describe("QKD parameter sets (seed failure F5: every key block traceable to its parameters)", () => {
  it("FNV-1a 64 matches the published test vectors (Fowler, Noll, Vo; IETF draft-eastlake-fnv)", () => {
    expect(fnv1a64("")).toBe("cbf29ce484222325");
    expect(fnv1a64("a")).toBe("af63dc4c8601ec8c");
    expect(fnv1a64("foobar")).toBe("85944171f73967e8");
  });

  it("fingerprints tell sets apart and ignore key order", () => {
    const a = resolveQkdParameters();
    const b = resolveQkdParameters({ intensities: [0.5, 0.1, 0.001] });
    expect(parameterSetFingerprint(a)).toMatch(/^[0-9a-f]{16}$/);
    expect(parameterSetFingerprint(a)).not.toBe(parameterSetFingerprint(b));
    const reordered = Object.fromEntries(Object.entries(a).reverse()) as typeof a;
    expect(parameterSetFingerprint(reordered)).toBe(parameterSetFingerprint(a));
    expect(parameterSetFingerprint(resolveQkdParameters({ version: "other" }))).not.toBe(
      parameterSetFingerprint(a),
    );
  });

  it("defaults are valid and bad fields are named with what is allowed", () => {
    expect(resolveQkdParameters()).toEqual(DEFAULT_QKD_PARAMETERS);
    expect(() => resolveQkdParameters({ version: " " })).toThrow(/version must be a non-empty string/);
    expect(() => resolveQkdParameters({ intensities: [0.1, 0.2, 0] })).toThrow(/intensities must be/);
    expect(() => resolveQkdParameters({ intensityProbabilities: [0.5, 0.5, 0.5] })).toThrow(
      /intensityProbabilities must be three probabilities/,
    );
    expect(() => resolveQkdParameters({ keyBasisProbability: 1 })).toThrow(/keyBasisProbability/);
    expect(() => resolveQkdParameters({ blockBits: 10 })).toThrow(/blockBits must be an integer ≥ 1000/);
    expect(() => resolveQkdParameters({ epsSec: 0 })).toThrow(/epsSec/);
    expect(() => resolveQkdParameters({ verificationTagBits: 48 })).toThrow(
      /verificationTagBits must be a multiple of 32 in \[32, 256\]/,
    );
  });
});
