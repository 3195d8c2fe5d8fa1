/**
 * Where this installation of qnet lives: the nearest directory above this module that holds a
 * package.json (the repository when run from source or from dist/, the package when installed). Its
 * examples/ and web/ ship with it.
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The installation's root directory, or undefined when no package.json is found above this module. */
export function installationRoot(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json"))) {
    const up = dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
  return dir;
}

/** A path inside the installation (relative to the filesystem root when none is found). */
export function installationPath(...parts: string[]): string {
  return join(installationRoot() ?? "/", ...parts);
}
