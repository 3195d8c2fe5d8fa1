/**
 * Numeric flag values, checked the same way by every command: a plain finite number (or integer)
 * that satisfies the command's condition, or a UsageError (exit code 2) that says what was expected.
 */
import { UsageError } from "./errors.js";

/** A finite number meeting `ok`; `what` says what is expected, e.g. "a rate in Hz ≥ 0". */
export function numberFlag(text: string, flag: string, what: string, ok: (v: number) => boolean): number {
  const v = Number(text.trim());
  if (text.trim() === "" || !Number.isFinite(v) || !ok(v))
    throw new UsageError(`${flag}: expected ${what}, got '${text}'`);
  return v;
}

/** An integer meeting `ok`. */
export function integerFlag(text: string, flag: string, what: string, ok: (v: number) => boolean): number {
  return numberFlag(text, flag, what, (v) => Number.isInteger(v) && ok(v));
}

/** A TCP port from 0 (a free one) to `max`. */
export function portFlag(text: string, flag: string, max = 65535): number {
  return integerFlag(text, flag, `a TCP port from 0 to ${max}`, (v) => v >= 0 && v <= max);
}

/** A TCP port from 0 to `max`, or `off` (undefined). */
export function portOrOffFlag(text: string, flag: string, max = 65535): number | undefined {
  if (text === "off") return undefined;
  return integerFlag(text, flag, `a TCP port from 0 to ${max}, or off`, (v) => v >= 0 && v <= max);
}
