import { describe, expect, it } from "vitest";
import type { KeySource, SuppliedBlock } from "../../src/kms/key-source.js";
import { cutIntoUnits, SimulatedQkdKeySource } from "../../src/kms/key-source.js";
import { Kme, type PeerKmes, type SaeRegistration } from "../../src/kms/kme.js";
import { MemoryKeyStore } from "../../src/kms/memory-key-store.js";
import {
  addShare,
  KeySupplier,
  lastSuppliedBlock,
  SupplyFollower,
  SupplyLeader,
  type SupplyTransport,
  supplyLeaderOf,
} from "../../src/kms/supplier.js";
import { Rng } from "../../src/sim/rng.js";

/** Blocks of `bytes` counting bytes, identical at both ends; every index in `skip` is not delivered. */
function countingSource(bytes: number, skip: readonly number[] = []): KeySource {
  let i = 0;
  return {
    linkId: "a-b",
    async next(): Promise<SuppliedBlock> {
      while (skip.includes(i)) i++;
      const key = Uint8Array.from({ length: bytes }, (_, k) => (i * 7 + k) & 0xff);
      return {
        blockId: `a-b:${i++}`,
        keyA: key,
        keyB: key.slice(),
        parameterSet: { version: "t", fingerprint: "0" },
        readyNs: 0,
      };
    },
  };
}

describe("the key supplier", () => {
  it("fills both ends' pools with matching units until both own directions reach the target", async () => {
    const a = new MemoryKeyStore();
    const b = new MemoryKeyStore();
    const s = new KeySupplier({
      source: countingSource(64),
      a: { kmeId: "kme-a", store: a },
      b: { kmeId: "kme-b", store: b },
      unitBits: 64,
      targetBits: 1000,
      clock: () => 1,
    });
    const blocks = await s.fill();
    // 64 bytes = 8 units per block, 4 to each direction: 256 bits per direction per block.
    expect(blocks).toBe(4);
    const { a: la, b: lb } = await s.levels();
    expect(la?.local.bits).toBe(1024);
    expect(la?.peer.bits).toBe(1024);
    expect(lb?.local).toEqual(la?.peer);
    expect(lb?.peer).toEqual(la?.local);
    expect(s.supplied).toMatchObject({ pool: "a-b", blocks: 4, units: 32, bits: 2048 });
    expect((await a.queryAudit({ kind: "supplied" })).length).toBe(4);
    expect(await s.fill()).toBe(0);
  });

  it("keys from a simulated QKD link reach the master at one KME and the slave at the other, identical", async () => {
    const rng = new Rng(3);
    const random = (n: number) => Uint8Array.from({ length: n }, () => rng.int(256));
    const saes: SaeRegistration[] = [
      { saeId: "app-a", kmeId: "kme-a", policy: "qkd-only" },
      { saeId: "app-b", kmeId: "kme-b", policy: "qkd-only" },
    ];
    const stores = { "kme-a": new MemoryKeyStore(), "kme-b": new MemoryKeyStore() };
    const kmes = new Map<string, Kme>();
    const peers = (from: string): PeerKmes => ({
      reserve: (to, r) => kmes.get(to)!.reserveForPeer(from, r),
    });
    for (const [id, peer] of [
      ["kme-a", "kme-b"],
      ["kme-b", "kme-a"],
    ] as const)
      kmes.set(
        id,
        new Kme({
          kmeId: id,
          store: stores[id],
          saes,
          pools: [{ pool: "a-b", peerKmeId: peer, unitBits: 64 }],
          peers: peers(id),
          clock: () => 1_700_000_000_000,
          random,
        }),
      );
    const supplier = new KeySupplier({
      source: new SimulatedQkdKeySource("a-b", { link: { lengthKm: 5 }, parameters: { blockBits: 200_000 } }),
      a: { kmeId: "kme-a", store: stores["kme-a"] },
      b: { kmeId: "kme-b", store: stores["kme-b"] },
      unitBits: 64,
      targetBits: 4096,
      clock: () => 1_700_000_000_000,
    });
    await supplier.fill();
    const got = await kmes.get("kme-a")!.getKey("app-a", "app-b", { number: 2, size: 256 });
    expect(got.status).toBe(200);
    const keys = (got.body as { keys: { key_ID: string; key: string }[] }).keys;
    expect(keys).toHaveLength(2);
    const back = await kmes.get("kme-b")!.getKeyWithIds("app-b", "app-a", {
      key_IDs: keys.map((k) => ({ key_ID: k.key_ID })),
    });
    expect(back.status).toBe(200);
    expect((back.body as { keys: { key: string }[] }).keys.map((k) => k.key)).toEqual(keys.map((k) => k.key));
    const status = await kmes.get("kme-a")!.status("app-a", "app-b");
    expect(status.status).toBe(200);
  });

  it("after a restart skips the blocks both stores hold, and gives a block one end lacks to that end only", async () => {
    const a = new MemoryKeyStore();
    const b = new MemoryKeyStore();
    let pauses = 0;
    const supplier = (target: number) =>
      new KeySupplier({
        source: countingSource(64),
        a: { kmeId: "kme-a", store: a },
        b: { kmeId: "kme-b", store: b },
        unitBits: 64,
        targetBits: target,
        clock: () => 1,
        pause: async () => {
          pauses++;
        },
      });
    expect(await supplier(500).fill()).toBe(2);
    expect(pauses).toBe(0);
    // A crash after kme-a got block 2 but before kme-b did.
    const src = countingSource(64);
    await src.next();
    await src.next();
    const block2 = await src.next();
    await addShare(a, "a-b", cutIntoUnits(block2, 8).atA, block2, 512, 1);
    expect(await lastSuppliedBlock(a, "a-b")).toEqual({ blockId: "a-b:2", index: 2 });
    expect(await lastSuppliedBlock(b, "a-b")).toEqual({ blockId: "a-b:1", index: 1 });
    const again = supplier(1000);
    expect(await again.fill(2)).toBe(2);
    // Blocks 0 and 1 were made again and skipped; block 2 went to kme-b only, block 3 to both.
    expect(again.supplied.regenerated).toBe(2);
    expect(pauses).toBe(2); // one after each block made again, so that a server can answer between them
    const ids = async (store: MemoryKeyStore) =>
      (await store.queryAudit({ kind: "supplied" })).map((e) => e.detail?.split(",")[0]).reverse();
    expect(await ids(a)).toEqual(["block a-b:0", "block a-b:1", "block a-b:2", "block a-b:3"]);
    expect(await ids(b)).toEqual(await ids(a));
    const { a: la, b: lb } = await again.levels();
    expect(lb?.local).toEqual(la?.peer);
    expect(lb?.peer).toEqual(la?.local);
  });

  it("two copies of a simulated link with the same seed deliver the same blocks", async () => {
    const make = () =>
      new SimulatedQkdKeySource("a-b", {
        link: { lengthKm: 10 },
        parameters: { blockBits: 200_000 },
        seed: "a-b",
      });
    const [x, y] = [make(), make()];
    for (let i = 0; i < 3; i++) {
      const [p, q] = [await x.next(), await y.next()];
      expect(q.blockId).toBe(p.blockId);
      expect(q.index).toBe(p.index);
      expect(Buffer.from(q.keyA).equals(Buffer.from(p.keyA))).toBe(true);
      expect(Buffer.from(q.keyB).equals(Buffer.from(p.keyB))).toBe(true);
      expect(q.parameterSet).toEqual(p.parameterSet);
    }
  });

  describe("across processes: the leader and the follower, each with its own source and store", () => {
    function link(options: { leaderSkips?: number[]; followerSkips?: number[]; fail?: () => boolean } = {}) {
      const stores = { "kme-a": new MemoryKeyStore(), "kme-b": new MemoryKeyStore() };
      const logs: Record<string, unknown>[] = [];
      const follower = new SupplyFollower({
        source: countingSource(64, options.followerSkips),
        local: { kmeId: "kme-b", store: stores["kme-b"] },
        peerKmeId: "kme-a",
        end: "b",
        unitBits: 64,
        clock: () => 1,
        log: (e) => logs.push(e),
      });
      const calls: string[] = [];
      const transport: SupplyTransport = {
        async supply(peer, notice) {
          expect(peer).toBe("kme-b");
          calls.push(notice.blockId);
          if (options.fail?.()) throw new Error("no answer");
          const outcome = await follower.receive(notice);
          if (outcome.status !== "ok") throw new Error(outcome.reason);
          return { added: outcome.added, lastBlockId: outcome.lastBlockId };
        },
      };
      const leader = new SupplyLeader({
        source: countingSource(64, options.leaderSkips),
        local: { kmeId: "kme-a", store: stores["kme-a"] },
        peerKmeId: "kme-b",
        end: "a",
        unitBits: 64,
        targetBits: 1000,
        transport,
        clock: () => 1,
      });
      return { stores, follower, leader, calls, logs };
    }

    it("the smaller KME ID leads", () => {
      expect(supplyLeaderOf("kme-b", "kme-a")).toBe("kme-a");
      expect(supplyLeaderOf("hub", "bank-a")).toBe("bank-a");
    });

    it("fills both ends with the same units, the follower first", async () => {
      const { stores, leader, calls } = link();
      expect(await leader.fill()).toBe(4);
      expect(calls).toEqual(["a-b:0", "a-b:1", "a-b:2", "a-b:3"]);
      const [la] = await stores["kme-a"].poolLevels("a-b");
      const [lb] = await stores["kme-b"].poolLevels("a-b");
      expect(la.local.bits).toBe(1024);
      expect(lb.local).toEqual(la.peer);
      expect(lb.peer).toEqual(la.local);
      // The same unit IDs and bytes: kme-a issues from its direction, kme-b reserves the units it names.
      const issued = await stores["kme-a"].issueLocal({
        pool: "a-b",
        keyId: "k1",
        units: 16,
        sizeBits: 1024,
        masterSae: "app-a",
        slaveSaes: ["app-b"],
        nowMs: 1,
      });
      expect(issued?.key.unitIds.slice(0, 3)).toEqual(["a-b:0:0", "a-b:0:2", "a-b:0:4"]);
      expect(
        await stores["kme-b"].reservePeer({
          pool: "a-b",
          keyId: "k1",
          unitIds: issued!.key.unitIds,
          sizeBits: 1024,
          masterSae: "app-a",
          slaveSaes: ["app-b"],
          nowMs: 1,
        }),
      ).toBe("ok");
      const taken = await stores["kme-b"].takeReserved(["k1"], "app-b", 1);
      expect(
        taken.status === "ok" && Buffer.from(taken.keys[0].material).equals(Buffer.from(issued!.material)),
      ).toBe(true);
    });

    it("holds back its own units until the follower acknowledges, and offers the same block again", async () => {
      let down = true;
      const { stores, leader, calls } = link({ fail: () => down });
      await expect(leader.supplyOnce()).rejects.toThrow(/no answer/);
      await expect(leader.supplyOnce()).rejects.toThrow(/no answer/);
      const [la] = await stores["kme-a"].poolLevels("a-b");
      // Only the units kme-b allocates are here (kme-b cannot name them yet anyway); none of kme-a's own.
      expect(la.local.units).toBe(0);
      expect(la.peer.units).toBe(4);
      expect(await stores["kme-a"].queryAudit({ kind: "supplied" })).toEqual([]);
      down = false;
      expect(await leader.supplyOnce()).toBe(512);
      expect(calls).toEqual(["a-b:0", "a-b:0", "a-b:0"]);
      const [la2] = await stores["kme-a"].poolLevels("a-b");
      expect(la2.local.units).toBe(4);
      expect(la2.peer.units).toBe(4);
      expect(await lastSuppliedBlock(stores["kme-b"], "a-b")).toEqual({ blockId: "a-b:0", index: 0 });
    });

    it("a lost acknowledgement: the follower takes the retry as done, and the leader adds its share", async () => {
      const { stores, follower, leader } = link();
      // The follower added block 0 but the leader never heard.
      expect(await follower.receive({ pool: "a-b", blockId: "a-b:0" })).toEqual({
        status: "ok",
        added: true,
        lastBlockId: "a-b:0",
      });
      expect(await follower.receive({ pool: "a-b", blockId: "a-b:0" })).toEqual({
        status: "ok",
        added: false,
        lastBlockId: "a-b:0",
      });
      expect(await leader.fill(2)).toBe(2);
      expect((await stores["kme-b"].queryAudit({ kind: "supplied" })).length).toBe(2);
      const [la] = await stores["kme-a"].poolLevels("a-b");
      const [lb] = await stores["kme-b"].poolLevels("a-b");
      expect(lb.local).toEqual(la.peer);
      expect(lb.peer).toEqual(la.local);
    });

    it("blocks not delivered at all (failed verification) are skipped alike at both ends", async () => {
      const { stores, leader, calls } = link({ leaderSkips: [1, 2], followerSkips: [1, 2] });
      expect(await leader.fill(2)).toBe(2);
      expect(calls).toEqual(["a-b:0", "a-b:3"]);
      expect(await lastSuppliedBlock(stores["kme-b"], "a-b")).toEqual({ blockId: "a-b:3", index: 3 });
    });

    it("sources that differ are out of step, loudly, and nothing is added", async () => {
      // The follower's source delivers block 1, which the leader's did not.
      const ahead = link({ leaderSkips: [1] });
      await ahead.leader.supplyOnce();
      await expect(ahead.leader.supplyOnce()).rejects.toThrow(
        /this KME's source delivered block a-b:1, which the leader never supplied \(it supplies a-b:2\)/,
      );
      expect(ahead.logs).toContainEqual(
        expect.objectContaining({
          level: "error",
          event: "supply-out-of-step",
          pool: "a-b",
          leader: "kme-a",
        }),
      );
      // The leader's source delivers block 1, which the follower's did not.
      const behind = link({ followerSkips: [1] });
      await behind.leader.supplyOnce();
      await expect(behind.leader.supplyOnce()).rejects.toThrow(
        /delivered block a-b:2 where the leader supplies a-b:1/,
      );
      expect(await lastSuppliedBlock(behind.stores["kme-b"], "a-b")).toEqual({ blockId: "a-b:0", index: 0 });
      const [la] = await behind.stores["kme-a"].poolLevels("a-b");
      expect(la.local.units).toBe(4); // block 0 only
    });

    it("a restarted follower regenerates the blocks its store holds and goes on in step", async () => {
      const { stores, leader, follower } = link();
      expect(await leader.fill(3)).toBe(3);
      const again = new SupplyFollower({
        source: countingSource(64),
        local: { kmeId: "kme-b", store: stores["kme-b"] },
        peerKmeId: "kme-a",
        end: "b",
        unitBits: 64,
        clock: () => 1,
      });
      await again.resume();
      expect(again.supplied.regenerated).toBe(3);
      expect(await again.receive({ pool: "a-b", blockId: "a-b:2" })).toMatchObject({
        status: "ok",
        added: false,
      });
      expect(await again.receive({ pool: "a-b", blockId: "a-b:3" })).toMatchObject({
        status: "ok",
        added: true,
      });
      expect(await again.receive({ pool: "a-b", blockId: "a-b:1" })).toMatchObject({ status: "out-of-step" });
      expect(follower.supplied.blocks).toBe(3);
    });
  });
});
