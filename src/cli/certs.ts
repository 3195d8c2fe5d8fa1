/**
 * `qnet certs`: writes a development PKI for the ETSI GS QKD 014 key service — a CA, one server
 * certificate per KME and one client certificate per SAE, each with its key — and shows how to call the
 * service with curl.
 *
 * @module
 */
import { existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import {
  createDevCa,
  DEFAULT_KME_HOSTS,
  DEFAULT_VALIDITY_DAYS,
  type DevCa,
  type IssuedCertificate,
  issueKmeCert,
  issueSaeCert,
  loadDevCa,
  MAX_VALIDITY_DAYS,
  SAE_URI_PREFIX,
  writePem,
} from "../server/certs.js";
import { InputError, UsageError } from "./errors.js";
import { integerFlag } from "./flags.js";

/** Flags of `qnet certs` as typed, by commander's camel-case names. */
export interface CertsCommandOptions {
  /** `--out`: directory to write into (created, mode 0700, if missing). */
  out?: string;
  /** `--kme`: KME IDs, repeated or comma-separated. */
  kme?: string | readonly string[];
  /** `--sae`: SAE IDs, repeated or comma-separated. */
  sae?: string | readonly string[];
  /** `--days`: validity of every certificate, whole days. Default 365. */
  days?: string;
  /** `--host`: further DNS names or IP addresses of the KMEs, repeated or comma-separated. */
  host?: string | readonly string[];
  /** `--force`: replace files that exist. */
  force?: boolean;
  /** `--reuse-ca`: sign with the `ca.pem`/`ca-key.pem` already in the directory instead of a new CA. */
  reuseCa?: boolean;
}

/** One file the command wrote. */
export interface WrittenFile {
  path: string;
  /** What it holds, for the report. */
  description: string;
  privateKey: boolean;
}

/** What {@link runCertsCommand} did. */
export interface CertsResult {
  files: WrittenFile[];
  /** The report printed to the user (never contains key material). */
  report: string;
}

/**
 * IDs become file names (`kme-<id>.pem`), so they are limited to characters that are safe in a file
 * name on every platform and need no shell quoting in the printed curl command. The library accepts any
 * printable ID; only the CLI is this strict.
 */
const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

function list(value: string | readonly string[] | undefined): string[] {
  if (value === undefined) return [];
  const parts = (typeof value === "string" ? [value] : value).flatMap((v) => v.split(","));
  return parts.map((p) => p.trim());
}

function ids(flag: string, value: string | readonly string[] | undefined): string[] {
  const out = list(value);
  for (const id of out) {
    if (!ID_PATTERN.test(id))
      throw new UsageError(
        `${flag}: expected IDs of letters, digits, '.', '_' or '-' (at most 64, not starting with '.', '_' or '-'), got '${id}'`,
      );
  }
  const seen = new Set<string>();
  for (const id of out) {
    if (seen.has(id)) throw new UsageError(`${flag}: ID '${id}' is given twice`);
    seen.add(id);
  }
  return out;
}

function parseDays(text: string | undefined): number {
  if (text === undefined) return DEFAULT_VALIDITY_DAYS;
  return integerFlag(
    text,
    "--days",
    `a whole number of days from 1 to ${MAX_VALIDITY_DAYS}`,
    (v) => v >= 1 && v <= MAX_VALIDITY_DAYS,
  );
}

/** Quotes a path for a POSIX shell when it needs it, so the curl example pastes as is. */
function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}

/**
 * Runs `qnet certs`: checks the flags (UsageError, exit 2), refuses to replace existing files unless
 * `force` (InputError naming the file, exit 1, before anything is written), generates the certificates,
 * writes them (keys mode 0600) and returns the report.
 */
export async function runCertsCommand(opts: CertsCommandOptions): Promise<CertsResult> {
  if (opts.out === undefined || opts.out.trim() === "")
    throw new UsageError("--out: expected the directory to write the certificates to");
  const dir = opts.out;
  const kmes = ids("--kme", opts.kme);
  const saes = ids("--sae", opts.sae);
  if (kmes.length === 0 && saes.length === 0)
    throw new UsageError("expected at least one --kme or --sae ID, e.g. --kme KME1 --sae A,B");
  const days = parseDays(opts.days);
  const hosts = list(opts.host);
  for (const h of hosts)
    if (h === "") throw new UsageError("--host: expected a DNS name or IP address, got ''");

  const caCert = join(dir, "ca.pem");
  const caKey = join(dir, "ca-key.pem");
  const plan: { path: string; description: string; privateKey: boolean }[] = [];
  if (!opts.reuseCa) {
    plan.push({
      path: caCert,
      description: "CA certificate (give it to every KME and SAE)",
      privateKey: false,
    });
    plan.push({
      path: caKey,
      description: "CA private key (keep it; needed only to issue more)",
      privateKey: true,
    });
  }
  for (const id of kmes) {
    plan.push({
      path: join(dir, `kme-${id}.pem`),
      description: `KME ${id} server certificate`,
      privateKey: false,
    });
    plan.push({
      path: join(dir, `kme-${id}-key.pem`),
      description: `KME ${id} private key`,
      privateKey: true,
    });
  }
  for (const id of saes) {
    plan.push({
      path: join(dir, `sae-${id}.pem`),
      description: `SAE ${id} client certificate`,
      privateKey: false,
    });
    plan.push({
      path: join(dir, `sae-${id}-key.pem`),
      description: `SAE ${id} private key`,
      privateKey: true,
    });
  }

  // Check everything before writing anything, so a refusal never leaves half a PKI behind.
  if (existsSync(dir) && !statSync(dir).isDirectory())
    throw new InputError(`--out: ${dir} is not a directory`);
  if (!opts.force) {
    const existing = plan.filter((f) => existsSync(f.path)).map((f) => f.path);
    if (existing.length > 0)
      throw new InputError(
        `refusing to overwrite ${existing.join(", ")} (use --force to replace ${existing.length > 1 ? "them" : "it"})`,
      );
  }

  let ca: DevCa;
  if (opts.reuseCa) {
    let certPem: string;
    let keyPem: string;
    try {
      certPem = readFileSync(caCert, "utf8");
      keyPem = readFileSync(caKey, "utf8");
    } catch (e) {
      throw new InputError(
        `--reuse-ca: cannot read ${caCert} and ${caKey} (${(e as NodeJS.ErrnoException).code ?? "error"})`,
      );
    }
    try {
      ca = await loadDevCa(certPem, keyPem);
    } catch (e) {
      throw new InputError(`--reuse-ca: ${(e as Error).message}`);
    }
  } else {
    ca = await createDevCa({ days });
  }

  const issued = new Map<string, { cert: IssuedCertificate; certPath: string; keyPath: string }>();
  const pems: { path: string; pem: string; privateKey: boolean }[] = [];
  if (!opts.reuseCa) {
    pems.push({ path: caCert, pem: ca.certPem, privateKey: false });
    pems.push({ path: caKey, pem: ca.keyPem, privateKey: true });
  }
  for (const [kind, list] of [
    ["kme", kmes],
    ["sae", saes],
  ] as const) {
    for (const id of list) {
      let cert: IssuedCertificate;
      try {
        cert =
          kind === "kme"
            ? await issueKmeCert(ca, { kmeId: id, hosts, days })
            : await issueSaeCert(ca, { saeId: id, days });
      } catch (e) {
        // The only input-dependent failure is a bad --host; anything else is a bug and propagates.
        if (e instanceof RangeError) throw new UsageError(`--host: ${e.message}`);
        throw e;
      }
      const certPath = join(dir, `${kind}-${id}.pem`);
      const keyPath = join(dir, `${kind}-${id}-key.pem`);
      issued.set(`${kind}:${id}`, { cert, certPath, keyPath });
      pems.push({ path: certPath, pem: cert.certPem, privateKey: false });
      pems.push({ path: keyPath, pem: cert.keyPem, privateKey: true });
    }
  }

  try {
    // 0700: the directory holds private keys, so other users should not even list it.
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (const p of pems) writePem(p.path, p.pem, { privateKey: p.privateKey, force: opts.force });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new InputError(`cannot write to ${err.path ?? dir}: ${err.code ?? err.message}`);
  }

  const files: WrittenFile[] = plan.map((f) => ({ ...f }));
  const width = Math.max(...files.map((f) => f.path.length));
  const lines: string[] = [];
  lines.push(
    opts.reuseCa
      ? `Issued by the existing CA ${ca.subject} (valid until ${ca.notAfter.toISOString()}):`
      : `Wrote a development PKI, valid ${days} days (until ${ca.notAfter.toISOString()}):`,
  );
  for (const f of files)
    lines.push(`  ${f.path.padEnd(width)}  ${f.privateKey ? "0600" : "0644"}  ${f.description}`);
  lines.push("");
  if (kmes.length > 0)
    lines.push(
      `KME certificates: CN = KME ID; names ${[...new Set([...DEFAULT_KME_HOSTS, ...hosts])].join(", ")}.`,
    );
  if (saes.length > 0) lines.push(`SAE certificates: CN = SAE ID and URI SAN ${SAE_URI_PREFIX}<SAE ID>.`);
  if (saes.length > 0) {
    const master = saes[0];
    const slave = saes[1] ?? saes[0];
    const e = issued.get(`sae:${master}`)!;
    const q = shellQuote;
    lines.push("");
    lines.push(`Try the key service (GS QKD 014) as SAE ${master}, asking for keys shared with ${slave}:`);
    lines.push(
      `  curl --cacert ${q(caCert)} --cert ${q(e.certPath)} --key ${q(e.keyPath)} https://localhost:8443/api/v1/keys/${encodeURIComponent(slave)}/status`,
    );
  }
  lines.push("");
  lines.push(
    "For development only: in production, issue certificates from your own CA (docs/kms-certificates.md).",
  );
  return { files, report: `${lines.join("\n")}\n` };
}

/** Registers `qnet certs` on `program`; the report goes to `out`. */
export function registerCertsCommand(program: Command, out: (s: string) => void): void {
  program
    .command("certs")
    .description(
      "write a development CA, KME server and SAE client certificates (with keys) for the GS QKD 014 key service's mutual TLS",
    )
    .option("--out <dir>", "directory to write the PEM files to (created if missing)")
    .option("--kme <ids...>", "KME IDs (comma-separated or repeated): kme-<id>.pem and kme-<id>-key.pem")
    .option("--sae <ids...>", "SAE IDs (comma-separated or repeated): sae-<id>.pem and sae-<id>-key.pem")
    .option("--days <n>", `validity of every certificate in days (default ${DEFAULT_VALIDITY_DAYS})`)
    .option("--host <names...>", "further DNS names or IP addresses in KME certificates (besides localhost)")
    .option("--reuse-ca", "issue with the ca.pem and ca-key.pem already in the directory")
    .option("--force", "replace existing files")
    .action(async (opts: CertsCommandOptions) => {
      const result = await runCertsCommand(opts);
      out(result.report);
    });
}
