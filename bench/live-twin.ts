import { readFileSync } from "node:fs";
import { join } from "node:path";
import { LiveFeed } from "../src/control/live-feed.js";
import { MemoryJobStore } from "../src/control/memory-job-store.js";
import { Orchestrator } from "../src/control/orchestrator.js";
import { LiveTwin } from "../src/network/live-twin.js";
import { parseTopology } from "../src/network/topology-loader.js";
import { PrometheusSink } from "../src/server/prometheus.js";
import { type Bench, type BenchResult, timeIt } from "./harness.js";

// The live twin `qnet serve` runs: examples/metro.yaml advanced in 200 ms steps (the default
// scheduling round at real time), bare and with everything it feeds in `qnet serve` — the Prometheus
// sink, the orchestrator's link estimates and failure detection. The figure is wall time per
// simulated second: below 1 s it keeps up with real time, and 1 / it is the fastest real-time scale.

const ROOT = join(import.meta.dirname, "..", "..");
const METRO = join(ROOT, "examples", "metro.yaml");
const SIMULATED_S = 5;
const STEP_NS = 200e6;

function wallPerSimulatedSecond(probeRateHz: number, fed: boolean): { wall: number; events: number } {
  const topology = parseTopology(readFileSync(METRO, "utf8"), METRO);
  let feed: LiveFeed | undefined;
  if (fed) {
    const orchestrator = new Orchestrator({ topology, store: new MemoryJobStore(), clock: () => 0, seed: 1 });
    feed = new LiveFeed(orchestrator, new PrometheusSink());
  }
  const twin = new LiveTwin(topology, { seed: 1, probeRateHz, ...(feed ? { observer: feed.observer } : {}) });
  let events = 0;
  const seconds = timeIt(() => {
    for (let t = STEP_NS; t <= SIMULATED_S * 1e9; t += STEP_NS) {
      events += twin.advanceTo(t).events;
      feed?.flush(); // as every scheduling round of qnet serve does (through apply)
    }
  });
  return { wall: seconds / SIMULATED_S, events: events / SIMULATED_S };
}

export const benches: Bench[] = [
  {
    name: "live-twin",
    run(): BenchResult[] {
      const out: BenchResult[] = [];
      for (const [label, rate] of [
        ["probe 1 kHz", 1000],
        ["flat out", 0],
      ] as const) {
        const bare = wallPerSimulatedSecond(rate, false);
        const fed = wallPerSimulatedSecond(rate, true);
        out.push(
          { name: `live-twin metro ${label}: wall s per simulated s`, value: bare.wall, unit: "s/s" },
          { name: `live-twin metro ${label}: events per simulated s`, value: bare.events, unit: "events/s" },
          {
            name: `live-twin metro ${label} feeding metrics, estimates, detection: wall s per simulated s`,
            value: fed.wall,
            unit: "s/s",
          },
          {
            name: `live-twin metro ${label}: feeding cost vs bare`,
            value: fed.wall / bare.wall,
            unit: "ratio",
          },
        );
      }
      return out;
    },
  },
];
