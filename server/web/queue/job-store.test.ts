import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { RecipeSchema } from '../../schema/recipe.ts';
import { queueDir, readJobRecords, removeJobRecord, saveJobRecord } from './job-store.ts';
import type { JobRecord } from './task.ts';

const recipe = RecipeSchema.parse({ backbone: 'demo', data: 'data/demo' });
const record = (id: string, createdAt: string): JobRecord => ({
  format: 'bnlab-queued-job@1', id, kind: 'run', name: id, createdAt, client: 'local', recipe, policySpecs: ['train-bn'], policies: ['train-bn'],
  tasks: [{ id, jobId: id, kind: 'run', recipe, client: 'local', submittedAt: createdAt, label: 'train-bn', policy: 'train-bn' }],
});

describe('job store', () => {
  it('keeps records until removed, oldest first, skipping torn and foreign files', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bnlab-store-'));
    await saveJobRecord(dir, record('run-b', '2026-01-02T00:00:00Z'));
    await saveJobRecord(dir, record('run-a', '2026-01-01T00:00:00Z'));
    fs.writeFileSync(path.join(queueDir(dir), 'torn.json'), '{"format":"bnlab-queued-job@1","id":');
    fs.writeFileSync(path.join(queueDir(dir), 'other.json'), '{"format":"something-else"}');
    expect((await readJobRecords(dir)).map((r) => r.id)).toEqual(['run-a', 'run-b']);
    await removeJobRecord(dir, 'run-a');
    expect((await readJobRecords(dir)).map((r) => r.id)).toEqual(['run-b']);
    // no temp files left behind by the atomic writes
    expect(fs.readdirSync(queueDir(dir)).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('reads nothing from a checkpoints folder without a queue', async () => {
    expect(await readJobRecords(path.join(os.tmpdir(), 'bnlab-no-such-folder'))).toEqual([]);
  });
});
