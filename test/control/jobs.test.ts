import { describe, expect, it } from "vitest";
import {
  canTransition,
  checkJobId,
  checkJobSpec,
  isTerminal,
  JOB_STATES,
  JOB_TRANSITIONS,
  type JobSpec,
  type JobSpecError,
  type JobState,
  JobTransitionError,
  jobSpecToJson,
  newJob,
  TERMINAL_STATES,
  transition,
  validateJobSpec,
} from "../../src/control/jobs.js";

const T0 = 1_700_000_000_000;
const QKD = { kind: "qkd", src: "alice", dst: "bob", key_bits: 4096 };
const ENT = { kind: "entanglement", src: "a", dst: "b", pairs: 100 };
const TEL = { kind: "teleportation", src: "a", dst: "b", theta: 1, phi: 2 };

/** The errors of an invalid body (fails the test if it is valid). */
function errorsOf(body: unknown): JobSpecError[] {
  const r = validateJobSpec(body);
  if (r.ok) throw new Error(`expected ${JSON.stringify(body)} to be invalid`);
  return r.errors;
}

/** The single error of an invalid body. */
function errorOf(body: unknown): JobSpecError {
  const errors = errorsOf(body);
  expect(errors).toHaveLength(1);
  return errors[0];
}

function specOf(body: unknown): JobSpec {
  const r = validateJobSpec(body);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.spec;
}

describe("validateJobSpec: valid bodies", () => {
  it("turns each kind into a camelCase spec with defaults (priority 5, tenant default)", () => {
    expect(specOf(QKD)).toEqual({
      kind: "qkd",
      src: "alice",
      dst: "bob",
      priority: 5,
      tenant: "default",
      keyBits: 4096,
    });
    expect(specOf({ ...ENT, min_fidelity: 0.9, deadline_s: 2.5, priority: 9, tenant: "lab-1" })).toEqual({
      kind: "entanglement",
      src: "a",
      dst: "b",
      priority: 9,
      tenant: "lab-1",
      deadlineS: 2.5,
      pairs: 100,
      minFidelity: 0.9,
    });
    expect(specOf({ kind: "entanglement", src: "a", dst: "b", rate_hz: 50, deadline_s: 10 })).toMatchObject({
      rateHz: 50,
      deadlineS: 10,
    });
    expect(specOf({ ...TEL, priority: 0 })).toEqual({
      kind: "teleportation",
      src: "a",
      dst: "b",
      priority: 0,
      tenant: "default",
      thetaRad: 1,
      phiRad: 2,
    });
  });

  it("accepts the ends of every range", () => {
    expect(specOf({ ...ENT, min_fidelity: 1 }).kind).toBe("entanglement");
    expect(specOf({ ...TEL, theta: 0, phi: 0 }).kind).toBe("teleportation");
    expect(specOf({ ...TEL, theta: Math.PI, phi: 2 * Math.PI - 1e-9 }).kind).toBe("teleportation");
    expect(specOf({ ...QKD, key_bits: 1, priority: 9 }).kind).toBe("qkd");
    expect(specOf({ ...QKD, src: "n.1_a-b", dst: "X".repeat(128) }).kind).toBe("qkd");
  });

  it("ignores fields set to undefined (as a JS caller may leave them)", () => {
    expect(specOf({ ...QKD, deadline_s: undefined, pairs: undefined })).toEqual(specOf(QKD));
  });

  it("jobSpecToJson is the inverse of validateJobSpec", () => {
    for (const body of [
      QKD,
      { ...ENT, min_fidelity: 0.75, deadline_s: 3, tenant: "t" },
      { kind: "entanglement", src: "a", dst: "b", rate_hz: 2, deadline_s: 1, priority: 2 },
      TEL,
    ]) {
      const spec = specOf(body);
      expect(specOf(jobSpecToJson(spec))).toEqual(spec);
      expect(jobSpecToJson(spec)).toEqual({ priority: 5, tenant: "default", ...body });
    }
  });
});

describe("validateJobSpec: every error says which field and what to change", () => {
  it("the body must be an object", () => {
    for (const body of [null, "qkd", 3, [QKD], undefined])
      expect(errorOf(body)).toEqual({
        path: "",
        message: expect.stringMatching(/^a job spec must be a JSON object such as \{"kind": "qkd"/),
      });
    expect(errorOf([]).message).toMatch(/got an array$/);
  });

  it("kind", () => {
    const { kind: _, ...noKind } = QKD;
    expect(errorOf(noKind)).toEqual({
      path: "kind",
      message: "kind is required: one of entanglement, teleportation or qkd",
    });
    expect(errorOf({ ...QKD, kind: "bell" })).toEqual({
      path: "kind",
      message: 'kind must be one of entanglement, teleportation or qkd; got the string "bell"',
    });
    expect(errorOf({ ...QKD, kind: 1 }).message).toBe(
      "kind must be one of entanglement, teleportation or qkd; got 1",
    );
  });

  it("src and dst", () => {
    const { src: _, ...noSrc } = QKD;
    expect(errorOf(noSrc)).toEqual({
      path: "src",
      message: "src is required: the ID of the source node, as in the topology",
    });
    const { dst: __, ...noDst } = QKD;
    expect(errorOf(noDst)).toEqual({
      path: "dst",
      message: "dst is required: the ID of the destination node, as in the topology",
    });
    expect(errorOf({ ...QKD, src: 5 })).toEqual({ path: "src", message: "src must be a string; got 5" });
    for (const bad of ["", "-a", "a b", "a/b", "X".repeat(129)])
      expect(errorOf({ ...QKD, dst: bad })).toEqual({
        path: "dst",
        message: expect.stringMatching(
          /^dst must be a node ID of 1 to 128 letters, digits, '\.', '_' or '-', starting with a letter or digit; got the string "/,
        ),
      });
    expect(errorOf({ ...QKD, dst: "alice" })).toEqual({
      path: "dst",
      message: 'dst must differ from src (both are "alice"): a job connects two different nodes',
    });
  });

  it("priority", () => {
    for (const p of [-1, 10, 2.5])
      expect(errorOf({ ...QKD, priority: p })).toEqual({
        path: "priority",
        message: `priority must be a whole number from 0 (lowest) to 9 (highest); got ${p}`,
      });
    expect(errorOf({ ...QKD, priority: "5" })).toEqual({
      path: "priority",
      message: 'priority must be a number; got the string "5" (send 5, not "5")',
    });
    expect(errorOf({ ...QKD, priority: null }).message).toBe("priority must be a number; got null");
  });

  it("tenant", () => {
    for (const t of ["", "_x", "a b", "T".repeat(65), "__proto__"])
      expect(errorOf({ ...QKD, tenant: t })).toEqual({
        path: "tenant",
        message: expect.stringMatching(
          /^tenant must be 1 to 64 letters, digits, '\.', '_' or '-', starting with a letter or digit; got the string/,
        ),
      });
    expect(errorOf({ ...QKD, tenant: { id: 1 } })).toEqual({
      path: "tenant",
      message: "tenant must be a string; got an object",
    });
  });

  it("deadline_s", () => {
    for (const d of [0, -3])
      expect(errorOf({ ...QKD, deadline_s: d })).toEqual({
        path: "deadline_s",
        message: `deadline_s must be a positive number of seconds after submission; got ${d}`,
      });
    expect(errorOf({ ...QKD, deadline_s: Number.NaN }).message).toBe("deadline_s must be a number; got NaN");
    expect(errorOf({ ...QKD, deadline_s: "soon" }).message).toBe(
      'deadline_s must be a number; got the string "soon"',
    );
  });

  it("pairs and rate_hz (entanglement)", () => {
    for (const p of [0, -1, 1.5, 2 ** 53])
      expect(errorOf({ ...ENT, pairs: p })).toEqual({
        path: "pairs",
        message: `pairs must be a whole number of pairs, at least 1; got ${p}`,
      });
    for (const r of [0, -2])
      expect(errorsOf({ kind: "entanglement", src: "a", dst: "b", rate_hz: r, deadline_s: 1 })).toEqual([
        { path: "rate_hz", message: `rate_hz must be a positive number of pairs per second; got ${r}` },
      ]);
    expect(errorOf({ ...ENT, rate_hz: 5, deadline_s: 1 })).toEqual({
      path: "rate_hz",
      message:
        "give either pairs (how many pairs to deliver) or rate_hz (pairs per second until deadline_s), not both",
    });
    expect(errorOf({ kind: "entanglement", src: "a", dst: "b" })).toEqual({
      path: "pairs",
      message:
        "an entanglement job needs pairs (how many pairs to deliver) or rate_hz (pairs per second until deadline_s)",
    });
    expect(errorOf({ kind: "entanglement", src: "a", dst: "b", rate_hz: 5 })).toEqual({
      path: "deadline_s",
      message: "a rate_hz job runs until its deadline: add deadline_s (seconds after submission)",
    });
  });

  it("min_fidelity (entanglement)", () => {
    for (const f of [0.5, 0.25, 1.01, -1])
      expect(errorOf({ ...ENT, min_fidelity: f })).toEqual({
        path: "min_fidelity",
        message: `min_fidelity must be greater than 0.5 and at most 1 (a pair of fidelity 0.5 or less may be unentangled); got ${f}`,
      });
  });

  it("theta and phi (teleportation)", () => {
    expect(errorOf({ kind: "teleportation", src: "a", dst: "b", phi: 0 })).toEqual({
      path: "theta",
      message: "theta is required: the state's polar angle on the Bloch sphere, radians in [0, π]",
    });
    expect(errorOf({ kind: "teleportation", src: "a", dst: "b", theta: 0 })).toEqual({
      path: "phi",
      message: "phi is required: the state's azimuthal angle on the Bloch sphere, radians in [0, 2π)",
    });
    for (const t of [-0.1, 3.2])
      expect(errorOf({ ...TEL, theta: t })).toEqual({
        path: "theta",
        message: `theta must be the polar angle on the Bloch sphere in radians, from 0 (|0⟩) to π (|1⟩); got ${t}`,
      });
    for (const p of [-1, 2 * Math.PI])
      expect(errorOf({ ...TEL, phi: p })).toEqual({
        path: "phi",
        message: `phi must be the azimuthal angle on the Bloch sphere in radians, from 0 up to but not including 2π (add or subtract 2π to bring it into range); got ${p}`,
      });
  });

  it("key_bits (qkd)", () => {
    const { key_bits: _, ...noBits } = QKD;
    expect(errorOf(noBits)).toEqual({
      path: "key_bits",
      message: "key_bits is required: how many secret key bits to establish",
    });
    for (const b of [0, 3.5, -8])
      expect(errorOf({ ...QKD, key_bits: b })).toEqual({
        path: "key_bits",
        message: `key_bits must be a whole number of bits, at least 1; got ${b}`,
      });
    expect(errorOf({ ...QKD, key_bits: true }).message).toBe("key_bits must be a number; got true");
  });

  it("unknown fields: camelCase spellings, deadline in other units, fields of another kind", () => {
    expect(errorOf({ ...QKD, keyBits: 5 })).toEqual({
      path: "keyBits",
      message: "unknown field keyBits: the API spells it key_bits",
    });
    expect(errorOf({ ...ENT, minFidelity: 0.9 }).message).toBe(
      "unknown field minFidelity: the API spells it min_fidelity",
    );
    for (const k of ["deadline", "deadline_ms"])
      expect(errorOf({ ...QKD, [k]: 5 })).toEqual({
        path: k,
        message: `unknown field ${k}: give the deadline as deadline_s, seconds after submission`,
      });
    expect(errorOf({ ...QKD, pairs: 5 })).toEqual({
      path: "pairs",
      message:
        "unknown field pairs for a qkd job: remove it (fields: kind, src, dst, priority, tenant, deadline_s, key_bits)",
    });
    expect(errorOf({ ...TEL, min_fidelity: 0.9 }).message).toBe(
      "unknown field min_fidelity for a teleportation job: remove it (fields: kind, src, dst, priority, tenant, deadline_s, theta, phi)",
    );
  });

  it("reports every problem at once, in field order", () => {
    expect(
      errorsOf({
        kind: "entanglement",
        src: "",
        dst: "b",
        priority: 11,
        pairs: 0,
        min_fidelity: 2,
        extra: 1,
      }).map((e) => e.path),
    ).toEqual(["src", "priority", "extra", "pairs", "min_fidelity"]);
    // An unknown kind still gets its common fields checked.
    expect(errorsOf({ kind: "x", src: "a", dst: "a", tenant: "" }).map((e) => e.path)).toEqual([
      "kind",
      "dst",
      "tenant",
    ]);
  });
});

describe("checkJobSpec and checkJobId", () => {
  it("checkJobSpec checks a spec built in code and lists every problem", () => {
    const good = specOf(QKD);
    expect(checkJobSpec({ ...good, deadlineS: undefined })).toEqual(good);
    expect(() => checkJobSpec({ ...good, priority: 12, keyBits: 0 } as JobSpec)).toThrow(
      "invalid job spec: priority: priority must be a whole number from 0 (lowest) to 9 (highest); got 12; key_bits: key_bits must be a whole number of bits, at least 1; got 0",
    );
    expect(() => checkJobSpec(null as unknown as JobSpec)).toThrow(RangeError);
  });

  it("checkJobId accepts URL-safe IDs such as UUIDs", () => {
    checkJobId("0b4a6f0e-8f5c-4c1e-9d7a-3a2b1c0d9e8f");
    checkJobId("job:42.a_b");
    for (const bad of ["", "-x", "a/b", "a b", "x".repeat(129), 5 as unknown as string])
      expect(() => checkJobId(bad)).toThrow(/^job ID must be 1 to 128 letters/);
  });
});

describe("lifecycle", () => {
  it("allows exactly the documented transitions", () => {
    const allowed: [JobState, JobState][] = [
      ["queued", "admitted"],
      ["queued", "cancelled"],
      ["queued", "expired"],
      ["queued", "failed"],
      ["admitted", "reserved"],
      ["admitted", "cancelled"],
      ["admitted", "expired"],
      ["admitted", "failed"],
      ["reserved", "running"],
      ["reserved", "admitted"],
      ["reserved", "cancelled"],
      ["reserved", "expired"],
      ["reserved", "failed"],
      ["running", "succeeded"],
      ["running", "failed"],
      ["running", "expired"],
      ["running", "cancelled"],
    ];
    const key = (a: JobState, b: JobState) => `${a}>${b}`;
    const set = new Set(allowed.map(([a, b]) => key(a, b)));
    for (const from of JOB_STATES)
      for (const to of JOB_STATES)
        expect(canTransition(from, to), key(from, to)).toBe(set.has(key(from, to)));
    expect(Object.keys(JOB_TRANSITIONS)).toEqual([...JOB_STATES]);
  });

  it("final states are exactly those with no way out", () => {
    expect(TERMINAL_STATES).toEqual(["succeeded", "failed", "expired", "cancelled"]);
    for (const s of JOB_STATES) expect(isTerminal(s)).toBe(JOB_TRANSITIONS[s].length === 0);
    // Every state is reachable from queued, and every live state can reach a final one.
    const reach = new Set<JobState>(["queued"]);
    for (let grew = true; grew; ) {
      grew = false;
      for (const s of [...reach])
        for (const t of JOB_TRANSITIONS[s])
          if (!reach.has(t)) {
            reach.add(t);
            grew = true;
          }
    }
    expect([...reach].sort()).toEqual([...JOB_STATES].sort());
  });

  it("newJob makes a queued job at version 1 with its deadline in ms", () => {
    const spec = specOf({ ...QKD, deadline_s: 1.5 });
    expect(newJob("j1", spec, T0, "submitted")).toEqual({
      id: "j1",
      spec,
      state: "queued",
      history: [{ state: "queued", atMs: T0, reason: "submitted" }],
      createdAtMs: T0,
      updatedAtMs: T0,
      deadlineAtMs: T0 + 1500,
      version: 1,
    });
    expect(() => newJob("", spec, T0)).toThrow(/job ID/);
    expect(() => newJob("j", spec, Number.NaN)).toThrow(
      "nowMs must be a finite time in ms since the epoch; got NaN",
    );
    expect(() => newJob("j", { ...spec, src: "bob" }, T0)).toThrow(/dst must differ from src/);
  });

  it("transition appends to the history, moves the version on and leaves the input alone", () => {
    const job = newJob("j", specOf(QKD), T0);
    const a = transition(job, "admitted", T0 + 5, "quota ok");
    expect(a).toMatchObject({
      state: "admitted",
      updatedAtMs: T0 + 5,
      version: 2,
      history: [
        { state: "queued", atMs: T0 },
        { state: "admitted", atMs: T0 + 5, reason: "quota ok" },
      ],
    });
    expect(job.state).toBe("queued");
    expect(job.history).toHaveLength(1);
    expect(job.version).toBe(1);
  });

  it("transition keeps a claim on live states and clears it at a final one", () => {
    const job = { ...newJob("j", specOf(QKD), T0), claim: { worker: "w", untilMs: T0 + 10 } };
    const admitted = transition(job, "admitted", T0 + 1);
    expect(admitted.claim).toEqual({ worker: "w", untilMs: T0 + 10 });
    expect("claim" in transition(admitted, "failed", T0 + 2)).toBe(false);
  });

  it("transition throws JobTransitionError with a message naming the ways out", () => {
    const job = newJob("j7", specOf(QKD), T0);
    expect(() => transition(job, "running", T0)).toThrow(JobTransitionError);
    expect(() => transition(job, "running", T0)).toThrow(
      "job 'j7' cannot go from queued to running: from queued it may go to admitted, cancelled, expired or failed",
    );
    const done = transition(job, "cancelled", T0 + 1);
    const e = (() => {
      try {
        transition(done, "queued", T0 + 2);
      } catch (err) {
        return err;
      }
    })();
    expect(e).toBeInstanceOf(JobTransitionError);
    expect(e).toMatchObject({
      name: "JobTransitionError",
      code: "JOB_ILLEGAL_TRANSITION",
      jobId: "j7",
      from: "cancelled",
      to: "queued",
      message: "job 'j7' is cancelled, which is final: it cannot go to queued",
    });
    expect(() => transition(job, "queued", T0)).toThrow("job 'j7' cannot go from queued to queued");
  });

  it("transition rejects an unknown state, a bad time or an overlong reason", () => {
    const job = newJob("j", specOf(QKD), T0);
    expect(() => transition(job, "done" as JobState, T0)).toThrow(
      'unknown job state "done": one of queued, admitted, reserved, running, succeeded, failed, expired or cancelled',
    );
    expect(() => transition(job, "admitted", Number.POSITIVE_INFINITY)).toThrow(/atMs must be a finite time/);
    expect(() => transition(job, "admitted", T0, "x".repeat(1001))).toThrow(
      "reason must be at most 1000 characters; got 1001",
    );
    expect(() => transition(job, "admitted", T0, 5 as unknown as string)).toThrow(
      "reason must be a string; got 5",
    );
  });
});
