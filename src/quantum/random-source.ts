/**
 * The only thing the quantum engine needs from a random-number generator: uniform draws in [0, 1).
 * The simulation kernel's `Rng` satisfies it; the engine never creates randomness of its own.
 */
export interface RandomSource {
  random(): number;
}
