/**
 * The orchestrator's versioned REST API (issue 6) over HTTP: a fastify plugin mapping an
 * {@link Orchestrator} to routes under `/api/v1`, plus a server-sent event stream of its events and
 * the OpenAPI 3.1 document that describes all of it (./orchestrator-openapi.ts).
 *
 * | method | path | what |
 * |---|---|---|
 * | POST | `/jobs` | submit a job (201, 400 invalid spec, 422 refused by admission) |
 * | GET | `/jobs` | list jobs, newest first, paged by cursor |
 * | GET | `/jobs/{id}` | one job |
 * | DELETE | `/jobs/{id}` | cancel a job (409 if already final) |
 * | GET | `/topology` | the network's nodes and links |
 * | GET | `/links` | live status of every link (estimates, up/down, pooled key) |
 * | POST | `/links/{id}/down`, `/links/{id}/up` | operator fault injection |
 * | GET | `/events` | `text/event-stream` of job and link events |
 * | GET | `/openapi.json` | the OpenAPI document |
 *
 * Inside qnet a job is camelCase with its unit in each name; on the wire it is snake_case
 * ({@link jobToJson}), like the job spec the client sends. Every error body is JSON with a `message`;
 * client mistakes fastify detects itself (malformed JSON, wrong content type, oversized body) are 400,
 * never 5xx, so a fuzzing or careless client cannot make the server look broken.
 *
 * See docs/orchestrator-api.md.
 *
 * @module
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { JobQuery } from "../control/job-store.js";
import { MAX_LIST_LIMIT } from "../control/job-store.js";
import {
  isJobState,
  JOB_KINDS,
  type JobKind,
  type JobRecord,
  type JobResult,
  type JobSpecJson,
  type JobState,
  JobTransitionError,
  jobSpecToJson,
} from "../control/jobs.js";
import type { Orchestrator, OrchestratorEvent } from "../control/orchestrator.js";
import type { NodeType, Topology } from "../network/topology.js";
import { clientErrorMessage, shortPath } from "./http-errors.js";
import { ORCHESTRATOR_OPENAPI } from "./orchestrator-openapi.js";

/** What the job API says when a request's Content-Type announces JSON but its body is empty. */
const EMPTY_JSON_BODY = "the body is empty but Content-Type says JSON: send a JSON body, or no Content-Type";

/** The prefix of every route of the orchestrator API. */
export const ORCHESTRATOR_API_PREFIX = "/api/v1";

/** The header a caller (or an authenticating proxy in front of qnet) names its tenant in. */
export const TENANT_HEADER = "x-qnet-tenant";

/**
 * Server options to pass to `Fastify(…)` when it serves the orchestrator API: a `maxParamLength` that
 * admits job IDs of the longest valid length (128; fastify's default of 100 would answer 414). The
 * key delivery API's `KMS_SERVER_OPTIONS` (./kms-routes.ts) allow longer parameters and do as well.
 */
export const ORCHESTRATOR_SERVER_OPTIONS = { routerOptions: { maxParamLength: 256 } } as const;

/** Starts delivering orchestrator events to `listener`; the function returned stops it. */
export type SubscribeEvents = (listener: (event: OrchestratorEvent) => void) => () => void;

/** Options of {@link registerOrchestratorRoutes}. */
export interface OrchestratorRoutesOptions {
  orchestrator: Orchestrator;
  /** A fresh job ID per submission (e.g. `crypto.randomUUID`); must satisfy `checkJobId`. */
  newId: () => string;
  /** Where the event stream gets its events; {@link orchestratorEventHub} makes one. */
  events: SubscribeEvents;
  /** Largest request body, bytes. Default 64 KiB: a job spec is a few hundred bytes. */
  bodyLimitBytes?: number;
  /** Interval of the event stream's comment heartbeat, ms. Default 15 000. */
  heartbeatMs?: number;
  /**
   * Bits of key currently pooled per link ID (from the key service), read on every `GET /links`.
   * Links missing from the map get no `key_pool_bits`; without the callback no link has one.
   */
  keyPools?: () => ReadonlyMap<string, number>;
}

const DEFAULT_BODY_LIMIT_BYTES = 64 * 1024;
const DEFAULT_HEARTBEAT_MS = 15_000;
/**
 * Unsent bytes an event stream may hold for a client before it is dropped: a client that stopped
 * reading would otherwise make the server buffer every event forever.
 */
const MAX_STREAM_BACKLOG_BYTES = 1024 * 1024;
const QUERY_FIELDS = ["state", "tenant", "kind", "limit", "cursor"] as const;

/**
 * A fan-out for the orchestrator's single `onEvent` callback: pass `emit` as `onEvent` and `subscribe`
 * as {@link OrchestratorRoutesOptions.events}. A listener that throws breaks nothing: the error is
 * swallowed so that one broken stream cannot stop the engine or the other streams.
 */
export function orchestratorEventHub(): {
  emit: (event: OrchestratorEvent) => void;
  subscribe: SubscribeEvents;
  /** Listeners currently subscribed (open event streams). */
  size: () => number;
} {
  const listeners = new Set<(event: OrchestratorEvent) => void>();
  return {
    emit(event) {
      for (const l of [...listeners]) {
        try {
          l(event);
        } catch {
          // A listener's failure is its own (a closed socket); the orchestrator must carry on.
        }
      }
    },
    subscribe(listener) {
      // Wrapped so that the same function subscribed twice gets two independent subscriptions.
      const own = (e: OrchestratorEvent) => listener(e);
      listeners.add(own);
      return () => {
        listeners.delete(own);
      };
    },
    size: () => listeners.size,
  };
}

/** Fidelity statistics as the API spells them. */
export interface FidelityStatsJson {
  count: number;
  mean: number;
  min: number;
  max: number;
  std_dev?: number;
}

/** A job's result as the API spells it (snake_case). */
export interface JobResultJson {
  delivered?: number;
  fidelity?: FidelityStatsJson;
  key_bits?: number;
  key_ids?: string[];
  rate_hz?: number;
  duration_ns?: number;
  setup_ns?: number;
  error?: { code: string; message: string };
}

/** A job as the API returns it. Times are ISO 8601 strings (UTC). */
export interface JobJson {
  id: string;
  kind: JobKind;
  state: JobState;
  tenant: string;
  priority: number;
  spec: JobSpecJson;
  history: { state: JobState; at: string; reason?: string }[];
  path?: string[];
  result?: JobResultJson;
  created_at: string;
  updated_at: string;
  deadline_at?: string;
  version: number;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** The network as `GET /topology` returns it. */
export interface TopologyJson {
  name: string;
  nodes: { id: string; type: NodeType; memory_qubits?: number }[];
  links: { id: string; a: string; b: string; kind: "physical" | "abstract"; length_km?: number }[];
}

/** The API's view of a topology: node IDs, types and memories; link ends and fiber lengths. */
export function topologyToJson(topology: Topology): TopologyJson {
  return {
    name: topology.name,
    nodes: topology.nodes.map((n) =>
      n.memory.qubits > 0
        ? { id: n.id, type: n.type, memory_qubits: n.memory.qubits }
        : { id: n.id, type: n.type },
    ),
    // An abstract link's length only sets its default classical latency, so only fiber shows one.
    links: topology.links.map((l) =>
      l.quantum.kind === "physical"
        ? { id: l.id, a: l.a, b: l.b, kind: "physical", length_km: l.quantum.lengthKm }
        : { id: l.id, a: l.a, b: l.b, kind: "abstract" },
    ),
  };
}

/** One link's live status as `GET /links` returns it. */
export interface LinkStatusJson {
  link_id: string;
  a: string;
  b: string;
  up: boolean;
  success_probability: number;
  attempt_period_ns: number;
  pair_rate_hz: number;
  fidelity: number;
  observed_attempts: number;
  key_pool_bits?: number;
  /** While down: who took it down, `operator` (the API) or `detected` (it stopped heralding). */
  down_cause?: "operator" | "detected";
}

/** Every link's live estimates, in topology order, with the key pooled on it when `keyPools` knows. */
export function linkStatuses(orch: Orchestrator, keyPools?: ReadonlyMap<string, number>): LinkStatusJson[] {
  return orch.estimator.linkIds().map((id) => {
    const e = orch.estimator.estimate(id);
    const out: LinkStatusJson = {
      link_id: id,
      a: e.a,
      b: e.b,
      up: e.up,
      success_probability: e.successProbability,
      attempt_period_ns: e.attemptPeriodNs,
      pair_rate_hz: orch.estimator.expectedPairRateHz(id),
      fidelity: e.fidelity,
      observed_attempts: e.observedAttempts,
    };
    const hold = orch.linkHold(id);
    if (hold !== undefined) out.down_cause = hold;
    const bits = keyPools?.get(id);
    if (bits !== undefined) out.key_pool_bits = bits;
    return out;
  });
}

/** The snake_case view of a {@link JobResult}. */
export function jobResultToJson(r: JobResult): JobResultJson {
  const out: JobResultJson = {};
  if (r.delivered !== undefined) out.delivered = r.delivered;
  if (r.fidelity !== undefined) {
    const { count, mean, min, max, stdDev } = r.fidelity;
    out.fidelity =
      stdDev === undefined ? { count, mean, min, max } : { count, mean, min, max, std_dev: stdDev };
  }
  if (r.keyBits !== undefined) out.key_bits = r.keyBits;
  if (r.keyIds !== undefined) out.key_ids = [...r.keyIds];
  if (r.rateHz !== undefined) out.rate_hz = r.rateHz;
  if (r.durationNs !== undefined) out.duration_ns = r.durationNs;
  if (r.setupNs !== undefined) out.setup_ns = r.setupNs;
  if (r.error !== undefined) out.error = { code: r.error.code, message: r.error.message };
  return out;
}

/**
 * The API's view of a job record. The scheduler's claim is left out: it is internal bookkeeping of
 * whichever worker holds the job, not something a client can act on.
 */
export function jobToJson(job: JobRecord): JobJson {
  const out: JobJson = {
    id: job.id,
    kind: job.spec.kind,
    state: job.state,
    tenant: job.spec.tenant,
    priority: job.spec.priority,
    spec: jobSpecToJson(job.spec),
    history: job.history.map((h) =>
      h.reason === undefined
        ? { state: h.state, at: iso(h.atMs) }
        : { state: h.state, at: iso(h.atMs), reason: h.reason },
    ),
    created_at: iso(job.createdAtMs),
    updated_at: iso(job.updatedAtMs),
    version: job.version,
  };
  if (job.path !== undefined) out.path = [...job.path];
  if (job.result !== undefined) out.result = jobResultToJson(job.result);
  if (job.deadlineAtMs !== undefined) out.deadline_at = iso(job.deadlineAtMs);
  return out;
}

/** The `data` of an event-stream event: `job` events carry the job (and a reroute), `link` events the link. */
export function eventToJson(event: OrchestratorEvent): { event: "job" | "link"; data: unknown } {
  if (event.type === "link")
    return {
      event: "link",
      data: {
        link_id: event.linkId,
        up: event.up,
        cause: event.cause,
        ...(event.reason ? { reason: event.reason } : {}),
      },
    };
  const data: { job: JobJson; reroute?: { link_id: string; from: string[]; to: string[] } } = {
    job: jobToJson(event.job),
  };
  if (event.reroute !== undefined)
    data.reroute = { link_id: event.reroute.linkId, from: event.reroute.from, to: event.reroute.to };
  return { event: "job", data };
}

/**
 * Registers the orchestrator API on `app` in its own encapsulated scope under `/api/v1` (its error
 * handler, 404 handler and content-type parsers apply to this API only, so that other APIs on the
 * same server — the ETSI key delivery API under `/api/v1/keys` — keep their own rules). Takes effect
 * when the app is ready (`await app.ready()`, `listen` or `inject`).
 */
export function registerOrchestratorRoutes(app: FastifyInstance, options: OrchestratorRoutesOptions): void {
  app.register(
    async (scope) => {
      orchestratorRoutes(scope, options);
    },
    { prefix: ORCHESTRATOR_API_PREFIX },
  );
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

function orchestratorRoutes(scope: FastifyInstance, options: OrchestratorRoutesOptions): void {
  const { orchestrator: orch } = options;
  const bodyLimit = options.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES;
  const heartbeatMs = options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;

  // JSON only: fastify's text/plain parser would otherwise hand a string to the handlers. The default
  // JSON parser refuses __proto__ and constructor.prototype keys (prototype poisoning).
  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser(
    "application/json",
    { parseAs: "string", bodyLimit },
    scope.getDefaultJsonParser("error", "error"),
  );

  // HEAD routes are left out so that the routes fastify serves are exactly the documented ones.
  const routeOptions = { bodyLimit, exposeHeadRoute: false };

  scope.post("/jobs", routeOptions, async (request, reply) => {
    if (request.body === undefined)
      throw new HttpError(
        400,
        'the job spec must be a JSON body with Content-Type: application/json, e.g. {"kind": "qkd", "src": "a", "dst": "b", "key_bits": 1024}',
      );
    const tenant = tenantHeader(request);
    const r = await orch.submit(
      request.body,
      tenant === undefined ? { id: options.newId() } : { id: options.newId(), tenant },
    );
    if (r.ok)
      return json(
        reply.header("location", `${ORCHESTRATOR_API_PREFIX}/jobs/${r.job.id}`),
        201,
        jobToJson(r.job),
      );
    if ("errors" in r)
      return json(reply, 400, {
        message: `invalid job spec: ${r.errors.map((e) => (e.path ? `${e.path}: ` : "") + e.message).join("; ")}`,
        errors: r.errors,
      });
    // Refused: the job exists (failed, with the refusal in its history), so the client gets it too —
    // it can be fetched later and shows up in listings and counts.
    return json(reply, 422, { message: r.refused.reason, code: r.refused.code, job: jobToJson(r.job) });
  });

  scope.get("/jobs", routeOptions, async (request, reply) => {
    const query = parseListQuery(request.query as Record<string, unknown>);
    let page: Awaited<ReturnType<Orchestrator["list"]>>;
    try {
      page = await orch.list(query);
    } catch (e) {
      // The store's own checks (an unknown cursor) are the client's mistake.
      if (e instanceof RangeError) throw new HttpError(400, e.message);
      throw e;
    }
    const body: { jobs: JobJson[]; next_cursor?: string } = { jobs: page.jobs.map(jobToJson) };
    if (page.nextCursor !== undefined) body.next_cursor = page.nextCursor;
    return json(reply, 200, body);
  });

  scope.get<{ Params: { id: string } }>("/jobs/:id", routeOptions, async (request, reply) => {
    const job = await orch.get(request.params.id);
    if (job === null) throw noSuchJob(request.params.id);
    return json(reply, 200, jobToJson(job));
  });

  scope.delete<{ Params: { id: string } }>("/jobs/:id", routeOptions, async (request, reply) => {
    let job: JobRecord | null;
    try {
      job = await orch.cancel(request.params.id, "cancelled by client (API)");
    } catch (e) {
      if (e instanceof JobTransitionError) {
        const now = await orch.get(request.params.id);
        throw new HttpError(409, e.message, {
          code: e.code,
          ...(now === null ? {} : { job: jobToJson(now) }),
        });
      }
      throw e;
    }
    if (job === null) throw noSuchJob(request.params.id);
    return json(reply, 200, jobToJson(job));
  });

  scope.get("/topology", routeOptions, async (_request, reply) =>
    json(reply, 200, topologyToJson(orch.topology)),
  );

  scope.get("/links", routeOptions, async (_request, reply) =>
    json(reply, 200, { links: linkStatuses(orch, options.keyPools?.()) }),
  );

  scope.post<{ Params: { id: string } }>("/links/:id/down", routeOptions, async (request, reply) => {
    const id = knownLink(orch, request.params.id);
    const affected = await orch.linkDown(id);
    return json(reply, 200, { link_id: id, up: false, affected: affected.map(jobToJson) });
  });

  scope.post<{ Params: { id: string } }>("/links/:id/up", routeOptions, async (request, reply) => {
    const id = knownLink(orch, request.params.id);
    const affected = await orch.linkUp(id);
    return json(reply, 200, { link_id: id, up: true, affected: affected.map(jobToJson) });
  });

  const streams = new Set<() => void>();
  scope.get("/events", routeOptions, (request, reply) => {
    // The stream outlives the handler, so fastify hands the socket over (hijack) and stays out of it.
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      // The connection is the stream's alone: when the stream ends, so does the connection, rather
      // than idling as a keep-alive socket that would hold up the server's close.
      connection: "close",
      // Reverse proxies (nginx) buffer responses by default, which would hold events back.
      "x-accel-buffering": "no",
    });
    // A first comment flushes the headers, so a client knows at once that the stream is open.
    res.write(": qnet orchestrator events\n\n");
    let closed = false;
    const write = (chunk: string) => {
      if (closed) return;
      if (res.writableLength > MAX_STREAM_BACKLOG_BYTES) {
        request.log.warn("orchestrator events: client is not reading; closing its stream");
        close();
        return;
      }
      res.write(chunk);
    };
    const unsubscribe = options.events((event) => {
      const { event: name, data } = eventToJson(event);
      write(`event: ${name}\ndata: ${JSON.stringify(data)}\n\n`);
    });
    // Comments keep idle connections from being cut by proxies and let clients notice a dead server.
    const heartbeat = setInterval(() => write(": heartbeat\n\n"), heartbeatMs);
    heartbeat.unref();
    const close = () => {
      if (closed) return;
      closed = true;
      clearInterval(heartbeat);
      unsubscribe();
      streams.delete(close);
      // End the stream cleanly, then drop the socket, which is the stream's alone. A client that stopped
      // reading never lets the end flush, so the socket is dropped after a second in any case.
      res.end(() => res.destroy());
      setTimeout(() => res.destroy(), 1000).unref();
    };
    streams.add(close);
    request.raw.on("close", close);
    res.on("close", close);
    res.on("error", close);
  });
  // An open stream is never idle, so without this the server's close would wait for every client.
  scope.addHook("preClose", async () => {
    for (const close of [...streams]) close();
  });

  scope.get("/openapi.json", routeOptions, async (_request, reply) => json(reply, 200, ORCHESTRATOR_OPENAPI));

  scope.setNotFoundHandler(async (request, reply) =>
    json(reply, 404, {
      message: `no such route: ${request.method} ${shortPath(request)}; see ${ORCHESTRATOR_API_PREFIX}/openapi.json for the API`,
    }),
  );

  scope.setErrorHandler(async (error: FastifyError | HttpError, request, reply) => {
    if (error instanceof HttpError)
      return json(reply, error.status, { message: error.message, ...error.extra });
    const status = error.statusCode;
    if ((typeof status === "number" && status >= 400 && status < 500) || error instanceof SyntaxError)
      return json(reply, 400, { message: clientErrorMessage(error, bodyLimit, EMPTY_JSON_BODY) });
    request.log.error({ err: error }, "orchestrator API: request failed");
    // The cause goes to the log only: it may name internals a client has no business seeing.
    return json(reply, 500, { message: "the orchestrator could not complete the request (internal error)" });
  });
}

function json(reply: FastifyReply, status: number, body: unknown): FastifyReply {
  return reply.code(status).type("application/json; charset=utf-8").send(body);
}

function noSuchJob(id: string): HttpError {
  return new HttpError(
    404,
    `no job with ID ${JSON.stringify(id.length > 130 ? `${id.slice(0, 130)}…` : id)}`,
  );
}

/** The tenant a header names, if any. Its format is checked by the spec's validation (field `tenant`). */
function tenantHeader(request: FastifyRequest): string | undefined {
  const v = request.headers[TENANT_HEADER];
  if (v === undefined) return undefined;
  if (typeof v !== "string")
    throw new HttpError(400, `give the ${TENANT_HEADER} header once`, {
      errors: [{ path: "tenant", message: `the ${TENANT_HEADER} header must be given once` }],
    });
  return v;
}

/** The link's ID if the topology has it; a 404 otherwise (the estimator would throw a RangeError). */
function knownLink(orch: Orchestrator, id: string): string {
  if (orch.topology.links.some((l) => l.id === id)) return id;
  const known = orch.topology.links.map((l) => l.id);
  const shown = known.length > 10 ? `${known.slice(0, 10).join(", ")}, …` : known.join(", ");
  throw new HttpError(
    404,
    `no link with ID ${JSON.stringify(id.slice(0, 130))}: links are ${shown || "none"}`,
  );
}

/** Turns the list query string into a {@link JobQuery}, naming every bad parameter in one 400. */
function parseListQuery(q: Record<string, unknown>): JobQuery {
  const errors: { path: string; message: string }[] = [];
  const out: JobQuery = {};
  const one = (k: string): string | undefined => {
    const v = q[k];
    if (v === undefined) return undefined;
    if (typeof v !== "string") {
      errors.push({ path: k, message: `give ${k} once` });
      return undefined;
    }
    return v;
  };
  for (const k of Object.keys(q))
    if (!(QUERY_FIELDS as readonly string[]).includes(k))
      errors.push({ path: k, message: `unknown query parameter ${k}: one of ${QUERY_FIELDS.join(", ")}` });
  const state = one("state");
  if (state !== undefined) {
    // Several states, comma-separated: `state=queued,admitted` lists everything still waiting.
    const states = state.split(",").map((s) => s.trim());
    const bad = states.filter((s) => !isJobState(s));
    if (bad.length > 0) errors.push({ path: "state", message: `unknown state ${JSON.stringify(bad[0])}` });
    else out.state = states as JobState[];
  }
  const tenant = one("tenant");
  if (tenant !== undefined) out.tenant = tenant;
  const kind = one("kind");
  if (kind !== undefined) {
    if ((JOB_KINDS as readonly string[]).includes(kind)) out.kind = kind as JobKind;
    else errors.push({ path: "kind", message: `kind must be one of ${JOB_KINDS.join(", ")}` });
  }
  const limit = one("limit");
  if (limit !== undefined) {
    const n = /^\d{1,7}$/.test(limit) ? Number(limit) : Number.NaN;
    if (n >= 1 && n <= MAX_LIST_LIMIT) out.limit = n;
    else errors.push({ path: "limit", message: `limit must be a whole number from 1 to ${MAX_LIST_LIMIT}` });
  }
  const cursor = one("cursor");
  if (cursor !== undefined) out.cursor = cursor;
  if (errors.length > 0)
    throw new HttpError(400, `invalid query: ${errors.map((e) => `${e.path}: ${e.message}`).join("; ")}`, {
      errors,
    });
  return out;
}
