/**
 * What the HTTP APIs (the key delivery API, the KME-to-KME API and the job API) say about a request
 * fastify refused before a route ran, in the same words, and how they name a path in a message.
 */
import type { FastifyError, FastifyRequest } from "fastify";

/** The request's path without its query, cut to 120 characters for a message. */
export function shortPath(request: FastifyRequest): string {
  const path = request.url.split("?")[0];
  return path.length > 120 ? `${path.slice(0, 120)}…` : path;
}

/**
 * The message for a client error fastify detected; fastify's own texts are replaced by plainer ones.
 * `emptyBody` says what an API wants instead of an empty JSON body.
 */
export function clientErrorMessage(
  error: FastifyError | SyntaxError,
  bodyLimit: number,
  emptyBody: string,
): string {
  switch ((error as FastifyError).code) {
    case "FST_ERR_CTP_INVALID_JSON_BODY":
      return "the body is not valid JSON";
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
      return emptyBody;
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return "the body must be JSON with Content-Type: application/json";
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return `the body is larger than ${bodyLimit} bytes`;
    case "FST_ERR_CTP_INVALID_CONTENT_LENGTH":
      return "the Content-Length header does not match the body";
    default:
      // e.g. a prototype-poisoning key, which the JSON parser refuses with a SyntaxError.
      return error instanceof SyntaxError ? "the body is not valid JSON" : "bad request";
  }
}
