/** What every route module gets, and the helpers routes share. */
import type { Request, Response } from 'express';
import type { BnlabConfig } from '../../config.ts';
import type { JobKind } from '../../schema/api.ts';
import type { Job } from '../queue/job.ts';
import { QueueFullError, type RunQueue } from '../queue/run-queue.ts';
import { IdSchema, validate } from '../validation.ts';
import { removedJobs } from './removed-jobs.ts';

export interface RouteContext {
  config: BnlabConfig;
  queue: RunQueue;
}

/** A query string without the auth token, which is not a parameter of any route. */
export function queryOf(req: Request): Record<string, unknown> {
  const { token: _token, ...rest } = req.query as Record<string, unknown>;
  return rest;
}

/** The job an id names: a job id, or a run id inside a comparison; answers 404 (and null) otherwise. */
export function findJob(queue: RunQueue, req: Request, res: Response) {
  const id = validate(IdSchema, req.params.id, res, ['params', 'id']);
  if (id === undefined) return null;
  const found = queue.get(id) ?? queue.jobOfRun(id);
  const job = found && !removedJobs(queue).has(found.id) ? found : undefined;
  if (!job) {
    res.status(404).json({ error: `no run or comparison '${id}'` });
    return null;
  }
  return { id, job };
}

/** The job `req.params.id` names when it is of `kind` (an inspect or adapt job); answers 404 (and null) otherwise. */
export function findJobOfKind(queue: RunQueue, req: Request, res: Response, kind: JobKind): Job | null {
  const found = findJob(queue, req, res);
  if (!found) return null;
  if (found.job.kind !== kind) {
    res.status(404).json({ error: `'${found.job.id}' is not an ${kind} job` });
    return null;
  }
  return found.job;
}

/** Who is asking, for the per-client queue cap: the peer address. */
export function clientOf(req: Request): string {
  return req.ip ?? req.socket.remoteAddress ?? 'unknown';
}

/** Run a submission; a full queue answers 429 with the cap that was hit. */
export async function submitting(res: Response, submit: () => Promise<void>): Promise<void> {
  try {
    await submit();
  } catch (error) {
    if (!(error instanceof QueueFullError)) throw error;
    res.status(429).json({ error: error.message });
  }
}
