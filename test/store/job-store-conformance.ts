/**
 * The one conformance suite every {@link JobStore} backend runs (memory, SQLite, PostgreSQL): each
 * method and each guarantee of src/control/job-store.ts — the lifecycle enforced from the stored state,
 * history in order, optimistic concurrency, claim order and no double claims under concurrency,
 * deadline expiry, paging — and, for durable backends, survival across close and reopen.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { JobStore } from "../../src/control/job-store.js";
import {
  JOB_STATES,
  type JobRecord,
  type JobSpec,
  type JobSpecJson,
  type JobState,
  JobTransitionError,
  validateJobSpec,
} from "../../src/control/jobs.js";

/** What a backend's test file supplies besides `open`. */
export interface JobStoreConformanceOptions {
  /**
   * Closes `store` and opens the same storage again. Given by durable backends; the durability tests
   * are skipped without it.
   */
  reopen?: (store: JobStore) => Promise<JobStore>;
}

const T0 = 1_700_000_000_000;

/** A validated spec: a 1024-bit QKD job from a to b unless `fields` (API spelling) say otherwise. */
export function spec(fields: Partial<JobSpecJson> & Record<string, unknown> = {}): JobSpec {
  const r = validateJobSpec({ kind: "qkd", src: "a", dst: "b", key_bits: 1024, ...fields });
  if (!r.ok) throw new Error(`test spec is invalid: ${JSON.stringify(r.errors)}`);
  return r.spec;
}

/** Drives a job from queued to `state` along the main line (failed/expired/cancelled from running). */
async function driveTo(s: JobStore, id: string, state: JobState, atMs = T0 + 1): Promise<JobRecord> {
  const path: JobState[] = ["admitted", "reserved", "running"];
  const steps = path.slice(0, Math.max(0, path.indexOf(state) + 1));
  if (!["queued", ...path].includes(state)) steps.push(...path, state);
  let job = (await s.get(id))!;
  for (const to of steps) {
    const r = await s.transition({ id, to, atMs });
    if (r.status !== "ok") throw new Error(`driveTo: ${r.status}`);
    job = r.job;
  }
  return job;
}

/**
 * Declares the suite for one backend.
 * @param open a fresh, empty store for each test.
 */
export function describeJobStoreConformance(
  name: string,
  open: () => Promise<JobStore>,
  options: JobStoreConformanceOptions = {},
): void {
  describe(`JobStore conformance: ${name}`, () => {
    const live: JobStore[] = [];
    const fresh = async () => {
      const s = await open();
      live.push(s);
      return s;
    };
    const reopen = async (s: JobStore) => {
      const t = await options.reopen!(s);
      live.push(t);
      return t;
    };
    afterEach(async () => {
      for (const s of live.splice(0)) await s.close();
    });
    const durable = options.reopen ? it : it.skip;

    describe("create and get", () => {
      it("creates a queued job at version 1 with one history entry, and gets it back", async () => {
        const s = await fresh();
        const sp = spec({ deadline_s: 30, priority: 7, tenant: "lab" });
        const r = await s.create({ id: "j1", spec: sp, nowMs: T0, reason: "submitted by alice" });
        const expected: JobRecord = {
          id: "j1",
          spec: sp,
          state: "queued",
          history: [{ state: "queued", atMs: T0, reason: "submitted by alice" }],
          createdAtMs: T0,
          updatedAtMs: T0,
          deadlineAtMs: T0 + 30_000,
          version: 1,
        };
        expect(r).toEqual({ status: "created", job: expected });
        expect(await s.get("j1")).toEqual(expected);
        expect(await s.get("nope")).toBeNull();
        // Without a reason or deadline, neither field appears.
        const plain = (await s.create({ id: "j2", spec: spec(), nowMs: T0 + 0.5 })).job;
        expect(plain.history).toEqual([{ state: "queued", atMs: T0 + 0.5 }]);
        expect("deadlineAtMs" in plain).toBe(false);
        expect(Object.keys((await s.get("j2"))!).sort()).toEqual(
          ["createdAtMs", "history", "id", "spec", "state", "updatedAtMs", "version"].sort(),
        );
      });

      it("stores every kind's spec exactly as validated", async () => {
        const s = await fresh();
        const specs = [
          spec({ kind: "entanglement", pairs: 100, min_fidelity: 0.9, key_bits: undefined }),
          spec({ kind: "entanglement", rate_hz: 12.5, deadline_s: 0.25, key_bits: undefined }),
          spec({ kind: "teleportation", theta: Math.PI / 3, phi: 1e-7, key_bits: undefined, tenant: "t.1" }),
          spec({ key_bits: 2 ** 40, priority: 0 }),
        ];
        for (const [i, sp] of specs.entries()) await s.create({ id: `k${i}`, spec: sp, nowMs: T0 + i });
        for (const [i, sp] of specs.entries()) expect((await s.get(`k${i}`))!.spec).toEqual(sp);
        expect((await s.get("k1"))!.deadlineAtMs).toBe(T0 + 1 + 250);
      });

      it("answers a second create with the same ID with the existing job, unchanged", async () => {
        const s = await fresh();
        const first = (await s.create({ id: "dup", spec: spec(), nowMs: T0 })).job;
        const again = await s.create({ id: "dup", spec: spec({ key_bits: 9 }), nowMs: T0 + 5 });
        expect(again).toEqual({ status: "duplicate", job: first });
        expect((await s.list()).jobs.length).toBe(1);
      });

      it("rejects an invalid ID, spec or time, storing nothing", async () => {
        const s = await fresh();
        await expect(s.create({ id: "", spec: spec(), nowMs: T0 })).rejects.toThrow(/job ID must be/);
        await expect(s.create({ id: "a/b", spec: spec(), nowMs: T0 })).rejects.toThrow(RangeError);
        const bad = { ...spec(), keyBits: 0 } as JobSpec;
        await expect(s.create({ id: "x", spec: bad, nowMs: T0 })).rejects.toThrow(
          /invalid job spec: key_bits: key_bits must be a whole number of bits, at least 1; got 0/,
        );
        const same = { ...spec(), dst: "a" } as JobSpec;
        await expect(s.create({ id: "x", spec: same, nowMs: T0 })).rejects.toThrow(
          /dst must differ from src/,
        );
        await expect(s.create({ id: "x", spec: spec(), nowMs: Number.NaN })).rejects.toThrow(/nowMs/);
        await expect(
          s.create({ id: "x", spec: spec(), nowMs: T0, reason: "r".repeat(1001) }),
        ).rejects.toThrow(/reason must be at most 1000/);
        expect((await s.list()).jobs).toEqual([]);
      });

      it("hands out copies: changing a returned record never changes the store", async () => {
        const s = await fresh();
        const created = (await s.create({ id: "c", spec: spec(), nowMs: T0 })).job;
        created.state = "running";
        created.history.push({ state: "running", atMs: 0 });
        (created.spec as { src: string }).src = "zzz";
        const got = (await s.get("c"))!;
        expect(got.state).toBe("queued");
        expect(got.history.length).toBe(1);
        expect(got.spec.src).toBe("a");
        got.history.length = 0;
        expect((await s.get("c"))!.history.length).toBe(1);
      });
    });

    describe("transition", () => {
      it("walks the lifecycle, appending history in order and writing result and path with the step", async () => {
        const s = await fresh();
        await s.create({
          id: "j",
          spec: spec({ kind: "entanglement", pairs: 10, key_bits: undefined }),
          nowMs: T0,
        });
        const a = await s.transition({ id: "j", to: "admitted", atMs: T0 + 1, reason: "quota ok" });
        expect(a.status).toBe("ok");
        const r = await s.transition({ id: "j", to: "reserved", atMs: T0 + 2, path: ["a", "r1", "b"] });
        expect(r.status === "ok" && r.job.path).toEqual(["a", "r1", "b"]);
        await s.transition({ id: "j", to: "running", atMs: T0 + 3 });
        const result = {
          delivered: 10,
          fidelity: { count: 10, mean: 0.93, min: 0.9, max: 0.97, stdDev: 0.021 },
          durationNs: 1.5e9,
        };
        const done = await s.transition({ id: "j", to: "succeeded", atMs: T0 + 4, reason: "done", result });
        const expected: JobRecord = {
          id: "j",
          spec: spec({ kind: "entanglement", pairs: 10, key_bits: undefined }),
          state: "succeeded",
          history: [
            { state: "queued", atMs: T0 },
            { state: "admitted", atMs: T0 + 1, reason: "quota ok" },
            { state: "reserved", atMs: T0 + 2 },
            { state: "running", atMs: T0 + 3 },
            { state: "succeeded", atMs: T0 + 4, reason: "done" },
          ],
          createdAtMs: T0,
          updatedAtMs: T0 + 4,
          result,
          path: ["a", "r1", "b"],
          version: 5,
        };
        expect(done).toEqual({ status: "ok", job: expected });
        expect(await s.get("j")).toEqual(expected);
      });

      it("lets a reservation be given back (reserved → admitted) and taken again", async () => {
        const s = await fresh();
        await s.create({ id: "j", spec: spec(), nowMs: T0 });
        await driveTo(s, "j", "reserved");
        const back = await s.transition({ id: "j", to: "admitted", atMs: T0 + 2, reason: "link down" });
        expect(back.status === "ok" && back.job.state).toBe("admitted");
        await s.transition({ id: "j", to: "reserved", atMs: T0 + 3 });
        expect((await s.get("j"))!.history.map((h) => h.state)).toEqual([
          "queued",
          "admitted",
          "reserved",
          "admitted",
          "reserved",
        ]);
      });

      it("refuses a transition the lifecycle does not allow, from the stored state, changing nothing", async () => {
        const s = await fresh();
        await s.create({ id: "j", spec: spec(), nowMs: T0 });
        const before = await s.get("j");
        for (const to of ["reserved", "running", "succeeded", "queued"] as const) {
          const p = s.transition({ id: "j", to, atMs: T0 + 1 });
          await expect(p).rejects.toThrow(JobTransitionError);
          await expect(s.transition({ id: "j", to, atMs: T0 + 1 })).rejects.toThrow(
            `job 'j' cannot go from queued to ${to}: from queued it may go to admitted, cancelled, expired or failed`,
          );
        }
        expect(await s.get("j")).toEqual(before);
        const err = await s.transition({ id: "j", to: "running", atMs: T0 }).catch((e) => e);
        expect(err).toMatchObject({
          code: "JOB_ILLEGAL_TRANSITION",
          jobId: "j",
          from: "queued",
          to: "running",
        });
      });

      it("keeps every final state final", async () => {
        const s = await fresh();
        for (const end of ["succeeded", "failed", "expired", "cancelled"] as const) {
          await s.create({ id: end, spec: spec(), nowMs: T0 });
          await driveTo(s, end, end);
          const before = await s.get(end);
          for (const to of JOB_STATES)
            await expect(s.transition({ id: end, to, atMs: T0 + 9 })).rejects.toThrow(
              `job '${end}' is ${end}, which is final: it cannot go to ${to}`,
            );
          expect(await s.get(end)).toEqual(before);
        }
        // Any live state may be cancelled, fail or expire.
        for (const from of ["queued", "admitted", "reserved", "running"] as const)
          for (const to of ["cancelled", "failed", "expired"] as const) {
            const id = `${from}-${to}`;
            await s.create({ id, spec: spec(), nowMs: T0 });
            await driveTo(s, id, from);
            expect((await s.transition({ id, to, atMs: T0 + 5 })).status).toBe("ok");
          }
      });

      it("refuses a stale expectedVersion with the current record, writing nothing", async () => {
        const s = await fresh();
        const v1 = (await s.create({ id: "j", spec: spec(), nowMs: T0 })).job;
        const ok = await s.transition({ id: "j", to: "admitted", atMs: T0 + 1, expectedVersion: 1 });
        expect(ok.status).toBe("ok");
        const current = await s.get("j");
        expect(current!.version).toBe(v1.version + 1);
        // The caller still holds version 1 and tries to cancel: refused, even though cancel is legal.
        const stale = await s.transition({ id: "j", to: "cancelled", atMs: T0 + 2, expectedVersion: 1 });
        expect(stale).toEqual({ status: "conflict", job: current });
        expect(await s.get("j")).toEqual(current);
        // A conflict is reported before an illegal move: the caller's view is stale either way.
        expect((await s.transition({ id: "j", to: "running", atMs: T0, expectedVersion: 1 })).status).toBe(
          "conflict",
        );
      });

      it("answers not-found for an unknown job and rejects bad arguments", async () => {
        const s = await fresh();
        expect(await s.transition({ id: "nope", to: "admitted", atMs: T0 })).toEqual({ status: "not-found" });
        await s.create({ id: "j", spec: spec(), nowMs: T0 });
        await expect(s.transition({ id: "j", to: "done" as JobState, atMs: T0 })).rejects.toThrow(
          /unknown job state "done"/,
        );
        await expect(
          s.transition({ id: "j", to: "admitted", atMs: Number.POSITIVE_INFINITY }),
        ).rejects.toThrow(/atMs must be a finite time/);
        await expect(s.transition({ id: "j", to: "admitted", atMs: T0, expectedVersion: 0 })).rejects.toThrow(
          /expectedVersion must be a positive integer/,
        );
        await expect(s.transition({ id: "j", to: "admitted", atMs: T0, path: ["a", "c"] })).rejects.toThrow(
          "path must run from the job's src 'a' to its dst 'b'; got a > c",
        );
        expect((await s.get("j"))!.version).toBe(1);
      });

      it("applies concurrent transitions of one job one at a time, against the stored state", async () => {
        const s = await fresh();
        await s.create({ id: "j", spec: spec(), nowMs: T0 });
        const out = await Promise.allSettled(
          Array.from({ length: 12 }, (_, i) => s.transition({ id: "j", to: "admitted", atMs: T0 + i })),
        );
        expect(out.filter((o) => o.status === "fulfilled").length).toBe(1);
        for (const o of out) if (o.status === "rejected") expect(o.reason).toBeInstanceOf(JobTransitionError);
        const job = (await s.get("j"))!;
        expect(job.history.map((h) => h.state)).toEqual(["queued", "admitted"]);
        expect(job.version).toBe(2);
      });
    });

    describe("update", () => {
      it("sets and clears result and path, moving version and updatedAtMs but never the state", async () => {
        const s = await fresh();
        await s.create({ id: "j", spec: spec(), nowMs: T0 });
        const r1 = await s.update({
          id: "j",
          expectedVersion: 1,
          nowMs: T0 + 10,
          result: { keyBits: 512, keyIds: ["k1", "k2"] },
          path: ["a", "m", "b"],
        });
        expect(r1.status).toBe("ok");
        const j1 = (await s.get("j"))!;
        expect(j1).toMatchObject({
          state: "queued",
          version: 2,
          updatedAtMs: T0 + 10,
          result: { keyBits: 512, keyIds: ["k1", "k2"] },
          path: ["a", "m", "b"],
        });
        expect(j1.history).toEqual([{ state: "queued", atMs: T0 }]);
        const r2 = await s.update({ id: "j", expectedVersion: 2, nowMs: T0 + 11, result: null, path: null });
        expect(r2.status === "ok" && r2.job.version).toBe(3);
        const j2 = (await s.get("j"))!;
        expect("result" in j2 || "path" in j2).toBe(false);
        expect(r2.status === "ok" && r2.job).toEqual(j2);
      });

      it("refuses a stale version (no lost update) and answers not-found", async () => {
        const s = await fresh();
        await s.create({ id: "j", spec: spec(), nowMs: T0 });
        // Two writers read version 1 and write at once: exactly one wins.
        const [a, b] = await Promise.all([
          s.update({ id: "j", expectedVersion: 1, nowMs: T0 + 1, result: { delivered: 1 } }),
          s.update({ id: "j", expectedVersion: 1, nowMs: T0 + 2, result: { delivered: 2 } }),
        ]);
        expect([a.status, b.status].sort()).toEqual(["conflict", "ok"]);
        const winner = a.status === "ok" ? a.job : b.status === "ok" ? b.job : undefined;
        const loser = a.status === "conflict" ? a : b;
        expect(loser).toEqual({ status: "conflict", job: winner });
        expect(await s.get("j")).toEqual(winner);
        expect(await s.update({ id: "nope", expectedVersion: 1, nowMs: T0, result: {} })).toEqual({
          status: "not-found",
        });
      });

      it("rejects an empty or invalid update", async () => {
        const s = await fresh();
        await s.create({ id: "j", spec: spec(), nowMs: T0 });
        await expect(s.update({ id: "j", expectedVersion: 1, nowMs: T0 })).rejects.toThrow(
          "update needs at least one of result, path or claim",
        );
        await expect(s.update({ id: "j", expectedVersion: 1.5, nowMs: T0, result: {} })).rejects.toThrow(
          /expectedVersion/,
        );
        await expect(
          s.update({ id: "j", expectedVersion: 1, nowMs: T0, result: [] as unknown as object }),
        ).rejects.toThrow(/result must be an object/);
        await expect(s.update({ id: "j", expectedVersion: 1, nowMs: T0, path: ["a"] })).rejects.toThrow(
          /at least two node IDs/,
        );
        await expect(
          s.update({ id: "j", expectedVersion: 1, nowMs: T0, claim: { worker: "", untilMs: T0 } }),
        ).rejects.toThrow(/worker must be a non-empty string/);
        await s.transition({ id: "j", to: "cancelled", atMs: T0 + 1 });
        await expect(
          s.update({ id: "j", expectedVersion: 2, nowMs: T0, claim: { worker: "w", untilMs: T0 + 9 } }),
        ).rejects.toThrow("job 'j' is cancelled, which is final: it cannot be claimed");
        // A final job's result may still be written (e.g. statistics computed afterwards).
        expect(
          (await s.update({ id: "j", expectedVersion: 2, nowMs: T0 + 2, result: { delivered: 0 } })).status,
        ).toBe("ok");
      });
    });

    describe("list", () => {
      it("lists newest first and filters by state, tenant and kind", async () => {
        const s = await fresh();
        const mk = (id: string, at: number, fields: Partial<JobSpecJson> & Record<string, unknown>) =>
          s.create({ id, spec: spec(fields), nowMs: at });
        await mk("q1", T0 + 3, { tenant: "x" });
        await mk("e1", T0 + 1, { kind: "entanglement", pairs: 2, key_bits: undefined, tenant: "y" });
        await mk("t1", T0 + 2, { kind: "teleportation", theta: 1, phi: 2, key_bits: undefined, tenant: "x" });
        await mk("q2", T0 + 4, { tenant: "y" });
        await s.transition({ id: "q1", to: "admitted", atMs: T0 + 5 });
        await s.transition({ id: "t1", to: "cancelled", atMs: T0 + 5 });
        const ids = async (q: Parameters<JobStore["list"]>[0]) => (await s.list(q)).jobs.map((j) => j.id);
        expect(await ids({})).toEqual(["q2", "q1", "t1", "e1"]);
        expect(await ids({ state: "queued" })).toEqual(["q2", "e1"]);
        expect(await ids({ state: ["admitted", "cancelled"] })).toEqual(["q1", "t1"]);
        expect(await ids({ tenant: "x" })).toEqual(["q1", "t1"]);
        expect(await ids({ kind: "qkd" })).toEqual(["q2", "q1"]);
        expect(await ids({ tenant: "y", state: "queued", kind: "entanglement" })).toEqual(["e1"]);
        expect(await ids({ tenant: "nobody" })).toEqual([]);
        expect(await ids({ state: [] })).toEqual([]);
        // Listed records are complete, history included.
        expect((await s.list({ state: "admitted" })).jobs).toEqual([await s.get("q1")]);
      });

      it("pages with a cursor: every job once, ties in reverse creation order, stable while jobs are added", async () => {
        const s = await fresh();
        // 25 jobs, in groups of 5 created at the same millisecond.
        for (let i = 0; i < 25; i++)
          await s.create({
            id: `j${String(i).padStart(2, "0")}`,
            spec: spec(),
            nowMs: T0 + Math.floor(i / 5),
          });
        const expected = Array.from({ length: 25 }, (_, i) => `j${String(24 - i).padStart(2, "0")}`);
        const p1 = await s.list({ limit: 10 });
        expect(p1.jobs.map((j) => j.id)).toEqual(expected.slice(0, 10));
        expect(typeof p1.nextCursor).toBe("string");
        // A job submitted meanwhile is newer than every page already handed out: it shifts nothing.
        await s.create({ id: "late", spec: spec(), nowMs: T0 + 100 });
        const p2 = await s.list({ limit: 10, cursor: p1.nextCursor });
        expect(p2.jobs.map((j) => j.id)).toEqual(expected.slice(10, 20));
        const p3 = await s.list({ limit: 10, cursor: p2.nextCursor });
        expect(p3.jobs.map((j) => j.id)).toEqual(expected.slice(20));
        expect(p3.nextCursor).toBeUndefined();
        // Exactly a full last page: no cursor to an empty page.
        const all = await s.list({ limit: 26 });
        expect(all.jobs.length).toBe(26);
        expect(all.nextCursor).toBeUndefined();
        // Filters and cursors combine.
        const f1 = await s.list({ limit: 2, state: "queued" });
        const f2 = await s.list({ limit: 2, state: "queued", cursor: f1.nextCursor });
        expect([...f1.jobs, ...f2.jobs].map((j) => j.id)).toEqual(["late", ...expected.slice(0, 3)]);
      });

      it("returns at most 100 jobs by default and rejects a bad limit or cursor", async () => {
        const s = await fresh();
        for (let i = 0; i < 101; i++) await s.create({ id: `j${i}`, spec: spec(), nowMs: T0 + i });
        const page = await s.list();
        expect(page.jobs.length).toBe(100);
        expect(page.jobs[0].id).toBe("j100");
        expect((await s.list({ cursor: page.nextCursor })).jobs.map((j) => j.id)).toEqual(["j0"]);
        for (const limit of [0, -1, 1.5, 1001])
          await expect(s.list({ limit })).rejects.toThrow(/limit must be a whole number from 1 to 1000/);
        await expect(s.list({ cursor: "garbage" })).rejects.toThrow(/is not one this store gave/);
        await expect(s.list({ state: "nope" as JobState })).rejects.toThrow(/unknown job state "nope"/);
      });
    });

    describe("claimNext", () => {
      const claim = (s: JobStore, worker = "w1", nowMs = T0 + 100, leaseMs = 30_000) =>
        s.claimNext({ worker, nowMs, leaseMs });

      it("claims the highest priority first, then the oldest, then the first created", async () => {
        const s = await fresh();
        await s.create({ id: "low-old", spec: spec({ priority: 1 }), nowMs: T0 });
        await s.create({ id: "high-new", spec: spec({ priority: 8 }), nowMs: T0 + 20 });
        await s.create({ id: "high-old", spec: spec({ priority: 8 }), nowMs: T0 + 10 });
        await s.create({ id: "mid-tie-1", spec: spec(), nowMs: T0 + 5 });
        await s.create({ id: "mid-tie-2", spec: spec(), nowMs: T0 + 5 });
        await s.create({ id: "mid-older", spec: spec(), nowMs: T0 + 1 });
        const order: string[] = [];
        for (let j = await claim(s); j !== null; j = await claim(s)) order.push(j.id);
        expect(order).toEqual(["high-old", "high-new", "mid-older", "mid-tie-1", "mid-tie-2", "low-old"]);
      });

      it("sets the claim and a new version, leaving state and history alone", async () => {
        const s = await fresh();
        await s.create({ id: "j", spec: spec(), nowMs: T0 });
        const got = await claim(s, "sched-a", T0 + 7, 1000);
        const expected = { ...(await s.get("j"))! };
        expect(got).toEqual(expected);
        expect(got).toMatchObject({
          state: "queued",
          version: 2,
          updatedAtMs: T0 + 7,
          claim: { worker: "sched-a", untilMs: T0 + 1007 },
          history: [{ state: "queued", atMs: T0 }],
        });
        // The claim stays through the lifecycle and is cleared at a final state.
        await s.transition({ id: "j", to: "admitted", atMs: T0 + 8 });
        expect((await s.get("j"))!.claim).toEqual({ worker: "sched-a", untilMs: T0 + 1007 });
        await s.transition({ id: "j", to: "cancelled", atMs: T0 + 9 });
        expect("claim" in (await s.get("j"))!).toBe(false);
      });

      it("claims from queued and admitted only, or from the states asked for", async () => {
        const s = await fresh();
        for (const [i, st] of (
          ["queued", "admitted", "reserved", "running", "succeeded"] as const
        ).entries()) {
          await s.create({ id: st, spec: spec(), nowMs: T0 + i });
          await driveTo(s, st, st);
        }
        const adm = await s.claimNext({ worker: "w", nowMs: T0 + 50, leaseMs: 10, states: ["admitted"] });
        expect(adm?.id).toBe("admitted");
        expect(
          await s.claimNext({ worker: "w", nowMs: T0 + 50, leaseMs: 10, states: ["admitted"] }),
        ).toBeNull();
        expect((await claim(s, "w", T0 + 50))?.id).toBe("queued");
        expect(await claim(s, "w", T0 + 50)).toBeNull();
      });

      it("does not claim a claimed job until the claim lapses or is released", async () => {
        const s = await fresh();
        await s.create({ id: "j", spec: spec(), nowMs: T0 });
        const a = (await s.claimNext({ worker: "a", nowMs: T0, leaseMs: 1000 }))!;
        expect(await s.claimNext({ worker: "b", nowMs: T0 + 999, leaseMs: 1000 })).toBeNull();
        expect(await s.claimNext({ worker: "a", nowMs: T0 + 999, leaseMs: 1000 })).toBeNull();
        // Renewed by its holder: still held past the first lease.
        const renewed = await s.update({
          id: "j",
          expectedVersion: a.version,
          nowMs: T0 + 900,
          claim: { worker: "a", untilMs: T0 + 5000 },
        });
        expect(renewed.status).toBe("ok");
        expect(await s.claimNext({ worker: "b", nowMs: T0 + 4999, leaseMs: 1000 })).toBeNull();
        // Lapsed: another worker takes it over.
        const b = await s.claimNext({ worker: "b", nowMs: T0 + 5000, leaseMs: 1000 });
        expect(b?.claim).toEqual({ worker: "b", untilMs: T0 + 6000 });
        // Released: claimable again at once.
        await s.update({ id: "j", expectedVersion: b!.version, nowMs: T0 + 5001, claim: null });
        expect((await s.claimNext({ worker: "c", nowMs: T0 + 5002, leaseMs: 1000 }))?.claim?.worker).toBe(
          "c",
        );
      });

      it("passes over a job whose deadline has passed", async () => {
        const s = await fresh();
        await s.create({ id: "due", spec: spec({ priority: 9, deadline_s: 1 }), nowMs: T0 });
        await s.create({ id: "later", spec: spec({ priority: 1 }), nowMs: T0 });
        expect((await s.claimNext({ worker: "w", nowMs: T0 + 999, leaseMs: 1 }))?.id).toBe("due");
        expect((await s.claimNext({ worker: "w", nowMs: T0 + 1000, leaseMs: 1 }))?.id).toBe("later");
        expect(await s.claimNext({ worker: "w", nowMs: T0 + 1000, leaseMs: 1 })).toBeNull();
      });

      it("rejects bad arguments", async () => {
        const s = await fresh();
        await expect(s.claimNext({ worker: "", nowMs: T0, leaseMs: 1 })).rejects.toThrow(/worker/);
        await expect(s.claimNext({ worker: "w", nowMs: T0, leaseMs: 0 })).rejects.toThrow(
          "leaseMs must be a positive number of milliseconds; got 0",
        );
        await expect(
          s.claimNext({ worker: "w", nowMs: T0, leaseMs: 1, states: ["running" as "queued"] }),
        ).rejects.toThrow('claimNext claims from queued or admitted jobs only; got "running"');
        await expect(s.claimNext({ worker: "w", nowMs: T0, leaseMs: 1, states: [] })).rejects.toThrow(
          /at least one state/,
        );
      });

      it("never gives one job to two workers, however many claim at once", async () => {
        const s = await fresh();
        for (let i = 0; i < 30; i++)
          await s.create({ id: `j${i}`, spec: spec({ priority: i % 10 }), nowMs: T0 + i });
        const got = await Promise.all(
          Array.from({ length: 50 }, (_, i) =>
            s.claimNext({ worker: `w${i}`, nowMs: T0 + 100, leaseMs: 60_000 }),
          ),
        );
        const claimed = got.filter((j) => j !== null);
        expect(claimed.length).toBe(30);
        expect(new Set(claimed.map((j) => j.id)).size).toBe(30);
        // The store agrees: each job is held by the worker that received it.
        for (const [i, j] of got.entries())
          if (j !== null) expect((await s.get(j.id))!.claim?.worker).toBe(`w${i}`);
        expect(await s.claimNext({ worker: "late", nowMs: T0 + 100, leaseMs: 1 })).toBeNull();
      });
    });

    describe("expireOverdue", () => {
      it("expires live jobs past their deadline, earliest first, up to the limit", async () => {
        const s = await fresh();
        await s.create({ id: "d3", spec: spec({ deadline_s: 3 }), nowMs: T0 });
        await s.create({ id: "d1", spec: spec({ deadline_s: 1 }), nowMs: T0 });
        await s.create({ id: "d2-running", spec: spec({ deadline_s: 2 }), nowMs: T0 });
        await driveTo(s, "d2-running", "running");
        await s.create({ id: "d1-done", spec: spec({ deadline_s: 1 }), nowMs: T0 });
        await driveTo(s, "d1-done", "succeeded");
        await s.create({ id: "none", spec: spec(), nowMs: T0 });
        await s.create({ id: "d9", spec: spec({ deadline_s: 9 }), nowMs: T0 });
        const first = await s.expireOverdue({ nowMs: T0 + 3000, limit: 2 });
        expect(first.map((j) => j.id)).toEqual(["d1", "d2-running"]);
        expect(first[1].history.at(-1)).toEqual({
          state: "expired",
          atMs: T0 + 3000,
          reason: "deadline passed",
        });
        expect(first[1]).toEqual(await s.get("d2-running"));
        const rest = await s.expireOverdue({ nowMs: T0 + 3000, reason: "sweep" });
        expect(rest.map((j) => [j.id, j.state, j.history.at(-1)?.reason])).toEqual([
          ["d3", "expired", "sweep"],
        ]);
        expect(await s.expireOverdue({ nowMs: T0 + 3000 })).toEqual([]);
        const states = Object.fromEntries((await s.list()).jobs.map((j) => [j.id, j.state]));
        expect(states).toEqual({
          d3: "expired",
          d1: "expired",
          "d2-running": "expired",
          "d1-done": "succeeded",
          none: "queued",
          d9: "queued",
        });
      });
    });

    describe("counts", () => {
      it("counts jobs per state, in total and per tenant, every state present", async () => {
        const s = await fresh();
        const zero = Object.fromEntries(JOB_STATES.map((st) => [st, 0]));
        expect(await s.counts()).toEqual({ total: 0, byState: zero, byTenant: {} });
        await s.create({ id: "a1", spec: spec({ tenant: "alpha" }), nowMs: T0 });
        await s.create({ id: "a2", spec: spec({ tenant: "alpha" }), nowMs: T0 });
        await s.create({ id: "b1", spec: spec({ tenant: "beta" }), nowMs: T0 });
        await s.create({ id: "d1", spec: spec(), nowMs: T0 });
        await s.transition({ id: "a2", to: "admitted", atMs: T0 });
        await s.transition({ id: "b1", to: "cancelled", atMs: T0 });
        expect(await s.counts()).toEqual({
          total: 4,
          byState: { ...zero, queued: 2, admitted: 1, cancelled: 1 },
          byTenant: {
            alpha: { ...zero, queued: 1, admitted: 1 },
            beta: { ...zero, cancelled: 1 },
            default: { ...zero, queued: 1 },
          },
        });
        expect(await s.counts({ tenant: "alpha" })).toEqual({
          total: 2,
          byState: { ...zero, queued: 1, admitted: 1 },
          byTenant: { alpha: { ...zero, queued: 1, admitted: 1 } },
        });
        expect(await s.counts({ tenant: "nobody" })).toEqual({ total: 0, byState: zero, byTenant: {} });
      });
    });

    describe("close", () => {
      it("rejects every call after close; closing twice is fine", async () => {
        const s = await open();
        await s.create({ id: "j", spec: spec(), nowMs: T0 });
        await s.close();
        await s.close();
        const closed = /the job store is closed/;
        await expect(s.get("j")).rejects.toThrow(closed);
        await expect(s.create({ id: "k", spec: spec(), nowMs: T0 })).rejects.toThrow(closed);
        await expect(s.list()).rejects.toThrow(closed);
        await expect(s.update({ id: "j", expectedVersion: 1, nowMs: T0, result: {} })).rejects.toThrow(
          closed,
        );
        await expect(s.transition({ id: "j", to: "admitted", atMs: T0 })).rejects.toThrow(closed);
        await expect(s.claimNext({ worker: "w", nowMs: T0, leaseMs: 1 })).rejects.toThrow(closed);
        await expect(s.expireOverdue({ nowMs: T0 })).rejects.toThrow(closed);
        await expect(s.counts()).rejects.toThrow(closed);
      });
    });

    describe("durability", () => {
      durable(
        "everything written survives close and reopen, and work continues where it stopped",
        async () => {
          let s = await fresh();
          await s.create({
            id: "done",
            spec: spec({ kind: "entanglement", pairs: 3, key_bits: undefined }),
            nowMs: T0,
          });
          await driveTo(s, "done", "running");
          await s.transition({
            id: "done",
            to: "succeeded",
            atMs: T0 + 2,
            result: { delivered: 3, fidelity: { count: 3, mean: 0.95, min: 0.94, max: 0.96, stdDev: 0.01 } },
            path: ["a", "b"],
          });
          await s.create({ id: "held", spec: spec({ priority: 9, deadline_s: 60 }), nowMs: T0 + 3 });
          await s.claimNext({ worker: "w", nowMs: T0 + 4, leaseMs: 10_000 });
          for (let i = 0; i < 5; i++) await s.create({ id: `q${i}`, spec: spec(), nowMs: T0 + 10 + i });
          const page1 = await s.list({ limit: 3 });
          const before = {
            all: (await s.list()).jobs,
            counts: await s.counts(),
          };
          s = await reopen(s);
          expect((await s.list()).jobs).toEqual(before.all);
          expect(await s.counts()).toEqual(before.counts);
          // A cursor handed out before the restart still pages on.
          expect((await s.list({ limit: 3, cursor: page1.nextCursor })).jobs.map((j) => j.id)).toEqual([
            "q1",
            "q0",
            "held",
          ]);
          // The claim still holds; the lifecycle and versions continue.
          expect(
            await s.claimNext({ worker: "x", nowMs: T0 + 5, leaseMs: 1, states: ["queued"] }),
          ).toMatchObject({
            id: "q0",
          });
          const held = (await s.get("held"))!;
          expect(held.claim).toEqual({ worker: "w", untilMs: T0 + 10_004 });
          const moved = await s.transition({
            id: "held",
            to: "admitted",
            atMs: T0 + 6,
            expectedVersion: held.version,
          });
          expect(moved.status === "ok" && moved.job.version).toBe(3);
          await expect(s.transition({ id: "done", to: "failed", atMs: T0 + 7 })).rejects.toThrow(
            JobTransitionError,
          );
          // New jobs are newer than every job from before the restart.
          await s.create({ id: "after", spec: spec(), nowMs: T0 + 14 });
          expect((await s.list({ limit: 1 })).jobs[0].id).toBe("after");
        },
      );
    });
  });
}
