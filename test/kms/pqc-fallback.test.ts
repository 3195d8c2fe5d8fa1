import { describe, expect, it } from "vitest";
import { decodeBase64, encodeBase64 } from "../../src/kms/etsi014.js";
import type { FallbackContext, SaePolicy } from "../../src/kms/kme.js";
import { Kme, type SaeRegistration } from "../../src/kms/kme.js";
import { MemoryKeyStore } from "../../src/kms/memory-key-store.js";
import { HYBRID_KEY_ORIGIN, pqcKeyPair } from "../../src/kms/pqc.js";
import {
  createPqcFallback,
  type PqcFallback,
  type PqcReserveOutcome,
  type PqcReserveRequest,
  parsePqcRequest,
  pqcUnitsKeyId,
  pqcUnitsReceived,
} from "../../src/kms/pqc-fallback.js";
import { Rng } from "../../src/sim/rng.js";

/** Two KMEs sharing pool link-a-b, their fallbacks wired in process (through JSON, as over HTTPS). */
const POOL = "link-a-b";
const UNIT_BITS = 64;
const NOW = 1_700_000_000_000;
const KEY_ID = "11111111-1111-4111-8111-111111111111";

interface Pair {
  storeA: MemoryKeyStore;
  storeB: MemoryKeyStore;
  a: PqcFallback;
  b: PqcFallback;
  sent: PqcReserveRequest[];
  intercept: { fn?: (req: PqcReserveRequest) => PqcReserveOutcome | undefined };
  supply(units: number): Promise<void>;
  random: (n: number) => Uint8Array;
}

function pair(): Pair {
  const rng = new Rng("pqc-fallback");
  const random = (n: number) => Uint8Array.from({ length: n }, () => rng.int(256));
  const keysA = pqcKeyPair(random);
  const keysB = pqcKeyPair(random);
  const storeA = new MemoryKeyStore();
  const storeB = new MemoryKeyStore();
  const sent: PqcReserveRequest[] = [];
  const intercept: Pair["intercept"] = {};
  const fallbacks: Record<string, PqcFallback> = {};
  const make = (
    kmeId: string,
    peer: string,
    store: MemoryKeyStore,
    secretKey: Uint8Array,
    peerKey: Uint8Array,
  ) =>
    createPqcFallback({
      kmeId,
      store,
      peerPublicKeys: { [peer]: peerKey },
      secretKey,
      random,
      clock: () => NOW,
      pools: [{ pool: POOL, peerKmeId: peer, unitBits: UNIT_BITS }],
      isLocalSae: (s) => s.startsWith(`sae-${kmeId.slice(-1)}`),
      transport: {
        async pqcReserve(to, req) {
          sent.push(req);
          const replaced = intercept.fn?.(req);
          if (replaced !== undefined) return replaced;
          return fallbacks[to].receive(kmeId, parsePqcRequest(JSON.parse(JSON.stringify(req))));
        },
      },
    });
  fallbacks["kme-a"] = make("kme-a", "kme-b", storeA, keysA.secretKey, keysB.publicKey);
  fallbacks["kme-b"] = make("kme-b", "kme-a", storeB, keysB.secretKey, keysA.publicKey);
  let next = 0;
  return {
    storeA,
    storeB,
    a: fallbacks["kme-a"],
    b: fallbacks["kme-b"],
    sent,
    intercept,
    random,
    async supply(units) {
      const batch = Array.from({ length: units }, () => ({
        unitId: `u${next++}`,
        material: random(UNIT_BITS / 8),
      }));
      await storeA.addUnits(POOL, "local", batch, NOW);
      await storeB.addUnits(
        POOL,
        "peer",
        batch.map((u) => ({ unitId: u.unitId, material: u.material.slice() })),
        NOW,
      );
    },
  };
}

function ctx(policies: SaePolicy[], over: Partial<FallbackContext> = {}): FallbackContext {
  return {
    keyId: KEY_ID,
    sizeBits: 256,
    masterSae: "sae-a1",
    slaveSaes: ["sae-b1"],
    slaveKmeId: "kme-b",
    pool: POOL,
    policies,
    qkdAvailableBits: 0,
    nowMs: NOW,
    ...over,
  };
}

async function takeAtB(p: Pair, sae = "sae-b1") {
  const r = await p.storeB.takeReserved([KEY_ID], sae, NOW);
  return r.status === "ok" ? r.keys[0].material : r.status;
}

async function levels(p: Pair) {
  const [a] = await p.storeA.poolLevels(POOL);
  const [b] = await p.storeB.poolLevels(POOL);
  return { aLocal: a?.local.units ?? 0, bPeer: b?.peer.units ?? 0 };
}

describe("createPqcFallback: master and slave KMEs agree on a hybrid key", () => {
  it("pqc-allowed with an empty pool: ML-KEM-768 alone (0 QKD bits), same key at the slave's KME", async () => {
    const p = pair();
    const got = await p.a(ctx(["pqc-allowed", "pqc-allowed"]));
    expect(got).not.toBeNull();
    expect(got!.material.length).toBe(32);
    expect(got!.extension).toEqual({
      qnet_key_origin: HYBRID_KEY_ORIGIN,
      qnet_qkd_bits: 0,
      qnet_kdf: "HKDF-SHA-256",
    });
    expect(await takeAtB(p)).toEqual(got!.material);
    expect(p.sent[0]).toMatchObject({ pool: null, qkdUnitIds: [], qkdBits: 0 });
  });

  it("hybrid with a short pool mixes in the QKD units there are, taken at both ends", async () => {
    const p = pair();
    await p.supply(2); // 128 bits, less than the 256 asked
    const got = await p.a(ctx(["hybrid", "pqc-allowed"], { qkdAvailableBits: 128 }));
    expect(got!.extension).toMatchObject({ qnet_qkd_bits: 128 });
    expect(await takeAtB(p)).toEqual(got!.material);
    expect(await levels(p)).toEqual({ aLocal: 0, bPeer: 0 });
    expect(p.sent[0].qkdUnitIds).toEqual(["u0", "u1"]);
    expect(await pqcUnitsReceived(p.storeB, "kme-a", pqcUnitsKeyId(KEY_ID))).toBe(true);
    expect(await pqcUnitsReceived(p.storeB, "kme-a", pqcUnitsKeyId("other"))).toBe(false);
    expect(await pqcUnitsReceived(p.storeB, "kme-a", KEY_ID)).toBeUndefined();
  });

  it("takes at most the key's size in QKD units", async () => {
    const p = pair();
    await p.supply(10);
    const got = await p.a(ctx(["pqc-allowed"], { sizeBits: 128 }));
    expect(got!.extension).toMatchObject({ qnet_qkd_bits: 128 });
    expect(await levels(p)).toEqual({ aLocal: 8, bPeer: 8 });
  });

  it("audits pqc-fallback at both KMEs, with the QKD bits and never the key", async () => {
    const p = pair();
    await p.supply(1);
    const got = await p.a(ctx(["hybrid"]));
    const events = [
      ...(await p.storeA.queryAudit({ kind: "pqc-fallback" })),
      ...(await p.storeB.queryAudit({ kind: "pqc-fallback" })),
    ];
    expect(events.map((e) => e.actor)).toEqual(["kme-b", "kme-a"]);
    expect(events.every((e) => e.detail?.includes("qkd bits 64") && e.keyIds?.[0] === KEY_ID)).toBe(true);
    expect(JSON.stringify(events)).not.toContain(encodeBase64(got!.material));
  });
});

describe("createPqcFallback: refusals", () => {
  it("hybrid with no QKD bit at all is refused, and nothing is sent", async () => {
    const p = pair();
    expect(await p.a(ctx(["hybrid", "pqc-allowed"]))).toBeNull();
    expect(p.sent).toEqual([]);
  });

  it("qkd-only anywhere is refused", async () => {
    const p = pair();
    await p.supply(1);
    expect(await p.a(ctx(["pqc-allowed", "qkd-only"]))).toBeNull();
    expect(await levels(p)).toEqual({ aLocal: 1, bPeer: 1 });
  });

  it("no public key for the slaves' KME: refused", async () => {
    const p = pair();
    expect(await p.a(ctx(["pqc-allowed"], { slaveKmeId: "kme-z", pool: null }))).toBeNull();
    expect(p.sent).toEqual([]);
  });

  it("the slave KME refusing before taking the units: they go back to the master's pool", async () => {
    const p = pair();
    await p.supply(2);
    p.intercept.fn = () => ({ status: "refused", unitsConsumed: false, reason: "test" });
    expect(await p.a(ctx(["hybrid"]))).toBeNull();
    expect(await levels(p)).toEqual({ aLocal: 2, bPeer: 2 });
    expect(await p.storeA.pendingIssued()).toEqual([]);
  });

  it("a lost answer: the master discards its units", async () => {
    const p = pair();
    await p.supply(2);
    p.intercept.fn = () => {
      throw new Error("timeout");
    };
    expect(await p.a(ctx(["hybrid"]))).toBeNull();
    expect(await levels(p)).toEqual({ aLocal: 0, bPeer: 2 });
  });

  it("the slave KME refuses units it does not hold, slaves it does not serve, and foreign pools", async () => {
    const p = pair();
    await p.supply(1);
    const good = parsePqcRequest(JSON.parse(JSON.stringify(await captured(p))));
    expect(await p.b.receive("kme-a", { ...good, qkdUnitIds: ["nope"] })).toMatchObject({
      status: "refused",
      unitsConsumed: false,
    });
    expect(await p.b.receive("kme-a", { ...good, slaveSaes: ["sae-a2"] })).toMatchObject({
      status: "refused",
    });
    expect(await p.b.receive("kme-c", good)).toMatchObject({ status: "refused", unitsConsumed: false });
    expect(await p.b.receive("kme-a", { ...good, qkdBits: 8 })).toMatchObject({ status: "refused" });
    // The genuine request still works afterwards: nothing was consumed.
    expect(await p.b.receive("kme-a", good)).toEqual({ status: "ok" });
    expect(await p.b.receive("kme-a", good)).toMatchObject({ status: "refused", unitsConsumed: false });
  });

  async function captured(p: Pair): Promise<PqcReserveRequest> {
    p.intercept.fn = () => ({ status: "refused", unitsConsumed: false, reason: "captured" });
    await p.a(ctx(["hybrid"]));
    p.intercept.fn = undefined;
    return p.sent.at(-1)!;
  }

  it("parsePqcRequest refuses malformed requests with a RangeError", async () => {
    const p = pair();
    await p.supply(1);
    const good = await captured(p);
    const bad: unknown[] = [
      null,
      [],
      { ...good, extra: 1 },
      { ...good, keyId: "" },
      { ...good, sizeBits: 12 },
      { ...good, sizeBits: "256" },
      { ...good, ciphertext: "AAAA" },
      { ...good, ciphertext: "not base64!" },
      { ...good, slaveSaes: [] },
      { ...good, slaveSaes: ["x", "x"] },
      { ...good, qkdBits: -1 },
      { ...good, pool: null },
      { ...good, qkdUnitIds: [], qkdBits: 0 },
    ];
    for (const body of bad)
      expect(() => parsePqcRequest(body), JSON.stringify(body).slice(0, 80)).toThrow(RangeError);
    expect(parsePqcRequest(good)).toEqual(good);
    expect(decodeBase64(good.ciphertext).length).toBe(1088);
  });

  it("refuses a malformed key pair at construction", () => {
    const p = pair();
    const base = {
      kmeId: "k",
      store: p.storeA,
      random: p.random,
      clock: () => NOW,
      pools: [],
      transport: { pqcReserve: async () => ({ status: "ok" }) as const },
    };
    expect(() => createPqcFallback({ ...base, peerPublicKeys: {}, secretKey: new Uint8Array(3) })).toThrow(
      RangeError,
    );
    const { secretKey } = pqcKeyPair(p.random);
    expect(() => createPqcFallback({ ...base, peerPublicKeys: { x: new Uint8Array(5) }, secretKey })).toThrow(
      /public key of KME x/,
    );
  });
});

describe("createPqcFallback: with Kme", () => {
  const SAES: SaeRegistration[] = [
    { saeId: "sae-a1", kmeId: "kme-a", policy: "pqc-allowed" },
    { saeId: "sae-b1", kmeId: "kme-b", policy: "hybrid" },
  ];

  it("a short pool yields hybrid keys marked in key_extension; the slave takes the same keys", async () => {
    const p = pair();
    await p.supply(5); // 320 bits: two keys of 256 bits do not fit; each mixes in what is left
    const rng = new Rng("kme");
    const random = (n: number) => Uint8Array.from({ length: n }, () => rng.int(256));
    const common = {
      saes: SAES,
      clock: () => NOW,
      random,
      peers: { reserve: async () => "refused" as const },
    };
    const a = new Kme({
      ...common,
      kmeId: "kme-a",
      store: p.storeA,
      pools: [{ pool: POOL, peerKmeId: "kme-b", unitBits: UNIT_BITS }],
      fallback: p.a,
    });
    const b = new Kme({
      ...common,
      kmeId: "kme-b",
      store: p.storeB,
      pools: [{ pool: POOL, peerKmeId: "kme-a", unitBits: UNIT_BITS }],
    });
    const got = await a.getKey("sae-a1", "sae-b1", { number: 2 });
    expect(got.status).toBe(200);
    const keys = (
      got.body as { keys: { key_ID: string; key: string; key_extension?: { qnet_qkd_bits: number } }[] }
    ).keys;
    expect(keys.map((k) => k.key_extension?.qnet_qkd_bits)).toEqual([256, 64]);
    const dec = await b.getKeyWithIds("sae-b1", "sae-a1", {
      key_IDs: keys.map((k) => ({ key_ID: k.key_ID })),
    });
    expect(dec.status).toBe(200);
    expect((dec.body as { keys: { key: string }[] }).keys.map((k) => k.key)).toEqual(keys.map((k) => k.key));
  });
});
