/**
 * The tenants file of `qnet serve --tenants FILE` (YAML or JSON): each tenant's fair-share weight and
 * rate limit, read into the scheduler's settings. Every problem is reported at once, with the field.
 *
 * ```yaml
 * default_weight: 1
 * tenants:
 *   lab: { weight: 3, rate_per_s: 5, burst: 10 }
 *   ops: { weight: 1 }
 * ```
 */
import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { isTenantName } from "../control/jobs.js";
import type { RateLimit, SchedulerOptions } from "../control/scheduler.js";
import { InputError } from "./errors.js";

const TOP_FIELDS = ["default_weight", "tenants"];
const TENANT_FIELDS = ["weight", "rate_per_s", "burst"];

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** Parses a tenants document; throws an InputError naming the file and every problem. */
export function parseTenants(
  text: string,
  label: string,
): Pick<SchedulerOptions, "weights" | "defaultWeight" | "rateLimits"> {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (e) {
    throw new InputError(`${label}: not YAML or JSON: ${(e as Error).message}`);
  }
  const problems: string[] = [];
  const weights: Record<string, number> = {};
  const rateLimits: Record<string, RateLimit> = {};
  let defaultWeight: number | undefined;
  const positive = (v: unknown, field: string): number | undefined => {
    if (typeof v === "number" && Number.isFinite(v) && v > 0) return v;
    problems.push(`${field}: expected a number > 0, got ${JSON.stringify(v)}`);
    return undefined;
  };
  if (!isRecord(doc)) problems.push("expected a mapping with `tenants` (and optionally `default_weight`)");
  else {
    for (const k of Object.keys(doc))
      if (!TOP_FIELDS.includes(k))
        problems.push(`${k}: unknown field; expected one of ${TOP_FIELDS.join(", ")}`);
    if (doc.default_weight !== undefined) defaultWeight = positive(doc.default_weight, "default_weight");
    const tenants = doc.tenants;
    if (!isRecord(tenants)) problems.push("tenants: expected a mapping from tenant name to its settings");
    else
      for (const [name, t] of Object.entries(tenants)) {
        const at = `tenants.${name}`;
        if (!isTenantName(name))
          problems.push(
            `${at}: a tenant name is 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit`,
          );
        if (!isRecord(t)) {
          problems.push(`${at}: expected a mapping with weight, rate_per_s and burst (each optional)`);
          continue;
        }
        for (const k of Object.keys(t))
          if (!TENANT_FIELDS.includes(k))
            problems.push(`${at}.${k}: unknown field; expected one of ${TENANT_FIELDS.join(", ")}`);
        if (t.weight !== undefined) {
          const w = positive(t.weight, `${at}.weight`);
          if (w !== undefined) weights[name] = w;
        }
        if ((t.rate_per_s === undefined) !== (t.burst === undefined))
          problems.push(`${at}: a rate limit needs both rate_per_s and burst`);
        else if (t.rate_per_s !== undefined) {
          const rate = positive(t.rate_per_s, `${at}.rate_per_s`);
          const burst = t.burst;
          if (!(typeof burst === "number" && Number.isFinite(burst) && burst >= 1))
            problems.push(`${at}.burst: expected a number ≥ 1, got ${JSON.stringify(burst)}`);
          else if (rate !== undefined) rateLimits[name] = { ratePerS: rate, burst };
        }
      }
  }
  if (problems.length > 0)
    throw new InputError(`${label}: ${problems.length} problem(s):\n  ${problems.join("\n  ")}`);
  return { weights, rateLimits, ...(defaultWeight !== undefined ? { defaultWeight } : {}) };
}

/** Reads and parses a tenants file. */
export function loadTenants(path: string): ReturnType<typeof parseTenants> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new InputError(
      `cannot read tenants file '${path}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
  return parseTenants(text, path);
}
