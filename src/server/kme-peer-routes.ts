/**
 * The internal KME-to-KME API over mutual-TLS HTTPS, under `/kmapi/v1/` (the client is
 * `kme-peer-client.ts`; the protocol is described in docs/kms-network.md):
 *
 * | route | body | answer (200) | callers |
 * |---|---|---|---|
 * | `POST /kmapi/v1/reserve` | a `PeerReservation` | `{ "outcome": "ok" \| "missing-units" \| "duplicate-key" \| "refused" }` | neighbours |
 * | `POST /kmapi/v1/exists` | `{ "pool", "keyId" }` | `{ "exists": boolean }` (false voids the key ID) | neighbours |
 * | `POST /kmapi/v1/relay` | `{ "messages": [RelayMessage, …] }` | a `RelayHopOutcome` | neighbours |
 * | `POST /kmapi/v1/pqc` | a `PqcReserveRequest` | a `PqcReserveOutcome` | known KMEs |
 * | `POST /kmapi/v1/supply` | `{ "pool", "blockId" }` | `{ "added": boolean, "lastBlockId" }`; 409 out of step | the link's leader |
 *
 * The caller is identified by its client certificate (`identifyKme`, typically its common name). Only
 * a neighbouring KME (one this KME shares a QKD pool with) may reserve, ask or relay; the fallback may
 * also come from a KME reached by relay, so `/pqc` accepts any known KME. `/supply` accepts only the
 * leading end of a link whose following end this KME is, and only for that link's pool (a link with
 * both ends in one process has no notices). Anyone else gets 401 before
 * the body is read, and the refusal is audited. Bodies are validated strictly (JSON only, known fields
 * only, types and bounds): anything malformed is 400 with an Error body `{ "message" }`. A failure of
 * this KME (its store) is 503 with a generic Error body, which the client treats as "outcome unknown".
 *
 * @module
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { blockIndex } from "../kms/key-source.js";
import type { KeyStore } from "../kms/key-store.js";
import type { Kme, PeerReservation } from "../kms/kme.js";
import { type PqcFallback, parsePqcRequest, pqcUnitsReceived } from "../kms/pqc-fallback.js";
import { parseRelayBatch, type RelayService } from "../kms/relay-service.js";
import type { SupplyFollower, SupplyNotice } from "../kms/supplier.js";
import { clientErrorMessage } from "./http-errors.js";
import { KME_PEER_API_PREFIX } from "./kme-peer-client.js";

/** Options of {@link registerKmePeerRoutes}. */
export interface KmePeerRoutesOptions {
  /** This site's KME (reservations). */
  kme: Kme;
  /** Its key store (the `exists` answers). */
  store: KeyStore;
  /**
   * The KME ID of the client, or null when it cannot be identified (401). Called once per request,
   * before the body is read; a throw counts as null. Typically `saeIdFromRequest(request, "cn")`.
   */
  identifyKme: (request: FastifyRequest) => string | null;
  /** KMEs this one shares a QKD pool with: the only callers of reserve, exists and relay. */
  neighbours: readonly string[];
  /** Further KMEs that may send post-quantum fallback keys (e.g. reached by relay). Default none. */
  knownKmes?: readonly string[];
  /** The trusted-node relay of this KME; without it `/relay` refuses every batch. */
  relay?: RelayService;
  /** The post-quantum fallback of this KME; without it `/pqc` refuses every key. */
  pqc?: PqcFallback;
  /**
   * The links this KME follows in supply (their leading end runs in another process): the only
   * callers of `/supply` are their leaders, each for its own link's pool. Default none.
   */
  supply?: readonly SupplyFollower[];
  /** Largest request body, bytes. Default 4 MiB (a relay batch of 1024 keys of 8192 bits fits). */
  bodyLimitBytes?: number;
}

const DEFAULT_BODY_LIMIT_BYTES = 4 * 1024 * 1024;

/** Most units one reservation may name, and longest ID accepted (bounds work per request). */
const MAX_UNITS = 4096;
const MAX_ID_LENGTH = 1024;
const MAX_SLAVES = 1024;

/**
 * Registers the KME-to-KME routes on `app` in their own encapsulated scope (its error handler,
 * not-found handler and content-type parser apply to `/kmapi/v1/…` only).
 */
export function registerKmePeerRoutes(app: FastifyInstance, options: KmePeerRoutesOptions): void {
  app.register(
    async (scope) => {
      peerRoutes(scope, options);
    },
    { prefix: KME_PEER_API_PREFIX },
  );
}

function peerRoutes(scope: FastifyInstance, options: KmePeerRoutesOptions): void {
  const { kme, store } = options;
  const bodyLimit = options.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES;
  const neighbours = new Set(options.neighbours);
  const known = new Set([...options.neighbours, ...(options.knownKmes ?? [])]);
  const followers = options.supply ?? [];
  const supplyLeaders = new Set(followers.map((f) => f.leader));
  const callers = new WeakMap<FastifyRequest, string>();

  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser(
    "application/json",
    { parseAs: "string", bodyLimit },
    scope.getDefaultJsonParser("error", "error"),
  );

  scope.addHook("onRequest", async (request, reply) => {
    let caller: string | null;
    try {
      caller = options.identifyKme(request);
    } catch (error) {
      request.log.warn({ err: error }, "kmapi: identifyKme failed");
      caller = null;
    }
    const path = request.url.split("?")[0];
    const allowed =
      path === `${KME_PEER_API_PREFIX}/pqc`
        ? known
        : path === `${KME_PEER_API_PREFIX}/supply`
          ? supplyLeaders
          : neighbours;
    if (caller === null || !allowed.has(caller)) {
      await kme.auditUnauthorised(caller, `kmapi ${request.method} ${path.slice(0, 120)}`);
      return reply.code(401).send();
    }
    callers.set(request, caller);
  });
  const caller = (request: FastifyRequest): string => callers.get(request)!;
  const routeOptions = { bodyLimit, exposeHeadRoute: false };

  scope.post("/reserve", routeOptions, async (request, reply) => {
    let reservation: PeerReservation;
    try {
      reservation = parseReservation(request.body);
    } catch (error) {
      return badRequest(reply, error);
    }
    return ok(reply, { outcome: await kme.reserveForPeer(caller(request), reservation) });
  });

  scope.post("/exists", routeOptions, async (request, reply) => {
    let key: { pool: string; keyId: string };
    try {
      key = parseExists(request.body);
    } catch (error) {
      return badRequest(reply, error);
    }
    const from = caller(request);
    const special =
      (await options.relay?.padReceived(from, key.keyId)) ?? (await pqcUnitsReceived(store, from, key.keyId));
    // An ordinary reservation: looked up by key ID in the store, which voids an unknown key ID so that a
    // reservation of it still in flight is refused when it arrives.
    const exists = special ?? (await kme.peerKeyExists(from, key));
    return ok(reply, { exists });
  });

  scope.post("/relay", routeOptions, async (request, reply) => {
    let messages: ReturnType<typeof parseRelayBatch>;
    try {
      messages = parseRelayBatch(request.body);
    } catch (error) {
      return badRequest(reply, error);
    }
    if (!options.relay)
      return ok(reply, { status: "refused", padsConsumed: false, reason: "this KME does not relay" });
    return ok(reply, await options.relay.receiveHop(caller(request), messages));
  });

  scope.post("/pqc", routeOptions, async (request, reply) => {
    let pqcRequest: ReturnType<typeof parsePqcRequest>;
    try {
      pqcRequest = parsePqcRequest(request.body);
    } catch (error) {
      return badRequest(reply, error);
    }
    if (!options.pqc)
      return ok(reply, {
        status: "refused",
        unitsConsumed: false,
        reason: "this KME has no post-quantum fallback",
      });
    return ok(reply, await options.pqc.receive(caller(request), pqcRequest));
  });

  scope.post("/supply", routeOptions, async (request, reply) => {
    let notice: SupplyNotice;
    try {
      notice = parseSupplyNotice(request.body);
    } catch (error) {
      return badRequest(reply, error);
    }
    const from = caller(request);
    const follower = followers.find((f) => f.pool === notice.pool && f.leader === from);
    if (!follower) {
      // A leader of another link naming this one's pool: not the link's other end.
      await kme.auditUnauthorised(
        from,
        `kmapi POST ${KME_PEER_API_PREFIX}/supply (pool ${notice.pool.slice(0, 120)})`,
      );
      return reply.code(401).send();
    }
    const outcome = await follower.receive(notice);
    if (outcome.status === "out-of-step")
      return reply.code(409).type("application/json; charset=utf-8").send({ message: outcome.reason });
    return ok(reply, { added: outcome.added, lastBlockId: outcome.lastBlockId });
  });

  scope.setNotFoundHandler(async (request, reply) =>
    reply
      .code(404)
      .type("application/json; charset=utf-8")
      .send({
        message: `no such KME-to-KME method: ${request.method} ${request.url.split("?")[0].slice(0, 120)}; the API has POST reserve, exists, relay, pqc and supply under ${KME_PEER_API_PREFIX}`,
      }),
  );

  scope.setErrorHandler(async (error: FastifyError, request, reply) => {
    const status = error.statusCode;
    if (typeof status === "number" && status >= 400 && status < 500)
      return reply
        .code(400)
        .type("application/json; charset=utf-8")
        .send({
          message: clientErrorMessage(error, bodyLimit, "the body is empty; a JSON object is required"),
        });
    request.log.error({ err: error }, "kmapi: request failed");
    return reply
      .code(503)
      .type("application/json; charset=utf-8")
      .send({ message: "the KME could not complete the request (internal error); retry later" });
  });
}

function ok(reply: FastifyReply, body: unknown): FastifyReply {
  return reply
    .code(200)
    .header("cache-control", "no-store")
    .type("application/json; charset=utf-8")
    .send(body);
}

/** 400 with the validation error's message (the parsers never quote key material or ciphertexts). */
function badRequest(reply: FastifyReply, error: unknown): FastifyReply {
  const message = error instanceof RangeError ? error.message : "the body is malformed";
  return reply.code(400).type("application/json; charset=utf-8").send({ message });
}

/** @throws RangeError unless `body` is an object with exactly the `fields` named (all required). */
function fieldsOf(body: unknown, what: string, fields: readonly string[]): Record<string, unknown> {
  if (body === undefined)
    throw new RangeError(`the ${what} must be a JSON body (Content-Type: application/json)`);
  if (body === null || typeof body !== "object" || Array.isArray(body))
    throw new RangeError(`the ${what} must be a JSON object`);
  const b = body as Record<string, unknown>;
  for (const k of Object.keys(b))
    if (!fields.includes(k)) throw new RangeError(`${what}: unknown field ${k}`);
  for (const f of fields) if (!(f in b)) throw new RangeError(`${what}: ${f} is missing`);
  return b;
}

function checkId(value: unknown, name: string): string {
  if (typeof value !== "string" || value.length === 0 || value.length > MAX_ID_LENGTH)
    throw new RangeError(`${name} must be a non-empty string of at most ${MAX_ID_LENGTH} characters`);
  return value;
}

function checkIds(value: unknown, name: string, max: number): string[] {
  if (!Array.isArray(value) || value.length === 0 || value.length > max)
    throw new RangeError(`${name} must be an array of 1 to ${max} strings`);
  const ids = value.map((v, i) => checkId(v, `${name}[${i}]`));
  if (new Set(ids).size !== ids.length) throw new RangeError(`${name} names an entry twice`);
  return ids;
}

/** @throws RangeError on a malformed reservation. */
function parseReservation(body: unknown): PeerReservation {
  const b = fieldsOf(body, "reservation", ["pool", "keyId", "unitIds", "sizeBits", "masterSae", "slaveSaes"]);
  const sizeBits = b.sizeBits;
  if (typeof sizeBits !== "number" || !Number.isSafeInteger(sizeBits) || sizeBits <= 0 || sizeBits % 8 !== 0)
    throw new RangeError("reservation: sizeBits must be a positive multiple of 8");
  return {
    pool: checkId(b.pool, "reservation: pool"),
    keyId: checkId(b.keyId, "reservation: keyId"),
    unitIds: checkIds(b.unitIds, "reservation: unitIds", MAX_UNITS),
    sizeBits,
    masterSae: checkId(b.masterSae, "reservation: masterSae"),
    slaveSaes: checkIds(b.slaveSaes, "reservation: slaveSaes", MAX_SLAVES),
  };
}

/** @throws RangeError on a malformed exists question. */
function parseExists(body: unknown): { pool: string; keyId: string } {
  const b = fieldsOf(body, "exists question", ["pool", "keyId"]);
  return { pool: checkId(b.pool, "exists: pool"), keyId: checkId(b.keyId, "exists: keyId") };
}

/** @throws RangeError on a malformed supply notice. */
function parseSupplyNotice(body: unknown): SupplyNotice {
  const b = fieldsOf(body, "supply notice", ["pool", "blockId"]);
  const notice = { pool: checkId(b.pool, "supply: pool"), blockId: checkId(b.blockId, "supply: blockId") };
  if (blockIndex({ blockId: notice.blockId }) === undefined)
    throw new RangeError("supply: blockId must end in :<block index>");
  return notice;
}
