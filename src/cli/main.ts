import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { runRepeaterLineDemo } from "../network/repeater-line-demo.js";
import { installationRoot } from "../server/installation.js";
import { registerCertsCommand } from "./certs.js";
import { InputError, UsageError } from "./errors.js";
import { formatTable } from "./format.js";
import { registerKeyrateCommand } from "./keyrate.js";
import { registerKmsCommand } from "./kms.js";
import { registerKmsAuditCommand } from "./kms-audit.js";
import { registerQkdCommand } from "./qkd.js";
import { registerServeCommand } from "./serve.js";
import { runSimulateCommand, type SimulateCommandOptions } from "./simulate.js";

/** The package version, from the nearest package.json above this module (source or compiled). */
function version(): string {
  const root = installationRoot();
  if (root === undefined) return "unknown";
  return (JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string }).version;
}

function parseSeconds(value: string): number {
  const v = Number(value);
  if (!Number.isFinite(v) || v <= 0)
    throw new InvalidArgumentError(`expected a positive number of seconds, e.g. 2 or 0.5; got '${value}'`);
  return v;
}

function parseSeed(value: string): number {
  const v = Number(value);
  if (!Number.isSafeInteger(v) || v < 0)
    throw new InvalidArgumentError(`expected a non-negative integer seed, e.g. 42; got '${value}'`);
  return v;
}

function buildProgram(out: (s: string) => void, err: (s: string) => void): Command {
  const program = new Command();
  program
    .name("qnet")
    .description("Quantum-network simulator and operations platform.")
    .version(version(), "-V, --version", "print the version")
    .helpOption("-h, --help", "show help")
    .showHelpAfterError("(run 'qnet --help' for usage)")
    .configureOutput({ writeOut: out, writeErr: err })
    .exitOverride();

  program
    .command("demo")
    .description(
      "run a demonstration simulation: a three-node repeater line with heralded links, decohering memories, " +
        "a probabilistic swap and teleportation, checked against closed forms",
    )
    .option("--seed <n>", "seed of every random stream", parseSeed, 1)
    .option("--until <seconds>", "simulated time to run, in seconds", parseSeconds, 1)
    .addOption(new Option("--format <format>", "output format").choices(["table", "json"]).default("table"))
    .action((opts: { seed: number; until: number; format: "table" | "json" }) => {
      const r = runRepeaterLineDemo({ seed: opts.seed, durationNs: opts.until * 1e9 });
      if (opts.format === "json") {
        out(
          `${JSON.stringify({ seed: opts.seed, simulated_time_s: r.simulatedTimeNs / 1e9, ...r }, null, 2)}\n`,
        );
        return;
      }
      out("qnet demo: repeater line A — R — B (abstract links p = 0.1 per 10 µs attempt, F = 0.95,\n");
      out("swap success 0.9, memory depolarizing time 0.1 s, 25 µs classical latency)\n\n");
      out(
        formatTable(
          ["quantity", "simulated", "closed form"],
          [
            ["simulated time (s)", r.simulatedTimeNs / 1e9, ""],
            ["events", r.events, ""],
            ["link attempts / heralds", `${r.linkAttempts} / ${r.linkSuccesses}`, ""],
            ["swaps (failed)", `${r.swapAttempts} (${r.swapFailures})`, ""],
            ["pairs delivered A–B", r.delivered, ""],
            ["mean attempts to a successful swap", r.meanAttemptsToSwap, r.expectedAttemptsToSwap],
            ["mean delivered fidelity", r.meanFidelity, `${fmt(r.fidelityWithoutWaiting)} without waiting`],
            ["mean teleportation fidelity", r.meanTeleportationFidelity, r.expectedTeleportationFidelity],
          ],
        ),
      );
      out(
        "\nClosed forms: mean attempts (3−2p)/(a·p·(2−p)) (Brand, Coopmans, Elkouss 2020); teleportation (2F+1)/3.\n",
      );
    });
  program
    .command("simulate")
    .description("simulate a topology's entanglement requests and report links, requests and memories")
    .argument("<topology>", "topology file (YAML or JSON, apiVersion qnet/v1; see docs/topology-format.md)")
    .option(
      "--until <duration>",
      "simulated time to run, with a unit (e.g. 10s, 500 ms; a bare number is seconds)",
      "10s",
    )
    .option("--seed <n>", "seed of every random stream", parseSeed, 1)
    .option("--requests <file>", "requests file that replaces the topology's requests section")
    .addOption(
      new Option("--format <format>", "output format").choices(["table", "json", "csv"]).default("table"),
    )
    .option("--out <file>", "write the report to this file instead of standard output")
    .option(
      "--timeline <duration>",
      "add each link's attempts, successes and success rate per time bin of this width (e.g. 100ms)",
    )
    .action((topology: string, opts: SimulateCommandOptions) => {
      runSimulateCommand(topology, opts, out, process.stderr);
    });
  registerKeyrateCommand(program, out, err);
  registerQkdCommand(program, out);
  registerCertsCommand(program, out);
  registerKmsCommand(program, out);
  registerKmsAuditCommand(program, out);
  registerServeCommand(program, out);
  return program;
}

function fmt(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toPrecision(6);
}

/**
 * Runs the CLI with `argv` as given by Node (`[node, script, ...args]`) and returns the exit code.
 * User mistakes print a one-line error and return 2; nothing here calls `process.exit`.
 */
export async function main(
  argv: readonly string[],
  out: (s: string) => void = (s) => process.stdout.write(s),
  err: (s: string) => void = (s) => process.stderr.write(s),
): Promise<number> {
  const program = buildProgram(out, err);
  if (argv.length <= 2) {
    out(program.helpInformation());
    return 0;
  }
  try {
    await program.parseAsync([...argv]);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help and version are exits with code 0; everything else is a usage error already printed.
      return e.exitCode === 0 ? 0 : 2;
    }
    if (e instanceof UsageError) {
      err(`error: ${e.message}\n`);
      return 2;
    }
    if (e instanceof InputError) {
      err(`error: ${e.message}\n`);
      return 1;
    }
    if (e instanceof RangeError || e instanceof TypeError) {
      err(`error: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}
