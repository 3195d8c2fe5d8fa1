import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Ajv2020, type ValidateFunction } from "ajv/dist/2020.js";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import type { PhysicalLinkSpec, Topology } from "../../src/network/topology.js";
import {
  parseRequests,
  parseTopology,
  TOPOLOGY_FILE_FIELDS,
  TopologyError,
} from "../../src/network/topology-loader.js";

/**
 * The published artifacts of the topology format agree with the loader: every example validates
 * against schema/topology.schema.json and loads without problems; broken documents are refused by
 * both; the schema, the reference (docs/topology-format.md) and the loader name the same fields.
 */
const ROOT = join(import.meta.dirname, "..", "..");
const EXAMPLES = join(ROOT, "examples");
const schema = JSON.parse(readFileSync(join(ROOT, "schema", "topology.schema.json"), "utf8"));

// Ajv's default strict mode refuses unknown keywords; strictTypes also refuses constraints without a type,
// so the schema stays clean. (strictRequired stays off: `not: {required: [...]}` is the point there.)
const ajv = new Ajv2020({ allErrors: true, strictTypes: true, allowUnionTypes: true });
ajv.addSchema(schema, "topology");
const validateTopology = ajv.getSchema("topology") as ValidateFunction;
const validateRequestsFile = ajv.getSchema("topology#/$defs/requestsFile") as ValidateFunction;

const exampleFiles = readdirSync(EXAMPLES)
  .filter((f) => f.endsWith(".yaml"))
  .sort();
const isRequestsFile = (f: string) => f.endsWith("-requests.yaml");
const read = (f: string) => readFileSync(join(EXAMPLES, f), "utf8");
/** The document as plain data, as a schema validator (or an editor) sees it after YAML merge keys. */
const data = (text: string) => parse(text, { merge: true });

function load(file: string): Topology {
  return parseTopology(read(file), file);
}

function schemaErrors(validate: ValidateFunction, value: unknown): string {
  return validate(value) ? "" : ajv.errorsText(validate.errors);
}

describe("examples/", () => {
  it("has the examples the format promises", () => {
    for (const f of [
      "point-to-point.yaml",
      "repeater-chain.yaml",
      "trusted-star.yaml",
      "metro.yaml",
      "metro-requests.yaml",
      "pompili-2021.yaml",
    ])
      expect(exampleFiles).toContain(f);
    expect(load("metro.yaml").nodes.length).toBeGreaterThanOrEqual(6);
  });

  describe.each(exampleFiles.filter((f) => !isRequestsFile(f)))("%s", (file) => {
    it("validates against the JSON Schema", () => {
      expect(schemaErrors(validateTopology, data(read(file)))).toBe("");
    });

    it("loads with parseTopology without problems, with requests to run", () => {
      const t = load(file);
      expect(t.name).toBe(file.replace(/\.yaml$/, ""));
      expect(t.requests.length).toBeGreaterThan(0);
    });

    it("starts with the schema association for editors and says how to run it", () => {
      const text = read(file);
      expect(text.startsWith("# yaml-language-server: $schema=../schema/topology.schema.json\n")).toBe(true);
      expect(text).toContain(`qnet simulate examples/${file} --until 1s`);
    });
  });

  describe.each(exampleFiles.filter(isRequestsFile))("%s", (file) => {
    const topologyFile = file.replace(/-requests\.yaml$/, ".yaml");

    it("validates against the requests-file part of the JSON Schema", () => {
      expect(schemaErrors(validateRequestsFile, data(read(file)))).toBe("");
    });

    it(`loads with parseRequests against ${topologyFile} without problems`, () => {
      expect(parseRequests(read(file), file, load(topologyFile)).length).toBeGreaterThan(0);
    });
  });

  it("are all listed in examples/README.md with how to run them", () => {
    const readme = readFileSync(join(EXAMPLES, "README.md"), "utf8");
    for (const f of exampleFiles) expect(readme).toContain(`(${f})`);
    for (const f of exampleFiles.filter((f) => !isRequestsFile(f)))
      expect(readme).toContain(`qnet simulate examples/${f} --until 1s`);
  });
});

describe("the example numbers match the closed forms they quote (shared/reference/physics.md)", () => {
  /** Arm transmission to the midpoint station: memory efficiency × detector efficiency × fiber. */
  function armTransmission(t: Topology, linkIndex: number): number {
    const link = t.links[linkIndex];
    const q = link.quantum as PhysicalLinkSpec;
    const efficiency = t.nodes.find((n) => n.id === link.a)!.memory.efficiency;
    return efficiency * q.detectorEfficiency * 10 ** ((-q.attenuationDbPerKm * (q.lengthKm / 2)) / 10);
  }
  const wernerParameter = (f: number) => (4 * f - 1) / 3;
  const fidelityOf = (w: number) => (1 + 3 * w) / 4;

  it("point-to-point: 10 km, double click → η = 0.71490, P = η²/2 = 0.25554, attempt 48.97 µs", () => {
    const t = load("point-to-point.yaml");
    const eta = armTransmission(t, 0);
    expect(eta).toBeCloseTo(0.7149, 4);
    expect((eta * eta) / 2).toBeCloseTo(0.25554, 4);
    // The default classical latency is the light travel time L·n_g/c, the attempt time of the table.
    expect(t.links[0].classical.latencyNs / 1000).toBeCloseTo(48.97, 2);
  });

  it("pompili-2021: single click with P ~ 1e-4..1e-3 per attempt at hundreds of kHz, link F ≈ 0.8", () => {
    const t = load("pompili-2021.yaml");
    expect(t.nodes.map((n) => `${n.id}:${n.type}`)).toEqual(["alice:end", "bob:repeater", "charlie:end"]);
    const bob = t.nodes[1];
    expect(bob.memory.qubits).toBe(2);
    expect(bob.memory.t2Ns).toBeGreaterThanOrEqual(10e6); // tens of ms
    expect(bob.memory.t2Ns).toBeLessThanOrEqual(100e6);
    for (let i = 0; i < t.links.length; i++) {
      const q = t.links[i].quantum as PhysicalLinkSpec;
      expect(q.kind).toBe("physical");
      expect(q.heralding).toBe("single-click");
      expect(q.lengthKm).toBeLessThanOrEqual(0.05);
      expect(q.sourceRateHz).toBeGreaterThanOrEqual(1e5);
      const eta = armTransmission(t, i);
      const a = q.brightStatePopulation;
      const p = 2 * a * (1 - a) * eta + a * a * (2 * eta - eta * eta);
      expect(p).toBeGreaterThan(1e-4);
      expect(p).toBeLessThan(1e-3);
      const heralded = (1 - a) / (1 - (a * eta) / 2);
      const f = fidelityOf(wernerParameter(heralded) * wernerParameter(q.sourceFidelity));
      expect(f).toBeGreaterThan(0.75);
      expect(f).toBeLessThan(0.9);
    }
    expect(t.requests[0]).toMatchObject({ src: "alice", dst: "charlie", path: ["alice", "bob", "charlie"] });
  });
});

describe("broken documents are refused by both the schema and the loader", () => {
  const valid = {
    apiVersion: "qnet/v1",
    nodes: [
      { id: "a", type: "end", memory: { qubits: 1, t1: "1 s", t2: "1 s" } },
      { id: "r", type: "repeater", memory: { qubits: 2 } },
      { id: "b", type: "end" },
    ],
    links: [
      { a: "a", b: "r", length_km: 10, heralding: "double-click" },
      { a: "r", b: "b", success_probability: 0.1, attempt_duration: "10 us" },
    ],
    requests: [{ src: "a", dst: "b", pairs: 10, path: ["a", "r", "b"] }],
    key_service: {
      pool_bits: 4096,
      saes: [
        { id: "app-a", site: "a", policy: "qkd-only", keys_per_minute: 60 },
        { id: "app-b", site: "b", bits_per_day: 1e9 },
      ] as Record<string, unknown>[],
    },
  };
  type Doc = typeof valid & Record<string, unknown>;
  const broken: [string, (d: Doc) => void][] = [
    ["apiVersion missing", (d) => Reflect.deleteProperty(d, "apiVersion")],
    ["another apiVersion", (d) => Object.assign(d, { apiVersion: "qnet/v2" })],
    ["a misspelt field", (d) => Object.assign(d.links[0], { lenght_km: 3 })],
    ["an unknown heralding scheme", (d) => Object.assign(d.links[0], { heralding: "triple-click" })],
    ["a negative length", (d) => Object.assign(d.links[0], { length_km: "-3 km" })],
    ["an unknown unit", (d) => Object.assign(d.links[1], { attempt_duration: "5 parsecs" })],
    ["a probability above 1", (d) => Object.assign(d.links[1], { success_probability: 1.5 })],
    ["physical and abstract fields mixed", (d) => Object.assign(d.links[1], { heralding: "single-click" })],
    ["a physical link without heralding", (d) => Reflect.deleteProperty(d.links[0], "heralding")],
    [
      "bright-state population on double click",
      (d) => Object.assign(d.links[0], { bright_state_population: 0.1 }),
    ],
    ["t1 with depolarizing_time", (d) => Object.assign(d.nodes[0].memory!, { depolarizing_time: "1 s" })],
    ["a fractional qubit count", (d) => Object.assign(d.nodes[0].memory!, { qubits: 1.5 })],
    ["a repeater with one qubit", (d) => Object.assign(d.nodes[1].memory!, { qubits: 1 })],
    ["an unknown node type", (d) => Object.assign(d.nodes[2], { type: "router" })],
    ["a node without type", (d) => Reflect.deleteProperty(d.nodes[2], "type")],
    ["pairs and rate", (d) => Object.assign(d.requests[0], { rate: "1 kHz" })],
    ["an invalid id", (d) => Object.assign(d.nodes[2], { id: "b b" })],
    ["an unknown swap policy", (d) => Object.assign(d, { swap: "eager" })],
    ["an empty SAE list", (d) => Object.assign(d.key_service, { saes: [] })],
    ["pool_bits below 1024", (d) => Object.assign(d.key_service, { pool_bits: 512 })],
    ["an unknown SAE policy", (d) => Object.assign(d.key_service.saes[0], { policy: "pqc-only" })],
    ["an SAE without a site", (d) => Reflect.deleteProperty(d.key_service.saes[1], "site")],
    ["a zero key quota", (d) => Object.assign(d.key_service.saes[0], { keys_per_minute: 0 })],
    ["a misspelt SAE field", (d) => Object.assign(d.key_service.saes[1], { keys_per_min: 10 })],
  ];

  it.each(broken)("%s", (_, breakIt) => {
    const doc = structuredClone(valid) as Doc;
    expect(validateTopology(structuredClone(valid))).toBe(true);
    expect(() => parseTopology(JSON.stringify(valid), "ok.json")).not.toThrow();
    breakIt(doc);
    expect(validateTopology(doc)).toBe(false);
    expect(() => parseTopology(JSON.stringify(doc, null, 2), "broken.json")).toThrow(TopologyError);
  });

  it("a requests file with an unknown field", () => {
    const text = "requests:\n  - { src: a, dst: b, colour: red }\n";
    expect(validateRequestsFile(data(text))).toBe(false);
    const t = parseTopology(JSON.stringify(valid), "ok.json");
    expect(() => parseRequests(text, "w.yaml", t)).toThrow(TopologyError);
  });
});

describe("the schema, the reference and the loader agree", () => {
  const sections: Record<keyof typeof TOPOLOGY_FILE_FIELDS, Record<string, unknown>> = {
    topology: schema.properties,
    node: schema.$defs.node.properties,
    memory: schema.$defs.memory.properties,
    link: schema.$defs.link.properties,
    outage: schema.$defs.outage.properties,
    purification: schema.$defs.purification.properties,
    request: schema.$defs.request.properties,
    application: schema.$defs.application.properties,
    keyService: schema.$defs.keyService.properties,
    sae: schema.$defs.sae.properties,
    requestsFile: schema.$defs.requestsFile.oneOf[1].properties,
  };

  it.each(Object.keys(sections) as (keyof typeof sections)[])(
    "the %s fields are the same in schema and loader",
    (s) => {
      expect(Object.keys(sections[s]).sort()).toEqual([...TOPOLOGY_FILE_FIELDS[s]].sort());
    },
  );

  it("every property in the schema has a description (its own or its definition's)", () => {
    const missing: string[] = [];
    let checked = 0;
    const described = (s: { description?: string; $ref?: string }): boolean => {
      if (typeof s.description === "string" && s.description.length > 0) return true;
      const ref = s.$ref?.replace(/^#\/\$defs\//, "");
      return ref !== undefined && typeof schema.$defs[ref]?.description === "string";
    };
    const walk = (node: unknown, where: string): void => {
      if (node === null || typeof node !== "object") return;
      const obj = node as Record<string, unknown>;
      if (
        obj.properties &&
        typeof obj.properties === "object" &&
        !where.includes("/if") &&
        !where.includes("/then")
      ) {
        for (const [name, sub] of Object.entries(obj.properties as Record<string, object>))
          if (++checked && !described(sub) && !where.includes("/allOf") && !where.includes("/not"))
            missing.push(`${where}/${name}`);
      }
      for (const [k, v] of Object.entries(obj)) walk(v, `${where}/${k}`);
    };
    walk(schema, "#");
    expect(checked).toBeGreaterThan(40);
    expect(missing).toEqual([]);
  });

  it("docs/topology-format.md documents every field", () => {
    const doc = readFileSync(join(ROOT, "docs", "topology-format.md"), "utf8");
    const fields = new Set(Object.values(TOPOLOGY_FILE_FIELDS).flat());
    expect([...fields].filter((f) => !doc.includes(`\`${f}\``))).toEqual([]);
  });

  it("the short example in docs/topology-format.md loads", () => {
    const doc = readFileSync(join(ROOT, "docs", "topology-format.md"), "utf8");
    const example = /## A short complete example\s+```yaml\n([\s\S]*?)```/.exec(doc)?.[1];
    expect(example).toBeDefined();
    expect(schemaErrors(validateTopology, data(example!))).toBe("");
    expect(parseTopology(example!, "two-hops.yaml").links.map((l) => l.id)).toEqual([
      "alice-relay",
      "relay-bob",
    ]);
  });

  it("the key-service examples in docs/topology-format.md load into metro.yaml and report as shown", () => {
    const doc = readFileSync(join(ROOT, "docs", "topology-format.md"), "utf8");
    const m =
      /## Key service[\s\S]*?```yaml\n([\s\S]*?)```[\s\S]*?```yaml\n([\s\S]*?)```[\s\S]*?```text\n([\s\S]*?)```/.exec(
        doc,
      );
    expect(m).not.toBeNull();
    const metro = `${read("metro.yaml").replace(/\nkey_service:[\s\S]*$/, "\n")}${m![1]}`;
    expect(schemaErrors(validateTopology, data(metro))).toBe("");
    expect(
      parseTopology(metro, "metro.yaml").keyService?.saes?.map((s) => `${s.id}@${s.site}:${s.policy}`),
    ).toEqual([
      "app-campus-a@campus-a:hybrid",
      "app-hospital@hospital:qkd-only",
      "app-datacentre@datacentre:pqc-allowed",
      "ops-exchange@exchange:qkd-only",
    ]);
    expect(() => parseTopology(m![2], "net.yaml")).toThrow(m![3].trimEnd());
  });

  it("the error example in docs/topology-format.md is what the loader reports", () => {
    const doc = readFileSync(join(ROOT, "docs", "topology-format.md"), "utf8");
    const m = /## Errors[\s\S]*?```yaml\n([\s\S]*?)```[\s\S]*?```text\n([\s\S]*?)```/.exec(doc);
    expect(m).not.toBeNull();
    expect(() => parseTopology(m![1], "net.yaml")).toThrow(m![2].trimEnd());
  });
});
