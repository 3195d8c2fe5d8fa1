import { describe, expect, it } from "vitest";
import { admit } from "../../src/control/admission.js";
import { newJob } from "../../src/control/jobs.js";
import { LinkEstimator } from "../../src/control/link-estimates.js";
import { type SchedulableJob, Scheduler, schedulableFromAdmission } from "../../src/control/scheduler.js";
import type { Topology } from "../../src/network/topology.js";
import { Rng } from "../../src/sim/rng.js";
import { abstractLink, node } from "../support/topologies.js";

/** a–r1–b and a–r2–b; r1, r2 with 4 memory qubits, ends with 4. */
function net(): Topology {
  return {
    apiVersion: "qnet/v1",
    name: "net",
    nodes: [
      node("a", { type: "end", qubits: 4 }),
      node("r1", { qubits: 4 }),
      node("r2", { qubits: 4 }),
      node("b", { type: "end", qubits: 4 }),
    ],
    links: [
      abstractLink("a", "r1", 0.5, 1e6),
      abstractLink("r1", "b", 0.5, 1e6),
      abstractLink("a", "r2", 0.5, 1e6),
      abstractLink("r2", "b", 0.5, 1e6),
    ],
    swap: "asap",
    requests: [],
  };
}

/** A job that needs no shared resources (tests of ordering alone). */
function free(id: string, tenant: string, priority = 5, cost = 1): SchedulableJob {
  return { id, tenant, priority, path: [], links: [], memoryQubits: {}, cost };
}

const viaR1 = (id: string, tenant = "t", priority = 5, linkShare = 0.5): SchedulableJob => ({
  id,
  tenant,
  priority,
  path: ["a", "r1", "b"],
  links: ["a-r1", "r1-b"],
  linkShare,
});

function drain(s: Scheduler, n: number, nowMs = 0): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const d = s.next(nowMs);
    if (d === null) break;
    out.push(d.job.id);
    s.release(d.job.id);
  }
  return out;
}

describe("Scheduler", () => {
  it("shares between tenants in proportion to their weights (1:3 within a few %)", () => {
    const s = new Scheduler(net(), { weights: { heavy: 3 } });
    for (let i = 0; i < 500; i++) {
      s.enqueue(free(`l${i}`, "light"));
      s.enqueue(free(`h${i}`, "heavy"));
    }
    const first = drain(s, 400);
    const heavy = first.filter((id) => id.startsWith("h")).length;
    expect(heavy / first.length).toBeGreaterThan(0.73);
    expect(heavy / first.length).toBeLessThan(0.77);
    // Every window of 8 dispatches already holds the 1:3 mix ± 1.
    for (let i = 0; i + 8 <= first.length; i += 8) {
      const h = first.slice(i, i + 8).filter((id) => id.startsWith("h")).length;
      expect(Math.abs(h - 6)).toBeLessThanOrEqual(1);
    }
  });

  it("shares by cost, not by job count", () => {
    const s = new Scheduler(net());
    for (let i = 0; i < 300; i++) {
      s.enqueue(free(`big${i}`, "big", 5, 4));
      s.enqueue(free(`small${i}`, "small", 5, 1));
    }
    const first = drain(s, 250);
    const bigWork = first.filter((id) => id.startsWith("big")).length * 4;
    const smallWork = first.filter((id) => id.startsWith("small")).length;
    expect(bigWork / (bigWork + smallWork)).toBeCloseTo(0.5, 1);
  });

  it("gives no credit for idle time", () => {
    const s = new Scheduler(net());
    for (let i = 0; i < 100; i++) s.enqueue(free(`a${i}`, "a"));
    drain(s, 100);
    for (let i = 0; i < 50; i++) {
      s.enqueue(free(`a${100 + i}`, "a"));
      s.enqueue(free(`b${i}`, "b"));
    }
    // b arrives after a long run of a, yet it gets only its fair half, not 100 jobs in a row.
    const next = drain(s, 20);
    expect(next.filter((id) => id.startsWith("b")).length).toBeLessThanOrEqual(11);
    expect(next.filter((id) => id.startsWith("b")).length).toBeGreaterThanOrEqual(10);
  });

  it("does not hold past service against a tenant that comes back", () => {
    const s = new Scheduler(net());
    // a is served alone for a while, then b joins, then a has a pause and returns.
    for (let i = 0; i < 50; i++) s.enqueue(free(`a${i}`, "a"));
    drain(s, 50);
    for (let i = 0; i < 40; i++) s.enqueue(free(`b${i}`, "b"));
    drain(s, 20);
    for (let i = 0; i < 20; i++) s.enqueue(free(`a${50 + i}`, "a"));
    const mix = drain(s, 20);
    expect(mix.filter((id) => id.startsWith("a")).length).toBeGreaterThanOrEqual(9);
  });

  it("serves higher priority first, FIFO within a tenant", () => {
    const s = new Scheduler(net());
    s.enqueue(free("low1", "t", 1));
    s.enqueue(free("low2", "t", 1));
    s.enqueue(free("mid", "u", 5));
    s.enqueue(free("high", "t", 9));
    expect(drain(s, 10)).toEqual(["high", "mid", "low1", "low2"]);
  });

  it("lets a lower class start when the higher one cannot get its reservation (work-conserving)", () => {
    const s = new Scheduler(net());
    s.enqueue(viaR1("hold", "t", 5, 1));
    expect(s.next(0)?.job.id).toBe("hold");
    s.enqueue(viaR1("high", "t", 9, 1));
    s.enqueue({ id: "low", tenant: "u", priority: 1, path: ["a", "r2", "b"], links: ["a-r2", "r2-b"] });
    expect(s.next(0)?.job.id).toBe("low");
    expect(s.next(0)).toBeNull();
    s.release("hold");
    expect(s.next(0)?.job.id).toBe("high");
  });

  it("holds each tenant to its token-bucket rate on the injected clock", () => {
    const s = new Scheduler(net(), { rateLimits: { t: { ratePerS: 5, burst: 2 } } });
    for (let i = 0; i < 100; i++) s.enqueue(free(`t${i}`, "t"));
    s.enqueue(free("u0", "u"));
    // Burst of 2 at t = 0 (fairly interleaved with the unlimited tenant), then nothing of t until a
    // token refills at 200 ms.
    expect(drain(s, 10, 0)).toEqual(["t0", "u0", "t1"]);
    expect(s.nextTokenAtMs(0)).toBeCloseTo(200, 9);
    expect(s.next(199)).toBeNull();
    expect(s.next(200)?.job.id).toBe("t2");
    // Over 10 s more at 10 ms steps: at most 5/s.
    let count = 0;
    for (let ms = 200; ms <= 10_200; ms += 10) count += drain(s, 10, ms).length;
    expect(count).toBe(50);
    // A clock that runs backwards refills nothing.
    expect(s.next(0)).toBeNull();
  });

  it("never reserves more than a link's attempt capacity or a node's memory qubits", () => {
    const t = net();
    const s = new Scheduler(t, { linkCapacity: { "a-r2": 2 } });
    const rng = new Rng("reservations");
    const running: string[] = [];
    let started = 0;
    for (let step = 0; step < 2000; step++) {
      const r = rng.random();
      if (r < 0.45) {
        const via = rng.bernoulli(0.5) ? "r1" : "r2";
        s.enqueue({
          id: `j${step}`,
          tenant: `t${rng.int(3)}`,
          priority: rng.int(10),
          path: ["a", via, "b"],
          links: [`a-${via}`, `${via}-b`],
          linkShare: [0.25, 0.5, 1][rng.int(3)],
        });
      } else if (r < 0.8) {
        const d = s.next(step);
        if (d !== null) {
          running.push(d.job.id);
          started++;
        }
      } else if (running.length > 0) {
        expect(s.release(running.splice(rng.int(running.length), 1)[0])).toBe(true);
      }
      const occ = s.occupancy();
      for (const l of Object.values(occ.links)) expect(l.reserved).toBeLessThanOrEqual(l.capacity + 1e-9);
      for (const n of Object.values(occ.nodes)) expect(n.reservedQubits).toBeLessThanOrEqual(n.qubits);
      expect(occ.running).toBe(running.length);
    }
    expect(started).toBeGreaterThan(300);
  });

  it("reports memory occupancy per node (M8) and frees it on release", () => {
    const s = new Scheduler(net());
    s.enqueue(viaR1("x"));
    s.enqueue(viaR1("y"));
    s.enqueue(viaR1("z"));
    expect(s.next(0)?.reservation).toEqual({
      jobId: "x",
      links: { "a-r1": 0.5, "r1-b": 0.5 },
      memoryQubits: { a: 1, r1: 2, b: 1 },
    });
    expect(s.next(0)?.job.id).toBe("y");
    // r1's four qubits and both links are full: z waits.
    expect(s.next(0)).toBeNull();
    const occ = s.occupancy();
    expect(occ.nodes.r1).toEqual({ reservedQubits: 4, qubits: 4, fraction: 1 });
    expect(occ.nodes.a.fraction).toBe(0.5);
    expect(occ.links["a-r1"].fraction).toBe(1);
    expect(occ).toMatchObject({ queued: 1, running: 2 });
    s.release("x");
    expect(s.next(0)?.job.id).toBe("z");
    expect(s.release("nope")).toBe(false);
  });

  it("refuses jobs that could never start, duplicates and bad priorities", () => {
    const s = new Scheduler(net());
    expect(() => s.enqueue({ ...viaR1("big"), memoryQubits: { r1: 5 } })).toThrow(
      /needs 5 memory qubit\(s\) at node r1 but it has only 4/,
    );
    s.enqueue(viaR1("x"));
    expect(() => s.enqueue(viaR1("x"))).toThrow(/already in the scheduler/);
    expect(() => s.enqueue(viaR1("p", "t", 10))).toThrow(/priority/);
    expect(() => s.enqueue({ ...viaR1("q"), links: ["nope"] })).toThrow(/unknown link nope/);
  });

  it("is deterministic given the same inputs", () => {
    const run = () => {
      const s = new Scheduler(net(), { weights: { t1: 2 }, rateLimits: { t2: { ratePerS: 20, burst: 3 } } });
      const rng = new Rng(7);
      const order: string[] = [];
      for (let step = 0; step < 500; step++) {
        if (rng.bernoulli(0.6)) s.enqueue({ ...viaR1(`j${step}`, `t${rng.int(3)}`, rng.int(10), 0.25) });
        const d = s.next(step * 5);
        if (d !== null) order.push(d.job.id);
        const running = s.runningIds();
        if (running.length > 0 && rng.bernoulli(0.5)) s.release(running[0]);
      }
      return order;
    };
    const a = run();
    expect(a.length).toBeGreaterThan(100);
    expect(run()).toEqual(a);
  });

  it("takes admitted jobs straight from admission", () => {
    const t = net();
    const record = newJob(
      "k1",
      { kind: "qkd", src: "a", dst: "b", keyBits: 100, priority: 7, tenant: "bank" },
      0,
    );
    const d = admit(record, new LinkEstimator(t), t, 0);
    if (!d.admitted) throw new Error(d.reason);
    const job = schedulableFromAdmission(record, d);
    expect(job).toMatchObject({ id: "k1", tenant: "bank", priority: 7, path: d.path, links: d.links });
    const s = new Scheduler(t);
    s.enqueue(job);
    expect(s.next(0)?.job.id).toBe("k1");
  });
});

/**
 * The dispatch rule written plainly, over one list of waiting jobs scanned in full at every `next`: the
 * highest priority wins among jobs of allowed tenants whose reservation fits, then the smallest virtual
 * time, then the tenant's name, then enqueue order. Fair-share, token-bucket and reservation
 * bookkeeping as the Scheduler documents it. The Scheduler must decide exactly as this does.
 */
class ReferenceScheduler {
  private queue: {
    job: SchedulableJob;
    seq: number;
    links: Record<string, number>;
    nodes: Record<string, number>;
  }[] = [];
  private readonly running = new Map<
    string,
    { links: Record<string, number>; nodes: Record<string, number> }
  >();
  private readonly vt = new Map<string, number>();
  private readonly buckets = new Map<string, { tokens: number; atMs: number }>();
  private readonly linkUsed = new Map<string, number>();
  private readonly nodeUsed = new Map<string, number>();
  private seq = 0;
  private systemVt = 0;
  private lastNowMs = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly topology: Topology,
    private readonly options: {
      weights?: Record<string, number>;
      rateLimits?: Record<string, { ratePerS: number; burst: number }>;
      linkCapacity?: Record<string, number>;
    },
  ) {}

  private cap(link: string): number {
    return this.options.linkCapacity?.[link] ?? 1;
  }

  private qubits(node: string): number {
    return this.topology.nodes.find((n) => n.id === node)!.memory.qubits;
  }

  private bucket(t: string, nowMs: number) {
    const limit = this.options.rateLimits?.[t];
    if (limit === undefined) return undefined;
    let b = this.buckets.get(t);
    if (b === undefined) {
      b = { tokens: limit.burst, atMs: nowMs };
      this.buckets.set(t, b);
    }
    if (nowMs > b.atMs) {
      b.tokens = Math.min(limit.burst, b.tokens + ((nowMs - b.atMs) / 1000) * limit.ratePerS);
      b.atMs = nowMs;
    }
    return b;
  }

  enqueue(job: SchedulableJob): void {
    const share = job.linkShare ?? 0.5;
    const links: Record<string, number> = {};
    for (const id of job.links) links[id] = (links[id] ?? 0) + share;
    const nodes: Record<string, number> = {};
    job.path.forEach((id, i) => {
      nodes[id] = (nodes[id] ?? 0) + (i === 0 || i === job.path.length - 1 ? 1 : 2);
    });
    if (!this.queue.some((e) => e.job.tenant === job.tenant))
      this.vt.set(job.tenant, Math.max(this.vt.get(job.tenant) ?? 0, this.systemVt));
    this.queue.push({ job, seq: this.seq++, links, nodes });
  }

  next(nowMs: number): string | null {
    nowMs = Math.max(nowMs, this.lastNowMs);
    this.lastNowMs = nowMs;
    const fits = (e: (typeof this.queue)[number]) =>
      Object.entries(e.links).every(([id, s]) => (this.linkUsed.get(id) ?? 0) + s <= this.cap(id) + 1e-9) &&
      Object.entries(e.nodes).every(([id, q]) => (this.nodeUsed.get(id) ?? 0) + q <= this.qubits(id));
    const allowed = new Map<string, boolean>();
    for (const e of this.queue)
      if (!allowed.has(e.job.tenant)) {
        const b = this.bucket(e.job.tenant, nowMs);
        allowed.set(e.job.tenant, b === undefined || b.tokens >= 1 - 1e-9);
      }
    const eligible = this.queue.filter((e) => allowed.get(e.job.tenant) && fits(e));
    if (eligible.length === 0) return null;
    const vt = (t: string) => this.vt.get(t) ?? 0;
    const chosen = eligible.reduce((x, y) => {
      if (y.job.priority !== x.job.priority) return y.job.priority > x.job.priority ? y : x;
      if (vt(y.job.tenant) !== vt(x.job.tenant)) return vt(y.job.tenant) < vt(x.job.tenant) ? y : x;
      if (y.job.tenant !== x.job.tenant) return y.job.tenant < x.job.tenant ? y : x;
      return y.seq < x.seq ? y : x;
    });
    this.queue = this.queue.filter((e) => e !== chosen);
    const t = chosen.job.tenant;
    const b = this.bucket(t, nowMs);
    if (b !== undefined) b.tokens -= 1;
    this.systemVt = Math.max(this.systemVt, vt(t));
    this.vt.set(t, vt(t) + (chosen.job.cost ?? 1) / (this.options.weights?.[t] ?? 1));
    for (const [id, s] of Object.entries(chosen.links))
      this.linkUsed.set(id, (this.linkUsed.get(id) ?? 0) + s);
    for (const [id, q] of Object.entries(chosen.nodes))
      this.nodeUsed.set(id, (this.nodeUsed.get(id) ?? 0) + q);
    this.running.set(chosen.job.id, { links: chosen.links, nodes: chosen.nodes });
    return chosen.job.id;
  }

  release(id: string): boolean {
    const r = this.running.get(id);
    if (r !== undefined) {
      for (const [l, s] of Object.entries(r.links))
        this.linkUsed.set(l, Math.max(0, this.linkUsed.get(l)! - s));
      for (const [n, q] of Object.entries(r.nodes)) this.nodeUsed.set(n, this.nodeUsed.get(n)! - q);
      this.running.delete(id);
      return true;
    }
    const before = this.queue.length;
    this.queue = this.queue.filter((e) => e.job.id !== id);
    return this.queue.length < before;
  }

  queuedIds(): string[] {
    return this.queue.map((e) => e.job.id);
  }
}

describe("Scheduler against the plain dispatch rule", () => {
  it("makes the same decisions on random workloads (priorities, weights, rate limits, reservations)", () => {
    let dispatched = 0;
    for (let trial = 0; trial < 40; trial++) {
      const rng = new Rng(`scheduler-reference-${trial}`);
      const t = net();
      const options: ConstructorParameters<typeof ReferenceScheduler>[1] = {
        weights: { t0: 1, t1: 3 },
        rateLimits: trial % 2 === 1 ? { t2: { ratePerS: 2, burst: 2 } } : {},
        linkCapacity: { "a-r2": 2 },
      };
      const s = new Scheduler(t, options);
      const ref = new ReferenceScheduler(t, options);
      const ids: string[] = [];
      let nowMs = 0;
      for (let step = 0; step < 400; step++) {
        const r = rng.random();
        if (r < 0.45) {
          const via = rng.bernoulli(0.5) ? "r1" : "r2";
          const job: SchedulableJob = {
            // Now and then a released ID comes back.
            id: ids.length > 0 && rng.bernoulli(0.05) ? ids[rng.int(ids.length)] : `j${step}`,
            tenant: `t${rng.int(4)}`,
            priority: rng.int(3) * 3,
            path: ["a", via, "b"],
            links: [`a-${via}`, `${via}-b`],
            linkShare: [0.25, 0.5, 1][rng.int(3)],
            cost: rng.bernoulli(0.5) ? 1 : rng.uniform(0.1, 5),
          };
          let accepted = true;
          try {
            s.enqueue(job);
          } catch {
            accepted = false;
          }
          if (accepted) {
            ref.enqueue(job);
            ids.push(job.id);
          }
        } else if (r < 0.8) {
          nowMs += rng.int(400);
          const got = s.next(nowMs)?.job.id ?? null;
          expect(got).toBe(ref.next(nowMs));
          if (got !== null) dispatched++;
        } else if (ids.length > 0) {
          // Mostly a running job ends; sometimes a waiting one is withdrawn, or an unknown ID is given.
          const running = s.runningIds();
          const id =
            running.length > 0 && rng.bernoulli(0.8)
              ? running[rng.int(running.length)]
              : ids[rng.int(ids.length)];
          expect(s.release(id)).toBe(ref.release(id));
        }
        expect(s.queuedIds()).toEqual(ref.queuedIds());
      }
    }
    expect(dispatched).toBeGreaterThan(1500);
  });
});
