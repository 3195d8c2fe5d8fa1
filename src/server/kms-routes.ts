/**
 * The ETSI GS QKD 014 key delivery API over HTTP: a fastify plugin mapping the three methods of a
 * {@link Kme} to the standard's paths (all under `/api/v1/keys`):
 *
 * | method | path | HTTP |
 * |---|---|---|
 * | Get status | `/{slave_SAE_ID}/status` | GET |
 * | Get key | `/{slave_SAE_ID}/enc_keys` | POST (Key request body), GET (`number`, `size`) |
 * | Get key with key IDs | `/{master_SAE_ID}/dec_keys` | POST (Key IDs body), GET (one `key_ID`) |
 *
 * The standard allows only 200, 400, 401 and 503, so under this prefix every other outcome is mapped
 * onto them: client mistakes fastify itself detects (malformed JSON, wrong content type, oversized
 * body, unknown path or method) become 400 with an Error body; anything unexpected becomes 503 with
 * a generic Error body (the cause goes to the log, never to the client). The caller's identity is
 * checked before a body is read, so an unknown client gets 401 whatever it sends.
 *
 * Identity is the adapter's business (`identify`): with mutual TLS it is read from the client
 * certificate (common name, URI SAN or a configured serial mapping); tests read a header.
 *
 * @module
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import {
  BODY_MESSAGES,
  badRequest,
  type Etsi014Response,
  keyIdsFromQuery,
  keyRequestFromQuery,
  type QueryParameters,
} from "../kms/etsi014.js";
import type { Kme } from "../kms/kme.js";
import { clientErrorMessage, shortPath } from "./http-errors.js";

/** Options of {@link registerKmsRoutes}. */
export interface KmsRoutesOptions {
  kme: Kme;
  /**
   * The SAE ID of the client, or null when it cannot be identified (401). Called once per request,
   * before the body is read; a throw counts as null.
   */
  identify: (request: FastifyRequest) => string | null;
  /** Largest request body, bytes. Default 64 KiB: a Key IDs body of max_key_per_request IDs is far smaller. */
  bodyLimitBytes?: number;
}

/** The prefix of every route of the key delivery API. */
export const KMS_API_PREFIX = "/api/v1/keys";

const DEFAULT_BODY_LIMIT_BYTES = 64 * 1024;

/**
 * Fastify's `frameworkErrors` server option for a server carrying the key delivery API. A path with
 * bad percent-encoding or an over-long parameter (an SAE ID longer than `maxParamLength`) is refused
 * by the router before any route or plugin runs, by default with 400 or 414 and fastify's own body;
 * under {@link KMS_API_PREFIX} this answers 400 with an Error body instead (the standard allows no
 * 414). Elsewhere the error goes to the server's error handler, as fastify would.
 */
export function kmsFrameworkErrors(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  if (!request.url.startsWith(`${KMS_API_PREFIX}/`)) {
    reply.send(error);
    return;
  }
  const message =
    error.code === "FST_ERR_MAX_PARAM_LENGTH"
      ? "an SAE ID in the path is too long"
      : error.code === "FST_ERR_BAD_URL"
        ? "the path is not validly percent-encoded (SAE IDs in paths are URL-encoded)"
        : "bad request";
  send(reply, badRequest(message));
}

/**
 * Server options to pass to `Fastify(…)` when it serves the key delivery API: {@link kmsFrameworkErrors}
 * and a `maxParamLength` that admits SAE IDs of up to 1024 characters (fastify's default is 100).
 */
export const KMS_SERVER_OPTIONS = {
  routerOptions: { maxParamLength: 1024 },
  frameworkErrors: kmsFrameworkErrors,
} as const;

/**
 * Registers the key delivery API on `app` in its own encapsulated scope (its error handler, 404
 * handler and content-type parsers apply to `/api/v1/keys/…` only). Takes effect when the app is
 * ready (`await app.ready()`, `listen` or `inject`).
 */
export function registerKmsRoutes(app: FastifyInstance, options: KmsRoutesOptions): void {
  app.register(
    async (scope) => {
      kmsRoutes(scope, options);
    },
    { prefix: KMS_API_PREFIX },
  );
}

function kmsRoutes(scope: FastifyInstance, options: KmsRoutesOptions): void {
  const { kme } = options;
  const bodyLimit = options.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES;
  const callers = new WeakMap<FastifyRequest, string>();

  // JSON only: fastify's text/plain parser would otherwise hand a string to the handlers. The
  // default JSON parser refuses __proto__ and constructor.prototype keys (prototype poisoning).
  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser(
    "application/json",
    { parseAs: "string", bodyLimit },
    scope.getDefaultJsonParser("error", "error"),
  );

  scope.addHook("onRequest", async (request, reply) => {
    let sae: string | null;
    try {
      sae = options.identify(request);
    } catch (error) {
      request.log.warn({ err: error }, "kms: identify failed");
      sae = null;
    }
    if (sae === null || !kme.isLocalSae(sae)) {
      await kme.auditUnauthorised(sae, `${request.method} ${shortPath(request)}`);
      return reply.code(401).send();
    }
    callers.set(request, sae);
  });

  const caller = (request: FastifyRequest): string => callers.get(request)!;
  const routeOptions = { bodyLimit, exposeHeadRoute: false };

  scope.get<{ Params: { slave_SAE_ID: string } }>(
    "/:slave_SAE_ID/status",
    routeOptions,
    async (request, reply) => {
      if (hasQuery(request)) return send(reply, badRequest("Get status takes no query parameters"));
      return send(reply, await kme.status(caller(request), request.params.slave_SAE_ID));
    },
  );

  scope.post<{ Params: { slave_SAE_ID: string } }>(
    "/:slave_SAE_ID/enc_keys",
    routeOptions,
    async (request, reply) => {
      if (hasQuery(request))
        return send(
          reply,
          badRequest("with POST, the Key request goes in the JSON body, not in query parameters"),
        );
      if (request.body === undefined)
        return send(reply, missingBody("Key request", "send {} for the defaults"));
      return send(reply, await kme.getKey(caller(request), request.params.slave_SAE_ID, request.body));
    },
  );

  scope.get<{ Params: { slave_SAE_ID: string } }>(
    "/:slave_SAE_ID/enc_keys",
    routeOptions,
    async (request, reply) => {
      const parsed = keyRequestFromQuery(request.query as QueryParameters);
      if (!parsed.ok) return send(reply, parsed.response);
      return send(reply, await kme.getKey(caller(request), request.params.slave_SAE_ID, parsed.value));
    },
  );

  scope.post<{ Params: { master_SAE_ID: string } }>(
    "/:master_SAE_ID/dec_keys",
    routeOptions,
    async (request, reply) => {
      if (hasQuery(request))
        return send(reply, badRequest("with POST, the key IDs go in the JSON body, not in query parameters"));
      if (request.body === undefined)
        return send(reply, missingBody("Key IDs", 'e.g. {"key_IDs":[{"key_ID":"…"}]}'));
      return send(
        reply,
        await kme.getKeyWithIds(caller(request), request.params.master_SAE_ID, request.body),
      );
    },
  );

  scope.get<{ Params: { master_SAE_ID: string } }>(
    "/:master_SAE_ID/dec_keys",
    routeOptions,
    async (request, reply) => {
      const parsed = keyIdsFromQuery(request.query as QueryParameters);
      if (!parsed.ok) return send(reply, parsed.response);
      return send(
        reply,
        await kme.getKeyWithIds(caller(request), request.params.master_SAE_ID, parsed.value),
      );
    },
  );

  scope.setNotFoundHandler(async (request, reply) =>
    send(
      reply,
      badRequest(
        `no such method: ${request.method} ${shortPath(request)}; the API has GET {slave_SAE_ID}/status, GET or POST {slave_SAE_ID}/enc_keys and GET or POST {master_SAE_ID}/dec_keys under ${KMS_API_PREFIX}`,
      ),
    ),
  );

  scope.setErrorHandler(async (error: FastifyError, request, reply) => {
    const status = error.statusCode;
    if (typeof status === "number" && status >= 400 && status < 500)
      return send(reply, badRequest(clientErrorMessage(error, bodyLimit, BODY_MESSAGES.empty)));
    request.log.error({ err: error }, "kms: request failed");
    return send(reply, {
      status: 503,
      body: { message: "the KME could not complete the request (internal error); retry later" },
    });
  });
}

function hasQuery(request: FastifyRequest): boolean {
  return Object.keys(request.query as object).length > 0;
}

function missingBody(what: string, hint: string) {
  return badRequest(`the ${what} must be a JSON body with Content-Type: application/json (${hint})`);
}

/** Sends a KME answer: 401 with no body, the others as JSON; key containers are never cached. */
function send(reply: FastifyReply, response: Etsi014Response<unknown>): FastifyReply {
  if (response.status === 401) return reply.code(401).send();
  if (response.status === 200) reply.header("cache-control", "no-store");
  return reply.code(response.status).type("application/json; charset=utf-8").send(response.body);
}
