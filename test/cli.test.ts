import { describe, expect, it } from "vitest";
import { runCli } from "./support/cli.js";

const run = runCli;

describe("qnet CLI", () => {
  it("prints its version from package.json", async () => {
    const r = await run("--version");
    expect(r.code).toBe(0);
    expect(r.out.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });
  it("prints help listing the demo command", async () => {
    const r = await run("--help");
    expect(r.code).toBe(0);
    expect(r.out).toContain("Usage: qnet");
    expect(r.out).toContain("demo");
  });
  it("runs the demo as JSON, deterministically for a seed", async () => {
    const a = await run("demo", "--seed", "5", "--until", "0.2", "--format", "json");
    const b = await run("demo", "--seed", "5", "--until", "0.2", "--format", "json");
    expect(a.code).toBe(0);
    expect(a.out).toBe(b.out);
    const doc = JSON.parse(a.out);
    expect(doc.simulated_time_s).toBe(0.2);
    expect(doc.delivered).toBeGreaterThan(100);
  });
  it("prints a table by default", async () => {
    const r = await run("demo", "--until", "0.05");
    expect(r.code).toBe(0);
    expect(r.out).toContain("pairs delivered A–B");
  });
  it("rejects bad flags with exit code 2 and a message saying what to change", async () => {
    for (const [args, msg] of [
      [["demo", "--until", "-1"], /positive number of seconds/],
      [["demo", "--seed", "x"], /non-negative integer seed/],
      [["demo", "--format", "xml"], /Allowed choices are table, json/],
      [["frobnicate"], /unknown command 'frobnicate'/],
    ] as const) {
      const r = await run(...args);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(msg);
    }
  });
});
