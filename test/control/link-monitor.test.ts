import { describe, expect, it } from "vitest";
import { LinkEstimator } from "../../src/control/link-estimates.js";
import { LinkMonitor } from "../../src/control/link-monitor.js";
import { LiveFeed } from "../../src/control/live-feed.js";
import { MemoryJobStore } from "../../src/control/memory-job-store.js";
import { Orchestrator, type OrchestratorEvent } from "../../src/control/orchestrator.js";
import { LiveTwin } from "../../src/network/live-twin.js";
import type { Topology } from "../../src/network/topology.js";
import { Rng } from "../../src/sim/rng.js";
import { RecordingSink } from "../../src/telemetry/observations.js";
import { abstractLink, chain, node } from "../support/topologies.js";

const line = () => chain({ links: 2, p: 0.01, attemptDurationNs: 1000 });

describe("LinkMonitor", () => {
  it("declares a link down after k* = ⌊ln α / ln(1 − p)⌋ + 1 failed attempts in a row", () => {
    const m = new LinkMonitor(new LinkEstimator(line()), { falseAlarmProbability: 1e-9 });
    m.expectSuccess("n0-n1", 0.01);
    const k = m.threshold("n0-n1");
    expect(k).toBe(2062);
    // The defining property: k* failures are rarer than α on a working link, k* − 1 are not.
    expect(0.99 ** k).toBeLessThan(1e-9);
    expect(0.99 ** (k - 1)).toBeGreaterThanOrEqual(1e-9);
    expect(m.threshold("n1-n2")).toBe(Number.POSITIVE_INFINITY); // p not known yet
  });

  it("detects a dead link at the threshold, once, and its recovery at the next herald", () => {
    const est = new LinkEstimator(line());
    const m = new LinkMonitor(est);
    m.expectSuccess("n0-n1", 0.01);
    const k = m.threshold("n0-n1");
    m.observe("n0-n1", 150, 1);
    for (let sent = 0; sent + 100 < k; sent += 100) m.observe("n0-n1", 100, 0);
    expect(m.poll()).toEqual([]);
    m.observe("n0-n1", 100, 0);
    const [down, ...rest] = m.poll();
    expect(rest).toEqual([]);
    expect(down).toMatchObject({ linkId: "n0-n1", up: false });
    expect(down.reason).toMatch(
      /^no herald in \d+ attempts; a working link \(p = 0.0100\) fails 2062 in a row/,
    );
    expect(m.declaredDown("n0-n1")).toBe(true);
    est.markDown("n0-n1"); // what the orchestrator does with the verdict
    m.observe("n0-n1", 10_000, 0);
    expect(m.poll()).toEqual([]); // declared once
    m.observe("n0-n1", 3, 1);
    expect(m.poll()).toEqual([
      { linkId: "n0-n1", up: true, reason: "heralding again after a detected failure" },
    ]);
  });

  it("raises no false alarm on a working link over 10^6 attempts (α = 1e-9 per gap)", () => {
    const m = new LinkMonitor(new LinkEstimator(line()));
    const p = 0.01;
    m.expectSuccess("n0-n1", p);
    const rng = new Rng("working");
    let attempts = 0;
    let heralds = 0;
    while (attempts < 1e6) {
      // A herald after a geometric number of attempts, reported with in-progress failures in between.
      const gap = rng.geometric(p);
      const flushed = Math.floor(gap / 2);
      if (flushed > 0) m.observe("n0-n1", flushed, 0);
      m.observe("n0-n1", gap - flushed, 1);
      attempts += gap;
      heralds++;
    }
    // Expected false alarms: heralds × α ≈ 1e-5, so any alarm here is a bug.
    expect(heralds).toBeGreaterThan(9000);
    expect(m.poll()).toEqual([]);
  });

  it("leaves links an operator took down alone, and counts afresh when they are up", () => {
    const est = new LinkEstimator(line());
    const m = new LinkMonitor(est);
    m.expectSuccess("n0-n1", 0.01);
    est.markDown("n0-n1");
    m.observe("n0-n1", 1e6, 0);
    expect(m.poll()).toEqual([]);
    est.markUp("n0-n1");
    m.observe("n0-n1", m.threshold("n0-n1") - 1, 0);
    expect(m.poll()).toEqual([]);
    m.observe("n0-n1", 1, 0);
    expect(m.poll().map((c) => c.up)).toEqual([false]);
  });

  it("watches afresh a detected-down link that an operator brings up while it is still silent", () => {
    const est = new LinkEstimator(line());
    const m = new LinkMonitor(est);
    m.expectSuccess("n0-n1", 0.01);
    const k = m.threshold("n0-n1");
    m.observe("n0-n1", k, 0);
    expect(m.poll().map((c) => c.up)).toEqual([false]);
    est.markDown("n0-n1");
    est.markUp("n0-n1"); // the operator's call
    m.observe("n0-n1", k - 1, 0);
    expect(m.poll()).toEqual([]);
    m.observe("n0-n1", 1, 0);
    expect(m.poll().map((c) => c.up)).toEqual([false]);
  });

  it("reports a dead link once even when more silence arrives before the verdict is applied", () => {
    const est = new LinkEstimator(line());
    const m = new LinkMonitor(est);
    m.expectSuccess("n0-n1", 0.01);
    const k = m.threshold("n0-n1");
    m.observe("n0-n1", k, 0);
    m.observe("n0-n1", 10 * k, 0); // same advance of the twin: the orchestrator has not acted yet
    expect(m.poll().map((c) => c.up)).toEqual([false]);
    est.markDown("n0-n1");
    m.observe("n0-n1", 10 * k, 0);
    expect(m.poll()).toEqual([]);
  });

  it("rejects nonsense settings", () => {
    const est = new LinkEstimator(line());
    expect(() => new LinkMonitor(est, { falseAlarmProbability: 0 })).toThrow(/falseAlarmProbability/);
    expect(() => new LinkMonitor(est).observe("nope", 1, 0)).toThrow(/unknown link "nope"/);
  });
});

/** a — b — d (fast, with an outage on a–b from 200 to 600 ms) and a — c — d (slower). */
function meshWithOutage(): Topology {
  const ends = (id: string) => node(id, { type: "end", qubits: 2 });
  const ab = abstractLink("a", "b", 0.05, 1000, 0.99);
  ab.outages = [{ startNs: 200e6, durationNs: 400e6 }];
  return {
    apiVersion: "qnet/v1",
    name: "mesh",
    nodes: [ends("a"), node("b", { qubits: 4 }), node("c", { qubits: 4 }), ends("d")],
    links: [
      ab,
      abstractLink("b", "d", 0.05, 1000, 0.99),
      abstractLink("a", "c", 0.02, 1000, 0.98),
      abstractLink("c", "d", 0.02, 1000, 0.98),
    ],
    swap: "asap",
    requests: [],
  };
}

describe("LiveFeed: failures in the live twin are detected and survived", () => {
  it("takes a link down when the twin's outage starts, reroutes waiting jobs, and brings it back", async () => {
    const topology = meshWithOutage();
    const events: OrchestratorEvent[] = [];
    const orch = new Orchestrator({
      topology,
      store: new MemoryJobStore(),
      clock: () => 1_700_000_000_000,
      seed: 1,
      onEvent: (e) => events.push(e),
    });
    const feed = new LiveFeed(orch);
    const twin = new LiveTwin(topology, { seed: 5, observer: feed.observer });
    const sub = await orch.submit({ kind: "entanglement", src: "a", dst: "d", pairs: 3 }, { id: "j" });
    expect(sub.ok && sub.job.path).toEqual(["a", "b", "d"]);

    const changes: { atNs: number; up: boolean }[] = [];
    for (let t = 10e6; t <= 800e6; t += 10e6) {
      twin.advanceTo(t);
      for (const c of await feed.apply()) if (c.linkId === "a-b") changes.push({ atNs: t, up: c.up });
    }
    // Down once, inside the outage and soon after it starts: a memory pair makes an attempt per µs, so
    // k* ≈ 404 failed attempts take well under the 10 ms step; up once, soon after it ends.
    expect(changes.map((c) => c.up)).toEqual([false, true]);
    expect(changes[0].atNs).toBeGreaterThan(200e6);
    expect(changes[0].atNs).toBeLessThanOrEqual(220e6);
    expect(changes[1].atNs).toBeGreaterThan(600e6);
    expect(changes[1].atNs).toBeLessThanOrEqual(620e6);
    // The waiting job moved to the other path while the link was down, and back once it heralded
    // again; the events say the detector did it.
    const job = (await orch.get("j"))!;
    expect(job.path).toEqual(["a", "b", "d"]);
    expect(events).toContainEqual(
      expect.objectContaining({
        type: "job",
        reroute: { linkId: "a-b", from: ["a", "c", "d"], to: ["a", "b", "d"] },
      }),
    );
    expect(events).toContainEqual(
      expect.objectContaining({ type: "link", linkId: "a-b", up: false, cause: "detected" }),
    );
    expect(events).toContainEqual(
      expect.objectContaining({
        type: "job",
        reroute: { linkId: "a-b", from: ["a", "b", "d"], to: ["a", "c", "d"] },
      }),
    );
    expect(orch.estimator.isUp("a-b")).toBe(true);
    // No other link was ever suspected.
    expect(events.filter((e) => e.type === "link").map((e) => e.type === "link" && e.linkId)).toEqual([
      "a-b",
      "a-b",
    ]);
  });
});

describe("LiveFeed.flush", () => {
  it("passes counters summed per link and gauges at their latest value, histograms as they come", () => {
    const orch = new Orchestrator({
      topology: meshWithOutage(),
      store: new MemoryJobStore(),
      clock: () => 0,
      seed: 1,
    });
    const sink = new RecordingSink();
    const feed = new LiveFeed(orch, sink);
    feed.observer.linkAttempts("a-b", 10, 1);
    feed.observer.linkAttempts("a-b", 5, 1);
    feed.observer.linkAttempts("a-c", 7, 0);
    feed.observer.memoryOccupancy("b", 1, 4);
    feed.observer.memoryOccupancy("b", 3, 4);
    feed.observer.pairFidelity("a-b", 0.9);
    expect(sink.observations.map((o) => o.kind)).toEqual(["pairFidelity"]);
    // The estimates take every herald at once.
    expect(orch.estimator.estimate("a-b").observedAttempts).toBe(15);
    feed.flush();
    expect(sink.of("linkAttempts")).toEqual([
      { kind: "linkAttempts", linkId: "a-b", attempts: 15, successes: 2 },
      { kind: "linkAttempts", linkId: "a-c", attempts: 7, successes: 0 },
    ]);
    expect(sink.of("memoryOccupancy")).toEqual([
      { kind: "memoryOccupancy", nodeId: "b", occupied: 3, capacity: 4 },
    ]);
    feed.flush();
    expect(sink.of("linkAttempts")).toHaveLength(2);
  });
});

describe("LiveFeed.apply", () => {
  it("hands back the changes it could not apply, for the next call", async () => {
    const topology = meshWithOutage();
    const orch = new Orchestrator({ topology, store: new MemoryJobStore(), clock: () => 0, seed: 1 });
    const feed = new LiveFeed(orch);
    feed.observer.linkExpectedSuccess("a-b", 0.05);
    feed.observer.linkAttempts("a-b", 10_000, 0);
    const failing = orch.linkDown.bind(orch);
    let fail = true;
    orch.linkDown = (...args) => (fail ? Promise.reject(new Error("store unavailable")) : failing(...args));
    await expect(feed.apply()).rejects.toThrow("store unavailable");
    expect(orch.estimator.isUp("a-b")).toBe(true);
    fail = false;
    expect((await feed.apply()).map((c) => [c.linkId, c.up])).toEqual([["a-b", false]]);
    expect(orch.estimator.isUp("a-b")).toBe(false);
    expect(await feed.apply()).toEqual([]);
  });
});
