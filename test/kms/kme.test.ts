import { describe, expect, it } from "vitest";
import { decodeBase64, type KeyContainer } from "../../src/kms/etsi014.js";
import {
  DEFAULT_KME_LIMITS,
  type FallbackContext,
  Kme,
  type KmeOptions,
  type PeerReservation,
} from "../../src/kms/kme.js";
import { MemoryKeyStore } from "../../src/kms/memory-key-store.js";
import { type KmeNetwork, kmeNetwork, POOL, SAES } from "./kme-network.js";

/** The keys of a 200 answer, failing the test otherwise. */
function keysOf(r: { status: number; body?: unknown }): KeyContainer["keys"] {
  if (r.status !== 200) throw new Error(`expected 200, got ${r.status} ${JSON.stringify(r.body)}`);
  return (r.body as KeyContainer).keys;
}

/** The message of an Error body. */
function messageOf(r: { body?: unknown }): string | undefined {
  return (r.body as { message?: string } | undefined)?.message;
}

function idsBody(keys: readonly { key_ID: string }[]) {
  return { key_IDs: keys.map((k) => ({ key_ID: k.key_ID })) };
}

async function levels(net: KmeNetwork) {
  const [a] = await net.storeA.poolLevels(POOL);
  const [b] = await net.storeB.poolLevels(POOL);
  return { aLocal: a?.local.units ?? 0, bPeer: b?.peer.units ?? 0 };
}

describe("Kme: get key, then get key with IDs (ETSI GS QKD 014 § 5.2, § 5.3)", () => {
  it("gives the slave, by ID, the very keys the master got, then forgets them", async () => {
    const net = kmeNetwork();
    await net.supply(40);
    const got = keysOf(await net.a.getKey("sae-a1", "sae-b1", { number: 3, size: 256 }));
    expect(got).toHaveLength(3);
    for (const k of got) {
      expect(k.key_ID).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(decodeBase64(k.key)).toHaveLength(32);
    }
    expect(new Set(got.map((k) => k.key)).size).toBe(3);

    const taken = await net.b.getKeyWithIds("sae-b1", "sae-a1", idsBody(got));
    expect(keysOf(taken)).toEqual(got.map((k) => ({ key_ID: k.key_ID, key: k.key })));

    // Post-condition of both methods: the keys are gone.
    expect(await net.b.getKeyWithIds("sae-b1", "sae-a1", idsBody(got))).toEqual({
      status: 400,
      body: {
        message: "one or more keys specified are not found on KME",
        details: got.map((k) => ({ key_ID: k.key_ID })),
      },
    });
    expect(await net.storeA.pendingIssued()).toEqual([]);
    expect(await levels(net)).toEqual({ aLocal: 28, bPeer: 28 });
  });

  it("uses the defaults for {} and cuts keys that are not whole units", async () => {
    const net = kmeNetwork();
    await net.supply(10);
    const [k] = keysOf(await net.a.getKey("sae-a1", "sae-b1", {}));
    expect(decodeBase64(k.key)).toHaveLength(DEFAULT_KME_LIMITS.keySize / 8);
    const [odd] = keysOf(await net.a.getKey("sae-a1", "sae-b1", { size: 72 })); // 2 units of 64 bits
    expect(decodeBase64(odd.key)).toHaveLength(9);
    expect(keysOf(await net.b.getKeyWithIds("sae-b1", "sae-a1", idsBody([odd])))[0].key).toBe(odd.key);
    expect(await levels(net)).toEqual({ aLocal: 4, bPeer: 4 });
  });

  it("works in both directions of the pool at once", async () => {
    const net = kmeNetwork();
    await net.supply(8, "a->b");
    await net.supply(8, "b->a");
    const ab = keysOf(await net.a.getKey("sae-a1", "sae-b1", {}));
    const ba = keysOf(await net.b.getKey("sae-b1", "sae-a1", {}));
    expect(keysOf(await net.b.getKeyWithIds("sae-b1", "sae-a1", idsBody(ab)))).toEqual(ab);
    expect(keysOf(await net.a.getKeyWithIds("sae-a1", "sae-b1", idsBody(ba)))).toEqual(ba);
  });

  it("answers 401, with no body, to unknown callers, callers of other KMEs and unknown slaves", async () => {
    const net = kmeNetwork();
    await net.supply(8);
    for (const [caller, slave] of [
      [null, "sae-b1"],
      ["nobody", "sae-b1"],
      ["sae-b1", "sae-b2"], // served by kme-b, not by kme-a
      ["sae-a1", "nobody"],
    ] as const) {
      expect(await net.a.getKey(caller, slave, {})).toEqual({ status: 401 });
      expect(await net.a.status(caller, slave)).toEqual({ status: 401 });
    }
    expect(await net.b.getKeyWithIds(null, "sae-a1", { key_IDs: [] })).toEqual({ status: 401 });
    expect(await net.b.getKeyWithIds("sae-b1", "nobody", { key_IDs: [] })).toEqual({ status: 401 });
    expect(await net.b.getKeyWithIds("sae-a1", "sae-a2", { key_IDs: [] })).toEqual({ status: 401 });
    expect(await levels(net)).toEqual({ aLocal: 8, bPeer: 8 });
  });

  it("gives keys only to the SAEs named as slaves: anyone else gets 401 and the key stays", async () => {
    const net = kmeNetwork();
    await net.supply(8);
    const got = keysOf(await net.a.getKey("sae-a1", "sae-b1", {}));
    expect(await net.b.getKeyWithIds("sae-b2", "sae-a1", idsBody(got))).toEqual({ status: 401 });
    // The master's own KME holds no reservation of it.
    expect((await net.a.getKeyWithIds("sae-a2", "sae-a1", idsBody(got))).status).toBe(400);
    expect(keysOf(await net.b.getKeyWithIds("sae-b1", "sae-a1", idsBody(got)))).toEqual(got);
  });

  it("takes all named keys or none", async () => {
    const net = kmeNetwork();
    await net.supply(8);
    const got = keysOf(await net.a.getKey("sae-a1", "sae-b1", {}));
    const unknown = "0a782fb5-3434-48fe-aa4d-14f41d46cf92";
    const r = await net.b.getKeyWithIds("sae-b1", "sae-a1", {
      key_IDs: [{ key_ID: got[0].key_ID }, { key_ID: unknown }],
    });
    expect(r).toEqual({
      status: 400,
      body: { message: "one or more keys specified are not found on KME", details: [{ key_ID: unknown }] },
    });
    expect(keysOf(await net.b.getKeyWithIds("sae-b1", "sae-a1", idsBody(got)))).toEqual(got);
  });

  it("validates requests with the KME's limits", async () => {
    const net = kmeNetwork({ limits: { maxKeyPerRequest: 4 } });
    await net.supply(8);
    expect(await net.a.getKey("sae-a1", "sae-b1", { number: 5 })).toEqual({
      status: 400,
      body: {
        message: "number must be at most 4 (max_key_per_request), got 5",
        details: [{ max_key_per_request: 4 }],
      },
    });
    expect(await net.a.getKey("sae-a1", "sae-b1", { size: 100 })).toEqual({
      status: 400,
      body: { message: "size shall be a multiple of 8" },
    });
    expect((await net.a.getKey("sae-a1", "sae-b1", { extension_mandatory: [{ abc_x: 1 }] })).body).toEqual({
      message: "not all extension_mandatory parameters are supported",
      details: [{ extension_mandatory_unsupported: "abc_x" }],
    });
    // Optional extensions are ignored: 200 (§ 6.2 allows it).
    expect((await net.a.getKey("sae-a1", "sae-b1", { extension_optional: [{ abc_x: 1 }] })).status).toBe(200);
  });

  it("refuses slaves it has no direct pool with (400), and SAEs of its own site", async () => {
    const net = kmeNetwork();
    await net.supply(8);
    expect(await net.a.getKey("sae-a1", "sae-c1", {})).toEqual({
      status: 400,
      body: {
        message:
          "no QKD link between this KME (kme-a) and KME kme-c, which serves slave SAE sae-c1, and trusted-node relay is not available",
      },
    });
    expect((await net.a.status("sae-a1", "sae-c1")).status).toBe(400);
    const same = await net.a.getKey("sae-a1", "sae-a2", {});
    expect(same.status).toBe(400);
    expect(messageOf(same)).toMatch(/^slave SAE sae-a2 is served by this KME \(kme-a\)/);
  });
});

describe("Kme: multicast (additional_slave_SAE_IDs)", () => {
  it("shares each key with every named slave, each taking it once", async () => {
    const net = kmeNetwork();
    await net.supply(8);
    const got = keysOf(
      await net.a.getKey("sae-a1", "sae-b1", { number: 2, additional_slave_SAE_IDs: ["sae-b2"] }),
    );
    expect(net.peerCalls.map((c) => c.reservation.slaveSaes)).toEqual([
      ["sae-b1", "sae-b2"],
      ["sae-b1", "sae-b2"],
    ]);
    expect(await net.b.getKeyWithIds("sae-b3", "sae-a1", idsBody(got))).toEqual({ status: 401 });
    expect(keysOf(await net.b.getKeyWithIds("sae-b2", "sae-a1", idsBody(got)))).toEqual(got);
    expect(keysOf(await net.b.getKeyWithIds("sae-b1", "sae-a1", idsBody(got)))).toEqual(got);
    expect((await net.b.getKeyWithIds("sae-b2", "sae-a1", idsBody(got))).status).toBe(400);
  });

  it("requires every slave to be known and served by the slave's KME, within max_SAE_ID_count", async () => {
    const net = kmeNetwork({ limits: { maxSaeIdCount: 1 } });
    await net.supply(8);
    const msg = async (extra: string[]) =>
      messageOf(await net.a.getKey("sae-a1", "sae-b1", { additional_slave_SAE_IDs: extra }));
    expect(await net.a.getKey("sae-a1", "sae-b1", { additional_slave_SAE_IDs: ["nobody"] })).toEqual({
      status: 401,
    });
    expect(await msg(["sae-c1"])).toBe(
      "additional slave SAE sae-c1 is served by KME kme-c, not by the slave's KME kme-b: all slaves of a multicast key must be served by one KME",
    );
    expect(await msg(["sae-b1"])).toBe(
      "additional_slave_SAE_IDs must not name the slave of the path or the master itself",
    );
    expect(await msg(["sae-b2", "sae-b3"])).toBe(
      "additional_slave_SAE_IDs has 2 entries; at most 1 are allowed (max_SAE_ID_count)",
    );
    const status = await net.a.status("sae-a1", "sae-b1");
    expect(status.status === 200 && status.body.max_SAE_ID_count).toBe(1);
    expect(await levels(net)).toEqual({ aLocal: 8, bPeer: 8 });
  });
});

describe("Kme: get status (§ 5.1)", () => {
  it("reports the stored keys of key_size truthfully, and the limits", async () => {
    const net = kmeNetwork({
      limits: { keySize: 352, maxKeyCount: 25_000, maxKeySize: 1024, maxSaeIdCount: 0 },
    });
    await net.supply(30); // 352 bits need 6 units of 64: 5 keys
    expect(await net.a.status("sae-a1", "sae-b1")).toEqual({
      status: 200,
      body: {
        source_KME_ID: "kme-a",
        target_KME_ID: "kme-b",
        master_SAE_ID: "sae-a1",
        slave_SAE_ID: "sae-b1",
        key_size: 352,
        stored_key_count: 5,
        max_key_count: 25_000,
        max_key_per_request: 128,
        max_key_size: 1024,
        min_key_size: 64,
        max_SAE_ID_count: 0,
      },
    });
    keysOf(await net.a.getKey("sae-a1", "sae-b1", { number: 2, size: 128 })); // 4 units
    const after = await net.a.status("sae-a1", "sae-b1");
    expect(after.status === 200 && after.body.stored_key_count).toBe(4); // 26 units
    // Units in the peer's direction are not this KME's to hand out.
    await net.supply(60, "b->a");
    const still = await net.a.status("sae-a1", "sae-b1");
    expect(still.status === 200 && still.body.stored_key_count).toBe(4);
  });

  it("reports 0 for an empty pool", async () => {
    const net = kmeNetwork();
    const r = await net.a.status("sae-a1", "sae-b1");
    expect(r.status === 200 && r.body.stored_key_count).toBe(0);
  });
});

describe("Kme: all or nothing", () => {
  it("issues nothing when the pool is short (503)", async () => {
    const net = kmeNetwork();
    await net.supply(10);
    const r = await net.a.getKey("sae-a1", "sae-b1", { number: 3 }); // 12 units
    expect(r).toEqual({
      status: 503,
      body: {
        message:
          "not enough QKD key towards KME kme-b: 3 key(s) of 256 bits need 12 units of 64 bits, 10 available; retry later",
      },
    });
    expect(await levels(net)).toEqual({ aLocal: 10, bPeer: 10 });
    expect(net.peerCalls).toEqual([]);
    expect(keysOf(await net.a.getKey("sae-a1", "sae-b1", { number: 2 }))).toHaveLength(2);
  });

  it("undoes the request when the slave's KME refuses one key, keeping both ends in step", async () => {
    const net = kmeNetwork();
    await net.supply(16);
    let calls = 0;
    net.intercept.fn = () => (++calls === 2 ? "missing-units" : undefined);
    const r = await net.a.getKey("sae-a1", "sae-b1", { number: 3 });
    expect(r).toEqual({
      status: 503,
      body: {
        message:
          "the slave's KME (kme-b) could not reserve the keys (missing-units); no key was issued, retry later",
      },
    });
    // Keys 1 and 3 were reserved at kme-b and cannot be unreserved: their units are gone at both
    // ends. Key 2's units are back in the pool at kme-a, still available at kme-b.
    expect(await levels(net)).toEqual({ aLocal: 8, bPeer: 8 });
    expect(await net.storeA.pendingIssued()).toEqual([]);
    net.intercept.fn = undefined;
    const again = keysOf(await net.a.getKey("sae-a1", "sae-b1", { number: 2 }));
    expect(keysOf(await net.b.getKeyWithIds("sae-b1", "sae-a1", idsBody(again)))).toEqual(again);
    expect(await levels(net)).toEqual({ aLocal: 0, bPeer: 0 });
  });

  it("releases every key when the peer refuses them all, so the next request uses the same units", async () => {
    const net = kmeNetwork();
    await net.supply(4);
    net.intercept.fn = () => "refused";
    expect((await net.a.getKey("sae-a1", "sae-b1", {})).status).toBe(503);
    expect(await levels(net)).toEqual({ aLocal: 4, bPeer: 4 });
    net.intercept.fn = undefined;
    const got = keysOf(await net.a.getKey("sae-a1", "sae-b1", {}));
    expect(keysOf(await net.b.getKeyWithIds("sae-b1", "sae-a1", idsBody(got)))).toEqual(got);
  });

  it("discards keys whose reservation outcome is unknown when the peer cannot be asked", async () => {
    const net = kmeNetwork();
    await net.supply(8);
    net.intercept.fn = () => {
      throw new Error("connection reset");
    };
    const r = await net.a.getKey("sae-a1", "sae-b1", {});
    expect(r.status).toBe(503);
    expect(messageOf(r)).toMatch(/could not reserve the keys \(no answer\)/);
    expect((await levels(net)).aLocal).toBe(4);
    expect(net.internalErrors.join("\n")).toMatch(/connection reset/);
  });

  it("asks the peer about unknown outcomes when it can: releases what the peer does not hold", async () => {
    const asked: string[] = [];
    const net = kmeNetwork({
      a: {
        peers: {
          async reserve() {
            throw new Error("timeout");
          },
          async exists(peer, key) {
            asked.push(`${peer}/${key.pool}/${key.keyId}`);
            return false;
          },
        },
      },
    });
    await net.supply(8);
    expect((await net.a.getKey("sae-a1", "sae-b1", {})).status).toBe(503);
    expect(asked).toHaveLength(1);
    expect(asked[0]).toMatch(/^kme-b\/link-a-b\/[0-9a-f-]{36}$/);
    expect(await levels(net)).toEqual({ aLocal: 8, bPeer: 8 });
  });
});

describe("Kme: the peer's exists answer", () => {
  it("voids a key it does not hold, so a reservation arriving after the answer is refused", async () => {
    let late: PeerReservation | undefined;
    let b: Kme | undefined;
    const net = kmeNetwork({
      a: {
        peers: {
          async reserve(_peer, reservation) {
            if (late) return b!.reserveForPeer("kme-a", reservation);
            late = reservation; // the first one is held up on the way
            throw new Error("timeout");
          },
          exists: (_peer, key) => b!.peerKeyExists("kme-a", key),
        },
      },
    });
    b = net.b;
    await net.supply(8);
    expect((await net.a.getKey("sae-a1", "sae-b1", {})).status).toBe(503);
    // kme-b answered "not here", so kme-a put the units back; the late reservation must not take them.
    expect(await levels(net)).toEqual({ aLocal: 8, bPeer: 8 });
    expect(await net.b.reserveForPeer("kme-a", late!)).toBe("duplicate-key");
    expect(await levels(net)).toEqual({ aLocal: 8, bPeer: 8 });
    // The released audit record committed with the release.
    const [released] = await net.storeA.queryAudit({ kind: "released" });
    expect(released.detail).toMatch(/released to the pool/);
    // Both ends still agree: the same units serve the next request, and the slave gets the key.
    const [key] = keysOf(await net.a.getKey("sae-a1", "sae-b1", {}));
    expect(await levels(net)).toEqual({ aLocal: 4, bPeer: 4 });
    expect(
      keysOf(await net.b.getKeyWithIds("sae-b1", "sae-a1", { key_IDs: [{ key_ID: key.key_ID }] })),
    ).toEqual([key]);
  });

  it("answers true for a key reserved from that KME, and false (voiding nothing) for another pool's KME", async () => {
    const net = kmeNetwork();
    await net.supply(8);
    const [key] = keysOf(await net.a.getKey("sae-a1", "sae-b1", {}));
    expect(await net.b.peerKeyExists("kme-a", { pool: POOL, keyId: key.key_ID })).toBe(true);
    expect(await net.b.peerKeyExists("kme-c", { pool: POOL, keyId: "other" })).toBe(false);
    expect(await net.b.peerKeyExists("kme-a", { pool: "no-such-pool", keyId: "other" })).toBe(false);
    // "other" was not voided: kme-a may still reserve it.
    const units = (await net.storeA.issueLocal({
      pool: POOL,
      keyId: "other",
      units: 4,
      sizeBits: 256,
      masterSae: "sae-a1",
      slaveSaes: ["sae-b1"],
      nowMs: 0,
    }))!.key.unitIds;
    expect(
      await net.b.reserveForPeer("kme-a", {
        pool: POOL,
        keyId: "other",
        unitIds: units,
        sizeBits: 256,
        masterSae: "sae-a1",
        slaveSaes: ["sae-b1"],
      }),
    ).toBe("ok");
    // The reservation and its audit record committed together.
    expect(await net.storeB.queryAudit({ kind: "reserved", keyId: "other" })).toHaveLength(1);
  });
});

describe("Kme: quotas", () => {
  function withQuota(quota: KmeOptions["saes"][number]["quota"]) {
    return kmeNetwork({ saes: SAES.map((s) => (s.saeId === "sae-a1" ? { ...s, quota } : s)) });
  }

  it("limits keys per minute with a token bucket on the injected clock", async () => {
    const net = withQuota({ keysPerMinute: 6 });
    await net.supply(100);
    keysOf(await net.a.getKey("sae-a1", "sae-b1", { number: 4 }));
    keysOf(await net.a.getKey("sae-a1", "sae-b1", { number: 2 }));
    const r = await net.a.getKey("sae-a1", "sae-b1", {});
    expect(r).toEqual({
      status: 400,
      body: {
        message:
          "quota exceeded: SAE sae-a1 may take 6 keys per minute (keysPerMinute); 1 requested, 0 available now; retry in 10 s",
        details: [{ keysPerMinute: 6 }],
      },
    });
    net.clock.now += 10_000; // one key's worth
    keysOf(await net.a.getKey("sae-a1", "sae-b1", {}));
    expect((await net.a.getKey("sae-a1", "sae-b1", {})).status).toBe(400);
    // Other SAEs have their own (here: no) limits.
    keysOf(await net.a.getKey("sae-a2", "sae-b1", { number: 8 }));
    net.clock.now += 3_600_000;
    expect(messageOf(await net.a.getKey("sae-a1", "sae-b1", { number: 7 }))).toBe(
      "quota exceeded: SAE sae-a1 may take at most 6 keys per minute (keysPerMinute); this request alone needs 7",
    );
    const audit = await net.storeA.queryAudit({ kind: "quota-exceeded" });
    expect(audit.map((e) => e.actor)).toEqual(["sae-a1", "sae-a1", "sae-a1"]);
  });

  it("limits bits per day, and gives the tokens back when the request fails", async () => {
    const net = withQuota({ bitsPerDay: 1024, keysPerMinute: 100 });
    await net.supply(8); // two keys of 256 bits
    keysOf(await net.a.getKey("sae-a1", "sae-b1", { number: 2 }));
    // The pool is empty: 503, and the 512 bits are not charged.
    expect((await net.a.getKey("sae-a1", "sae-b1", { number: 2 })).status).toBe(503);
    await net.supply(16);
    keysOf(await net.a.getKey("sae-a1", "sae-b1", { number: 2 }));
    const r = await net.a.getKey("sae-a1", "sae-b1", {});
    expect(r.status).toBe(400);
    expect(messageOf(r)).toBe(
      "quota exceeded: SAE sae-a1 may take 1024 key bits per day (bitsPerDay); 256 requested, 0 available now; retry in 21600 s",
    );
  });
});

describe("Kme: the audit trail", () => {
  it("records who took which keys from which pool, and every refusal, never the material", async () => {
    const net = kmeNetwork();
    await net.supply(8);
    const got = keysOf(await net.a.getKey("sae-a1", "sae-b1", { number: 2, size: 128 }));
    const ids = got.map((k) => k.key_ID);
    await net.b.getKeyWithIds("sae-b2", "sae-a1", idsBody(got));
    await net.b.getKeyWithIds("sae-b1", "sae-a1", idsBody(got));
    await net.a.getKey("nobody", "sae-b1", {});
    await net.a.getKey("sae-a1", "sae-b1", { number: 0 });

    const a = (await net.storeA.queryAudit()).reverse();
    const b = (await net.storeB.queryAudit()).reverse();
    expect(a.map((e) => [e.kind, e.actor, e.keyIds, e.pool, e.bits, e.detail])).toEqual([
      ["issued", "sae-a1", ids, POOL, 256, "slaves=sae-b1"],
      ["refused", "nobody", undefined, undefined, undefined, "401 enc_keys"],
      [
        "refused",
        "sae-a1",
        undefined,
        undefined,
        undefined,
        "400 enc_keys: number must be at least 1 (minimum), got 0",
      ],
    ]);
    expect(b.map((e) => [e.kind, e.actor, e.keyIds, e.bits])).toEqual([
      ["reserved", "kme-a", [ids[0]], 128],
      ["reserved", "kme-a", [ids[1]], 128],
      ["refused", "sae-b2", ids, undefined],
      ["delivered", "sae-b1", ids, 256],
    ]);
    const text = JSON.stringify([a, b]);
    for (const k of got) {
      expect(text).not.toContain(k.key);
      expect(text).not.toContain(Buffer.from(decodeBase64(k.key)).toString("hex"));
    }
  });
});

describe("Kme: the slave side of a reservation", () => {
  const reservation = {
    pool: POOL,
    keyId: "k1",
    unitIds: ["ab-0"],
    sizeBits: 64,
    masterSae: "sae-a1",
    slaveSaes: ["sae-b1"],
  };

  it("refuses reservations that do not fit its configuration, taking nothing", async () => {
    const net = kmeNetwork();
    await net.supply(4);
    expect(await net.b.reserveForPeer("kme-c", reservation)).toBe("refused");
    expect(await net.b.reserveForPeer("kme-a", { ...reservation, pool: "other" })).toBe("refused");
    expect(await net.b.reserveForPeer("kme-a", { ...reservation, masterSae: "sae-b2" })).toBe("refused");
    expect(await net.b.reserveForPeer("kme-a", { ...reservation, slaveSaes: ["sae-a2"] })).toBe("refused");
    expect(await net.b.reserveForPeer("kme-a", { ...reservation, slaveSaes: [] })).toBe("refused");
    expect(await net.b.reserveForPeer("kme-a", { ...reservation, sizeBits: 128 })).toBe("refused");
    expect(await net.b.reserveForPeer("kme-a", { ...reservation, unitIds: ["nope"] })).toBe("missing-units");
    expect((await levels(net)).bPeer).toBe(4);
    expect(await net.b.reserveForPeer("kme-a", reservation)).toBe("ok");
    expect(await net.b.reserveForPeer("kme-a", { ...reservation, unitIds: ["ab-1"] })).toBe("duplicate-key");
    const refused = await net.storeB.queryAudit({ kind: "refused" });
    expect(refused).toHaveLength(8);
  });
});

describe("Kme: recovery after a crash", () => {
  async function crashWithPending(net: KmeNetwork, n: number): Promise<string[]> {
    // A crash between issueLocal and the peer's answer leaves pending keys behind.
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      const r = await net.storeA.issueLocal({
        pool: POOL,
        keyId: `pending-${i}`,
        units: 4,
        sizeBits: 256,
        masterSae: "sae-a1",
        slaveSaes: ["sae-b1"],
        nowMs: 0,
      });
      ids.push(r!.key.keyId);
    }
    return ids;
  }

  it("discards pending keys when the peer cannot be asked (never hands their units out twice)", async () => {
    const net = kmeNetwork();
    await net.supply(12);
    const ids = await crashWithPending(net, 2);
    expect(await net.a.recover()).toEqual({ discarded: ids, released: [], pending: [] });
    expect(await net.storeA.pendingIssued()).toEqual([]);
    expect((await levels(net)).aLocal).toBe(4);
    expect((await net.storeA.queryAudit({ kind: "released" })).length).toBe(2);
  });

  it("asks the peer when it can: discards what it holds, releases what it does not, keeps the rest", async () => {
    const holds = new Set(["pending-0"]);
    const net = kmeNetwork({
      a: {
        peers: {
          reserve: async () => "ok",
          exists: async (_peer, key) => {
            if (key.keyId === "pending-2") throw new Error("unreachable");
            return holds.has(key.keyId);
          },
        },
      },
    });
    await net.supply(12);
    await crashWithPending(net, 3);
    expect(await net.a.recover()).toEqual({
      discarded: ["pending-0"],
      released: ["pending-1"],
      pending: ["pending-2"],
    });
    expect((await levels(net)).aLocal).toBe(4);
    expect((await net.storeA.pendingIssued()).map((k) => k.keyId)).toEqual(["pending-2"]);
  });
});

describe("Kme: hooks", () => {
  it("calls the post-quantum fallback when the pool is short and every SAE's policy allows it", async () => {
    const seen: FallbackContext[] = [];
    const net = kmeNetwork({
      fallback: async (ctx) => {
        seen.push(ctx);
        return { material: new Uint8Array(ctx.sizeBits / 8).fill(7), extension: { qnet_origin: "pqc" } };
      },
    });
    await net.supply(2);
    const got = keysOf(
      await net.a.getKey("sae-a2", "sae-b2", { number: 2, additional_slave_SAE_IDs: ["sae-b3"] }),
    );
    expect(got.map((k) => [k.key, k.key_extension])).toEqual([
      ["BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=", { qnet_origin: "pqc" }],
      ["BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=", { qnet_origin: "pqc" }],
    ]);
    expect(
      seen.map((c) => [
        c.keyId,
        c.masterSae,
        c.slaveSaes,
        c.slaveKmeId,
        c.pool,
        c.policies,
        c.qkdAvailableBits,
      ]),
    ).toEqual(
      got.map((k) => [
        k.key_ID,
        "sae-a2",
        ["sae-b2", "sae-b3"],
        "kme-b",
        POOL,
        ["pqc-allowed", "pqc-allowed", "hybrid"],
        128,
      ]),
    );
    expect((await net.storeA.queryAudit({ kind: "pqc-fallback" }))[0]).toMatchObject({
      actor: "sae-a2",
      keyIds: got.map((k) => k.key_ID),
      bits: 512,
    });
    expect(await levels(net)).toEqual({ aLocal: 2, bPeer: 2 });

    // A qkd-only SAE on either side: no fallback.
    seen.length = 0;
    expect((await net.a.getKey("sae-a1", "sae-b2", {})).status).toBe(503);
    expect((await net.a.getKey("sae-a2", "sae-b1", {})).status).toBe(503);
    expect(seen).toEqual([]);
  });

  it("answers 503 when the fallback cannot supply the whole request", async () => {
    let n = 0;
    const net = kmeNetwork({
      fallback: async (ctx) =>
        ++n === 2 ? null : { material: new Uint8Array(ctx.sizeBits / 8), extension: {} },
    });
    expect((await net.a.getKey("sae-a2", "sae-b2", { number: 3 })).status).toBe(503);
    const abandoned = await net.storeA.queryAudit({ kind: "released" });
    expect(abandoned[0].keyIds).toHaveLength(1);
  });

  it("routes slaves without a direct pool to the trusted-node relay when one is given", async () => {
    const calls: unknown[] = [];
    const net = kmeNetwork({
      relay: {
        storedKeyCount: async () => 42,
        getKeys: async (ctx) => {
          calls.push(ctx);
          return ctx.keyIds.map(() => new Uint8Array(ctx.sizeBits / 8).fill(1));
        },
      },
    });
    const st = await net.a.status("sae-a1", "sae-c1");
    expect(st.status === 200 && [st.body.target_KME_ID, st.body.stored_key_count]).toEqual(["kme-c", 42]);
    const got = keysOf(await net.a.getKey("sae-a1", "sae-c1", { size: 64 }));
    expect(got[0].key).toBe("AQEBAQEBAQE=");
    expect(calls).toMatchObject([
      { masterSae: "sae-a1", slaveSaes: ["sae-c1"], slaveKmeId: "kme-c", sizeBits: 64 },
    ]);
    expect((await net.storeA.queryAudit({ kind: "relayed" })).length).toBe(1);
  });
});

describe("Kme: failures and configuration", () => {
  it("answers 503 with a generic message when the store fails, and reports the cause", async () => {
    const net = kmeNetwork();
    await net.supply(8);
    net.storeA.issueLocal = async () => {
      throw new Error("disk on fire");
    };
    const r = await net.a.getKey("sae-a1", "sae-b1", {});
    expect(r).toEqual({
      status: 503,
      body: { message: "the KME could not complete the request (internal error); retry later" },
    });
    expect(net.internalErrors.join("\n")).toMatch(/disk on fire/);
  });

  it("keeps answering when the audit log fails", async () => {
    const net = kmeNetwork();
    await net.supply(8);
    net.storeA.appendAudit = async () => {
      throw new Error("audit full");
    };
    expect((await net.a.getKey("sae-a1", "sae-b1", {})).status).toBe(200);
    // The issued record commits with the confirmation, not through appendAudit.
    expect(await net.storeA.queryAudit({ kind: "issued" })).toHaveLength(1);
    expect((await net.a.getKey("sae-a1", "sae-b1", { number: 0 })).status).toBe(400);
    expect(net.internalErrors.join("\n")).toMatch(/audit \(refused\).*audit full/);
  });

  it("refuses inconsistent configurations", () => {
    const base: KmeOptions = {
      kmeId: "k",
      store: new MemoryKeyStore(),
      saes: [],
      pools: [],
      peers: { reserve: async () => "ok" },
      clock: () => 0,
      random: (n) => new Uint8Array(n),
    };
    const bad: [Partial<KmeOptions>, RegExp][] = [
      [{ limits: { keySize: 100 } }, /keySize must be a positive multiple of 8/],
      [{ limits: { minKeySize: 512 } }, /minKeySize ≤ keySize ≤ maxKeySize/],
      [{ limits: { maxKeyPerRequest: 0 } }, /maxKeyPerRequest must be a positive integer/],
      [{ limits: { maxSaeIdCount: -1 } }, /maxSaeIdCount/],
      [{ pools: [{ pool: "p", peerKmeId: "x", unitBits: 12 }] }, /unitBits of pool p/],
      [{ pools: [{ pool: "p", peerKmeId: "k", unitBits: 64 }] }, /leads back to itself/],
      [
        {
          pools: [
            { pool: "p", peerKmeId: "x", unitBits: 64 },
            { pool: "q", peerKmeId: "x", unitBits: 64 },
          ],
        },
        /more than one pool with KME x/,
      ],
      [{ saes: [SAES[0], SAES[0]] }, /registered twice/],
      [{ saes: [{ ...SAES[0], quota: { keysPerMinute: 0 } }] }, /quota keysPerMinute/],
    ];
    for (const [tweak, re] of bad) expect(() => new Kme({ ...base, ...tweak })).toThrow(re);
    expect(new Kme(base).limits).toEqual(DEFAULT_KME_LIMITS);
  });
});
