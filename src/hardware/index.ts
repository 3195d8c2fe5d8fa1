/**
 * Hardware models: fiber, heralded entanglement generation at a midpoint station, memory decoherence and
 * swap noise. Pure functions of the validated topology (src/network/topology.ts).
 *
 * @module
 */

export {
  DEFAULT_ATTENUATION_DB_PER_KM,
  DEFAULT_GROUP_INDEX,
  fiberDelayNs,
  fiberDelayNsPerKm,
  fiberTransmission,
  SPEED_OF_LIGHT_KM_PER_S,
} from "./fiber.js";
export {
  darkCountProbability,
  type HeraldingParameters,
  heraldedPair,
  heraldingParameters,
  type LinkAttemptModel,
  linkAttemptModel,
  multiplexedSuccessProbability,
  pairRateHz,
} from "./heralding.js";
export {
  HERALD_FAILURE,
  sampleAttemptsToSuccess,
  sampleHeraldingAttempt,
  sampleHeraldTimeNs,
} from "./heralding-sampler.js";
export { decayPair, memoryPauliChannel } from "./memory.js";
export { swapNoise } from "./swap-noise.js";
