/**
 * The orchestrator's scheduler over admitted jobs (issue 6, C6; F2 and M8 in docs/system-map.md):
 *
 * - **Strict priority.** A job of a higher priority class (9 highest) is always dispatched before any
 *   job of a lower one that could also start. A job that cannot start (its tenant is rate-limited, or
 *   its reservation does not fit) does not block lower classes: the scheduler is work-conserving.
 * - **Weighted fair sharing between tenants** within a class, by virtual time (start-time fair
 *   queuing): each tenant has a virtual time that advances by cost / weight with every job dispatched;
 *   the eligible tenant with the smallest one goes next. A tenant that was idle re-enters at the
 *   virtual time of the last dispatch, so idling banks no credit. Over a backlog,
 *   dispatched cost converges to the weights.
 * - **Per-tenant rate limits**: a token bucket per tenant on the injected clock (`nowMs`); each
 *   dispatch takes one token.
 * - **Reservations** of shared resources: a job reserves a share of each link's attempt capacity
 *   along its path and memory qubits at each node (1 at each end, 2 at each intermediate node unless
 *   given). A job whose reservation does not fit waits; {@link Scheduler.release} gives it back.
 *   {@link Scheduler.occupancy} reports memory occupancy per node (M8, repeater buffer occupancy).
 *
 * Deterministic: ties are broken by tenant name and by enqueue order, never by chance. Core layer.
 */
import type { Topology } from "../network/topology.js";
import type { Admitted } from "./admission.js";

/** A job as the scheduler sees it: who, how urgent, and what it needs. */
export interface SchedulableJob {
  /** Unique among jobs in the scheduler. */
  id: string;
  tenant: string;
  /** 0 (lowest) to 9 (highest). */
  priority: number;
  /** Node IDs of the job's path (from admission). */
  path: readonly string[];
  /** Link IDs along the path. */
  links: readonly string[];
  /**
   * Share of each link's attempt capacity the job reserves, in (0, 1]. Default
   * {@link SchedulerOptions.defaultLinkShare}.
   */
  linkShare?: number;
  /** Memory qubits reserved per node ID. Default: 1 at each end of the path, 2 at each other node. */
  memoryQubits?: Readonly<Record<string, number>>;
  /** Work the job represents for fair sharing (e.g. predicted seconds of link time), > 0. Default 1. */
  cost?: number;
}

/** A tenant's token bucket. */
export interface RateLimit {
  /** Jobs dispatched per second in the long run, Hz. */
  ratePerS: number;
  /** Bucket size: jobs that may be dispatched back to back after a quiet period. ≥ 1. */
  burst: number;
}

/** Settings of a {@link Scheduler}. */
export interface SchedulerOptions {
  /** Fair-share weight per tenant; tenants not listed weigh {@link defaultWeight}. */
  weights?: Readonly<Record<string, number>>;
  /** Default 1. */
  defaultWeight?: number;
  /** Rate limit per tenant; tenants not listed are unlimited. */
  rateLimits?: Readonly<Record<string, RateLimit>>;
  /** Attempt capacity per link ID, in share units; links not listed have 1. */
  linkCapacity?: Readonly<Record<string, number>>;
  /** Link share a job reserves when it names none. Default 0.5: two jobs may share a link. */
  defaultLinkShare?: number;
}

/** A job's granted reservation. */
export interface Reservation {
  jobId: string;
  /** Link ID → share reserved. */
  links: Record<string, number>;
  /** Node ID → memory qubits reserved. */
  memoryQubits: Record<string, number>;
}

/** Occupancy of shared resources (M8 for the nodes' memories). */
export interface Occupancy {
  /** Per link: share reserved, capacity, and reserved / capacity in [0, 1]. */
  links: Record<string, { reserved: number; capacity: number; fraction: number }>;
  /** Per node: memory qubits reserved, qubits, and reserved / qubits in [0, 1] (0 for a node without qubits). */
  nodes: Record<string, { reservedQubits: number; qubits: number; fraction: number }>;
  /** Jobs waiting. */
  queued: number;
  /** Jobs holding a reservation. */
  running: number;
}

/** What {@link Scheduler.next} hands out: the job and what it holds. */
export interface Dispatch {
  job: SchedulableJob;
  reservation: Reservation;
}

interface Entry {
  job: SchedulableJob;
  seq: number;
  need: Reservation;
  /** `need` as parallel arrays, for {@link Scheduler.fits}. */
  linkIds: string[];
  linkShares: number[];
  nodeIds: string[];
  nodeQubits: number[];
}

interface Bucket {
  tokens: number;
  atMs: number;
}

/** Rounding slack when comparing summed shares to capacities. */
const EPS = 1e-9;

/**
 * Priority + weighted-fair scheduler with rate limits and resource reservations. Not thread-safe; one
 * instance per orchestrator. All methods are deterministic given their inputs.
 */
export class Scheduler {
  /** Waiting jobs by ID, in enqueue order. */
  private readonly queue = new Map<string, Entry>();
  /**
   * The same jobs by priority class (index 0–9), then by tenant, each tenant's in enqueue order: the
   * tenants' Maps are removed when they empty.
   */
  private readonly classes: Map<string, Map<string, Entry>>[] = Array.from({ length: 10 }, () => new Map());
  /** Number of waiting jobs per tenant (tenants with none are absent). */
  private readonly waiting = new Map<string, number>();
  private readonly running = new Map<string, Reservation>();
  private readonly virtualTime = new Map<string, number>();
  private readonly buckets = new Map<string, Bucket>();
  private readonly linkReserved = new Map<string, number>();
  private readonly nodeReserved = new Map<string, number>();
  private readonly linkCap = new Map<string, number>();
  private readonly nodeCap = new Map<string, number>();
  private seq = 0;
  /** Virtual time of the last dispatch: where a tenant that was idle re-enters. */
  private systemVirtualTime = 0;
  private lastNowMs = Number.NEGATIVE_INFINITY;

  constructor(
    topology: Topology,
    private readonly options: SchedulerOptions = {},
  ) {
    for (const l of topology.links) {
      const c = options.linkCapacity?.[l.id] ?? 1;
      if (!(c >= 0 && Number.isFinite(c)))
        throw new RangeError(`link ${l.id} capacity must be a finite number ≥ 0; got ${c}`);
      this.linkCap.set(l.id, c);
      this.linkReserved.set(l.id, 0);
    }
    for (const n of topology.nodes) {
      this.nodeCap.set(n.id, n.memory.qubits);
      this.nodeReserved.set(n.id, 0);
    }
    for (const [tenant, w] of Object.entries(options.weights ?? {}))
      if (!(w > 0 && Number.isFinite(w)))
        throw new RangeError(`weight of tenant ${tenant} must be a finite number > 0; got ${w}`);
    for (const [tenant, r] of Object.entries(options.rateLimits ?? {}))
      if (!(r.ratePerS > 0 && r.burst >= 1))
        throw new RangeError(
          `rate limit of tenant ${tenant} needs ratePerS > 0 and burst ≥ 1; got ${r.ratePerS}/s, burst ${r.burst}`,
        );
  }

  private weight(tenant: string): number {
    return this.options.weights?.[tenant] ?? this.options.defaultWeight ?? 1;
  }

  /**
   * Adds an admitted job to the queue.
   * @throws RangeError if the ID is already queued or running, or the job needs more than a link's or
   *   node's whole capacity (it could never start), or names unknown links or nodes.
   */
  enqueue(job: SchedulableJob): void {
    if (this.running.has(job.id) || this.queue.has(job.id))
      throw new RangeError(`job ${job.id} is already in the scheduler`);
    if (!(Number.isInteger(job.priority) && job.priority >= 0 && job.priority <= 9))
      throw new RangeError(`job ${job.id}: priority must be a whole number 0–9; got ${job.priority}`);
    const cost = job.cost ?? 1;
    if (!(cost > 0 && Number.isFinite(cost)))
      throw new RangeError(`job ${job.id}: cost must be a finite number > 0; got ${cost}`);
    const need = this.needOf(job);
    for (const [id, share] of Object.entries(need.links)) {
      const cap = this.linkCap.get(id);
      if (cap === undefined) throw new RangeError(`job ${job.id}: unknown link ${id}`);
      if (share > cap + EPS)
        throw new RangeError(
          `job ${job.id} needs ${share} of link ${id}'s attempt capacity but it has only ${cap}: it could never start`,
        );
    }
    for (const [id, q] of Object.entries(need.memoryQubits)) {
      const cap = this.nodeCap.get(id);
      if (cap === undefined) throw new RangeError(`job ${job.id}: unknown node ${id}`);
      if (q > cap)
        throw new RangeError(
          `job ${job.id} needs ${q} memory qubit(s) at node ${id} but it has only ${cap}: it could never start`,
        );
    }
    // A tenant with nothing waiting re-enters at the system virtual time (the start tag of the last
    // dispatch, as in start-time fair queuing): idling banks no credit, and past service beyond what
    // the others have had by now is not held against it.
    const t = job.tenant;
    if (!this.waiting.has(t))
      this.virtualTime.set(t, Math.max(this.virtualTime.get(t) ?? 0, this.systemVirtualTime));
    const links = Object.entries(need.links);
    const nodes = Object.entries(need.memoryQubits);
    const entry: Entry = {
      job,
      seq: this.seq++,
      need,
      linkIds: links.map(([id]) => id),
      linkShares: links.map(([, x]) => x),
      nodeIds: nodes.map(([id]) => id),
      nodeQubits: nodes.map(([, x]) => x),
    };
    this.queue.set(job.id, entry);
    const byTenant = this.classes[job.priority];
    let own = byTenant.get(t);
    if (own === undefined) {
      own = new Map();
      byTenant.set(t, own);
    }
    own.set(job.id, entry);
    this.waiting.set(t, (this.waiting.get(t) ?? 0) + 1);
  }

  /** Takes a waiting job out of the queue and its class. */
  private unqueue(e: Entry): void {
    const { id, tenant, priority } = e.job;
    this.queue.delete(id);
    const byTenant = this.classes[priority];
    const own = byTenant.get(tenant)!;
    own.delete(id);
    if (own.size === 0) byTenant.delete(tenant);
    const n = this.waiting.get(tenant)! - 1;
    if (n === 0) this.waiting.delete(tenant);
    else this.waiting.set(tenant, n);
  }

  private needOf(job: SchedulableJob): Reservation {
    const share = job.linkShare ?? this.options.defaultLinkShare ?? 0.5;
    if (!(share > 0 && share <= 1))
      throw new RangeError(`job ${job.id}: linkShare must be in (0, 1]; got ${share}`);
    const links: Record<string, number> = {};
    for (const id of job.links) links[id] = (links[id] ?? 0) + share;
    let memoryQubits: Record<string, number>;
    if (job.memoryQubits !== undefined) memoryQubits = { ...job.memoryQubits };
    else {
      memoryQubits = {};
      job.path.forEach((id, i) => {
        const end = i === 0 || i === job.path.length - 1;
        memoryQubits[id] = (memoryQubits[id] ?? 0) + (end ? 1 : 2);
      });
    }
    return { jobId: job.id, links, memoryQubits };
  }

  private fits(e: Entry): boolean {
    for (let i = 0; i < e.linkIds.length; i++) {
      const id = e.linkIds[i];
      if (this.linkReserved.get(id)! + e.linkShares[i] > this.linkCap.get(id)! + EPS) return false;
    }
    for (let i = 0; i < e.nodeIds.length; i++) {
      const id = e.nodeIds[i];
      if (this.nodeReserved.get(id)! + e.nodeQubits[i] > this.nodeCap.get(id)!) return false;
    }
    return true;
  }

  /** Refills every bucket to `nowMs`; time never runs backwards (an earlier `nowMs` counts as the last). */
  private bucket(tenant: string, nowMs: number): Bucket | undefined {
    const limit = this.options.rateLimits?.[tenant];
    if (limit === undefined) return undefined;
    let b = this.buckets.get(tenant);
    if (b === undefined) {
      b = { tokens: limit.burst, atMs: nowMs };
      this.buckets.set(tenant, b);
    }
    if (nowMs > b.atMs) {
      b.tokens = Math.min(limit.burst, b.tokens + ((nowMs - b.atMs) / 1000) * limit.ratePerS);
      b.atMs = nowMs;
    }
    return b;
  }

  /**
   * The next job to start at `nowMs` (ms on the injected clock), with its reservation taken, or null if
   * no waiting job may start now (none waiting, all rate-limited, or no reservation fits).
   */
  next(nowMs: number): Dispatch | null {
    if (!Number.isFinite(nowMs)) throw new RangeError(`nowMs must be a finite time in ms; got ${nowMs}`);
    nowMs = Math.max(nowMs, this.lastNowMs);
    this.lastNowMs = nowMs;
    // The highest class with a job that may start wins; within it the allowed tenant with the smallest
    // virtual time (ties by name), and of that tenant's jobs its oldest that fits (FIFO within a
    // tenant), so one blocked big job does not stop the tenant's small ones.
    const allowed = new Map<string, boolean>();
    for (const t of this.waiting.keys()) {
      const b = this.bucket(t, nowMs);
      allowed.set(t, b === undefined || b.tokens >= 1 - EPS);
    }
    let chosen: Entry | undefined;
    let chosenVt = 0;
    for (let p = this.classes.length - 1; p >= 0 && chosen === undefined; p--) {
      const byTenant = this.classes[p];
      if (byTenant.size === 0) continue;
      const order: { t: string; vt: number }[] = [];
      for (const t of byTenant.keys())
        if (allowed.get(t)) order.push({ t, vt: this.virtualTime.get(t) ?? 0 });
      order.sort((x, y) => (x.vt < y.vt ? -1 : x.vt > y.vt ? 1 : x.t < y.t ? -1 : x.t > y.t ? 1 : 0));
      for (const { t, vt } of order) {
        for (const e of byTenant.get(t)!.values())
          if (this.fits(e)) {
            chosen = e;
            chosenVt = vt;
            break;
          }
        if (chosen !== undefined) break;
      }
    }
    if (chosen === undefined) return null;
    const job = chosen.job;
    this.unqueue(chosen);
    const b = this.bucket(job.tenant, nowMs);
    if (b !== undefined) b.tokens -= 1;
    this.systemVirtualTime = Math.max(this.systemVirtualTime, chosenVt);
    this.virtualTime.set(job.tenant, chosenVt + (job.cost ?? 1) / this.weight(job.tenant));
    for (const [id, s] of Object.entries(chosen.need.links))
      this.linkReserved.set(id, this.linkReserved.get(id)! + s);
    for (const [id, q] of Object.entries(chosen.need.memoryQubits))
      this.nodeReserved.set(id, this.nodeReserved.get(id)! + q);
    this.running.set(job.id, chosen.need);
    return { job, reservation: copyReservation(chosen.need) };
  }

  /**
   * Gives back a running job's reservation (it finished, failed or was cancelled), or removes a job
   * still waiting. Returns false if the scheduler does not know the job.
   */
  release(jobId: string): boolean {
    const r = this.running.get(jobId);
    if (r !== undefined) {
      for (const [id, s] of Object.entries(r.links))
        this.linkReserved.set(id, Math.max(0, this.linkReserved.get(id)! - s));
      for (const [id, q] of Object.entries(r.memoryQubits))
        this.nodeReserved.set(id, this.nodeReserved.get(id)! - q);
      this.running.delete(jobId);
      return true;
    }
    const e = this.queue.get(jobId);
    if (e === undefined) return false;
    this.unqueue(e);
    return true;
  }

  /**
   * When a rate-limited tenant's bucket next holds a token, ms on the injected clock, or undefined when
   * no waiting job is held back by its rate limit. Lets a caller sleep until then.
   */
  nextTokenAtMs(nowMs: number): number | undefined {
    let at: number | undefined;
    for (const t of this.waiting.keys()) {
      const b = this.bucket(t, Math.max(nowMs, this.lastNowMs));
      const limit = this.options.rateLimits?.[t];
      if (b === undefined || limit === undefined || b.tokens >= 1 - EPS) continue;
      const when = b.atMs + ((1 - b.tokens) / limit.ratePerS) * 1000;
      at = at === undefined ? when : Math.min(at, when);
    }
    return at;
  }

  /** IDs of waiting jobs, in enqueue order. */
  queuedIds(): string[] {
    return [...this.queue.keys()];
  }

  /** IDs of jobs holding a reservation, in dispatch order. */
  runningIds(): string[] {
    return [...this.running.keys()];
  }

  /** Reserved versus available shares of every link and memory qubits of every node (M8). */
  occupancy(): Occupancy {
    const links: Occupancy["links"] = {};
    for (const [id, capacity] of this.linkCap) {
      const reserved = this.linkReserved.get(id)!;
      links[id] = { reserved, capacity, fraction: capacity > 0 ? reserved / capacity : 0 };
    }
    const nodes: Occupancy["nodes"] = {};
    for (const [id, qubits] of this.nodeCap) {
      const reservedQubits = this.nodeReserved.get(id)!;
      nodes[id] = { reservedQubits, qubits, fraction: qubits > 0 ? reservedQubits / qubits : 0 };
    }
    return { links, nodes, queued: this.queue.size, running: this.running.size };
  }
}

function copyReservation(r: Reservation): Reservation {
  return { jobId: r.jobId, links: { ...r.links }, memoryQubits: { ...r.memoryQubits } };
}

/**
 * The scheduler's view of an admitted job: its path and links from the admission decision, fair-share
 * cost = predicted seconds to finish (at least 1 ms, so that instant jobs still count), and — for a
 * trusted-node QKD path, which stores no pairs — no memory qubits.
 */
export function schedulableFromAdmission(
  job: { id: string; spec: { tenant: string; priority: number } },
  decision: Admitted,
  linkShare?: number,
): SchedulableJob {
  const out: SchedulableJob = {
    id: job.id,
    tenant: job.spec.tenant,
    priority: job.spec.priority,
    path: decision.path,
    links: decision.links,
    cost: Math.max(
      1e-3,
      Number.isFinite(decision.predicted.completionS) ? decision.predicted.completionS : 1,
    ),
  };
  if (linkShare !== undefined) out.linkShare = linkShare;
  if (decision.mode === "trusted") out.memoryQubits = {};
  return out;
}
