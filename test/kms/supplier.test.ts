import { describe, expect, it } from "vitest";
import type { KeySource, SuppliedBlock } from "../../src/kms/key-source.js";
import { SimulatedQkdKeySource } from "../../src/kms/key-source.js";
import { Kme, type PeerKmes, type SaeRegistration } from "../../src/kms/kme.js";
import { MemoryKeyStore } from "../../src/kms/memory-key-store.js";
import { KeySupplier } from "../../src/kms/supplier.js";
import { Rng } from "../../src/sim/rng.js";

/** Blocks of `bytes` counting bytes, identical at both ends. */
function countingSource(bytes: number): KeySource {
  let i = 0;
  return {
    linkId: "a-b",
    async next(): Promise<SuppliedBlock> {
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
});
