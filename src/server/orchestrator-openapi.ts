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
    { name: "network", description: "The topology and the live status of its links." },
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
    "/topology": {
      get: {
        operationId: "getTopology",
        summary: "The network's nodes and links",
        description:
          "The topology the orchestrator runs: every node with its type and memory qubits, every link with its ends and, for fiber, its length.",
        tags: ["network"],
        responses: {
          "200": jsonResponse("The topology.", ref("Topology")),
          "500": internal,
        },
      },
    },
    "/links": {
      get: {
        operationId: "listLinks",
        summary: "Live status of every link",
        description:
          "The orchestrator's current estimate of each link (success probability per attempt, attempt period, pair rate, fidelity), whether it is up, and the key pooled on it when the server has a key service. Link changes stream as `link` events on `/events`.",
        tags: ["network"],
        responses: {
          "200": jsonResponse("Every link, in topology order.", ref("LinkStatusList")),
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
        description:
          "New jobs may use the link at once, and waiting jobs that admission would now route through it move there (listed in `affected`, each also sent as a reroute event). Takes no body.",
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
          setup_ns: {
            type: "number",
            description:
              "Simulated time the controller took to set the path up before the run: its longest round trip to a node on the path (M4), ns.",
          },
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
      Topology: {
        type: "object",
        required: ["name", "nodes", "links"],
        additionalProperties: false,
        properties: {
          name: { type: "string" },
          nodes: {
            type: "array",
            items: {
              type: "object",
              required: ["id", "type"],
              additionalProperties: false,
              properties: {
                id: { type: "string" },
                type: { type: "string", enum: ["end", "repeater", "trusted"] },
                memory_qubits: {
                  type: "integer",
                  minimum: 1,
                  description: "Memory qubits; absent for a node without memories.",
                },
              },
            },
          },
          links: {
            type: "array",
            items: {
              type: "object",
              required: ["id", "a", "b", "kind"],
              additionalProperties: false,
              properties: {
                id: { type: "string" },
                a: { type: "string", description: "Node ID of one end." },
                b: { type: "string", description: "Node ID of the other end." },
                kind: {
                  type: "string",
                  enum: ["physical", "abstract"],
                  description: "Fiber described physically, or a link described by its measured behaviour.",
                },
                length_km: { type: "number", minimum: 0, description: "Fiber length; physical links only." },
              },
            },
          },
        },
      },
      LinkStatus: {
        type: "object",
        required: [
          "link_id",
          "a",
          "b",
          "up",
          "success_probability",
          "attempt_period_ns",
          "pair_rate_hz",
          "fidelity",
          "observed_attempts",
        ],
        additionalProperties: false,
        properties: {
          link_id: { type: "string" },
          a: { type: "string" },
          b: { type: "string" },
          up: { type: "boolean" },
          down_cause: {
            type: "string",
            enum: ["operator", "detected"],
            description:
              "While the link is down: an operator took it down, or failure detection saw it stop heralding.",
          },
          success_probability: {
            type: "number",
            minimum: 0,
            maximum: 1,
            description: "Estimated probability that one attempt heralds a pair.",
          },
          attempt_period_ns: { type: "number", description: "Time between attempts on one memory pair, ns." },
          pair_rate_hz: {
            type: "number",
            minimum: 0,
            description: "Expected heralded pairs per second on one memory pair; 0 while the link is down.",
          },
          fidelity: {
            type: "number",
            minimum: 0,
            maximum: 1,
            description: "Estimated fidelity of heralded pairs.",
          },
          observed_attempts: { type: "number", minimum: 0, description: "Attempts observed so far." },
          key_pool_bits: {
            type: "integer",
            minimum: 0,
            description: "Bits of key pooled on the link; absent when the server has no key pool for it.",
          },
        },
      },
      LinkStatusList: {
        type: "object",
        required: ["links"],
        additionalProperties: false,
        properties: { links: { type: "array", items: ref("LinkStatus") } },
      },
      LinkEvent: {
        type: "object",
        required: ["link_id", "up", "cause"],
        additionalProperties: false,
        properties: {
          link_id: { type: "string" },
          up: { type: "boolean" },
          cause: {
            type: "string",
            enum: ["operator", "detected"],
            description:
              "operator: set through the API; detected: the failure detector saw the link stop heralding (or heralding again).",
          },
          reason: { type: "string", description: "Why, with the evidence, for a detected change." },
        },
      },
    },
  },
};
