/**
 * `bnlab serve` / `npm start`: build the client if needed, start the dashboard server, print its
 * URL, and shut down cleanly (workers killed) on Ctrl-C.
 */
import type { BnlabConfig } from '../config.ts';
import { createServer } from './app.ts';
import { ensureClientBuilt } from './client-build.ts';

export const DEFAULT_PORT = 3000;

export interface DashboardOptions {
  config: BnlabConfig;
  host?: string;
  /** --port as typed; default env PORT, else 3000 */
  port?: string;
  token?: string | null;
}

/** The port to listen on: `--port`, else env PORT, else 3000; a clear refusal for anything else. */
export function resolvePort(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): number {
  const fromEnv = env.PORT !== undefined && env.PORT !== '';
  const text = flag ?? (fromEnv ? env.PORT! : String(DEFAULT_PORT));
  const source = flag !== undefined ? '--port' : fromEnv ? 'the PORT environment variable' : 'the default port';
  const port = /^\s*\d+\s*$/.test(text) ? Number(text) : NaN;
  if (!(port >= 0 && port <= 65535)) {
    throw new Error(`${source} must be a whole number from 0 to 65535 (0 = any free port), got '${text}'`);
  }
  return port;
}

export async function startDashboard(options: DashboardOptions): Promise<void> {
  const token = options.token ?? process.env.BNLAB_TOKEN ?? null;
  const port = resolvePort(options.port);
  // Refuse an unsafe binding before spending time on a build.
  const cap = (name: string) => {
    const value = process.env[name];
    if (value === undefined || value === '') return undefined;
    if (!/^\d+$/.test(value) || Number(value) < 1) throw new Error(`${name}: '${value}' is not a whole number >= 1`);
    return Number(value);
  };
  const queue = { echoWorkerOutput: true, maxQueued: cap('BNLAB_MAX_QUEUED'), maxQueuedPerClient: cap('BNLAB_MAX_QUEUED_PER_CLIENT') };
  const server = createServer({ ...options, port, token, queue });
  for (const warning of server.warnings) console.warn(`bnlab: warning: ${warning}`);
  await ensureClientBuilt();
  const { openUrl, networkUrls } = await server.listen();
  console.log(`bnlab dashboard: ${openUrl}`);
  for (const url of networkUrls) console.log(`  from other machines: ${url}`);
  console.log(`queue: ${server.queue.engineName}${server.queue.engineName === 'redis' ? ' (BNLAB_REDIS_URL; start workers with: bnlab worker)' : ' (runs here, one at a time)'}`);
  console.log('Open it in a browser and click "Run the demo comparison". Ctrl-C stops the server.');
  let closing = false;
  const shutdown = async () => {
    if (closing) process.exit(1);
    closing = true;
    await server.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown());
  process.on('SIGTERM', () => void shutdown());
}
