/**
 * The queue-facing commands as a user runs them: `bnlab sweep` locally (one table over backbones ×
 * datasets × policies × seeds, grouped on disk as one job), and the clear errors of `--queue`
 * without a dashboard and of `bnlab worker` without Redis.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../server/config.ts';
import { makeDemoDataset } from '../server/demo/make-dataset.ts';
import { readComparisonManifests } from '../server/runs/history.ts';
import { freePort } from './support/redis-server.ts';

const run = promisify(execFile);
const BIN = path.join(PROJECT_ROOT, 'bin', 'bnlab.js');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'bnlab-cli-queue-'));
const data = path.join(work, 'images');
const checkpointsDir = path.join(work, 'checkpoints');
const env = { ...process.env, BNLAB_CHECKPOINTS_DIR: checkpointsDir, BNLAB_REDIS_URL: '' };

function bnlab(...args: string[]) {
  return run(process.execPath, [BIN, ...args], { env, cwd: work, maxBuffer: 32 * 1024 * 1024 });
}

async function failure(...args: string[]): Promise<string> {
  try {
    await bnlab(...args);
  } catch (error) {
    const { code, stderr } = error as { code: number; stderr: string };
    expect(code).toBe(1);
    expect(stderr).not.toMatch(/\n\s+at /); // no stack trace
    return stderr;
  }
  throw new Error(`bnlab ${args.join(' ')} should have failed`);
}

describe('bnlab sweep, --queue and worker', () => {
  beforeAll(async () => {
    await makeDemoDataset(data, { perClassTrain: 8, perClassVal: 4, seed: 2 });
  });

  it('sweep --json runs every combination and groups them on disk as one sweep', async () => {
    const { stdout } = await bnlab('sweep', '--backbones', 'demo', '--datasets', data, '--policies', 'freeze-all,train-bn', '--seeds', '0,1', '--epochs', '1', '--max-steps', '1', '--batch-size', '8', '--json');
    const job = JSON.parse(stdout);
    expect(job.status).toBe('completed');
    expect(job.runs.map((r: { label: string }) => r.label)).toEqual([
      'demo · images · freeze-all · seed 0', 'demo · images · freeze-all · seed 1', 'demo · images · train-bn · seed 0', 'demo · images · train-bn · seed 1',
    ]);
    const [manifest] = await readComparisonManifests(checkpointsDir);
    expect(manifest.runIds).toEqual(job.runs.map((r: { runId: string }) => r.runId));
    for (const id of manifest.runIds) expect(fs.existsSync(path.join(checkpointsDir, id, 'model.json'))).toBe(true);
  });

  it('names the bad flag, the missing dashboard and the missing Redis', async () => {
    expect(await failure('sweep', '--backbones', 'demo', '--datasets', data, '--seeds', '0,x')).toMatch(/--seeds: 'x' is not a whole number/);
    const port = await freePort();
    expect(await failure('compare', '--queue', `http://127.0.0.1:${port}`, '--data', data, '--backbone', 'demo')).toMatch(/cannot reach the dashboard at http:\/\/127\.0\.0\.1:\d+.*bnlab serve/);
    expect(await failure('worker')).toMatch(/bnlab worker needs Redis: set BNLAB_REDIS_URL/);
    expect(await failure('worker', '--redis', `redis://127.0.0.1:${port}`)).toMatch(/cannot reach Redis at redis:\/\/127\.0\.0\.1:\d+/);
  });
});
