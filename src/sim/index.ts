/**
 * The discrete-event simulation kernel: the simulator loop with its event queue, and seeded random
 * streams.
 *
 * @module
 */

export { type EventId, MAX_PENDING_EVENTS } from "./event-queue.js";
export { Rng, type RngState, RngStreams } from "./rng.js";
export {
  type EventHandler,
  type RunOptions,
  type RunResult,
  Simulator,
  type SimulatorOptions,
  type StopReason,
  type TraceFn,
} from "./simulator.js";
