import { describe, expect, it } from "vitest";
import type { TransitionJobArgs, UpdateJobArgs } from "../../src/control/job-store.js";
import { MemoryJobStore } from "../../src/control/memory-job-store.js";
import { Orchestrator, type OrchestratorEvent } from "../../src/control/orchestrator.js";
import type { Topology } from "../../src/network/topology.js";
import { abstractLink, chain, node } from "../support/topologies.js";

// With `timeScale`, a job runs in wall time: it stays `running`, holding its reservation, for the
// simulated time its run took divided by the scale, and a link cut meanwhile reroutes it.

function manualClock(startMs = 1_700_000_000_000) {
  let t = startMs;
  return { now: () => t, set: (ms: number) => (t = ms), start: startMs };
}

/** a — b — d and a — c — d, slow links (1 ms attempts) so that runs take simulated seconds. */
function mesh(): Topology {
  const ends = (id: string) => node(id, { type: "end", qubits: 2 });
  return {
    apiVersion: "qnet/v1",
    name: "mesh",
    nodes: [ends("a"), node("b"), node("c"), ends("d")],
    links: [
      abstractLink("a", "b", 0.5, 1e6, 0.99),
      abstractLink("b", "d", 0.5, 1e6, 0.99),
      abstractLink("a", "c", 0.4, 1e6, 0.98),
      abstractLink("c", "d", 0.4, 1e6, 0.98),
    ],
    swap: "asap",
    requests: [],
  };
}

/** A store whose writes can be slowed, so that calls from an API and the scheduling timer overlap. */
class SlowStore extends MemoryJobStore {
  delays: { update?: number; transition?: number } = {};
  private static sleep = (ms?: number) => (ms ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve());
  override async update(args: UpdateJobArgs) {
    await SlowStore.sleep(this.delays.update);
    return super.update(args);
  }
  override async transition(args: TransitionJobArgs) {
    await SlowStore.sleep(this.delays.transition);
    return super.transition(args);
  }
}

function setup(topology: Topology, timeScale = 1, store: MemoryJobStore = new MemoryJobStore()) {
  const clock = manualClock();
  const events: OrchestratorEvent[] = [];
  const orch = new Orchestrator({
    topology,
    store,
    clock: clock.now,
    seed: 3,
    timeScale,
    scheduler: { defaultLinkShare: 1 },
    onEvent: (e) => events.push(e),
  });
  return { orch, clock, events };
}

describe("Orchestrator with a time scale", () => {
  it("keeps a job running, holding its reservation, for its simulated time over the scale", async () => {
    const { orch, clock } = setup(mesh(), 2); // twice real time
    await orch.submit({ kind: "entanglement", src: "a", dst: "d", pairs: 20 }, { id: "first" });
    await orch.submit({ kind: "entanglement", src: "a", dst: "d", pairs: 20 }, { id: "second" });
    expect(await orch.step(clock.start)).toEqual([]);
    const running = (await orch.get("first"))!;
    expect(running.state).toBe("running");
    // The second job waits: the first holds the whole capacity of its links.
    expect((await orch.get("second"))!.state).toBe("admitted");
    // It is computed already; its wall time is (setup + run) / 2.
    const probe = setup(mesh(), 1e9);
    await probe.orch.submit({ kind: "entanglement", src: "a", dst: "d", pairs: 20 }, { id: "first" });
    await probe.orch.step(probe.clock.start);
    await probe.orch.step(probe.clock.start + 1);
    const computed = (await probe.orch.get("first"))!.result!;
    const wallMs = (computed.setupNs! + computed.durationNs!) / 1e6 / 2;
    expect(wallMs).toBeGreaterThan(10);
    expect(await orch.step(clock.start + wallMs - 1)).toEqual([]);
    const done = await orch.step(clock.start + wallMs);
    expect(done.map((j) => [j.id, j.state])).toEqual([["first", "succeeded"]]);
    expect(done[0].result).toEqual(computed);
    // Its reservation is back: the second job starts in the same round.
    expect((await orch.get("second"))!.state).toBe("running");
  });

  it("reroutes a running job when a link of its path goes down, keeping the pairs delivered before", async () => {
    const { orch, clock, events } = setup(mesh());
    await orch.submit({ kind: "entanglement", src: "a", dst: "d", pairs: 400 }, { id: "j" });
    await orch.step(clock.start);
    expect((await orch.get("j"))!.path).toEqual(["a", "b", "d"]);
    clock.set(clock.start + 300); // 0.3 simulated s into a run of several seconds
    const affected = await orch.linkDown("b-d");
    expect(affected.map((j) => [j.id, j.state, j.path])).toEqual([["j", "running", ["a", "c", "d"]]]);
    expect(events).toContainEqual(
      expect.objectContaining({
        type: "job",
        reroute: { linkId: "b-d", from: ["a", "b", "d"], to: ["a", "c", "d"] },
      }),
    );
    // The rest runs on the new path once its reservation is granted, and ends in wall time.
    expect(await orch.step(clock.start + 300)).toEqual([]);
    let job = (await orch.get("j"))!;
    for (let t = clock.start + 300; job.state === "running" && t < clock.start + 3_600_000; t += 1000) {
      await orch.step(t);
      job = (await orch.get("j"))!;
    }
    expect(job.state).toBe("succeeded");
    const r = job.result!;
    expect(r.delivered).toBe(400);
    expect(r.fidelity?.count).toBe(400);
    // Pairs from both paths. Memories do not decay here, so each path gives one fidelity: that of the
    // same job run on that path alone.
    const alone = async (down: string) => {
      const p = setup(mesh(), 1e9);
      await p.orch.linkDown(down);
      await p.orch.submit({ kind: "entanglement", src: "a", dst: "d", pairs: 5 }, { id: "j" });
      await p.orch.step(p.clock.start);
      await p.orch.step(p.clock.start + 1);
      return (await p.orch.get("j"))!.result!;
    };
    const viaB = await alone("a-c");
    const viaC = await alone("a-b");
    expect(viaB.fidelity!.max).toBeGreaterThan(viaC.fidelity!.max);
    expect(r.fidelity!.max).toBeCloseTo(viaB.fidelity!.max, 12);
    expect(r.fidelity!.min).toBeCloseTo(viaC.fidelity!.min, 12);
    // Two path setups: more than one path's alone; and the run spans the 0.3 s before the cut.
    expect(r.setupNs).toBeGreaterThan(Math.max(viaB.setupNs!, viaC.setupNs!));
    expect(r.durationNs!).toBeGreaterThan(0.3e9 - viaB.setupNs!);
  });

  it("fails a running job with what it delivered when no other path is left", async () => {
    const { orch, clock } = setup(chain({ links: 2, p: 0.5, attemptDurationNs: 1e6, fidelity: 0.99 }));
    await orch.submit({ kind: "entanglement", src: "n0", dst: "n2", pairs: 400 }, { id: "j" });
    await orch.step(clock.start);
    clock.set(clock.start + 500);
    const [failed] = await orch.linkDown("n1-n2");
    expect(failed.state).toBe("failed");
    expect(failed.history.at(-1)?.reason).toMatch(
      /^link n1-n2 went down while the job ran and no other path is admissible \(LINK_DOWN\): no path: link n1-n2 is down/,
    );
    const r = failed.result!;
    expect(r.error?.code).toBe("LINK_DOWN");
    // The pairs delivered in the first 0.5 s of the run. The same job uncut (same seed) takes T for 400
    // pairs; pairs come as a renewal process, so the count by time t has mean ≈ 400·t/T and a variance
    // below its mean (each cycle's coefficient of variation is below 1): 5σ ≤ 5·√mean.
    const probe = setup(chain({ links: 2, p: 0.5, attemptDurationNs: 1e6, fidelity: 0.99 }), 1e9);
    await probe.orch.submit({ kind: "entanglement", src: "n0", dst: "n2", pairs: 400 }, { id: "j" });
    await probe.orch.step(probe.clock.start);
    await probe.orch.step(probe.clock.start + 1);
    const uncut = (await probe.orch.get("j"))!.result!;
    const mean = (400 * (0.5e9 - uncut.setupNs!)) / uncut.durationNs!;
    expect(Math.abs(r.delivered! - mean)).toBeLessThan(5 * Math.sqrt(mean) + 1);
    expect(r.fidelity?.count).toBe(r.delivered);
    // Nothing more happens to it.
    expect(await orch.step(clock.start + 3_600_000)).toEqual([]);
  });

  it("cancels a job in flight for good", async () => {
    const { orch, clock } = setup(mesh());
    await orch.submit({ kind: "entanglement", src: "a", dst: "d", pairs: 100 }, { id: "j" });
    await orch.step(clock.start);
    const c = (await orch.cancel("j"))!;
    expect(c.state).toBe("cancelled");
    expect(await orch.step(clock.start + 3_600_000)).toEqual([]);
    expect((await orch.get("j"))!.state).toBe("cancelled");
  });

  it("ends a rate job, whose run lasts exactly to its deadline, with its result rather than expiring it", async () => {
    const { orch, clock } = setup(mesh());
    await orch.submit({ kind: "entanglement", src: "a", dst: "d", rate_hz: 5, deadline_s: 2 }, { id: "r" });
    await orch.step(clock.start);
    let job = (await orch.get("r"))!;
    for (let t = clock.start + 100; job.state === "running" && t < clock.start + 10_000; t += 100) {
      await orch.step(t);
      job = (await orch.get("r"))!;
    }
    expect(job.state).toBe("succeeded");
    expect(job.result?.rateHz).toBeGreaterThan(4.5);
  });

  it("ends a run that finished before its deadline as computed even when the next round comes late", async () => {
    const { orch, clock } = setup(mesh());
    await orch.submit({ kind: "entanglement", src: "a", dst: "d", pairs: 50, deadline_s: 10 }, { id: "p" });
    await orch.step(clock.start);
    await orch.step(clock.start + 10_001); // after the deadline
    const job = (await orch.get("p"))!;
    expect(job.state).toBe("succeeded");
    expect(job.result?.delivered).toBe(50);
  });

  it("keeps a job's partial result when a second cut leaves no path while it waits to be rerouted", async () => {
    const { orch, clock } = setup(mesh());
    await orch.submit({ kind: "entanglement", src: "a", dst: "d", pairs: 400 }, { id: "j" });
    await orch.step(clock.start);
    clock.set(clock.start + 300);
    await orch.linkDown("b-d");
    const [failed] = await orch.linkDown("c-d"); // before its rest could start on a-c-d
    expect(failed.state).toBe("failed");
    expect(failed.result?.delivered).toBeGreaterThan(10);
    expect(failed.result?.fidelity?.count).toBe(failed.result?.delivered);
    expect(failed.result?.durationNs).toBeGreaterThan(0);
    expect(await orch.step(clock.start + 3_600_000)).toEqual([]);
  });

  it("counts a cut during path setup as setup, never as negative running time", async () => {
    const { orch, clock } = setup(chain({ links: 2, p: 0.5, attemptDurationNs: 1e6, fidelity: 0.99 }), 1e-3);
    await orch.submit({ kind: "entanglement", src: "n0", dst: "n2", pairs: 10 }, { id: "j" });
    await orch.step(clock.start);
    clock.set(clock.start + 1); // 1 µs of simulated time: inside the 50 µs+ setup
    const [failed] = await orch.linkDown("n1-n2");
    expect(failed.result?.durationNs).toBe(0);
    expect(failed.result?.setupNs).toBeCloseTo(1000, 6);
    expect(failed.result?.delivered).toBe(0);
  });

  it("does not strand a job when a link comes up while a round is starting it", async () => {
    const store = new SlowStore();
    const { orch, clock } = setup(mesh(), 1, store);
    await orch.linkDown("a-b");
    await orch.submit({ kind: "entanglement", src: "a", dst: "d", pairs: 5 }, { id: "j" });
    store.delays = { update: 5, transition: 20 };
    await Promise.all([orch.linkUp("a-b"), orch.step(clock.start)]);
    store.delays = {};
    let job = (await orch.get("j"))!;
    for (let t = clock.start + 1000; job.state !== "succeeded" && t < clock.start + 600_000; t += 1000) {
      await orch.step(t);
      job = (await orch.get("j"))!;
    }
    expect(job.state).toBe("succeeded");
  });

  it("refuses a time scale that is not a positive number", () => {
    expect(() => setup(mesh(), 0)).toThrow("timeScale must be a finite number > 0, got 0");
  });
});
