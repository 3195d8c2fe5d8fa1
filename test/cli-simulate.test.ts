import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runCli } from "./support/cli.js";

const EXAMPLES = join(import.meta.dirname, "..", "examples");

const run = runCli;

describe("qnet simulate", () => {
  it("prints one JSON document with the documented fields, times in seconds", async () => {
    const r = await run(
      "simulate",
      join(EXAMPLES, "repeater-chain.yaml"),
      "--until",
      "200 ms",
      "--format",
      "json",
    );
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.out);
    expect(doc.simulated_time_s).toBeCloseTo(0.2, 12);
    expect(doc.events).toBeGreaterThan(0);
    expect(doc.wall_time_s).toBeGreaterThan(0);
    for (const l of doc.links) {
      for (const k of ["id", "attempts", "successes", "success_rate", "pairs_per_s"])
        expect(l).toHaveProperty(k);
      for (const k of ["mean", "p05", "p50", "histogram"]) expect(l.fidelity).toHaveProperty(k);
    }
    const q = doc.requests[0];
    for (const k of ["id", "src", "dst", "delivered"]) expect(q).toHaveProperty(k);
    for (const k of ["mean", "p05", "p50", "histogram"]) expect(q.fidelity).toHaveProperty(k);
    for (const k of ["mean", "p50", "p99"]) expect(q.latency_s).toHaveProperty(k);
    expect(doc.memory).toHaveProperty("occupancy_mean");
    expect(doc.memory).toHaveProperty("decohered_discarded");
    expect(q.delivered).toBeGreaterThan(0);
  });

  it("is deterministic for a seed", async () => {
    const args = [
      "simulate",
      join(EXAMPLES, "metro.yaml"),
      "--until",
      "50ms",
      "--seed",
      "3",
      "--format",
      "json",
    ];
    const a = JSON.parse((await run(...args)).out);
    const b = JSON.parse((await run(...args)).out);
    delete a.wall_time_s;
    delete b.wall_time_s;
    expect(a).toEqual(b);
  });

  it("takes requests from a separate file and writes CSV to --out", async () => {
    const dir = mkdtempSync(join(tmpdir(), "qnet-"));
    const out = join(dir, "report.csv");
    const r = await run(
      "simulate",
      join(EXAMPLES, "metro.yaml"),
      "--requests",
      join(EXAMPLES, "metro-requests.yaml"),
      "--until",
      "20ms",
      "--format",
      "csv",
      "--out",
      out,
    );
    expect(r.code).toBe(0);
    expect(r.out).toBe("");
    const lines = readFileSync(out, "utf8").trim().split("\n");
    expect(lines[0].split(",").slice(0, 4)).toEqual(["kind", "id", "src", "dst"]);
    expect(lines.filter((l) => l.startsWith("request,")).length).toBe(3);
    expect(lines.filter((l) => l.startsWith("link,")).length).toBeGreaterThan(5);
  });

  it("--timeline bins each link's attempts: an outage shows as a collapse to zero, then recovery", async () => {
    const args = ["simulate", join(EXAMPLES, "link-outages.yaml"), "--until", "1s", "--timeline", "100ms"];
    const r = await run(...args, "--format", "json");
    expect(r.code).toBe(0);
    const report = JSON.parse(r.out);
    const cut = report.links.find((l: { id: string }) => l.id === "relay-bob");
    expect(cut.outages).toBe(1);
    expect(cut.downtime_s).toBeCloseTo(0.2, 9);
    const rates = cut.timeline.map((b: { success_rate: number }) => b.success_rate);
    expect(rates).toHaveLength(10);
    expect(rates[4]).toBe(0);
    expect(rates[5]).toBe(0);
    for (const i of [0, 1, 2, 3, 7, 8, 9]) expect(rates[i]).toBeGreaterThan(0.1);
    expect(report.memory.nodes.map((n: { id: string }) => n.id)).toEqual(["alice", "relay", "bob"]);
    const csv = (await run(...args, "--format", "csv")).out.trim().split("\n");
    expect(csv.filter((l) => l.startsWith("timeline,relay-bob,")).length).toBe(10);
    expect(csv.filter((l) => l.startsWith("node,")).length).toBe(3);
    const table = (await run(...args)).out;
    expect(table).toContain("Timeline of link relay-bob");
    expect(table).toContain("down (s)");
  });

  it("rejects a timeline with too many bins, saying what to use", async () => {
    const r = await run(
      "simulate",
      join(EXAMPLES, "link-outages.yaml"),
      "--until",
      "1s",
      "--timeline",
      "1ns",
    );
    expect(r.code).toBe(2);
    expect(r.err).toContain("use bins of at least");
  });

  it("prints a readable table by default", async () => {
    const r = await run("simulate", join(EXAMPLES, "point-to-point.yaml"), "--until", "10ms");
    expect(r.code).toBe(0);
    expect(r.out).toContain("Links");
    expect(r.out).toContain("Requests");
    expect(r.out).toContain("Memory: mean occupancy");
  });

  it("reports a broken topology with file, line and field, exit code 1, no stack trace", async () => {
    const dir = mkdtempSync(join(tmpdir(), "qnet-"));
    const file = join(dir, "bad.yaml");
    writeFileSync(
      file,
      "apiVersion: qnet/v1\nnodes:\n  - { id: a, type: end }\n  - { id: b, type: teleporter }\nlinks:\n  - { a: a, b: b, length_km: -3, heralding: double-click }\n",
    );
    const r = await run("simulate", file);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/bad\.yaml:4:\d+: nodes\[1\]\.type/);
    expect(r.err).toMatch(/bad\.yaml:6:\d+: links\[0\]\.length_km/);
    expect(r.err).not.toMatch(/\n\s+at /);
  });

  it("rejects missing files (1), bad durations (2) and impossible plans (1) with a clear message", async () => {
    const missing = await run("simulate", "no-such-file.yaml");
    expect(missing.code).toBe(1);
    expect(missing.err).toContain("cannot read topology file 'no-such-file.yaml': no such file");
    const until = await run("simulate", join(EXAMPLES, "metro.yaml"), "--until", "5 parsecs");
    expect(until.code).toBe(2);
    expect(until.err).toMatch(/--until: unknown unit 'parsecs'.*accepted units: ns, us/);
    const dir = mkdtempSync(join(tmpdir(), "qnet-"));
    const file = join(dir, "small.yaml");
    writeFileSync(
      file,
      [
        "apiVersion: qnet/v1",
        "nodes:",
        "  - { id: a, type: end, memory: { qubits: 1 } }",
        "  - { id: c, type: end, memory: { qubits: 1 } }",
        "  - { id: r, type: repeater, memory: { qubits: 2 } }",
        "  - { id: b, type: end, memory: { qubits: 2 } }",
        "links:",
        "  - { a: a, b: r, success_probability: 0.5, attempt_duration: 1 us }",
        "  - { a: c, b: r, success_probability: 0.5, attempt_duration: 1 us }",
        "  - { a: r, b: b, success_probability: 0.5, attempt_duration: 1 us }",
        "requests:",
        "  - { id: ab, src: a, dst: b }",
        "  - { id: cb, src: c, dst: b }",
      ].join("\n"),
    );
    const plan = await run("simulate", file, "--until", "1ms");
    expect(plan.code).toBe(1);
    expect(plan.err).toMatch(/node r has 2 memory qubit\(s\).*need at least 4.*raise its memory\.qubits/);
  });
});
