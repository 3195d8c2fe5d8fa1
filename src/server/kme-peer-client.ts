/**
 * The KME-to-KME channel over mutual-TLS HTTPS: the client side of the internal `/kmapi/v1/` routes
 * (`kme-peer-routes.ts`). One {@link HttpsKmePeers} per KME carries its reservations ({@link PeerKmes}),
 * relay hops ({@link RelayTransport}), post-quantum fallback keys ({@link PqcTransport}) and, for a
 * link whose other end runs in another process, its supply notices ({@link SupplyTransport}) to the
 * neighbouring KMEs.
 *
 * Security: every connection presents this KME's client certificate and trusts only the network CA; the
 * peer's certificate must also name the expected KME ID as its subject common name, besides matching
 * the URL's host as usual, so a certificate of another KME (or of an SAE) from the same CA cannot stand
 * in for the peer. Each peer has its own keep-alive agent, so a pooled connection verified for one KME
 * is never reused for another.
 *
 * What a failure means to the caller (the contract of each transport interface):
 * - no answer (connection refused or lost, TLS failure, timeout, a 5xx, an unreadable 200) rejects the
 *   promise: the outcome is **unknown**, and the Kme, the relay and the fallback treat it so (the Kme
 *   asks `exists` later or discards the key's units; the relay and the fallback discard their units);
 * - a 400 or 401 means the peer refused the request before acting on it: `reserve` resolves
 *   `"refused"`, `relayHop` and `pqcReserve` resolve `refused` with nothing consumed;
 * - `supply` resolves only on a 200 acknowledgement and rejects otherwise (the leader keeps the block
 *   and offers it again); a 409 (the ends out of step) rejects with the follower's reason.
 * Error messages name the peer and the path, never a body (bodies carry ciphertexts and unit IDs).
 *
 * @module
 */
import { Agent, request } from "node:https";
import { checkServerIdentity, type PeerCertificate } from "node:tls";
import type { PeerKmes, PeerReservation, PeerReserveOutcome } from "../kms/kme.js";
import type { PqcReserveOutcome, PqcReserveRequest, PqcTransport } from "../kms/pqc-fallback.js";
import type { RelayMessage } from "../kms/relay.js";
import type { RelayHopOutcome, RelayTransport } from "../kms/relay-service.js";
import type { SupplyAck, SupplyNotice, SupplyTransport } from "../kms/supplier.js";

/** The prefix of the internal KME-to-KME routes. */
export const KME_PEER_API_PREFIX = "/kmapi/v1";

/** Where a peer KME is reached. */
export interface KmePeerEndpoint {
  /** Base URL, `https://host:port` (a path prefix is allowed; `/kmapi/v1/…` is appended). */
  url: string;
}

/** Options of {@link HttpsKmePeers}. */
export interface HttpsKmePeersOptions {
  /** This KME's ID (for error messages). */
  kmeId: string;
  /** The peer KMEs by KME ID. */
  peers: Readonly<Record<string, KmePeerEndpoint>>;
  /** This KME's client certificate (PEM; CN = this KME's ID), with extended key usage clientAuth. */
  cert: string;
  /** Its private key (PEM). Never logged. */
  key: string;
  /** The network CA that peer KME certificates chain to (PEM). */
  ca: string;
  /** Time limit of one call, ms, from connecting to the end of the answer. Default 10 000. */
  timeoutMs?: number;
  /** Concurrent connections per peer. Default 8. */
  maxSockets?: number;
  /** Largest answer accepted, bytes. Default 64 KiB. */
  maxResponseBytes?: number;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_SOCKETS = 8;
const DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024;

/** Statuses whose answer a call reads; any other rejects. */
const ANSWERED_STATUSES: readonly number[] = [200, 400, 401];
/** A supply notice also reads the follower's 409 (out of step) for its reason. */
const SUPPLY_STATUSES: readonly number[] = [200, 400, 401, 409];

/** A call that got no usable answer (the outcome is unknown to the caller). */
export class KmePeerError extends Error {
  override readonly name = "KmePeerError";
}

interface Peer {
  base: URL;
  agent: Agent;
}

/**
 * An HTTPS client to the neighbouring KMEs. See the module documentation for the failure contract.
 * Call {@link HttpsKmePeers.close} when done, to close the pooled connections.
 */
export class HttpsKmePeers implements PeerKmes, RelayTransport, PqcTransport, SupplyTransport {
  readonly kmeId: string;
  private readonly peers = new Map<string, Peer>();
  private readonly timeoutMs: number;
  private readonly maxSockets: number;
  private readonly maxResponseBytes: number;
  private readonly tls: { cert: string; key: string; ca: string };

  /** @throws Error on a peer URL that is not `https:` or not a URL. */
  constructor(options: HttpsKmePeersOptions) {
    this.kmeId = options.kmeId;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.maxSockets = options.maxSockets ?? DEFAULT_MAX_SOCKETS;
    this.maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    if (!(this.timeoutMs > 0)) throw new Error("HttpsKmePeers: timeoutMs must be positive");
    this.tls = { cert: options.cert, key: options.key, ca: options.ca };
    for (const [id, endpoint] of Object.entries(options.peers)) this.setPeer(id, endpoint);
  }

  /**
   * Adds a peer KME or changes its URL (e.g. once a peer listening on port 0 knows its port). Open
   * connections to its previous URL are closed.
   *
   * @throws Error on a URL that is not `https:` or not a URL.
   */
  setPeer(kmeId: string, endpoint: KmePeerEndpoint): void {
    let base: URL;
    try {
      base = new URL(endpoint.url);
    } catch {
      throw new Error(`KME ${kmeId}: ${JSON.stringify(endpoint.url)} is not a URL`);
    }
    if (base.protocol !== "https:")
      throw new Error(`KME ${kmeId}: the URL must be https:, got ${base.protocol}`);
    this.peers.get(kmeId)?.agent.destroy();
    const agent = new Agent({
      keepAlive: true,
      maxSockets: this.maxSockets,
      cert: this.tls.cert,
      key: this.tls.key,
      ca: this.tls.ca,
      minVersion: "TLSv1.2",
      rejectUnauthorized: true,
      // The usual host check, then the KME ID: any certificate of the network CA matches the host.
      checkServerIdentity: (host: string, cert: PeerCertificate) => {
        const hostError = checkServerIdentity(host, cert);
        if (hostError) return hostError;
        const cn: unknown = cert.subject?.CN;
        if (cn !== kmeId)
          return new Error(
            `the server's certificate names ${typeof cn === "string" ? cn : "no single KME"}, not KME ${kmeId}`,
          );
        return undefined;
      },
    });
    this.peers.set(kmeId, { base, agent });
  }

  /** KME IDs of the configured peers. */
  peerIds(): string[] {
    return [...this.peers.keys()];
  }

  /**
   * Asks the peer to reserve one key (`POST /kmapi/v1/reserve`). A 400/401 resolves `"refused"`; no
   * answer rejects (outcome unknown, see {@link PeerKmes}).
   */
  async reserve(peerKmeId: string, reservation: PeerReservation): Promise<PeerReserveOutcome> {
    const body = {
      pool: reservation.pool,
      keyId: reservation.keyId,
      unitIds: [...reservation.unitIds],
      sizeBits: reservation.sizeBits,
      masterSae: reservation.masterSae,
      slaveSaes: [...reservation.slaveSaes],
    };
    const answer = await this.post(peerKmeId, "reserve", body);
    if (answer.status !== 200) return "refused";
    const outcome = (answer.body as { outcome?: unknown } | null)?.outcome;
    if (
      outcome === "ok" ||
      outcome === "missing-units" ||
      outcome === "duplicate-key" ||
      outcome === "refused"
    )
      return outcome;
    throw this.unreadable(peerKmeId, "reserve");
  }

  /**
   * Whether the peer holds (or has delivered) the key (`POST /kmapi/v1/exists`). Rejects unless the peer
   * answers 200 with a boolean: a refusal does not tell whether the key exists.
   */
  async exists(peerKmeId: string, key: { pool: string; keyId: string }): Promise<boolean> {
    const answer = await this.post(peerKmeId, "exists", { pool: key.pool, keyId: key.keyId });
    const exists = (answer.body as { exists?: unknown } | null)?.exists;
    if (answer.status === 200 && typeof exists === "boolean") return exists;
    throw new KmePeerError(
      `KME ${peerKmeId} did not say whether key ${key.keyId} exists (HTTP ${answer.status})`,
    );
  }

  /** Sends a relay batch (`POST /kmapi/v1/relay`). A 400/401 resolves `refused` with no pad consumed. */
  async relayHop(peerKmeId: string, messages: readonly RelayMessage[]): Promise<RelayHopOutcome> {
    const answer = await this.post(peerKmeId, "relay", { messages });
    if (answer.status !== 200) return { status: "refused", padsConsumed: false, reason: refusal(answer) };
    const b = answer.body as { status?: unknown; padsConsumed?: unknown; reason?: unknown } | null;
    if (b?.status === "ok") return { status: "ok" };
    if (b?.status === "refused" && typeof b.padsConsumed === "boolean")
      return { status: "refused", padsConsumed: b.padsConsumed, reason: String(b.reason ?? "refused") };
    throw this.unreadable(peerKmeId, "relay");
  }

  /** Sends a fallback key (`POST /kmapi/v1/pqc`). A 400/401 resolves `refused` with no unit consumed. */
  async pqcReserve(peerKmeId: string, req: PqcReserveRequest): Promise<PqcReserveOutcome> {
    const answer = await this.post(peerKmeId, "pqc", req);
    if (answer.status !== 200) return { status: "refused", unitsConsumed: false, reason: refusal(answer) };
    const b = answer.body as { status?: unknown; unitsConsumed?: unknown; reason?: unknown } | null;
    if (b?.status === "ok") return { status: "ok" };
    if (b?.status === "refused" && typeof b.unitsConsumed === "boolean")
      return { status: "refused", unitsConsumed: b.unitsConsumed, reason: String(b.reason ?? "refused") };
    throw this.unreadable(peerKmeId, "pqc");
  }

  /**
   * Tells the follower of a link to add its share of a block (`POST /kmapi/v1/supply`). Resolves with
   * its acknowledgement; rejects on anything else, with the follower's reason when it answers 409 (the
   * two ends out of step).
   */
  async supply(peerKmeId: string, notice: SupplyNotice): Promise<SupplyAck> {
    const answer = await this.post(
      peerKmeId,
      "supply",
      { pool: notice.pool, blockId: notice.blockId },
      SUPPLY_STATUSES,
    );
    const b = answer.body as { added?: unknown; lastBlockId?: unknown; message?: unknown } | null;
    if (answer.status === 200) {
      if (typeof b?.added === "boolean" && typeof b.lastBlockId === "string")
        return { added: b.added, lastBlockId: b.lastBlockId };
      throw this.unreadable(peerKmeId, "supply");
    }
    const why =
      answer.status === 409 && typeof b?.message === "string"
        ? `out of step: ${b.message.slice(0, 500)}`
        : answer.status === 401
          ? "the peer does not take this KME's supply for that pool (401)"
          : refusal(answer);
    throw new KmePeerError(
      `KME ${peerKmeId} did not add block ${notice.blockId} of pool ${notice.pool}: ${why}`,
    );
  }

  /** Closes the pooled connections. Calls made afterwards open new ones. */
  close(): void {
    for (const p of this.peers.values()) p.agent.destroy();
  }

  private unreadable(peerKmeId: string, what: string): KmePeerError {
    return new KmePeerError(
      `KME ${peerKmeId} answered ${KME_PEER_API_PREFIX}/${what} with an unreadable body`,
    );
  }

  /**
   * POSTs JSON to the peer. Resolves with 200, 400 and 401 answers (or those of `statuses`; body parsed
   * when JSON); rejects with a {@link KmePeerError} on anything else, including other statuses.
   */
  private post(
    peerKmeId: string,
    what: string,
    body: unknown,
    statuses: readonly number[] = ANSWERED_STATUSES,
  ): Promise<{ status: number; body: unknown }> {
    const peer = this.peers.get(peerKmeId);
    if (!peer)
      return Promise.reject(new KmePeerError(`KME ${this.kmeId} has no address for KME ${peerKmeId}`));
    const path = `${peer.base.pathname.replace(/\/$/, "")}${KME_PEER_API_PREFIX}/${what}`;
    const where = `KME ${peerKmeId} (${KME_PEER_API_PREFIX}/${what})`;
    const payload = JSON.stringify(body);
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (message: string) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        req.destroy();
        reject(new KmePeerError(`${where}: ${message}`));
      };
      const req = request(
        {
          protocol: "https:",
          hostname: peer.base.hostname.replace(/^\[|\]$/g, ""),
          port: peer.base.port || 443,
          path,
          method: "POST",
          agent: peer.agent,
          headers: {
            "content-type": "application/json",
            "content-length": Buffer.byteLength(payload),
            accept: "application/json",
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on("data", (chunk: Buffer) => {
            size += chunk.length;
            if (size > this.maxResponseBytes) fail(`the answer exceeds ${this.maxResponseBytes} bytes`);
            else chunks.push(chunk);
          });
          res.on("error", (e) => fail(`the answer was cut off (${errorCode(e)})`));
          res.on("end", () => {
            if (settled) return;
            const status = res.statusCode ?? 0;
            if (!statuses.includes(status)) return fail(`HTTP ${status}`);
            const text = Buffer.concat(chunks).toString("utf8");
            let parsed: unknown = null;
            if (text.length > 0) {
              try {
                parsed = JSON.parse(text);
              } catch {
                if (status === 200) return fail("the answer is not JSON");
              }
            }
            settled = true;
            clearTimeout(timer);
            resolve({ status, body: parsed });
          });
        },
      );
      // One deadline for the whole exchange: a peer trickling bytes cannot hold a request forever.
      const timer = setTimeout(() => fail(`no answer within ${this.timeoutMs} ms`), this.timeoutMs);
      req.on("error", (e) => fail(`request failed (${errorCode(e)})`));
      req.end(payload);
    });
  }
}

/** A short reason for a 400/401 answer, for logs. */
function refusal(answer: { status: number; body: unknown }): string {
  if (answer.status === 401) return "the peer did not accept this KME's certificate (401)";
  const message = (answer.body as { message?: unknown } | null)?.message;
  return `the peer refused the request (400${typeof message === "string" ? `: ${message.slice(0, 300)}` : ""})`;
}

/** The error's code or message, without stack: TLS errors explain themselves in either. */
function errorCode(e: unknown): string {
  const err = e as { code?: unknown; message?: unknown };
  const parts = [err.code, err.message].filter((x) => typeof x === "string");
  return parts.length ? parts.join(": ") : String(e);
}
