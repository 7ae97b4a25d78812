/**
 * `bnlab worker`: takes tasks from the BullMQ queue (BNLAB_REDIS_URL) and runs each in its own
 * child process through the same code the embedded engine uses (task-runner.ts), so a CPU-bound
 * training step never blocks this process's event loop and BullMQ's lock renewal. What the run
 * reports goes to the task's Redis stream (redis-protocol.ts), in order.
 *
 * At-least-once: a worker that dies loses its lock; BullMQ's stalled check (any worker) puts the
 * task back and another worker takes it, with `--resume` semantics (the run lock and the
 * checkpoints make that a resume or a no-op, never a duplicate). Ctrl-C lets go the same way.
 * Every worker needs the same checkpoints folder (shared storage) and data paths as the dashboard.
 */
import os from 'node:os';
import { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { BnlabConfig } from '../../config.ts';
import { CANCEL_CHANNEL, cancelledKey, entryFields, QUEUE_NAME, redisClient, redisUnreachable, STREAM_MAX_ENTRIES, STREAM_TTL_SECONDS, streamKey, type StreamEntry } from './redis-protocol.ts';
import type { QueueTask, TaskOutcome } from './task.ts';
import { runTask, type RunningTask, type TaskRunnerOptions } from './task-runner.ts';

export interface WorkerOptions extends TaskRunnerOptions {
  config: BnlabConfig;
  redisUrl: string;
  /** Tasks (child processes) at once; default 1: training uses every core. */
  concurrency?: number;
  /** BullMQ lock: a dead worker's task is taken over after about this long (default 30 s). */
  lockDurationMs?: number;
  /** How often this worker looks for other workers' stalled tasks (default 30 s). */
  stalledIntervalMs?: number;
  /** Shown on the dashboard; default `<host>:<pid>`. */
  name?: string;
  log?: (line: string) => void;
}

export interface RunningWorker {
  readonly name: string;
  /** Stop taking tasks; running children are let go (their tasks go to another worker). */
  close(): Promise<void>;
}

export async function startWorker(options: WorkerOptions): Promise<RunningWorker> {
  const name = options.name ?? `${os.hostname()}:${process.pid}`;
  const log = options.log ?? (() => undefined);
  const redis = redisClient(options.redisUrl, log);
  const subscriber = redisClient(options.redisUrl, log);
  try {
    await redis.connect();
    await subscriber.connect();
  } catch (error) {
    redis.disconnect();
    subscriber.disconnect();
    throw redisUnreachable(options.redisUrl, error);
  }
  const running = new Map<string, RunningTask>();
  await subscriber.subscribe(CANCEL_CHANNEL);
  subscriber.on('message', (_channel: string, taskId: string) => running.get(taskId)?.stop());

  // One connection, commands in order: the stream gets the entries in the order they happen.
  const report = (taskId: string, entry: StreamEntry) =>
    redis.xadd(streamKey(taskId), 'MAXLEN', '~', STREAM_MAX_ENTRIES, '*', ...entryFields(entry)).catch((error: Error) => log(`[${taskId}] lost a report: ${error.message}`));

  const worker = new Worker<QueueTask, TaskOutcome['status']>(
    QUEUE_NAME,
    async (job) => {
      const task = job.data;
      let outcome: TaskOutcome;
      if ((await redis.exists(cancelledKey(task.id))) === 1) {
        outcome = { status: 'stopped', result: null, error: 'stopped before it started' };
      } else {
        log(`${name}: ${task.id} started`);
        void report(task.id, { k: 'started', d: { worker: name } });
        const run = runTask(task, options.config, {
          onEvent: (event) => void report(task.id, { k: 'event', d: event }),
          onProgress: (progress) => void report(task.id, { k: 'progress', d: progress }),
        }, options);
        running.set(task.id, run);
        // a stop published between the check above and now would have found nothing to stop
        if ((await redis.exists(cancelledKey(task.id))) === 1) run.stop();
        outcome = await run.outcome;
        running.delete(task.id);
        // Shutting down: report nothing; the lock lapses and another worker resumes the task.
        if (closing) return new Promise<never>(() => undefined);
      }
      await report(task.id, { k: 'ended', d: outcome });
      await redis.expire(streamKey(task.id), STREAM_TTL_SECONDS);
      log(`${name}: ${task.id} ${outcome.status}${outcome.error ? `: ${outcome.error.split('\n')[0]}` : ''}`);
      return outcome.status;
    },
    {
      connection: { url: options.redisUrl },
      concurrency: Math.max(1, options.concurrency ?? 1),
      name,
      lockDuration: options.lockDurationMs ?? 30_000,
      stalledInterval: options.stalledIntervalMs ?? 30_000,
      // a task may be taken over a few times (each resumes); a real failure is final (attempts: 1)
      maxStalledCount: 5,
    },
  );
  worker.on('error', (error) => log(`${name}: ${error.message}`));
  let closing = false;
  await worker.waitUntilReady();
  return {
    name,
    async close() {
      closing = true;
      for (const run of running.values()) run.abandon();
      await worker.close(true);
      subscriber.disconnect();
      redis.disconnect();
    },
  };
}
