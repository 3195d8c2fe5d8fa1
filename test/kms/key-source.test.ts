import { describe, expect, it } from "vitest";
import { cutIntoUnits, SimulatedQkdKeySource } from "../../src/kms/key-source.js";

describe("key sources", () => {
  it("a simulated QKD link delivers blocks both ends hold identically, tagged with their parameter set", async () => {
    const src = new SimulatedQkdKeySource("alice-bob", {
      link: { lengthKm: 5 },
      parameters: { blockBits: 200_000 },
    });
    const a = await src.next();
    const b = await src.next();
    expect(a.blockId).toBe("alice-bob:0");
    expect(b.blockId).toBe("alice-bob:1");
    expect(a.keyA.length).toBeGreaterThan(1000);
    expect(Buffer.from(a.keyA).equals(Buffer.from(a.keyB))).toBe(true);
    expect(Buffer.from(a.keyA).equals(Buffer.from(b.keyA))).toBe(false);
    expect(a.parameterSet.fingerprint).toMatch(/^[0-9a-f]{16}$/);
    expect(b.readyNs).toBeGreaterThan(a.readyNs);
  });

  it("a link that cannot make key says so instead of looping", async () => {
    const src = new SimulatedQkdKeySource(
      "bad",
      { link: { lengthKm: 5, misalignment: 0.25 }, parameters: { blockBits: 2000 } },
      3,
    );
    await expect(src.next()).rejects.toThrow(
      /bad: 3 blocks in a row produced no key \(last reason: qber-too-high\)/,
    );
    expect(src.discarded).toBe(3);
  });

  it("cuts a block into matching units, alternating the two ends' directions", () => {
    const key = Uint8Array.from({ length: 35 }, (_, i) => i);
    const { atA, atB } = cutIntoUnits(
      {
        blockId: "l:0",
        keyA: key,
        keyB: key.slice(),
        parameterSet: { version: "v", fingerprint: "f" },
        readyNs: 0,
      },
      8,
    );
    expect(atA.local.map((u) => u.unitId)).toEqual(["l:0:0", "l:0:2"]);
    expect(atA.peer.map((u) => u.unitId)).toEqual(["l:0:1", "l:0:3"]);
    expect(atB.local.map((u) => u.unitId)).toEqual(atA.peer.map((u) => u.unitId));
    expect(atB.peer.map((u) => u.unitId)).toEqual(atA.local.map((u) => u.unitId));
    expect([...atA.local[1].material]).toEqual([16, 17, 18, 19, 20, 21, 22, 23]);
    expect(atB.peer[1].material).not.toBe(atA.local[1].material); // each end has its own copy
    expect(() =>
      cutIntoUnits(
        {
          blockId: "x",
          keyA: key,
          keyB: key.slice(1),
          parameterSet: { version: "v", fingerprint: "f" },
          readyNs: 0,
        },
        8,
      ),
    ).toThrow(/differ in length/);
  });
});
