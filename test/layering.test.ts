import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";

/**
 * The core layers never read the wall clock, the environment or host randomness, and use no Node
 * built-ins (docs/architecture.md): the clock, RNG streams, storage and sinks are passed in. Biome
 * enforces the globals; this test also catches member forms such as `Math.random` that a global
 * rule cannot see, and import paths that reach up into the adapter layers.
 */
const ROOT = join(import.meta.dirname, "..");
const CORE = ["quantum", "sim", "hardware", "protocols", "network", "qkd", "kms", "control", "telemetry"];
const ADAPTERS = ["cli", "server", "web"];

function sources(dir: string): string[] {
  let out: string[] = [];
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out = out.concat(sources(p));
    else if (p.endsWith(".ts")) out.push(p);
  }
  return out;
}

const FORBIDDEN: readonly [RegExp, string][] = [
  [/\bMath\.random\b/, "Math.random (take an Rng stream)"],
  [/\bDate\.now\b|\bnew Date\b/, "the wall clock (Date)"],
  [/\bperformance\.now\b/, "the wall clock (performance.now)"],
  [/\bprocess\.(env|argv|hrtime|exit)\b/, "the process (env, argv, hrtime, exit)"],
  [/from\s+["'](node:|fs["']|path["']|os["']|crypto["'])/, "a Node built-in module"],
  [/\brequire\s*\(/, "require()"],
];

describe("layering", () => {
  const files = CORE.flatMap((layer) => sources(join(ROOT, "src", layer)));
  it("finds the core sources", () => {
    expect(files.length).toBeGreaterThan(5);
  });
  it("core layers use no clock, host randomness, environment or Node built-ins", () => {
    const problems: string[] = [];
    for (const f of files) {
      const text = readFileSync(f, "utf8").replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, "");
      for (const [re, what] of FORBIDDEN)
        if (re.test(text)) problems.push(`${relative(ROOT, f)} uses ${what}`);
    }
    expect(problems).toEqual([]);
  });
  it("core layers never import the adapters, and quantum/ and sim/ know nothing of each other", () => {
    const problems: string[] = [];
    for (const f of files) {
      const rel = relative(join(ROOT, "src"), f);
      const layer = rel.split("/")[0];
      for (const m of readFileSync(f, "utf8").matchAll(/from\s+["'](\.{1,2}\/[^"']+)["']/g)) {
        const target = relative(join(ROOT, "src"), join(f, "..", m[1])).split("/")[0];
        if (ADAPTERS.includes(target)) problems.push(`${rel} imports the adapter layer ${target}/`);
        if ((layer === "quantum" && target === "sim") || (layer === "sim" && target === "quantum"))
          problems.push(`${rel} imports ${target}/`);
      }
    }
    expect(problems).toEqual([]);
  });
});
