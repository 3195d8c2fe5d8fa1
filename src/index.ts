/**
 * qnet's public API: the quantum-state engine and the discrete-event kernel.
 *
 * @module
 */

export {
  type RepeaterLineDemoOptions,
  type RepeaterLineDemoResult,
  runRepeaterLineDemo,
} from "./network/repeater-line-demo.js";
export * from "./quantum/index.js";
export * from "./sim/index.js";
