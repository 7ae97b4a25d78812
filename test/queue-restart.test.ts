/**
 * The embedded engine (no services) survives its server being killed: `bnlab serve` is SIGKILLed
 * while a comparison runs (its training child dies with it), started again on the same
 * checkpoints folder, and the job goes on: the interrupted run resumes from its last checkpoint
 * and ends with the same weights as an uninterrupted run, the run that was still queued runs.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../server/config.ts';
import { ensureDemoDataset } from '../server/demo/make-dataset.ts';
import { ensureClientBuilt } from '../server/web/client-build.ts';
import { getJson, postJson, waitFor, waitForJob } from './support/test-server.ts';
import { startBnlab, type BnlabProcess } from './support/bnlab-process.ts';
import { freePort } from './support/redis-server.ts';

describe('embedded queue across a server restart', () => {
  const processes: BnlabProcess[] = [];
  afterAll(async () => {
    for (const p of processes) await p.kill('SIGKILL');
  });

  it('resumes the interrupted run from its checkpoint (identical weights) and runs the queued one', { timeout: 150_000 }, async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bnlab-restart-'));
    const config = { ...loadConfig({}), checkpointsDir: path.join(dir, 'checkpoints') };
    await ensureDemoDataset(config);
    await ensureClientBuilt();
    const env = { BNLAB_CHECKPOINTS_DIR: config.checkpointsDir, BNLAB_REDIS_URL: '' };
    const port = await freePort();
    const serve = async () => {
      const server = startBnlab(['serve', '--port', String(port)], env);
      processes.push(server);
      return (await server.waitFor(/bnlab dashboard: (\S+)/))[1];
    };
    let url = await serve();
    const recipe = { backbone: 'demo', data: 'data/demo', epochs: 2, batchSize: 8, maxStepsPerEpoch: 4, logEvery: 2, seed: 3 };
    const created = await postJson(`${url}api/compare`, { recipe, policies: ['train-bn', 'freeze-all'] });
    expect(created.status).toBe(201);
    const id = created.body.comparisonId as string;
    // past the first epoch's checkpoint (step 4), before the end (step 8)
    await waitFor(async () => (await getJson(`${url}api/runs/${id}`)).body.runs[0].step > 4, 90_000, 'the first checkpoint');
    const before = (await getJson(`${url}api/runs/${id}`)).body;
    expect(before.runs.map((r: { status: string }) => r.status)).toEqual(['running', 'queued']);
    await processes.at(-1)!.kill('SIGKILL');

    url = await serve();
    const job = await waitForJob(url, id, ['completed', 'failed', 'stopped'], 120_000);
    expect(job.status).toBe('completed');
    const [interrupted, queued] = job.runs.map((r: { runId: string }) => r.runId);
    const metrics = fs.readFileSync(path.join(config.checkpointsDir, interrupted, 'metrics.jsonl'), 'utf8');
    expect(metrics).toMatch(/resumed from checkpoint at epoch 1, step 4/);
    expect(fs.existsSync(path.join(config.checkpointsDir, queued, 'weights-8.bin'))).toBe(true);

    const reference = await postJson(`${url}api/runs`, { ...recipe, policy: 'train-bn' });
    await waitForJob(url, reference.body.runId, ['completed'], 60_000);
    const weights = (runId: string) => fs.readFileSync(path.join(config.checkpointsDir, runId, 'weights-8.bin'));
    expect(weights(interrupted).equals(weights(reference.body.runId)), 'resumed and uninterrupted weights are identical').toBe(true);
  });
});
