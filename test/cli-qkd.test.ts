import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runCli } from "./support/cli.js";

describe("qnet qkd", () => {
  it("runs a link end to end and reports every block as JSON, without key material", async () => {
    const r = await runCli(
      "qkd",
      "--length-km",
      "5",
      "--block-bits",
      "300000",
      "--blocks",
      "2",
      "--format",
      "json",
    );
    expect(r.code).toBe(0);
    const report = JSON.parse(r.out);
    expect(report.blocks).toHaveLength(2);
    expect(report.summary.blocks).toBe(2);
    expect(report.summary.parameterSet.fingerprint).toMatch(/^[0-9a-f]{16}$/);
    expect(report.parameters.blockBits).toBe(300000);
    for (const b of report.blocks) {
      expect(b.status).toBe("delivered");
      expect(b.aliceKey).toBeUndefined();
      expect(b.bobKey).toBeUndefined();
      expect(b.deliveredBits).toBeGreaterThan(0);
    }
    expect(report.summary.deliveredBits).toBe(
      report.blocks[0].deliveredBits + report.blocks[1].deliveredBits,
    );
  });

  it("prints a table, runs for a simulated time and writes to --out", async () => {
    const dir = mkdtempSync(join(tmpdir(), "qnet-qkd-"));
    const out = join(dir, "qkd.txt");
    const r = await runCli(
      "qkd",
      "--length-km",
      "5",
      "--block-bits",
      "200000",
      "--until",
      "100ms",
      "--out",
      out,
    );
    expect(r.code).toBe(0);
    expect(r.out).toBe("");
    const text = readFileSync(out, "utf8");
    expect(text).toContain("qnet qkd: decoy-state BB84 over 5 km");
    expect(text).toMatch(/delivered \d+ secret bits in \d+ of \d+ blocks/);
  });

  it("rejects bad flags with exit code 2 and names them", async () => {
    for (const [args, re] of [
      [["--length-km", "-3"], /--length-km: expected a fiber length ≥ 0 km/],
      [["--length-km", "5", "--block-bits", "10"], /--block-bits: expected an integer ≥ 1000/],
      [["--length-km", "5", "--misalignment", "0.9"], /--misalignment: expected an error probability/],
      [["--length-km", "5", "--blocks", "2", "--until", "1s"], /either --blocks .* or --until/],
      [["--length-km", "5", "--until", "3 fortnights"], /--until: unknown unit/],
      [[], /required option '--length-km <km>' not specified/],
    ] as const) {
      const r = await runCli("qkd", ...args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.err).toMatch(re);
      expect(r.err).not.toMatch(/\n\s+at /);
    }
  });

  it("an unwritable --out is exit code 1", async () => {
    const r = await runCli(
      "qkd",
      "--length-km",
      "5",
      "--block-bits",
      "1000",
      "--blocks",
      "1",
      "--out",
      "/nonexistent/x",
    );
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/--out: cannot write '\/nonexistent\/x'/);
  });
});
