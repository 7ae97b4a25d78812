/**
 * The runs table's rows as data: one row per job with the columns a practitioner sorts and filters
 * on, plus sort, filter and page. Pure (no DOM), tested in runs-query.test.ts.
 */
import type { JobListing, JobSummary } from '../../server/schema/api.ts';

export interface RunRow {
  id: string;
  name: string;
  kind: string;
  policy: string;
  backbone: string;
  data: string;
  /** best final val accuracy over the job's runs (null until one finished) */
  bestValAccuracy: number | null;
  status: string;
  /** seconds from start to end (or to `now` while running); null before it started */
  durationSeconds: number | null;
  createdAt: string;
}

export type SortKey = 'name' | 'policy' | 'backbone' | 'data' | 'bestValAccuracy' | 'status' | 'durationSeconds' | 'createdAt';

/** Last path component of a data folder or backbone path, which is what a table has room for. */
function shortName(value: string | null): string {
  if (!value) return '–';
  const parts = value.split(/[\\/]/).filter(Boolean);
  return parts.length > 1 ? parts.slice(-1)[0] : value;
}

export function toRow(job: JobSummary & Partial<Pick<JobListing, 'backbone' | 'data'>>, now = Date.now()): RunRow {
  const accuracies = job.runs.map((r) => r.summary?.valAccuracy).filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
  const start = job.startedAt ? Date.parse(job.startedAt) : null;
  const end = job.finishedAt ? Date.parse(job.finishedAt) : job.status === 'running' ? now : null;
  const summed = job.runs.reduce((sum, r) => sum + (r.summary?.seconds ?? 0), 0);
  return {
    id: job.id,
    name: job.name,
    kind: job.kind,
    // a run read back from disk without checkpoint.json knows its policy only from its events
    policy: (job.policies.some((p) => p !== 'unknown') ? job.policies : job.runs.map((r) => r.policy ?? 'unknown')).join(', ') || '–',
    backbone: shortName(job.backbone ?? null),
    data: shortName(job.data ?? null),
    bestValAccuracy: accuracies.length ? Math.max(...accuracies) : null,
    status: job.status,
    // runs read back from disk have no start time: their runs' own durations add up instead
    durationSeconds: start !== null && end !== null && end >= start ? (end - start) / 1000 : summed > 0 ? summed : null,
    createdAt: job.createdAt,
  };
}

export interface RunsQuery {
  filter: string;
  sort: SortKey;
  descending: boolean;
  page: number;
  pageSize: number;
}

/** Case-insensitive: every word of `filter` must appear in one of the row's text columns. */
export function matches(row: RunRow, filter: string): boolean {
  const haystack = [row.id, row.name, row.kind, row.policy, row.backbone, row.data, row.status].join(' ').toLowerCase();
  return filter.toLowerCase().split(/\s+/).filter(Boolean).every((word) => haystack.includes(word));
}

function compare(a: RunRow, b: RunRow, key: SortKey): number {
  const x = a[key];
  const y = b[key];
  // empty values (null) sort last whichever the direction
  if (x === null || y === null) return x === y ? 0 : x === null ? 1 : -1;
  return typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y));
}

export function queryRows(rows: RunRow[], q: RunsQuery): { rows: RunRow[]; total: number; pages: number; page: number } {
  const filtered = rows.filter((row) => matches(row, q.filter));
  const sign = q.descending ? -1 : 1;
  filtered.sort((a, b) => {
    const nullOrder = compare(a, b, q.sort);
    const bothPresent = a[q.sort] !== null && b[q.sort] !== null;
    return (bothPresent ? sign * nullOrder : nullOrder) || b.createdAt.localeCompare(a.createdAt) || a.id.localeCompare(b.id);
  });
  const pages = Math.max(1, Math.ceil(filtered.length / q.pageSize));
  const page = Math.min(Math.max(0, q.page), pages - 1);
  return { rows: filtered.slice(page * q.pageSize, (page + 1) * q.pageSize), total: filtered.length, pages, page };
}
