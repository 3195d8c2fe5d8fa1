import { describe, expect, it } from "vitest";
import { decodeBase64 } from "../../src/kms/etsi014.js";
import type { KeyStore } from "../../src/kms/key-store.js";
import { Kme, type SaeRegistration } from "../../src/kms/kme.js";
import { MemoryKeyStore } from "../../src/kms/memory-key-store.js";
import type { RelayMessage } from "../../src/kms/relay.js";
import {
  parseRelayBatch,
  type RelayHopOutcome,
  RelayService,
  type RelayTopologyLink,
  relayPadKeyId,
} from "../../src/kms/relay-service.js";
import { Rng } from "../../src/sim/rng.js";

/**
 * Relay networks wired in process: a line kme-a — kme-b — kme-c (— kme-d), one MemoryKeyStore and one
 * RelayService per KME, hops delivered by calling the next service's receiveHop.
 */
const UNIT_BITS = 64;
const NOW = 1_700_000_000_000;

interface Net {
  stores: Record<string, MemoryKeyStore>;
  relays: Record<string, RelayService>;
  /** Replaces a hop while set: return an outcome or throw; undefined lets it through. */
  intercept: {
    fn?: (from: string, to: string, messages: readonly RelayMessage[]) => RelayHopOutcome | undefined;
  };
  errors: string[];
  supply(from: string, to: string, units: number): Promise<void>;
  level(kme: string, pool: string): Promise<{ local: number; peer: number }>;
}

function line(
  kmeIds: string[],
  options: { unitBits?: number; localSaes?: Record<string, string[]> } = {},
): Net {
  const rng = new Rng("relay-service");
  const random = (n: number) => Uint8Array.from({ length: n }, () => rng.int(256));
  const links: RelayTopologyLink[] = [];
  for (let i = 0; i + 1 < kmeIds.length; i++)
    links.push({
      kmeIds: [kmeIds[i], kmeIds[i + 1]],
      pool: `${kmeIds[i]}~${kmeIds[i + 1]}`,
      unitBits: options.unitBits ?? UNIT_BITS,
    });
  const stores: Record<string, MemoryKeyStore> = {};
  const relays: Record<string, RelayService> = {};
  const intercept: Net["intercept"] = {};
  const errors: string[] = [];
  for (const id of kmeIds) {
    stores[id] = new MemoryKeyStore();
    const local = options.localSaes?.[id];
    relays[id] = new RelayService({
      kmeId: id,
      store: stores[id],
      links,
      clock: () => NOW,
      random,
      isLocalSae: local ? (s) => local.includes(s) : undefined,
      onError: (e, context) => errors.push(`${id}: ${context}: ${String(e)}`),
      transport: {
        async relayHop(to, messages) {
          const replaced = intercept.fn?.(id, to, messages);
          if (replaced !== undefined) return replaced;
          // Through JSON, as over HTTPS, so the receiver sees exactly what a peer would send.
          return relays[to].receiveHop(id, parseRelayBatch(JSON.parse(JSON.stringify({ messages }))));
        },
      },
    });
  }
  let next = 0;
  const poolOf = (a: string, b: string) =>
    links.find((l) => l.kmeIds.includes(a) && l.kmeIds.includes(b))!.pool;
  return {
    stores,
    relays,
    intercept,
    errors,
    async supply(from, to, units) {
      const bytes = (options.unitBits ?? UNIT_BITS) / 8;
      const batch = Array.from({ length: units }, () => ({ unitId: `u${next++}`, material: random(bytes) }));
      await stores[from].addUnits(poolOf(from, to), "local", batch, NOW);
      await stores[to].addUnits(
        poolOf(from, to),
        "peer",
        batch.map((u) => ({ unitId: u.unitId, material: u.material.slice() })),
        NOW,
      );
    },
    async level(kme, pool) {
      const l = (await stores[kme].poolLevels(pool))[0];
      return { local: l?.local.units ?? 0, peer: l?.peer.units ?? 0 };
    },
  };
}

const KEY_IDS = ["11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"];

function ctx(over: Partial<Parameters<RelayService["getKeys"]>[0]> = {}) {
  return {
    masterSae: "sae-a",
    slaveSaes: ["sae-c"],
    slaveKmeId: "kme-c",
    keyIds: KEY_IDS,
    sizeBits: 256,
    nowMs: NOW,
    ...over,
  };
}

async function take(store: KeyStore, keyIds: string[], sae: string) {
  const r = await store.takeReserved(keyIds, sae, NOW);
  return r.status === "ok" ? r.keys.map((k) => k.material) : r.status;
}

describe("RelayService: keys relayed hop by hop", () => {
  it("delivers every key to the last KME, which holds the same material for the slaves", async () => {
    const net = line(["kme-a", "kme-b", "kme-c"], { localSaes: { "kme-c": ["sae-c"] } });
    await net.supply("kme-a", "kme-b", 10);
    await net.supply("kme-b", "kme-c", 10);
    const keys = await net.relays["kme-a"].getKeys(ctx());
    expect(keys).not.toBeNull();
    expect(keys!.map((k) => k.length)).toEqual([32, 32]);
    expect(await take(net.stores["kme-c"], KEY_IDS, "sae-c")).toEqual(keys);
    // Nothing stays reserved at kme-b: it only passed the keys on.
    expect(await net.stores["kme-b"].reservedCount()).toBe(0);
    expect(net.errors).toEqual([]);
  });

  it("consumes ⌈size / unit⌉ units per key on every link, at both ends", async () => {
    const net = line(["kme-a", "kme-b", "kme-c"]);
    await net.supply("kme-a", "kme-b", 10);
    await net.supply("kme-b", "kme-c", 10);
    // 200 bits take 4 units of 64 bits (the last one partly): 8 units per link for two keys.
    expect(await net.relays["kme-a"].getKeys(ctx({ sizeBits: 200 }))).not.toBeNull();
    expect(await net.level("kme-a", "kme-a~kme-b")).toEqual({ local: 2, peer: 0 });
    expect(await net.level("kme-b", "kme-a~kme-b")).toEqual({ local: 0, peer: 2 });
    expect(await net.level("kme-b", "kme-b~kme-c")).toEqual({ local: 2, peer: 0 });
    expect(await net.level("kme-c", "kme-b~kme-c")).toEqual({ local: 0, peer: 2 });
  });

  it("audits one event per key and hop at each end, without material", async () => {
    const net = line(["kme-a", "kme-b", "kme-c"]);
    await net.supply("kme-a", "kme-b", 4);
    await net.supply("kme-b", "kme-c", 4);
    const keys = await net.relays["kme-a"].getKeys(ctx({ keyIds: [KEY_IDS[0]] }));
    const atB = await net.stores["kme-b"].queryAudit({ kind: "relayed" });
    expect(atB.map((e) => e.detail?.split(" ").slice(0, 4).join(" ")).sort()).toEqual([
      "received hop 1/2 kme-a>kme-b;",
      "sent hop 2/2 kme-b>kme-c;",
    ]);
    expect(atB.every((e) => e.actor === "kme-b" && e.keyIds?.[0] === KEY_IDS[0] && e.bits === 256)).toBe(
      true,
    );
    const all = JSON.stringify([
      ...(await net.stores["kme-a"].queryAudit()),
      ...atB,
      ...(await net.stores["kme-c"].queryAudit()),
    ]);
    const b64 = Buffer.from(keys![0]).toString("base64");
    expect(all).not.toContain(b64);
  });

  it("relays over three hops", async () => {
    const net = line(["kme-a", "kme-b", "kme-c", "kme-d"]);
    await net.supply("kme-a", "kme-b", 4);
    await net.supply("kme-b", "kme-c", 4);
    await net.supply("kme-c", "kme-d", 4);
    const keys = await net.relays["kme-a"].getKeys(ctx({ slaveKmeId: "kme-d", keyIds: [KEY_IDS[0]] }));
    expect(await take(net.stores["kme-d"], [KEY_IDS[0]], "sae-c")).toEqual(keys);
    expect(await net.relays["kme-a"].padReceived("kme-a", relayPadKeyId(KEY_IDS[0], 0))).toBe(false);
    expect(await net.relays["kme-b"].padReceived("kme-a", relayPadKeyId(KEY_IDS[0], 0))).toBe(true);
    expect(await net.relays["kme-c"].padReceived("kme-b", relayPadKeyId(KEY_IDS[0], 1))).toBe(true);
    expect(await net.relays["kme-c"].padReceived("kme-b", "not-a-pad")).toBeUndefined();
  });
});

describe("RelayService: all keys or none", () => {
  it("plans no path when the first link is short, and takes nothing", async () => {
    const net = line(["kme-a", "kme-b", "kme-c"]);
    await net.supply("kme-a", "kme-b", 7); // two keys of 256 bits need 8
    await net.supply("kme-b", "kme-c", 10);
    expect(await net.relays["kme-a"].getKeys(ctx())).toBeNull();
    expect(await net.level("kme-a", "kme-a~kme-b")).toEqual({ local: 7, peer: 0 });
  });

  it("a short link further on: nothing delivered, and both ends of the first link stay in step", async () => {
    const net = line(["kme-a", "kme-b", "kme-c"]);
    await net.supply("kme-a", "kme-b", 10);
    await net.supply("kme-b", "kme-c", 5);
    expect(await net.relays["kme-a"].getKeys(ctx())).toBeNull();
    // kme-b took (and deleted) the A–B pads before it found B–C short, so kme-a deletes its copies.
    expect(await net.level("kme-a", "kme-a~kme-b")).toEqual({ local: 2, peer: 0 });
    expect(await net.level("kme-b", "kme-a~kme-b")).toEqual({ local: 0, peer: 2 });
    expect(await net.level("kme-b", "kme-b~kme-c")).toEqual({ local: 5, peer: 0 });
    expect(await net.stores["kme-c"].reservedCount()).toBe(0);
    // The next request still works: no unit is left at the head of a pool that the other end lacks.
    await net.supply("kme-b", "kme-c", 3);
    const fresh = ["33333333-3333-4333-8333-333333333333"];
    expect(await net.relays["kme-a"].getKeys(ctx({ keyIds: fresh }))).toBeNull(); // A–B has 2 units left
    await net.supply("kme-a", "kme-b", 2);
    expect(await net.relays["kme-a"].getKeys(ctx({ keyIds: fresh }))).not.toBeNull();
  });

  it("a refusal that took nothing releases the sender's pads to its pool", async () => {
    const net = line(["kme-a", "kme-b", "kme-c"]);
    await net.supply("kme-a", "kme-b", 8);
    net.intercept.fn = () => ({ status: "refused", padsConsumed: false, reason: "test" });
    expect(await net.relays["kme-a"].getKeys(ctx())).toBeNull();
    expect(await net.level("kme-a", "kme-a~kme-b")).toEqual({ local: 8, peer: 0 });
    expect(await net.stores["kme-a"].pendingIssued()).toEqual([]);
  });

  it("a lost answer discards the sender's pads (the receiver may have taken them)", async () => {
    const net = line(["kme-a", "kme-b", "kme-c"]);
    await net.supply("kme-a", "kme-b", 8);
    net.intercept.fn = () => {
      throw new Error("connection reset");
    };
    expect(await net.relays["kme-a"].getKeys(ctx())).toBeNull();
    expect(await net.level("kme-a", "kme-a~kme-b")).toEqual({ local: 0, peer: 0 });
    expect(await net.stores["kme-a"].pendingIssued()).toEqual([]);
    expect(net.errors.join("\n")).toMatch(/answer unknown/);
  });

  it("the last KME reserves all keys or none", async () => {
    const net = line(["kme-a", "kme-b", "kme-c"]);
    await net.supply("kme-a", "kme-b", 16);
    await net.supply("kme-b", "kme-c", 16);
    // A key ID that already exists at kme-c makes the second reservation fail.
    await net.stores["kme-c"].reserveMaterial({
      keyId: KEY_IDS[1],
      material: new Uint8Array(32),
      sizeBits: 256,
      masterSae: "x",
      slaveSaes: ["someone-else"],
      origin: "test",
      nowMs: NOW,
    });
    expect(await net.relays["kme-a"].getKeys(ctx())).toBeNull();
    expect(await net.stores["kme-c"].reservedCount("sae-c")).toBe(0);
  });

  it("the last KME refuses slaves it does not serve, before taking any pad", async () => {
    const net = line(["kme-a", "kme-b", "kme-c"], { localSaes: { "kme-c": ["sae-c"] } });
    await net.supply("kme-a", "kme-b", 8);
    await net.supply("kme-b", "kme-c", 8);
    expect(await net.relays["kme-a"].getKeys(ctx({ slaveSaes: ["sae-x"] }))).toBeNull();
    // kme-c took none of the B–C pads, so kme-b got them back; kme-b had taken the A–B pads.
    expect(await net.level("kme-b", "kme-b~kme-c")).toEqual({ local: 8, peer: 0 });
    expect(await net.level("kme-c", "kme-b~kme-c")).toEqual({ local: 0, peer: 8 });
    expect(await net.level("kme-a", "kme-a~kme-b")).toEqual({ local: 0, peer: 0 });
    expect(await net.level("kme-b", "kme-a~kme-b")).toEqual({ local: 0, peer: 0 });
  });
});

describe("RelayService: receiving side", () => {
  async function batch(net: Net): Promise<RelayMessage[]> {
    let captured: RelayMessage[] = [];
    net.intercept.fn = (_from, _to, messages) => {
      captured = [...messages];
      return { status: "refused", padsConsumed: false, reason: "captured" };
    };
    await net.relays["kme-a"].getKeys(ctx({ keyIds: [KEY_IDS[0]] }));
    net.intercept.fn = undefined;
    return captured;
  }

  it("refuses a batch from a KME that is not the hop's sender, taking nothing", async () => {
    const net = line(["kme-a", "kme-b", "kme-c"]);
    await net.supply("kme-a", "kme-b", 4);
    const messages = await batch(net);
    const outcome = await net.relays["kme-b"].receiveHop("kme-c", messages);
    expect(outcome).toMatchObject({ status: "refused", padsConsumed: false });
    expect(await net.level("kme-b", "kme-a~kme-b")).toEqual({ local: 0, peer: 4 });
  });

  it("refuses a batch addressed to another KME", async () => {
    const net = line(["kme-a", "kme-b", "kme-c"]);
    await net.supply("kme-a", "kme-b", 4);
    const messages = await batch(net);
    expect(await net.relays["kme-c"].receiveHop("kme-a", messages)).toMatchObject({
      status: "refused",
      padsConsumed: false,
    });
  });

  it("refuses pad units it does not hold, taking nothing", async () => {
    const net = line(["kme-a", "kme-b", "kme-c"]);
    await net.supply("kme-a", "kme-b", 4);
    const messages = await batch(net);
    const forged = messages.map((m) => ({ ...m, padUnitIds: m.padUnitIds.map((u) => `${u}x`) }));
    expect(await net.relays["kme-b"].receiveHop("kme-a", forged)).toMatchObject({
      status: "refused",
      padsConsumed: false,
    });
  });

  it("parseRelayBatch refuses malformed bodies with a RangeError", async () => {
    const net = line(["kme-a", "kme-b", "kme-c"]);
    await net.supply("kme-a", "kme-b", 8);
    const [m] = await batch(net);
    const bad: unknown[] = [
      null,
      [],
      {},
      { messages: [] },
      { messages: [m], extra: 1 },
      { messages: [{ ...m, extra: 1 }] },
      { messages: [{ ...m, ciphertext: "!!" }] },
      { messages: [{ ...m, hop: -1 }] },
      { messages: [m, m] },
      { messages: [m, { ...m, keyId: "other", sizeBits: 128 }] },
    ];
    for (const body of bad) expect(() => parseRelayBatch(body), JSON.stringify(body)).toThrow(RangeError);
    expect(parseRelayBatch({ messages: [m] })).toEqual([m]);
  });
});

describe("RelayService: with Kme", () => {
  const SAES: SaeRegistration[] = [
    { saeId: "sae-a", kmeId: "kme-a", policy: "qkd-only" },
    { saeId: "sae-c", kmeId: "kme-c", policy: "qkd-only" },
  ];

  it("serves Get key and Get status for a slave two hops away; the slave gets the same keys", async () => {
    const net = line(["kme-a", "kme-b", "kme-c"]);
    await net.supply("kme-a", "kme-b", 12);
    await net.supply("kme-b", "kme-c", 12);
    const rng = new Rng("kme");
    const random = (n: number) => Uint8Array.from({ length: n }, () => rng.int(256));
    const kme = (id: string, peer: string) =>
      new Kme({
        kmeId: id,
        store: net.stores[id],
        saes: SAES,
        pools: [{ pool: "kme-a~kme-b", peerKmeId: peer, unitBits: UNIT_BITS }],
        peers: { reserve: async () => "refused" },
        clock: () => NOW,
        random,
        relay: net.relays[id],
      });
    const a = kme("kme-a", "kme-b");
    const c = new Kme({
      kmeId: "kme-c",
      store: net.stores["kme-c"],
      saes: SAES,
      pools: [{ pool: "kme-b~kme-c", peerKmeId: "kme-b", unitBits: UNIT_BITS }],
      peers: { reserve: async () => "refused" },
      clock: () => NOW,
      random,
    });
    const status = await a.status("sae-a", "sae-c");
    expect(status).toMatchObject({ status: 200, body: { target_KME_ID: "kme-c", stored_key_count: 3 } });
    const got = await a.getKey("sae-a", "sae-c", { number: 2 });
    expect(got.status).toBe(200);
    const keys = (got.body as { keys: { key_ID: string; key: string }[] }).keys;
    const dec = await c.getKeyWithIds("sae-c", "sae-a", { key_IDs: keys.map((k) => ({ key_ID: k.key_ID })) });
    expect(dec.status).toBe(200);
    expect((dec.body as { keys: unknown[] }).keys).toEqual(keys);
    expect(decodeBase64(keys[0].key).length).toBe(32);
  });
});
