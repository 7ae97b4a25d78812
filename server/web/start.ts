/**
 * `bnlab serve` / `npm start`: build the client if needed, start the dashboard server, print its
 * URL, and shut down cleanly (workers killed) on Ctrl-C.
 */
import type { BnlabConfig } from '../config.ts';
import { createServer } from './app.ts';
import { ensureClientBuilt } from './client-build.ts';

export interface DashboardOptions {
  config: BnlabConfig;
  host?: string;
  port?: number;
  token?: string | null;
}

export async function startDashboard(options: DashboardOptions): Promise<void> {
  const token = options.token ?? process.env.BNLAB_TOKEN ?? null;
  // Refuse an unsafe binding before spending time on a build.
  const cap = (name: string) => {
    const value = process.env[name];
    if (value === undefined || value === '') return undefined;
    if (!/^\d+$/.test(value) || Number(value) < 1) throw new Error(`${name}: '${value}' is not a whole number >= 1`);
    return Number(value);
  };
  const queue = { echoWorkerOutput: true, maxQueued: cap('BNLAB_MAX_QUEUED'), maxQueuedPerClient: cap('BNLAB_MAX_QUEUED_PER_CLIENT') };
  const server = createServer({ ...options, token, queue });
  await ensureClientBuilt();
  const { openUrl } = await server.listen();
  console.log(`bnlab dashboard: ${openUrl}`);
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
