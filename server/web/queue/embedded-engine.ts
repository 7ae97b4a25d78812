/**
 * The default engine, no services needed: tasks wait in memory in submission order and run
 * `concurrency` at a time (1 by default: training uses every core), each through the same worker
 * code `bnlab worker` uses (task-runner.ts, one child process per task). Durability comes from the
 * dashboard's job records (job-store.ts) and the run folders, not from this class: after a restart
 * the queue submits every unfinished task again.
 */
import process from 'node:process';
import type { BnlabConfig } from '../../config.ts';
import type { EngineCallbacks, QueueEngine, QueueTask } from './task.ts';
import { runTask, type RunningTask, type TaskRunnerOptions } from './task-runner.ts';

export interface EmbeddedEngineOptions extends TaskRunnerOptions {
  concurrency?: number;
}

export class EmbeddedEngine implements QueueEngine {
  readonly name = 'embedded' as const;
  private readonly concurrency: number;
  private readonly waiting: QueueTask[] = [];
  private readonly running = new Map<string, RunningTask>();
  private callbacks: EngineCallbacks | null = null;
  private closed = false;
  private readonly worker = `embedded:${process.pid}`;

  constructor(
    private readonly config: BnlabConfig,
    private readonly options: EmbeddedEngineOptions = {},
  ) {
    this.concurrency = Math.max(1, options.concurrency ?? 1);
  }

  async start(callbacks: EngineCallbacks): Promise<void> {
    this.callbacks = callbacks;
    this.pump();
  }

  async submit(task: QueueTask): Promise<void> {
    if (this.running.has(task.id) || this.waiting.some((t) => t.id === task.id)) return;
    this.waiting.push(task);
    this.pump();
  }

  async cancel(taskId: string): Promise<void> {
    const index = this.waiting.findIndex((t) => t.id === taskId);
    if (index >= 0) {
      this.waiting.splice(index, 1);
      this.callbacks?.onEnded(taskId, { status: 'stopped', result: null, error: 'stopped before it started' });
      return;
    }
    this.running.get(taskId)?.stop();
  }

  async announce(): Promise<void> {}

  watch(): void {}

  async history(): Promise<null> {
    return null;
  }

  counts(): { queued: number; running: number } {
    return { queued: this.waiting.length, running: this.running.size };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.waiting.length = 0;
    const outcomes = [...this.running.values()].map((task) => {
      task.abandon();
      return task.outcome;
    });
    await Promise.all(outcomes);
  }

  private pump(): void {
    const callbacks = this.callbacks;
    if (!callbacks) return;
    while (!this.closed && this.running.size < this.concurrency && this.waiting.length > 0) {
      const task = this.waiting.shift()!;
      const running = runTask(task, this.config, {
        onEvent: (event) => callbacks.onEvent(task.id, event),
        onProgress: (progress) => callbacks.onProgress(task.id, progress),
      }, this.options);
      this.running.set(task.id, running);
      callbacks.onStarted(task.id, this.worker);
      void running.outcome.then((outcome) => {
        this.running.delete(task.id);
        if (!this.closed) callbacks.onEnded(task.id, outcome);
        this.pump();
      });
    }
  }
}
