import { EventQueue } from "../src/sim/event-queue.js";
import { type Rng, RngStreams } from "../src/sim/rng.js";
import { type EventHandler, Simulator } from "../src/sim/simulator.js";
import { type Bench, type BenchResult, measureRate } from "./harness.js";

/** Mean delay between an entity's events, in ns. */
const MEAN_DELAY_NS = 1000;

/** An entity that, on each event, reschedules itself after an exponential delay from its own stream. */
class Ticker implements EventHandler {
  private readonly id: number;
  constructor(
    sim: Simulator,
    private readonly rng: Rng,
  ) {
    this.id = sim.register(this);
    sim.schedule(rng.exponential(1 / MEAN_DELAY_NS), this.id);
  }
  handleEvent(_kind: number, _data: number, sim: Simulator): void {
    sim.schedule(this.rng.exponential(1 / MEAN_DELAY_NS), this.id);
  }
}

/** A simulator with `entities` self-rescheduling tickers, each with one event pending. */
function tickers(entities: number, seed = 1): Simulator {
  const sim = new Simulator();
  const streams = new RngStreams(seed);
  for (let i = 0; i < entities; i++) new Ticker(sim, streams.stream(i));
  return sim;
}

/** Events per second for `entities` tickers, with or without a trace hook (which sums into a sink). */
function noopRate(entities: number, trace: boolean): number {
  const sim = tickers(entities);
  const sink = new Float64Array(1);
  if (trace) {
    sim.setTrace((t, h) => {
      sink[0] += t + h;
    });
  }
  return measureRate((n) => {
    sim.run({ maxEvents: n });
  });
}

/** Pop-then-push operations per second on a queue holding `size` events with exponential gaps. */
function heapRate(size: number): number {
  const q = new EventQueue(size);
  const rng = new RngStreams(2).stream("heap");
  for (let i = 0; i < size; i++) q.push(rng.exponential(1 / MEAN_DELAY_NS), 0, 0, 0);
  return measureRate((n) => {
    for (let i = 0; i < n; i++) {
      q.pop();
      q.push(q.time + rng.exponential(1 / MEAN_DELAY_NS), 0, 0, 0);
    }
  });
}

/** Draws per second from one stream. */
function rngRate(draw: (rng: Rng) => number): number {
  const rng = new RngStreams(3).stream("rate");
  const sink = new Float64Array(1);
  return measureRate((n) => {
    let s = 0;
    for (let i = 0; i < n; i++) s += draw(rng);
    sink[0] += s;
  });
}

export const benches: Bench[] = [
  {
    name: "kernel",
    run(): BenchResult[] {
      return [
        { name: "kernel.noop_events_1_entity", value: noopRate(1, false), unit: "events/s" },
        { name: "kernel.noop_events_1000_entities", value: noopRate(1000, false), unit: "events/s" },
        { name: "kernel.noop_events_1000_entities_traced", value: noopRate(1000, true), unit: "events/s" },
        { name: "kernel.heap_push_pop_1000", value: heapRate(1000), unit: "ops/s" },
        { name: "kernel.rng_random", value: rngRate((r) => r.random()), unit: "draws/s" },
        { name: "kernel.rng_exponential", value: rngRate((r) => r.exponential(1)), unit: "draws/s" },
      ];
    },
  },
];
