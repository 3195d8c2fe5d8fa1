import { describe, expect, it } from "vitest";
import {
  BODY_MESSAGES,
  decodeBase64,
  ETSI014_MESSAGES,
  encodeBase64,
  isUuid,
  keyIdsFromQuery,
  keyRequestFromQuery,
  parseJsonBody,
  type RequestLimits,
  uuidV4,
  validateKeyIds,
  validateKeyRequest,
} from "../../src/kms/etsi014.js";
import { Rng } from "../../src/sim/rng.js";

/** The limits of the standard's Status example (§ 6.1), with multicast to 2 further slaves. */
const LIMITS: RequestLimits = {
  keySize: 352,
  minKeySize: 64,
  maxKeySize: 1024,
  maxKeyPerRequest: 128,
  maxSaeIdCount: 2,
};

function rejects(body: unknown, limits = LIMITS): { message: string; details?: Record<string, unknown>[] } {
  const r = validateKeyRequest(body, limits);
  if (r.ok) throw new Error(`expected a 400 for ${JSON.stringify(body)}`);
  expect(r.response.status).toBe(400);
  return r.response.body;
}

describe("Key request validation (ETSI GS QKD 014 § 6.2)", () => {
  it("accepts {} and applies the defaults: number 1, size key_size", () => {
    expect(validateKeyRequest({}, LIMITS)).toEqual({
      ok: true,
      value: { number: 1, sizeBits: 352, additionalSlaveSaeIds: [], extensionOptional: [] },
    });
  });

  it("accepts every field of the standard", () => {
    const r = validateKeyRequest(
      {
        number: 3,
        size: 1024,
        additional_slave_SAE_IDs: ["B2", "B3"],
        extension_mandatory: [],
        extension_optional: [{ abc_route_type: "direct" }],
      },
      LIMITS,
    );
    expect(r).toEqual({
      ok: true,
      value: {
        number: 3,
        sizeBits: 1024,
        additionalSlaveSaeIds: ["B2", "B3"],
        extensionOptional: [{ abc_route_type: "direct" }],
      },
    });
  });

  it("answers sizes that are not multiples of 8 with the standard's message", () => {
    expect(rejects({ size: 100 })).toEqual({ message: ETSI014_MESSAGES.sizeMultipleOf8 });
    expect(ETSI014_MESSAGES.sizeMultipleOf8).toBe("size shall be a multiple of 8");
  });

  it("names the limit a number or size breaks", () => {
    expect(rejects({ number: 129 }).message).toBe(
      "number must be at most 128 (max_key_per_request), got 129",
    );
    expect(rejects({ number: 129 }).details).toEqual([{ max_key_per_request: 128 }]);
    expect(rejects({ number: 0 }).message).toBe("number must be at least 1 (minimum), got 0");
    expect(rejects({ number: -5 }).message).toMatch(/at least 1/);
    expect(rejects({ size: 56 }).message).toBe("size must be at least 64 (min_key_size), got 56");
    expect(rejects({ size: 1032 }).message).toBe("size must be at most 1024 (max_key_size), got 1032");
  });

  it("refuses wrong types, fractions and numbers beyond exact integers", () => {
    expect(rejects({ number: "2" }).message).toBe('number must be an integer, got "2"');
    expect(rejects({ number: 1.5 }).message).toBe("number must be an integer, got 1.5");
    expect(rejects({ number: 1e300 }).message).toMatch(/number must be an integer/);
    expect(rejects({ size: null }).message).toBe("size must be an integer, got null");
    expect(rejects({ size: [256] }).message).toBe("size must be an integer, got an array");
    expect(rejects({ size: true }).message).toBe("size must be an integer, got a boolean");
  });

  it("refuses bodies that are not objects, and unknown fields", () => {
    for (const body of [null, [], [{}], "x", 3, true])
      expect(rejects(body).message).toMatch(/^the Key request must be a JSON object, got /);
    expect(rejects({ number: 1, count: 2 }).message).toBe(
      'unknown field in Key request: "count"; allowed: number, size, additional_slave_SAE_IDs, extension_mandatory, extension_optional',
    );
  });

  it("limits additional_slave_SAE_IDs to max_SAE_ID_count and checks each entry", () => {
    expect(rejects({ additional_slave_SAE_IDs: ["a", "b", "c"] })).toEqual({
      message: "additional_slave_SAE_IDs has 3 entries; at most 2 are allowed (max_SAE_ID_count)",
      details: [{ max_SAE_ID_count: 2 }],
    });
    expect(rejects({ additional_slave_SAE_IDs: ["a"] }, { ...LIMITS, maxSaeIdCount: 0 }).message).toBe(
      "additional_slave_SAE_IDs is not supported by this KME (max_SAE_ID_count is 0)",
    );
    expect(rejects({ additional_slave_SAE_IDs: "a" }).message).toMatch(/must be an array/);
    expect(rejects({ additional_slave_SAE_IDs: [""] }).message).toMatch(/\[0\] must be a non-empty string/);
    expect(rejects({ additional_slave_SAE_IDs: [7] }).message).toMatch(
      /\[0\] must be a non-empty string, got 7/,
    );
    expect(rejects({ additional_slave_SAE_IDs: ["a", "a"] }).message).toBe(
      'additional_slave_SAE_IDs lists "a" more than once',
    );
  });

  it("answers mandatory extensions it does not support with the standard's message, naming them", () => {
    expect(rejects({ extension_mandatory: [{ abc_route_type: "direct" }, { abc_qos: 1 }] })).toEqual({
      message: "not all extension_mandatory parameters are supported",
      details: [
        { extension_mandatory_unsupported: "abc_route_type" },
        { extension_mandatory_unsupported: "abc_qos" },
      ],
    });
    const ok = validateKeyRequest({ extension_mandatory: [{ qnet_x: 1 }] }, LIMITS, new Set(["qnet_x"]));
    expect(ok.ok).toBe(true);
  });

  it("requires extension arrays of objects", () => {
    expect(rejects({ extension_mandatory: {} }).message).toBe(
      "extension_mandatory must be an array of objects, got an object",
    );
    expect(rejects({ extension_optional: [1] }).message).toBe(
      "extension_optional[0] must be an object, got 1",
    );
    expect(rejects({ extension_optional: [null] }).message).toBe(
      "extension_optional[0] must be an object, got null",
    );
  });

  it("truncates long echoed strings", () => {
    const long = "x".repeat(10_000);
    expect(rejects({ number: long }).message.length).toBeLessThan(120);
  });
});

describe("GET enc_keys query parameters (§ 5.2)", () => {
  it("turns number and size into a Key request", () => {
    expect(keyRequestFromQuery({ number: "2", size: "128" })).toEqual({
      ok: true,
      value: { number: 2, size: 128 },
    });
    expect(keyRequestFromQuery({})).toEqual({ ok: true, value: {} });
  });
  it("refuses other parameters, repeats and non-decimal values", () => {
    const msg = (q: Record<string, string | string[]>) => {
      const r = keyRequestFromQuery(q);
      if (r.ok) throw new Error("expected a 400");
      return r.response.body.message;
    };
    expect(msg({ count: "1" })).toBe('unknown query parameter "count"; allowed: number, size');
    expect(msg({ number: ["1", "2"] })).toBe("query parameter number must be given at most once");
    for (const v of ["", "1e3", "0x10", "-1", " 5", "1.0", "9".repeat(40)])
      expect(msg({ size: v })).toMatch(/^query parameter size must be a decimal integer/);
  });
});

describe("Key IDs validation (§ 6.4) and GET dec_keys (§ 5.3)", () => {
  const id1 = "bc490419-7d60-487f-adc1-4ddcc177c139";
  const id2 = "0a782fb5-3434-48fe-aa4d-14f41d46cf92";
  const msg = (body: unknown, max = 128) => {
    const r = validateKeyIds(body, max);
    if (r.ok) throw new Error("expected a 400");
    expect(r.response.status).toBe(400);
    return r.response.body;
  };

  it("accepts the standard's form and lower-cases UUIDs", () => {
    expect(
      validateKeyIds(
        { key_IDs: [{ key_ID: id1.toUpperCase() }, { key_ID: id2, key_ID_extension: {} }] },
        128,
      ),
    ).toEqual({ ok: true, value: [id1, id2] });
  });

  it("refuses malformed bodies with clear messages", () => {
    expect(msg([]).message).toBe("the Key IDs body must be a JSON object, got an array");
    expect(msg({}).message).toBe("key_IDs is required");
    expect(msg({ key_IDs: [] }).message).toBe("key_IDs must name at least one key");
    expect(msg({ key_IDs: {} }).message).toBe("key_IDs must be an array, got an object");
    expect(msg({ key_IDs: [id1] }).message).toBe(`key_IDs[0] must be an object, got "${id1}"`);
    expect(msg({ key_IDs: [{ key_ID: 5 }] }).message).toBe(
      "key_IDs[0].key_ID must be a non-empty string, got 5",
    );
    expect(msg({ key_IDs: [{ key_ID: id1, x: 1 }] }).message).toMatch(/^unknown field in key_IDs\[0\]: "x"/);
    expect(msg({ key_IDs: [{ key_ID: id1 }], extra: 1 }).message).toMatch(
      /^unknown field in Key IDs: "extra"/,
    );
    expect(msg({ key_IDs: [{ key_ID: id1 }, { key_ID: id1.toUpperCase() }] }).message).toMatch(
      /more than once/,
    );
    expect(msg({ key_IDs: [{ key_ID: id1 }, { key_ID: id2 }] }, 1)).toEqual({
      message: "key_IDs has 2 entries; at most 1 are allowed (max_key_per_request)",
      details: [{ max_key_per_request: 1 }],
    });
  });

  it("answers key IDs that cannot exist with the standard's not-found message", () => {
    expect(msg({ key_IDs: [{ key_ID: "not-a-uuid" }] })).toEqual({
      message: "one or more keys specified are not found on KME",
      details: [{ key_ID: "not-a-uuid" }],
    });
  });

  it("reads a single key_ID from the query", () => {
    expect(keyIdsFromQuery({ key_ID: id1 })).toEqual({ ok: true, value: { key_IDs: [{ key_ID: id1 }] } });
    const bad = [{}, { key_ID: [id1, id2] }, { key_ID: id1, number: "1" }].map((q) => {
      const r = keyIdsFromQuery(q);
      return r.ok ? "" : r.response.body.message;
    });
    expect(bad).toEqual([
      "query parameter key_ID is required",
      "query parameter key_ID must be given at most once",
      'unknown query parameter "number"; allowed: key_ID',
    ]);
  });
});

describe("JSON bodies", () => {
  it("parses JSON and refuses empty, malformed and prototype-poisoning bodies without echoing them", () => {
    expect(parseJsonBody('{"number":2}')).toEqual({ ok: true, value: { number: 2 } });
    const msg = (text: string) => {
      const r = parseJsonBody(text);
      return r.ok ? null : r.response.body.message;
    };
    expect(msg("  ")).toBe(BODY_MESSAGES.empty);
    expect(msg('{"secret":"abc"')).toBe("the body is not valid JSON");
    expect(msg('{"a":{"__proto__":{"x":1}}}')).toBe(BODY_MESSAGES.forbiddenKey);
    expect(msg('[{"constructor":{"prototype":{}}}]')).toBe(BODY_MESSAGES.forbiddenKey);
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });
});

describe("encodings", () => {
  it("base64 matches the RFC 4648 § 10 test vectors", () => {
    const vectors: [string, string][] = [
      ["", ""],
      ["f", "Zg=="],
      ["fo", "Zm8="],
      ["foo", "Zm9v"],
      ["foob", "Zm9vYg=="],
      ["fooba", "Zm9vYmE="],
      ["foobar", "Zm9vYmFy"],
    ];
    for (const [plain, b64] of vectors) {
      const bytes = new TextEncoder().encode(plain);
      expect(encodeBase64(bytes)).toBe(b64);
      expect(decodeBase64(b64)).toEqual(bytes);
    }
  });

  it("base64 round-trips random bytes of every length and agrees with Node's encoder", () => {
    const rng = new Rng("b64");
    for (let n = 0; n < 200; n++) {
      const bytes = Uint8Array.from({ length: n }, () => rng.int(256));
      const text = encodeBase64(bytes);
      expect(text).toBe(Buffer.from(bytes).toString("base64"));
      expect(decodeBase64(text)).toEqual(bytes);
    }
  });

  it("base64 decoding is strict", () => {
    for (const bad of ["Zg=", "Zg", "Z===", "Zh==", "Zm9v!A==", "=Zm9", "Zg==Zg=="])
      expect(() => decodeBase64(bad)).toThrow(RangeError);
  });

  it("UUIDs are version 4, variant 10, canonical form (RFC 9562 § 5.4)", () => {
    const rng = new Rng("uuid");
    for (let i = 0; i < 100; i++) {
      const id = uuidV4(Uint8Array.from({ length: 16 }, () => rng.int(256)));
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(isUuid(id)).toBe(true);
    }
    expect(uuidV4(new Uint8Array(16))).toBe("00000000-0000-4000-8000-000000000000");
    expect(() => uuidV4(new Uint8Array(15))).toThrow(RangeError);
    expect(isUuid("bc490419-7d60-487f-adc1-4ddcc177c13")).toBe(false);
  });
});
