/**
 * `qnet kms`: runs a key management service on this machine with embedded defaults — three sites in a
 * line (kme-a — kme-b — kme-c), simulated QKD links a-b (10 km) and b-c (15 km) filling the pools, one
 * application (SAE) per site — each KME serving ETSI GS QKD 014 over mutual-TLS HTTPS. Development
 * certificates and a master key are created in the data directory on first run.
 *
 * With `--site`, only the named sites run here and every other KME of the network is a `--peer`
 * reached by URL: one KME per machine, each with its own store (docs/kms-network.md, "Sites on
 * separate machines").
 */

import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Command, Option } from "commander";
import { SimulatedQkdKeySource } from "../kms/key-source.js";
import type { KeyStore } from "../kms/key-store.js";
import type { SaeRegistration } from "../kms/kme.js";
import { MemoryKeyStore } from "../kms/memory-key-store.js";
import { ML_KEM_768_PUBLIC_KEY_BYTES, type PqcKeyPair, pqcKeyPair } from "../kms/pqc.js";
import type { Topology } from "../network/topology.js";
import {
  type KmsNetworkSpec,
  type KmsPeerSpec,
  type RunningKms,
  startKmsNetwork,
} from "../server/kms-service.js";
import { PrometheusSink } from "../server/prometheus.js";
import { AesGcmKeyCipher, generateMasterKey, loadMasterKey, MASTER_KEY_ENV } from "../store/cipher.js";
import { PostgresKeyStore } from "../store/postgres-key-store.js";
import { SqliteKeyStore } from "../store/sqlite-key-store.js";
import { runCertsCommand } from "./certs.js";
import { InputError, UsageError } from "./errors.js";
import { integerFlag, portFlag, portOrOffFlag } from "./flags.js";
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
  /** `--site`: run only these KMEs here (repeatable). Default: every KME of the network. */
  site?: readonly string[];
  /** `--peer ID=URL`: where each KME not run here is reached (repeatable); only with `--site`. */
  peer?: readonly string[];
  /** `--host`: the interface the KMEs listen on. Default 127.0.0.1. */
  host?: string;
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
  const links = topology.links.flatMap((l) =>
    ids.has(l.a) && ids.has(l.b) && l.quantum.kind === "physical"
      ? [
          {
            linkId: l.id,
            a: l.a,
            b: l.b,
            lengthKm: l.quantum.lengthKm,
            attenuationDbPerKm: l.quantum.attenuationDbPerKm,
          },
        ]
      : [],
  );
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

/**
 * Ready-to-paste curl commands for one key: asked for at the master SAE's KME, fetched at the slave's.
 * The pair is the SAEs at the ends of the first QKD link that joins two SAEs' sites (else the first two).
 */
export function keyExampleLines(
  layout: KmsLayout,
  urls: Readonly<Record<string, string>>,
  pki: string,
): string[] {
  const saeAt = (kme: string) => layout.saes.find((s) => s.kmeId === kme);
  const pair = layout.links.find((l) => saeAt(l.a) && saeAt(l.b));
  const [a, b] = pair ? [saeAt(pair.a)!, saeAt(pair.b)!] : [layout.saes[0], layout.saes[1]];
  return [
    `Ask ${a.kmeId} for a key shared between ${a.saeId} and ${b.saeId} (ETSI GS QKD 014), then fetch it at ${b.kmeId}:`,
    `  curl --cacert ${pki}/ca.pem --cert ${pki}/sae-${a.saeId}.pem --key ${pki}/sae-${a.saeId}-key.pem \\`,
    `    ${urls[a.kmeId]}/api/v1/keys/${b.saeId}/enc_keys`,
    `  curl --cacert ${pki}/ca.pem --cert ${pki}/sae-${b.saeId}.pem --key ${pki}/sae-${b.saeId}-key.pem \\`,
    `    "${urls[b.kmeId]}/api/v1/keys/${a.saeId}/dec_keys?key_ID=<key_ID from the first call>"`,
  ];
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
  /** The KMEs run here. Default: every KME of `layout`. */
  sites?: readonly string[];
  /** Where each KME of `layout` not run here is reached, by KME ID (with `sites`). */
  peers?: Readonly<Record<string, string>>;
  /** The interface the KMEs listen on. Default 127.0.0.1. */
  host?: string;
}

/**
 * The ML-KEM-768 key pair of a KME run here, kept in the PKI directory (`kme-<id>-mlkem.pub`, and the
 * secret key in `kme-<id>-mlkem-key.b64`, mode 0600), made on first use: KMEs in other processes read
 * the public key from their copy of the directory.
 */
function ownPqcKeyPair(pki: string, kmeId: string): PqcKeyPair {
  const pub = join(pki, `kme-${kmeId}-mlkem.pub`);
  const secret = join(pki, `kme-${kmeId}-mlkem-key.b64`);
  if (existsSync(pub) && existsSync(secret)) {
    const publicKey = readBase64File(pub);
    if (publicKey)
      return {
        publicKey,
        secretKey: new Uint8Array(Buffer.from(readFileSync(secret, "utf8").trim(), "base64")),
      };
  }
  const pair = pqcKeyPair((n) => new Uint8Array(randomBytes(n)));
  writeFileSync(secret, `${Buffer.from(pair.secretKey).toString("base64")}\n`, { mode: 0o600 });
  chmodSync(secret, 0o600);
  writeFileSync(pub, `${Buffer.from(pair.publicKey).toString("base64")}\n`);
  return pair;
}

/** An ML-KEM-768 public key in base64 from a file, or undefined when it is missing or not one. */
function readBase64File(file: string): Uint8Array | undefined {
  if (!existsSync(file)) return undefined;
  const key = new Uint8Array(Buffer.from(readFileSync(file, "utf8").trim(), "base64"));
  return key.length === ML_KEM_768_PUBLIC_KEY_BYTES ? key : undefined;
}

/**
 * Starts one KME per site of `layout` (or only those of `sites`, the others being `peers`) with
 * development certificates (made on first run in `<dir>/pki`), a master key, stores and simulated QKD
 * links filling the pools. Split across processes, each runs its own copy of its links' simulated
 * sources (seeded by the link ID, so both ends get the same blocks) and keeps its ML-KEM key pair in
 * `<dir>/pki`.
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
  // Split across machines, each needs only its own KMEs' and SAEs' certificates (from the shared CA).
  const here = new Set(opts.sites ?? layout.kmes);
  const missingKmes = layout.kmes.filter((id) => here.has(id) && !existsSync(join(pki, `kme-${id}.pem`)));
  const missingSaes = layout.saes
    .filter((s) => here.has(s.kmeId))
    .map((s) => s.saeId)
    .filter((id) => !existsSync(join(pki, `sae-${id}.pem`)));
  if (opts.sites !== undefined && !existsSync(join(pki, "ca.pem")))
    throw new InputError(
      `no development CA in ${pki}: sites in separate processes must share one; make it once with \`qnet certs --out ${pki} --kme <every KME> --sae <every SAE> --host <their host names>\` and copy the directory to every site's --dir`,
    );
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
  const local = opts.sites ?? layout.kmes;
  let pqcPairs: PqcKeyPair[] | undefined;
  try {
    pqcPairs = opts.sites === undefined ? undefined : local.map((id) => ownPqcKeyPair(pki, id));
  } catch (e) {
    throw new InputError(`cannot read or write the ML-KEM keys in ${pki}: ${(e as Error).message}`);
  }
  const stores: KeyStore[] = [];
  const openStore = async (kmeId: string): Promise<KeyStore> => {
    if (opts.store === "memory") return new MemoryKeyStore();
    if (opts.store === "postgres")
      return PostgresKeyStore.open(opts.postgresUrl!, cipher, { schema: `qnet_${kmeId.replace(/-/g, "_")}` });
    return SqliteKeyStore.open(join(opts.dir, `${kmeId}.db`), cipher);
  };
  try {
    for (const id of local) stores.push(await openStore(id));
  } catch (e) {
    for (const s of stores) await s.close();
    throw new InputError(`cannot open the key store: ${(e as Error).message}`);
  }
  // Split across processes, the KMEs' ML-KEM keys live in the PKI directory, so that each process
  // knows the others' public keys (all in one process, they are made at start and never leave it).
  const split = opts.sites !== undefined;
  const peers: KmsPeerSpec[] = Object.entries(opts.peers ?? {}).map(([kmeId, url]) => {
    const pqcPublicKey = readBase64File(join(pki, `kme-${kmeId}-mlkem.pub`));
    return { kmeId, url, ...(pqcPublicKey ? { pqcPublicKey } : {}) };
  });
  const noPqcKey = peers.filter((p) => !p.pqcPublicKey).map((p) => p.kmeId);
  if (noPqcKey.length > 0)
    log({
      level: "warn",
      event: "no-pqc-key",
      kmes: noPqcKey,
      message: `no ML-KEM public key in ${pki} for ${noPqcKey.join(", ")}: no post-quantum fallback keys are sent to them (copy their kme-<id>-mlkem.pub files there)`,
    });
  const spec: KmsNetworkSpec = {
    sink,
    sites: local.map((kmeId, i) => ({
      kmeId,
      ...(opts.host !== undefined ? { host: opts.host } : {}),
      port: port === 0 ? 0 : port + i,
      store: stores[i],
      tls: {
        certFile: join(pki, `kme-${kmeId}.pem`),
        keyFile: join(pki, `kme-${kmeId}-key.pem`),
        caFile: join(pki, "ca.pem"),
      },
      ...(pqcPairs ? { pqcKeyPair: pqcPairs[i] } : {}),
    })),
    ...(split ? { peers } : {}),
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

/**
 * `--site` and `--peer`: the KMEs run here and the URLs of all the others, checked against the
 * layout. Undefined sites: everything runs here.
 */
function splitFlags(
  opts: Pick<KmsCommandOptions, "site" | "peer">,
  layout: KmsLayout,
): { sites?: string[]; peers?: Record<string, string> } {
  const siteFlags = opts.site ?? [];
  const peerFlags = opts.peer ?? [];
  if (siteFlags.length === 0) {
    if (peerFlags.length > 0)
      throw new UsageError("--peer needs --site: without --site every KME runs in this process");
    return {};
  }
  const known = new Set(layout.kmes);
  const sites: string[] = [];
  for (const id of siteFlags) {
    if (!known.has(id))
      throw new UsageError(`--site: no KME '${id}' in the network; its KMEs are ${layout.kmes.join(", ")}`);
    if (sites.includes(id)) throw new UsageError(`--site: '${id}' is given twice`);
    sites.push(id);
  }
  const peers: Record<string, string> = {};
  for (const text of peerFlags) {
    const eq = text.indexOf("=");
    if (eq <= 0) throw new UsageError(`--peer: expected ID=https://host:port, got '${text}'`);
    const id = text.slice(0, eq);
    const url = text.slice(eq + 1);
    if (!known.has(id))
      throw new UsageError(`--peer: no KME '${id}' in the network; its KMEs are ${layout.kmes.join(", ")}`);
    if (sites.includes(id))
      throw new UsageError(`--peer: '${id}' runs here (--site), it cannot also be a peer`);
    if (id in peers) throw new UsageError(`--peer: '${id}' is given twice`);
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new UsageError(`--peer ${id}: expected a URL https://host:port, got '${url}'`);
    }
    if (parsed.protocol !== "https:" || parsed.hostname === "")
      throw new UsageError(`--peer ${id}: expected an https:// URL with a host, got '${url}'`);
    if (parsed.username || parsed.password || parsed.search || parsed.hash)
      throw new UsageError(
        `--peer ${id}: the URL may not carry credentials, a query or a fragment: '${url}'`,
      );
    peers[id] = url.replace(/\/+$/, "");
  }
  const missing = layout.kmes.filter((id) => !sites.includes(id) && !(id in peers));
  if (missing.length > 0)
    throw new UsageError(
      `every KME not run here needs --peer ID=https://host:port; missing: ${missing.join(", ")}`,
    );
  return { sites, peers };
}

/** Starts the built-in network; returns it running, with the text to print. */
export async function runKmsCommand(
  opts: KmsCommandOptions,
  log: (entry: Record<string, unknown>) => void = () => {},
): Promise<{ running: RunningKms; report: string }> {
  const port = portFlag(opts.port, "--port", 65533);
  const flagBits =
    opts.poolBits === undefined
      ? undefined
      : integerFlag(opts.poolBits, "--pool-bits", "a number of bits ≥ 1024", (v) => v >= 1024);
  const metricsPort =
    opts.metricsPort === undefined ? undefined : portOrOffFlag(opts.metricsPort, "--metrics-port");
  if (opts.store === "postgres" && !opts.postgresUrl)
    throw new UsageError(
      "--store postgres needs --postgres-url, e.g. postgres://user:pass@127.0.0.1:5432/kms",
    );
  const layout =
    opts.topology === undefined
      ? DEV_LAYOUT()
      : kmsLayoutOfTopology(loadTopology(opts.topology), opts.topology);
  const poolBits = flagBits ?? layout.poolBits ?? DEFAULT_POOL_BITS;
  const { sites, peers } = splitFlags(opts, layout);
  const host = opts.host;
  if (host !== undefined && host.trim() === "") throw new UsageError("--host: expected an address, got ''");
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
    ...(sites ? { sites, peers } : {}),
    ...(host !== undefined ? { host } : {}),
  });
  const lines = [
    `qnet kms: key management service (ETSI GS QKD 014 over mutual TLS)${opts.topology ? ` for ${opts.topology}` : ""}`,
    "",
    ...layout.kmes.map((id) => {
      const saes = layout.saes.filter((s) => s.kmeId === id).map((s) => s.saeId);
      const elsewhere = sites && !sites.includes(id) ? ", runs elsewhere" : "";
      return `  ${id}  ${running.urls[id]}  (${saes.length > 0 ? `SAE ${saes.join(", ")}` : "trusted node"}${elsewhere})`;
    }),
    "",
    `  QKD links: ${layout.links.map((l) => `${l.linkId} (${l.lengthKm} km)`).join(", ")}; pools kept at ${poolBits} bits per direction`,
    ...(running.metricsUrl ? [`  metrics: ${running.metricsUrl}`] : []),
    `  store: ${opts.store}${opts.store === "sqlite" ? ` (${opts.dir}/<KME>.db)` : ""}; certificates in ${pki}`,
    "",
    ...keyExampleLines(layout, running.urls, pki),
    "",
    "Stop with Ctrl-C.",
  ];
  return { running, report: `${lines.join("\n")}\n` };
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** Adds `qnet kms` to the program. */
export function registerKmsCommand(program: Command, out: (s: string) => void): void {
  program
    .command("kms")
    .description(
      "run the key management service on this machine: three sites joined by simulated QKD links (or the " +
        "end and trusted nodes of --topology), each KME serving ETSI GS QKD 014 over mutual TLS, with " +
        "development certificates made on first run; with --site, only those KMEs run here and the others " +
        "are --peer URLs (one KME per machine)",
    )
    .option("--dir <dir>", "data directory (certificates, master key, SQLite stores)", "qnet-kms")
    .option(
      "--topology <file>",
      "serve a topology file's network: a KME per end or trusted node, its key_service section's SAEs",
    )
    .option("--port <port>", "port of the first KME; the others take the next ones (0: free ports)", "8443")
    .option(
      "--site <id>",
      "run only this KME here (repeatable); every other KME of the network needs a --peer",
      collect,
      [],
    )
    .option(
      "--peer <id=url>",
      "where a KME not run here is reached, e.g. kme-b=https://site-b:8443 (repeatable)",
      collect,
      [],
    )
    .option("--host <address>", "the interface the KMEs listen on (default 127.0.0.1; 0.0.0.0 for all)")
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
