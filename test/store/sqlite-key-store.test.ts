import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import type { KeyStore } from "../../src/kms/key-store.js";
import { AesGcmKeyCipher, KeyDecryptionError } from "../../src/store/cipher.js";
import { SqliteKeyStore } from "../../src/store/sqlite-key-store.js";
import { describeKeyStoreConformance, makeUnits } from "./key-store-conformance.js";

const dir = mkdtempSync(join(tmpdir(), "qnet-sqlite-ks-"));
const cipher = new AesGcmKeyCipher(randomBytes(32));
const paths = new WeakMap<KeyStore, string>();
let n = 0;

function openAt(path: string, c = cipher): KeyStore {
  const s = SqliteKeyStore.open(path, c);
  paths.set(s, path);
  return s;
}

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describeKeyStoreConformance("SQLite", async () => openAt(join(dir, `ks-${n++}.db`)), undefined, {
  reopen: async (s) => {
    await s.close();
    return openAt(paths.get(s)!);
  },
});

describe("SqliteKeyStore specifics", () => {
  const T0 = 1_700_000_000_000;

  it("stores material encrypted: no unit's plaintext appears in any column or in the files", async () => {
    const path = join(dir, "at-rest.db");
    const s = SqliteKeyStore.open(path, cipher);
    const local = makeUnits("u", 8, 32);
    const peer = makeUnits("v", 8, 32);
    const relayed = randomBytes(32);
    await s.addUnits("p", "local", local, T0);
    await s.addUnits("p", "peer", peer, T0);
    await s.issueLocal({
      pool: "p",
      keyId: "k1",
      units: 2,
      sizeBits: 512,
      masterSae: "m",
      slaveSaes: ["s"],
      nowMs: T0,
    });
    await s.reservePeer({
      pool: "p",
      keyId: "k2",
      unitIds: ["v:0", "v:1"],
      sizeBits: 512,
      masterSae: "m",
      slaveSaes: ["s"],
      nowMs: T0,
    });
    await s.reserveMaterial({
      keyId: "k3",
      material: relayed,
      sizeBits: 256,
      masterSae: "m",
      slaveSaes: ["s"],
      origin: "relay:x",
      nowMs: T0,
    });
    const secrets = [...local, ...peer].map((u) => Buffer.from(u.material)).concat([relayed]);
    // Reserved keys hold the concatenation, which contains each unit; 16-byte slices catch both.
    const needles = secrets.flatMap((b) => [b.subarray(0, 16), b.subarray(16)]);

    const raw = new Database(path, { readonly: true });
    const tables = raw
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
      .pluck()
      .all() as string[];
    let cells = 0;
    for (const t of tables)
      for (const row of raw.prepare(`SELECT * FROM "${t}"`).raw().all() as unknown[][])
        for (const v of row) {
          cells++;
          const b = Buffer.isBuffer(v) ? v : Buffer.from(String(v));
          for (const needle of needles) {
            expect(b.includes(needle)).toBe(false);
            expect(b.includes(Buffer.from(needle.toString("hex")))).toBe(false);
          }
        }
    raw.close();
    expect(cells).toBeGreaterThan(50);
    // The raw bytes on disk (database and write-ahead log) hold none of it either.
    for (const f of readdirSync(dir).filter((f) => f.startsWith("at-rest.db"))) {
      const bytes = readFileSync(join(dir, f));
      for (const needle of needles) expect(bytes.includes(needle)).toBe(false);
    }
    await s.close();
  });

  it("refuses to open with the wrong master key, with a clear error", async () => {
    const path = join(dir, "wrong-key.db");
    const s = SqliteKeyStore.open(path, cipher);
    await s.addUnits("p", "local", makeUnits("u", 2), T0);
    await s.close();
    const other = new AesGcmKeyCipher(randomBytes(32));
    expect(() => SqliteKeyStore.open(path, other)).toThrow(KeyDecryptionError);
    expect(() => SqliteKeyStore.open(path, other)).toThrow(/was created with a different master key/);
    // The right key still opens it.
    const again = SqliteKeyStore.open(path, cipher);
    expect((await again.poolLevels())[0].local.units).toBe(2);
    await again.close();
  });

  it("a row whose material was moved or altered fails to decrypt, naming the row, taking nothing", async () => {
    const path = join(dir, "tamper.db");
    const s = SqliteKeyStore.open(path, cipher);
    await s.addUnits("p", "local", makeUnits("u", 2), T0);
    await s.close();
    const raw = new Database(path);
    // Swap the two units' sealed material: each ciphertext is bound to its own row.
    const [a, b] = raw.prepare("SELECT seq, material FROM units ORDER BY seq").all() as {
      seq: number;
      material: Buffer;
    }[];
    raw.prepare("UPDATE units SET material = ? WHERE seq = ?").run(b.material, a.seq);
    raw.prepare("UPDATE units SET material = ? WHERE seq = ?").run(a.material, b.seq);
    raw.close();
    const t = SqliteKeyStore.open(path, cipher);
    const args = {
      pool: "p",
      keyId: "k",
      units: 1,
      sizeBits: 64,
      masterSae: "m",
      slaveSaes: ["s"],
      nowMs: T0,
    };
    await expect(t.issueLocal(args)).rejects.toThrow(/unit 'u:0': key material failed to decrypt/);
    expect((await t.poolLevels())[0].local.units).toBe(2);
    expect(await t.pendingIssued()).toEqual([]);
    await t.close();
  });

  it("uses WAL with synchronous=FULL and records its schema version", async () => {
    const path = join(dir, "pragmas.db");
    const s = SqliteKeyStore.open(path, cipher);
    await s.close();
    const raw = new Database(path, { readonly: true });
    expect(raw.pragma("journal_mode", { simple: true })).toBe("wal");
    expect(raw.prepare("SELECT version FROM schema_version").pluck().all()).toEqual([1]);
    raw.close();
    const newer = new Database(path);
    newer.prepare("UPDATE schema_version SET version = 99").run();
    newer.close();
    expect(() => SqliteKeyStore.open(path, cipher)).toThrow(/schema version 99; this qnet reads version 1/);
  });

  it("commits the writes of calls in flight together: fewer commits (fsyncs) than writes", async () => {
    const s = SqliteKeyStore.open(join(dir, "group.db"), cipher);
    await s.addUnits("p", "local", makeUnits("u", 64), T0);
    const before = s.stats;
    const issued = await Promise.all(
      Array.from({ length: 32 }, (_, i) =>
        s.issueLocal({
          pool: "p",
          keyId: `k${i}`,
          units: 2,
          sizeBits: 128,
          masterSae: "m",
          slaveSaes: ["s"],
          nowMs: T0,
        }),
      ),
    );
    expect(issued.every((r) => r !== null)).toBe(true);
    const after = s.stats;
    expect(after.writes - before.writes).toBe(32);
    expect(after.commits - before.commits).toBe(1);
    // One at a time: a commit each.
    await s.confirmIssued("k0", T0);
    await s.confirmIssued("k1", T0);
    expect(s.stats.commits - after.commits).toBe(2);
    await s.close();
  });

  it("a batch that cannot commit delivers nothing: every call in it fails, and the keys stay", async () => {
    const path = join(dir, "failed-batch.db");
    const s = SqliteKeyStore.open(path, cipher, { busyTimeoutMs: 0 });
    const material = randomBytes(16);
    for (let i = 0; i < 4; i++)
      await s.reserveMaterial({
        keyId: `k${i}`,
        material,
        sizeBits: 128,
        masterSae: "m",
        slaveSaes: ["s"],
        origin: "relay:x",
        nowMs: T0,
      });
    // Another connection holds the write lock: the batch's BEGIN IMMEDIATE fails at once.
    const other = new Database(path);
    other.exec("BEGIN IMMEDIATE");
    const takes = await Promise.allSettled(
      [0, 1, 2, 3].map((i) => s.takeReserved([`k${i}`], "s", T0, { kind: "delivered", actor: "s" })),
    );
    expect(takes.map((t) => t.status)).toEqual(["rejected", "rejected", "rejected", "rejected"]);
    expect(String((takes[0] as PromiseRejectedResult).reason)).toMatch(/locked|busy/i);
    expect(s.stats.failedBatches).toBe(1);
    other.exec("ROLLBACK");
    other.close();
    // Nothing was taken or audited; the keys are still there for the slave.
    expect(await s.reservedCount("s")).toBe(4);
    expect(await s.queryAudit({ kind: "delivered" })).toEqual([]);
    const again = await s.takeReserved(["k0", "k1", "k2", "k3"], "s", T0);
    expect(again.status).toBe("ok");
    await s.close();
  });

  it("two stores on one file never hand out the same unit", async () => {
    const path = join(dir, "shared.db");
    const a = SqliteKeyStore.open(path, cipher);
    const b = SqliteKeyStore.open(path, cipher);
    await a.addUnits("p", "local", makeUnits("u", 40), T0);
    const calls = Array.from({ length: 30 }, (_, i) =>
      (i % 2 === 0 ? a : b).issueLocal({
        pool: "p",
        keyId: `k${i}`,
        units: 2,
        sizeBits: 128,
        masterSae: "m",
        slaveSaes: ["s"],
        nowMs: T0,
      }),
    );
    const got = (await Promise.all(calls)).filter((r) => r !== null);
    expect(got.length).toBe(20);
    expect(new Set(got.flatMap((r) => r.key.unitIds)).size).toBe(40);
    await a.close();
    await b.close();
    expect(existsSync(path)).toBe(true);
  });
});
