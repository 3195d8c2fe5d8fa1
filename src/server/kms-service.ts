/**
 * A running key management service: one KME per site, each an HTTPS server with mutual TLS serving the
 * ETSI GS QKD 014 API to its SAEs and the KME-to-KME API to the other KMEs, its key store, and key
 * suppliers that keep every QKD link's pool filled at both ends. KMEs reach each other over HTTPS with
 * their own certificates (reservations, trusted-node relay, post-quantum fallback), exactly as they
 * would on separate machines.
 *
 * One process may run every site of a network, or only some of them (down to one KME per machine):
 * the others are then `peers`, reached by URL. A link with both ends here is supplied by one
 * {@link KeySupplier} writing both stores; a link with one end here is supplied across processes, each
 * end with its own copy of the link's source: the end with the smaller KME ID leads
 * ({@link SupplyLeader}) and tells the other ({@link SupplyFollower}) over `POST /kmapi/v1/supply`.
 */
import { randomBytes } from "node:crypto";
import Fastify, { type FastifyInstance } from "fastify";
import type { KeySource } from "../kms/key-source.js";
import type { KeyStore } from "../kms/key-store.js";
import { Kme, type KmeLimits, type KmePool, type SaeRegistration } from "../kms/kme.js";
import { type PqcKeyPair, pqcKeyPair } from "../kms/pqc.js";
import { createPqcFallback } from "../kms/pqc-fallback.js";
import { RelayService, type RelayTopologyLink } from "../kms/relay-service.js";
import {
  KeySupplier,
  type PoolSupplier,
  SupplyFollower,
  SupplyLeader,
  supplyLeaderOf,
} from "../kms/supplier.js";
import { HttpsKmePeers } from "./kme-peer-client.js";
import { registerKmePeerRoutes } from "./kme-peer-routes.js";
import { KMS_SERVER_OPTIONS, registerKmsRoutes } from "./kms-routes.js";
import { PrometheusSink, registerMetricsRoute } from "./prometheus.js";
import { type MtlsFiles, mtlsServerOptions, type SaeIdSource, saeIdFromRequest } from "./tls.js";

/** Lets pending I/O run: a simulated source recomputing old blocks must not stall the servers. */
const yieldToIo = () => new Promise<void>((resolve) => setImmediate(resolve));

/** One site: its KME, where it listens, its store and its TLS files. */
export interface KmsSiteSpec {
  kmeId: string;
  /** Interface to listen on. Default 127.0.0.1. */
  host?: string;
  /** TCP port; 0 picks a free one. */
  port: number;
  store: KeyStore;
  tls: MtlsFiles;
  /**
   * Its ML-KEM-768 key pair for the post-quantum fallback. Default: made at start (enough when every
   * KME that may send it fallback keys runs in this process).
   */
  pqcKeyPair?: PqcKeyPair;
}

/** A KME of the network that runs elsewhere (another process or machine). */
export interface KmsPeerSpec {
  kmeId: string;
  /** Base URL of its API, `https://host:port`. */
  url: string;
  /** Its ML-KEM-768 public key; without it no post-quantum fallback key is sent to it. */
  pqcPublicKey?: Uint8Array;
}

/** One QKD link between two sites and where its key comes from. */
export interface KmsLinkSpec {
  linkId: string;
  /** The KME IDs at its ends (either may be a peer; a link with no end here is only a relay route). */
  a: string;
  b: string;
  /** Bits per pool unit, a positive multiple of 8. */
  unitBits: number;
  /**
   * Where the key comes from: with both ends here, the link; with one end here, that end's copy of it
   * (the other end's process runs its own, delivering the same blocks).
   */
  source: KeySource;
  /** Keep each end's own direction filled to at least this many bits. */
  targetBits: number;
}

export interface KmsNetworkSpec {
  /** The KMEs run in this process. */
  sites: readonly KmsSiteSpec[];
  /** The network's other KMEs, run elsewhere. Default none (every KME runs here). */
  peers?: readonly KmsPeerSpec[];
  saes: readonly SaeRegistration[];
  links: readonly KmsLinkSpec[];
  /** Which certificate field names the SAE. Default `cn`. */
  identity?: SaeIdSource;
  limits?: Partial<KmeLimits>;
  /**
   * Whether starting waits until every pool is filled the first time (true), or fills them in the
   * background and returns at once (false: the first requests may find a pool empty). Default true.
   */
  waitForFill?: boolean;
  /** How often to top pools up, ms. Default 1000. */
  refillIntervalMs?: number;
  /** Structured log lines (JSON objects); never key material. Default: none. */
  log?: (entry: Record<string, unknown>) => void;
  /**
   * Post-quantum fallback for SAEs whose policy allows it (ML-KEM-768 key pairs made at start; the
   * public keys are exchanged in process). Default true.
   */
  pqcFallback?: boolean;
  /**
   * Where to serve Prometheus metrics (pool levels, keys served, QKD blocks) over plain HTTP, apart from
   * the key API. Default: no metrics listener (the sink still collects).
   */
  metrics?: { host?: string; port: number };
  /** The sink the KMEs and suppliers report to. Default: a new {@link PrometheusSink}. */
  sink?: PrometheusSink;
}

export interface RunningKms {
  /** Base URL of each KME's API, by KME ID. */
  urls: Readonly<Record<string, string>>;
  /** URL of the Prometheus metrics, when served. */
  metricsUrl?: string;
  sink: PrometheusSink;
  kmes: ReadonlyMap<string, Kme>;
  /** What fills the pools: a link with both ends here, or one this process leads. */
  suppliers: readonly PoolSupplier[];
  /** The links whose supply another process leads (this end adds what it is told). */
  followers: readonly SupplyFollower[];
  /** Tops every pool up now (what the background loop does every interval). */
  fillNow(): Promise<void>;
  /** Stops the suppliers and the servers and closes the stores. */
  close(): Promise<void>;
}

/** Checks a network spec for the mistakes a person makes writing one; throws a RangeError naming them. */
export function checkKmsNetworkSpec(spec: KmsNetworkSpec): void {
  const problems: string[] = [];
  const sites = new Set<string>();
  for (const s of [...spec.sites, ...(spec.peers ?? [])]) {
    if (sites.has(s.kmeId)) problems.push(`KME '${s.kmeId}' is defined twice`);
    sites.add(s.kmeId);
  }
  if (spec.sites.length === 0) problems.push("no site runs here");
  for (const sae of spec.saes)
    if (!sites.has(sae.kmeId))
      problems.push(`SAE '${sae.saeId}' names KME '${sae.kmeId}', which is not a site`);
  const pairs = new Set<string>();
  for (const l of spec.links) {
    for (const end of [l.a, l.b])
      if (!sites.has(end)) problems.push(`link '${l.linkId}' names KME '${end}', which is not a site`);
    if (l.a === l.b) problems.push(`link '${l.linkId}' joins KME '${l.a}' to itself`);
    const pair = [l.a, l.b].sort().join("\u0000");
    if (pairs.has(pair)) problems.push(`link '${l.linkId}': KMEs '${l.a}' and '${l.b}' already share a link`);
    pairs.add(pair);
  }
  if (problems.length > 0) throw new RangeError(`invalid KMS network: ${problems.join("; ")}`);
}

/**
 * Starts every site's KME and server, recovers pending keys, fills the pools once and keeps them filled.
 * With `peers`, only `sites` run here: links to a peer are supplied across processes (see the module
 * documentation), and filling them waits for the peer to answer.
 */
export async function startKmsNetwork(spec: KmsNetworkSpec): Promise<RunningKms> {
  checkKmsNetworkSpec(spec);
  const log = spec.log ?? (() => {});
  const sink = spec.sink ?? new PrometheusSink();
  const random = (n: number) => new Uint8Array(randomBytes(n));
  const clock = () => Date.now();
  const peers = spec.peers ?? [];
  const localIds = new Set(spec.sites.map((s) => s.kmeId));
  const kmeIds = [...spec.sites.map((s) => s.kmeId), ...peers.map((p) => p.kmeId)];
  const relayLinks: RelayTopologyLink[] = spec.links.map((l) => ({
    kmeIds: [l.a, l.b],
    pool: l.linkId,
    unitBits: l.unitBits,
  }));
  const pqcPairs = new Map(spec.sites.map((s) => [s.kmeId, s.pqcKeyPair ?? pqcKeyPair(random)]));
  const pqcPublicKeys = new Map<string, Uint8Array>([
    ...[...pqcPairs].map(([id, pair]) => [id, pair.publicKey] as const),
    ...peers.flatMap((p) => (p.pqcPublicKey ? [[p.kmeId, p.pqcPublicKey] as const] : [])),
  ]);
  const kmes = new Map<string, Kme>();
  const clients = new Map<string, HttpsKmePeers>();
  const servers: FastifyInstance[] = [];
  const urls: Record<string, string> = {};
  const identity = spec.identity ?? "cn";
  const storeOf = (kmeId: string) => spec.sites.find((s) => s.kmeId === kmeId)!.store;
  // Links with one end here: that end leads (the smaller KME ID) or follows.
  const crossing = spec.links.filter((l) => localIds.has(l.a) !== localIds.has(l.b));
  const followers = crossing
    .filter((l) => !localIds.has(supplyLeaderOf(l.a, l.b)))
    .map((l) => {
      const here = localIds.has(l.a) ? l.a : l.b;
      return new SupplyFollower({
        source: l.source,
        local: { kmeId: here, store: storeOf(here) },
        peerKmeId: here === l.a ? l.b : l.a,
        end: here === l.a ? "a" : "b",
        unitBits: l.unitBits,
        clock,
        sink,
        log,
        pause: yieldToIo,
      });
    });
  const closeAll = async () => {
    for (const c of clients.values()) c.close();
    await Promise.all(servers.map((s) => s.close()));
  };
  try {
    for (const site of spec.sites) {
      const id = site.kmeId;
      const onError = (e: unknown, context: string) =>
        log({ level: "error", kme: id, context, error: e instanceof Error ? e.message : String(e) });
      // Read and checked once: the server and its client to the peers use the same files.
      const tls = mtlsServerOptions(site.tls);
      // A KME calls its peers with its own certificate (it carries clientAuth as well as serverAuth).
      const client = new HttpsKmePeers({
        kmeId: id,
        peers: {},
        cert: String(tls.cert),
        key: String(tls.key),
        ca: String(tls.ca),
      });
      clients.set(id, client);
      const pools: KmePool[] = spec.links
        .filter((l) => l.a === id || l.b === id)
        .map((l) => ({ pool: l.linkId, peerKmeId: l.a === id ? l.b : l.a, unitBits: l.unitBits }));
      const isLocalSae = (sae: string) => spec.saes.some((r) => r.saeId === sae && r.kmeId === id);
      const relay = new RelayService({
        kmeId: id,
        store: site.store,
        links: relayLinks,
        transport: client,
        clock,
        random,
        isLocalSae,
        onError,
      });
      const pqc =
        spec.pqcFallback === false
          ? undefined
          : createPqcFallback({
              kmeId: id,
              store: site.store,
              peerPublicKeys: Object.fromEntries([...pqcPublicKeys].filter(([k]) => k !== id)),
              secretKey: pqcPairs.get(id)!.secretKey,
              transport: client,
              random,
              clock,
              pools,
              isLocalSae,
              onError,
            });
      const kme = new Kme({
        kmeId: id,
        store: site.store,
        saes: spec.saes,
        pools,
        ...(spec.limits ? { limits: spec.limits } : {}),
        peers: client,
        clock,
        random,
        relay,
        ...(pqc ? { fallback: pqc } : {}),
        onInternalError: onError,
        sink,
      });
      kmes.set(id, kme);
      const app = Fastify({ https: tls, logger: false, ...KMS_SERVER_OPTIONS });
      const identify = (request: Parameters<typeof saeIdFromRequest>[0]) =>
        saeIdFromRequest(request, identity);
      registerKmsRoutes(app, { kme, identify });
      registerKmePeerRoutes(app, {
        kme,
        store: site.store,
        // KMEs are named by their certificates' common name, whatever identifies SAEs.
        identifyKme: (request) => saeIdFromRequest(request, "cn"),
        neighbours: pools.map((p) => p.peerKmeId),
        knownKmes: kmeIds.filter((k) => k !== id),
        relay,
        ...(pqc ? { pqc } : {}),
        supply: followers.filter((f) => f.kmeId === id),
      });
      const host = site.host ?? "127.0.0.1";
      await app.listen({ host, port: site.port });
      const address = app.server.address();
      const port = typeof address === "object" && address !== null ? address.port : site.port;
      urls[id] = `https://${host.includes(":") ? `[${host}]` : host}:${port}`;
      servers.push(app);
      log({ level: "info", event: "listening", kme: id, url: urls[id] });
    }
    for (const p of peers) urls[p.kmeId] = p.url;
    for (const [id, client] of clients)
      for (const other of kmeIds) if (other !== id) client.setPeer(other, { url: urls[other] });
    for (const [kmeId, kme] of kmes) {
      const r = await kme.recover();
      log({ level: "info", kme: kmeId, event: "recovered", ...r });
    }
  } catch (e) {
    await closeAll();
    throw e;
  }

  const suppliers: PoolSupplier[] = [];
  for (const l of spec.links) {
    if (localIds.has(l.a) && localIds.has(l.b))
      suppliers.push(
        new KeySupplier({
          source: l.source,
          a: { kmeId: l.a, store: storeOf(l.a) },
          b: { kmeId: l.b, store: storeOf(l.b) },
          unitBits: l.unitBits,
          targetBits: l.targetBits,
          clock,
          sink,
          log,
          pause: yieldToIo,
        }),
      );
    else if (localIds.has(supplyLeaderOf(l.a, l.b))) {
      const here = supplyLeaderOf(l.a, l.b);
      suppliers.push(
        new SupplyLeader({
          source: l.source,
          local: { kmeId: here, store: storeOf(here) },
          peerKmeId: here === l.a ? l.b : l.a,
          end: here === l.a ? "a" : "b",
          unitBits: l.unitBits,
          targetBits: l.targetBits,
          transport: clients.get(here)!,
          clock,
          sink,
          log,
          pause: yieldToIo,
        }),
      );
    }
  }
  // A follower regenerates the blocks its store holds now, not when the first notice comes.
  const resuming = Promise.all(
    followers.map((f) =>
      f.resume().catch((e: unknown) =>
        log({
          level: "error",
          event: "supply-resume-failed",
          pool: f.pool,
          error: e instanceof Error ? e.message : String(e),
        }),
      ),
    ),
  );
  // The last failure of each pool's supply, logged once until it changes or the supply recovers.
  const failing = new Map<string, string>();
  let filling: Promise<void> | null = null;
  const fillNow = (): Promise<void> => {
    filling ??= (async () => {
      try {
        for (const s of suppliers) {
          // One block at a time, letting I/O in between: a simulated block is seconds of computation
          // and the servers must keep answering meanwhile.
          let blocks = 0;
          try {
            while ((await s.fill(1)) > 0) {
              blocks++;
              await yieldToIo();
            }
            if (failing.delete(s.pool)) log({ level: "info", event: "supply-recovered", pool: s.pool });
          } catch (e) {
            // One link failing (e.g. the peer process down) does not hold the others back.
            const error = e instanceof Error ? e.message : String(e);
            if (failing.get(s.pool) !== error)
              log({ level: "error", event: "supply-failed", pool: s.pool, error });
            failing.set(s.pool, error);
          }
          if (blocks > 0)
            log({ level: "info", event: "pool-filled", pool: s.pool, blocks, ...(await s.levels()) });
        }
      } catch (e) {
        log({ level: "error", event: "supply-failed", error: e instanceof Error ? e.message : String(e) });
      } finally {
        filling = null;
      }
    })();
    return filling;
  };

  let metricsUrl: string | undefined;
  if (spec.metrics) {
    const app = Fastify({ logger: false });
    registerMetricsRoute(app, sink);
    const host = spec.metrics.host ?? "127.0.0.1";
    try {
      await app.listen({ host, port: spec.metrics.port });
    } catch (e) {
      await resuming;
      await closeAll();
      throw e;
    }
    const address = app.server.address();
    const port = typeof address === "object" && address !== null ? address.port : spec.metrics.port;
    metricsUrl = `http://${host.includes(":") ? `[${host}]` : host}:${port}/metrics`;
    servers.push(app);
    log({ level: "info", event: "listening", service: "metrics", url: metricsUrl });
  }

  if (spec.waitForFill === false) void fillNow();
  else await fillNow();
  const timer = setInterval(() => void fillNow(), spec.refillIntervalMs ?? 1000);
  timer.unref();
  return {
    urls,
    ...(metricsUrl ? { metricsUrl } : {}),
    sink,
    kmes,
    suppliers,
    followers,
    fillNow,
    async close() {
      clearInterval(timer);
      await filling;
      await resuming;
      await closeAll();
      for (const site of spec.sites) await site.store.close();
      log({ level: "info", event: "stopped" });
    },
  };
}
