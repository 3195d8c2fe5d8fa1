/**
 * Quantities with units as they are written in topology files: durations ("5 ms", "2.5 µs"; a bare
 * number is seconds), rates ("2 kHz"; a bare number is hertz), lengths ("500 m"; a bare number is km)
 * and probabilities (a number in [0, 1] or a percentage such as "90 %"). Each parser returns the value
 * in the unit the model uses (ns, Hz, km, fraction) or throws a {@link UnitError} that says what is
 * accepted.
 *
 * Scaling goes through the decimal text ("0.067 s" → Number("0.067e9")) rather than a float multiply, so
 * "0.067 s" is exactly 67000000 ns and not 67000000.00000001.
 */

/** A value that could not be read as the quantity expected. */
export class UnitError extends Error {
  /** The field the value was given for, as passed to the parser (e.g. `links[2].attempt_duration`). */
  readonly field: string;
  /** What is wrong and what is accepted, without the field name (the message prefixes the field). */
  readonly reason: string;

  constructor(field: string, reason: string) {
    super(field === "" ? reason : `${field}: ${reason}`);
    this.name = "UnitError";
    this.field = field;
    this.reason = reason;
  }
}

/** Duration units and their size as a power of ten of nanoseconds, or a factor for min and h. */
const DURATION_UNITS: Readonly<Record<string, { pow10: number; factor: number }>> = {
  ns: { pow10: 0, factor: 1 },
  us: { pow10: 3, factor: 1 },
  µs: { pow10: 3, factor: 1 }, // U+00B5 MICRO SIGN
  μs: { pow10: 3, factor: 1 }, // U+03BC GREEK SMALL LETTER MU, what many keyboards produce
  ms: { pow10: 6, factor: 1 },
  s: { pow10: 9, factor: 1 },
  min: { pow10: 9, factor: 60 },
  h: { pow10: 9, factor: 3600 },
};

/** Rate units as powers of ten of hertz. */
const RATE_UNITS: Readonly<Record<string, number>> = { Hz: 0, kHz: 3, MHz: 6, GHz: 9 };

/** Length units as powers of ten of kilometres. */
const LENGTH_UNITS: Readonly<Record<string, number>> = { km: 0, m: -3 };

/** The duration units accepted, in the order messages list them. */
export const ACCEPTED_DURATION_UNITS: readonly string[] = ["ns", "us", "µs", "ms", "s", "min", "h"];
/** The rate units accepted. */
export const ACCEPTED_RATE_UNITS: readonly string[] = Object.keys(RATE_UNITS);
/** The length units accepted. */
export const ACCEPTED_LENGTH_UNITS: readonly string[] = Object.keys(LENGTH_UNITS);

/** Words that mean "no limit" for quantities that may be infinite (a cutoff of none, T1 of inf). */
const INFINITY_WORDS = new Set(["inf", "infinity", "none", "unlimited"]);

/** Options shared by the parsers of quantities with units. */
export interface QuantityOptions {
  /**
   * Accept "inf", "infinity", "none", "unlimited", YAML `.inf` and `null` as `Infinity` (e.g. a cutoff of
   * none). Default false.
   */
  infinity?: boolean;
  /** Reject 0 (e.g. an attempt duration or a fiber length must be positive). Default false. */
  positive?: boolean;
}

const NUMBER_TEXT = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
const QUANTITY_TEXT = /^([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*(\S.*)?$/;

/** `text × 10^pow10`, rounded once from the decimal text. */
function scaleDecimal(text: string, pow10: number): number {
  const m = /^([+-]?[\d.]+)(?:[eE]([+-]?\d+))?$/.exec(text);
  if (m === null) return Number(text) * 10 ** pow10;
  return Number(`${m[1]}e${Number(m[2] ?? 0) + pow10}`);
}

function describe(value: unknown): string {
  if (typeof value === "string") return `'${value}'`;
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  return String(value);
}

/** The accepted unit whose spelling differs from `unit` only in case, e.g. "khz" → "kHz". */
function caseSuggestion(unit: string, accepted: readonly string[]): string | undefined {
  const lower = unit.toLowerCase();
  const matches = accepted.filter((u) => u.toLowerCase() === lower);
  return matches.length === 1 ? matches[0] : undefined;
}

interface QuantityKind {
  /** e.g. "a duration". */
  what: string;
  /** An example for messages, e.g. `"5 ms"`. */
  example: string;
  /** What a bare number means, e.g. "seconds". */
  bare: string;
  accepted: readonly string[];
  /** Scale a decimal number text given with `unit` (undefined: a bare number) to the model unit. */
  scale(text: string, unit: string | undefined): number | undefined;
}

function parseQuantity(value: unknown, field: string, kind: QuantityKind, options: QuantityOptions): number {
  const allowed = `${kind.what} such as "${kind.example}" (units: ${kind.accepted.join(", ")}; a bare number is ${kind.bare})`;
  let result: number;
  if (value === null || value === undefined) {
    if (options.infinity) return Number.POSITIVE_INFINITY;
    throw new UnitError(field, `a value is required: ${allowed}`);
  }
  if (typeof value === "number") {
    if (Number.isNaN(value)) throw new UnitError(field, `NaN is not a number; expected ${allowed}`);
    result = Number.isFinite(value) ? (kind.scale(String(value), undefined) ?? value) : value;
  } else if (typeof value === "string") {
    const text = value.trim();
    if (INFINITY_WORDS.has(text.toLowerCase())) {
      if (options.infinity) return Number.POSITIVE_INFINITY;
      throw new UnitError(
        field,
        `'${value}' is not allowed here: this field needs a finite value, ${allowed}`,
      );
    }
    const m = QUANTITY_TEXT.exec(text);
    if (m === null) throw new UnitError(field, `'${value}' is not ${allowed}`);
    const [, num, unit] = m;
    const scaled = kind.scale(num, unit);
    if (scaled === undefined) {
      const hint = caseSuggestion(unit, kind.accepted);
      throw new UnitError(
        field,
        `unknown unit '${unit}' in '${value}'; ${hint ? `did you mean '${hint}'? ` : ""}accepted units: ${kind.accepted.join(", ")} (a bare number is ${kind.bare})`,
      );
    }
    result = scaled;
  } else {
    throw new UnitError(field, `${describe(value)} is not ${allowed}`);
  }
  if (result < 0) throw new UnitError(field, `${describe(value)} is negative; it must be 0 or more`);
  if (result === Number.POSITIVE_INFINITY && !options.infinity)
    throw new UnitError(field, `${describe(value)} is not allowed here: this field needs a finite value`);
  if (result === 0) {
    if (options.positive)
      throw new UnitError(field, `${describe(value)} is not allowed: it must be greater than 0`);
    return 0; // also turns -0 into 0
  }
  return result;
}

const DURATION: QuantityKind = {
  what: "a duration",
  example: "5 ms",
  bare: "seconds",
  accepted: ACCEPTED_DURATION_UNITS,
  scale(text, unit) {
    if (unit !== undefined && !Object.hasOwn(DURATION_UNITS, unit)) return undefined;
    const u = DURATION_UNITS[unit ?? "s"];
    return scaleDecimal(text, u.pow10) * u.factor;
  },
};

const RATE: QuantityKind = {
  what: "a rate",
  example: "2 kHz",
  bare: "hertz",
  accepted: ACCEPTED_RATE_UNITS,
  scale(text, unit) {
    if (unit !== undefined && !Object.hasOwn(RATE_UNITS, unit)) return undefined;
    return scaleDecimal(text, RATE_UNITS[unit ?? "Hz"]);
  },
};

const LENGTH: QuantityKind = {
  what: "a length",
  example: "2.5 km",
  bare: "kilometres",
  accepted: ACCEPTED_LENGTH_UNITS,
  scale(text, unit) {
    if (unit !== undefined && !Object.hasOwn(LENGTH_UNITS, unit)) return undefined;
    return scaleDecimal(text, LENGTH_UNITS[unit ?? "km"]);
  },
};

/**
 * Reads a duration and returns it in nanoseconds: a number is seconds; a string is a number and one of
 * the units ns, us, µs (or μs), ms, s, min, h, with or without a space ("5 ms", "5ms", "1e-3 s").
 *
 * @param value - the value as written in the file (number, string, or null for "none").
 * @param field - the field name used in the error message, e.g. `nodes[0].cutoff`.
 * @param options - `infinity` (default false) to accept "inf"/"none"/null; `positive` (default false) to reject 0.
 * @returns the duration in ns.
 * @throws {@link UnitError} when the value is not a non-negative duration in an accepted unit.
 */
export function parseDurationNs(value: unknown, field: string, options: QuantityOptions = {}): number {
  return parseQuantity(value, field, DURATION, options);
}

/**
 * Reads a rate and returns it in hertz: a number is hertz; a string is a number and one of Hz, kHz,
 * MHz, GHz ("2 kHz", "80MHz"). Unit case matters (mHz would be millihertz), so "khz" is refused with a
 * suggestion.
 *
 * @param value - the value as written in the file.
 * @param field - the field name used in the error message.
 * @param options - `infinity` (default false) to accept "inf"/"none"/null; `positive` (default false) to reject 0.
 * @returns the rate in Hz.
 * @throws {@link UnitError} when the value is not a non-negative rate in an accepted unit.
 */
export function parseRateHz(value: unknown, field: string, options: QuantityOptions = {}): number {
  return parseQuantity(value, field, RATE, options);
}

/**
 * Reads a length and returns it in kilometres: a number is km; a string is a number and km or m
 * ("2 km", "500 m").
 *
 * @param value - the value as written in the file.
 * @param field - the field name used in the error message.
 * @param options - `positive` (default false) to reject 0; `infinity` (default false).
 * @returns the length in km.
 * @throws {@link UnitError} when the value is not a non-negative length in an accepted unit.
 */
export function parseLengthKm(value: unknown, field: string, options: QuantityOptions = {}): number {
  return parseQuantity(value, field, LENGTH, options);
}

/** Options of {@link parseProbability}. */
export interface ProbabilityOptions {
  /** Accept 0. Default true. */
  allowZero?: boolean;
  /** Accept 1 (e.g. a message-loss probability of 1 would never deliver). Default true. */
  allowOne?: boolean;
}

/**
 * Reads a probability or fraction: a number in [0, 1] or a percentage string such as "90 %" or "90%".
 *
 * @param value - the value as written in the file.
 * @param field - the field name used in the error message.
 * @param options - `allowZero` (default true), `allowOne` (default true).
 * @returns the probability in [0, 1].
 * @throws {@link UnitError} when the value is not a number or percentage in the allowed range.
 */
export function parseProbability(value: unknown, field: string, options: ProbabilityOptions = {}): number {
  const allowZero = options.allowZero ?? true;
  const allowOne = options.allowOne ?? true;
  const range = `${allowZero ? "[" : "("}0, 1${allowOne ? "]" : ")"}`;
  const allowed = `a probability in ${range} (a number such as 0.9, or a percentage such as "90 %")`;
  let p: number;
  if (typeof value === "number") {
    p = value;
  } else if (typeof value === "string") {
    const text = value.trim();
    const m = /^(.*?)\s*%$/.exec(text);
    // A quoted plain number is refused like any other string: only a percentage needs the quotes.
    if (m !== null && NUMBER_TEXT.test(m[1])) p = scaleDecimal(m[1], -2);
    else throw new UnitError(field, `'${value}' is not ${allowed}`);
  } else {
    throw new UnitError(field, `${describe(value)} is not ${allowed}`);
  }
  if (Number.isNaN(p) || p < 0 || p > 1 || (p === 0 && !allowZero) || (p === 1 && !allowOne))
    throw new UnitError(field, `${describe(value)} is out of range; expected ${allowed}`);
  return p;
}

/** Options of {@link parseNumber}. */
export interface NumberOptions {
  /** Smallest value accepted. Default: no bound. */
  min?: number;
  /** Reject `min` itself (a strict lower bound). Default false. */
  exclusiveMin?: boolean;
  /** Largest value accepted. Default: no bound. */
  max?: number;
  /** Accept only integers. Default false. */
  integer?: boolean;
}

/**
 * Reads a plain number without units (a group index, an attenuation in dB/km, a count of qubits).
 * Strings are refused: a quoted number is most likely a mistake in a field that takes no unit.
 *
 * @param value - the value as written in the file.
 * @param field - the field name used in the error message.
 * @param options - bounds and integrality; see {@link NumberOptions}.
 * @returns the number.
 * @throws {@link UnitError} when the value is not a finite number within the bounds.
 */
export function parseNumber(value: unknown, field: string, options: NumberOptions = {}): number {
  const { min, max, exclusiveMin = false, integer = false } = options;
  const parts: string[] = [integer ? "an integer" : "a number"];
  if (min !== undefined) parts.push(exclusiveMin ? `greater than ${min}` : `≥ ${min}`);
  if (max !== undefined) parts.push(`≤ ${max}`);
  const allowed = parts.join(" ");
  if (typeof value !== "number" || !Number.isFinite(value))
    throw new UnitError(field, `${describe(value)} is not ${allowed}`);
  if (integer && !Number.isInteger(value)) throw new UnitError(field, `${value} is not ${allowed}`);
  if (
    (min !== undefined && (value < min || (exclusiveMin && value === min))) ||
    (max !== undefined && value > max)
  )
    throw new UnitError(field, `${value} is out of range; expected ${allowed}`);
  return value;
}
