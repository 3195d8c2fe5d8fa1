import { describe, expect, it } from "vitest";
import { kmsLayoutOfTopology } from "../src/cli/kms.js";
import { loadTopology } from "../src/cli/simulate.js";

const metro = () => loadTopology(new URL("../examples/metro.yaml", import.meta.url).pathname);

describe("the key service's layout from a topology", () => {
  it("serves one KME per end or trusted node and pools on the physical links between them", () => {
    const t = metro();
    t.keyService = undefined;
    const layout = kmsLayoutOfTopology(t, "metro.yaml");
    expect(layout.kmes.sort()).toEqual(["campus-a", "campus-b", "datacentre", "exchange", "hospital"]);
    for (const l of layout.links) {
      expect(layout.kmes).toContain(l.a);
      expect(layout.kmes).toContain(l.b);
    }
    // Without a key_service section: one hybrid SAE per end node, no limits, default pool size.
    expect(layout.saes).toEqual(
      ["campus-a", "campus-b", "hospital", "datacentre"].map((n) => ({
        saeId: `app-${n}`,
        kmeId: n,
        policy: "hybrid",
      })),
    );
    expect(layout.poolBits).toBeUndefined();
  });

  it("takes the SAEs, their policies and quotas, and the pool size from key_service", () => {
    const t = metro();
    t.keyService = {
      poolBits: 4096,
      saes: [
        { id: "billing", site: "campus-a", policy: "qkd-only", keysPerMinute: 60 },
        { id: "backup", site: "datacentre", policy: "pqc-allowed", bitsPerDay: 1e6 },
        { id: "records", site: "hospital", policy: "hybrid" },
      ],
    };
    const layout = kmsLayoutOfTopology(t, "metro.yaml");
    expect(layout.saes).toEqual([
      { saeId: "billing", kmeId: "campus-a", policy: "qkd-only", quota: { keysPerMinute: 60 } },
      { saeId: "backup", kmeId: "datacentre", policy: "pqc-allowed", quota: { bitsPerDay: 1e6 } },
      { saeId: "records", kmeId: "hospital", policy: "hybrid" },
    ]);
    expect(layout.poolBits).toBe(4096);
  });

  it("says what is missing when a topology has nothing to serve", () => {
    const t = metro();
    t.keyService = { saes: [{ id: "only", site: "campus-a", policy: "hybrid" }] };
    expect(() => kmsLayoutOfTopology(t, "metro.yaml")).toThrow(
      "metro.yaml: a key service needs at least two SAEs and one physical link between end or trusted nodes; key_service.saes has 1",
    );
  });
});
