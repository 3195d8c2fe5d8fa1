/**
 * The orchestrator's job model: what a client may ask the network to do (a job **spec**), how a request
 * body is validated into one, and the **lifecycle** every job follows from submission to a final state.
 *
 * Three kinds of job:
 * - `entanglement`: deliver entangled pairs between two nodes — a number of pairs, or a sustained rate
 *   until a deadline — optionally each of at least a minimum fidelity;
 * - `teleportation`: teleport the qubit state cos(θ/2)|0⟩ + e^{iφ} sin(θ/2)|1⟩ from one node to another;
 * - `qkd`: establish a number of secret key bits between two sites.
 *
 * The REST API spells fields in snake_case (`rate_hz`, `min_fidelity`, …: {@link JobSpecJson}); inside
 * qnet a spec is camelCase with its unit in the name ({@link JobSpec}). {@link validateJobSpec} turns the
 * first into the second; {@link jobSpecToJson} turns it back for rendering.
 *
 * The lifecycle (see {@link JOB_TRANSITIONS} and docs/orchestrator-jobs.md):
 * ```
 *   queued ──► admitted ──► reserved ──► running ──► succeeded
 *                 ▲            │
 *                 └────────────┘  reservation given back
 *
 *   queued, admitted, reserved, running ──► failed | expired | cancelled
 *   succeeded, failed, expired, cancelled are final
 * ```
 *
 * Core layer: no clock, no randomness, no Node modules — times are passed in as milliseconds since the
 * epoch, and job IDs are chosen by the caller.
 */

/** The kinds of job, as spelled in the API's `kind` field. */
export const JOB_KINDS = ["entanglement", "teleportation", "qkd"] as const;

/** A kind of job. */
export type JobKind = (typeof JOB_KINDS)[number];

/** Every lifecycle state, in lifecycle order. */
export const JOB_STATES = [
  "queued",
  "admitted",
  "reserved",
  "running",
  "succeeded",
  "failed",
  "expired",
  "cancelled",
] as const;

/**
 * Where a job is in its lifecycle.
 * - `queued`: accepted and persisted, waiting for admission control.
 * - `admitted`: admission control accepted it (tenant quota, feasibility); waiting for resources.
 * - `reserved`: a path was chosen and its links/memories reserved for it.
 * - `running`: the network is executing it.
 * - `succeeded`, `failed`, `expired` (its deadline passed first), `cancelled` (by a client or operator):
 *   final.
 */
export type JobState = (typeof JOB_STATES)[number];

/** The final states: a job in one of them never changes state again. */
export const TERMINAL_STATES: readonly JobState[] = ["succeeded", "failed", "expired", "cancelled"];

/** The states a scheduler claims jobs from (`JobStore.claimNext`, ./job-store.ts). */
export type ClaimableState = "queued" | "admitted";

/**
 * The allowed transitions, from each state to the states it may go to. Every non-final state may fail,
 * expire or be cancelled. `reserved → admitted` gives a reservation back (a link went down before the
 * job started, or a higher-priority job preempted it) so that the job waits for resources again rather
 * than failing.
 */
export const JOB_TRANSITIONS: Readonly<Record<JobState, readonly JobState[]>> = {
  queued: ["admitted", "cancelled", "expired", "failed"],
  admitted: ["reserved", "cancelled", "expired", "failed"],
  reserved: ["running", "admitted", "cancelled", "expired", "failed"],
  running: ["succeeded", "failed", "expired", "cancelled"],
  succeeded: [],
  failed: [],
  expired: [],
  cancelled: [],
};

/** Whether `state` is final ({@link TERMINAL_STATES}). */
export function isTerminal(state: JobState): boolean {
  return TERMINAL_STATES.includes(state);
}

/** Whether a job in state `from` may go to state `to`. */
export function canTransition(from: JobState, to: JobState): boolean {
  return JOB_TRANSITIONS[from]?.includes(to) ?? false;
}

/** Whether `value` is one of {@link JOB_STATES}. */
export function isJobState(value: unknown): value is JobState {
  return typeof value === "string" && (JOB_STATES as readonly string[]).includes(value);
}

/** @throws RangeError unless `state` is one of {@link JOB_STATES}. */
export function checkJobState(state: JobState): void {
  if (!isJobState(state))
    throw new RangeError(`unknown job state ${JSON.stringify(state)}: one of ${list(JOB_STATES)}`);
}

/** Lowest job priority. */
export const PRIORITY_MIN = 0;
/** Highest job priority: claimed first. */
export const PRIORITY_MAX = 9;
/** Priority of a job that gives none. */
export const DEFAULT_PRIORITY = 5;
/** Tenant of a job that names none. */
export const DEFAULT_TENANT = "default";
/** Longest `reason` kept in a job's history, characters. */
export const MAX_REASON_LENGTH = 1000;

/** Node IDs follow the topology file's rule (src/network/topology-loader.ts). */
const NODE_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
/** Tenant names: like node IDs, shorter; never `__proto__` (they become object keys in counts). */
const TENANT = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** Whether `name` is a valid tenant name: 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit. */
export function isTenantName(name: string): boolean {
  return TENANT.test(name);
}
/** Job IDs: URL-safe without escaping (a UUID fits). */
const JOB_ID = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;

/** Fields every job has. */
export interface JobSpecBase {
  kind: JobKind;
  /** The node where the job starts (the sender of a teleported state; one end of a pair or key). */
  src: string;
  /** The other node; never equal to `src`. */
  dst: string;
  /** 0 (lowest) to 9 (highest); default {@link DEFAULT_PRIORITY}. Higher priority is claimed first. */
  priority: number;
  /** Who the job is for: quotas and counts are per tenant. Default {@link DEFAULT_TENANT}. */
  tenant: string;
  /**
   * Seconds after submission by which the job must be done; past it the job expires. Optional, except
   * for a rate job, which runs until it.
   */
  deadlineS?: number;
}

/** Deliver entangled pairs between `src` and `dst`. Exactly one of `pairs` and `rateHz` is set. */
export interface EntanglementJobSpec extends JobSpecBase {
  kind: "entanglement";
  /** How many pairs to deliver; the job succeeds when they are. */
  pairs?: number;
  /** Pairs per second to sustain until the deadline (`deadlineS` is then required), Hz. */
  rateHz?: number;
  /** Pairs below this fidelity to the target Bell state do not count; in (0.5, 1]. Optional. */
  minFidelity?: number;
}

/** Teleport the state cos(θ/2)|0⟩ + e^{iφ} sin(θ/2)|1⟩ from `src` to `dst`. */
export interface TeleportationJobSpec extends JobSpecBase {
  kind: "teleportation";
  /** Polar angle θ on the Bloch sphere, radians, in [0, π]. */
  thetaRad: number;
  /** Azimuthal angle φ on the Bloch sphere, radians, in [0, 2π). */
  phiRad: number;
}

/** Establish secret key between the sites `src` and `dst`. */
export interface QkdJobSpec extends JobSpecBase {
  kind: "qkd";
  /** Secret key wanted, bits (after error correction and privacy amplification). */
  keyBits: number;
}

/** A validated job spec. */
export type JobSpec = EntanglementJobSpec | TeleportationJobSpec | QkdJobSpec;

/** A job spec as the REST API spells it (snake_case). Optional fields may be absent. */
export interface JobSpecJson {
  kind: JobKind;
  src: string;
  dst: string;
  priority?: number;
  tenant?: string;
  deadline_s?: number;
  pairs?: number;
  rate_hz?: number;
  min_fidelity?: number;
  theta?: number;
  phi?: number;
  key_bits?: number;
}

/** One problem with a request body. */
export interface JobSpecError {
  /** The field at fault as the API spells it (`rate_hz`), or `""` for the body as a whole. */
  path: string;
  /** What is wrong and what to change. */
  message: string;
}

/** The outcome of {@link validateJobSpec}: the spec, or every problem found (never just the first). */
export type JobSpecValidation = { ok: true; spec: JobSpec } | { ok: false; errors: JobSpecError[] };

const COMMON_FIELDS = ["kind", "src", "dst", "priority", "tenant", "deadline_s"] as const;

/** The fields each kind accepts, as the API spells them. */
export const JOB_FIELDS: Readonly<Record<JobKind, readonly string[]>> = {
  entanglement: [...COMMON_FIELDS, "pairs", "rate_hz", "min_fidelity"],
  teleportation: [...COMMON_FIELDS, "theta", "phi"],
  qkd: [...COMMON_FIELDS, "key_bits"],
};

/** A value as an error message should show it. */
function shown(v: unknown): string {
  if (typeof v === "string") return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "object") return "an object";
  return String(v);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function list(items: readonly string[]): string {
  return items.length <= 1 ? items.join("") : `${items.slice(0, -1).join(", ")} or ${items.at(-1)}`;
}

/**
 * Checks a request body and turns it into a {@link JobSpec}, filling in defaults (`priority` 5, `tenant`
 * `"default"`). Collects every problem, each naming the field (snake_case, as in the API) and saying what
 * to change. Unknown fields are errors, so that a misspelt optional field (`rateHz`, `deadline`) is not
 * silently ignored.
 */
export function validateJobSpec(input: unknown): JobSpecValidation {
  const errors: JobSpecError[] = [];
  const err = (path: string, message: string) => errors.push({ path, message });
  if (!isObject(input)) {
    err(
      "",
      `a job spec must be a JSON object such as {"kind": "qkd", "src": "a", "dst": "b", "key_bits": 1024}; got ${shown(input)}`,
    );
    return { ok: false, errors };
  }
  const body = input;
  const has = (k: string) => Object.hasOwn(body, k) && body[k] !== undefined;

  let kind: JobKind | undefined;
  if (!has("kind")) err("kind", `kind is required: one of ${list(JOB_KINDS)}`);
  else if (typeof body.kind !== "string" || !(JOB_KINDS as readonly string[]).includes(body.kind))
    err("kind", `kind must be one of ${list(JOB_KINDS)}; got ${shown(body.kind)}`);
  else kind = body.kind as JobKind;

  /** A number field: reports a missing or non-number value; returns the number if it is one. */
  const num = (k: string, required: string | undefined): number | undefined => {
    if (!has(k)) {
      if (required !== undefined) err(k, required);
      return undefined;
    }
    const v = body[k];
    if (typeof v !== "number" || !Number.isFinite(v)) {
      const hint =
        typeof v === "string" && v.trim() !== "" && Number.isFinite(Number(v))
          ? ` (send ${v}, not "${v}")`
          : "";
      err(k, `${k} must be a number; got ${shown(v)}${hint}`);
      return undefined;
    }
    return v;
  };
  const str = (k: string, required: string | undefined): string | undefined => {
    if (!has(k)) {
      if (required !== undefined) err(k, required);
      return undefined;
    }
    const v = body[k];
    if (typeof v !== "string") {
      err(k, `${k} must be a string; got ${shown(v)}`);
      return undefined;
    }
    return v;
  };
  const node = (k: "src" | "dst", what: string): string | undefined => {
    const v = str(k, `${k} is required: the ID of the ${what} node, as in the topology`);
    if (v === undefined) return undefined;
    if (!NODE_ID.test(v)) {
      err(
        k,
        `${k} must be a node ID of 1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit; got ${shown(v)}`,
      );
      return undefined;
    }
    return v;
  };

  const src = node("src", "source");
  const dst = node("dst", "destination");
  if (src !== undefined && dst !== undefined && src === dst)
    err("dst", `dst must differ from src (both are "${src}"): a job connects two different nodes`);

  let priority: number | undefined = DEFAULT_PRIORITY;
  if (has("priority")) {
    priority = num("priority", undefined);
    if (
      priority !== undefined &&
      !(Number.isInteger(priority) && priority >= PRIORITY_MIN && priority <= PRIORITY_MAX)
    ) {
      err(
        "priority",
        `priority must be a whole number from ${PRIORITY_MIN} (lowest) to ${PRIORITY_MAX} (highest); got ${priority}`,
      );
      priority = undefined;
    }
  }

  let tenant: string | undefined = DEFAULT_TENANT;
  if (has("tenant")) {
    tenant = str("tenant", undefined);
    if (tenant !== undefined && !TENANT.test(tenant)) {
      err(
        "tenant",
        `tenant must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit; got ${shown(tenant)}`,
      );
      tenant = undefined;
    }
  }

  let deadlineS = num("deadline_s", undefined);
  if (deadlineS !== undefined && !(deadlineS > 0)) {
    err("deadline_s", `deadline_s must be a positive number of seconds after submission; got ${deadlineS}`);
    deadlineS = undefined;
  }

  if (kind === undefined) return { ok: false, errors };

  const allowed = JOB_FIELDS[kind];
  for (const k of Object.keys(body)) {
    if (allowed.includes(k) || body[k] === undefined) continue;
    const snake = k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    if (snake !== k && allowed.includes(snake)) err(k, `unknown field ${k}: the API spells it ${snake}`);
    else if (k === "deadline" || k === "deadline_ms")
      err(k, `unknown field ${k}: give the deadline as deadline_s, seconds after submission`);
    else err(k, `unknown field ${k} for a ${kind} job: remove it (fields: ${allowed.join(", ")})`);
  }

  const base = { src: src!, dst: dst!, priority: priority!, tenant: tenant!, deadlineS };
  let spec: JobSpec | undefined;
  if (kind === "entanglement") {
    let pairs = num("pairs", undefined);
    if (pairs !== undefined && !(Number.isSafeInteger(pairs) && pairs >= 1)) {
      err("pairs", `pairs must be a whole number of pairs, at least 1; got ${pairs}`);
      pairs = undefined;
    }
    let rateHz = num("rate_hz", undefined);
    if (rateHz !== undefined && !(rateHz > 0)) {
      err("rate_hz", `rate_hz must be a positive number of pairs per second; got ${rateHz}`);
      rateHz = undefined;
    }
    if (has("pairs") && has("rate_hz"))
      err(
        "rate_hz",
        "give either pairs (how many pairs to deliver) or rate_hz (pairs per second until deadline_s), not both",
      );
    else if (!has("pairs") && !has("rate_hz"))
      err(
        "pairs",
        "an entanglement job needs pairs (how many pairs to deliver) or rate_hz (pairs per second until deadline_s)",
      );
    else if (has("rate_hz") && !has("deadline_s"))
      err("deadline_s", "a rate_hz job runs until its deadline: add deadline_s (seconds after submission)");
    let minFidelity = num("min_fidelity", undefined);
    if (minFidelity !== undefined && !(minFidelity > 0.5 && minFidelity <= 1)) {
      err(
        "min_fidelity",
        `min_fidelity must be greater than 0.5 and at most 1 (a pair of fidelity 0.5 or less may be unentangled); got ${minFidelity}`,
      );
      minFidelity = undefined;
    }
    spec = { kind, ...base, pairs, rateHz, minFidelity };
  } else if (kind === "teleportation") {
    const thetaRad = num(
      "theta",
      "theta is required: the state's polar angle on the Bloch sphere, radians in [0, π]",
    );
    if (thetaRad !== undefined && !(thetaRad >= 0 && thetaRad <= Math.PI))
      err(
        "theta",
        `theta must be the polar angle on the Bloch sphere in radians, from 0 (|0⟩) to π (|1⟩); got ${thetaRad}`,
      );
    const phiRad = num(
      "phi",
      "phi is required: the state's azimuthal angle on the Bloch sphere, radians in [0, 2π)",
    );
    if (phiRad !== undefined && !(phiRad >= 0 && phiRad < 2 * Math.PI))
      err(
        "phi",
        `phi must be the azimuthal angle on the Bloch sphere in radians, from 0 up to but not including 2π (add or subtract 2π to bring it into range); got ${phiRad}`,
      );
    spec = { kind, ...base, thetaRad: thetaRad!, phiRad: phiRad! };
  } else {
    const keyBits = num("key_bits", "key_bits is required: how many secret key bits to establish");
    if (keyBits !== undefined && !(Number.isSafeInteger(keyBits) && keyBits >= 1))
      err("key_bits", `key_bits must be a whole number of bits, at least 1; got ${keyBits}`);
    spec = { kind, ...base, keyBits: keyBits! };
  }
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, spec: dropUndefined(spec) };
}

/** A copy of `o` without the keys whose value is undefined, so that specs compare and serialize alike. */
function dropUndefined<T extends object>(o: T): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out as T;
}

/** A spec as the REST API spells it: the inverse of {@link validateJobSpec}, defaults included. */
export function jobSpecToJson(spec: JobSpec): JobSpecJson {
  const out: JobSpecJson = {
    kind: spec.kind,
    src: spec.src,
    dst: spec.dst,
    priority: spec.priority,
    tenant: spec.tenant,
    deadline_s: spec.deadlineS,
  };
  if (spec.kind === "entanglement") {
    out.pairs = spec.pairs;
    out.rate_hz = spec.rateHz;
    out.min_fidelity = spec.minFidelity;
  } else if (spec.kind === "teleportation") {
    out.theta = spec.thetaRad;
    out.phi = spec.phiRad;
  } else {
    out.key_bits = spec.keyBits;
  }
  return dropUndefined(out);
}

/**
 * Checks a spec built in code (not parsed from a request) by the same rules as {@link validateJobSpec}.
 * @returns the spec, normalized (no undefined fields).
 * @throws RangeError listing every problem.
 */
export function checkJobSpec(spec: JobSpec): JobSpec {
  const r = validateJobSpec(isObject(spec) ? jobSpecToJson(spec) : spec);
  if (!r.ok)
    throw new RangeError(
      `invalid job spec: ${r.errors.map((e) => (e.path ? `${e.path}: ` : "") + e.message).join("; ")}`,
    );
  return r.spec;
}

/** Statistics of the fidelities of delivered pairs or teleported states (each in [0, 1]). */
export interface FidelityStats {
  /** How many fidelities were measured or computed. */
  count: number;
  mean: number;
  min: number;
  max: number;
  /** Sample standard deviation; absent for fewer than two samples. */
  stdDev?: number;
}

/** What a job achieved. All fields optional: which are set depends on the kind and on how far it got. */
export interface JobResult {
  /** Entangled pairs delivered at or above `minFidelity` (entanglement); states teleported (teleportation). */
  delivered?: number;
  /** Fidelity of the delivered pairs or teleported state. */
  fidelity?: FidelityStats;
  /** Secret key established, bits (qkd). */
  keyBits?: number;
  /** Key IDs the KMS holds for the established key (qkd). */
  keyIds?: string[];
  /** Achieved delivery rate, Hz (rate jobs). */
  rateHz?: number;
  /** Simulated time from start to end of the run, ns. */
  durationNs?: number;
  /**
   * Simulated time the controller took to set the path up before the run: the longest round trip of
   * its request to a node on the path and the answer (M4), ns.
   */
  setupNs?: number;
  /** Why the job failed: a stable code for programs and a message for people. */
  error?: { code: string; message: string };
}

/** One step of a job's lifecycle. */
export interface JobHistoryEntry {
  /** The state entered. */
  state: JobState;
  /** When, ms since the epoch. */
  atMs: number;
  /** Why, for people (e.g. "cancelled by operator", "deadline passed"). */
  reason?: string;
}

/** A scheduler's claim on a job (`JobStore.claimNext`, ./job-store.ts): no other worker may claim it until `untilMs`. */
export interface JobClaim {
  /** The worker holding the job. */
  worker: string;
  /** When the claim lapses unless renewed, ms since the epoch; then another worker may claim the job. */
  untilMs: number;
}

/** A job as stored: its spec, where it is in its lifecycle, and what it achieved. */
export interface JobRecord {
  /** Chosen by the caller (e.g. a UUID); unique within a store. */
  id: string;
  spec: JobSpec;
  state: JobState;
  /** Every state the job entered, oldest first; the last entry is the current state. */
  history: JobHistoryEntry[];
  /** When the job was submitted, ms since the epoch. */
  createdAtMs: number;
  /** When the record last changed, ms since the epoch. */
  updatedAtMs: number;
  /** `createdAtMs + deadlineS · 1000`, if the spec has a deadline, ms since the epoch. */
  deadlineAtMs?: number;
  result?: JobResult;
  /** The route taken, as node IDs from `src` to `dst`, once one is chosen. */
  path?: string[];
  /** The scheduler holding the job, if any. Cleared when the job reaches a final state. */
  claim?: JobClaim;
  /**
   * Increases by one with every change, starting at 1. A writer passes the version it read as
   * `expectedVersion`, and the store refuses the write if someone changed the job in between.
   */
  version: number;
}

/** A transition the lifecycle does not allow, or one out of a final state. */
export class JobTransitionError extends Error {
  override name = "JobTransitionError";
  /** Stable, for programs (the REST API maps it to 409 Conflict). */
  readonly code = "JOB_ILLEGAL_TRANSITION";
  constructor(
    readonly jobId: string,
    readonly from: JobState,
    readonly to: JobState,
  ) {
    const allowed = JOB_TRANSITIONS[from] ?? [];
    super(
      allowed.length === 0
        ? `job '${jobId}' is ${from}, which is final: it cannot go to ${to}`
        : `job '${jobId}' cannot go from ${from} to ${to}: from ${from} it may go to ${list(allowed)}`,
    );
  }
}

/** @throws RangeError unless `id` is a valid job ID (1–128 URL-safe characters, as a UUID). */
export function checkJobId(id: string): void {
  if (typeof id !== "string" || !JOB_ID.test(id))
    throw new RangeError(
      `job ID must be 1 to 128 letters, digits, '.', '_', ':' or '-', starting with a letter or digit; got ${shown(id)}`,
    );
}

/** @throws RangeError unless `ms` is a finite time. */
export function checkTimeMs(name: string, ms: number): void {
  if (typeof ms !== "number" || !Number.isFinite(ms))
    throw new RangeError(`${name} must be a finite time in ms since the epoch; got ${shown(ms)}`);
}

/** @throws RangeError unless `reason` is absent or a string of at most {@link MAX_REASON_LENGTH} characters. */
export function checkReason(reason: string | undefined): void {
  if (reason === undefined) return;
  if (typeof reason !== "string") throw new RangeError(`reason must be a string; got ${shown(reason)}`);
  if (reason.length > MAX_REASON_LENGTH)
    throw new RangeError(`reason must be at most ${MAX_REASON_LENGTH} characters; got ${reason.length}`);
}

function entry(state: JobState, atMs: number, reason: string | undefined): JobHistoryEntry {
  return reason === undefined ? { state, atMs } : { state, atMs, reason };
}

/**
 * A new job: `queued` at `nowMs`, version 1.
 * @throws RangeError if the ID, spec, time or reason is invalid.
 */
export function newJob(id: string, spec: JobSpec, nowMs: number, reason?: string): JobRecord {
  checkJobId(id);
  checkTimeMs("nowMs", nowMs);
  checkReason(reason);
  const s = checkJobSpec(spec);
  const job: JobRecord = {
    id,
    spec: s,
    state: "queued",
    history: [entry("queued", nowMs, reason)],
    createdAtMs: nowMs,
    updatedAtMs: nowMs,
    version: 1,
  };
  if (s.deadlineS !== undefined) job.deadlineAtMs = nowMs + s.deadlineS * 1000;
  return job;
}

/**
 * The job after moving to state `to` at `atMs`: the state set, an entry appended to its history, the
 * version increased, and — on reaching a final state — its claim cleared. `job` itself is not changed.
 * @throws JobTransitionError if the lifecycle does not allow it ({@link JOB_TRANSITIONS}).
 * @throws RangeError if `atMs` or `reason` is invalid.
 */
export function transition(job: JobRecord, to: JobState, atMs: number, reason?: string): JobRecord {
  checkJobState(to);
  checkTimeMs("atMs", atMs);
  checkReason(reason);
  if (!canTransition(job.state, to)) throw new JobTransitionError(job.id, job.state, to);
  const next: JobRecord = {
    ...job,
    state: to,
    history: [...job.history, entry(to, atMs, reason)],
    updatedAtMs: atMs,
    version: job.version + 1,
  };
  if (isTerminal(to)) delete next.claim;
  return next;
}
