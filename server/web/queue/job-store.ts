/**
 * Jobs that have not ended, on disk beside the checkpoints: `<checkpointsDir>/.queue/<jobId>.json`,
 * written atomically (temp file, fsync, rename) when a job is submitted or resumed and deleted
 * when its last task ends. After a restart the dashboard reads them back: tasks whose run folder
 * records an end are done, every other task is queued again and resumes from its checkpoint. With
 * several machines the checkpoints folder is shared storage, so this folder is too.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { PolicySpec, Recipe } from '../../schema/recipe.ts';
import { writeFileAtomic } from '../../runs/atomic-write.ts';
import type { JobKind } from '../../schema/api.ts';
import type { JobRecord } from './task.ts';

export function queueDir(checkpointsDir: string): string {
  return path.join(checkpointsDir, '.queue');
}

export async function saveJobRecord(checkpointsDir: string, record: JobRecord): Promise<void> {
  const dir = queueDir(checkpointsDir);
  await fs.mkdir(dir, { recursive: true });
  await writeFileAtomic(path.join(dir, `${record.id}.json`), JSON.stringify(record, null, 2));
}

export async function removeJobRecord(checkpointsDir: string, jobId: string): Promise<void> {
  await fs.rm(path.join(queueDir(checkpointsDir), `${jobId}.json`), { force: true });
}

/** Every readable record, oldest first (a torn or foreign file is skipped). */
export async function readJobRecords(checkpointsDir: string): Promise<JobRecord[]> {
  const dir = queueDir(checkpointsDir);
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch {
    return [];
  }
  const records: JobRecord[] = [];
  for (const name of names.filter((n) => n.endsWith('.json') && !n.startsWith('.'))) {
    try {
      const record = JSON.parse(await fs.readFile(path.join(dir, name), 'utf8')) as JobRecord;
      if (record?.format === 'bnlab-queued-job@1' && Array.isArray(record.tasks)) records.push(record);
    } catch {
      // unreadable: nothing to resume from it
    }
  }
  return records.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
}
