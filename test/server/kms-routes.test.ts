import Fastify, { type FastifyInstance, type InjectOptions, type LightMyRequestResponse } from "fastify";
import { afterEach, describe, expect, it } from "vitest";
import type { KeyContainer } from "../../src/kms/etsi014.js";
import { KMS_SERVER_OPTIONS, registerKmsRoutes } from "../../src/server/kms-routes.js";
import { Rng } from "../../src/sim/rng.js";
import { type KmeNetwork, kmeNetwork, type NetworkTweaks, POOL, SAES } from "../kms/kme-network.js";

/** An SAE whose ID needs URL-encoding in a path, as certificate-derived IDs often do. */
const ODD_SAE = "CN=sae b/1?x&y#z%";
const ODD = encodeURIComponent(ODD_SAE);
const HEADER = "x-test-sae";

interface Harness {
  app: FastifyInstance;
  net: KmeNetwork;
  /** Injects as `sae` (null: no identity). */
  call(sae: string | null, options: InjectOptions): Promise<LightMyRequestResponse>;
}

const apps: FastifyInstance[] = [];
afterEach(async () => {
  for (const app of apps.splice(0)) await app.close();
});

async function harness(tweaks: NetworkTweaks = {}): Promise<Harness> {
  const net = kmeNetwork({
    saes: [...SAES, { saeId: ODD_SAE, kmeId: "kme-b", policy: "qkd-only" }],
    ...tweaks,
  });
  const app = Fastify(KMS_SERVER_OPTIONS);
  registerKmsRoutes(app, {
    kme: net.a,
    identify: (request) => {
      const v = request.headers[HEADER];
      return typeof v === "string" ? v : null;
    },
  });
  // The slave's KME serves its SAEs on its own server; one app with a path prefix would not be the
  // standard's URL, so kme-b gets a second app.
  const appB = Fastify(KMS_SERVER_OPTIONS);
  registerKmsRoutes(appB, {
    kme: net.b,
    identify: (request) => {
      const v = request.headers[HEADER];
      return typeof v === "string" ? v : null;
    },
  });
  await app.ready();
  await appB.ready();
  apps.push(app, appB);
  return {
    app,
    net,
    call(sae, options) {
      const target =
        typeof options.url === "string" && options.url.includes("/dec_keys") && sae?.startsWith("sae-b")
          ? appB
          : app;
      const headers = { ...(options.headers ?? {}), ...(sae === null ? {} : { [HEADER]: sae }) };
      return target.inject({ ...options, headers });
    },
  };
}

const JSON_CT = { "content-type": "application/json" };

describe("KMS routes: the three methods (ETSI GS QKD 014 § 5)", () => {
  it("GET status answers the Status of the pool towards the slave's KME", async () => {
    const h = await harness();
    await h.net.supply(40);
    const r = await h.call("sae-a1", { method: "GET", url: "/api/v1/keys/sae-b1/status" });
    expect(r.statusCode).toBe(200);
    expect(r.headers["content-type"]).toMatch(/^application\/json/);
    expect(r.json()).toEqual({
      source_KME_ID: "kme-a",
      target_KME_ID: "kme-b",
      master_SAE_ID: "sae-a1",
      slave_SAE_ID: "sae-b1",
      key_size: 256,
      stored_key_count: 10,
      max_key_count: 100_000,
      max_key_per_request: 128,
      max_key_size: 8192,
      min_key_size: 64,
      max_SAE_ID_count: 4,
    });
  });

  it("POST enc_keys then POST dec_keys hand master and slave the same keys, once", async () => {
    const h = await harness();
    await h.net.supply(40);
    const r = await h.call("sae-a1", {
      method: "POST",
      url: "/api/v1/keys/sae-b1/enc_keys",
      payload: { number: 2, size: 512 },
    });
    expect(r.statusCode).toBe(200);
    expect(r.headers["cache-control"]).toBe("no-store");
    const { keys } = r.json() as KeyContainer;
    expect(keys).toHaveLength(2);
    expect(Buffer.from(keys[0].key, "base64")).toHaveLength(64);

    const body = { key_IDs: keys.map((k) => ({ key_ID: k.key_ID })) };
    const d = await h.call("sae-b1", { method: "POST", url: "/api/v1/keys/sae-a1/dec_keys", payload: body });
    expect(d.statusCode).toBe(200);
    expect(d.json()).toEqual({ keys });
    const again = await h.call("sae-b1", {
      method: "POST",
      url: "/api/v1/keys/sae-a1/dec_keys",
      payload: body,
    });
    expect(again.statusCode).toBe(400);
    expect(again.json().message).toBe("one or more keys specified are not found on KME");
  });

  it("GET enc_keys takes number and size as query parameters; GET dec_keys a single key_ID", async () => {
    const h = await harness();
    await h.net.supply(40);
    const r = await h.call("sae-a1", {
      method: "GET",
      url: "/api/v1/keys/sae-b1/enc_keys?number=3&size=128",
    });
    expect(r.statusCode).toBe(200);
    const { keys } = r.json() as KeyContainer;
    expect(keys.map((k) => Buffer.from(k.key, "base64").length)).toEqual([16, 16, 16]);
    for (const k of keys) {
      const d = await h.call("sae-b1", {
        method: "GET",
        url: `/api/v1/keys/sae-a1/dec_keys?key_ID=${k.key_ID}`,
      });
      expect(d.statusCode).toBe(200);
      expect(d.json()).toEqual({ keys: [k] });
    }
    const plain = await h.call("sae-a1", { method: "GET", url: "/api/v1/keys/sae-b1/enc_keys" });
    expect((plain.json() as KeyContainer).keys).toHaveLength(1);
  });

  it("decodes URL-encoded SAE IDs in paths", async () => {
    const h = await harness();
    await h.net.supply(8);
    const st = await h.call("sae-a1", { method: "GET", url: `/api/v1/keys/${ODD}/status` });
    expect(st.statusCode).toBe(200);
    expect(st.json().slave_SAE_ID).toBe(ODD_SAE);
    const r = await h.call("sae-a1", { method: "POST", url: `/api/v1/keys/${ODD}/enc_keys`, payload: {} });
    expect(r.statusCode).toBe(200);
    const { keys } = r.json() as KeyContainer;
    // The odd SAE takes its key from kme-b, naming the master; its own ID comes from its identity.
    const d = await h.app.inject({
      method: "GET",
      url: `/api/v1/keys/sae-a1/dec_keys?key_ID=${keys[0].key_ID}`,
      headers: { [HEADER]: ODD_SAE },
    });
    expect(d.statusCode).toBe(401); // kme-a does not serve it
    const appB = apps[apps.length - 1];
    const ok = await appB.inject({
      method: "GET",
      url: `/api/v1/keys/sae-a1/dec_keys?key_ID=${keys[0].key_ID}`,
      headers: { [HEADER]: ODD_SAE },
    });
    expect(ok.json()).toEqual({ keys });
  });
});

describe("KMS routes: every status code", () => {
  it("401 with no body: no identity, an SAE of another KME, an unknown SAE, a key for someone else", async () => {
    const h = await harness();
    await h.net.supply(8);
    for (const [sae, url] of [
      [null, "/api/v1/keys/sae-b1/status"],
      ["sae-b1", "/api/v1/keys/sae-a1/status"],
      ["nobody", "/api/v1/keys/sae-b1/enc_keys"],
      ["sae-a1", "/api/v1/keys/nobody/status"],
    ] as const) {
      const r = await h.call(sae, { method: "GET", url });
      expect(r.statusCode).toBe(401);
      expect(r.body).toBe("");
    }
    const { keys } = (
      await h.call("sae-a1", { method: "POST", url: "/api/v1/keys/sae-b1/enc_keys", payload: {} })
    ).json() as KeyContainer;
    const other = await h.call("sae-b2", {
      method: "POST",
      url: "/api/v1/keys/sae-a1/dec_keys",
      payload: { key_IDs: [{ key_ID: keys[0].key_ID }] },
    });
    expect(other.statusCode).toBe(401);
    expect(other.body).toBe("");
  });

  it("401 comes before the body is read: an unidentified client gets 401 even for malformed JSON", async () => {
    const h = await harness();
    const r = await h.call(null, {
      method: "POST",
      url: "/api/v1/keys/sae-b1/enc_keys",
      headers: JSON_CT,
      payload: "{",
    });
    expect(r.statusCode).toBe(401);
  });

  it("400 with the standard's fixed messages", async () => {
    const h = await harness();
    await h.net.supply(8);
    const post = async (url: string, payload: unknown) =>
      (
        await h.call(url.includes("dec_keys") ? "sae-b1" : "sae-a1", {
          method: "POST",
          url,
          payload: payload as object,
        })
      ).json();
    expect(await post("/api/v1/keys/sae-b1/enc_keys", { size: 260 })).toEqual({
      message: "size shall be a multiple of 8",
    });
    expect(
      await post("/api/v1/keys/sae-b1/enc_keys", { extension_mandatory: [{ abc_route_type: "direct" }] }),
    ).toEqual({
      message: "not all extension_mandatory parameters are supported",
      details: [{ extension_mandatory_unsupported: "abc_route_type" }],
    });
    const unknown = "bc490419-7d60-487f-adc1-4ddcc177c139";
    expect(await post("/api/v1/keys/sae-a1/dec_keys", { key_IDs: [{ key_ID: unknown }] })).toEqual({
      message: "one or more keys specified are not found on KME",
      details: [{ key_ID: unknown }],
    });
  });

  it("400 with clear messages for limits, types, unknown fields, queries and no direct pool", async () => {
    const h = await harness();
    await h.net.supply(8);
    const cases: [InjectOptions, string][] = [
      [
        { method: "POST", url: "/api/v1/keys/sae-b1/enc_keys", payload: { number: 1000 } },
        "number must be at most 128 (max_key_per_request), got 1000",
      ],
      [
        { method: "POST", url: "/api/v1/keys/sae-b1/enc_keys", payload: { size: 16384 } },
        "size must be at most 8192 (max_key_size), got 16384",
      ],
      [
        { method: "POST", url: "/api/v1/keys/sae-b1/enc_keys", payload: { number: "1" } },
        'number must be an integer, got "1"',
      ],
      [
        { method: "POST", url: "/api/v1/keys/sae-b1/enc_keys", payload: [] },
        "the Key request must be a JSON object, got an array",
      ],
      [
        { method: "POST", url: "/api/v1/keys/sae-b1/enc_keys", payload: { numbr: 1 } },
        'unknown field in Key request: "numbr"; allowed: number, size, additional_slave_SAE_IDs, extension_mandatory, extension_optional',
      ],
      [
        { method: "GET", url: "/api/v1/keys/sae-b1/enc_keys?number=two" },
        'query parameter number must be a decimal integer, got "two"',
      ],
      [
        { method: "GET", url: "/api/v1/keys/sae-b1/enc_keys?count=1" },
        'unknown query parameter "count"; allowed: number, size',
      ],
      [{ method: "GET", url: "/api/v1/keys/sae-b1/status?x=1" }, "Get status takes no query parameters"],
      [
        { method: "POST", url: "/api/v1/keys/sae-b1/enc_keys?number=1", payload: {} },
        "with POST, the Key request goes in the JSON body, not in query parameters",
      ],
      [
        { method: "POST", url: "/api/v1/keys/sae-b1/enc_keys" },
        "the Key request must be a JSON body with Content-Type: application/json (send {} for the defaults)",
      ],
      [
        { method: "POST", url: "/api/v1/keys/sae-b1/enc_keys", headers: JSON_CT, payload: "{" },
        "the body is not valid JSON",
      ],
      [
        { method: "POST", url: "/api/v1/keys/sae-b1/enc_keys", headers: JSON_CT, payload: "" },
        "the body is empty; a JSON body is required (send {} for the Key request defaults)",
      ],
      [
        {
          method: "POST",
          url: "/api/v1/keys/sae-b1/enc_keys",
          headers: { "content-type": "text/plain" },
          payload: "{}",
        },
        "the body must be JSON with Content-Type: application/json",
      ],
      [
        {
          method: "POST",
          url: "/api/v1/keys/sae-b1/enc_keys",
          headers: JSON_CT,
          payload: JSON.stringify({ extension_optional: [{ abc_pad: "x".repeat(70_000) }] }),
        },
        "the body is larger than 65536 bytes",
      ],
      [
        {
          method: "POST",
          url: "/api/v1/keys/sae-b1/enc_keys",
          headers: JSON_CT,
          payload: '{"__proto__":{"number":1}}',
        },
        "the body is not valid JSON",
      ],
      [
        { method: "GET", url: "/api/v1/keys/sae-c1/status" },
        "no QKD link between this KME (kme-a) and KME kme-c, which serves slave SAE sae-c1, and trusted-node relay is not available",
      ],
      [
        { method: "DELETE", url: "/api/v1/keys/sae-b1/enc_keys" },
        "no such method: DELETE /api/v1/keys/sae-b1/enc_keys; the API has GET {slave_SAE_ID}/status, GET or POST {slave_SAE_ID}/enc_keys and GET or POST {master_SAE_ID}/dec_keys under /api/v1/keys",
      ],
      [
        { method: "GET", url: "/api/v1/keys/sae-b1/keys" },
        "no such method: GET /api/v1/keys/sae-b1/keys; the API has GET {slave_SAE_ID}/status, GET or POST {slave_SAE_ID}/enc_keys and GET or POST {master_SAE_ID}/dec_keys under /api/v1/keys",
      ],
      [
        { method: "GET", url: "/api/v1/keys/%ZZ/status" },
        "the path is not validly percent-encoded (SAE IDs in paths are URL-encoded)",
      ],
      [
        { method: "GET", url: `/api/v1/keys/${"s".repeat(2000)}/status` },
        "an SAE ID in the path is too long",
      ],
    ];
    for (const [options, message] of cases) {
      const r = await h.call("sae-a1", options);
      expect([r.statusCode, r.headers["content-type"], r.json()], `${options.method} ${options.url}`).toEqual(
        [400, "application/json; charset=utf-8", expect.objectContaining({ message })],
      );
    }
    expect((await h.net.storeA.poolLevels(POOL))[0].local.units).toBe(8);
  });

  it("400 for HEAD, which must never issue keys and throw them away", async () => {
    const h = await harness();
    await h.net.supply(8);
    const r = await h.call("sae-a1", { method: "HEAD", url: "/api/v1/keys/sae-b1/enc_keys" });
    expect(r.statusCode).toBe(400);
    expect((await h.net.storeA.poolLevels(POOL))[0].local.units).toBe(8);
  });

  it("503 with an Error body when the slave's KME refuses, the pool is short, or anything breaks", async () => {
    const h = await harness();
    const short = await h.call("sae-a1", {
      method: "POST",
      url: "/api/v1/keys/sae-b1/enc_keys",
      payload: {},
    });
    expect([short.statusCode, short.json().message]).toEqual([
      503,
      "not enough QKD key towards KME kme-b: 1 key(s) of 256 bits need 4 units of 64 bits, 0 available; retry later",
    ]);
    await h.net.supply(8);
    h.net.intercept.fn = () => "duplicate-key";
    const refused = await h.call("sae-a1", {
      method: "POST",
      url: "/api/v1/keys/sae-b1/enc_keys",
      payload: {},
    });
    expect([refused.statusCode, refused.json().message]).toEqual([
      503,
      "the slave's KME (kme-b) could not reserve the keys (duplicate-key); no key was issued, retry later",
    ]);
    // A bug anywhere below the routes: 503 with a generic body, never 500, never the cause.
    h.net.a.getKey = async () => {
      throw new Error("secret internals");
    };
    const broken = await h.call("sae-a1", {
      method: "POST",
      url: "/api/v1/keys/sae-b1/enc_keys",
      payload: {},
    });
    expect([broken.statusCode, broken.json()]).toEqual([
      503,
      { message: "the KME could not complete the request (internal error); retry later" },
    ]);
  });

  it("counts a throwing identify as no identity", async () => {
    const net = kmeNetwork();
    const app = Fastify(KMS_SERVER_OPTIONS);
    apps.push(app);
    registerKmsRoutes(app, {
      kme: net.a,
      identify: () => {
        throw new Error("no certificate");
      },
    });
    const r = await app.inject({ method: "GET", url: "/api/v1/keys/sae-b1/status" });
    expect(r.statusCode).toBe(401);
  });

  it("leaves the rest of the server alone", async () => {
    const net = kmeNetwork();
    const app = Fastify(KMS_SERVER_OPTIONS);
    apps.push(app);
    app.get("/health", async () => ({ ok: true }));
    registerKmsRoutes(app, { kme: net.a, identify: () => null });
    expect((await app.inject({ url: "/health" })).statusCode).toBe(200);
    expect((await app.inject({ url: "/elsewhere" })).statusCode).toBe(404);
    // The KMS error handler does not apply outside its prefix: fastify's own answer there.
    const other = await app.inject({ method: "POST", url: "/health", headers: JSON_CT, payload: "{" });
    expect(other.json().code).toBe("FST_ERR_CTP_INVALID_JSON_BODY");
  });
});

describe("KMS routes: fuzzing malformed requests", () => {
  it("answers every malformed request with 400 (JSON Error body) or 401 (no body), never 5xx, never taking key", async () => {
    const h = await harness();
    await h.net.supply(64);
    const rng = new Rng("kms-fuzz");
    const pick = <T>(xs: readonly T[]): T => xs[rng.int(xs.length)];
    const uuid = () => "bc490419-7d60-487f-adc1-4ddcc177c139";

    const badValues: unknown[] = [
      -1,
      0,
      -0,
      1.5,
      2 ** 53 + 2,
      1e300,
      -1e300,
      "",
      "256",
      "x".repeat(500),
      null,
      true,
      false,
      [],
      [1, 2],
      {},
      { a: { b: { c: [] } } },
    ];
    const badNumberText = ["1e309", "-1e309", "123456789012345678901234567890", "-5", "0.1", "1e-400"];
    const badJsonText = [
      "{",
      "}",
      "{number:1}",
      "{'number':1}",
      '{"number":1,}',
      '{"number":NaN}',
      '{"number":Infinity}',
      '{"number":1}garbage',
      "[",
      "nul",
      '"unterminated',
      "\u0000",
      "{}{}",
      `${"[".repeat(30_000)}${"]".repeat(30_000)}`,
      `{"a":${"[".repeat(5_000)}${"]".repeat(5_000)}}`,
      '{"__proto__":{"polluted":true}}',
      '{"constructor":{"prototype":{"polluted":true}}}',
      '{"number":1,"number":"1"}',
    ];
    const encKeysBodies = (): unknown => {
      const field = pick([
        "number",
        "size",
        "additional_slave_SAE_IDs",
        "extension_mandatory",
        "extension_optional",
        "unknown",
      ]);
      switch (field) {
        case "additional_slave_SAE_IDs":
          return {
            [field]: pick([
              ...badValues.filter((v) => !Array.isArray(v) || v.length > 0),
              [""],
              [5],
              ["a", "a"],
              ["nobody"],
              Array(20).fill("sae-b2"),
            ]),
          };
        case "extension_mandatory":
          return {
            [field]: pick([
              ...badValues.filter((v) => !Array.isArray(v) || v.length > 0),
              [{ abc_x: 1 }],
              [1],
              [null],
            ]),
          };
        case "extension_optional":
          return {
            [field]: pick([
              ...badValues.filter((v) => !Array.isArray(v) && v !== null && typeof v !== "object"),
              [1],
              [[]],
              ["x"],
            ]),
          };
        case "unknown":
          return { [pick(["key_IDs", "Number", "sizes", "__proto__x", "", " number"])]: pick(badValues) };
        default:
          return { [field]: pick(badValues.filter((v) => v !== "256")) };
      }
    };
    const decKeysBodies = (): unknown =>
      pick([
        pick(badValues),
        { key_IDs: pick(badValues) },
        { key_IDs: [pick(badValues)] },
        { key_IDs: [{ key_ID: pick(badValues) }] },
        { key_IDs: [{ key_ID: uuid() }] },
        { key_IDs: [{ key_ID: "not-a-key" }] },
        { key_IDs: [{ key_ID: uuid(), extra: 1 }] },
        { key_IDs: [{ key_ID: uuid(), key_ID_extension: pick([1, "x", [], null]) }] },
        { key_IDs: [{ key_ID: uuid() }], key_IDs_extension: pick([1, "x", [], null]) },
        { key_IDs: Array.from({ length: 129 }, (_, i) => ({ key_ID: `${i}` })) },
        { key_IDs: [{ key_ID: uuid() }, { key_ID: uuid() }] },
        { key_IDs: [], extra: true },
      ]);

    const saes = ["sae-a1", "sae-a2", "sae-b1", "sae-c1", "nobody", "", null] as const;
    const slavePaths = [
      "sae-b1",
      "sae-b2",
      "sae-c1",
      "sae-a2",
      "nobody",
      "%ZZ",
      "a%2Fb",
      "..%2F..",
      "%00",
      "s".repeat(1100),
      ODD,
    ];
    const kinds = [
      "enc-body",
      "enc-text",
      "enc-number",
      "dec-body",
      "dec-text",
      "enc-query",
      "dec-query",
      "status-query",
      "content-type",
      "path",
      "method",
    ];
    const counts = new Map<number, number>();
    const iterations = 600;
    for (let i = 0; i < iterations; i++) {
      const kind = pick(kinds);
      const sae = rng.random() < 0.85 ? pick(["sae-a1", "sae-a2"]) : pick(saes);
      const slave = pick(slavePaths);
      let options: InjectOptions;
      switch (kind) {
        case "enc-body":
          options = {
            method: "POST",
            url: `/api/v1/keys/${slave}/enc_keys`,
            headers: JSON_CT,
            payload: JSON.stringify(encKeysBodies()),
          };
          break;
        case "enc-text":
          options = {
            method: "POST",
            url: `/api/v1/keys/${slave}/enc_keys`,
            headers: JSON_CT,
            payload: pick(badJsonText),
          };
          break;
        case "enc-number":
          options = {
            method: "POST",
            url: `/api/v1/keys/${slave}/enc_keys`,
            headers: JSON_CT,
            payload: `{"${pick(["number", "size"])}":${pick(badNumberText)}}`,
          };
          break;
        case "dec-body":
          options = {
            method: "POST",
            url: `/api/v1/keys/${pick(["sae-b1", "sae-a2", ...slavePaths])}/dec_keys`,
            headers: JSON_CT,
            payload: JSON.stringify(decKeysBodies()),
          };
          break;
        case "dec-text":
          options = {
            method: "POST",
            url: `/api/v1/keys/sae-b1/dec_keys`,
            headers: JSON_CT,
            payload: pick(badJsonText),
          };
          break;
        case "enc-query":
          options = {
            method: "GET",
            url: `/api/v1/keys/${slave}/enc_keys?${pick(["number=abc", "size=-8", "number=1&number=2", "foo=bar", "number=99999999999999999999", "size=100", "number=0", "size=", "number=1e3", "key_ID=x", "number=%ZZ", "size[]=8", "number[a]=1"])}`,
          };
          break;
        case "dec-query":
          options = {
            method: "GET",
            url: `/api/v1/keys/sae-b1/dec_keys${pick(["", "?", "?key_ID=", "?key_ID=x", `?key_ID=${uuid()}`, `?key_ID=${uuid()}&key_ID=${uuid()}`, "?key_IDs=x", "?key_ID=%ZZ"])}`,
          };
          break;
        case "status-query":
          options = {
            method: "GET",
            url: `/api/v1/keys/${slave}/status?${pick(["x=1", "number=1", "a", "%ZZ"])}`,
          };
          break;
        case "content-type":
          options = {
            method: "POST",
            url: `/api/v1/keys/${slave}/${pick(["enc_keys", "dec_keys"])}`,
            headers: {
              "content-type": pick([
                "text/plain",
                "application/x-www-form-urlencoded",
                "multipart/form-data; boundary=x",
                "application/jsonx",
                "json",
                ";;",
                "application/xml",
              ]),
            },
            payload: pick(["{}", "number=1", '{"key_IDs":[]}', "<x/>"]),
          };
          break;
        case "path":
          options = {
            method: pick(["GET", "POST"]),
            url: pick([
              "/api/v1/keys",
              "/api/v1/keys/",
              `/api/v1/keys/${slave}`,
              `/api/v1/keys/${slave}/`,
              `/api/v1/keys/${slave}/status/extra`,
              `/api/v1/keys/${slave}/enc_keys/`,
              `/api/v1/keys/${slave}/ENC_KEYS`,
              `/api/v1/keys/${slave}/dec_keys/x`,
              "/api/v1/keys//enc_keys?number=1",
              "/api/v1/keys/%/status",
            ]),
            ...(rng.random() < 0.5 ? { headers: JSON_CT, payload: "{}" } : {}),
          };
          break;
        default:
          options = {
            method: pick(["PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]),
            url: `/api/v1/keys/${slave}/${pick(["status", "enc_keys", "dec_keys"])}`,
            ...(rng.random() < 0.5 ? { headers: JSON_CT, payload: "{}" } : {}),
          };
      }
      const r = await h.call(sae, options);
      counts.set(r.statusCode, (counts.get(r.statusCode) ?? 0) + 1);
      const where = `#${i} ${kind} ${options.method} ${String(options.url).slice(0, 120)} ${String(options.payload ?? "").slice(0, 80)}`;
      expect([400, 401], where).toContain(r.statusCode);
      if (r.statusCode === 401) expect(r.body, where).toBe("");
      else if (options.method !== "HEAD") {
        expect(r.headers["content-type"], where).toMatch(/^application\/json/);
        const body = r.json();
        expect(typeof body.message, where).toBe("string");
        expect(body.message.length, where).toBeGreaterThan(0);
        expect(body.message.length, where).toBeLessThan(400);
      }
    }
    expect(counts.get(400)).toBeGreaterThan(iterations / 2);
    expect(counts.get(401)).toBeGreaterThan(10);
    // Nothing malformed ever took key, left a pending key or polluted a prototype.
    expect((await h.net.storeA.poolLevels(POOL))[0].local.units).toBe(64);
    expect(await h.net.storeA.pendingIssued()).toEqual([]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(h.net.internalErrors).toEqual([]);
  });
});
