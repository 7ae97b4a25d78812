/**
 * Jobs deleted through DELETE /api/runs/:id while this server runs. Their folders are gone, so the
 * next start will not read them back; until then the queue still holds them in memory, and the
 * routes hide them (list, lookups). Kept per queue, in this module, because the queue's own
 * bookkeeping (server/web/queue/) has no "forget" yet: when it gets one, this set goes away.
 */
import type { RunQueue } from '../queue/run-queue.ts';

const removed = new WeakMap<RunQueue, Set<string>>();

export function removedJobs(queue: RunQueue): Set<string> {
  let set = removed.get(queue);
  if (!set) removed.set(queue, (set = new Set()));
  return set;
}
