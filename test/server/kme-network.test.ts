import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Fastify, { type FastifyInstance } from "fastify";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { cutIntoUnits } from "../../src/kms/key-source.js";
import { Kme, type KmePool, type SaeRegistration } from "../../src/kms/kme.js";
import { MemoryKeyStore } from "../../src/kms/memory-key-store.js";
import { pqcKeyPair } from "../../src/kms/pqc.js";
import { createPqcFallback } from "../../src/kms/pqc-fallback.js";
import { RelayService, type RelayTopologyLink, relayPadKeyId } from "../../src/kms/relay-service.js";
import {
  createDevCa,
  type DevCa,
  type IssuedCertificate,
  issueKmeCert,
  issueSaeCert,
} from "../../src/server/certs.js";
import { HttpsKmePeers } from "../../src/server/kme-peer-client.js";
import { registerKmePeerRoutes } from "../../src/server/kme-peer-routes.js";
import { KMS_SERVER_OPTIONS, registerKmsRoutes } from "../../src/server/kms-routes.js";
import { mtlsServerOptions, saeIdFromRequest } from "../../src/server/tls.js";

/**
 * Three KMEs on 127.0.0.1, each a fastify HTTPS server with mutual TLS, the ETSI GS QKD 014 routes
 * and the KME-to-KME routes, talking to each other with HttpsKmePeers:
 *
 *   kme-a ── pool a-b ── kme-b ── pool b-c ── kme-c      (no pool between kme-a and kme-c)
 */
const UNIT_BITS = 64;
const KMES = ["kme-a", "kme-b", "kme-c"] as const;
type KmeId = (typeof KMES)[number];
const LINKS: RelayTopologyLink[] = [
  { kmeIds: ["kme-a", "kme-b"], pool: "a-b", unitBits: UNIT_BITS },
  { kmeIds: ["kme-b", "kme-c"], pool: "b-c", unitBits: UNIT_BITS },
];
const SAES: SaeRegistration[] = [
  { saeId: "sae-a1", kmeId: "kme-a", policy: "qkd-only" },
  { saeId: "sae-a2", kmeId: "kme-a", policy: "pqc-allowed" },
  { saeId: "sae-a3", kmeId: "kme-a", policy: "hybrid" },
  { saeId: "sae-b1", kmeId: "kme-b", policy: "qkd-only" },
  { saeId: "sae-b2", kmeId: "kme-b", policy: "pqc-allowed" },
  { saeId: "sae-c1", kmeId: "kme-c", policy: "qkd-only" },
];

let ca: DevCa;
let dir: string;
const serverCerts = new Map<string, IssuedCertificate>();
const clientCerts = new Map<string, IssuedCertificate>();
const saeCerts = new Map<string, IssuedCertificate>();

beforeAll(async () => {
  ca = await createDevCa({ name: "kme network test CA" });
  dir = mkdtempSync(join(tmpdir(), "qnet-kme-net-"));
  writeFileSync(join(dir, "ca.pem"), ca.certPem);
  for (const id of KMES) {
    const server = await issueKmeCert(ca, { kmeId: id });
    serverCerts.set(id, server);
    writeFileSync(join(dir, `${id}.pem`), server.certPem);
    writeFileSync(join(dir, `${id}-key.pem`), server.keyPem, { mode: 0o600 });
    // A KME certificate carries extended key usage serverAuth only, which TLS servers refuse from a
    // client; the KME's client identity is a clientAuth certificate with its KME ID as CN.
    clientCerts.set(id, await issueSaeCert(ca, { saeId: id }));
  }
  for (const s of [...SAES.map((s) => s.saeId), "sae-stranger"])
    saeCerts.set(s, await issueSaeCert(ca, { saeId: s }));
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Site {
  id: KmeId;
  kme: Kme;
  store: MemoryKeyStore;
  app: FastifyInstance;
  client: HttpsKmePeers;
  url: string;
  errors: string[];
}

interface Network {
  sites: Record<KmeId, Site>;
  /** Adds `units` units to each direction of the pool between two KMEs, identical at both ends. */
  supply(x: KmeId, y: KmeId, units: number): Promise<void>;
  level(kme: KmeId, pool: string): Promise<{ local: number; peer: number }>;
}

const open: Network[] = [];
afterEach(async () => {
  for (const net of open.splice(0))
    for (const site of Object.values(net.sites)) {
      site.client.close();
      await site.app.close();
    }
});

async function network(): Promise<Network> {
  const random = (n: number) => new Uint8Array(randomBytes(n));
  const pairs = Object.fromEntries(KMES.map((id) => [id, pqcKeyPair(random)])) as Record<
    KmeId,
    ReturnType<typeof pqcKeyPair>
  >;
  const sites = {} as Record<KmeId, Site>;
  for (const id of KMES) {
    const store = new MemoryKeyStore();
    const errors: string[] = [];
    const onError = (e: unknown, context: string) => errors.push(`${context}: ${String(e)}`);
    const client = new HttpsKmePeers({
      kmeId: id,
      peers: {},
      cert: clientCerts.get(id)!.certPem,
      key: clientCerts.get(id)!.keyPem,
      ca: ca.certPem,
      timeoutMs: 5000,
    });
    const pools: KmePool[] = LINKS.filter((l) => l.kmeIds.includes(id)).map((l) => ({
      pool: l.pool,
      peerKmeId: l.kmeIds[0] === id ? l.kmeIds[1] : l.kmeIds[0],
      unitBits: l.unitBits,
    }));
    const isLocalSae = (s: string) => SAES.some((r) => r.saeId === s && r.kmeId === id);
    const relay = new RelayService({
      kmeId: id,
      store,
      links: LINKS,
      transport: client,
      clock: Date.now,
      random,
      isLocalSae,
      onError,
    });
    const pqc = createPqcFallback({
      kmeId: id,
      store,
      peerPublicKeys: Object.fromEntries(KMES.filter((k) => k !== id).map((k) => [k, pairs[k].publicKey])),
      secretKey: pairs[id].secretKey,
      transport: client,
      random,
      clock: Date.now,
      pools,
      isLocalSae,
      onError,
    });
    const kme = new Kme({
      kmeId: id,
      store,
      saes: SAES,
      pools,
      peers: client,
      clock: Date.now,
      random,
      relay,
      fallback: pqc,
      onInternalError: onError,
    });
    const app = Fastify({
      ...KMS_SERVER_OPTIONS,
      https: mtlsServerOptions({
        certFile: join(dir, `${id}.pem`),
        keyFile: join(dir, `${id}-key.pem`),
        caFile: join(dir, "ca.pem"),
      }),
    });
    const identify = (r: Parameters<typeof saeIdFromRequest>[0]) => saeIdFromRequest(r, "cn");
    registerKmsRoutes(app, { kme, identify });
    registerKmePeerRoutes(app, {
      kme,
      store,
      identifyKme: identify,
      neighbours: pools.map((p) => p.peerKmeId),
      knownKmes: KMES.filter((k) => k !== id),
      relay,
      pqc,
    });
    await app.listen({ host: "127.0.0.1", port: 0 });
    const url = `https://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    sites[id] = { id, kme, store, app, client, url, errors };
  }
  for (const site of Object.values(sites))
    for (const other of Object.values(sites))
      if (other !== site) site.client.setPeer(other.id, { url: other.url });
  let block = 0;
  const net: Network = {
    sites,
    async supply(x, y, units) {
      const link = LINKS.find((l) => l.kmeIds.includes(x) && l.kmeIds.includes(y))!;
      const [first, second] = link.kmeIds[0] === x ? [x, y] : [y, x];
      const key = randomBytes((2 * units * UNIT_BITS) / 8);
      const { atA, atB } = cutIntoUnits(
        {
          blockId: `${link.pool}:${block++}`,
          keyA: new Uint8Array(key),
          keyB: new Uint8Array(key),
          parameterSet: { version: "test", fingerprint: "test" },
          readyNs: 0,
        },
        UNIT_BITS / 8,
      );
      for (const [kme, end] of [
        [first, atA],
        [second, atB],
      ] as const) {
        await sites[kme].store.addUnits(link.pool, "local", end.local, Date.now());
        await sites[kme].store.addUnits(link.pool, "peer", end.peer, Date.now());
      }
    },
    async level(kme, pool) {
      const l = (await sites[kme].store.poolLevels(pool))[0];
      return { local: l?.local.units ?? 0, peer: l?.peer.units ?? 0 };
    },
  };
  open.push(net);
  return net;
}

interface Answer {
  status: number;
  body: unknown;
}

/** An HTTPS call with a client certificate (an SAE's or a KME's), JSON in and out. */
function call(
  url: string,
  cert: IssuedCertificate,
  method: "GET" | "POST",
  path: string,
  body?: unknown,
  contentType = "application/json",
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body);
    const req = request(
      `${url}${path}`,
      {
        method,
        cert: cert.certPem,
        key: cert.keyPem,
        ca: ca.certPem,
        agent: false,
        headers: payload === undefined ? {} : { "content-type": contentType },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined });
        });
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

const sae = (net: Network, saeId: string, kme: KmeId, method: "GET" | "POST", path: string, body?: unknown) =>
  call(net.sites[kme].url, saeCerts.get(saeId)!, method, path, body);

interface Keys {
  keys: { key_ID: string; key: string; key_extension?: Record<string, unknown> }[];
}

async function encAndDec(
  net: Network,
  master: string,
  masterKme: KmeId,
  slave: string,
  slaveKme: KmeId,
  req: object,
) {
  const enc = await sae(net, master, masterKme, "POST", `/api/v1/keys/${slave}/enc_keys`, req);
  if (enc.status !== 200) return { enc, dec: undefined };
  const ids = (enc.body as Keys).keys.map((k) => ({ key_ID: k.key_ID }));
  const dec = await sae(net, slave, slaveKme, "POST", `/api/v1/keys/${master}/dec_keys`, { key_IDs: ids });
  return { enc, dec };
}

describe("KME network over mutual-TLS HTTPS", () => {
  it("(1) an SAE at kme-a gets keys for an SAE at kme-b, who gets the same keys by ID", async () => {
    const net = await network();
    await net.supply("kme-a", "kme-b", 20);
    const { enc, dec } = await encAndDec(net, "sae-a1", "kme-a", "sae-b1", "kme-b", { number: 3 });
    expect(enc.status).toBe(200);
    expect((enc.body as Keys).keys).toHaveLength(3);
    expect(dec!.status).toBe(200);
    expect(dec!.body).toEqual(enc.body);
    // 3 keys of 256 bits: 12 units of kme-a's direction, at both ends.
    expect(await net.level("kme-a", "a-b")).toEqual({ local: 8, peer: 20 });
    expect(await net.level("kme-b", "a-b")).toEqual({ local: 20, peer: 8 });
    expect(net.sites["kme-a"].errors).toEqual([]);
  });

  it("(2) an SAE at kme-a gets keys for an SAE at kme-c by relay through kme-b", async () => {
    const net = await network();
    await net.supply("kme-a", "kme-b", 10);
    await net.supply("kme-b", "kme-c", 10);
    const status = await sae(net, "sae-a1", "kme-a", "GET", "/api/v1/keys/sae-c1/status");
    expect(status.body).toMatchObject({ target_KME_ID: "kme-c", stored_key_count: 2 });
    const { enc, dec } = await encAndDec(net, "sae-a1", "kme-a", "sae-c1", "kme-c", { number: 2, size: 200 });
    expect(enc.status).toBe(200);
    expect(dec!.status).toBe(200);
    expect(dec!.body).toEqual(enc.body);
    // 200 bits take 4 units of 64 bits: 8 units on each link, taken at both of its ends.
    expect(await net.level("kme-a", "a-b")).toEqual({ local: 2, peer: 10 });
    expect(await net.level("kme-b", "a-b")).toEqual({ local: 10, peer: 2 });
    expect(await net.level("kme-b", "b-c")).toEqual({ local: 2, peer: 10 });
    expect(await net.level("kme-c", "b-c")).toEqual({ local: 10, peer: 2 });
    const hops = await net.sites["kme-b"].store.queryAudit({ kind: "relayed" });
    expect(hops).toHaveLength(4);
    expect(hops.map((e) => e.detail?.split(";")[0]).sort()).toEqual([
      "received hop 1/2 kme-a>kme-b",
      "received hop 1/2 kme-a>kme-b",
      "sent hop 2/2 kme-b>kme-c",
      "sent hop 2/2 kme-b>kme-c",
    ]);
    for (const s of Object.values(net.sites)) expect(s.errors).toEqual([]);
  });

  it("(2b) a relay with a short second link delivers nothing and leaves the links in step", async () => {
    const net = await network();
    await net.supply("kme-a", "kme-b", 10);
    await net.supply("kme-b", "kme-c", 3);
    const enc = await sae(net, "sae-a1", "kme-a", "POST", "/api/v1/keys/sae-c1/enc_keys", { number: 1 });
    expect(enc.status).toBe(503);
    expect(await net.sites["kme-c"].store.reservedCount()).toBe(0);
    const a = await net.level("kme-a", "a-b");
    const b = await net.level("kme-b", "a-b");
    expect(a.local).toBe(b.peer);
  });

  it("(3) with pool a-b empty: hybrid keys for pqc-allowed SAEs, 503 for hybrid and qkd-only", async () => {
    const net = await network();
    const { enc, dec } = await encAndDec(net, "sae-a2", "kme-a", "sae-b2", "kme-b", { number: 2 });
    expect(enc.status).toBe(200);
    for (const k of (enc.body as Keys).keys)
      expect(k.key_extension).toEqual({
        qnet_key_origin: "hybrid-ml-kem-768",
        qnet_qkd_bits: 0,
        qnet_kdf: "HKDF-SHA-256",
      });
    expect(dec!.status).toBe(200);
    expect((dec!.body as Keys).keys.map((k) => k.key)).toEqual((enc.body as Keys).keys.map((k) => k.key));
    expect(await net.sites["kme-b"].store.queryAudit({ kind: "pqc-fallback", actor: "kme-a" })).toHaveLength(
      2,
    );

    // hybrid needs some QKD key to combine with: none, so 503; qkd-only never falls back.
    const hybrid = await sae(net, "sae-a3", "kme-a", "POST", "/api/v1/keys/sae-b2/enc_keys", {});
    expect(hybrid.status).toBe(503);
    const qkdOnly = await sae(net, "sae-a1", "kme-a", "POST", "/api/v1/keys/sae-b1/enc_keys", {});
    expect(qkdOnly.status).toBe(503);
  });

  it("(3b) a hybrid SAE with a short pool gets a key mixing the QKD bits there are", async () => {
    const net = await network();
    await net.supply("kme-a", "kme-b", 2); // 128 bits in kme-a's direction, a key needs 256
    const { enc, dec } = await encAndDec(net, "sae-a3", "kme-a", "sae-b2", "kme-b", {});
    expect(enc.status).toBe(200);
    expect((enc.body as Keys).keys[0].key_extension).toMatchObject({ qnet_qkd_bits: 128 });
    expect((dec!.body as Keys).keys[0].key).toBe((enc.body as Keys).keys[0].key);
    expect(await net.level("kme-a", "a-b")).toEqual({ local: 0, peer: 2 });
    expect(await net.level("kme-b", "a-b")).toEqual({ local: 2, peer: 0 });
  });

  it("(4) /kmapi refuses clients that are not neighbouring KMEs with 401", async () => {
    const net = await network();
    const b = net.sites["kme-b"].url;
    const body = { pool: "a-b", keyId: "k" };
    expect((await call(b, saeCerts.get("sae-b1")!, "POST", "/kmapi/v1/exists", body)).status).toBe(401);
    expect((await call(b, saeCerts.get("sae-stranger")!, "POST", "/kmapi/v1/reserve", body)).status).toBe(
      401,
    );
    // kme-c is known but shares no pool with kme-a: it may not reserve there.
    const a = net.sites["kme-a"].url;
    expect((await call(a, clientCerts.get("kme-c")!, "POST", "/kmapi/v1/exists", body)).status).toBe(401);
    expect((await call(a, clientCerts.get("kme-b")!, "POST", "/kmapi/v1/exists", body)).status).toBe(200);
    // A KME is not an SAE.
    expect((await call(b, clientCerts.get("kme-a")!, "GET", "/api/v1/keys/sae-a1/status")).status).toBe(401);
    const refused = await net.sites["kme-b"].store.queryAudit({ kind: "refused", actor: "sae-b1" });
    expect(refused[0]?.detail).toMatch(/401 kmapi POST \/kmapi\/v1\/exists/);
  });

  it("(4) malformed peer bodies get 400 with an Error body, never a 5xx", async () => {
    const net = await network();
    const b = net.sites["kme-b"].url;
    const asA = (path: string, body?: unknown, type?: string) =>
      call(b, clientCerts.get("kme-a")!, "POST", `/kmapi/v1/${path}`, body, type);
    const reservation = {
      pool: "a-b",
      keyId: "11111111-1111-4111-8111-111111111111",
      unitIds: ["u"],
      sizeBits: 64,
      masterSae: "sae-a1",
      slaveSaes: ["sae-b1"],
    };
    const cases: [string, unknown, string?][] = [
      ["reserve", "{not json"],
      ["reserve", undefined],
      ["reserve", "[]"],
      ["reserve", { ...reservation, extra: 1 }],
      ["reserve", { ...reservation, sizeBits: 7 }],
      ["reserve", { ...reservation, unitIds: [] }],
      ["reserve", { ...reservation, unitIds: ["u", "u"] }],
      ["reserve", { ...reservation, slaveSaes: "sae-b1" }],
      ["reserve", { ...reservation, pool: 5 }],
      ["reserve", '{"__proto__":{"x":1}}'],
      ["reserve", "pool=a-b", "text/plain"],
      ["exists", { pool: "a-b" }],
      ["relay", { messages: [] }],
      ["relay", { messages: [{ keyId: "k" }] }],
      ["relay", { messages: "x" }],
      ["pqc", { keyId: "k" }],
      ["pqc", null],
    ];
    for (const [path, body, type] of cases) {
      const r = await asA(path, body, type);
      expect(r.status, `${path} ${JSON.stringify(body)}`).toBe(400);
      expect(typeof (r.body as { message?: unknown }).message).toBe("string");
    }
    // A well-formed reservation of units kme-b does not hold is answered, not refused at the HTTP level.
    expect(await asA("reserve", reservation)).toEqual({ status: 200, body: { outcome: "missing-units" } });
    expect((await asA("nowhere", {})).status).toBe(404);
  });

  it("HttpsKmePeers checks the peer's KME ID and maps no answer to a rejection", async () => {
    const net = await network();
    const a = net.sites["kme-a"];
    const client = new HttpsKmePeers({
      kmeId: "kme-a",
      peers: {
        // kme-c's server answers where kme-b is expected: its certificate names kme-c.
        "kme-b": { url: net.sites["kme-c"].url },
        "kme-x": { url: "https://127.0.0.1:1" },
      },
      cert: clientCerts.get("kme-a")!.certPem,
      key: clientCerts.get("kme-a")!.keyPem,
      ca: ca.certPem,
      timeoutMs: 2000,
    });
    try {
      await expect(client.exists("kme-b", { pool: "a-b", keyId: "k" })).rejects.toThrow(
        /names kme-c, not KME kme-b/,
      );
      await expect(client.exists("kme-x", { pool: "a-b", keyId: "k" })).rejects.toThrow(
        /kme-x.*request failed/,
      );
      await expect(client.exists("kme-nowhere", { pool: "a-b", keyId: "k" })).rejects.toThrow(/no address/);
      client.setPeer("kme-b", { url: net.sites["kme-b"].url });
      expect(await client.exists("kme-b", { pool: "a-b", keyId: "k" })).toBe(false);
      expect(() => client.setPeer("kme-b", { url: "http://127.0.0.1:1" })).toThrow(/https/);
    } finally {
      client.close();
    }
    expect(a.errors).toEqual([]);
  });

  it("exists answers for reservations made over HTTPS", async () => {
    const net = await network();
    await net.supply("kme-a", "kme-b", 4);
    const enc = await sae(net, "sae-a1", "kme-a", "POST", "/api/v1/keys/sae-b1/enc_keys", {});
    const keyId = (enc.body as Keys).keys[0].key_ID;
    const client = net.sites["kme-a"].client;
    expect(await client.exists("kme-b", { pool: "a-b", keyId })).toBe(true);
    expect(await client.exists("kme-b", { pool: "a-b", keyId: "unknown" })).toBe(false);
  });

  it("Kme.recover settles a relay pad left pending by a crash, asking the peer over HTTPS", async () => {
    const net = await network();
    await net.supply("kme-a", "kme-b", 4);
    const a = net.sites["kme-a"];
    // As if kme-a crashed after taking the pad, before sending the hop: kme-b never saw it.
    const padKeyId = relayPadKeyId("33333333-3333-4333-8333-333333333333", 0);
    await a.store.issueLocal({
      pool: "a-b",
      keyId: padKeyId,
      units: 4,
      sizeBits: 256,
      masterSae: "sae-a1",
      slaveSaes: ["relay:kme-a"],
      nowMs: Date.now(),
    });
    expect(await net.level("kme-a", "a-b")).toEqual({ local: 0, peer: 4 });
    expect(await a.kme.recover()).toEqual({ discarded: [], released: [padKeyId], pending: [] });
    expect(await net.level("kme-a", "a-b")).toEqual({ local: 4, peer: 4 });
  });
});
