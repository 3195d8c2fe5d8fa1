/**
 * The one conformance suite every {@link KeyStore} backend runs (memory, SQLite, PostgreSQL): each
 * method and each guarantee of src/kms/key-store.ts, including concurrency (many calls in flight at
 * once never hand out a unit or key twice, nor lose one) and, for durable backends, survival across
 * close and reopen.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import type { AuditEvent, IssuedKey, KeyStore, KeyUnit } from "../../src/kms/key-store.js";
import { Rng } from "../../src/sim/rng.js";

/** What a backend's test file supplies besides `open`. */
export interface ConformanceOptions {
  /**
   * Closes `store` and opens the same storage again. Given by durable backends; the durability tests
   * are skipped without it.
   */
  reopen?: (store: KeyStore) => Promise<KeyStore>;
}

const T0 = 1_700_000_000_000;

/** `n` units of `bytes` random bytes, IDs `<prefix>:<i>`. */
export function makeUnits(prefix: string, n: number, bytes = 8): KeyUnit[] {
  return Array.from({ length: n }, (_, i) => ({ unitId: `${prefix}:${i}`, material: randomBytes(bytes) }));
}

function cat(...parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString("hex");
}

function issueArgs(pool: string, units: number, sizeBits = units * 64, keyId: string = randomUUID()) {
  return { pool, keyId, units, sizeBits, masterSae: "sae-m", slaveSaes: ["sae-s"], nowMs: T0 };
}

function reserveArgs(
  pool: string,
  unitIds: string[],
  keyId: string,
  slaveSaes = ["sae-s"],
  sizeBits?: number,
) {
  return {
    pool,
    keyId,
    unitIds,
    sizeBits: sizeBits ?? unitIds.length * 64,
    masterSae: "sae-m",
    slaveSaes,
    nowMs: T0,
  };
}

function materialArgs(keyId: string, material: Uint8Array, slaveSaes = ["sae-s"], sizeBits?: number) {
  return {
    keyId,
    material,
    sizeBits: sizeBits ?? material.length * 8,
    masterSae: "sae-m",
    slaveSaes,
    origin: "relay:a>b>c",
    nowMs: T0,
  };
}

function byKeyId(keys: IssuedKey[]): IssuedKey[] {
  return [...keys].sort((a, b) => (a.keyId < b.keyId ? -1 : 1));
}

/**
 * Declares the suite for one backend.
 * @param open a fresh, empty store for each test.
 * @param cleanup run once after the suite (e.g. stop a database server, delete files).
 */
export function describeKeyStoreConformance(
  name: string,
  open: () => Promise<KeyStore>,
  cleanup?: () => Promise<void>,
  options: ConformanceOptions = {},
): void {
  describe(`KeyStore conformance: ${name}`, () => {
    const live: KeyStore[] = [];
    const fresh = async () => {
      const s = await open();
      live.push(s);
      return s;
    };
    const reopen = async (s: KeyStore) => {
      const t = await options.reopen!(s);
      live.push(t);
      return t;
    };
    afterEach(async () => {
      for (const s of live.splice(0)) await s.close();
    });
    if (cleanup) afterAll(cleanup);
    const durable = options.reopen ? it : it.skip;

    describe("units and pool levels", () => {
      it("counts available units and bits per pool and direction, pools in name order", async () => {
        const s = await fresh();
        await s.addUnits("b-pool", "local", makeUnits("b", 3, 8), T0);
        await s.addUnits("a-pool", "local", makeUnits("a", 2, 4), T0);
        await s.addUnits("a-pool", "peer", makeUnits("ap", 5, 8), T0);
        await s.addUnits("c-pool", "peer", [], T0); // an empty batch still makes the pool known
        expect(await s.poolLevels()).toEqual([
          { pool: "a-pool", local: { units: 2, bits: 64 }, peer: { units: 5, bits: 320 } },
          { pool: "b-pool", local: { units: 3, bits: 192 }, peer: { units: 0, bits: 0 } },
          { pool: "c-pool", local: { units: 0, bits: 0 }, peer: { units: 0, bits: 0 } },
        ]);
        expect(await s.poolLevels("b-pool")).toEqual([
          { pool: "b-pool", local: { units: 3, bits: 192 }, peer: { units: 0, bits: 0 } },
        ]);
        expect(await s.poolLevels("nope")).toEqual([]);
      });

      it("rejects a unit ID already present, in any pool or direction, adding nothing of the batch", async () => {
        const s = await fresh();
        await s.addUnits("p", "local", makeUnits("u", 2), T0);
        const clash = [{ unitId: "fresh", material: randomBytes(8) }, makeUnits("u", 2)[1]];
        await expect(s.addUnits("q", "peer", clash, T0)).rejects.toThrow(
          /unit 'u:1' is already in the key store/,
        );
        await expect(s.addUnits("p", "local", clash, T0)).rejects.toThrow(/u:1/);
        // A unit held by a pending key is still present.
        expect(await s.issueLocal(issueArgs("p", 1))).not.toBeNull();
        await expect(s.addUnits("p", "local", makeUnits("u", 1), T0)).rejects.toThrow(/u:0/);
        // Twice in one batch.
        const twice = [
          { unitId: "x", material: randomBytes(8) },
          { unitId: "x", material: randomBytes(8) },
        ];
        await expect(s.addUnits("p", "local", twice, T0)).rejects.toThrow(/twice/);
        await expect(
          s.addUnits("p", "local", [{ unitId: "e", material: new Uint8Array(0) }], T0),
        ).rejects.toThrow(/no key material/);
        expect(await s.poolLevels()).toEqual([
          { pool: "p", local: { units: 1, bits: 64 }, peer: { units: 0, bits: 0 } },
        ]);
      });
    });

    describe("issueLocal, confirm, release", () => {
      it("issues the oldest local units first (FIFO) and returns their material", async () => {
        const s = await fresh();
        const units = makeUnits("u", 5);
        await s.addUnits("p", "local", units.slice(0, 3), T0);
        await s.addUnits("p", "peer", makeUnits("peer", 4), T0);
        await s.addUnits("p", "local", units.slice(3), T0);
        const a = await s.issueLocal({ ...issueArgs("p", 2, 128, "key-a"), slaveSaes: ["s1", "s2", "s1"] });
        expect(a?.key).toEqual({
          keyId: "key-a",
          pool: "p",
          unitIds: ["u:0", "u:1"],
          sizeBits: 128,
          masterSae: "sae-m",
          slaveSaes: ["s1", "s2"],
          createdAtMs: T0,
        });
        expect(hex(a!.material)).toBe(hex(cat(units[0].material, units[1].material)));
        const b = await s.issueLocal(issueArgs("p", 3));
        expect(b?.key.unitIds).toEqual(["u:2", "u:3", "u:4"]);
        expect(hex(b!.material)).toBe(hex(cat(units[2].material, units[3].material, units[4].material)));
        const [level] = await s.poolLevels("p");
        expect(level.local).toEqual({ units: 0, bits: 0 });
        expect(level.peer).toEqual({ units: 4, bits: 256 }); // issueLocal never touches the peer direction
      });

      it("cuts the material to sizeBits, clearing the bits past it", async () => {
        const s = await fresh();
        const units = [
          { unitId: "u0", material: new Uint8Array(8).fill(0xff) },
          { unitId: "u1", material: new Uint8Array(8).fill(0xff) },
        ];
        await s.addUnits("p", "local", units, T0);
        const r = await s.issueLocal(issueArgs("p", 2, 100));
        expect(r!.key.sizeBits).toBe(100);
        expect(r!.material.length).toBe(13);
        expect(r!.material[12]).toBe(0xf0);
        expect([...r!.material.subarray(0, 12)].every((b) => b === 0xff)).toBe(true);
      });

      it("returns null when the pool has too few units, taking nothing", async () => {
        const s = await fresh();
        await s.addUnits("p", "local", makeUnits("u", 3), T0);
        expect(await s.issueLocal(issueArgs("p", 4))).toBeNull();
        expect(await s.issueLocal(issueArgs("unknown", 1))).toBeNull();
        // More bits than the units hold is a caller's error; it too takes nothing.
        await expect(s.issueLocal(issueArgs("p", 1, 65))).rejects.toThrow(RangeError);
        expect((await s.poolLevels("p"))[0].local.units).toBe(3);
        expect(await s.pendingIssued()).toEqual([]);
        const r = await s.issueLocal(issueArgs("p", 3));
        expect(r?.key.unitIds).toEqual(["u:0", "u:1", "u:2"]);
      });

      it("rejects invalid arguments and an existing key ID", async () => {
        const s = await fresh();
        await s.addUnits("p", "local", makeUnits("u", 4), T0);
        await expect(s.issueLocal(issueArgs("p", 0))).rejects.toThrow(/units must be a positive integer/);
        await expect(s.issueLocal({ ...issueArgs("p", 1), slaveSaes: [] })).rejects.toThrow(/slave/);
        await s.issueLocal(issueArgs("p", 1, 64, "k"));
        await expect(s.issueLocal(issueArgs("p", 1, 64, "k"))).rejects.toThrow(/key 'k' already exists/);
        expect((await s.poolLevels("p"))[0].local.units).toBe(3);
      });

      it("keeps issued keys pending until confirmed; confirm deletes the units for good", async () => {
        const s = await fresh();
        await s.addUnits("p", "local", makeUnits("u", 4), T0);
        const a = await s.issueLocal(issueArgs("p", 2, 128, "ka"));
        const b = await s.issueLocal(issueArgs("p", 1, 64, "kb"));
        expect(byKeyId(await s.pendingIssued())).toEqual([a!.key, b!.key]);
        await s.confirmIssued("ka", T0 + 1);
        expect(await s.pendingIssued()).toEqual([b!.key]);
        await s.confirmIssued("ka", T0 + 2); // a retry is harmless
        // The confirmed key's units are gone: neither available nor releasable.
        expect((await s.poolLevels("p"))[0].local.units).toBe(1);
        await expect(s.releaseIssued("ka", T0)).rejects.toThrow(/not pending/);
        await expect(s.confirmIssued("never-issued", T0)).rejects.toThrow(/no pending key 'never-issued'/);
        // Their IDs may be supplied again only as new units (the old material is deleted).
        await s.addUnits("p", "local", [{ unitId: "u:0", material: randomBytes(8) }], T0);
        expect((await s.poolLevels("p"))[0].local.units).toBe(2);
      });

      it("release returns the units to their places at the head of the queue, in order", async () => {
        const s = await fresh();
        const units = makeUnits("u", 6);
        await s.addUnits("p", "local", units, T0);
        await s.issueLocal(issueArgs("p", 2, 128, "ka")); // u0 u1
        await s.issueLocal(issueArgs("p", 2, 128, "kb")); // u2 u3
        await s.releaseIssued("kb", T0);
        await s.releaseIssued("ka", T0);
        await s.releaseIssued("ka", T0); // a retry is harmless
        expect(await s.pendingIssued()).toEqual([]);
        expect((await s.poolLevels("p"))[0].local).toEqual({ units: 6, bits: 384 });
        const c = await s.issueLocal(issueArgs("p", 5, 320, "kc"));
        expect(c!.key.unitIds).toEqual(["u:0", "u:1", "u:2", "u:3", "u:4"]);
        expect(hex(c!.material)).toBe(hex(cat(...units.slice(0, 5).map((u) => u.material))));
        // A released key ID is forgotten: it may be issued again.
        expect(await s.issueLocal(issueArgs("p", 1, 64, "ka"))).not.toBeNull();
        await expect(s.confirmIssued("kb", T0)).rejects.toThrow(/no pending key/);
      });

      durable("pending keys survive close and reopen, and can then be confirmed or released", async () => {
        let s = await fresh();
        await s.addUnits("p", "local", makeUnits("u", 5), T0);
        const a = await s.issueLocal(issueArgs("p", 2, 128, "ka"));
        const b = await s.issueLocal({ ...issueArgs("p", 2, 100, "kb"), slaveSaes: ["x", "y"] });
        s = await reopen(s);
        expect(byKeyId(await s.pendingIssued())).toEqual([a!.key, b!.key]);
        await s.releaseIssued("ka", T0);
        await s.confirmIssued("kb", T0);
        expect(await s.pendingIssued()).toEqual([]);
        const c = await s.issueLocal(issueArgs("p", 3, 192, "kc"));
        expect(c!.key.unitIds).toEqual(["u:0", "u:1", "u:4"]);
        expect(hex(c!.material.subarray(0, 16))).toBe(hex(a!.material));
      });
    });

    describe("confirm and release with their audit records", () => {
      const issuedEvent = (keyIds: string[]): AuditEvent => ({
        atMs: T0 + 7,
        kind: "issued",
        actor: "sae-m",
        pool: "p",
        keyIds,
        bits: 64 * keyIds.length,
        detail: "slaves=sae-s",
      });

      it("confirms several keys and appends the audit event in one step, all or nothing", async () => {
        const s = await fresh();
        await s.addUnits("p", "local", makeUnits("u", 4), T0);
        await s.issueLocal(issueArgs("p", 1, 64, "ka"));
        await s.issueLocal(issueArgs("p", 1, 64, "kb"));
        await s.issueLocal(issueArgs("p", 1, 64, "kc"));
        // One key that was never issued: nothing is confirmed and nothing audited.
        await expect(s.confirmIssued(["ka", "nope", "kb"], T0, issuedEvent(["ka", "kb"]))).rejects.toThrow(
          /no pending key 'nope'/,
        );
        expect((await s.pendingIssued()).map((k) => k.keyId).sort()).toEqual(["ka", "kb", "kc"]);
        expect(await s.queryAudit()).toEqual([]);
        // A malformed event is rejected before anything changes.
        await expect(
          s.confirmIssued(["ka"], T0, { ...issuedEvent(["ka"]), kind: "bogus" as "issued" }),
        ).rejects.toThrow(/unknown audit event kind/);
        expect(await s.pendingIssued()).toHaveLength(3);

        await s.confirmIssued(["ka", "kb"], T0, issuedEvent(["ka", "kb"]));
        expect((await s.pendingIssued()).map((k) => k.keyId)).toEqual(["kc"]);
        const [event] = await s.queryAudit();
        expect(event).toMatchObject({ ...issuedEvent(["ka", "kb"]) });
        expect((await s.poolLevels("p"))[0].local.units).toBe(1);
        // A retry (one already confirmed, one pending) confirms the rest and records again.
        await s.confirmIssued(["kb", "kc"], T0, issuedEvent(["kb", "kc"]));
        expect(await s.pendingIssued()).toEqual([]);
        expect(await s.queryAudit({ kind: "issued" })).toHaveLength(2);
        // A single ID still works, with or without an event.
        await s.issueLocal(issueArgs("p", 1, 64, "kd"));
        await s.confirmIssued("kd", T0);
        expect(await s.queryAudit()).toHaveLength(2);
      });

      it("releases a key and appends the audit event in one step; a refused release records nothing", async () => {
        const s = await fresh();
        await s.addUnits("p", "local", makeUnits("u", 2), T0);
        await s.issueLocal(issueArgs("p", 1, 64, "ka"));
        await s.issueLocal(issueArgs("p", 1, 64, "kb"));
        await s.confirmIssued("kb", T0);
        const released: AuditEvent = {
          atMs: T0,
          kind: "released",
          actor: "kme-a",
          pool: "p",
          keyIds: ["ka"],
        };
        await s.releaseIssued("ka", T0, released);
        expect((await s.poolLevels("p"))[0].local.units).toBe(1);
        expect(await s.queryAudit()).toEqual([expect.objectContaining(released)]);
        await expect(s.releaseIssued("kb", T0, { ...released, keyIds: ["kb"] })).rejects.toThrow(
          /not pending/,
        );
        expect(await s.queryAudit()).toHaveLength(1);
      });

      it("reservePeer appends its audit event only when the reservation is made", async () => {
        const s = await fresh();
        await s.addUnits("p", "peer", makeUnits("v", 2), T0);
        const reserved = (keyId: string): AuditEvent => ({
          atMs: T0,
          kind: "reserved",
          actor: "kme-a",
          pool: "p",
          keyIds: [keyId],
          bits: 64,
        });
        expect(await s.reservePeer({ ...reserveArgs("p", ["v:0"], "k1"), audit: reserved("k1") })).toBe("ok");
        expect(await s.reservePeer({ ...reserveArgs("p", ["v:0"], "k2"), audit: reserved("k2") })).toBe(
          "missing-units",
        );
        expect(await s.reservePeer({ ...reserveArgs("p", ["v:1"], "k1"), audit: reserved("k1") })).toBe(
          "duplicate-key",
        );
        const events = await s.queryAudit();
        expect(events).toEqual([expect.objectContaining(reserved("k1"))]);
      });
    });

    describe("voidUnlessReserved", () => {
      it("is true for a key reserved here from the pool, before and after it is taken", async () => {
        const s = await fresh();
        await s.addUnits("p", "peer", makeUnits("v", 2), T0);
        expect(await s.reservePeer(reserveArgs("p", ["v:0"], "k"))).toBe("ok");
        expect(await s.voidUnlessReserved("p", "k", T0)).toBe(true);
        expect(await s.reservedCount()).toBe(1); // asking changes nothing
        expect((await s.takeReserved(["k"], "sae-s", T0)).status).toBe("ok");
        expect(await s.voidUnlessReserved("p", "k", T0)).toBe(true);
        // Another pool's key of that ID, a relayed key or a key issued here is not this reservation.
        expect(await s.voidUnlessReserved("q", "k", T0)).toBe(false);
        await s.reserveMaterial(materialArgs("relayed", randomBytes(8)));
        expect(await s.voidUnlessReserved("p", "relayed", T0)).toBe(false);
        expect(await s.reservedCount()).toBe(1);
        expect((await s.takeReserved(["relayed"], "sae-s", T0)).status).toBe("ok");
        await s.addUnits("p", "local", makeUnits("u", 1), T0);
        await s.issueLocal(issueArgs("p", 1, 64, "mine"));
        expect(await s.voidUnlessReserved("p", "mine", T0)).toBe(false);
        expect(await s.pendingIssued()).toHaveLength(1); // left as it was
      });

      it("voids an unknown key ID: a late reservation of it is a duplicate and takes nothing", async () => {
        const s = await fresh();
        await s.addUnits("p", "peer", makeUnits("v", 2), T0);
        await s.addUnits("p", "local", makeUnits("u", 1), T0);
        expect(await s.voidUnlessReserved("p", "late", T0)).toBe(false);
        expect(await s.voidUnlessReserved("p", "late", T0)).toBe(false); // asking again is harmless
        expect(await s.reservePeer(reserveArgs("p", ["v:0"], "late"))).toBe("duplicate-key");
        expect(await s.reserveMaterial(materialArgs("late", randomBytes(8)))).toBe("duplicate-key");
        expect((await s.poolLevels("p"))[0].peer.units).toBe(2);
        expect(await s.reservedCount()).toBe(0);
        expect(await s.takeReserved(["late"], "sae-s", T0)).toEqual({
          status: "not-found",
          keyIds: ["late"],
        });
        // Known like a confirmed key: never reused, nothing pending, nothing to release.
        await expect(s.issueLocal(issueArgs("p", 1, 64, "late"))).rejects.toThrow(/already exists/);
        await s.confirmIssued("late", T0);
        await expect(s.releaseIssued("late", T0)).rejects.toThrow(/not pending/);
        expect(await s.pendingIssued()).toEqual([]);
        // The units the late reservation named are still there for a reservation under a new ID.
        expect(await s.reservePeer(reserveArgs("p", ["v:0"], "retry"))).toBe("ok");
      });

      it("races with a reservation of the same key ID: exactly one of them wins", async () => {
        const s = await fresh();
        await s.addUnits("p", "peer", makeUnits("v", 40), T0);
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            Promise.all([
              s.reservePeer(reserveArgs("p", [`v:${2 * i}`, `v:${2 * i + 1}`], `k${i}`)),
              s.voidUnlessReserved("p", `k${i}`, T0),
            ]),
          ),
        );
        let reserved = 0;
        for (const [outcome, exists] of results) {
          // Either the reservation came first (and exists says so) or the void did (and it is refused).
          expect([outcome, exists]).toSatisfy(
            ([o, e]: [string, boolean]) => (o === "ok" && e) || (o === "duplicate-key" && !e),
          );
          if (outcome === "ok") reserved++;
        }
        expect(await s.reservedCount()).toBe(reserved);
        expect((await s.poolLevels("p"))[0].peer.units).toBe(40 - 2 * reserved);
      });

      durable("a voided key ID stays void after reopen", async () => {
        let s = await fresh();
        await s.addUnits("p", "peer", makeUnits("v", 1), T0);
        expect(await s.voidUnlessReserved("p", "gone", T0)).toBe(false);
        s = await reopen(s);
        expect(await s.reservePeer(reserveArgs("p", ["v:0"], "gone"))).toBe("duplicate-key");
        expect((await s.poolLevels("p"))[0].peer.units).toBe(1);
      });
    });

    describe("calls in flight together (group commit)", () => {
      it("each call succeeds or fails on its own: a failing call takes nothing and spoils no other", async () => {
        const s = await fresh();
        await s.addUnits("p", "local", makeUnits("u", 10), T0);
        await s.addUnits("p", "peer", makeUnits("v", 4), T0);
        await s.issueLocal(issueArgs("p", 1, 64, "taken-id"));
        const calls = await Promise.allSettled([
          s.issueLocal(issueArgs("p", 2, 128, "k1")),
          s.issueLocal(issueArgs("p", 2, 128, "taken-id")), // throws: the key ID exists
          s.issueLocal(issueArgs("p", 2, 129, "k2")), // throws: more bits than the units hold
          s.reservePeer(reserveArgs("p", ["v:0", "v:1"], "r1")),
          s.confirmIssued("never-issued", T0), // throws
          s.issueLocal(issueArgs("p", 2, 128, "k3")),
          s.appendAudit({ atMs: T0, kind: "supplied", actor: "qkd", pool: "p", bits: 64 }),
        ]);
        expect(calls.map((c) => c.status)).toEqual([
          "fulfilled",
          "rejected",
          "rejected",
          "fulfilled",
          "rejected",
          "fulfilled",
          "fulfilled",
        ]);
        const ids = (await s.pendingIssued()).map((k) => k.keyId).sort();
        expect(ids).toEqual(["k1", "k3", "taken-id"]);
        // The failed issues took no units: k1 and k3 hold the next four, in order.
        const k3 = (await s.pendingIssued()).find((k) => k.keyId === "k3")!;
        expect(k3.unitIds).toEqual(["u:3", "u:4"]);
        expect((await s.poolLevels("p"))[0]).toEqual({
          pool: "p",
          local: { units: 5, bits: 320 },
          peer: { units: 2, bits: 128 },
        });
        expect(await s.queryAudit()).toHaveLength(1);
      });

      durable("every call that resolved, of many in flight at once, survives close and reopen", async () => {
        let s = await fresh();
        await s.addUnits("p", "local", makeUnits("u", 60), T0);
        await s.addUnits("p", "peer", makeUnits("v", 60), T0);
        for (let i = 0; i < 20; i++) await s.reserveMaterial(materialArgs(`m${i}`, randomBytes(8)));
        const calls: Promise<unknown>[] = [];
        for (let i = 0; i < 30; i++) {
          calls.push(
            s.issueLocal(issueArgs("p", 2, 128, `k${i}`)).then(async (r) => {
              if (i % 3 === 0)
                await s.confirmIssued(r!.key.keyId, T0, { atMs: T0, kind: "issued", actor: "m" });
              else if (i % 3 === 1) await s.releaseIssued(r!.key.keyId, T0);
              return r;
            }),
          );
          calls.push(s.reservePeer(reserveArgs("p", [`v:${2 * i}`, `v:${2 * i + 1}`], `r${i}`)));
        }
        for (let i = 0; i < 20; i++)
          calls.push(s.takeReserved([`m${i}`], "sae-s", T0, { kind: "delivered", actor: "sae-s" }));
        const results = await Promise.all(calls);
        expect(results.every((r) => r !== null)).toBe(true);
        const levels = await s.poolLevels();
        const pending = byKeyId(await s.pendingIssued());
        const audit = await s.queryAudit();
        expect(pending).toHaveLength(10);
        expect(audit.filter((e) => e.kind === "issued")).toHaveLength(10);
        expect(audit.filter((e) => e.kind === "delivered")).toHaveLength(20);

        s = await reopen(s);
        expect(await s.poolLevels()).toEqual(levels);
        expect(byKeyId(await s.pendingIssued())).toEqual(pending);
        expect(await s.queryAudit()).toEqual(audit);
        expect(await s.reservedCount()).toBe(30);
        expect(await s.takeReserved(["m0"], "sae-s", T0)).toEqual({ status: "not-found", keyIds: ["m0"] });
      });

      it("close commits the calls already in flight", async () => {
        const s = await open();
        await s.addUnits("p", "local", makeUnits("u", 4), T0);
        const issuing = s.issueLocal(issueArgs("p", 2, 128, "k"));
        const closing = s.close();
        expect((await issuing)?.key.unitIds).toEqual(["u:0", "u:1"]);
        await closing;
        await expect(s.issueLocal(issueArgs("p", 1))).rejects.toThrow(/closed/);
      });
    });

    describe("reservations at the slave's KME", () => {
      it("reservePeer takes the named peer units, in the order named, for the slaves", async () => {
        const s = await fresh();
        const units = makeUnits("v", 4);
        await s.addUnits("p", "peer", units, T0);
        expect(await s.reservePeer(reserveArgs("p", ["v:2", "v:0"], "k1", ["s1"], 120))).toBe("ok");
        expect(await s.poolLevels("p")).toEqual([
          { pool: "p", local: { units: 0, bits: 0 }, peer: { units: 2, bits: 128 } },
        ]);
        expect(await s.reservedCount()).toBe(1);
        expect(await s.reservedCount("s1")).toBe(1);
        const r = await s.takeReserved(["k1"], "s1", T0);
        const want = cat(units[2].material, units[0].material).subarray(0, 15);
        expect(r.status).toBe("ok");
        if (r.status !== "ok") return;
        expect(r.keys.map((k) => ({ ...k, material: hex(k.material) }))).toEqual([
          { keyId: "k1", sizeBits: 120, material: hex(want) },
        ]);
      });

      it("reservePeer answers missing-units, taking nothing, unless every unit is available in peer", async () => {
        const s = await fresh();
        await s.addUnits("p", "peer", makeUnits("v", 3), T0);
        await s.addUnits("p", "local", makeUnits("l", 1), T0);
        await s.addUnits("q", "peer", makeUnits("w", 1), T0);
        expect(await s.reservePeer(reserveArgs("p", ["v:0", "nope"], "k"))).toBe("missing-units");
        expect(await s.reservePeer(reserveArgs("p", ["v:0", "l:0"], "k"))).toBe("missing-units"); // local direction
        expect(await s.reservePeer(reserveArgs("p", ["v:0", "w:0"], "k"))).toBe("missing-units"); // another pool
        expect(await s.reservePeer(reserveArgs("p", ["v:0", "v:0"], "k"))).toBe("missing-units"); // named twice
        expect(await s.reservePeer(reserveArgs("nope", ["v:0"], "k"))).toBe("missing-units");
        expect((await s.poolLevels("p"))[0].peer.units).toBe(3);
        expect(await s.reservedCount()).toBe(0);
        // The failed attempts created no key: the same key ID still works.
        expect(await s.reservePeer(reserveArgs("p", ["v:0"], "k"))).toBe("ok");
        expect(await s.reservePeer(reserveArgs("p", ["v:0", "v:1"], "k2"))).toBe("missing-units"); // v:0 used
        expect((await s.poolLevels("p"))[0].peer.units).toBe(2);
      });

      it("reservePeer and reserveMaterial answer duplicate-key for a key ID in use, taking nothing", async () => {
        const s = await fresh();
        await s.addUnits("p", "peer", makeUnits("v", 4), T0);
        await s.addUnits("p", "local", makeUnits("u", 1), T0);
        expect(await s.reservePeer(reserveArgs("p", ["v:0"], "k"))).toBe("ok");
        expect(await s.reservePeer(reserveArgs("p", ["v:1"], "k"))).toBe("duplicate-key");
        // A retried reservation whose units are gone is still reported as the duplicate it is.
        expect(await s.reservePeer(reserveArgs("p", ["v:0"], "k"))).toBe("duplicate-key");
        expect(await s.reserveMaterial(materialArgs("k", randomBytes(8)))).toBe("duplicate-key");
        expect((await s.poolLevels("p"))[0].peer.units).toBe(3);
        // Key IDs are never reused, not even after the key was taken.
        await s.takeReserved(["k"], "sae-s", T0);
        expect(await s.reserveMaterial(materialArgs("k", randomBytes(8)))).toBe("duplicate-key");
        expect(await s.reservePeer(reserveArgs("p", ["v:1"], "k"))).toBe("duplicate-key");
        // Nor may a slave-side reservation reuse a key ID issued here.
        await s.issueLocal(issueArgs("p", 1, 64, "mine"));
        expect(await s.reservePeer(reserveArgs("p", ["v:1"], "mine"))).toBe("duplicate-key");
        expect(await s.reservedCount()).toBe(0);
      });

      it("reserveMaterial reserves a relayed key, cut to its size", async () => {
        const s = await fresh();
        const m = randomBytes(32);
        expect(await s.reserveMaterial(materialArgs("relay-1", m, ["s1"], 200))).toBe("ok");
        expect(await s.reservedCount("s1")).toBe(1);
        const r = await s.takeReserved(["relay-1"], "s1", T0);
        expect(r.status).toBe("ok");
        if (r.status === "ok") expect(hex(r.keys[0].material)).toBe(hex(m.subarray(0, 25)));
        await expect(s.reserveMaterial(materialArgs("relay-2", m, ["s1"], 257))).rejects.toThrow(RangeError);
        expect(await s.reservedCount()).toBe(0);
      });
    });

    describe("takeReserved", () => {
      async function threeKeys(s: KeyStore) {
        const m = [randomBytes(16), randomBytes(16), randomBytes(16)];
        await s.reserveMaterial(materialArgs("k1", m[0], ["s1"]));
        await s.reserveMaterial(materialArgs("k2", m[1], ["s1"]));
        await s.reserveMaterial(materialArgs("k3", m[2], ["s2"]));
        return m;
      }

      it("records the delivery in the audit log in the same transaction, and nothing when it fails", async () => {
        const s = await fresh();
        await threeKeys(s);
        const audit = { kind: "delivered" as const, actor: "s1", detail: "master=m" };
        expect((await s.takeReserved(["k1", "k3"], "s1", T0, audit)).status).toBe("unauthorized");
        expect((await s.takeReserved(["k1", "nope"], "s1", T0, audit)).status).toBe("not-found");
        expect(await s.queryAudit({ kind: "delivered" })).toEqual([]);
        expect((await s.takeReserved(["k2", "k1"], "s1", T0 + 5, audit)).status).toBe("ok");
        const events = await s.queryAudit({ kind: "delivered" });
        expect(events).toHaveLength(1);
        expect(events[0]).toMatchObject({
          atMs: T0 + 5,
          kind: "delivered",
          actor: "s1",
          keyIds: ["k2", "k1"],
          bits: 256,
          detail: "master=m",
        });
      });

      it("takes several keys at once, in the order asked", async () => {
        const s = await fresh();
        const m = await threeKeys(s);
        const r = await s.takeReserved(["k2", "k1"], "s1", T0);
        expect(r.status).toBe("ok");
        if (r.status !== "ok") return;
        expect(r.keys.map((k) => [k.keyId, k.sizeBits, hex(k.material)])).toEqual([
          ["k2", 128, hex(m[1])],
          ["k1", 128, hex(m[0])],
        ]);
        expect(await s.reservedCount()).toBe(1);
        expect(await s.takeReserved([], "s1", T0)).toEqual({ status: "ok", keys: [] });
      });

      it("is all or nothing: one unknown key takes none", async () => {
        const s = await fresh();
        await threeKeys(s);
        expect(await s.takeReserved(["k1", "nope", "k2"], "s1", T0)).toEqual({
          status: "not-found",
          keyIds: ["nope"],
        });
        expect(await s.reservedCount("s1")).toBe(2);
        expect(await s.takeReserved(["k1", "k1"], "s1", T0)).toEqual({ status: "not-found", keyIds: ["k1"] });
        expect(await s.reservedCount("s1")).toBe(2);
      });

      it("each slave takes a key once", async () => {
        const s = await fresh();
        await threeKeys(s);
        expect((await s.takeReserved(["k1"], "s1", T0)).status).toBe("ok");
        expect(await s.takeReserved(["k1"], "s1", T0)).toEqual({ status: "not-found", keyIds: ["k1"] });
        expect(await s.takeReserved(["k2", "k1"], "s1", T0)).toEqual({ status: "not-found", keyIds: ["k1"] });
        expect(await s.reservedCount("s1")).toBe(1); // k2 was not taken by the failed call
      });

      it("tells unauthorized (a key of other slaves) from not-found, and takes nothing either way", async () => {
        const s = await fresh();
        await threeKeys(s);
        expect(await s.takeReserved(["k3"], "s1", T0)).toEqual({ status: "unauthorized", keyIds: ["k3"] });
        // Unauthorized wins over not-found, and names only the keys that are not the caller's.
        expect(await s.takeReserved(["k1", "nope", "k3"], "s1", T0)).toEqual({
          status: "unauthorized",
          keyIds: ["k3"],
        });
        expect(await s.takeReserved(["k1"], "intruder", T0)).toEqual({
          status: "unauthorized",
          keyIds: ["k1"],
        });
        expect(await s.reservedCount()).toBe(3);
        // A key issued here (the master's side) is not a reservation: not found.
        await s.addUnits("p", "local", makeUnits("u", 1), T0);
        await s.issueLocal(issueArgs("p", 1, 64, "issued"));
        expect(await s.takeReserved(["issued"], "sae-s", T0)).toEqual({
          status: "not-found",
          keyIds: ["issued"],
        });
      });

      it("multicast: every slave takes the same key once; the material goes with the last", async () => {
        const s = await fresh();
        const m = randomBytes(16);
        await s.reserveMaterial(materialArgs("mk", m, ["s1", "s2", "s3"]));
        const take = async (sae: string) => {
          const r = await s.takeReserved(["mk"], sae, T0);
          return r.status === "ok" ? hex(r.keys[0].material) : r.status;
        };
        expect(await take("s2")).toBe(hex(m));
        expect(await s.reservedCount()).toBe(1);
        expect(await s.reservedCount("s2")).toBe(0);
        expect(await s.reservedCount("s1")).toBe(1);
        expect(await take("s2")).toBe("not-found");
        expect(await take("s1")).toBe(hex(m));
        expect(await take("s3")).toBe(hex(m));
        expect(await s.reservedCount()).toBe(0);
        expect(await s.reservedCount("s3")).toBe(0);
        expect(await take("s1")).toBe("not-found");
        expect(await take("s4")).toBe("unauthorized");
      });

      it("reservedCount counts keys, overall and per slave", async () => {
        const s = await fresh();
        expect(await s.reservedCount()).toBe(0);
        await s.reserveMaterial(materialArgs("a", randomBytes(8), ["s1", "s2"]));
        await s.reserveMaterial(materialArgs("b", randomBytes(8), ["s1"]));
        expect(await s.reservedCount()).toBe(2);
        expect(await s.reservedCount("s1")).toBe(2);
        expect(await s.reservedCount("s2")).toBe(1);
        expect(await s.reservedCount("s9")).toBe(0);
        await s.takeReserved(["a", "b"], "s1", T0);
        expect(await s.reservedCount()).toBe(1);
        expect(await s.reservedCount("s1")).toBe(0);
        expect(await s.reservedCount("s2")).toBe(1);
      });
    });

    describe("audit log", () => {
      const events: AuditEvent[] = [
        { atMs: 100, kind: "supplied", actor: "qkd:ab", pool: "ab", bits: 4096 },
        { atMs: 200, kind: "issued", actor: "sae-1", pool: "ab", keyIds: ["k1", "k2"], bits: 512 },
        { atMs: 300, kind: "refused", actor: "sae-2", keyIds: ["k1"], detail: "not a slave of this key" },
        { atMs: 300, kind: "delivered", actor: "sae-3", pool: "ab", keyIds: ["k2"], bits: 256 },
        { atMs: 400, kind: "relayed", actor: "kme-b", keyIds: [], detail: "relay:a>b>c" },
      ];

      it("appends events with increasing seq and returns them newest first", async () => {
        const s = await fresh();
        for (const e of events) await s.appendAudit(e);
        const all = await s.queryAudit();
        expect(all.map(({ seq, ...e }) => e)).toEqual([...events].reverse());
        const seqs = all.map((e) => e.seq!);
        expect(seqs.every((q, i) => i === 0 || q < seqs[i - 1])).toBe(true);
        // Unset fields stay unset.
        expect(Object.keys(all[4]).sort()).toEqual(["actor", "atMs", "bits", "kind", "pool", "seq"]);
        expect(all[0].keyIds).toEqual([]);
      });

      it("filters by actor, kind, key ID, pool and a half-open time window, combined with AND", async () => {
        const s = await fresh();
        for (const e of events) await s.appendAudit(e);
        const kinds = async (q: Parameters<KeyStore["queryAudit"]>[0]) =>
          (await s.queryAudit(q)).map((e) => e.kind);
        expect(await kinds({ actor: "sae-2" })).toEqual(["refused"]);
        expect(await kinds({ kind: "issued" })).toEqual(["issued"]);
        expect(await kinds({ keyId: "k1" })).toEqual(["refused", "issued"]);
        expect(await kinds({ keyId: "k" })).toEqual([]); // whole IDs only
        expect(await kinds({ pool: "ab" })).toEqual(["delivered", "issued", "supplied"]);
        expect(await kinds({ sinceMs: 200, untilMs: 400 })).toEqual(["delivered", "refused", "issued"]);
        expect(await kinds({ sinceMs: 300 })).toEqual(["relayed", "delivered", "refused"]);
        expect(await kinds({ untilMs: 200 })).toEqual(["supplied"]);
        expect(await kinds({ keyId: "k2", pool: "ab", sinceMs: 250 })).toEqual(["delivered"]);
        expect(await kinds({ limit: 2 })).toEqual(["relayed", "delivered"]);
        expect(await kinds({ pool: "ab", limit: 1 })).toEqual(["delivered"]);
        expect(await kinds({ limit: 0 })).toEqual([]);
      });

      it("rejects an unknown kind", async () => {
        const s = await fresh();
        await expect(s.appendAudit({ atMs: 1, kind: "hacked" as "issued", actor: "x" })).rejects.toThrow(
          /unknown audit event kind/,
        );
        expect(await s.queryAudit()).toEqual([]);
      });
    });

    describe("concurrency", () => {
      it("parallel issueLocal calls never hand out a unit twice and never lose one", async () => {
        const s = await fresh();
        const units = makeUnits("u", 120);
        const material = new Map(units.map((u) => [u.unitId, hex(u.material)]));
        await s.addUnits("p", "local", units, T0);
        const results = await Promise.all(Array.from({ length: 80 }, () => s.issueLocal(issueArgs("p", 2))));
        const issued = results.filter((r) => r !== null);
        expect(issued.length).toBe(60);
        const ids = issued.flatMap((r) => r.key.unitIds);
        expect(new Set(ids).size).toBe(120);
        for (const r of issued)
          expect(hex(r.material)).toBe(r.key.unitIds.map((id) => material.get(id)).join(""));
        expect((await s.poolLevels("p"))[0].local.units).toBe(0);
        // Release half and confirm half, all at once: the books balance.
        await Promise.all(
          issued.map((r, i) =>
            i % 2 === 0 ? s.releaseIssued(r.key.keyId, T0) : s.confirmIssued(r.key.keyId, T0),
          ),
        );
        expect(await s.pendingIssued()).toEqual([]);
        expect((await s.poolLevels("p"))[0].local.units).toBe(60);
        const again = await Promise.all(Array.from({ length: 40 }, () => s.issueLocal(issueArgs("p", 2))));
        const ids2 = again.filter((r) => r !== null).flatMap((r) => r.key.unitIds);
        expect(ids2.length).toBe(60);
        expect(new Set(ids2)).toEqual(
          new Set(issued.filter((_, i) => i % 2 === 0).flatMap((r) => r.key.unitIds)),
        );
      });

      it("parallel reservePeer calls on overlapping units reserve each unit at most once", async () => {
        const s = await fresh();
        await s.addUnits("p", "peer", makeUnits("v", 20), T0);
        // Call i asks for units i and i+1: neighbours conflict.
        const out = await Promise.all(
          Array.from({ length: 19 }, (_, i) =>
            s.reservePeer(reserveArgs("p", [`v:${i}`, `v:${i + 1}`], `k${i}`)),
          ),
        );
        const won = out.flatMap((r, i) => (r === "ok" ? [i] : []));
        expect(out.every((r) => r === "ok" || r === "missing-units")).toBe(true);
        for (let j = 1; j < won.length; j++) expect(won[j] - won[j - 1]).toBeGreaterThanOrEqual(2);
        expect(await s.reservedCount()).toBe(won.length);
        expect((await s.poolLevels("p"))[0].peer.units).toBe(20 - 2 * won.length);
      });

      it("parallel takeReserved calls deliver each key once per slave, never twice, never lost", async () => {
        const s = await fresh();
        const keys = Array.from({ length: 30 }, (_, i) => ({ id: `k${i}`, m: randomBytes(16) }));
        for (const k of keys) await s.reserveMaterial(materialArgs(k.id, k.m, ["s1", "s2"]));
        // Every slave asks for every key twice, singly and in pairs, all at once.
        const calls: { sae: string; ids: string[] }[] = [];
        for (const sae of ["s1", "s2"])
          for (let i = 0; i < keys.length; i++) {
            calls.push({ sae, ids: [keys[i].id] });
            calls.push({ sae, ids: [keys[i].id, keys[(i + 1) % keys.length].id] });
          }
        // A seeded shuffle (Fisher–Yates), so that a failure can be replayed.
        const rng = new Rng("take-race");
        for (let i = calls.length - 1; i > 0; i--) {
          const j = rng.int(i + 1);
          [calls[i], calls[j]] = [calls[j], calls[i]];
        }
        const results = await Promise.all(calls.map((c) => s.takeReserved(c.ids, c.sae, T0)));
        const got = new Map<string, string>();
        results.forEach((r, i) => {
          if (r.status === "unauthorized") throw new Error("unexpected unauthorized");
          if (r.status !== "ok") return;
          for (const k of r.keys) {
            const tag = `${calls[i].sae}/${k.keyId}`;
            expect(got.has(tag)).toBe(false);
            got.set(tag, hex(k.material));
          }
        });
        // Mop up whatever the all-or-nothing pairs left behind: nothing may be lost.
        for (const sae of ["s1", "s2"])
          for (const k of keys) {
            if (got.has(`${sae}/${k.id}`)) continue;
            const r = await s.takeReserved([k.id], sae, T0);
            expect(r.status).toBe("ok");
            if (r.status === "ok") got.set(`${sae}/${k.id}`, hex(r.keys[0].material));
          }
        expect(got.size).toBe(60);
        for (const k of keys) {
          expect(got.get(`s1/${k.id}`)).toBe(hex(k.m));
          expect(got.get(`s2/${k.id}`)).toBe(hex(k.m));
        }
        expect(await s.reservedCount()).toBe(0);
      });
    });

    describe("durability", () => {
      durable("everything written survives close and reopen", async () => {
        let s = await fresh();
        const local = makeUnits("u", 4);
        const peer = makeUnits("v", 4);
        await s.addUnits("p", "local", local, T0);
        await s.addUnits("p", "peer", peer, T0);
        const issued = await s.issueLocal(issueArgs("p", 1, 64, "ka"));
        await s.confirmIssued("ka", T0);
        await s.issueLocal(issueArgs("p", 1, 64, "kb")); // left pending
        await s.reservePeer(reserveArgs("p", ["v:1", "v:2"], "kr", ["s1", "s2"]));
        await s.takeReserved(["kr"], "s1", T0);
        await s.appendAudit({ atMs: 5, kind: "issued", actor: "sae-m", keyIds: ["ka"], pool: "p", bits: 64 });
        const levels = await s.poolLevels();
        const pending = await s.pendingIssued();
        const audit = await s.queryAudit();

        s = await reopen(s);
        expect(await s.poolLevels()).toEqual(levels);
        expect(await s.pendingIssued()).toEqual(pending);
        expect(await s.queryAudit()).toEqual(audit);
        expect(await s.reservedCount("s1")).toBe(0);
        expect(await s.reservedCount("s2")).toBe(1);
        const r = await s.takeReserved(["kr"], "s2", T0);
        expect(r.status === "ok" && hex(r.keys[0].material)).toBe(
          hex(cat(peer[1].material, peer[2].material)),
        );
        expect(await s.takeReserved(["kr"], "s1", T0)).toEqual({ status: "not-found", keyIds: ["kr"] });
        const next = await s.issueLocal(issueArgs("p", 2, 128, "kc"));
        expect(next!.key.unitIds).toEqual(["u:2", "u:3"]);
        expect(hex(issued!.material)).toBe(hex(local[0].material));
        expect(await s.reserveMaterial(materialArgs("ka", randomBytes(8)))).toBe("duplicate-key");
        await s.appendAudit({ atMs: 6, kind: "delivered", actor: "s2", keyIds: ["kr"] });
        const after = await s.queryAudit();
        expect(after[0].seq!).toBeGreaterThan(audit[0].seq!);
      });
    });

    describe("lifecycle and hygiene", () => {
      it("rejects calls after close; closing twice is harmless", async () => {
        const s = await open();
        await s.close();
        await s.close();
        await expect(s.poolLevels()).rejects.toThrow(/closed/);
        await expect(s.addUnits("p", "local", makeUnits("u", 1), T0)).rejects.toThrow(/closed/);
      });

      it("never puts key material in an error message", async () => {
        const s = await fresh();
        const units = makeUnits("u", 2, 16);
        await s.addUnits("p", "local", units, T0);
        const messages: string[] = [];
        const catchMsg = async (p: Promise<unknown>) => {
          try {
            await p;
          } catch (e) {
            messages.push(String((e as Error).message));
          }
        };
        await catchMsg(s.addUnits("p", "local", units, T0));
        await catchMsg(s.issueLocal(issueArgs("p", 2, 257)));
        await catchMsg(s.reserveMaterial(materialArgs("k", units[0].material, ["s"], 129)));
        expect(messages.length).toBe(3);
        for (const m of messages)
          for (const u of units) {
            expect(m).not.toContain(hex(u.material));
            expect(m).not.toContain(Buffer.from(u.material).toString("base64"));
            expect(m).not.toContain(String([...u.material]));
          }
      });

      it("returns copies: changing what a caller got or gave does not change the store", async () => {
        const s = await fresh();
        const m = randomBytes(8);
        const keep = hex(m);
        await s.reserveMaterial(materialArgs("k", m, ["s1", "s2"]));
        m.fill(0);
        const a = await s.takeReserved(["k"], "s1", T0);
        if (a.status === "ok") a.keys[0].material.fill(1);
        const b = await s.takeReserved(["k"], "s2", T0);
        expect(b.status === "ok" && hex(b.keys[0].material)).toBe(keep);
      });
    });
  });
}
