/**
 * One run per checkpoint folder. Two runs writing the same folder would interleave checkpoints and
 * delete each other's weight files, so a run holds `<dir>/.lock` (created exclusively) while it
 * writes. A lock whose process is gone (a killed run) is stale and taken over, so `--resume` after a
 * crash works; a lock held by a live process, or by another run in this same process, is refused.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { RUN_FILES } from '../runs/files.ts';

interface LockContent {
  pid: number;
  runId: string;
  token: string;
  startedAt: string;
}

export class CheckpointFolderBusyError extends Error {
  constructor(dir: string, holder: LockContent) {
    super(`checkpoint folder ${dir} is already in use by run '${holder.runId}' (pid ${holder.pid}, since ${holder.startedAt}); wait for it to finish or use another --out`);
    this.name = 'CheckpointFolderBusyError';
  }
}

export interface RunLock {
  release(): void;
}

export function acquireRunLock(dir: string, runId: string): RunLock {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, RUN_FILES.lock);
  const mine: LockContent = { pid: process.pid, runId, token: randomBytes(8).toString('hex'), startedAt: new Date().toISOString() };
  const text = JSON.stringify(mine);
  try {
    fs.writeFileSync(file, text, { flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    const holder = readLock(file);
    if (holder && isAlive(holder.pid)) throw new CheckpointFolderBusyError(dir, holder);
    // Stale (its process is gone) or unreadable: take it over atomically, then make sure we won.
    const temp = `${file}.${mine.token}.tmp`;
    fs.writeFileSync(temp, text);
    fs.renameSync(temp, file);
    const now = readLock(file);
    if (!now || now.token !== mine.token) throw new CheckpointFolderBusyError(dir, now ?? mine);
  }
  return {
    release() {
      const now = readLock(file);
      if (now?.token === mine.token) fs.rmSync(file, { force: true });
    },
  };
}

function readLock(file: string): LockContent | null {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as LockContent;
  } catch {
    return null;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The live holder of a run folder's lock, or null when it is free or its holder is gone. */
export function runLockHolder(dir: string): LockContent | null {
  const holder = readLock(path.join(dir, '.lock'));
  return holder && isAlive(holder.pid) ? holder : null;
}
