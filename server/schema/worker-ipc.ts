/**
 * The messages between the run queue (parent) and a training worker (child process, IPC channel),
 * as plain data (no Node, no tfjs); the child's side of the conversation is web/queue/worker-protocol.ts. One worker process runs exactly one job and exits, so a
 * crash, a leaked tensor or a stuck wasm heap never outlives the job, and never reaches the server.
 *
 *   parent → child   { type: 'start', job }      once, right after the child says 'ready'
 *                    { type: 'stop' }            abort the job (the child's AbortSignal fires)
 *   child → parent   { type: 'ready' }
 *                    { type: 'event', event }    every RunEvent, in order
 *                    { type: 'progress', progress }  inspect or adapt progress (shown as is)
 *                    { type: 'result', result }  the job's return value; the child then exits 0
 *                    { type: 'failed', error }   the job threw; the child then exits 1
 */
import type { AdaptRequest } from './adapt-report.ts';
import type { JobProgress } from './api.ts';
import type { BnlabConfig } from './config.ts';
import type { RunEvent } from './events.ts';
import type { PolicySpec, Recipe } from './recipe.ts';

export type WorkerJob =
  | { kind: 'run'; runId: string; recipe: Recipe; config: BnlabConfig; /** continue from the run folder's checkpoint, if any */ resume?: boolean }
  | { kind: 'comparison'; comparisonId: string; recipe: Recipe; policies: PolicySpec[]; config: BnlabConfig }
  | { kind: 'inspect'; inspectId: string; recipe: Recipe; config: BnlabConfig }
  | { kind: 'adapt'; adaptId: string; request: AdaptRequest; config: BnlabConfig };

export type ParentMessage = { type: 'start'; job: WorkerJob } | { type: 'stop' };

export type ChildMessage =
  | { type: 'ready' }
  | { type: 'event'; event: RunEvent }
  | { type: 'progress'; progress: JobProgress }
  | { type: 'result'; result: unknown }
  | { type: 'failed'; error: string };
