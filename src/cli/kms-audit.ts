/**
 * `qnet kms-audit`: reads a KME's append-only audit log (and its pool levels) from the SQLite store of a
 * `qnet kms` data directory, while the service runs or after: who got which key IDs, when, from which
 * pool. Never shows key material (the log holds none).
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { type Command, Option } from "commander";
import type { AuditEvent, AuditQuery } from "../kms/key-store.js";
import { AUDIT_KINDS } from "../kms/memory-key-store.js";
import { AesGcmKeyCipher, loadMasterKey, MASTER_KEY_ENV } from "../store/cipher.js";
import { SqliteKeyStore } from "../store/sqlite-key-store.js";
import { InputError, UsageError } from "./errors.js";
import { integerFlag } from "./flags.js";
import { formatTable } from "./format.js";

export interface KmsAuditOptions {
  dir: string;
  kme: string;
  actor?: string;
  kind?: string;
  keyId?: string;
  pool?: string;
  since?: string;
  until?: string;
  limit: string;
  format: "table" | "json";
}

function time(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  const ms = Date.parse(text);
  if (Number.isNaN(ms))
    throw new UsageError(`${flag}: expected a date and time such as 2026-11-26T10:00:00Z, got '${text}'`);
  return ms;
}

/** Runs the query; returns the report text. */
export async function runKmsAudit(opts: KmsAuditOptions): Promise<string> {
  const limit = integerFlag(
    opts.limit,
    "--limit",
    "an integer from 1 to 1000000",
    (v) => v >= 1 && v <= 1_000_000,
  );
  if (opts.kind !== undefined && !(AUDIT_KINDS as readonly string[]).includes(opts.kind))
    throw new UsageError(`--kind: expected one of ${AUDIT_KINDS.join(", ")}, got '${opts.kind}'`);
  const query: AuditQuery = { limit };
  if (opts.actor) query.actor = opts.actor;
  if (opts.kind) query.kind = opts.kind as AuditEvent["kind"];
  if (opts.keyId) query.keyId = opts.keyId;
  if (opts.pool) query.pool = opts.pool;
  const since = time(opts.since, "--since");
  const until = time(opts.until, "--until");
  if (since !== undefined) query.sinceMs = since;
  if (until !== undefined) query.untilMs = until;

  const file = join(opts.dir, `${opts.kme}.db`);
  if (!existsSync(file))
    throw new InputError(
      `no key store for KME '${opts.kme}' in '${opts.dir}' (looked for ${file}); check --dir and --kme`,
    );
  let store: SqliteKeyStore;
  try {
    const key = process.env[MASTER_KEY_ENV]
      ? loadMasterKey({ env: process.env })
      : loadMasterKey({ file: join(opts.dir, "master.key") });
    store = SqliteKeyStore.open(file, new AesGcmKeyCipher(key));
  } catch (e) {
    throw new InputError(`cannot open ${file}: ${(e as Error).message}`);
  }
  try {
    const events = await store.queryAudit(query);
    const levels = await store.poolLevels();
    if (opts.format === "json")
      return `${JSON.stringify({ kme: opts.kme, pools: levels, events }, null, 2)}\n`;
    const lines = [
      `Audit log of ${opts.kme} (${file}), newest first, ${events.length} event(s)`,
      "",
      formatTable(
        ["#", "time", "kind", "actor", "pool", "key IDs", "bits", "detail"],
        events.map((e) => [
          e.seq ?? "",
          new Date(e.atMs).toISOString(),
          e.kind,
          e.actor,
          e.pool ?? "",
          (e.keyIds ?? []).join(" "),
          e.bits ?? "",
          e.detail ?? "",
        ]),
      ).trimEnd(),
      "",
      "Pools (available units and bits, by who allocates them)",
      formatTable(
        ["pool", "local units", "local bits", "peer units", "peer bits"],
        levels.map((l) => [l.pool, l.local.units, l.local.bits, l.peer.units, l.peer.bits]),
      ).trimEnd(),
    ];
    return `${lines.join("\n")}\n`;
  } finally {
    await store.close();
  }
}

/** Adds `qnet kms-audit` to the program. */
export function registerKmsAuditCommand(program: Command, out: (s: string) => void): void {
  program
    .command("kms-audit")
    .description("query a KME's audit log and pool levels in a qnet kms data directory (SQLite store)")
    .option("--dir <dir>", "the qnet kms data directory", "qnet-kms")
    .option("--kme <id>", "the KME whose log to read", "kme-a")
    .option("--actor <id>", "only events of this SAE or KME")
    .option("--kind <kind>", `only events of this kind: ${AUDIT_KINDS.join(", ")}`)
    .option("--key-id <uuid>", "only events naming this key ID")
    .option("--pool <id>", "only events of this pool")
    .option("--since <time>", "only events at or after this time (ISO 8601)")
    .option("--until <time>", "only events before this time (ISO 8601)")
    .option("--limit <n>", "at most this many events, newest first", "100")
    .addOption(new Option("--format <format>", "output format").choices(["table", "json"]).default("table"))
    .action(async (opts: KmsAuditOptions) => {
      out(await runKmsAudit(opts));
    });
}
