import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  computeKeyrateCurves,
  KeyrateUsageError,
  parseDistanceSpec,
  parseKeyrateOptions,
  parseModels,
  renderKeyRatePlot,
  runKeyrateCommand,
} from "../src/cli/keyrate.js";
import { escapeXml, renderSvgPlot } from "../src/cli/svg-plot.js";
import { runCli } from "./support/cli.js";

const tmp = () => mkdtempSync(join(tmpdir(), "qnet-keyrate-"));

/** Checks that every tag opened in `svg` is closed in order (enough to catch broken markup). */
function tagsBalanced(svg: string): boolean {
  const stack: string[] = [];
  for (const m of svg.matchAll(/<(\/?)([a-zA-Z][\w:-]*)[^>]*?(\/?)>/g)) {
    const [, close, name, selfClose] = m;
    if (selfClose) continue;
    if (close) {
      if (stack.pop() !== name) return false;
    } else stack.push(name);
  }
  return stack.length === 0;
}

describe("distance specification", () => {
  it("parses inclusive ranges, lists, single values and mixtures", () => {
    expect(parseDistanceSpec("0:150:10")).toEqual([
      0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120, 130, 140, 150,
    ]);
    expect(parseDistanceSpec("0:1:0.1")).toEqual([0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1]);
    expect(parseDistanceSpec("0:25:10")).toEqual([0, 10, 20]);
    expect(parseDistanceSpec("5:5:1")).toEqual([5]);
    expect(parseDistanceSpec("0,25,50")).toEqual([0, 25, 50]);
    expect(parseDistanceSpec(" 0, 25 ,1e2")).toEqual([0, 25, 100]);
    expect(parseDistanceSpec("42")).toEqual([42]);
    expect(parseDistanceSpec("0:20:10,100")).toEqual([0, 10, 20, 100]);
  });

  it("rejects bad specifications naming the flag", () => {
    const bad: [string, RegExp][] = [
      ["0:150:0", /step must be > 0/],
      ["0:150:-10", /step must be > 0/],
      ["-5", /distances must be ≥ 0 km/],
      ["-10:50:10", /distances must be ≥ 0 km/],
      ["50:0:10", /stop must not be below the start/],
      ["abc", /expected a distance in km/],
      ["0x10", /expected a distance in km/],
      ["0:50", /start:stop:step \(three numbers\)/],
      ["0,,50", /expected start:stop:step, a list/],
      ["", /expected start:stop:step/],
      ["0:1e6:1", /more than 10000 distances/],
    ];
    for (const [spec, re] of bad) {
      expect(() => parseDistanceSpec(spec), spec).toThrow(KeyrateUsageError);
      expect(() => parseDistanceSpec(spec), spec).toThrow(re);
      expect(() => parseDistanceSpec(spec), spec).toThrow(/^--distance-km: /);
    }
  });

  it("parses models repeated and comma-separated, dropping duplicates", () => {
    expect(parseModels(undefined)).toEqual(["infinite-decoy"]);
    expect(parseModels("plob")).toEqual(["plob"]);
    expect(parseModels(["infinite-decoy,vacuum-weak", "plob", "vacuum-weak"])).toEqual([
      "infinite-decoy",
      "vacuum-weak",
      "plob",
    ]);
    expect(() => parseModels(["infinite-decoy,bogus"])).toThrow(/--model: unknown model 'bogus'/);
  });
});

describe("qnet keyrate", () => {
  it("prints a table by default: GYS parameters, optimal μ, 0–150 km, the cutoff", async () => {
    const r = await runCli("keyrate");
    expect(r.code).toBe(0);
    expect(r.err).toBe("");
    expect(r.out).toContain("α = 0.21 dB/km, η_Bob = 0.045");
    expect(r.out).toMatch(/model\s+distance \(km\)\s+mu\s+QBER\s+e1\s+key rate \(bits\/pulse\)/);
    const rows = r.out.split("\n").filter((l) => l.startsWith("infinite-decoy "));
    expect(rows.length).toBe(16);
    expect(r.out).toMatch(/infinite-decoy: key rate reaches 0 at 142\.\d\d km \(μ optimized per distance\)/);
  });

  it("prints JSON rows with the documented fields; μ = 0.48 reproduces Lo–Ma–Chen", async () => {
    const r = await runCli("keyrate", "--mu", "0.48", "--distance-km", "0:120:20", "--format", "json");
    expect(r.code).toBe(0);
    const rows = JSON.parse(r.out);
    expect(Array.isArray(rows)).toBe(true);
    expect(rows.length).toBe(7);
    for (const row of rows)
      for (const k of ["model", "distance_km", "key_rate_per_pulse", "qber", "mu", "cutoff_km"])
        expect(row).toHaveProperty(k);
    expect(rows[0].model).toBe("infinite-decoy");
    expect(rows[0].mu).toBe(0.48);
    // physics.md, "Decoy-state BB84": L = 0 → 2.5546e-3, 120 km → 4.8145e-6.
    expect(Math.abs(rows[0].key_rate_per_pulse / 2.5546e-3 - 1)).toBeLessThan(1e-4);
    expect(Math.abs(rows[6].key_rate_per_pulse / 4.8145e-6 - 1)).toBeLessThan(1e-4);
  });

  it("computes several models in one run, repeated or comma-separated, with a model field per row", async () => {
    const r = await runCli(
      "keyrate",
      "--model",
      "infinite-decoy,vacuum-weak",
      "--model",
      "no-decoy",
      "--model",
      "plob",
      "--distance-km",
      "10,50",
      "--format",
      "json",
    );
    expect(r.code).toBe(0);
    const rows = JSON.parse(r.out) as { model: string; distance_km: number; key_rate_per_pulse: number }[];
    expect(rows.map((x) => `${x.model}@${x.distance_km}`)).toEqual([
      "infinite-decoy@10",
      "infinite-decoy@50",
      "vacuum-weak@10",
      "vacuum-weak@50",
      "no-decoy@10",
      "no-decoy@50",
      "plob@10",
      "plob@50",
    ]);
    const at = (m: string, L: number) =>
      rows.find((x) => x.model === m && x.distance_km === L)!.key_rate_per_pulse;
    expect(at("vacuum-weak", 50)).toBeLessThan(at("infinite-decoy", 50));
    expect(at("no-decoy", 50)).toBe(0);
    expect(at("plob", 50)).toBeCloseTo(0.1347, 4);
  });

  it("writes CSV to --out and leaves standard output empty", async () => {
    const file = join(tmp(), "rates.csv");
    const r = await runCli(
      "keyrate",
      "--distance-km",
      "0:100:50",
      "--format",
      "csv",
      "--out",
      file,
      "--nu",
      "0.05",
      "--model",
      "vacuum-weak",
    );
    expect(r.code).toBe(0);
    expect(r.out).toBe("");
    const lines = readFileSync(file, "utf8").trim().split("\n");
    expect(lines[0]).toBe(
      "model,distance_km,mu,nu,qber,gain,single_photon_yield,single_photon_error,transmittance,key_rate_per_pulse,stderr,cutoff_km",
    );
    expect(lines.length).toBe(4);
    expect(lines[1].startsWith("vacuum-weak,0,")).toBe(true);
    expect(lines[1].split(",")[3]).toBe("0.05");
  });

  it("passes the physical flags to the model", async () => {
    const base = JSON.parse(
      (await runCli("keyrate", "--distance-km", "50", "--format", "json", "--mu", "0.5")).out,
    )[0];
    const better = JSON.parse(
      (
        await runCli(
          "keyrate",
          "--distance-km",
          "50",
          "--format",
          "json",
          "--mu",
          "0.5",
          "--eta-detector",
          "0.1",
          "--attenuation-db-per-km",
          "0.2",
        )
      ).out,
    )[0];
    expect(better.key_rate_per_pulse).toBeGreaterThan(base.key_rate_per_pulse);
    expect(better.transmittance).toBeCloseTo(0.1 * 0.1, 15);
    const noisy = JSON.parse(
      (
        await runCli(
          "keyrate",
          "--distance-km",
          "50",
          "--format",
          "json",
          "--mu",
          "0.5",
          "--y0",
          "1e-5",
          "--misalignment",
          "0.05",
          "--ec-efficiency",
          "1.5",
        )
      ).out,
    )[0];
    expect(noisy.key_rate_per_pulse).toBeLessThan(base.key_rate_per_pulse);
  });

  it("draws an SVG plot with a path per curve, axis labels, ticks and a legend", async () => {
    const file = join(tmp(), "rates.svg");
    const r = await runCli(
      "keyrate",
      "--model",
      "infinite-decoy,vacuum-weak,no-decoy,plob",
      "--plot",
      file,
      "--format",
      "json",
    );
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out).length).toBe(64);
    const svg = readFileSync(file, "utf8");
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg.trimEnd().endsWith("</svg>")).toBe(true);
    expect(tagsBalanced(svg)).toBe(true);
    expect(svg.match(/<path class="series-line"/g)?.length).toBe(4);
    expect(svg).toContain("Distance (km)");
    expect(svg).toContain("Secret key rate (bits per pulse)");
    expect(svg).toContain("10⁻³"); // log-scale decade ticks
    expect(svg).toContain('<g class="legend">');
    for (const label of [
      "infinite decoys (Lo–Ma–Chen)",
      "vacuum + weak decoy",
      "no decoy (GLLP)",
      "PLOB bound",
    ])
      expect(svg).toContain(label);
  });

  it("overlays simulated points with error bars as markers", () => {
    const curves = computeKeyrateCurves(parseKeyrateOptions({ distanceKm: "0:100:25" }));
    const svg = renderKeyRatePlot(curves, [
      {
        label: "simulated <run 1>",
        points: [
          { distance_km: 25, key_rate_per_pulse: 7e-4, key_rate_low: 5e-4, key_rate_high: 9e-4 },
          { distance_km: 75, key_rate_per_pulse: 6e-5 },
          { distance_km: 90, key_rate_per_pulse: 0 }, // not drawable on a log axis: skipped
        ],
      },
    ]);
    expect(tagsBalanced(svg)).toBe(true);
    expect(svg.match(/<circle class="marker"/g)?.length).toBe(2);
    expect(svg.match(/<path class="error-bar"/g)?.length).toBe(1);
    expect(svg).toContain("simulated &lt;run 1&gt;");
    expect(svg.match(/<path class="series-line"/g)?.length).toBe(1);
  });

  it("runKeyrateCommand can be driven directly and returns the exit code", () => {
    let out = "";
    let err = "";
    const ok = runKeyrateCommand(
      { model: ["plob"], distanceKm: "100", format: "json" },
      (s) => (out += s),
      (s) => (err += s),
    );
    expect(ok).toBe(0);
    expect(JSON.parse(out)[0].key_rate_per_pulse).toBeCloseTo(1.151e-2, 5);
    const bad = runKeyrateCommand(
      { mu: "0" },
      (s) => (out += s),
      (s) => (err += s),
    );
    expect(bad).toBe(2);
    expect(err).toBe("error: --mu: expected a mean photon number > 0 (e.g. 0.5) or 'optimal', got '0'\n");
  });

  it("rejects bad flags with one line naming the flag, exit code 2", async () => {
    const cases: [string[], RegExp][] = [
      [["--nu", "abc"], /^error: --nu: expected a weak decoy intensity in \(0, 1\)/],
      [["--nu", "1.5"], /^error: --nu: /],
      [["--mu", "-1"], /^error: --mu: expected a mean photon number > 0/],
      [["--mu", "0"], /^error: --mu: /],
      [["--mu", "best"], /^error: --mu: /],
      [["--distance-km", "-10"], /^error: --distance-km: distances must be ≥ 0 km/],
      [["--distance-km", "0:100:0"], /^error: --distance-km: the step must be > 0 km/],
      [
        ["--model", "bb84"],
        /^error: --model: unknown model 'bb84'; expected one of infinite-decoy, vacuum-weak, no-decoy, plob/,
      ],
      [["--eta-detector", "1.2"], /^error: --eta-detector: expected a detection efficiency in \(0, 1\]/],
      [["--eta-detector", "0"], /^error: --eta-detector: /],
      [["--y0", "-1e-6"], /^error: --y0: expected a dark count probability per pulse in \[0, 1\)/],
      [["--misalignment", "0.6"], /^error: --misalignment: expected an error probability in \[0, 0\.5\]/],
      [["--attenuation-db-per-km", "-0.2"], /^error: --attenuation-db-per-km: /],
      [
        ["--ec-efficiency", "0.9"],
        /^error: --ec-efficiency: expected an error-correction inefficiency f ≥ 1/,
      ],
      [["--model", "vacuum-weak", "--mu", "0.05"], /^error: --nu \(0\.1\) must be below --mu \(0\.05\)/],
      [["--simulate", "10"], /^error: --simulate: expected a number of pulses per distance/],
      [["--simulate", "1e9", "--seed", "-1"], /^error: --seed: expected a non-negative integer/],
      [["--format", "xml"], /^error: option '--format <format>' argument 'xml' is invalid/],
    ];
    for (const [args, re] of cases) {
      const r = await runCli("keyrate", "--distance-km", "0:20:10", ...args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.err, args.join(" ")).toMatch(re);
      expect(r.err.split("\n")[0].length).toBeGreaterThan(10);
      expect(r.err).not.toMatch(/\n\s+at /);
    }
    const dir = tmp();
    const r = await runCli("keyrate", "--out", dir);
    expect(r.code).toBe(1);
    expect(r.err).toContain("it is a directory");
  });

  it("lists the command and its flags in help", async () => {
    const top = await runCli("--help");
    expect(top.out).toContain("keyrate");
    const help = await runCli("keyrate", "--help");
    expect(help.code).toBe(0);
    for (const flag of [
      "--model",
      "--distance-km",
      "--mu",
      "--nu",
      "--eta-detector",
      "--y0",
      "--misalignment",
      "--attenuation-db-per-km",
      "--ec-efficiency",
      "--format",
      "--out",
      "--plot",
    ])
      expect(help.out).toContain(flag);
  });
});

describe("svg plot writer", () => {
  it("renders linear axes, breaks lines at undrawable points, escapes text", () => {
    const svg = renderSvgPlot(
      [
        {
          label: "a & b",
          points: [
            { x: 0, y: 1 },
            { x: 1, y: Number.NaN },
            { x: 2, y: 3 },
            { x: 3, y: 4 },
          ],
        },
        {
          label: "pts",
          style: "line+markers",
          dashed: true,
          points: [{ x: 0.5, y: 2, yLow: 1.5, yHigh: 2.5 }],
        },
      ],
      { xLabel: "x <unit>", yLabel: "y", title: "T" },
    );
    expect(tagsBalanced(svg)).toBe(true);
    expect(svg).toContain("a &amp; b");
    expect(svg).toContain("x &lt;unit&gt;");
    // The NaN splits the first line into two sub-paths.
    const d = svg.match(/<path class="series-line" d="([^"]*)"/)![1];
    expect(d.match(/M/g)?.length).toBe(2);
    expect(svg).toContain('stroke-dasharray="7 4"');
    expect(escapeXml(`"'`)).toBe("&quot;&apos;");
  });

  it("draws an empty frame when nothing is drawable", () => {
    const svg = renderSvgPlot([{ label: "zeros", points: [{ x: 0, y: 0 }] }], {
      xLabel: "x",
      yLabel: "y",
      yScale: "log",
    });
    expect(tagsBalanced(svg)).toBe(true);
    expect(svg.startsWith("<svg")).toBe(true);
  });
});

describe("qnet keyrate: files it cannot write", () => {
  it.each([
    [
      ["--out", "/nonexistent-dir/qnet/rates.json"],
      /^error: --out: cannot write '\/nonexistent-dir\/qnet\/rates\.json': its directory does not exist/,
    ],
    [["--plot", "/nonexistent-dir/qnet/plot.svg"], /^error: --plot: cannot write /],
  ])("%s: exit code 1, like qnet simulate, no stack trace", async (args, re) => {
    const r = await runCli("keyrate", "--distance-km", "0:20:10", ...(args as string[]));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(re as RegExp);
    expect(r.err).not.toMatch(/\n\s+at /);
  });
});

describe("qnet keyrate --simulate: measured points beside the analytic curves", () => {
  it("adds simulated rows within 5 standard errors of vacuum-weak, and markers with error bars to the plot", async () => {
    const dir = mkdtempSync(join(tmpdir(), "qnet-keyrate-"));
    const plot = join(dir, "rates.svg");
    const args = ["keyrate", "--model", "vacuum-weak", "--mu", "0.48", "--distance-km", "0,50"];
    const r = await runCli(...args, "--simulate", "5e8", "--seed", "3", "--format", "json", "--plot", plot);
    expect(r.code).toBe(0);
    const rows = JSON.parse(r.out) as {
      model: string;
      distance_km: number;
      key_rate_per_pulse: number;
      stderr: number | null;
    }[];
    const sims = rows.filter((x) => x.model === "simulated");
    expect(sims.map((x) => x.distance_km)).toEqual([0, 50]);
    for (const sim of sims) {
      const exact = rows.find((x) => x.model === "vacuum-weak" && x.distance_km === sim.distance_km)!;
      expect(sim.stderr).toBeGreaterThan(0);
      expect(Math.abs(sim.key_rate_per_pulse - exact.key_rate_per_pulse)).toBeLessThan(5 * sim.stderr!);
    }
    const svg = readFileSync(plot, "utf8");
    expect(svg).toContain("simulated, vacuum + weak decoy estimator");
    expect(svg.match(/<circle class="marker"/g)?.length).toBe(2);
    // Same seed, same numbers.
    const again = await runCli(...args, "--simulate", "5e8", "--seed", "3", "--format", "json");
    expect(again.out).toBe(r.out);
  });
});
