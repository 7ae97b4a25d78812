/**
 * What the BullMQ engine keeps in Redis besides BullMQ's own keys. Tasks travel as BullMQ jobs on
 * the queue `bnlab-runs` (job id = task id = run id). What a worker reports about a task goes to
 * one Redis stream per task, `bnlab:task:<id>`, whose entries are ordered by Redis itself, so every
 * dashboard reads the same sequence (and numbers it the same way, see run-queue.ts):
 *
 *   k=started  d={ worker }         a worker took the task (again, after a crash: resumes)
 *   k=event    d=RunEvent           every event of the run, in order
 *   k=progress d=unknown            inspect progress
 *   k=ended    d=TaskOutcome        the task ended; the stream expires a day later
 *
 * Several dashboards: each announces the jobs it takes on `bnlab:jobs`; the others show them and
 * tail their tasks' streams too.
 *
 * Stopping: the dashboard sets `bnlab:cancelled:<id>` for a day (checked when a worker takes a
 * task) and publishes the id on `bnlab:cancel` (the worker running it stops its child).
 */
import { Redis } from 'ioredis';
import type { JobProgress } from '../../schema/api.ts';
import type { RunEvent } from '../../schema/events.ts';
import type { TaskOutcome } from './task.ts';

export const QUEUE_NAME = 'bnlab-runs';
export const CANCEL_CHANNEL = 'bnlab:cancel';
/** Marks a stopped task for a day (a worker taking it later stops at once). */
export const cancelledKey = (taskId: string) => `bnlab:cancelled:${taskId}`;
/** New jobs, announced by the dashboard that took them (a JobRecord as JSON), so every dashboard shows them. */
export const JOBS_CHANNEL = 'bnlab:jobs';
/** Entries kept per task stream (bnStats included); old ones are trimmed, the disk keeps all. */
export const STREAM_MAX_ENTRIES = 20_000;
export const STREAM_TTL_SECONDS = 24 * 3600;

export const streamKey = (taskId: string) => `bnlab:task:${taskId}`;

export type StreamEntry =
  | { k: 'started'; d: { worker: string } }
  | { k: 'event'; d: RunEvent }
  | { k: 'progress'; d: JobProgress }
  | { k: 'ended'; d: TaskOutcome };

/** XADD arguments for an entry (fields k and d). */
export function entryFields(entry: StreamEntry): string[] {
  return ['k', entry.k, 'd', JSON.stringify(entry.d ?? null)];
}

/** Parse XREAD/XRANGE fields back; null for anything malformed. */
export function parseEntry(fields: string[]): StreamEntry | null {
  const map = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) map.set(fields[i], fields[i + 1]);
  const k = map.get('k');
  if (k !== 'started' && k !== 'event' && k !== 'progress' && k !== 'ended') return null;
  try {
    return { k, d: JSON.parse(map.get('d') ?? 'null') } as StreamEntry;
  } catch {
    return null;
  }
}

/** Fail fast with a sentence when Redis is not there. */
export function redisUnreachable(url: string, error: unknown): Error {
  return new Error(`cannot reach Redis at ${url} (BNLAB_REDIS_URL): ${(error as Error).message}. Start it with: redis-server --port <port>`);
}

/**
 * A Redis connection for bnlab: connects when asked (so a missing Redis fails with a sentence, see
 * redisUnreachable), retries commands across outages, and reports a lost connection as one line
 * every 30 s at most instead of ioredis' unhandled-error stack traces.
 */
export function redisClient(url: string, log: (line: string) => void = (line) => console.error(line)): Redis {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: null });
  let ready = false;
  let lastLogged = 0;
  client.on('ready', () => (ready = true));
  client.on('error', (error: Error) => {
    if (!ready || Date.now() - lastLogged < 30_000) return; // before the first connect, connect() rejects instead
    lastLogged = Date.now();
    log(`[bnlab] Redis at ${url}: ${error.message} (retrying)`);
  });
  return client;
}
