/**
 * `qnet kms`: runs a key management service on this machine with embedded defaults — three sites in a
 * line (kme-a — kme-b — kme-c), simulated QKD links a-b (10 km) and b-c (15 km) filling the pools, one
 * application (SAE) per site — each KME serving ETSI GS QKD 014 over mutual-TLS HTTPS. Development
 * certificates and a master key are created in the data directory on first run.
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Command, Option } from "commander";
import { SimulatedQkdKeySource } from "../kms/key-source.js";
import type { KeyStore } from "../kms/key-store.js";
import type { SaeRegistration } from "../kms/kme.js";
import { MemoryKeyStore } from "../kms/memory-key-store.js";
import type { Topology } from "../network/topology.js";
import { type KmsNetworkSpec, type RunningKms, startKmsNetwork } from "../server/kms-service.js";
import { PrometheusSink } from "../server/prometheus.js";
import { AesGcmKeyCipher, generateMasterKey, loadMasterKey, MASTER_KEY_ENV } from "../store/cipher.js";
import { PostgresKeyStore } from "../store/postgres-key-store.js";
import { SqliteKeyStore } from "../store/sqlite-key-store.js";
import { runCertsCommand } from "./certs.js";
import { InputError, UsageError } from "./errors.js";
import { loadTopology } from "./simulate.js";

export interface KmsCommandOptions {
  /** Data directory: certificates, master key, SQLite stores. */
  dir: string;
  /** Port of kme-a; kme-b and kme-c take the next two. 0: free ports. */
  port: string;
  store: "sqlite" | "memory" | "postgres";
  /** PostgreSQL connection URL, with --store postgres (one schema per KME). */
  postgresUrl?: string;
  /** Bits to keep in each direction of each pool. Default: the topology's, else 65,536. */
  poolBits?: string;
  /** Port of the Prometheus metrics listener (127.0.0.1); "off" for none. Default 9464. */
  metricsPort?: string;
  /**
   * A topology file: one KME per `end` or `trusted` node, a simulated QKD link on every physical link
   * between two of them, and one SAE `app-<node>` per end node. Default: the built-in three sites.
   */
  topology?: string;
}

/** Sites, SAEs and QKD links of the network a `qnet kms` run serves. */
export interface KmsLayout {
  kmes: string[];
  saes: SaeRegistration[];
  links: { linkId: string; a: string; b: string; lengthKm: number; attenuationDbPerKm: number }[];
  /** Bits to keep in each direction of each pool, when the topology says. */
  poolBits?: number;
}

const DEV_LAYOUT = (): KmsLayout => ({
  kmes: [...DEV_KMES],
  saes: DEV_SAES,
  links: DEV_LINKS.map((l) => ({ ...l, attenuationDbPerKm: 0.2 })),
});

/**
 * The KMS layout of a topology: one KME per end or trusted node, a QKD link on every physical link
 * between two of them, one SAE `app-<node>` per end node. An InputError naming `label` when it has
 * nothing to serve.
 */
export function kmsLayoutOfTopology(topology: Topology, label: string): KmsLayout {
  const sites = topology.nodes.filter((n) => n.type === "end" || n.type === "trusted");
  const ids = new Set(sites.map((n) => n.id));
  const links = topology.links
    .filter((l) => ids.has(l.a) && ids.has(l.b) && l.quantum.kind === "physical")
    .map((l) => ({
      linkId: l.id,
      a: l.a,
      b: l.b,
      lengthKm: l.quantum.lengthKm,
      attenuationDbPerKm: l.quantum.kind === "physical" ? l.quantum.attenuationDbPerKm : 0.2,
    }));
  const declared = topology.keyService?.saes;
  const saes: SaeRegistration[] = declared
    ? declared.map((sae) => {
        const quota = {
          ...(sae.keysPerMinute !== undefined ? { keysPerMinute: sae.keysPerMinute } : {}),
          ...(sae.bitsPerDay !== undefined ? { bitsPerDay: sae.bitsPerDay } : {}),
        };
        return {
          saeId: sae.id,
          kmeId: sae.site,
          policy: sae.policy,
          ...(Object.keys(quota).length > 0 ? { quota } : {}),
        };
      })
    : sites
        .filter((n) => n.type === "end")
        .map((n) => ({ saeId: `app-${n.id}`, kmeId: n.id, policy: "hybrid" }));
  if (links.length === 0 || saes.length < 2)
    throw new InputError(
      declared
        ? `${label}: a key service needs at least two SAEs and one physical link between end or trusted nodes; key_service.saes has ${saes.length} and the topology ${links.length} such link(s)`
        : `${label}: a key service needs at least two end nodes and one physical link between end or trusted nodes; this topology has ${saes.length} end node(s) and ${links.length} such link(s)`,
    );
  const poolBits = topology.keyService?.poolBits;
  return { kmes: sites.map((n) => n.id), saes, links, ...(poolBits !== undefined ? { poolBits } : {}) };
}

/** Bits kept in each direction of each pool unless the topology or a flag says otherwise. */
export const DEFAULT_POOL_BITS = 65_536;

/** The built-in network. */
export const DEV_KMES = ["kme-a", "kme-b", "kme-c"] as const;
export const DEV_SAES: SaeRegistration[] = [
  { saeId: "app-a", kmeId: "kme-a", policy: "hybrid" },
  { saeId: "app-b", kmeId: "kme-b", policy: "hybrid" },
  { saeId: "app-c", kmeId: "kme-c", policy: "qkd-only" },
];
const DEV_LINKS = [
  { linkId: "a-b", a: "kme-a", b: "kme-b", lengthKm: 10 },
  { linkId: "b-c", a: "kme-b", b: "kme-c", lengthKm: 15 },
];

function intFlag(text: string, flag: string, what: string, ok: (v: number) => boolean): number {
  const v = Number(text);
  if (text.trim() === "" || !Number.isInteger(v) || !ok(v))
    throw new UsageError(`${flag}: expected ${what}, got '${text}'`);
  return v;
}

/** The master key: from QNET_KMS_MASTER_KEY if set, else `<dir>/master.key`, created on first run. */
function masterKey(dir: string): Uint8Array {
  if (process.env[MASTER_KEY_ENV]) return loadMasterKey({ env: process.env });
  const file = join(dir, "master.key");
  if (!existsSync(file)) writeFileSync(file, `${generateMasterKey()}\n`, { mode: 0o600 });
  return loadMasterKey({ file });
}

/** What {@link startKeyService} needs: where to keep its files, what to serve and how. */
export interface KeyServiceOptions {
  /** Data directory: certificates (`pki/`), master key, SQLite stores. Created if missing. */
  dir: string;
  layout: KmsLayout;
  store: "sqlite" | "memory" | "postgres";
  postgresUrl?: string;
  /** Port of the first KME; the others take the next ones. 0: free ports. */
  port: number;
  /** The flag that set `port`, named when the port is taken. Default `--port`. */
  portFlag?: string;
  poolBits: number;
  sink: PrometheusSink;
  /** Port of a metrics listener of the key service's own; none when undefined. */
  metricsPort?: number;
  log: (entry: Record<string, unknown>) => void;
  /** Return before the pools are first filled (they fill in the background). Default false. */
  fillInBackground?: boolean;
}

/**
 * Starts one KME per site of `layout` with development certificates (made on first run in
 * `<dir>/pki`), a master key, stores and simulated QKD links filling the pools.
 */
export async function startKeyService(
  opts: KeyServiceOptions,
): Promise<{ running: RunningKms; pki: string }> {
  const { sink, port, poolBits, metricsPort, log, layout } = opts;
  try {
    mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new InputError(`cannot create the data directory '${opts.dir}': ${(e as Error).message}`);
  }
  const pki = join(opts.dir, "pki");
  const missingKmes = layout.kmes.filter((id) => !existsSync(join(pki, `kme-${id}.pem`)));
  const missingSaes = layout.saes.map((s) => s.saeId).filter((id) => !existsSync(join(pki, `sae-${id}.pem`)));
  if (missingKmes.length > 0 || missingSaes.length > 0)
    await runCertsCommand({
      out: pki,
      kme: missingKmes,
      sae: missingSaes,
      reuseCa: existsSync(join(pki, "ca.pem")),
    });
  let cipher: AesGcmKeyCipher;
  try {
    cipher = new AesGcmKeyCipher(masterKey(opts.dir));
  } catch (e) {
    throw new InputError((e as Error).message);
  }
  const stores: KeyStore[] = [];
  const openStore = async (kmeId: string): Promise<KeyStore> => {
    if (opts.store === "memory") return new MemoryKeyStore();
    if (opts.store === "postgres")
      return PostgresKeyStore.open(opts.postgresUrl!, cipher, { schema: `qnet_${kmeId.replace(/-/g, "_")}` });
    return SqliteKeyStore.open(join(opts.dir, `${kmeId}.db`), cipher);
  };
  try {
    for (const id of layout.kmes) stores.push(await openStore(id));
  } catch (e) {
    for (const s of stores) await s.close();
    throw new InputError(`cannot open the key store: ${(e as Error).message}`);
  }
  const spec: KmsNetworkSpec = {
    sink,
    sites: layout.kmes.map((kmeId, i) => ({
      kmeId,
      port: port === 0 ? 0 : port + i,
      store: stores[i],
      tls: {
        certFile: join(pki, `kme-${kmeId}.pem`),
        keyFile: join(pki, `kme-${kmeId}-key.pem`),
        caFile: join(pki, "ca.pem"),
      },
    })),
    saes: layout.saes,
    ...(metricsPort !== undefined ? { metrics: { port: metricsPort } } : {}),
    links: layout.links.map((l) => ({
      linkId: l.linkId,
      a: l.a,
      b: l.b,
      unitBits: 64,
      targetBits: poolBits,
      source: new SimulatedQkdKeySource(
        l.linkId,
        {
          link: { lengthKm: l.lengthKm, attenuationDbPerKm: l.attenuationDbPerKm },
          parameters: { blockBits: 200_000 },
          seed: l.linkId,
        },
        20,
        sink,
      ),
    })),
    log,
    waitForFill: opts.fillInBackground !== true,
  };
  let running: RunningKms;
  try {
    running = await startKmsNetwork(spec);
  } catch (e) {
    for (const s of stores) await s.close();
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EADDRINUSE")
      throw new InputError(`${(e as Error).message}: choose another ${opts.portFlag ?? "--port"}`);
    throw e;
  }
  return { running, pki };
}

/** Starts the built-in network; returns it running, with the text to print. */
export async function runKmsCommand(
  opts: KmsCommandOptions,
  log: (entry: Record<string, unknown>) => void = () => {},
): Promise<{ running: RunningKms; report: string }> {
  const port = intFlag(opts.port, "--port", "a TCP port from 0 to 65533", (v) => v >= 0 && v <= 65533);
  const flagBits =
    opts.poolBits === undefined
      ? undefined
      : intFlag(opts.poolBits, "--pool-bits", "a number of bits ≥ 1024", (v) => v >= 1024);
  const metricsPort =
    opts.metricsPort === undefined || opts.metricsPort === "off"
      ? undefined
      : intFlag(
          opts.metricsPort,
          "--metrics-port",
          "a TCP port from 0 to 65535, or off",
          (v) => v >= 0 && v <= 65535,
        );
  if (opts.store === "postgres" && !opts.postgresUrl)
    throw new UsageError(
      "--store postgres needs --postgres-url, e.g. postgres://user:pass@127.0.0.1:5432/kms",
    );
  const layout =
    opts.topology === undefined
      ? DEV_LAYOUT()
      : kmsLayoutOfTopology(loadTopology(opts.topology), opts.topology);
  const poolBits = flagBits ?? layout.poolBits ?? DEFAULT_POOL_BITS;
  const { running, pki } = await startKeyService({
    dir: opts.dir,
    layout,
    store: opts.store,
    ...(opts.postgresUrl ? { postgresUrl: opts.postgresUrl } : {}),
    port,
    poolBits,
    sink: new PrometheusSink(),
    ...(metricsPort !== undefined ? { metricsPort } : {}),
    log,
  });
  // The example pair: two SAEs at the ends of the first QKD link that joins two SAEs' sites.
  const saeAt = (kme: string) => layout.saes.find((s) => s.kmeId === kme);
  const pair = layout.links.find((l) => saeAt(l.a) && saeAt(l.b));
  const [a, b] = pair ? [saeAt(pair.a)!, saeAt(pair.b)!] : [layout.saes[0], layout.saes[1]];
  const lines = [
    `qnet kms: key management service (ETSI GS QKD 014 over mutual TLS)${opts.topology ? ` for ${opts.topology}` : ""}`,
    "",
    ...layout.kmes.map((id) => {
      const saes = layout.saes.filter((s) => s.kmeId === id).map((s) => s.saeId);
      return `  ${id}  ${running.urls[id]}  (${saes.length > 0 ? `SAE ${saes.join(", ")}` : "trusted node"})`;
    }),
    "",
    `  QKD links: ${layout.links.map((l) => `${l.linkId} (${l.lengthKm} km)`).join(", ")}; pools kept at ${poolBits} bits per direction`,
    ...(running.metricsUrl ? [`  metrics: ${running.metricsUrl}`] : []),
    `  store: ${opts.store}${opts.store === "sqlite" ? ` (${opts.dir}/<KME>.db)` : ""}; certificates in ${pki}`,
    "",
    `Ask ${a.kmeId} for a key shared between ${a.saeId} and ${b.saeId}, then fetch it at ${b.kmeId}:`,
    `  curl --cacert ${pki}/ca.pem --cert ${pki}/sae-${a.saeId}.pem --key ${pki}/sae-${a.saeId}-key.pem \\`,
    `    ${running.urls[a.kmeId]}/api/v1/keys/${b.saeId}/enc_keys`,
    `  curl --cacert ${pki}/ca.pem --cert ${pki}/sae-${b.saeId}.pem --key ${pki}/sae-${b.saeId}-key.pem \\`,
    `    "${running.urls[b.kmeId]}/api/v1/keys/${a.saeId}/dec_keys?key_ID=<key_ID from the first call>"`,
    "",
    "Stop with Ctrl-C.",
  ];
  return { running, report: `${lines.join("\n")}\n` };
}

/** Adds `qnet kms` to the program. */
export function registerKmsCommand(program: Command, out: (s: string) => void): void {
  program
    .command("kms")
    .description(
      "run the key management service on this machine: three sites joined by simulated QKD links (or the " +
        "end and trusted nodes of --topology), each KME serving ETSI GS QKD 014 over mutual TLS, with " +
        "development certificates made on first run",
    )
    .option("--dir <dir>", "data directory (certificates, master key, SQLite stores)", "qnet-kms")
    .option(
      "--topology <file>",
      "serve a topology file's network: a KME per end or trusted node, its key_service section's SAEs",
    )
    .option("--port <port>", "port of the first KME; the others take the next ones (0: free ports)", "8443")
    .addOption(
      new Option("--store <kind>", "key store").choices(["sqlite", "memory", "postgres"]).default("sqlite"),
    )
    .option("--postgres-url <url>", "PostgreSQL connection URL, with --store postgres")
    .option(
      "--pool-bits <bits>",
      "bits of key to keep in each direction of each pool (default: the topology's key_service.pool_bits, else 65536)",
    )
    .option(
      "--metrics-port <port>",
      "port of the Prometheus metrics on 127.0.0.1 (0: a free port; off: none)",
      "9464",
    )
    .action(async (opts: KmsCommandOptions) => {
      const log = (entry: Record<string, unknown>) =>
        process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), ...entry })}\n`);
      const { running, report } = await runKmsCommand(opts, log);
      out(report);
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
      });
      await running.close();
    });
}
