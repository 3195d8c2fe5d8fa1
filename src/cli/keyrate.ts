/**
 * `qnet keyrate`: analytic decoy-state BB84 key rates (and the PLOB bound) against fiber length, as a
 * table, JSON or CSV, optionally plotted to SVG.
 *
 * Flags arrive as the strings the user typed and are checked here, so every mistake is reported as one
 * line naming the flag; {@link runKeyrateCommand} returns exit code 2 for those.
 *
 * @module
 */
import { writeFileSync } from "node:fs";
import { type Command, CommanderError, Option } from "commander";
import {
  GYS_PARAMETERS,
  type Intensity,
  KEY_RATE_MODELS,
  type KeyRateCurve,
  type KeyRateModel,
  type KeyRateParameters,
  keyRate,
  keyRateCurve,
} from "../qkd/key-rate.js";
import { type SimulatedDecoyKeyRate, simulateDecoyKeyRate } from "../qkd/key-rate-simulation.js";
import { RngStreams } from "../sim/rng.js";
import { InputError, UsageError } from "./errors.js";
import { formatTable } from "./format.js";
import { ProgressBar } from "./progress.js";
import { type PlotSeries, renderSvgPlot } from "./svg-plot.js";

/** Output formats of `qnet keyrate`. */
export type KeyrateFormat = "table" | "json" | "csv";

/** Largest number of distances one command computes; a larger range is almost always a typo. */
export const MAX_DISTANCES = 10_000;

/** Default distance specification: 0 to 150 km in steps of 10 km. */
export const DEFAULT_DISTANCE_SPEC = "0:150:10";

/**
 * Options of `qnet keyrate`, as typed on the command line (strings; unset means the default). The
 * property names are commander's camel-case names of the flags.
 */
export interface KeyrateCommandOptions {
  /** `--model`: one or more model names, repeated or comma-separated. Default `infinite-decoy`. */
  model?: string | readonly string[];
  /** `--distance-km`: `start:stop:step` (inclusive), a list `0,25,50`, or one value. Default 0:150:10. */
  distanceKm?: string;
  /** `--mu`: signal intensity > 0, or `optimal` (default). */
  mu?: string;
  /** `--nu`: weak decoy intensity of the vacuum-weak model, in (0, 1). Default 0.1. */
  nu?: string;
  /** `--eta-detector`: Bob's detection efficiency, in (0, 1]. Default 0.045. */
  etaDetector?: string;
  /** `--y0`: dark count probability per pulse, in [0, 1). Default 1.7e-6. */
  y0?: string;
  /** `--misalignment`: optical error probability e_det, in [0, 0.5]. Default 0.033. */
  misalignment?: string;
  /** `--attenuation-db-per-km`: fiber loss in dB/km, ≥ 0. Default 0.21. */
  attenuationDbPerKm?: string;
  /** `--ec-efficiency`: error-correction inefficiency f ≥ 1. Default 1.22. */
  ecEfficiency?: string;
  /** `--format`: table (default), json or csv. */
  format?: string;
  /** `--out`: write the report to this file instead of standard output. */
  out?: string;
  /** `--plot`: write an SVG plot of the curves to this file. */
  plot?: string;
  /**
   * `--simulate`: pulses to simulate at each distance (an integer ≥ 1000); the vacuum + weak decoy
   * estimator is applied to what they show, and the results are added as `simulated` rows and points.
   */
  simulate?: string;
  /** `--seed`: seed of the simulation's random streams, a non-negative integer. Default 1. */
  seed?: string;
  /** Further simulated points to overlay on the plot (set by callers). */
  simulated?: readonly SimulatedKeyRateSeries[];
}

/** A measured or simulated key rate at one distance, with an optional interval for an error bar. */
export interface SimulatedKeyRatePoint {
  distance_km: number;
  /** Bits per pulse. */
  key_rate_per_pulse: number;
  /** Lower end of the error bar, bits per pulse (≤ 0 draws the bar to the bottom of the axis). */
  key_rate_low?: number;
  /** Upper end of the error bar, bits per pulse. */
  key_rate_high?: number;
}

/** A labelled set of simulated points, drawn as markers over the analytic curves. */
export interface SimulatedKeyRateSeries {
  label: string;
  points: readonly SimulatedKeyRatePoint[];
}

/** Validated settings of one `qnet keyrate` run. */
export interface KeyrateSettings {
  models: KeyRateModel[];
  distancesKm: number[];
  mu: Intensity;
  params: KeyRateParameters;
  format: KeyrateFormat;
  out?: string;
  plot?: string;
  /** Pulses to simulate per distance; absent: no simulation. */
  simulatePulses?: number;
  seed: number;
}

/** One output row: a curve point flattened with its model's cutoff. */
export interface KeyrateRow {
  /** An analytic model, or `simulated` for a rate measured with `--simulate`. */
  model: KeyRateModel | "simulated";
  distance_km: number;
  key_rate_per_pulse: number;
  qber: number | null;
  mu: number | null;
  nu: number | null;
  gain: number | null;
  single_photon_yield: number | null;
  single_photon_error: number | null;
  transmittance: number;
  /** The model's cutoff distance in km (null: none). */
  cutoff_km: number | null;
  /** Standard error of a simulated rate (null for analytic rows). */
  stderr: number | null;
}

/** A mistake in the flags: printed as one line, exit code 2. */
export class KeyrateUsageError extends UsageError {
  override name = "KeyrateUsageError";
}

const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)(e[+-]?\d+)?$/i;

/** Parses a plain decimal number (no hex, no empty string, no "Infinity"). */
function parseNumber(text: string, flag: string, what: string): number {
  const t = text.trim();
  if (!NUMBER.test(t)) throw new KeyrateUsageError(`${flag}: expected ${what}, got '${text}'`);
  return Number(t);
}

function parseInRange(text: string, flag: string, what: string, ok: (v: number) => boolean): number {
  const v = parseNumber(text, flag, what);
  if (!ok(v)) throw new KeyrateUsageError(`${flag}: expected ${what}, got '${text}'`);
  return v;
}

/**
 * Parses a distance specification in km: `start:stop:step` (stop included when the steps land on it),
 * a comma-separated list of values and ranges (`0,25,50` or `0:50:10,100`), or one value.
 * @throws KeyrateUsageError for non-numbers, negative distances, a step ≤ 0, stop < start, or more than
 *   {@link MAX_DISTANCES} values.
 */
export function parseDistanceSpec(spec: string, flag = "--distance-km"): number[] {
  const items = spec.split(",").map((s) => s.trim());
  if (items.some((s) => s === ""))
    throw new KeyrateUsageError(
      `${flag}: expected start:stop:step, a list like 0,25,50 or one value; got '${spec}'`,
    );
  const out: number[] = [];
  for (const item of items) {
    const parts = item.split(":");
    if (parts.length === 1) {
      out.push(parseDistance(parts[0], flag));
    } else if (parts.length === 3) {
      const [start, stop] = [parseDistance(parts[0], flag), parseDistance(parts[1], flag)];
      const step = parseNumber(parts[2], flag, "a step in km");
      if (!(step > 0))
        throw new KeyrateUsageError(`${flag}: the step must be > 0 km, got '${item}' (e.g. 0:150:10)`);
      if (stop < start)
        throw new KeyrateUsageError(
          `${flag}: the stop must not be below the start, got '${item}' (e.g. 0:150:10)`,
        );
      const n = Math.floor((stop - start) / step + 1e-9) + 1;
      if (out.length + n > MAX_DISTANCES)
        throw new KeyrateUsageError(
          `${flag}: '${spec}' gives more than ${MAX_DISTANCES} distances; use a larger step`,
        );
      // Rounded to 12 significant digits so 0:1:0.1 gives 0.3, not 0.30000000000000004.
      for (let i = 0; i < n; i++) out.push(Number((start + i * step).toPrecision(12)));
    } else {
      throw new KeyrateUsageError(`${flag}: a range is start:stop:step (three numbers), got '${item}'`);
    }
    if (out.length > MAX_DISTANCES)
      throw new KeyrateUsageError(`${flag}: '${spec}' gives more than ${MAX_DISTANCES} distances`);
  }
  return out;
}

function parseDistance(text: string, flag: string): number {
  const v = parseNumber(text, flag, "a distance in km, e.g. 0:150:10 or 0,25,50");
  if (!(v >= 0 && Number.isFinite(v)))
    throw new KeyrateUsageError(`${flag}: distances must be ≥ 0 km, got '${text}'`);
  return v;
}

/** Parses `--model` values (repeated and/or comma-separated) into distinct known models, in order given. */
export function parseModels(value: string | readonly string[] | undefined): KeyRateModel[] {
  const raw = value === undefined ? ["infinite-decoy"] : typeof value === "string" ? [value] : [...value];
  const models: KeyRateModel[] = [];
  for (const name of raw.flatMap((v) => v.split(",")).map((v) => v.trim())) {
    if (!(KEY_RATE_MODELS as readonly string[]).includes(name))
      throw new KeyrateUsageError(
        `--model: unknown model '${name}'; expected one of ${KEY_RATE_MODELS.join(", ")} (repeat the flag or separate with commas)`,
      );
    if (!models.includes(name as KeyRateModel)) models.push(name as KeyRateModel);
  }
  return models;
}

/**
 * Checks and converts the command's options.
 * @throws KeyrateUsageError naming the first bad flag and what to change.
 */
export function parseKeyrateOptions(opts: KeyrateCommandOptions): KeyrateSettings {
  const models = parseModels(opts.model);
  const distancesKm = parseDistanceSpec(opts.distanceKm ?? DEFAULT_DISTANCE_SPEC);
  const muText = (opts.mu ?? "optimal").trim();
  const mu: Intensity =
    muText.toLowerCase() === "optimal"
      ? "optimal"
      : parseInRange(muText, "--mu", "a mean photon number > 0 (e.g. 0.5) or 'optimal'", (v) => v > 0);
  const def = GYS_PARAMETERS;
  const num = (
    text: string | undefined,
    fallback: number,
    flag: string,
    what: string,
    ok: (v: number) => boolean,
  ) => (text === undefined ? fallback : parseInRange(text, flag, what, ok));
  const params: KeyRateParameters = {
    nu: num(opts.nu, def.nu, "--nu", "a weak decoy intensity in (0, 1), e.g. 0.1", (v) => v > 0 && v < 1),
    etaDetector: num(
      opts.etaDetector,
      def.etaDetector,
      "--eta-detector",
      "a detection efficiency in (0, 1], e.g. 0.045",
      (v) => v > 0 && v <= 1,
    ),
    y0: num(
      opts.y0,
      def.y0,
      "--y0",
      "a dark count probability per pulse in [0, 1), e.g. 1.7e-6",
      (v) => v >= 0 && v < 1,
    ),
    misalignment: num(
      opts.misalignment,
      def.misalignment,
      "--misalignment",
      "an error probability in [0, 0.5], e.g. 0.033",
      (v) => v >= 0 && v <= 0.5,
    ),
    attenuationDbPerKm: num(
      opts.attenuationDbPerKm,
      def.attenuationDbPerKm,
      "--attenuation-db-per-km",
      "a fiber loss ≥ 0 dB/km, e.g. 0.21",
      (v) => v >= 0,
    ),
    ecEfficiency: num(
      opts.ecEfficiency,
      def.ecEfficiency,
      "--ec-efficiency",
      "an error-correction inefficiency f ≥ 1, e.g. 1.22",
      (v) => v >= 1,
    ),
    q: def.q,
  };
  if (models.includes("vacuum-weak") && mu !== "optimal" && !(params.nu < mu))
    throw new KeyrateUsageError(
      `--nu (${params.nu}) must be below --mu (${mu}) for the vacuum-weak model; lower --nu or raise --mu`,
    );
  const format = opts.format ?? "table";
  if (format !== "table" && format !== "json" && format !== "csv")
    throw new KeyrateUsageError(`--format: expected table, json or csv, got '${format}'`);
  const simulatePulses =
    opts.simulate === undefined
      ? undefined
      : parseInRange(
          opts.simulate,
          "--simulate",
          "a number of pulses per distance, an integer from 1000 to 1e13 (e.g. 1e9)",
          (v) => Number.isInteger(v) && v >= 1000 && v <= 1e13,
        );
  const seed =
    opts.seed === undefined
      ? 1
      : parseInRange(
          opts.seed,
          "--seed",
          "a non-negative integer, e.g. 7",
          (v) => Number.isSafeInteger(v) && v >= 0,
        );
  return { models, distancesKm, mu, params, format, out: opts.out, plot: opts.plot, simulatePulses, seed };
}

/** Computes one curve per model. */
export function computeKeyrateCurves(settings: KeyrateSettings): KeyRateCurve[] {
  return settings.models.map((m) => keyRateCurve(m, settings.distancesKm, settings.mu, settings.params));
}

/** Flattens curves into output rows, model by model. */
export function keyrateRows(curves: readonly KeyRateCurve[]): KeyrateRow[] {
  return curves.flatMap((c) =>
    c.points.map((p) => ({
      model: p.model,
      distance_km: p.distance_km,
      key_rate_per_pulse: p.key_rate_per_pulse,
      qber: p.qber,
      mu: p.mu,
      nu: p.nu,
      gain: p.gain,
      single_photon_yield: p.single_photon_yield,
      single_photon_error: p.single_photon_error,
      transmittance: p.transmittance,
      cutoff_km: c.cutoff_km,
      stderr: null,
    })),
  );
}

/**
 * Simulates decoy-state BB84 at each distance with the signal intensity of the settings (the
 * vacuum-weak optimum when `optimal`) and measures the key rate from the observed statistics. Distances
 * where no intensity gives a key are skipped. Each distance has its own random stream.
 */
export function simulateKeyrates(
  settings: KeyrateSettings,
  onProgress?: (done: number, total: number, detections: number) => void,
): SimulatedDecoyKeyRate[] {
  const pulses = settings.simulatePulses;
  if (pulses === undefined) return [];
  const streams = new RngStreams(settings.seed);
  const results: SimulatedDecoyKeyRate[] = [];
  let detections = 0;
  settings.distancesKm.forEach((d, i) => {
    const mu =
      settings.mu === "optimal" ? keyRate("vacuum-weak", d, "optimal", settings.params).mu : settings.mu;
    if (mu !== null && mu > settings.params.nu) {
      const r = simulateDecoyKeyRate(
        { distanceKm: d, mu, params: settings.params, pulses },
        streams.stream(`keyrate:${d}`),
      );
      detections += r.detections;
      results.push(r);
    }
    onProgress?.(i + 1, settings.distancesKm.length, detections);
  });
  return results;
}

/** Output rows for simulated rates. */
export function simulatedRows(
  sims: readonly SimulatedDecoyKeyRate[],
  params: KeyRateParameters,
): KeyrateRow[] {
  return sims.map((r) => ({
    model: "simulated",
    distance_km: r.distance_km,
    key_rate_per_pulse: r.key_rate_per_pulse,
    qber: r.error_rates[0],
    mu: r.mu,
    nu: r.nu,
    gain: r.gains[0],
    single_photon_yield: null,
    single_photon_error: null,
    transmittance: params.etaDetector * 10 ** ((-params.attenuationDbPerKm * r.distance_km) / 10),
    cutoff_km: null,
    stderr: r.stderr,
  }));
}

const CSV_COLUMNS: readonly (keyof KeyrateRow)[] = [
  "model",
  "distance_km",
  "mu",
  "nu",
  "qber",
  "gain",
  "single_photon_yield",
  "single_photon_error",
  "transmittance",
  "key_rate_per_pulse",
  "stderr",
  "cutoff_km",
];

/** Renders curves in one of the output formats. */
export function renderKeyrate(
  curves: readonly KeyRateCurve[],
  format: KeyrateFormat,
  params: KeyRateParameters = { ...GYS_PARAMETERS },
  simulated: readonly SimulatedDecoyKeyRate[] = [],
): string {
  const rows = [...keyrateRows(curves), ...simulatedRows(simulated, params)];
  if (format === "json") return `${JSON.stringify(rows, null, 2)}\n`;
  if (format === "csv")
    return `${[CSV_COLUMNS.join(","), ...rows.map((r) => CSV_COLUMNS.map((k) => (r[k] === null ? "" : String(r[k]))).join(","))].join("\n")}\n`;
  const dash = (v: number | null) => (v === null ? "—" : v);
  const lines: string[] = [];
  lines.push(
    `qnet keyrate: α = ${params.attenuationDbPerKm} dB/km, η_Bob = ${params.etaDetector}, Y0 = ${params.y0 > 0 && params.y0 < 1e-3 ? params.y0.toExponential() : params.y0}, ` +
      `e_det = ${params.misalignment}, f = ${params.ecEfficiency}, q = ${params.q}` +
      (curves.some((c) => c.model === "vacuum-weak") ? `, ν = ${params.nu}` : ""),
  );
  lines.push("");
  lines.push(
    formatTable(
      [
        "model",
        "distance (km)",
        "mu",
        "QBER",
        "e1",
        "key rate (bits/pulse)",
        ...(simulated.length ? ["± stderr"] : []),
      ],
      rows.map((r) => [
        r.model,
        r.distance_km,
        dash(r.mu),
        dash(r.qber),
        dash(r.single_photon_error),
        r.key_rate_per_pulse,
        ...(simulated.length ? [dash(r.stderr)] : []),
      ]),
    ).trimEnd(),
  );
  lines.push("");
  for (const c of curves) {
    const how = c.mu === "optimal" ? "μ optimized per distance" : `μ = ${c.mu}`;
    if (c.cutoff_km === null) lines.push(`${c.model}: no cutoff (bits per channel use over the fiber alone)`);
    else if (c.cutoff_km === 0) lines.push(`${c.model}: no key at any distance (${how})`);
    else lines.push(`${c.model}: key rate reaches 0 at ${c.cutoff_km.toFixed(2)} km (${how})`);
  }
  if (simulated.length > 0)
    lines.push(
      `simulated: ${pulsesText(simulated[0].pulses)} pulses per distance, vacuum + weak decoy estimator on the observed gains and error rates (compare with vacuum-weak)`,
    );
  return `${lines.join("\n")}\n`;
}

const MODEL_LABELS: Record<KeyRateModel, string> = {
  "infinite-decoy": "infinite decoys (Lo–Ma–Chen)",
  "vacuum-weak": "vacuum + weak decoy",
  "no-decoy": "no decoy (GLLP)",
  plob: "PLOB bound",
};

/**
 * SVG plot of key rate (log scale) against distance: one line per analytic curve, and markers with error
 * bars for each simulated series.
 */
export function renderKeyRatePlot(
  curves: readonly KeyRateCurve[],
  simulated: readonly SimulatedKeyRateSeries[] = [],
): string {
  const series: PlotSeries[] = curves.map((c) => ({
    label: MODEL_LABELS[c.model] + (c.mu === "optimal" || c.model === "plob" ? "" : `, μ = ${c.mu}`),
    points: [...c.points]
      .sort((a, b) => a.distance_km - b.distance_km)
      .map((p) => ({ x: p.distance_km, y: p.key_rate_per_pulse })),
    dashed: c.model === "plob",
  }));
  for (const s of simulated)
    series.push({
      label: s.label,
      style: "markers",
      points: s.points.map((p) => ({
        x: p.distance_km,
        y: p.key_rate_per_pulse,
        yLow: p.key_rate_low,
        yHigh: p.key_rate_high,
      })),
    });
  return renderSvgPlot(series, {
    title: "Secret key rate vs distance",
    xLabel: "Distance (km)",
    yLabel: "Secret key rate (bits per pulse)",
    yScale: "log",
  });
}

/** A pulse count as people write it: 1e9, 2.5e10, or plainly below a million. */
function pulsesText(n: number): string {
  return n >= 1e6 ? n.toExponential().replace("e+", "e") : String(n);
}

/** Simulated rates as a plot series with ±1 standard error bars. */
export function simulatedSeries(sims: readonly SimulatedDecoyKeyRate[]): SimulatedKeyRateSeries {
  return {
    label: `simulated, vacuum + weak decoy estimator (${pulsesText(sims[0]?.pulses ?? 0)} pulses per point, ±1σ)`,
    points: sims.map((r) => ({
      distance_km: r.distance_km,
      key_rate_per_pulse: r.key_rate_per_pulse,
      key_rate_low: r.key_rate_per_pulse - r.stderr,
      key_rate_high: r.key_rate_per_pulse + r.stderr,
    })),
  };
}

function writeFile(path: string, text: string, flag: string): void {
  try {
    writeFileSync(path, text);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === "ENOENT"
        ? "its directory does not exist"
        : code === "EISDIR"
          ? "it is a directory"
          : code === "EACCES" || code === "EPERM"
            ? "permission denied"
            : (e as Error).message;
    throw new InputError(`${flag}: cannot write '${path}': ${why}; choose a writable file path`);
  }
}

/**
 * `qnet keyrate`: checks the options, computes the curves, writes the report to `out` (or `--out`) and
 * the plot to `--plot`. A usage mistake prints `error: <flag>: <what to change>` to `err`.
 * @returns the exit code: 0, or 2 for a usage error (an unwritable output file throws an InputError: exit code 1).
 */
export function runKeyrateCommand(
  opts: KeyrateCommandOptions,
  out: (s: string) => void,
  err: (s: string) => void,
  progressStream: NodeJS.WriteStream = process.stderr,
): number {
  try {
    const settings = parseKeyrateOptions(opts);
    const curves = computeKeyrateCurves(settings);
    let sims: SimulatedDecoyKeyRate[] = [];
    if (settings.simulatePulses !== undefined) {
      // The bar's "simulated time" is the pulses sent at 1 GHz, its events the detections.
      const total = settings.simulatePulses * settings.distancesKm.length;
      const bar = new ProgressBar(progressStream, total);
      try {
        sims = simulateKeyrates(settings, (done, _n, detections) =>
          bar.update(done * settings.simulatePulses!, detections),
        );
      } finally {
        bar.done();
      }
    }
    const text = renderKeyrate(curves, settings.format, settings.params, sims);
    if (settings.out !== undefined) writeFile(settings.out, text, "--out");
    else out(text);
    if (settings.plot !== undefined) {
      const extra = [...(sims.length > 0 ? [simulatedSeries(sims)] : []), ...(opts.simulated ?? [])];
      writeFile(settings.plot, renderKeyRatePlot(curves, extra), "--plot");
    }
    return 0;
  } catch (e) {
    if (e instanceof KeyrateUsageError) {
      err(`error: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
}

/** Adds the `keyrate` subcommand to `program`; a usage error ends the run with exit code 2. */
export function registerKeyrateCommand(
  program: Command,
  out: (s: string) => void,
  err: (s: string) => void,
): Command {
  return program
    .command("keyrate")
    .description(
      "analytic decoy-state BB84 secret key rate per pulse vs fiber length (Lo–Ma–Chen infinite decoys, " +
        "vacuum + weak decoy, no decoy/GLLP) and the PLOB repeaterless bound; GYS parameters by default",
    )
    .option(
      "--model <name>",
      `model: ${KEY_RATE_MODELS.join(", ")}; repeat or separate with commas for several (default: infinite-decoy)`,
      (v: string, prev: string[] | undefined) => [...(prev ?? []), v],
    )
    .option(
      "--distance-km <spec>",
      "distances in km: start:stop:step (inclusive), a list 0,25,50, or one value",
      DEFAULT_DISTANCE_SPEC,
    )
    .option(
      "--mu <number|optimal>",
      "signal intensity (mean photons per pulse), or optimal per distance",
      "optimal",
    )
    .option("--nu <intensity>", "weak decoy intensity of the vacuum-weak model", String(GYS_PARAMETERS.nu))
    .option("--eta-detector <p>", "Bob's detection efficiency η_Bob", String(GYS_PARAMETERS.etaDetector))
    .option("--y0 <p>", "dark count probability per pulse Y0", String(GYS_PARAMETERS.y0))
    .option("--misalignment <p>", "optical error probability e_det", String(GYS_PARAMETERS.misalignment))
    .option(
      "--attenuation-db-per-km <dB>",
      "fiber attenuation α in dB/km",
      String(GYS_PARAMETERS.attenuationDbPerKm),
    )
    .option(
      "--ec-efficiency <f>",
      "error-correction inefficiency f(e) ≥ 1",
      String(GYS_PARAMETERS.ecEfficiency),
    )
    .addOption(
      new Option("--format <format>", "output format").choices(["table", "json", "csv"]).default("table"),
    )
    .option("--out <file>", "write the report to this file instead of standard output")
    .option("--plot <file.svg>", "write an SVG plot of key rate (log scale) vs distance")
    .option(
      "--simulate <pulses>",
      "also simulate decoy BB84 with this many pulses per distance and measure the key rate from what is observed (e.g. 1e9)",
    )
    .option("--seed <n>", "seed of the simulation's random streams", "1")
    .action((opts: KeyrateCommandOptions) => {
      const code = runKeyrateCommand(opts, out, err);
      if (code !== 0) throw new CommanderError(code, "qnet.keyrate.usage", "qnet keyrate: usage error");
    });
}
