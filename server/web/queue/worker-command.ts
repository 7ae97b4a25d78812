/** `bnlab worker [--concurrency n]`: start a worker, print what it does, let go cleanly on Ctrl-C. */
import type { BnlabConfig } from '../../config.ts';
import { startWorker } from './worker.ts';

export async function runWorkerCommand(options: { config: BnlabConfig; redisUrl?: string; concurrency: string }): Promise<void> {
  if (!options.redisUrl) throw new Error('bnlab worker needs Redis: set BNLAB_REDIS_URL (e.g. redis://127.0.0.1:6379) or pass --redis <url>');
  const concurrency = Number(options.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) throw new Error(`--concurrency: '${options.concurrency}' is not a whole number from 1 to 64`);
  const env = process.env;
  const worker = await startWorker({
    config: options.config,
    redisUrl: options.redisUrl,
    concurrency,
    echoOutput: true,
    // tests shorten the takeover of a dead worker's task
    lockDurationMs: env.BNLAB_WORKER_LOCK_MS ? Number(env.BNLAB_WORKER_LOCK_MS) : undefined,
    stalledIntervalMs: env.BNLAB_WORKER_STALLED_MS ? Number(env.BNLAB_WORKER_STALLED_MS) : undefined,
    log: (line) => console.log(line),
  });
  console.log(`bnlab worker ${worker.name}: ${concurrency} at a time, checkpoints in ${options.config.checkpointsDir}, queue at ${options.redisUrl}`);
  let closing = false;
  const shutdown = async () => {
    if (closing) process.exit(1);
    closing = true;
    await worker.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown());
  process.on('SIGTERM', () => void shutdown());
}
