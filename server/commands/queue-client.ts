/**
 * `--queue <url>`: hand a comparison or sweep to a running dashboard's queue (embedded or BullMQ:
 * the workers do the training, not this process) over its REST API, then follow it until every
 * run has ended, printing progress to stderr. Returns the job as the dashboard reports it.
 */
import type { PolicySpec, Recipe } from '../schema/recipe.ts';
import type { JobSummary } from '../schema/api.ts';

export interface QueueTarget {
  /** The dashboard, e.g. http://127.0.0.1:3000 */
  url: string;
  token?: string | null;
  /** ms between progress polls (default 1000) */
  pollMs?: number;
  log?: (line: string) => void;
}

async function call<T>(target: QueueTarget, method: 'GET' | 'POST', route: string, body?: unknown): Promise<T> {
  const base = target.url.endsWith('/') ? target.url : `${target.url}/`;
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (target.token) headers.authorization = `Bearer ${target.token}`;
  let response: Response;
  try {
    response = await fetch(new URL(route, base), { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (error) {
    throw new Error(`--queue: cannot reach the dashboard at ${target.url} (${(error as Error).cause ?? (error as Error).message}); start it with: bnlab serve`);
  }
  const parsed = (await response.json().catch(() => null)) as (T & { error?: string }) | null;
  if (!response.ok) throw new Error(`--queue: ${target.url} answered ${response.status}: ${parsed?.error ?? response.statusText}`);
  return parsed as T;
}

export async function submitComparison(target: QueueTarget, recipe: Recipe, policies: PolicySpec[], seeds?: number[]): Promise<string> {
  const body = await call<{ comparisonId: string }>(target, 'POST', 'api/compare', { recipe, policies, ...(seeds ? { seeds } : {}) });
  return body.comparisonId;
}

export async function submitSweep(
  target: QueueTarget,
  recipe: Recipe,
  axes: { backbones: string[]; datasets: string[]; policies: PolicySpec[]; seeds: number[] },
): Promise<string> {
  const body = await call<{ sweepId: string }>(target, 'POST', 'api/sweep', { recipe, ...axes });
  return body.sweepId;
}

/** Poll the job until it ends; one progress line per change. */
export async function followJob(target: QueueTarget, id: string): Promise<JobSummary> {
  const log = target.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  log(`queued ${id} on ${target.url} (open ${target.url.replace(/\/$/, '')}/#/job/${encodeURIComponent(id)} to watch)`);
  let last = '';
  for (;;) {
    const job = await call<JobSummary>(target, 'GET', `api/runs/${encodeURIComponent(id)}`);
    const done = job.runs.filter((r) => r.status !== 'queued' && r.status !== 'running').length;
    const running = job.runs.filter((r) => r.status === 'running').map((r) => `${r.label ?? r.policy ?? r.runId} ${r.step}/${r.totalSteps ?? '?'}${r.worker ? ` on ${r.worker}` : ''}`);
    const line = `${job.status}: ${done}/${job.runs.length} runs done${running.length ? ` · ${running.join(', ')}` : ''}`;
    if (line !== last) log(line);
    last = line;
    if (job.status !== 'queued' && job.status !== 'running') return job;
    await new Promise((resolve) => setTimeout(resolve, target.pollMs ?? 1000));
  }
}

/** The aggregate of a finished job as an aligned text table, one row per run. */
export function formatJobTable(job: JobSummary): string {
  const rows = job.runs.map((r) => [
    r.label ?? r.policy ?? r.runId,
    r.status,
    r.summary ? (r.summary.valAccuracy * 100).toFixed(1) : '-',
    r.summary ? r.summary.valLoss.toFixed(3) : '-',
    r.summary?.valTrainModeAccuracy == null ? '-' : (r.summary.valTrainModeAccuracy * 100).toFixed(1),
    r.summary ? r.summary.seconds.toFixed(1) : '-',
    r.summary ? r.summary.totalMeanShift.toFixed(2) : '-',
  ]);
  const header = ['run', 'status', 'val acc %', 'val loss', 'val acc % (train-mode BN)', 'time s', 'total BN mean shift'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}
