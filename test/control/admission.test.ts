import { describe, expect, it } from "vitest";
import { admit } from "../../src/control/admission.js";
import type { JobSpec } from "../../src/control/jobs.js";
import { newJob } from "../../src/control/jobs.js";
import { LinkEstimator } from "../../src/control/link-estimates.js";
import type { LinkSpec, NodeSpec, Topology } from "../../src/network/topology.js";
import { abstractLink, node } from "../support/topologies.js";

function topo(nodes: NodeSpec[], links: LinkSpec[]): Topology {
  return { apiVersion: "qnet/v1", name: "metro", nodes, links, swap: "asap", requests: [] };
}

const NOW = 1_700_000_000_000;
const base = { priority: 5, tenant: "default" };

/** a–r1–b: two 500 Hz links of F = 0.95 → 0.903333 end to end, 333.3 pairs/s (E[max] = 3 ms). */
function line(): Topology {
  return topo(
    [node("a", { type: "end" }), node("r1"), node("b", { type: "end" })],
    [abstractLink("a", "r1", 0.5, 1e6, 0.95), abstractLink("r1", "b", 0.5, 1e6, 0.95)],
  );
}

/** A spec without the fields every test leaves at their defaults (distributes over the union). */
type Bare<S> = S extends unknown ? Omit<S, "priority" | "tenant"> : never;

function job(spec: Bare<JobSpec>) {
  return newJob("job-1", { ...base, ...spec } as JobSpec, NOW);
}

describe("admit", () => {
  it("admits a feasible entanglement job with its path and predictions", () => {
    const t = line();
    const d = admit(
      job({ kind: "entanglement", src: "a", dst: "b", pairs: 100, minFidelity: 0.9 }),
      new LinkEstimator(t),
      t,
      NOW,
    );
    expect(d.admitted).toBe(true);
    if (!d.admitted) return;
    expect(d.path).toEqual(["a", "r1", "b"]);
    expect(d.links).toEqual(["a-r1", "r1-b"]);
    expect(d.mode).toBe("repeater");
    expect(d.predicted.fidelity).toBeCloseTo(0.903333, 6);
    expect(d.predicted.pairRateHz).toBeCloseTo(1000 / 3, 6);
    expect(d.predicted.completionS).toBeCloseTo(0.3, 9);
  });

  it("refuses a fidelity it cannot reach, naming the best path's prediction", () => {
    const t = line();
    const d = admit(
      job({ kind: "entanglement", src: "a", dst: "b", pairs: 10, minFidelity: 0.95 }),
      new LinkEstimator(t),
      t,
      NOW,
    );
    expect(d).toEqual({
      admitted: false,
      code: "FIDELITY",
      reason: "no path from a to b meets min_fidelity 0.95: best path a-r1-b predicts 0.903",
    });
  });

  it("refuses a deadline it cannot meet, saying how long the best path needs", () => {
    const t = line();
    const d = admit(
      job({ kind: "entanglement", src: "a", dst: "b", pairs: 1000, deadlineS: 2 }),
      new LinkEstimator(t),
      t,
      NOW,
    );
    expect(d).toEqual({
      admitted: false,
      code: "DEADLINE",
      reason: "deadline 2 s cannot be met: the best path a-r1-b needs about 3 s for 1000 pairs",
    });
    // The same job later in its life has less time left; earlier it is fine with a longer deadline.
    const ok = admit(
      job({ kind: "entanglement", src: "a", dst: "b", pairs: 1000, deadlineS: 4 }),
      new LinkEstimator(t),
      t,
      NOW,
    );
    expect(ok.admitted).toBe(true);
    const late = admit(
      job({ kind: "entanglement", src: "a", dst: "b", pairs: 1000, deadlineS: 4 }),
      new LinkEstimator(t),
      t,
      NOW + 1500,
    );
    expect(late.admitted).toBe(false);
    const past = admit(
      job({ kind: "entanglement", src: "a", dst: "b", pairs: 1, deadlineS: 4 }),
      new LinkEstimator(t),
      t,
      NOW + 5000,
    );
    expect(past).toMatchObject({ admitted: false, code: "DEADLINE_PASSED" });
  });

  it("refuses a rate it cannot sustain and admits one it can", () => {
    const t = line();
    const est = new LinkEstimator(t);
    expect(
      admit(job({ kind: "entanglement", src: "a", dst: "b", rateHz: 500, deadlineS: 10 }), est, t, NOW),
    ).toEqual({
      admitted: false,
      code: "RATE",
      reason: "rate 500 Hz cannot be sustained: the best path a-r1-b delivers about 333 Hz",
    });
    const d = admit(
      job({ kind: "entanglement", src: "a", dst: "b", rateHz: 300, deadlineS: 10 }),
      est,
      t,
      NOW,
    );
    expect(d).toMatchObject({ admitted: true, predicted: { completionS: 10 } });
  });

  it("reroutes around a down link, and refuses when there is no alternative", () => {
    const t = topo(
      [node("a", { type: "end" }), node("r1"), node("r2"), node("b", { type: "end" })],
      [
        abstractLink("a", "r1", 0.5, 1e6, 0.95),
        abstractLink("r1", "b", 0.5, 1e6, 0.95),
        abstractLink("a", "r2", 0.2, 1e6, 0.95),
        abstractLink("r2", "b", 0.2, 1e6, 0.95),
      ],
    );
    const est = new LinkEstimator(t);
    const j = job({ kind: "entanglement", src: "a", dst: "b", pairs: 10 });
    expect(admit(j, est, t, NOW)).toMatchObject({ admitted: true, path: ["a", "r1", "b"] });
    est.markDown("a-r1");
    expect(admit(j, est, t, NOW)).toMatchObject({ admitted: true, path: ["a", "r2", "b"] });
    est.markDown("r2-b");
    const d = admit(j, est, t, NOW);
    expect(d.admitted).toBe(false);
    if (d.admitted) return;
    expect(d.code).toBe("LINK_DOWN");
    expect(d.reason).toMatch(/^no path: link (a-r1|r2-b) is down and no alternative exists$/);
    // Only one link down on the only path: the message names it exactly.
    const l = line();
    const lest = new LinkEstimator(l);
    lest.markDown("a-r1");
    expect(admit(j, lest, l, NOW)).toEqual({
      admitted: false,
      code: "LINK_DOWN",
      reason: "no path: link a-r1 is down and no alternative exists",
    });
  });

  it("refuses unknown and unconnected nodes", () => {
    const t = line();
    t.nodes.push(node("c", { type: "end" }));
    const est = new LinkEstimator(t);
    expect(admit(job({ kind: "entanglement", src: "a", dst: "zz", pairs: 1 }), est, t, NOW)).toMatchObject({
      admitted: false,
      code: "UNKNOWN_NODE",
      reason: "node zz is not in topology metro: check the job's src and dst",
    });
    expect(admit(job({ kind: "entanglement", src: "a", dst: "c", pairs: 1 }), est, t, NOW)).toMatchObject({
      admitted: false,
      code: "NO_PATH",
    });
  });

  it("predicts teleportation's average fidelity (2F + 1)/3", () => {
    const t = line();
    const d = admit(
      job({ kind: "teleportation", src: "a", dst: "b", thetaRad: 1, phiRad: 0 }),
      new LinkEstimator(t),
      t,
      NOW,
    );
    expect(d).toMatchObject({ admitted: true });
    if (d.admitted) expect(d.predicted.fidelity).toBeCloseTo((2 * 0.903333 + 1) / 3, 6);
  });

  describe("QKD", () => {
    /** A repeater path a–r–b of poor links and a trusted path a–t1–b of good ones. */
    const metro = (repeaterFidelity: number) =>
      topo(
        [
          node("a", { type: "end" }),
          node("r", { type: "repeater" }),
          node("t1", { type: "trusted", qubits: 0 }),
          node("b", { type: "end" }),
        ],
        [
          abstractLink("a", "r", 0.5, 1e6, repeaterFidelity),
          abstractLink("r", "b", 0.5, 1e6, repeaterFidelity),
          abstractLink("a", "t1", 0.5, 1e6, 0.99),
          abstractLink("t1", "b", 0.5, 1e6, 0.99),
        ],
      );

    it("uses the repeater path when its pairs yield key", () => {
      const t = metro(0.99);
      const d = admit(job({ kind: "qkd", src: "a", dst: "b", keyBits: 1000 }), new LinkEstimator(t), t, NOW);
      expect(d).toMatchObject({ admitted: true, mode: "repeater", path: ["a", "r", "b"] });
    });

    it("falls back to a trusted-node path when no entanglement path qualifies", () => {
      const t = metro(0.85);
      const d = admit(job({ kind: "qkd", src: "a", dst: "b", keyBits: 1000 }), new LinkEstimator(t), t, NOW);
      expect(d).toMatchObject({
        admitted: true,
        mode: "trusted",
        path: ["a", "t1", "b"],
        links: ["a-t1", "t1-b"],
      });
      if (!d.admitted) return;
      expect(d.predicted.fidelity).toBeUndefined();
      expect(d.predicted.completionS).toBeCloseTo(1000 / d.predicted.keyRateBps!, 9);
      // And when a repeater link is down (F1), too.
      const good = metro(0.99);
      const est = new LinkEstimator(good);
      est.markDown("r-b");
      expect(admit(job({ kind: "qkd", src: "a", dst: "b", keyBits: 1000 }), est, good, NOW)).toMatchObject({
        mode: "trusted",
      });
    });

    it("takes the trusted path when the repeater path cannot finish in time, and says when neither can", () => {
      const t = metro(0.99);
      // Slow repeater links: 5 Hz each, about 1.3 key bits/s end to end; the trusted hops give ≈ 220.
      t.links[0] = abstractLink("a", "r", 0.01, 1e6, 0.99);
      t.links[1] = abstractLink("r", "b", 0.01, 1e6, 0.99);
      const est = new LinkEstimator(t);
      const slow = admit(job({ kind: "qkd", src: "a", dst: "b", keyBits: 1000 }), est, t, NOW);
      expect(slow).toMatchObject({ admitted: true, mode: "repeater", path: ["a", "r", "b"] });
      const soon = admit(job({ kind: "qkd", src: "a", dst: "b", keyBits: 1000, deadlineS: 60 }), est, t, NOW);
      expect(soon).toMatchObject({ admitted: true, mode: "trusted", path: ["a", "t1", "b"] });
      const now = admit(job({ kind: "qkd", src: "a", dst: "b", keyBits: 1000, deadlineS: 1 }), est, t, NOW);
      expect(now).toMatchObject({ admitted: false, code: "DEADLINE" });
      if (!now.admitted)
        expect(now.reason).toMatch(
          /^deadline 1 s cannot be met: the best path a-t1-b needs about 4\.\d+ s for 1000 key bits$/,
        );
    });

    it("explains when neither path yields key", () => {
      const t = metro(0.85);
      const est = new LinkEstimator(t);
      est.markDown("a-t1");
      const d = admit(job({ kind: "qkd", src: "a", dst: "b", keyBits: 1000 }), est, t, NOW);
      expect(d).toMatchObject({ admitted: false, code: "FIDELITY" });
      if (!d.admitted)
        expect(d.reason).toMatch(
          /^no path from a to b yields secret key: the best repeater path a-r-b predicts fidelity 0\.73/,
        );
    });
  });
});
