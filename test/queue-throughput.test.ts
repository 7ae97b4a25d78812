/**
 * Throughput of the BullMQ queue on this machine: the same batch of short demo runs with one and
 * with two `bnlab worker` processes, runs per hour from the measured wall time, and the per-run
 * time split into training (the run's own summary) and per-task overhead (process start, model
 * load, queue hand-over). Writes test-output/scale.json; `node --import tsx tools/scale-report.ts`
 * turns it into docs/scale-results.md (with the projection to N machines).
 *
 * A measurement, not a check: it runs only with BNLAB_SCALE_MEASURE=1 (about two minutes), e.g.
 *   BNLAB_SCALE_MEASURE=1 nice -n 10 npx vitest run test/queue-throughput.test.ts
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig, PROJECT_ROOT } from '../server/config.ts';
import { ensureDemoDataset } from '../server/demo/make-dataset.ts';
import { createServer } from '../server/web/app.ts';
import { postJson, waitForJob } from './support/test-server.ts';
import { startBnlab, type BnlabProcess } from './support/bnlab-process.ts';
import { redisServerAvailable, startRedis } from './support/redis-server.ts';

export const SCALE_FILE = path.join(PROJECT_ROOT, 'test-output', 'scale.json');
const RUNS = 6;
const RECIPE = { backbone: 'demo', data: 'data/demo', epochs: 2, batchSize: 8, maxStepsPerEpoch: 5, logEvery: 5, policy: 'train-bn' };

describe.runIf(process.env.BNLAB_SCALE_MEASURE && redisServerAvailable())('queue throughput (measurement)', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it('measures runs per hour with one and with two local workers', { timeout: 900_000 }, async () => {
    const redis = await startRedis();
    cleanups.push(() => redis.stop());
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bnlab-scale-'));
    const config = { ...loadConfig({}), checkpointsDir: path.join(dir, 'checkpoints') };
    await ensureDemoDataset(config);
    const server = createServer({ config, queue: { redisUrl: redis.url } });
    cleanups.push(() => server.close());
    const { url } = await server.listen();
    const env = { BNLAB_REDIS_URL: redis.url, BNLAB_CHECKPOINTS_DIR: config.checkpointsDir };
    const workers: BnlabProcess[] = [];
    cleanups.push(async () => {
      for (const w of workers) await w.kill('SIGKILL');
    });
    const phases: Record<string, unknown>[] = [];
    let seed = 100;
    for (const count of [1, 2]) {
      while (workers.length < count) {
        const worker = startBnlab(['worker'], env);
        workers.push(worker);
        await worker.waitFor(/bnlab worker \S+: 1 at a time/);
      }
      const seeds = Array.from({ length: RUNS }, () => seed++);
      const started = Date.now();
      const created = await postJson(`${url}api/compare`, { recipe: RECIPE, policies: ['train-bn'], seeds });
      expect(created.status).toBe(201);
      const job = await waitForJob(url, created.body.comparisonId, ['completed', 'failed'], 850_000);
      expect(job.status).toBe('completed');
      const wallSeconds = (Date.now() - started) / 1000;
      const trainSeconds = job.runs.map((r: { summary: { seconds: number } }) => r.summary.seconds);
      const meanTrain = trainSeconds.reduce((a: number, b: number) => a + b, 0) / RUNS;
      phases.push({
        workers: count,
        runs: RUNS,
        wallSeconds,
        runsPerHour: (RUNS / wallSeconds) * 3600,
        meanTrainSeconds: meanTrain,
        // time one worker spends per run beyond the training itself (child start, model load, hand-over)
        meanOverheadSeconds: (wallSeconds * count) / RUNS - meanTrain,
        eventsPerRun: job.lastSeq / RUNS,
      });
    }
    const out = {
      measuredAt: new Date().toISOString(),
      command: 'BNLAB_SCALE_MEASURE=1 nice -n 10 npx vitest run test/queue-throughput.test.ts',
      recipe: RECIPE,
      cpus: os.cpus().length,
      loadAverageAtEnd: os.loadavg()[0],
      phases,
    };
    fs.mkdirSync(path.dirname(SCALE_FILE), { recursive: true });
    fs.writeFileSync(SCALE_FILE, JSON.stringify(out, null, 2));
  });
});
