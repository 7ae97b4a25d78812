/**
 * Child supervision: one task in its own child process (`process.execPath --import tsx
 * run-worker.ts`, IPC channel, see worker-protocol.ts), so a CPU-bound training step never blocks
 * the supervising event loop (socket.io, BullMQ lock renewal) and a crash or a kill cannot take the
 * supervisor down: an exit code or signal becomes a failed outcome like any other.
 */
import type { JobProgress } from '../../schema/api.ts';
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { BnlabConfig } from '../../config.ts';
import type { RunEvent } from '../../schema/events.ts';
import type { ChildMessage, ParentMessage, WorkerJob } from '../../schema/worker-ipc.ts';
import type { TaskOutcome } from './task.ts';

export const DEFAULT_WORKER_FILE = fileURLToPath(new URL('./run-worker.ts', import.meta.url));

const STDERR_TAIL_LINES = 20;

export interface ChildRunOptions {
  /** Script the child runs (a module that calls serveJobs). */
  workerFile?: string;
  /** After a stop request, how long the child may take to wind down before SIGKILL. */
  stopGraceMs?: number;
  /** Copy the child's stdout/stderr to this process's stderr, prefixed with the task id. */
  echoOutput?: boolean;
}

export interface ChildRunCallbacks {
  onEvent(event: RunEvent): void;
  onProgress(progress: JobProgress): void;
}

export interface ChildRun {
  /** Ask the child to stop (SIGKILL after the grace period). */
  stop(): void;
  /** Kill it now (the supervisor is going away; the task will be resumed elsewhere). */
  kill(): void;
  readonly outcome: Promise<TaskOutcome>;
}

/** Resolve tsx's loader to a file URL so the child finds it whatever its working directory. */
function tsxLoader(): string {
  try {
    return import.meta.resolve('tsx');
  } catch {
    return 'tsx';
  }
}

export function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  return signal ? `the training worker was killed by signal ${signal}` : `the training worker exited with code ${code}`;
}

export function runInChild(
  job: WorkerJob,
  config: BnlabConfig,
  callbacks: ChildRunCallbacks,
  options: ChildRunOptions = {},
): ChildRun {
  const label = job.kind === 'run' ? job.runId : job.kind === 'inspect' ? job.inspectId : job.kind === 'adapt' ? job.adaptId : job.comparisonId;
  const stopGraceMs = options.stopGraceMs ?? 15_000;
  const child = fork(options.workerFile ?? DEFAULT_WORKER_FILE, [], {
    execArgv: ['--import', tsxLoader()],
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    serialization: 'json',
  });
  let stopRequested = false;
  let killTimer: NodeJS.Timeout | null = null;
  let result: unknown = null;
  let resultReceived = false;
  let failure: string | null = null;
  const stderrTail: string[] = [];
  const send = (message: ParentMessage) => {
    if (child.connected) child.send(message, (error) => void error); // a dead child is handled by 'exit'
  };

  child.stdout?.on('data', (chunk: Buffer) => {
    if (options.echoOutput) process.stderr.write(`[${label}] ${chunk.toString('utf8')}`);
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    const lines = chunk.toString('utf8').split('\n').filter((l) => l.trim());
    stderrTail.push(...lines);
    stderrTail.splice(0, Math.max(0, stderrTail.length - STDERR_TAIL_LINES));
    if (options.echoOutput) process.stderr.write(lines.map((l) => `[${label}] ${l}\n`).join(''));
  });
  child.on('message', (message: ChildMessage) => {
    switch (message?.type) {
      case 'ready':
        send({ type: 'start', job: { ...job, config } as WorkerJob });
        if (stopRequested) send({ type: 'stop' });
        break;
      case 'event':
        if (message.event && typeof message.event.runId === 'string' && typeof message.event.type === 'string') {
          callbacks.onEvent(message.event);
        }
        break;
      case 'progress':
        callbacks.onProgress(message.progress);
        break;
      case 'result':
        resultReceived = true;
        result = message.result;
        break;
      case 'failed':
        failure = message.error;
        break;
      default:
        break;
    }
  });

  const outcome = new Promise<TaskOutcome>((resolve) => {
    let finished = false;
    const finish = (code: number | null, signal: NodeJS.Signals | null, spawnError?: Error) => {
      if (finished) return;
      finished = true;
      if (killTimer) clearTimeout(killTimer);
      if (stopRequested) return resolve({ status: 'stopped', result: null, error: 'stopped by the user' });
      if (resultReceived) return resolve({ status: 'completed', result, error: null });
      if (spawnError) return resolve({ status: 'failed', result: null, error: `could not start the training worker: ${spawnError.message}` });
      if (failure !== null) return resolve({ status: 'failed', result: null, error: failure });
      const tail = stderrTail.slice(-5).join('\n');
      resolve({ status: 'failed', result: null, error: `${describeExit(code, signal)}${tail ? `\n${tail}` : ''}` });
    };
    child.on('exit', (code, signal) => finish(code, signal));
    child.on('error', (error) => {
      // 'error' without a process (spawn failed) is followed by no 'exit'
      if (child.pid === undefined) finish(null, null, error);
    });
  });

  return {
    outcome,
    stop() {
      stopRequested = true;
      send({ type: 'stop' });
      killTimer ??= setTimeout(() => child.kill('SIGKILL'), stopGraceMs);
    },
    kill() {
      child.kill('SIGKILL');
    },
  };
}
