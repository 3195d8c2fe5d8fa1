/**
 * The two kinds of user mistake the CLI reports without a stack trace. `main` prints either as
 * `error: <message>` and maps it to an exit code.
 */

/** A bad flag value: exit code 2, like commander's own usage errors. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** A problem with the user's files or input data (unreadable, invalid, unwritable): exit code 1. */
export class InputError extends Error {
  override name = "InputError";
}
