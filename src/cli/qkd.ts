/**
 * `qnet qkd`: runs a decoy-state BB84 link end to end — pulses, sifting, finite-key estimation,
 * Cascade, verification, privacy amplification, authentication — and reports every key block.
 */
import { writeFileSync } from "node:fs";
import type { Command } from "commander";
import { Option } from "commander";
import { parseDurationNs, UnitError } from "../network/units.js";
import { type KeyBlock, KeyPoolExhaustedError, type QkdLinkSpec, QkdSession } from "../qkd/pipeline.js";
import { InputError, UsageError } from "./errors.js";
import { numberFlag } from "./flags.js";
import { formatTable } from "./format.js";
import { ProgressBar } from "./progress.js";

/** Flags of `qnet qkd` as typed (strings), by commander's camel-case names. */
export interface QkdCommandOptions {
  lengthKm: string;
  attenuationDbPerKm?: string;
  sourceRate?: string;
  detectorEfficiency?: string;
  darkCountRate?: string;
  misalignment?: string;
  deadTime?: string;
  blockBits?: string;
  blocks?: string;
  until?: string;
  seed: string;
  format: "table" | "json";
  out?: string;
}

function num(
  text: string | undefined,
  flag: string,
  what: string,
  ok: (v: number) => boolean,
): number | undefined {
  return text === undefined ? undefined : numberFlag(text, flag, what, ok);
}

/** A block as reported: everything but the key material itself. */
function blockReport(b: KeyBlock) {
  const { aliceKey: _a, bobKey: _b, ...rest } = b;
  return rest;
}

/** Runs the command; returns the text of the report. */
export function runQkdCommand(opts: QkdCommandOptions, progress: NodeJS.WriteStream): string {
  const link: QkdLinkSpec = {
    lengthKm: num(opts.lengthKm, "--length-km", "a fiber length ≥ 0 km, e.g. 50", (v) => v >= 0)!,
  };
  const set = <K extends keyof QkdLinkSpec>(k: K, v: QkdLinkSpec[K] | undefined) => {
    if (v !== undefined) link[k] = v;
  };
  set(
    "attenuationDbPerKm",
    num(opts.attenuationDbPerKm, "--attenuation-db-per-km", "a loss ≥ 0 dB/km", (v) => v >= 0),
  );
  set(
    "sourceRateHz",
    num(opts.sourceRate, "--source-rate", "a pulse rate in Hz > 0, e.g. 1e9", (v) => v > 0),
  );
  set(
    "detectorEfficiency",
    num(opts.detectorEfficiency, "--detector-efficiency", "an efficiency in (0, 1]", (v) => v > 0 && v <= 1),
  );
  set(
    "darkCountRateHz",
    num(opts.darkCountRate, "--dark-count-rate", "a rate ≥ 0 Hz per detector", (v) => v >= 0),
  );
  set(
    "misalignment",
    num(opts.misalignment, "--misalignment", "an error probability in [0, 0.5]", (v) => v >= 0 && v <= 0.5),
  );
  set(
    "deadTimeNs",
    num(opts.deadTime, "--dead-time", "a dead time ≥ 0 ns", (v) => v >= 0),
  );
  const blockBits = num(
    opts.blockBits,
    "--block-bits",
    "an integer ≥ 1000, e.g. 1000000",
    (v) => Number.isInteger(v) && v >= 1000,
  );
  const seed = num(opts.seed, "--seed", "a non-negative integer", (v) => Number.isSafeInteger(v) && v >= 0)!;
  if (opts.blocks !== undefined && opts.until !== undefined)
    throw new UsageError(
      "give either --blocks (a number of key blocks) or --until (simulated time), not both",
    );
  let untilNs: number | undefined;
  try {
    untilNs =
      opts.until === undefined ? undefined : parseDurationNs(opts.until, "--until", { positive: true });
  } catch (e) {
    if (e instanceof UnitError) throw new UsageError(e.message);
    throw e;
  }
  const blocks =
    untilNs === undefined
      ? num(
          opts.blocks ?? "3",
          "--blocks",
          "an integer from 1 to 100000",
          (v) => Number.isInteger(v) && v >= 1 && v <= 1e5,
        )!
      : undefined;

  let session: QkdSession;
  try {
    session = new QkdSession({
      link,
      seed,
      ...(blockBits !== undefined ? { parameters: { blockBits } } : {}),
    });
  } catch (e) {
    if (e instanceof RangeError) throw new UsageError(e.message);
    throw e;
  }
  const bar = new ProgressBar(progress, untilNs ?? blocks!);
  let stopped: string | undefined;
  const t0 = performance.now();
  try {
    for (;;) {
      const b = session.nextBlock();
      const done = untilNs !== undefined ? b.readyNs >= untilNs : session.history.length >= blocks!;
      bar.update(untilNs !== undefined ? b.readyNs : session.history.length, session.history.length);
      if (done) break;
    }
  } catch (e) {
    if (!(e instanceof KeyPoolExhaustedError)) throw e;
    stopped = e.message;
  } finally {
    bar.done();
  }
  const wall = (performance.now() - t0) / 1e3;
  const summary = session.summary();
  if (opts.format === "json")
    return `${JSON.stringify(
      {
        link,
        parameters: session.parameters,
        summary,
        wall_time_s: wall,
        ...(stopped ? { stopped } : {}),
        blocks: session.history.map(blockReport),
      },
      (_k, v) => (typeof v === "number" && !Number.isFinite(v) ? null : v),
      2,
    )}\n`;
  const lines = [
    `qnet qkd: decoy-state BB84 over ${link.lengthKm} km — parameter set ${summary.parameterSet.version} ` +
      `(${summary.parameterSet.fingerprint}), seed ${seed}, ${wall.toFixed(2)} s wall time`,
    "",
    formatTable(
      [
        "block",
        "status",
        "pulses",
        "sifted",
        "QBER",
        "Cascade f",
        "round trips",
        "secret bits",
        "auth bits",
        "delivered",
        "ready (s)",
      ],
      session.history.map((b) => [
        b.index,
        b.status === "delivered" ? "delivered" : `discarded: ${b.reason}`,
        b.pulses,
        b.siftedBits,
        Number.isNaN(b.qberKey) ? b.qberTest : b.qberKey,
        Number.isNaN(b.cascade.efficiency) ? "—" : b.cascade.efficiency,
        b.cascade.roundTrips,
        b.secretBits,
        b.authenticationBits,
        b.deliveredBits,
        b.readyNs / 1e9,
      ]),
    ).trimEnd(),
    "",
    `delivered ${summary.deliveredBits} secret bits in ${summary.delivered} of ${summary.blocks} blocks: ` +
      `${summary.keyRatePerPulse.toExponential(3)} bits per pulse, ${summary.keyRateBitsPerS.toPrecision(4)} bit/s ` +
      `over ${(summary.simulatedNs / 1e9).toPrecision(4)} s simulated`,
    `authentication pool: ${summary.authenticationPool.remaining} bits left (${summary.authenticationPool.drawn} drawn, ` +
      `${summary.authenticationPool.added} added)`,
  ];
  if (stopped) lines.push(`stopped early: ${stopped}`);
  return `${lines.join("\n")}\n`;
}

/** Adds `qnet qkd` to the program. */
export function registerQkdCommand(program: Command, out: (s: string) => void): Command {
  return program
    .command("qkd")
    .description(
      "run a decoy-state BB84 link end to end (sifting, finite-key decoy estimation, Cascade, verification, " +
        "privacy amplification, authentication) and report every key block",
    )
    .requiredOption("--length-km <km>", "fiber length in km")
    .option("--attenuation-db-per-km <dB>", "fiber attenuation (default 0.2)")
    .option("--source-rate <Hz>", "pulse rate in Hz (default 1e9)")
    .option("--detector-efficiency <p>", "Bob's detector efficiency (default 0.8)")
    .option("--dark-count-rate <Hz>", "dark counts per detector per second (default 10)")
    .option("--misalignment <p>", "optical error probability (default 0.01)")
    .option("--dead-time <ns>", "detector dead time in ns (default 50)")
    .option("--block-bits <n>", "sifted key bits per post-processing block (default 1000000)")
    .option("--blocks <n>", "key blocks to make (default 3)")
    .option("--until <duration>", "instead of --blocks: simulated time to run, e.g. 2s")
    .option("--seed <n>", "seed of every random stream", "1")
    .addOption(new Option("--format <format>", "output format").choices(["table", "json"]).default("table"))
    .option("--out <file>", "write the report to this file instead of standard output")
    .action((opts: QkdCommandOptions) => {
      const text = runQkdCommand(opts, process.stderr);
      if (opts.out === undefined) {
        out(text);
        return;
      }
      try {
        writeFileSync(opts.out, text);
      } catch (e) {
        throw new InputError(`--out: cannot write '${opts.out}': ${(e as Error).message}`);
      }
    });
}
