/**
 * qnet's public API: the quantum-state engine, the discrete-event kernel, network topologies and their
 * simulation, and the QKD stack.
 *
 * @module
 */

export {
  type RepeaterLineDemoOptions,
  type RepeaterLineDemoResult,
  runRepeaterLineDemo,
} from "./network/repeater-line-demo.js";
export {
  NetworkSimulation,
  type SimulationOptions,
  type SimulationReport,
  simulate,
} from "./network/simulation.js";
export type * from "./network/topology.js";
export { parseRequests, parseTopology, TopologyError } from "./network/topology-loader.js";
export { Bb84Link, type Bb84Params, bb84Model, simulateBb84 } from "./qkd/bb84.js";
export { runBbm92OverNetwork } from "./qkd/bbm92-network.js";
export { reconcileCascade } from "./qkd/cascade.js";
export { finiteKeyLength } from "./qkd/decoy-estimation.js";
export { keyRate, keyRateCurve } from "./qkd/key-rate.js";
export { DEFAULT_QKD_PARAMETERS, type QkdParameterSet } from "./qkd/parameter-set.js";
export { type KeyBlock, QkdSession, type QkdSessionOptions } from "./qkd/pipeline.js";
export { toeplitzHash } from "./qkd/privacy-amplification.js";
export * from "./quantum/index.js";
export * from "./sim/index.js";
