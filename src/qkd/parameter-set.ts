/**
 * Versioned QKD parameter sets (seed failure F5: parameters that drift or differ between the two ends
 * must be traceable). Every key block records the version and fingerprint of the set it was made
 * with, so a key can always be traced to the exact intensities, security parameters and
 * reconciliation settings behind it, and two ends with different sets can be told apart.
 */
import type { CascadeVariant } from "./cascade.js";

/** Everything both ends of a decoy-state BB84 link must agree on. */
export interface QkdParameterSet {
  /** A label people use for this set, e.g. "metro-2026-11". Required, non-empty. */
  version: string;
  /**
   * Mean photon numbers [signal μ1, weak decoy μ2, vacuum or weakest decoy μ3], photons per pulse, with
   * μ1 > μ2 + μ3 and μ2 > μ3 ≥ 0 (Lim et al., PRA 89, 022307, 2014). Default [0.5, 0.1, 0.0002].
   */
  intensities: readonly [number, number, number];
  /** Probabilities of the three intensities, summing to 1. Default [0.6, 0.2, 0.2]. */
  intensityProbabilities: readonly [number, number, number];
  /**
   * Probability that Alice prepares, and Bob measures, in the key basis Z. Default 0.7: a stronger bias
   * sifts more key but leaves the test basis too few decoy counts for a useful finite-key bound at the
   * default block size.
   */
  keyBasisProbability: number;
  /** Sifted key-basis bits per post-processing block (the finite-key block n_Z). Default 1,000,000. */
  blockBits: number;
  /** Secrecy parameter ε_sec. Default 1e-10. */
  epsSec: number;
  /** Correctness parameter ε_cor: also the collision bound of error verification. Default 1e-15. */
  epsCor: number;
  /** Cascade parameter set. Default "optimized". */
  cascade: CascadeVariant;
  /**
   * Least bits of the error-verification tag, a multiple of 32 in [32, 256]; a block long enough to need
   * more for `epsCor` gets more. Default 64.
   */
  verificationTagBits: number;
  /** Bits of each Wegman–Carter authentication tag, a multiple of 32 in [32, 256]. Default 64. */
  authenticationTagBits: number;
}

/** The defaults of {@link QkdParameterSet}. */
export const DEFAULT_QKD_PARAMETERS: Readonly<QkdParameterSet> = Object.freeze({
  version: "default-1",
  intensities: [0.5, 0.1, 0.0002] as const,
  intensityProbabilities: [0.6, 0.2, 0.2] as const,
  keyBasisProbability: 0.7,
  blockBits: 1_000_000,
  epsSec: 1e-10,
  epsCor: 1e-15,
  cascade: "optimized" as CascadeVariant,
  verificationTagBits: 64,
  authenticationTagBits: 64,
});

/** The defaults with `overrides` applied, checked: a RangeError names the first bad field. */
export function resolveQkdParameters(overrides: Partial<QkdParameterSet> = {}): QkdParameterSet {
  const p: QkdParameterSet = { ...DEFAULT_QKD_PARAMETERS, ...overrides };
  const bad = (field: string, want: string, got: unknown): never => {
    throw new RangeError(`QKD parameter set: ${field} must be ${want}, got ${JSON.stringify(got)}`);
  };
  if (typeof p.version !== "string" || p.version.trim() === "")
    bad("version", "a non-empty string", p.version);
  const [m1, m2, m3] = p.intensities;
  if (!(p.intensities.length === 3 && m3 >= 0 && m2 > m3 && m1 > m2 + m3 && Number.isFinite(m1)))
    bad("intensities", "[μ1, μ2, μ3] with μ1 > μ2 + μ3 and μ2 > μ3 ≥ 0", p.intensities);
  const probs = p.intensityProbabilities;
  if (
    !(
      probs.length === 3 &&
      probs.every((x) => x > 0 && x <= 1) &&
      Math.abs(probs[0] + probs[1] + probs[2] - 1) < 1e-9
    )
  )
    bad("intensityProbabilities", "three probabilities in (0, 1] summing to 1", probs);
  if (!(p.keyBasisProbability > 0 && p.keyBasisProbability < 1))
    bad("keyBasisProbability", "in (0, 1)", p.keyBasisProbability);
  if (!(Number.isSafeInteger(p.blockBits) && p.blockBits >= 1000))
    bad("blockBits", "an integer ≥ 1000", p.blockBits);
  if (!(p.epsSec > 0 && p.epsSec < 1)) bad("epsSec", "in (0, 1)", p.epsSec);
  if (!(p.epsCor > 0 && p.epsCor < 1)) bad("epsCor", "in (0, 1)", p.epsCor);
  if (p.cascade !== "original" && p.cascade !== "optimized")
    bad("cascade", "original or optimized", p.cascade);
  for (const k of ["verificationTagBits", "authenticationTagBits"] as const)
    if (!(Number.isSafeInteger(p[k]) && p[k] >= 32 && p[k] <= 256 && p[k] % 32 === 0))
      bad(k, "a multiple of 32 in [32, 256]", p[k]);
  return p;
}

/**
 * A fingerprint of the set's contents (version included): 16 hex digits of a 64-bit FNV-1a hash of
 * its canonical JSON. It tells sets apart; it is not a cryptographic commitment.
 */
export function parameterSetFingerprint(p: QkdParameterSet): string {
  return fnv1a64(JSON.stringify(p, Object.keys(p).sort()));
}

/**
 * 64-bit FNV-1a of a string's UTF-16 code units (each as its low byte, then its high byte when
 * non-zero; ASCII text hashes as its bytes), as 16 hex digits.
 */
export function fnv1a64(text: string): string {
  // Offset basis 0xcbf29ce484222325 in two 32-bit halves.
  let hi = 0xcbf29ce4;
  let lo = 0x84222325;
  const step = (byte: number): void => {
    lo = (lo ^ byte) >>> 0;
    // (hi·2^32 + lo) · (2^40 + 0x1b3) mod 2^64; every product below is exact in a double.
    const loTimes = lo * 0x1b3;
    const carry = Math.floor(loTimes / 0x100000000);
    hi = (hi * 0x1b3 + carry + ((lo << 8) >>> 0)) >>> 0;
    lo = loTimes >>> 0;
  };
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    step(c & 0xff);
    if (c > 0xff) step(c >>> 8);
  }
  return hi.toString(16).padStart(8, "0") + lo.toString(16).padStart(8, "0");
}
