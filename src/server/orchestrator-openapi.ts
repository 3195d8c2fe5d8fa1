/**
 * The OpenAPI 3.1 document of the orchestrator API (./orchestrator-routes.ts), served at
 * `GET /api/v1/openapi.json`. It is a typed constant rather than generated from route schemas: the
 * routes validate with the job model's own checks (`validateJobSpec`, which reports every problem in
 * one answer), not with fastify's JSON Schema validation. test/server/orchestrator-routes.test.ts keeps
 * the two in step: every fastify route must be a documented path and operation, and the reverse, and
 * responses are checked against the schemas here.
 *
 * @module
 */

import { MAX_LIST_LIMIT } from "../control/job-store.js";
import { JOB_KINDS, JOB_STATES, PRIORITY_MAX, PRIORITY_MIN } from "../control/jobs.js";

/** A JSON Schema (2020-12, the dialect of OpenAPI 3.1), loosely typed: only what this document uses. */
export interface JsonSchema {
  $ref?: string;
  type?: string | string[];
  description?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  enum?: readonly (string | number | boolean)[];
  const?: string | number | boolean;
  oneOf?: JsonSchema[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  format?: string;
  examples?: unknown[];
}

/** An OpenAPI parameter (path, query or header). */
export interface OpenApiParameter {
  name: string;
  in: "path" | "query" | "header";
  required?: boolean;
  description?: string;
  schema: JsonSchema;
}

/** An OpenAPI response. */
export interface OpenApiResponse {
  description: string;
  content?: Record<string, { schema: JsonSchema }>;
  headers?: Record<string, { description?: string; schema: JsonSchema }>;
}

/** An OpenAPI operation. */
export interface OpenApiOperation {
  operationId: string;
  summary: string;
  description?: string;
  tags?: string[];
  parameters?: OpenApiParameter[];
  requestBody?: { required?: boolean; content: Record<string, { schema: JsonSchema }> };
  responses: Record<string, OpenApiResponse>;
}

/** The HTTP methods the document uses. */
export type OpenApiMethod = "get" | "post" | "put" | "delete" | "patch";

/** An OpenAPI 3.1 document, as much of it as this API needs. */
export interface OpenApiDocument {
  openapi: "3.1.0";
  info: {
    title: string;
    version: string;
    description?: string;
    license?: { name: string; identifier?: string };
  };
  servers?: { url: string; description?: string }[];
  tags?: { name: string; description?: string }[];
  paths: Record<string, Partial<Record<OpenApiMethod, OpenApiOperation>>>;
  components: { schemas: Record<string, JsonSchema>; responses?: Record<string, OpenApiResponse> };
}

const ref = (name: string): JsonSchema => ({ $ref: `#/components/schemas/${name}` });
const jsonBody = (schema: JsonSchema) => ({ "application/json": { schema } });
const jsonResponse = (description: string, schema: JsonSchema): OpenApiResponse => ({
  description,
  content: jsonBody(schema),
});

/** Every error answer: a 400 for malformed JSON, a wrong content type or an oversized body, too. */
const badRequest = jsonResponse(
  "The request is malformed: not JSON, wrong content type, body too large, or a bad parameter.",
  ref("Error"),
);
const internal = jsonResponse("The orchestrator failed (details in the server log only).", ref("Error"));
const jobIdParam: OpenApiParameter = {
  name: "id",
  in: "path",
  required: true,
  description: "The job's ID, as returned on submission.",
  schema: { type: "string", minLength: 1, maxLength: 128 },
};
const linkIdParam: OpenApiParameter = {
  name: "id",
  in: "path",
  required: true,
  description: "A link ID of the topology (e.g. `n0-n1`).",
  schema: { type: "string", minLength: 1 },
};

const NODE_ID_PATTERN = "^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$";
const TENANT_PATTERN = "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$";

const fidelityStats: JsonSchema = {
  type: "object",
  required: ["count", "mean", "min", "max"],
  additionalProperties: false,
  properties: {
    count: { type: "integer", minimum: 0 },
    mean: { type: "number" },
    min: { type: "number" },
    max: { type: "number" },
    std_dev: { type: "number", description: "Sample standard deviation; absent for fewer than two samples." },
  },
};

const errorDetail: JsonSchema = {
  type: "object",
  required: ["path", "message"],
  additionalProperties: false,
  properties: {
    path: {
      type: "string",
      description: 'The field at fault, as the API spells it (`rate_hz`), or "" for the whole body.',
    },
    message: { type: "string" },
  },
};

/** The document. Keep it in step with ./orchestrator-routes.ts (a test checks that it is). */
export const ORCHESTRATOR_OPENAPI: OpenApiDocument = {
  openapi: "3.1.0",
  info: {
    title: "qnet orchestrator API",
    version: "1.0.0",
    description:
      "Submit, follow and cancel jobs on the quantum network (entanglement, teleportation, QKD), inject link faults, and stream the orchestrator's events. Fields are snake_case with their unit in the name; times are ISO 8601 UTC. See docs/orchestrator-api.md.",
    license: { name: "Apache-2.0", identifier: "Apache-2.0" },
  },
  servers: [{ url: "/api/v1", description: "This server" }],
  tags: [
    { name: "jobs", description: "Job submission and lifecycle." },
    { name: "links", description: "Operator fault injection." },
    { name: "events", description: "Server-sent events." },
    { name: "meta", description: "This document." },
  ],
  paths: {
    "/jobs": {
      post: {
        operationId: "submitJob",
        summary: "Submit a job",
        description:
          "Validates the spec, persists the job and runs admission control at once. An admitted job waits for the scheduler; a refused one is stored `failed` and returned with the 422.",
        tags: ["jobs"],
        parameters: [
          {
            name: "x-qnet-tenant",
            in: "header",
            description: "The tenant; overrides the body's `tenant` (for an authenticating proxy).",
            schema: { type: "string", pattern: TENANT_PATTERN },
          },
        ],
        requestBody: { required: true, content: jsonBody(ref("JobSpec")) },
        responses: {
          "201": {
            description: "Admitted: the job, `admitted` with its path.",
            content: jsonBody(ref("Job")),
            headers: { location: { description: "The job's URL.", schema: { type: "string" } } },
          },
          "400": jsonResponse(
            "Invalid spec (every problem listed) or malformed request.",
            ref("ValidationError"),
          ),
          "422": jsonResponse("Refused by admission control; the job is stored `failed`.", ref("Refused")),
          "500": internal,
        },
      },
      get: {
        operationId: "listJobs",
        summary: "List jobs, newest first",
        tags: ["jobs"],
        parameters: [
          {
            name: "state",
            in: "query",
            description: "A state, or several comma-separated (`queued,admitted`).",
            schema: { type: "string", examples: ["running", "queued,admitted"] },
          },
          { name: "tenant", in: "query", schema: { type: "string" } },
          { name: "kind", in: "query", schema: { type: "string", enum: JOB_KINDS } },
          {
            name: "limit",
            in: "query",
            description: "Page size; default 100.",
            schema: { type: "integer", minimum: 1, maximum: MAX_LIST_LIMIT },
          },
          {
            name: "cursor",
            in: "query",
            description: "The `next_cursor` of the previous page.",
            schema: { type: "string" },
          },
        ],
        responses: {
          "200": jsonResponse("One page of jobs.", ref("JobPage")),
          "400": jsonResponse("A bad query parameter.", ref("ValidationError")),
          "500": internal,
        },
      },
    },
    "/jobs/{id}": {
      get: {
        operationId: "getJob",
        summary: "Get a job",
        tags: ["jobs"],
        parameters: [jobIdParam],
        responses: {
          "200": jsonResponse("The job.", ref("Job")),
          "404": jsonResponse("No such job.", ref("Error")),
          "500": internal,
        },
      },
      delete: {
        operationId: "cancelJob",
        summary: "Cancel a job",
        description: "Cancels a job that is not final yet, giving back its reservation.",
        tags: ["jobs"],
        parameters: [jobIdParam],
        responses: {
          "200": jsonResponse("The job, now `cancelled`.", ref("Job")),
          "404": jsonResponse("No such job.", ref("Error")),
          "409": jsonResponse("The job is already final.", ref("Conflict")),
          "500": internal,
        },
      },
    },
    "/links/{id}/down": {
      post: {
        operationId: "linkDown",
        summary: "Mark a link down",
        description:
          "Operator fault injection: waiting jobs whose path uses the link are rerouted, or failed if no path is left. Takes no body.",
        tags: ["links"],
        parameters: [linkIdParam],
        responses: {
          "200": jsonResponse(
            "The link is down; `affected` lists the jobs rerouted or failed.",
            ref("LinkChange"),
          ),
          "400": badRequest,
          "404": jsonResponse("No such link.", ref("Error")),
          "500": internal,
        },
      },
    },
    "/links/{id}/up": {
      post: {
        operationId: "linkUp",
        summary: "Mark a link up",
        description: "Waiting jobs keep their paths; new jobs may use the link at once. Takes no body.",
        tags: ["links"],
        parameters: [linkIdParam],
        responses: {
          "200": jsonResponse("The link is up.", ref("LinkChange")),
          "400": badRequest,
          "404": jsonResponse("No such link.", ref("Error")),
          "500": internal,
        },
      },
    },
    "/events": {
      get: {
        operationId: "events",
        summary: "Stream the orchestrator's events",
        description:
          "A `text/event-stream`: one `event: job` (data: `JobEvent`) per job change and one `event: link` (data: `LinkEvent`) per link change, in the order they happened, and a `: heartbeat` comment every 15 s. Events from before the stream was opened are not replayed.",
        tags: ["events"],
        responses: {
          "200": {
            description: "The event stream; it stays open until the client or the server closes it.",
            content: { "text/event-stream": { schema: { type: "string" } } },
          },
        },
      },
    },
    "/openapi.json": {
      get: {
        operationId: "openapi",
        summary: "This OpenAPI document",
        tags: ["meta"],
        responses: { "200": jsonResponse("The document.", { type: "object" }) },
      },
    },
  },
  components: {
    schemas: {
      JobSpec: {
        type: "object",
        description:
          "What to do. Each kind accepts only its own fields: entanglement (`pairs` or `rate_hz` with `deadline_s`, optional `min_fidelity`), teleportation (`theta`, `phi`), qkd (`key_bits`).",
        required: ["kind", "src", "dst"],
        additionalProperties: false,
        properties: {
          kind: { type: "string", enum: JOB_KINDS },
          src: { type: "string", pattern: NODE_ID_PATTERN, description: "Source node ID." },
          dst: { type: "string", pattern: NODE_ID_PATTERN, description: "Destination node ID; not `src`." },
          priority: {
            type: "integer",
            minimum: PRIORITY_MIN,
            maximum: PRIORITY_MAX,
            description: "Default 5.",
          },
          tenant: { type: "string", pattern: TENANT_PATTERN, description: 'Default "default".' },
          deadline_s: { type: "number", exclusiveMinimum: 0, description: "Seconds after submission." },
          pairs: { type: "integer", minimum: 1, description: "entanglement: pairs to deliver." },
          rate_hz: {
            type: "number",
            exclusiveMinimum: 0,
            description: "entanglement: pairs per second until the deadline.",
          },
          min_fidelity: {
            type: "number",
            exclusiveMinimum: 0.5,
            maximum: 1,
            description: "entanglement: pairs below this fidelity do not count.",
          },
          theta: {
            type: "number",
            minimum: 0,
            maximum: Math.PI,
            description: "teleportation: polar angle, rad.",
          },
          phi: { type: "number", minimum: 0, description: "teleportation: azimuthal angle in [0, 2π), rad." },
          key_bits: { type: "integer", minimum: 1, description: "qkd: secret key bits wanted." },
        },
      },
      Job: {
        type: "object",
        required: [
          "id",
          "kind",
          "state",
          "tenant",
          "priority",
          "spec",
          "history",
          "created_at",
          "updated_at",
          "version",
        ],
        additionalProperties: false,
        properties: {
          id: { type: "string" },
          kind: { type: "string", enum: JOB_KINDS },
          state: { type: "string", enum: JOB_STATES },
          tenant: { type: "string" },
          priority: { type: "integer" },
          spec: ref("JobSpec"),
          history: {
            type: "array",
            description: "Every state the job entered, oldest first.",
            items: {
              type: "object",
              required: ["state", "at"],
              additionalProperties: false,
              properties: {
                state: { type: "string", enum: JOB_STATES },
                at: { type: "string", format: "date-time" },
                reason: { type: "string" },
              },
            },
          },
          path: {
            type: "array",
            items: { type: "string" },
            description: "Node IDs from src to dst, once chosen.",
          },
          result: ref("JobResult"),
          created_at: { type: "string", format: "date-time" },
          updated_at: { type: "string", format: "date-time" },
          deadline_at: { type: "string", format: "date-time" },
          version: { type: "integer", minimum: 1, description: "Increases with every change." },
        },
      },
      JobResult: {
        type: "object",
        additionalProperties: false,
        properties: {
          delivered: { type: "integer", minimum: 0, description: "Pairs delivered or states teleported." },
          fidelity: fidelityStats,
          key_bits: { type: "integer", minimum: 0 },
          key_ids: { type: "array", items: { type: "string" } },
          rate_hz: { type: "number" },
          duration_ns: { type: "number", description: "Simulated time of the run, ns." },
          error: {
            type: "object",
            required: ["code", "message"],
            additionalProperties: false,
            properties: { code: { type: "string" }, message: { type: "string" } },
          },
        },
      },
      JobPage: {
        type: "object",
        required: ["jobs"],
        additionalProperties: false,
        properties: {
          jobs: { type: "array", items: ref("Job") },
          next_cursor: { type: "string", description: "Absent on the last page." },
        },
      },
      Error: {
        type: "object",
        required: ["message"],
        properties: { message: { type: "string" } },
      },
      ValidationError: {
        type: "object",
        required: ["message"],
        properties: {
          message: { type: "string" },
          errors: { type: "array", items: errorDetail },
        },
      },
      Refused: {
        type: "object",
        required: ["message", "code", "job"],
        additionalProperties: false,
        properties: {
          message: { type: "string", description: "Admission's reason." },
          code: { type: "string", description: "Admission's code (e.g. FIDELITY, LINK_DOWN, QUOTA)." },
          job: ref("Job"),
        },
      },
      Conflict: {
        type: "object",
        required: ["message", "code"],
        additionalProperties: false,
        properties: { message: { type: "string" }, code: { type: "string" }, job: ref("Job") },
      },
      LinkChange: {
        type: "object",
        required: ["link_id", "up", "affected"],
        additionalProperties: false,
        properties: {
          link_id: { type: "string" },
          up: { type: "boolean" },
          affected: { type: "array", items: ref("Job") },
        },
      },
      JobEvent: {
        type: "object",
        required: ["job"],
        additionalProperties: false,
        properties: {
          job: ref("Job"),
          reroute: {
            type: "object",
            required: ["link_id", "from", "to"],
            additionalProperties: false,
            properties: {
              link_id: { type: "string" },
              from: { type: "array", items: { type: "string" } },
              to: { type: "array", items: { type: "string" } },
            },
          },
        },
      },
      LinkEvent: {
        type: "object",
        required: ["link_id", "up"],
        additionalProperties: false,
        properties: { link_id: { type: "string" }, up: { type: "boolean" } },
      },
    },
  },
};
