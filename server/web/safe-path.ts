/**
 * Resolve a path that came from a request so that it can only name something inside the allowed
 * roots. Three layers, each closing a different hole:
 *   1. lexical: no NUL, no `..` segment, no percent-encoded dot/slash/backslash (a second decode
 *      somewhere downstream must not be able to turn `%2e%2e%2f` into `../`);
 *   2. the resolved absolute path must lie under a root;
 *   3. its realpath must too, so a symlink inside a root cannot lead outside it.
 */
import fs from 'node:fs/promises';
import path from 'node:path';

export class PathOutsideRootsError extends Error {
  constructor(
    message: string,
    readonly input: string,
  ) {
    super(message);
    this.name = 'PathOutsideRootsError';
  }
}

export interface ResolvedPath {
  /** Real absolute path (symlinks resolved). */
  real: string;
  /** Real path of the root that contains it. */
  root: string;
}

const ENCODED_TRAVERSAL = /%(2e|2f|5c|00)/i;

/** True when `child` is `parent` or lies below it (both absolute and normalised). */
export function isInside(child: string, parent: string): boolean {
  const relative = path.relative(parent, child);
  return relative === '' || (!relative.startsWith('..') && !path.isAbsolute(relative));
}

/** Real paths of the roots that exist; a missing root simply offers nothing. */
export async function realRoots(roots: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const root of roots) {
    try {
      out.push(await fs.realpath(root));
    } catch {
      // not there (yet): nothing inside it can be listed or read
    }
  }
  return [...new Set(out)];
}

/**
 * Resolve `input` (absolute, or relative to `base`) to a real path inside one of `roots`.
 * With `allowMissing`, a path that does not exist yet is accepted when its nearest existing
 * ancestor is inside a root (for folders the server is about to create, like the demo data).
 * Throws PathOutsideRootsError with a sentence a user can act on.
 */
export async function resolveInsideRoots(
  input: string,
  roots: string[],
  base: string,
  { allowMissing = false }: { allowMissing?: boolean } = {},
): Promise<ResolvedPath> {
  if (input.includes('\0')) throw new PathOutsideRootsError('path contains a NUL byte', input);
  if (ENCODED_TRAVERSAL.test(input)) {
    throw new PathOutsideRootsError('path contains a percent-encoded dot, slash or NUL; send it decoded', input);
  }
  if (input.split(/[\\/]+/).includes('..')) {
    throw new PathOutsideRootsError("path contains a '..' segment; give a folder inside the data roots", input);
  }
  const absolute = path.resolve(base, input);
  const allowed = await realRoots(roots);
  const lexicalRoots = roots.map((r) => path.resolve(r));
  if (!lexicalRoots.some((r) => isInside(absolute, r)) && !allowed.some((r) => isInside(absolute, r))) {
    throw new PathOutsideRootsError(`path is outside the data roots (${roots.join(', ')})`, input);
  }
  const real = await realpathAllowingMissing(absolute, allowMissing, input);
  const root = allowed.find((r) => isInside(real, r));
  if (!root) {
    throw new PathOutsideRootsError('path leads outside the data roots through a symbolic link', input);
  }
  return { real, root };
}

async function realpathAllowingMissing(absolute: string, allowMissing: boolean, input: string): Promise<string> {
  try {
    return await fs.realpath(absolute);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new PathOutsideRootsError(`path cannot be read (${(error as NodeJS.ErrnoException).code})`, input);
    }
    if (!allowMissing) throw new PathOutsideRootsError('no such folder', input);
  }
  // Walk up to the nearest existing ancestor, resolve it, and re-append the missing tail.
  let existing = path.dirname(absolute);
  const tail = [path.basename(absolute)];
  for (;;) {
    try {
      const real = await fs.realpath(existing);
      return path.join(real, ...tail.reverse());
    } catch {
      const parent = path.dirname(existing);
      if (parent === existing) throw new PathOutsideRootsError('no such folder', input);
      tail.push(path.basename(existing));
      existing = parent;
    }
  }
}
