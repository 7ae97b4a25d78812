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
  const server = createServer({ ...options, token, queue: { echoWorkerOutput: true } });
  await ensureClientBuilt();
  const { openUrl } = await server.listen();
  console.log(`bnlab dashboard: ${openUrl}`);
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
