/**
 * Optical fiber: loss and light travel time.
 *
 * Loss is exponential in length: a fiber of length L with attenuation α dB/km transmits a fraction
 * 10^(−α·L/10) of the photons sent into it. Light travels at the group velocity c/n_g, so a length L takes
 * L·n_g/c. With the standard single-mode fiber group index n_g = 1.4682 that is 4.897 µs/km
 * (shared/reference/physics.md, "Constants and hardware").
 *
 * @module
 */

/** Speed of light in vacuum, in km/s (exact, by the SI definition of the metre). */
export const SPEED_OF_LIGHT_KM_PER_S = 299_792.458;

/** Group index of standard single-mode fiber (SMF-28 at 1550 nm); the topology default. */
export const DEFAULT_GROUP_INDEX = 1.4682;

/** Typical attenuation of telecom fiber at 1550 nm, in dB/km (ultra-low-loss fiber: 0.16); the topology default. */
export const DEFAULT_ATTENUATION_DB_PER_KM = 0.2;

const NS_PER_S = 1e9;

/**
 * Fraction of photons that survive a fiber: 10^(−α·L/10).
 * @param lengthKm - fiber length in km, finite and ≥ 0.
 * @param attenuationDbPerKm - attenuation α in dB/km, finite and ≥ 0 (default 0.2).
 * @returns the transmission in [0, 1]; 1 for a zero length.
 */
export function fiberTransmission(
  lengthKm: number,
  attenuationDbPerKm: number = DEFAULT_ATTENUATION_DB_PER_KM,
): number {
  checkLength(lengthKm);
  if (!(attenuationDbPerKm >= 0 && Number.isFinite(attenuationDbPerKm)))
    throw new RangeError(`fiber attenuation must be a finite number ≥ 0 dB/km, got ${attenuationDbPerKm}`);
  return 10 ** ((-attenuationDbPerKm * lengthKm) / 10);
}

/**
 * Time light takes through a fiber, in ns: L·n_g/c (1.4682 → 4.897 µs/km).
 * @param lengthKm - fiber length in km, finite and ≥ 0.
 * @param groupIndex - group index n_g, finite and ≥ 1 (default 1.4682).
 */
export function fiberDelayNs(lengthKm: number, groupIndex: number = DEFAULT_GROUP_INDEX): number {
  checkLength(lengthKm);
  checkGroupIndex(groupIndex);
  return (lengthKm * groupIndex * NS_PER_S) / SPEED_OF_LIGHT_KM_PER_S;
}

/** Light travel time per km of fiber, in ns/km: n_g/c (1.4682 → 4897 ns/km). */
export function fiberDelayNsPerKm(groupIndex: number = DEFAULT_GROUP_INDEX): number {
  checkGroupIndex(groupIndex);
  return (groupIndex * NS_PER_S) / SPEED_OF_LIGHT_KM_PER_S;
}

function checkLength(lengthKm: number): void {
  if (!(lengthKm >= 0 && Number.isFinite(lengthKm)))
    throw new RangeError(`fiber length must be a finite number ≥ 0 km, got ${lengthKm}`);
}

function checkGroupIndex(groupIndex: number): void {
  if (!(groupIndex >= 1 && Number.isFinite(groupIndex)))
    throw new RangeError(
      `fiber group index must be a finite number ≥ 1 (light is not faster than c), got ${groupIndex}`,
    );
}
