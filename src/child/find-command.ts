/** Finding executables the way execvp would, for the default server and for /readyz. */
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, isAbsolute, join, resolve } from 'node:path';

function isExecutableFile(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

export function findOnPath(name: string, pathVariable: string | undefined): string | undefined {
  return (pathVariable ?? '')
    .split(delimiter)
    .filter((dir) => dir !== '')
    .map((dir) => join(dir, name))
    .find(isExecutableFile);
}

/** A command with a slash is a path (relative to the child's cwd); a bare name is looked up in the child's PATH. */
export function commandIsRunnable(command: string, pathVariable: string | undefined, cwd: string | undefined): boolean {
  if (!command.includes('/')) return findOnPath(command, pathVariable) !== undefined;
  return isExecutableFile(isAbsolute(command) ? command : resolve(cwd ?? process.cwd(), command));
}
