import { describe, expect, it } from "vitest";
import { decodeCursor, encodeCursor, MemoryJobStore } from "../../src/control/memory-job-store.js";
import { describeJobStoreConformance } from "./job-store-conformance.js";

describeJobStoreConformance("memory", async () => new MemoryJobStore());

describe("MemoryJobStore specifics", () => {
  it("paging cursors round-trip fractional and negative times exactly", () => {
    for (const c of [
      { seq: 1, createdAtMs: 1_700_000_000_000 },
      { seq: 42, createdAtMs: 1_700_000_000_000.125 },
      { seq: 7, createdAtMs: -3.5 },
      { seq: 9, createdAtMs: 1e-7 },
    ])
      expect(decodeCursor(encodeCursor(c))).toEqual(c);
    for (const bad of ["", "1", "_5", "x_5", "1_", "1_5_6", "1_NaN", "1_Infinity"])
      expect(() => decodeCursor(bad)).toThrow(/is not one this store gave/);
  });
});
