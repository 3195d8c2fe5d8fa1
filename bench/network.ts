import { simulate } from "../src/network/simulation.js";
import type { LinkSpec, NodeSpec, PurificationSpec, Topology } from "../src/network/topology.js";
import type { Bench, BenchResult } from "./harness.js";

interface ChainScenario {
  nodes: number;
  /** Werner fidelity of the sources (raw link fidelity). */
  sourceFidelity: number;
  swapSuccessProbability: number;
  coherenceTimeNs: number;
  minFidelity: number;
  pairs?: number;
  purification?: PurificationSpec;
}

/**
 * A linear chain with 2 km links heralded at their midpoints (double click), 10 memories per node,
 * 2 kHz attempts and detectors of efficiency 0.9: the linear-chain scenario SeQUeNCe's authors use to
 * time their simulator.
 */
function physicalChain(s: ChainScenario): Topology {
  const node = (i: number): NodeSpec => ({
    id: `n${i}`,
    type: i === 0 || i === s.nodes - 1 ? "end" : "repeater",
    memory: {
      qubits: 10,
      t1Ns: Infinity,
      t2Ns: s.coherenceTimeNs,
      depolarizingTimeNs: Infinity,
      efficiency: 1,
    },
    gateFidelity: 1,
    measurementFidelity: 1,
    swapSuccessProbability: s.swapSuccessProbability,
    processingDelayNs: 0,
    cutoffNs: Infinity,
  });
  const link = (i: number): LinkSpec => ({
    id: `n${i}-n${i + 1}`,
    a: `n${i}`,
    b: `n${i + 1}`,
    quantum: {
      kind: "physical",
      lengthKm: 2,
      attenuationDbPerKm: 0.2,
      groupIndex: 1.4682,
      heralding: "double-click",
      sourceRateHz: 2000,
      detectorEfficiency: 0.9,
      darkCountRateHz: 0,
      detectionWindowNs: 1,
      brightStatePopulation: 0.1,
      multiplexingModes: 1,
      sourceFidelity: s.sourceFidelity,
    },
    classical: { latencyNs: 2 * 4897, jitterNs: 0, lossProbability: 0 },
    outages: [],
  });
  return {
    apiVersion: "qnet/v1",
    name: `chain-${s.nodes}`,
    nodes: Array.from({ length: s.nodes }, (_, i) => node(i)),
    links: Array.from({ length: s.nodes - 1 }, (_, i) => link(i)),
    swap: "asap",
    purification: s.purification,
    requests: [
      {
        id: "e2e",
        src: "n0",
        dst: `n${s.nodes - 1}`,
        pairs: s.pairs ?? Number.POSITIVE_INFINITY,
        rateHz: 0,
        minFidelity: s.minFidelity,
        deadlineNs: Number.POSITIVE_INFINITY,
      },
    ],
  };
}

function chainBench(n: number): BenchResult[] {
  const topo = physicalChain({
    nodes: n,
    sourceFidelity: 0.93,
    swapSuccessProbability: 0.9,
    coherenceTimeNs: 0.5e9,
    minFidelity: 0.8,
    purification: { scheme: "dejmps", mode: "recurrence", level: "link", rounds: 2 },
  });
  simulate(topo, 1e8, { seed: 0 }); // warm-up
  const t0 = performance.now();
  const r = simulate(topo, 2e9, { seed: 1 });
  const wall = (performance.now() - t0) / 1e3;
  const req = r.requests[0];
  return [
    { name: `network.chain_${n}_nodes_wall`, value: wall, unit: "s" },
    { name: `network.chain_${n}_nodes_events`, value: r.events, unit: "events" },
    { name: `network.chain_${n}_nodes_delivered`, value: req.delivered, unit: "pairs" },
    { name: `network.chain_${n}_nodes_fidelity_mean`, value: req.fidelity.mean, unit: "F" },
    // SeQUeNCe needs 5–30 s of wall time per run of this scenario on this kind of machine.
    { name: `network.chain_${n}_nodes_speedup_vs_sequence_5s`, value: 5 / wall, unit: "x" },
  ];
}

function longChainBench(): BenchResult[] {
  const pairs = 100;
  const topo = physicalChain({
    nodes: 1000,
    sourceFidelity: 0.999,
    swapSuccessProbability: 1,
    coherenceTimeNs: 10e9,
    minFidelity: 0,
    pairs,
  });
  const t0 = performance.now();
  const r = simulate(topo, 60e9, { seed: 1 });
  const wall = (performance.now() - t0) / 1e3;
  const req = r.requests[0];
  return [
    { name: "network.chain_1000_nodes_wall", value: wall, unit: "s" },
    { name: "network.chain_1000_nodes_events", value: r.events, unit: "events" },
    { name: "network.chain_1000_nodes_delivered", value: req.delivered, unit: "pairs" },
    { name: "network.chain_1000_nodes_simulated", value: r.simulated_time_s, unit: "s" },
    { name: "network.chain_1000_nodes_fidelity_mean", value: req.fidelity.mean, unit: "F" },
    { name: "network.chain_1000_nodes_events_per_s", value: r.events / wall, unit: "events/s" },
  ];
}

export const benches: Bench[] = [
  ...[2, 3, 5, 10, 20].map((n) => ({ name: `network.chain_${n}`, run: () => chainBench(n) })),
  { name: "network.chain_1000", run: longChainBench },
];
