/**
 * The child's side of the conversation between the run queue (parent) and a training worker
 * (child process, IPC channel); the messages themselves are typed in schema/worker-ipc.ts. One worker process runs exactly one job and exits, so a
 * crash, a leaked tensor or a stuck wasm heap never outlives the job, and never reaches the server.
 *
 *   parent → child   { type: 'start', job }      once, right after the child says 'ready'
 *                    { type: 'stop' }            abort the job (the child's AbortSignal fires)
 *   child → parent   { type: 'ready' }
 *                    { type: 'event', event }    every RunEvent, in order
 *                    { type: 'progress', progress }  inspect progress (free-form, shown as is)
 *                    { type: 'result', result }  the job's return value; the child then exits 0
 *                    { type: 'failed', error }   the job threw; the child then exits 1
 */
import type { JobProgress } from '../../schema/api.ts';
import type { RunEvent } from '../../schema/events.ts';
import type { ChildMessage, ParentMessage, WorkerJob } from '../../schema/worker-ipc.ts';


export interface JobContext {
  onEvent: (event: RunEvent) => void;
  onProgress: (progress: JobProgress) => void;
  signal: AbortSignal;
}

export interface JobHandlers {
  run(job: Extract<WorkerJob, { kind: 'run' }>, context: JobContext): Promise<unknown>;
  comparison(job: Extract<WorkerJob, { kind: 'comparison' }>, context: JobContext): Promise<unknown>;
  inspect(job: Extract<WorkerJob, { kind: 'inspect' }>, context: JobContext): Promise<unknown>;
  adapt(job: Extract<WorkerJob, { kind: 'adapt' }>, context: JobContext): Promise<unknown>;
}

function send(message: ChildMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send || !process.connected) return resolve();
    process.send(message, undefined, {}, () => resolve());
  });
}

/** Child side: wait for one job, run it with the matching handler, report, exit. */
export function serveJobs(handlers: JobHandlers): void {
  if (!process.send) throw new Error('the run worker must be started with an IPC channel (child_process.fork)');
  const abort = new AbortController();
  let started = false;
  process.on('message', (raw: ParentMessage) => {
    if (raw?.type === 'stop') {
      abort.abort(new Error('stopped by the user'));
      if (!started) process.exit(0);
      return;
    }
    if (raw?.type !== 'start' || started) return;
    started = true;
    void runJob(raw.job, handlers, abort.signal);
  });
  // The parent going away (server killed) must not leave an orphan training process behind.
  process.on('disconnect', () => process.exit(0));
  void send({ type: 'ready' });
}

async function runJob(job: WorkerJob, handlers: JobHandlers, signal: AbortSignal): Promise<void> {
  const context: JobContext = {
    onEvent: (event) => void send({ type: 'event', event }),
    onProgress: (progress) => void send({ type: 'progress', progress }),
    signal,
  };
  try {
    let result: unknown;
    if (job.kind === 'run') result = await handlers.run(job, context);
    else if (job.kind === 'comparison') result = await handlers.comparison(job, context);
    else if (job.kind === 'adapt') result = await handlers.adapt(job, context);
    else result = await handlers.inspect(job, context);
    await send({ type: 'result', result: result ?? null });
    process.exit(0);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    await send({ type: 'failed', error: message });
    process.exit(1);
  }
}
