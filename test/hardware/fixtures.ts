import type { MemorySpec, NodeSpec, PhysicalLinkSpec } from "../../src/network/topology.js";

/** A physical link with the topology defaults (src/network/topology.ts), overridden as given. */
export function physicalLink(overrides: Partial<PhysicalLinkSpec> = {}): PhysicalLinkSpec {
  return {
    kind: "physical",
    lengthKm: 10,
    attenuationDbPerKm: 0.2,
    groupIndex: 1.4682,
    heralding: "double-click",
    sourceRateHz: Number.POSITIVE_INFINITY,
    detectorEfficiency: 0.9,
    darkCountRateHz: 0,
    detectionWindowNs: 1,
    brightStatePopulation: 0.1,
    multiplexingModes: 1,
    sourceFidelity: 1,
    ...overrides,
  };
}

/** A memory with the topology defaults (perfect), overridden as given. */
export function memory(overrides: Partial<MemorySpec> = {}): MemorySpec {
  return {
    qubits: 2,
    t1Ns: Number.POSITIVE_INFINITY,
    t2Ns: Number.POSITIVE_INFINITY,
    depolarizingTimeNs: Number.POSITIVE_INFINITY,
    efficiency: 1,
    ...overrides,
  };
}

/** A node with the topology defaults, overridden as given. */
export function node(overrides: Partial<NodeSpec> = {}): NodeSpec {
  return {
    id: "n",
    type: "repeater",
    memory: memory(),
    gateFidelity: 1,
    measurementFidelity: 1,
    swapSuccessProbability: 1,
    processingDelayNs: 0,
    cutoffNs: Number.POSITIVE_INFINITY,
    ...overrides,
  };
}
