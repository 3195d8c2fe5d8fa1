import { describe, expect, it } from "vitest";
import type { AbstractLinkSpec, PhysicalLinkSpec, Topology } from "../../src/network/topology.js";
import {
  parseRequests,
  parseTopology,
  TOPOLOGY_FILE_FIELDS,
  TopologyError,
  type TopologyProblem,
} from "../../src/network/topology-loader.js";

/** The problems `parse` reports; fails the test when it does not throw a TopologyError. */
function problemsOf(parse: () => unknown): TopologyProblem[] {
  try {
    parse();
  } catch (e) {
    if (e instanceof TopologyError) return [...e.problems];
    throw e;
  }
  throw new Error("expected a TopologyError");
}

function topologyProblems(text: string, file = "net.yaml"): TopologyProblem[] {
  return problemsOf(() => parseTopology(text, file));
}

/** The 1-based line of the first line containing `marker` (after `from`, when given). */
function lineOf(text: string, marker: string, from?: string): number {
  const lines = text.split("\n");
  const start = from === undefined ? 0 : lines.findIndex((l) => l.includes(from));
  const i = lines.findIndex((l, j) => j >= start && l.includes(marker));
  if (i < 0) throw new Error(`marker ${marker} not in text`);
  return i + 1;
}

/** The problem at `path`; fails when there is none. */
function at(problems: TopologyProblem[], path: string): TopologyProblem {
  const p = problems.find((q) => q.path === path);
  if (p === undefined)
    throw new Error(
      `no problem at ${path}; got:\n${problems.map((q) => `${q.path}: ${q.message}`).join("\n")}`,
    );
  return p;
}

const HEADER = "apiVersion: qnet/v1\n";
const TWO_NODES = `${HEADER}nodes:
  - id: alice
    type: end
  - id: bob
    type: end
`;

describe("parseTopology: defaults of topology.ts", () => {
  const t = parseTopology(
    `${TWO_NODES}links:
  - a: alice
    b: bob
    length_km: 10
    heralding: double-click
`,
    "configs/two-nodes.yaml",
  );

  it("takes the name from the file name and applies the top-level defaults", () => {
    expect(t.apiVersion).toBe("qnet/v1");
    expect(t.name).toBe("two-nodes");
    expect(t.swap).toBe("asap");
    expect(t.requests).toEqual([]);
    expect("purification" in t).toBe(false);
  });

  it("applies every node and memory default", () => {
    expect(t.nodes[0]).toEqual({
      id: "alice",
      type: "end",
      memory: {
        qubits: 2,
        t1Ns: Number.POSITIVE_INFINITY,
        t2Ns: Number.POSITIVE_INFINITY,
        depolarizingTimeNs: Number.POSITIVE_INFINITY,
        efficiency: 1,
      },
      gateFidelity: 1,
      measurementFidelity: 1,
      swapSuccessProbability: 1,
      processingDelayNs: 0,
      cutoffNs: Number.POSITIVE_INFINITY,
    });
  });

  it("applies every physical-link default and names the link <a>-<b>", () => {
    expect(t.links[0].id).toBe("alice-bob");
    expect(t.links[0].quantum).toEqual({
      kind: "physical",
      lengthKm: 10,
      attenuationDbPerKm: 0.2,
      groupIndex: 1.4682,
      heralding: "double-click",
      sourceRateHz: Number.POSITIVE_INFINITY,
      detectorEfficiency: 0.9,
      darkCountRateHz: 0,
      detectionWindowNs: 1,
      brightStatePopulation: 0.1,
      multiplexingModes: 1,
      sourceFidelity: 1,
    } satisfies PhysicalLinkSpec);
  });

  it("derives the classical latency from the fiber: 4.897 µs/km at group index 1.4682 (physics.md)", () => {
    const { latencyNs, jitterNs, lossProbability } = t.links[0].classical;
    expect(latencyNs).toBeCloseTo((10 * 1.4682 * 1e9) / 299_792.458, 6);
    expect(latencyNs / 10 / 1000).toBeCloseTo(4.897, 3);
    expect(jitterNs).toBe(0);
    expect(lossProbability).toBe(0);
  });

  it("applies the abstract-link defaults: fidelity 1, length 0, so latency 0", () => {
    const a = parseTopology(
      `${TWO_NODES}links:
  - a: alice
    b: bob
    success_probability: 0.01
    attempt_duration: 10 us
`,
      "a.yaml",
    );
    expect(a.links[0].quantum).toEqual({
      kind: "abstract",
      successProbability: 0.01,
      attemptDurationNs: 10_000,
      fidelity: 1,
      lengthKm: 0,
    } satisfies AbstractLinkSpec);
    expect(a.links[0].classical.latencyNs).toBe(0);
  });

  it("uses an abstract link's length_km and the default group index for its latency", () => {
    const a = parseTopology(
      `${TWO_NODES}links:
  - a: alice
    b: bob
    success_probability: 0.01
    attempt_duration: 10 us
    length_km: 2
`,
      "a.yaml",
    );
    expect(a.links[0].classical.latencyNs).toBeCloseTo((2 * 1.4682 * 1e9) / 299_792.458, 6);
  });

  it("applies the request defaults: unlimited pairs as fast as possible, no deadline", () => {
    const r = parseTopology(
      `${TWO_NODES}links:
  - { a: alice, b: bob, success_probability: 0.1, attempt_duration: 1 ms }
requests:
  - { src: alice, dst: bob }
  - { id: paced, src: bob, dst: alice, rate: 2 kHz }
`,
      "r.yaml",
    ).requests;
    expect(r[0]).toEqual({
      id: "alice-bob",
      src: "alice",
      dst: "bob",
      pairs: Number.POSITIVE_INFINITY,
      rateHz: 0,
      minFidelity: 0,
      deadlineNs: Number.POSITIVE_INFINITY,
    });
    expect(r[1]).toMatchObject({ id: "paced", pairs: Number.POSITIVE_INFINITY, rateHz: 2000 });
  });

  it("applies the purification defaults: recurrence, one round", () => {
    const p = parseTopology(`${TWO_NODES}purification: { scheme: dejmps, level: link }\n`, "p.yaml");
    expect(p.purification).toEqual({ scheme: "dejmps", mode: "recurrence", level: "link", rounds: 1 });
  });

  it("caps the default T2 at 2·T1 when only T1 is given", () => {
    const m = parseTopology(
      `${HEADER}nodes:
  - { id: a, type: end, memory: { t1: 10 ms } }
  - { id: b, type: end, memory: { t2: 3 ms } }
`,
      "m.yaml",
    ).nodes;
    expect(m[0].memory.t1Ns).toBe(10e6);
    expect(m[0].memory.t2Ns).toBe(20e6);
    expect(m[1].memory.t1Ns).toBe(Number.POSITIVE_INFINITY);
    expect(m[1].memory.t2Ns).toBe(3e6);
  });
});

describe("parseTopology: values as written", () => {
  it("converts every unit to the model's (ns, Hz, km, fractions)", () => {
    const t = parseTopology(
      `${HEADER}name: units
swap: nested
nodes:
  - id: alice
    type: end
    memory: { qubits: 1, depolarizing_time: 2.5 s, efficiency: 80 % }
    processing_delay: 5 us
    cutoff: 1.5 ms
  - id: r
    type: repeater
    memory: { qubits: 4, t1: 1 min, t2: 2 s }
    gate_fidelity: 0.99
    measurement_fidelity: 98 %
    swap_success_probability: 0.5
    cutoff: none
  - id: bob
    type: trusted
links:
  - id: fiber-1
    a: alice
    b: r
    length_km: 500 m
    heralding: single-click
    attenuation_db_per_km: 0.16
    group_index: 1.47
    source_rate: 80 MHz
    detector_efficiency: 0.85
    dark_count_rate: 25 Hz
    detection_window: 2.5 ns
    bright_state_population: 0.05
    multiplexing_modes: 100
    source_fidelity: 0.97
    classical_latency: 1 ms
    classical_jitter: 10 us
    classical_loss: 1 %
  - a: r
    b: bob
    type: abstract
    success_probability: 2 %
    attempt_duration: 0.5 ms
    fidelity: 0.9
requests:
  - id: q
    src: alice
    dst: bob
    pairs: 10
    min_fidelity: 0.75
    deadline: 2 s
    path: [alice, r, bob]
`,
      "u.json",
    );
    expect(t.name).toBe("units");
    expect(t.swap).toBe("nested");
    const [alice, r, bob] = t.nodes;
    expect(alice.memory).toEqual({
      qubits: 1,
      t1Ns: Number.POSITIVE_INFINITY,
      t2Ns: Number.POSITIVE_INFINITY,
      depolarizingTimeNs: 2.5e9,
      efficiency: 0.8,
    });
    expect(alice.processingDelayNs).toBe(5000);
    expect(alice.cutoffNs).toBe(1.5e6);
    expect(r.memory).toMatchObject({ qubits: 4, t1Ns: 60e9, t2Ns: 2e9 });
    expect(r).toMatchObject({ gateFidelity: 0.99, measurementFidelity: 0.98, swapSuccessProbability: 0.5 });
    expect(r.cutoffNs).toBe(Number.POSITIVE_INFINITY);
    expect(bob.type).toBe("trusted");
    expect(t.links[0]).toEqual({
      id: "fiber-1",
      a: "alice",
      b: "r",
      quantum: {
        kind: "physical",
        lengthKm: 0.5,
        attenuationDbPerKm: 0.16,
        groupIndex: 1.47,
        heralding: "single-click",
        sourceRateHz: 80e6,
        detectorEfficiency: 0.85,
        darkCountRateHz: 25,
        detectionWindowNs: 2.5,
        brightStatePopulation: 0.05,
        multiplexingModes: 100,
        sourceFidelity: 0.97,
      },
      classical: { latencyNs: 1e6, jitterNs: 10_000, lossProbability: 0.01 },
      outages: [],
    });
    expect(t.links[1].id).toBe("r-bob");
    expect(t.links[1].quantum).toEqual({
      kind: "abstract",
      successProbability: 0.02,
      attemptDurationNs: 5e5,
      fidelity: 0.9,
      lengthKm: 0,
    });
    expect(t.requests[0]).toEqual({
      id: "q",
      src: "alice",
      dst: "bob",
      pairs: 10,
      rateHz: 0,
      minFidelity: 0.75,
      deadlineNs: 2e9,
      path: ["alice", "r", "bob"],
    });
  });

  it("reads JSON, which is YAML", () => {
    const t = parseTopology(
      JSON.stringify({
        apiVersion: "qnet/v1",
        nodes: [
          { id: "a", type: "end" },
          { id: "b", type: "end" },
        ],
        links: [{ a: "a", b: "b", length_km: 1, heralding: "double-click" }],
      }),
      "net.json",
    );
    expect(t.name).toBe("net");
    expect(t.links[0].id).toBe("a-b");
  });

  it("resolves YAML anchors and merge keys; explicit fields win over merged ones", () => {
    const t = parseTopology(
      `${HEADER}nodes:
  - &rep
    id: r1
    type: repeater
    memory: { qubits: 2, t2: 1 s }
    cutoff: 5 ms
  - <<: *rep
    id: r2
    cutoff: 7 ms
`,
      "m.yaml",
    );
    expect(t.nodes.map((n) => [n.id, n.type, n.memory.t2Ns, n.cutoffNs])).toEqual([
      ["r1", "repeater", 1e9, 5e6],
      ["r2", "repeater", 1e9, 7e6],
    ]);
  });

  it("treats an empty links: or requests: as an empty list", () => {
    const t = parseTopology(`${TWO_NODES}links:\nrequests:\n`, "e.yaml");
    expect(t.links).toEqual([]);
    expect(t.requests).toEqual([]);
  });
});

describe("parseTopology: problems name the file, line, field and what is allowed", () => {
  it("formats each problem as file:line:col: path: message", () => {
    const text = `${TWO_NODES}links:
  - a: alice
    b: bob
    length_km: 10
    heralding: triple-click
`;
    const problems = topologyProblems(text, "net.yaml");
    expect(problems).toEqual([
      {
        file: "net.yaml",
        line: lineOf(text, "triple-click"),
        column: 16,
        path: "links[0].heralding",
        message: "'triple-click' is not one of single-click, double-click",
      },
    ]);
    const error = (() => {
      try {
        parseTopology(text, "net.yaml");
      } catch (e) {
        return e as TopologyError;
      }
    })();
    expect(error).toBeInstanceOf(TopologyError);
    expect(error?.name).toBe("TopologyError");
    expect(error?.message).toBe(
      `net.yaml:${lineOf(text, "triple-click")}:16: links[0].heralding: 'triple-click' is not one of single-click, double-click`,
    );
  });

  it("reports every problem together, in file order, one line each", () => {
    const text = `${HEADER}nodes:
  - id: alice
    type: end
    memory: { qubits: 1.5 }
  - id: bob
    type: repeter
    gate_fidelity: 1.2
links:
  - a: alice
    b: bobb
    length_km: -3
    heralding: double-click
requests:
  - src: alice
    dst: bob
    pairs: 0
`;
    let message = "";
    try {
      parseTopology(text, "many.yaml");
    } catch (e) {
      message = (e as Error).message;
    }
    const lines = message.split("\n");
    expect(lines).toEqual([
      expect.stringMatching(
        `^many.yaml:${lineOf(text, "qubits: 1.5")}:\\d+: nodes\\[0\\].memory.qubits: 1.5 is not an integer ≥ 0$`,
      ),
      expect.stringMatching(
        `^many.yaml:${lineOf(text, "repeter")}:\\d+: nodes\\[1\\].type: 'repeter' is not one of end, repeater, trusted; did you mean 'repeater'\\?$`,
      ),
      expect.stringMatching(
        `^many.yaml:${lineOf(text, "gate_fidelity")}:\\d+: nodes\\[1\\].gate_fidelity: 1.2 is out of range; expected a probability in \\[0, 1\\]`,
      ),
      expect.stringMatching(
        `^many.yaml:${lineOf(text, "bobb")}:\\d+: links\\[0\\].b: no node has id 'bobb'; did you mean 'bob'\\? \\(nodes: alice, bob\\)$`,
      ),
      expect.stringMatching(
        `^many.yaml:${lineOf(text, "length_km")}:\\d+: links\\[0\\].length_km: -3 is negative`,
      ),
      expect.stringMatching(
        `^many.yaml:${lineOf(text, "pairs: 0")}:\\d+: requests\\[0\\].pairs: 0 is out of range; expected an integer ≥ 1$`,
      ),
    ]);
  });

  it("reports a YAML syntax error with its line, and only that", () => {
    const text = `${HEADER}nodes:
  - id: alice
    type: end
  - id: bob
   type: end
`;
    const problems = topologyProblems(text, "broken.yaml");
    expect(problems.length).toBeGreaterThan(0);
    expect(problems.every((p) => p.message.startsWith("YAML syntax error"))).toBe(true);
    expect(problems[0].line).toBe(lineOf(text, "type: end", "id: bob"));
    expect(problems[0].file).toBe("broken.yaml");
  });

  it("reports an unclosed flow list as a syntax error", () => {
    const problems = topologyProblems(`${HEADER}nodes: [{id: a, type: end}\nlinks: []\n`);
    expect(problems[0].message).toMatch(/^YAML syntax error: .*\]/);
  });

  it("reports duplicate keys with both lines, and keeps checking the rest", () => {
    const text = `${HEADER}nodes:
  - id: alice
    type: end
    cutoff: 1 ms
    cutoff: 2 ms
  - id: bob
    type: robot
`;
    const problems = topologyProblems(text);
    const dup = at(problems, "nodes[0].cutoff");
    expect(dup.line).toBe(lineOf(text, "cutoff: 2 ms"));
    expect(dup.column).toBe(5);
    expect(dup.message).toBe(
      `duplicate key 'cutoff' (first given at line ${lineOf(text, "cutoff: 1 ms")}); give it once`,
    );
    expect(at(problems, "nodes[1].type").message).toContain("'robot' is not one of end, repeater, trusted");
  });

  it("reports an unknown field with a did-you-mean suggestion when one is close", () => {
    const text = `${TWO_NODES}links:
  - a: alice
    b: bob
    lenght_km: 10
    heralding: double-click
    detectorEfficiency: 0.8
    jitter: 1 us
    colour: blue
`;
    const problems = topologyProblems(text);
    const typo = at(problems, "links[0].lenght_km");
    expect(typo.line).toBe(lineOf(text, "lenght_km"));
    expect(typo.column).toBe(5);
    expect(typo.message).toBe("unknown field; did you mean 'length_km'?");
    expect(at(problems, "links[0].detectorEfficiency").message).toBe(
      "unknown field; did you mean 'detector_efficiency'?",
    );
    expect(at(problems, "links[0].jitter").message).toBe("unknown field; did you mean 'classical_jitter'?");
    const unknown = at(problems, "links[0].colour").message;
    expect(unknown).toMatch(/^unknown field; allowed: id, a, b, type, length_km, attenuation_db_per_km, /);
    expect(unknown).toContain("classical_loss");
  });

  it("points memory settings written on the node to memory:", () => {
    const problems = topologyProblems(`${HEADER}nodes:\n  - { id: a, type: end, t2: 1 s }\n`);
    expect(at(problems, "nodes[0].t2").message).toContain("memory.t2");
  });

  it("ignores unknown fields on request", () => {
    const t = parseTopology(
      `${HEADER}future_field: 1\nnodes:\n  - { id: a, type: end, colour: red }\n`,
      "f.yaml",
      {
        unknownFields: "ignore",
      },
    );
    expect(t.nodes[0].id).toBe("a");
  });

  it("requires apiVersion and says which version is supported", () => {
    const problems = topologyProblems("nodes:\n  - { id: a, type: end }\n");
    expect(at(problems, "apiVersion")).toMatchObject({
      line: 1,
      message: "required field is missing; add 'apiVersion: qnet/v1' (the supported version)",
    });
  });

  it("reports only the version when a file names another apiVersion", () => {
    const problems = topologyProblems("apiVersion: qnet/v2\nnodes: 3\nwhatever: true\n");
    expect(problems).toEqual([
      {
        file: "net.yaml",
        line: 1,
        column: 13,
        path: "apiVersion",
        message: "'qnet/v2' is not supported; this version of qnet reads apiVersion qnet/v1",
      },
    ]);
  });

  it("reports an empty file and a file that is not a mapping", () => {
    expect(topologyProblems("")[0].message).toMatch(/^the file is empty; a topology file is a mapping/);
    expect(topologyProblems("- 1\n- 2\n")[0].message).toMatch(/^the file holds a list; /);
  });

  it("requires the node fields and a node list", () => {
    const problems = topologyProblems(`${HEADER}nodes:\n  - memory: { qubits: 2 }\n`);
    expect(at(problems, "nodes[0].id").message).toContain("every node needs an id");
    expect(at(problems, "nodes[0].type").message).toBe(
      "required field is missing; one of end, repeater, trusted",
    );
    expect(at(topologyProblems(HEADER), "nodes").message).toContain("required field is missing");
    expect(at(topologyProblems(`${HEADER}nodes: []\n`), "nodes").message).toBe(
      "a topology needs at least one node",
    );
  });

  it("rejects invalid and numeric ids", () => {
    const problems = topologyProblems(
      `${HEADER}nodes:\n  - { id: 7, type: end }\n  - { id: "my node", type: end }\n`,
    );
    expect(at(problems, "nodes[0].id").message).toBe('7 is not a string (quote it: "7")');
    expect(at(problems, "nodes[1].id").message).toContain("'my node' is not a valid id");
  });

  it("reports duplicate node, link and request ids", () => {
    const text = `${HEADER}nodes:
  - { id: a, type: end }
  - { id: b, type: end }
  - { id: a, type: end }
links:
  - { a: a, b: b, success_probability: 0.1, attempt_duration: 1 ms }
  - { a: a, b: b, success_probability: 0.2, attempt_duration: 1 ms }
  - { id: x, a: b, b: a, success_probability: 0.2, attempt_duration: 1 ms }
  - { id: x, a: b, b: a, success_probability: 0.2, attempt_duration: 1 ms }
requests:
  - { id: r, src: a, dst: b }
  - { id: r, src: b, dst: a }
`;
    const problems = topologyProblems(text);
    expect(at(problems, "nodes[2].id")).toMatchObject({
      line: lineOf(text, "{ id: a", "id: b"),
      message: `duplicate node id 'a'; nodes[0].id at line ${lineOf(text, "{ id: a")} has it too — ids must be unique`,
    });
    expect(at(problems, "links[1]").message).toContain(
      "duplicate link id 'a-b' (a link without an id is named '<a>-<b>'; give parallel links an explicit id)",
    );
    expect(at(problems, "links[3].id").message).toContain("duplicate link id 'x'");
    expect(at(problems, "requests[1].id").message).toContain("duplicate request id 'r'");
  });
});

describe("parseTopology: nodes and memories", () => {
  it("refuses t1/t2 together with depolarizing_time", () => {
    const problems = topologyProblems(
      `${HEADER}nodes:\n  - { id: a, type: end, memory: { t1: 1 s, depolarizing_time: 1 s } }\n`,
    );
    expect(at(problems, "nodes[0].memory.depolarizing_time").message).toBe(
      "a memory is either depolarizing (depolarizing_time) or relaxing and dephasing (t1, t2), not both; t1 also given",
    );
  });

  it("enforces T2 ≤ 2·T1", () => {
    const text = `${HEADER}nodes:\n  - id: a\n    type: end\n    memory:\n      t1: 10 ms\n      t2: 30 ms\n`;
    expect(at(topologyProblems(text), "nodes[0].memory.t2")).toMatchObject({
      line: lineOf(text, "t2: 30 ms"),
      message: "T2 must be at most 2·T1 (here t1 is '10 ms', so t2 ≤ 20 ms)",
    });
    expect(
      parseTopology(text.replace("30 ms", "20 ms"), "ok.yaml").nodes[0].memory.t2Ns, // exactly 2·T1 is allowed
    ).toBe(20e6);
  });

  it("requires an integer number of qubits ≥ 0, and at least 2 at a repeater", () => {
    const problems = topologyProblems(
      `${HEADER}nodes:
  - { id: a, type: end, memory: { qubits: -1 } }
  - { id: r, type: repeater, memory: { qubits: 1 } }
  - { id: t, type: trusted, memory: { qubits: 0 } }
`,
    );
    expect(at(problems, "nodes[0].memory.qubits").message).toBe(
      "-1 is out of range; expected an integer ≥ 0",
    );
    expect(at(problems, "nodes[1].memory.qubits").message).toBe(
      "a repeater needs at least 2 memory qubits to swap (it has 1)",
    );
    expect(problems.some((p) => p.path.startsWith("nodes[2]"))).toBe(false);
  });

  it("refuses a zero or negative memory time and a string for a plain number", () => {
    const problems = topologyProblems(
      `${HEADER}nodes:\n  - { id: a, type: end, memory: { t2: 0 s, qubits: "2" }, processing_delay: -1 us }\n`,
    );
    expect(at(problems, "nodes[0].memory.t2").message).toMatch(/greater than 0/);
    expect(at(problems, "nodes[0].memory.qubits").message).toBe("'2' is not an integer ≥ 0");
    expect(at(problems, "nodes[0].processing_delay").message).toMatch(/negative/);
  });

  it("refuses a memory that is not a mapping", () => {
    expect(
      at(topologyProblems(`${HEADER}nodes:\n  - { id: a, type: end, memory: 2 }\n`), "nodes[0].memory")
        .message,
    ).toBe("2 is not a memory description (a mapping of field: value)");
  });
});

describe("parseTopology: links", () => {
  it("refuses a link that mixes physical and abstract fields, and says which are which", () => {
    const text = `${TWO_NODES}links:
  - a: alice
    b: bob
    length_km: 10
    heralding: double-click
    success_probability: 0.1
`;
    const p = at(topologyProblems(text), "links[0]");
    expect(p.line).toBe(lineOf(text, "- a: alice"));
    expect(p.message).toContain(
      "a link is either physical or abstract, not both: it has physical field(s) heralding and abstract field(s) success_probability",
    );
    expect(p.message).toContain(
      "physical links take length_km, attenuation_db_per_km, group_index, heralding",
    );
    expect(p.message).toContain(
      "abstract links take success_probability, attempt_duration, fidelity, length_km",
    );
  });

  it("with an explicit type, reports each field of the other kind", () => {
    const problems = topologyProblems(`${TWO_NODES}links:
  - { a: alice, b: bob, type: abstract, success_probability: 0.1, attempt_duration: 1 ms, heralding: single-click }
`);
    expect(at(problems, "links[0].heralding").message).toMatch(
      /^this field belongs to physical links, and this link is abstract; abstract links take/,
    );
  });

  it("requires length_km and heralding of a physical link, and success_probability and attempt_duration of an abstract one", () => {
    const problems = topologyProblems(`${TWO_NODES}links:
  - { a: alice, b: bob, length_km: 5 }
  - { a: bob, b: alice, fidelity: 0.9 }
  - { a: alice, b: bob, id: empty }
`);
    expect(at(problems, "links[0].heralding").message).toBe(
      "required field is missing; one of single-click, double-click",
    );
    expect(at(problems, "links[1].success_probability").message).toContain("required field is missing");
    expect(at(problems, "links[1].attempt_duration").message).toContain("required field is missing");
    expect(at(problems, "links[2]").message).toMatch(
      /^a link needs a physical description \(length_km and heralding/,
    );
  });

  it("requires a positive length, a positive attempt duration and a success probability above 0", () => {
    const problems = topologyProblems(`${TWO_NODES}links:
  - { a: alice, b: bob, length_km: 0, heralding: double-click }
  - { a: bob, b: alice, success_probability: 0, attempt_duration: 0 }
`);
    expect(at(problems, "links[0].length_km").message).toMatch(/greater than 0/);
    expect(at(problems, "links[1].success_probability").message).toContain("(0, 1]");
    expect(at(problems, "links[1].attempt_duration").message).toMatch(/greater than 0/);
  });

  it("refuses bright_state_population on a double-click link and a message loss of 1", () => {
    const problems = topologyProblems(`${TWO_NODES}links:
  - { a: alice, b: bob, length_km: 1, heralding: double-click, bright_state_population: 0.1, classical_loss: 1 }
`);
    expect(at(problems, "links[0].bright_state_population").message).toBe(
      "bright_state_population applies to single-click heralding only; this link is double-click",
    );
    expect(at(problems, "links[0].classical_loss").message).toContain("[0, 1)");
  });

  it("checks that link ends exist and differ", () => {
    const problems = topologyProblems(`${TWO_NODES}links:
  - { a: alice, b: alice, length_km: 1, heralding: double-click }
  - { a: carol, length_km: 1, heralding: double-click }
`);
    expect(at(problems, "links[0].b").message).toBe(
      "a link joins two different nodes; both ends are 'alice'",
    );
    expect(at(problems, "links[1].a").message).toBe("no node has id 'carol' (nodes: alice, bob)");
    expect(at(problems, "links[1].b").message).toBe(
      "required field is missing; the id of the node at the other end",
    );
  });

  it("suggests the closest enum value", () => {
    const problems = topologyProblems(
      `${TWO_NODES}links:\n  - { a: alice, b: bob, length_km: 1, heralding: single_click }\n`,
    );
    expect(at(problems, "links[0].heralding").message).toBe(
      "'single_click' is not one of single-click, double-click; did you mean 'single-click'?",
    );
  });
});

describe("parseTopology: requests", () => {
  const LINE = `${HEADER}nodes:
  - { id: a, type: end }
  - { id: r1, type: repeater }
  - { id: r2, type: repeater }
  - { id: b, type: end }
links:
  - { a: a, b: r1, length_km: 10, heralding: double-click }
  - { a: r1, b: r2, length_km: 10, heralding: double-click }
  - { a: r2, b: b, length_km: 10, heralding: double-click }
requests:
`;

  it("accepts a path that follows links from src to dst, in either link direction", () => {
    const t = parseTopology(`${LINE}  - { src: b, dst: a, path: [b, r2, r1, a] }\n`, "ok.yaml");
    expect(t.requests[0].path).toEqual(["b", "r2", "r1", "a"]);
  });

  it("reports a path that skips a link, starts or ends elsewhere, repeats a node or names an unknown node", () => {
    const text = `${LINE}  - { id: skip, src: a, dst: b, path: [a, r2, b] }
  - { id: ends, src: a, dst: b, path: [r1, r2] }
  - { id: loop, src: a, dst: b, path: [a, r1, a, r1, r2, b] }
  - { id: ghost, src: a, dst: b, path: [a, r9, b] }
  - { id: short, src: a, dst: b, path: [a] }
`;
    const problems = topologyProblems(text);
    expect(at(problems, "requests[0].path[1]")).toMatchObject({
      line: lineOf(text, "id: skip"),
      message: "no link joins 'a' and 'r2'; consecutive path entries must be the two ends of a link",
    });
    expect(at(problems, "requests[1].path[0]").message).toBe("the path must start at src 'a', not 'r1'");
    expect(at(problems, "requests[1].path[1]").message).toBe("the path must end at dst 'b', not 'r2'");
    expect(at(problems, "requests[2].path[2]").message).toBe(
      "'a' appears twice in the path (also at path[0])",
    );
    expect(at(problems, "requests[3].path[1]").message).toBe(
      "no node has id 'r9'; did you mean 'r1'? (nodes: a, r1, r2, b)",
    );
    expect(at(problems, "requests[4].path").message).toBe(
      "a path lists at least two node ids, from src to dst",
    );
  });

  it("checks src and dst, and refuses pairs together with rate", () => {
    const problems = topologyProblems(`${LINE}  - { src: a, dst: a }
  - { src: x, dst: b, pairs: 3, rate: 1 kHz }
  - { dst: b, min_fidelity: 2, deadline: soon }
`);
    expect(at(problems, "requests[0].dst").message).toBe(
      "a request joins two different nodes; src and dst are both 'a'",
    );
    expect(at(problems, "requests[1].src").message).toContain("no node has id 'x'");
    expect(at(problems, "requests[1].rate").message).toBe(
      "give either 'pairs' (a number of pairs to deliver) or 'rate' (a delivery rate), not both",
    );
    expect(at(problems, "requests[2].src").message).toContain("required field is missing");
    expect(at(problems, "requests[2].min_fidelity").message).toContain("out of range");
    expect(at(problems, "requests[2].deadline").message).toContain("'soon' is not a duration");
  });
});

describe("parseRequests: a separate requests file", () => {
  const topology: Topology = parseTopology(
    `${HEADER}nodes:
  - { id: a, type: end }
  - { id: m, type: repeater }
  - { id: b, type: end }
links:
  - { a: a, b: m, success_probability: 0.1, attempt_duration: 1 ms }
  - { a: m, b: b, success_probability: 0.1, attempt_duration: 1 ms }
`,
    "net.yaml",
  );

  it("reads a mapping with a requests: list", () => {
    const r = parseRequests(
      `apiVersion: qnet/v1\nrequests:\n  - { id: one, src: a, dst: b, pairs: 5, path: [a, m, b] }\n`,
      "w.yaml",
      topology,
    );
    expect(r).toEqual([
      {
        id: "one",
        src: "a",
        dst: "b",
        pairs: 5,
        rateHz: 0,
        minFidelity: 0,
        deadlineNs: Number.POSITIVE_INFINITY,
        path: ["a", "m", "b"],
      },
    ]);
  });

  it("reads a bare list, and JSON", () => {
    expect(
      parseRequests("- { src: a, dst: b, rate: 5 Hz }\n- { src: b, dst: m }\n", "w.yaml", topology),
    ).toHaveLength(2);
    expect(parseRequests('[{"src": "a", "dst": "b"}]', "w.json", topology)[0].id).toBe("a-b");
  });

  it("checks requests against the topology and reports paths as requests[i]", () => {
    const text = "- { src: a, dst: b }\n- { src: a, dst: z, path: [a, b] }\n";
    const problems = problemsOf(() => parseRequests(text, "w.yaml", topology));
    expect(problems.map((p) => `${p.file}:${p.line}: ${p.path}`)).toEqual([
      "w.yaml:2: requests[1].dst",
      "w.yaml:2: requests[1].path[1]",
    ]);
    expect(at(problems, "requests[1].path[1]").message).toBe(
      "no link joins 'a' and 'b'; consecutive path entries must be the two ends of a link",
    );
  });

  it("reports an unknown top-level field, another apiVersion, and a file that is neither form", () => {
    expect(
      at(
        problemsOf(() => parseRequests("request: []\n", "w.yaml", topology)),
        "request",
      ).message,
    ).toBe("unknown field; did you mean 'requests'?");
    expect(
      at(
        problemsOf(() => parseRequests("apiVersion: v9\nrequests: []\n", "w.yaml", topology)),
        "apiVersion",
      ).message,
    ).toContain("this version of qnet reads apiVersion qnet/v1");
    expect(problemsOf(() => parseRequests("just text", "w.yaml", topology))[0].message).toBe(
      "a requests file is a list of requests, or a mapping with a 'requests:' list",
    );
  });

  it("reports duplicate request ids within the file", () => {
    const problems = problemsOf(() =>
      parseRequests("- { src: a, dst: b }\n- { src: a, dst: b }\n", "w.yaml", topology),
    );
    expect(at(problems, "requests[1]").message).toContain("duplicate request id 'a-b'");
  });
});

describe("parseTopology: YAML details", () => {
  it("reports an alias that refers to itself instead of looping", () => {
    const problems = topologyProblems(`${HEADER}nodes: &n\n  - { id: a, type: end }\n  - *n\n`);
    expect(problems.some((p) => p.message.includes("cycle"))).toBe(true);
  });

  it("gives unknown fields inside merged mappings the line where they are written", () => {
    const text = `${HEADER}nodes:
  - &base
    id: a
    type: end
    colour: red
  - <<: *base
    id: b
`;
    const problems = topologyProblems(text);
    expect(at(problems, "nodes[0].colour").line).toBe(lineOf(text, "colour"));
    expect(at(problems, "nodes[1].colour").line).toBe(lineOf(text, "colour"));
  });

  it("reports each empty value at its own line", () => {
    const text = `${HEADER}nodes:\n  - id: a\n    type:\n  - id: b\n    type:\n`;
    const problems = topologyProblems(text);
    expect(at(problems, "nodes[0].type")).toMatchObject({
      line: lineOf(text, "type:"),
      message: "an empty value is not one of end, repeater, trusted",
    });
    expect(at(problems, "nodes[1].type").line).toBe(lineOf(text, "type:", "id: b"));
  });

  it("treats only a plain << as a merge key", () => {
    const problems = topologyProblems(`${HEADER}nodes:\n  - { "<<": { type: end }, id: a, type: end }\n`);
    expect(at(problems, "nodes[0].<<").message).toMatch(/^unknown field; allowed: /);
  });

  it("lists the same field names as TOPOLOGY_FILE_FIELDS for every section", () => {
    expect(TOPOLOGY_FILE_FIELDS.memory).toEqual(["qubits", "t1", "t2", "depolarizing_time", "efficiency"]);
    expect(TOPOLOGY_FILE_FIELDS.topology).toContain("apiVersion");
    expect(TOPOLOGY_FILE_FIELDS.topology).toContain("key_service");
    expect(TOPOLOGY_FILE_FIELDS.keyService).toEqual(["pool_bits", "saes"]);
    expect(TOPOLOGY_FILE_FIELDS.sae).toEqual(["id", "site", "policy", "keys_per_minute", "bits_per_day"]);
  });
});

describe("parseTopology: key_service", () => {
  const SITES = `${HEADER}nodes:
  - { id: campus-a, type: end }
  - { id: campus-b, type: end }
  - { id: core, type: repeater }
  - { id: exchange, type: trusted }
links:
  - { a: campus-a, b: core, length_km: 5, heralding: double-click }
  - { a: core, b: campus-b, length_km: 5, heralding: double-click }
`;

  it("reads the section into the exact model, leaving absent quotas absent", () => {
    const t = parseTopology(
      `${SITES}key_service:
  pool_bits: 4096
  saes:
    - id: app-campus-a
      site: campus-a
    - id: app-campus-b
      site: campus-b
      policy: qkd-only
      keys_per_minute: 600
    - id: ops-exchange
      site: exchange
      policy: pqc-allowed
      keys_per_minute: 0.5
      bits_per_day: 1e9
`,
      "ks.yaml",
    );
    expect(t.keyService).toEqual({
      poolBits: 4096,
      saes: [
        { id: "app-campus-a", site: "campus-a", policy: "hybrid" },
        { id: "app-campus-b", site: "campus-b", policy: "qkd-only", keysPerMinute: 600 },
        { id: "ops-exchange", site: "exchange", policy: "pqc-allowed", keysPerMinute: 0.5, bitsPerDay: 1e9 },
      ],
    });
  });

  it("leaves the defaults to the consumer: no section, {}, and a section without saes or pool_bits", () => {
    expect("keyService" in parseTopology(SITES, "none.yaml")).toBe(false);
    expect(parseTopology(`${SITES}key_service: {}\n`, "empty.yaml").keyService).toEqual({});
    expect(parseTopology(`${SITES}key_service:\n  pool_bits: 1024\n`, "p.yaml").keyService).toEqual({
      poolBits: 1024,
    });
  });

  it("reads the JSON form", () => {
    const t = parseTopology(
      JSON.stringify(
        {
          apiVersion: "qnet/v1",
          nodes: [
            { id: "a", type: "end" },
            { id: "t", type: "trusted" },
          ],
          key_service: {
            pool_bits: 65536,
            saes: [
              { id: "app-a", site: "a", policy: "hybrid", bits_per_day: 1e9 },
              { id: "app-t", site: "t", policy: "qkd-only", keys_per_minute: 60 },
            ],
          },
        },
        null,
        2,
      ),
      "net.json",
    );
    expect(t.keyService).toEqual({
      poolBits: 65536,
      saes: [
        { id: "app-a", site: "a", policy: "hybrid", bitsPerDay: 1e9 },
        { id: "app-t", site: "t", policy: "qkd-only", keysPerMinute: 60 },
      ],
    });
  });

  it("reports problems in the JSON form with their lines", () => {
    const text = JSON.stringify(
      {
        apiVersion: "qnet/v1",
        nodes: [
          { id: "a", type: "end" },
          { id: "r", type: "repeater" },
        ],
        key_service: { saes: [{ id: "app-r", site: "r", policy: "pqc" }] },
      },
      null,
      2,
    );
    const problems = topologyProblems(text, "net.json");
    expect(at(problems, "key_service.saes[0].site")).toMatchObject({
      file: "net.json",
      line: lineOf(text, '"site": "r"'),
      message: "'r' is a repeater node, which runs no KME; an SAE's site is an end or trusted node (here: a)",
    });
    expect(at(problems, "key_service.saes[0].policy")).toMatchObject({
      line: lineOf(text, '"policy": "pqc"'),
      message: "'pqc' is not one of qkd-only, hybrid, pqc-allowed; did you mean 'pqc-allowed'?",
    });
  });

  it("reports every problem of the section at once, with line and field", () => {
    const text = `${SITES}key_service:
  pool_bits: 1000
  saes:
    - id: app-a
      site: core
      policy: pqc-only
      keys_per_minute: 0
    - id: app-a
      site: campsu-b
      bits_per_day: -1
    - site: campus-a
      keys_per_min: 5
    - id: app-x
      site: nowhere
      kme: exchange
    - id: app-y
      site: exchange
      bits_per_day: "1 Gbit"
`;
    const problems = topologyProblems(text);
    const ks = "key_service";
    expect(problems.map((p) => [p.line, p.path, p.message])).toEqual([
      [
        lineOf(text, "pool_bits: 1000"),
        `${ks}.pool_bits`,
        "1000 is out of range; expected an integer ≥ 1024",
      ],
      [
        lineOf(text, "site: core"),
        `${ks}.saes[0].site`,
        "'core' is a repeater node, which runs no KME; an SAE's site is an end or trusted node (here: campus-a, campus-b, exchange)",
      ],
      [
        lineOf(text, "pqc-only"),
        `${ks}.saes[0].policy`,
        "'pqc-only' is not one of qkd-only, hybrid, pqc-allowed",
      ],
      [
        lineOf(text, "keys_per_minute: 0"),
        `${ks}.saes[0].keys_per_minute`,
        "0 is out of range; expected a number greater than 0",
      ],
      [
        lineOf(text, "id: app-a", "keys_per_minute: 0"),
        `${ks}.saes[1].id`,
        `duplicate SAE id 'app-a'; ${ks}.saes[0].id at line ${lineOf(text, "id: app-a")} has it too — ids must be unique`,
      ],
      [
        lineOf(text, "campsu-b"),
        `${ks}.saes[1].site`,
        "no node has id 'campsu-b'; did you mean 'campus-b'? (an SAE's site is an end or trusted node; here: campus-a, campus-b, exchange)",
      ],
      [
        lineOf(text, "bits_per_day: -1"),
        `${ks}.saes[1].bits_per_day`,
        "-1 is out of range; expected a number greater than 0",
      ],
      [
        lineOf(text, "- site: campus-a"),
        `${ks}.saes[2].id`,
        "required field is missing; every SAE needs an id, the one its certificate names, e.g. 'id: app-campus-a'",
      ],
      [
        lineOf(text, "keys_per_min: 5"),
        `${ks}.saes[2].keys_per_min`,
        "unknown field; did you mean 'keys_per_minute'?",
      ],
      [
        lineOf(text, "site: nowhere"),
        `${ks}.saes[3].site`,
        "no node has id 'nowhere' (an SAE's site is an end or trusted node; here: campus-a, campus-b, exchange)",
      ],
      [lineOf(text, "kme: exchange"), `${ks}.saes[3].kme`, "unknown field; did you mean 'site'?"],
      [lineOf(text, "1 Gbit"), `${ks}.saes[4].bits_per_day`, "'1 Gbit' is not a number greater than 0"],
    ]);
  });

  it("refuses an empty SAE list and says how to get the default", () => {
    for (const saes of ["saes: []", "saes:"]) {
      const text = `${SITES}key_service:\n  ${saes}\n`;
      expect(at(topologyProblems(text), "key_service.saes")).toMatchObject({
        line: lineOf(text, "saes:"),
        message:
          "a key service needs at least one SAE; list them, or leave out 'saes' for the default: one SAE app-<node> with policy hybrid per end node",
      });
    }
  });

  it("refuses a section that is empty or not a mapping, and saes that are not a list of mappings", () => {
    expect(at(topologyProblems(`${SITES}key_service:\n`), "key_service").message).toBe(
      "the section is empty; write 'key_service: {}' for a key service with every default, or leave it out for none",
    );
    expect(at(topologyProblems(`${SITES}key_service: true\n`), "key_service").message).toBe(
      "true is not a key service description (a mapping of field: value)",
    );
    expect(at(topologyProblems(`${SITES}key_service: { saes: app-a }\n`), "key_service.saes").message).toBe(
      "'app-a' is not a list of SAEs (a list, one '- ' entry per item)",
    );
    const problems = topologyProblems(`${SITES}key_service: { saes: [app-a, { id: 7, site: 3 }] }\n`);
    expect(at(problems, "key_service.saes[0]").message).toBe(
      "'app-a' is not an SAE ({ id, site, policy, ... }) (a mapping of field: value)",
    );
    expect(at(problems, "key_service.saes[1].id").message).toBe('7 is not a string (quote it: "7")');
    expect(at(problems, "key_service.saes[1].site").message).toBe("3 is not a node id");
  });

  it("requires a site, and a fractional pool_bits is refused", () => {
    const problems = topologyProblems(`${SITES}key_service: { pool_bits: 2048.5, saes: [{ id: app-a }] }\n`);
    expect(at(problems, "key_service.saes[0].site").message).toBe(
      "required field is missing; the end or trusted node whose KME serves this SAE (here: campus-a, campus-b, exchange)",
    );
    expect(at(problems, "key_service.pool_bits").message).toBe("2048.5 is not an integer ≥ 1024");
  });

  it("refuses the default SAEs when the topology has no end node to give them to", () => {
    const text = `${HEADER}nodes:\n  - { id: t1, type: trusted }\n  - { id: t2, type: trusted }\nkey_service: {}\n`;
    expect(at(topologyProblems(text), "key_service")).toMatchObject({
      line: lineOf(text, "key_service"),
      message:
        "without 'saes', the key service serves one SAE app-<node> per end node, and this topology has no end node; list the SAEs under 'saes:'",
    });
    expect(
      parseTopology(text.replace("{}", "{ saes: [{ id: app-t1, site: t1 }] }"), "t.yaml").keyService,
    ).toEqual({ saes: [{ id: "app-t1", site: "t1", policy: "hybrid" }] });
  });

  it("suggests field names inside and around the section", () => {
    const problems = topologyProblems(`${SITES}keyService: {}\nsaes: []\nkey_service:
  poolBits: 2048
  apps: []
  saes:
    - { id: a1, site: campus-a, quota: 5, node: campus-a, keysPerMinute: 5 }
`);
    expect(at(problems, "keyService").message).toBe("unknown field; did you mean 'key_service'?");
    expect(at(problems, "saes").message).toBe(
      "unknown field; did you mean key_service.saes (SAEs go under 'key_service:')?",
    );
    expect(at(problems, "key_service.poolBits").message).toBe("unknown field; did you mean 'pool_bits'?");
    expect(at(problems, "key_service.apps").message).toBe("unknown field; did you mean 'saes'?");
    expect(at(problems, "key_service.saes[0].quota").message).toBe(
      "unknown field; did you mean keys_per_minute or bits_per_day?",
    );
    expect(at(problems, "key_service.saes[0].node").message).toBe("unknown field; did you mean 'site'?");
    expect(at(problems, "key_service.saes[0].keysPerMinute").message).toBe(
      "unknown field; did you mean 'keys_per_minute'?",
    );
  });

  it("is reported together with problems elsewhere in the file", () => {
    const text = `${SITES.replace("type: trusted", "type: trustd")}key_service:
  saes: [{ id: app-a, site: campus-a, policy: hybird }]
`;
    const problems = topologyProblems(text);
    expect(at(problems, "nodes[3].type").message).toContain("did you mean 'trusted'?");
    expect(at(problems, "key_service.saes[0].policy").message).toBe(
      "'hybird' is not one of qkd-only, hybrid, pqc-allowed; did you mean 'hybrid'?",
    );
  });
});
