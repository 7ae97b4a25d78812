/**
 * The worker code both engines share: run one task in a child process (child-run.ts) with the
 * guarantees at-least-once delivery needs.
 *
 * - Every run task starts with `resume: true`: without a checkpoint that is a fresh run, with one it
 *   continues from it with identical results (the train loop's --resume).
 * - A run whose checkpoint says completed, and whose metrics end with a completed runFinished, is a
 *   no-op: its summary is returned and nothing is trained again.
 * - A run folder still locked by a live process (the previous delivery's child winding down) is
 *   waited for, not fought over: the lock (server/train/run-lock.ts) allows one writer.
 * - A child that dies without reporting its run's end gets a runFinished 'failed' written to the
 *   run's metrics file, so the disk history says what happened.
 */
import type { JobProgress } from '../../schema/api.ts';
import fs from 'node:fs';
import path from 'node:path';
import type { BnlabConfig } from '../../config.ts';
import type { RunEvent, RunSummary } from '../../schema/events.ts';
import { runLockHolder } from '../../train/run-lock.ts';
import { RUN_FILES } from '../../runs/files.ts';
import type { WorkerJob } from '../../schema/worker-ipc.ts';
import { runInChild, type ChildRun, type ChildRunOptions } from './child-run.ts';
import type { QueueTask, TaskOutcome } from './task.ts';

export interface TaskRunnerOptions extends ChildRunOptions {
  /** How long to wait for a run folder locked by a live process (default 60 s). */
  lockWaitMs?: number;
}

export interface TaskCallbacks {
  onEvent(event: RunEvent): void;
  onProgress(progress: JobProgress): void;
}

export interface RunningTask {
  stop(): void;
  /** Let go of the child without recording an end: the task stays resumable. */
  abandon(): void;
  readonly outcome: Promise<TaskOutcome>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The summary of a run that finished for good, read from its folder; null otherwise. */
export function completedRunSummary(config: BnlabConfig, runId: string): RunSummary | null {
  const dir = path.join(config.checkpointsDir, runId);
  try {
    const meta = JSON.parse(fs.readFileSync(path.join(dir, RUN_FILES.meta), 'utf8')) as { completed?: boolean; runId?: string };
    if (!meta.completed || meta.runId !== runId) return null;
    const lines = fs.readFileSync(path.join(dir, RUN_FILES.metrics), 'utf8').split('\n').filter(Boolean);
    for (let i = lines.length - 1; i >= 0; i--) {
      try {
        const event = JSON.parse(lines[i]) as RunEvent;
        if (event.type === 'runFinished') return event.status === 'completed' ? event.summary : null;
      } catch {
        // a torn last line
      }
    }
  } catch {
    // no checkpoint or no metrics: not finished
  }
  return null;
}

export function runTask(task: QueueTask, config: BnlabConfig, callbacks: TaskCallbacks, options: TaskRunnerOptions = {}): RunningTask {
  let child: ChildRun | null = null;
  let stopped = false;
  let abandoned = false;
  let sawRunFinished = false;

  const outcome = (async (): Promise<TaskOutcome> => {
    if (task.kind === 'run') {
      const done = completedRunSummary(config, task.id);
      if (done) return { status: 'completed', result: done, error: null };
      const dir = path.join(config.checkpointsDir, task.id);
      const deadline = Date.now() + (options.lockWaitMs ?? 60_000);
      while (runLockHolder(dir) && Date.now() < deadline && !stopped && !abandoned) await sleep(250);
    }
    if (stopped) return { status: 'stopped', result: null, error: 'stopped by the user' };
    if (abandoned) return { status: 'failed', result: null, error: 'abandoned' };
    if (task.kind === 'adapt' && !task.adapt) return { status: 'failed', result: null, error: 'the adapt task carries no request' };
    const job: WorkerJob =
      task.kind === 'run'
        ? { kind: 'run', runId: task.id, recipe: task.recipe, config, resume: true }
        : task.kind === 'adapt'
          ? { kind: 'adapt', adaptId: task.id, request: task.adapt!, config }
          : { kind: 'inspect', inspectId: task.id, recipe: task.recipe, config };
    child = runInChild(job, config, {
      onEvent(event) {
        if (event.type === 'runFinished' && event.runId === task.id) sawRunFinished = true;
        callbacks.onEvent(event);
      },
      onProgress: callbacks.onProgress,
    }, options);
    const result = await child.outcome;
    if (task.kind === 'run' && result.status !== 'completed' && !sawRunFinished && !abandoned) {
      const event: RunEvent = { type: 'runFinished', runId: task.id, status: result.status, summary: null, error: result.error ?? 'the run ended without a result' };
      try {
        fs.mkdirSync(path.join(config.checkpointsDir, task.id), { recursive: true });
        fs.appendFileSync(path.join(config.checkpointsDir, task.id, RUN_FILES.metrics), `${JSON.stringify(event)}\n`);
      } catch {
        // the dashboard still hears about it through the callback
      }
      callbacks.onEvent(event);
    }
    return result;
  })();

  return {
    outcome,
    stop() {
      stopped = true;
      child?.stop();
    },
    abandon() {
      abandoned = true;
      child?.kill();
    },
  };
}
