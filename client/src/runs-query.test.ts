import { describe, expect, it } from 'vitest';
import type { JobSummary } from '../../server/schema/api.ts';
import { queryRows, toRow } from './runs-query.ts';

function job(id: string, policy: string, acc: number | null, status: JobSummary['status'] = 'completed'): JobSummary & { backbone: string; data: string } {
  return {
    id, kind: 'run', status, name: `${policy} run`, createdAt: `2026-12-01T10:00:0${id}Z`, startedAt: '2026-12-01T10:00:00Z', finishedAt: '2026-12-01T10:01:30Z',
    policies: [policy], lastSeq: 1, error: null, fromDisk: false, backbone: 'demo', data: `/data/${policy === 'adabn' ? 'digits' : 'ants-bees'}`,
    runs: [{ runId: id, policy, status, step: 1, totalSteps: 1, epoch: 0, error: null,
      summary: acc === null ? null : { runId: id, policy, valAccuracy: acc, valLoss: 1, valTrainModeAccuracy: null, seconds: 90, steps: 1, totalMeanShift: 1, skippedFiles: [], checkpointDir: '' } }],
  };
}

describe('runs query', () => {
  const rows = [job('1', 'train-bn', 0.5), job('2', 'adabn', 0.9), job('3', 'freeze-all', null, 'failed'), job('4', 'train-bn', 0.7)].map((j) => toRow(j));

  it('derives the columns: short data name, best val accuracy, duration', () => {
    expect(rows[1]).toMatchObject({ policy: 'adabn', backbone: 'demo', data: 'digits', bestValAccuracy: 0.9, durationSeconds: 90 });
  });

  it('sorts by a column (nulls last both ways), filters on every word, pages', () => {
    const q = { filter: '', sort: 'bestValAccuracy' as const, descending: true, page: 0, pageSize: 10 };
    expect(queryRows(rows, q).rows.map((r) => r.id)).toEqual(['2', '4', '1', '3']);
    expect(queryRows(rows, { ...q, descending: false }).rows.map((r) => r.id)).toEqual(['1', '4', '2', '3']);
    expect(queryRows(rows, { ...q, filter: 'TRAIN-bn ants' }).rows.map((r) => r.id)).toEqual(['4', '1']);
    const paged = queryRows(rows, { ...q, pageSize: 3, page: 1 });
    expect(paged).toMatchObject({ total: 4, pages: 2, page: 1 });
    expect(paged.rows.map((r) => r.id)).toEqual(['3']);
    expect(queryRows(rows, { ...q, pageSize: 3, page: 9 }).page).toBe(1);
  });
});
