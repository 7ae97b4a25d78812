/**
 * Make sure the dashboard client is built before the server serves it, so `npm start` is all a user
 * runs: build client/ → client/dist with Vite when dist is missing or older than any client source
 * (after a `git pull`, say). Vite is loaded only when a build is needed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../config.ts';

export const CLIENT_DIR = path.join(PROJECT_ROOT, 'client');
/** the only server code the client imports (the dependency rule) */
const SHARED_SCHEMA_DIR = path.join(PROJECT_ROOT, 'server', 'schema');

function newestSourceMs(dir: string): number {
  let newest = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'dist' || entry.name === 'node_modules') continue;
    const full = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestSourceMs(full) : fs.statSync(full).mtimeMs);
  }
  return newest;
}

/** True when client/dist/index.html is missing or older than a client source file. */
export function clientBuildIsStale(clientDir = CLIENT_DIR): boolean {
  const index = path.join(clientDir, 'dist', 'index.html');
  if (!fs.existsSync(index)) return true;
  const built = fs.statSync(index).mtimeMs;
  const sources = Math.max(newestSourceMs(clientDir), fs.existsSync(SHARED_SCHEMA_DIR) ? newestSourceMs(SHARED_SCHEMA_DIR) : 0);
  return sources > built;
}

/** Build the client if needed; returns whether it built. */
export async function ensureClientBuilt({ log = console.error }: { log?: (line: string) => void } = {}): Promise<boolean> {
  if (!clientBuildIsStale()) return false;
  log('building the dashboard client (vite build)…');
  const { build } = await import('vite');
  await build({ configFile: path.join(PROJECT_ROOT, 'vite.config.ts'), logLevel: 'warn' });
  return true;
}
