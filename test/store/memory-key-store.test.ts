import { describe, expect, it } from "vitest";
import { cutToBits, MemoryKeyStore } from "../../src/kms/memory-key-store.js";
import { describeKeyStoreConformance } from "./key-store-conformance.js";

describeKeyStoreConformance("memory", async () => new MemoryKeyStore());

describe("MemoryKeyStore specifics", () => {
  it("queryAudit returns at most 1000 events by default", async () => {
    const s = new MemoryKeyStore();
    for (let i = 0; i < 1005; i++) await s.appendAudit({ atMs: i, kind: "issued", actor: "a" });
    const all = await s.queryAudit();
    expect(all.length).toBe(1000);
    expect(all[0].atMs).toBe(1004);
  });

  it("cutToBits keeps the leading bits, most significant first", () => {
    expect([...cutToBits(new Uint8Array([0xff, 0xff]), 9)]).toEqual([0xff, 0x80]);
    expect([...cutToBits(new Uint8Array([0xab, 0xcd]), 16)]).toEqual([0xab, 0xcd]);
    expect(() => cutToBits(new Uint8Array(1), 9)).toThrow(/exceeds the 8 bits/);
  });
});
