/**
 * The dashboard's adapt job end to end through the API, with the real worker: a 1-epoch demo run
 * trained in the test, then POST /api/adapt (stats, one corruption at one severity) and its result
 * through GET /api/adapt/:id; the before figure is checked against `corrupt` + `evaluate` run here.
 * Also the field-named 400s (tent with batch size 1, too many corruptions/severities, a run that
 * does not exist).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { corruptFolder } from '../server/commands/corrupt.ts';
import { evaluateCheckpoint } from '../server/commands/evaluate.ts';
import { makeDemoDataset } from '../server/demo/make-dataset.ts';
import type { AdaptJobResponse } from '../server/schema/api.ts';
import { DEFAULT_WORKER_FILE } from '../server/web/queue/run-queue.ts';
import { getJson, makeTestEnvironment, postJson, startTestServer, waitFor, waitForJob, type RunningServer } from './support/test-server.ts';

const fieldsOf = (body: { fields?: { field: string }[] }) => (body.fields ?? []).map((f) => f.field).sort();

describe('adapt job (POST /api/adapt)', () => {
  let running: RunningServer;
  let url: string;
  let runId: string;
  let data: string;

  beforeAll(async () => {
    const env = makeTestEnvironment();
    data = path.join(env.dataRoot, 'demo-small');
    await makeDemoDataset(data, { perClassTrain: 4, perClassVal: 4, seed: 5 });
    running = await startTestServer(env, { queue: { workerFile: DEFAULT_WORKER_FILE } });
    url = running.url;
    const submitted = await postJson(`${url}api/runs`, { backbone: 'demo', data, policy: 'freeze-all', epochs: 1, batchSize: 8 });
    expect(submitted.status, JSON.stringify(submitted.body)).toBe(201);
    runId = submitted.body.runId;
    const done = await waitForJob(url, runId, ['completed', 'failed'], 60_000);
    expect(done.status, done.error ?? '').toBe('completed');
  }, 90_000);

  afterAll(async () => {
    await running?.close();
    if (running) fs.rmSync(running.env.dir, { recursive: true, force: true });
  });

  it('names the wrong field', async () => {
    const ok = { checkpoint: runId, method: 'stats', corruptions: ['contrast'], severities: [3] };
    const tent = await postJson(`${url}api/adapt`, { ...ok, method: 'tent', batchSize: 1 });
    expect(tent.status).toBe(400);
    expect(fieldsOf(tent.body)).toEqual(['batchSize']);
    const many = await postJson(`${url}api/adapt`, { ...ok, corruptions: ['gaussian-noise', 'blur', 'contrast', 'brightness', 'invert', 'jpeg', 'jpeg'], severities: [1, 2, 3, 4, 5, 6] });
    expect(many.status).toBe(400);
    expect(fieldsOf(many.body)).toEqual(['corruptions', 'severities']);
    const unknown = await postJson(`${url}api/adapt`, { ...ok, corruptions: ['fog'] });
    expect(fieldsOf(unknown.body)).toEqual(['corruptions.0']);
    const steps = await postJson(`${url}api/adapt`, { ...ok, steps: 3 });
    expect(fieldsOf(steps.body)).toEqual(['steps']);
    const missing = await postJson(`${url}api/adapt`, { ...ok, checkpoint: 'run-that-never-was' });
    expect(missing.status).toBe(400);
    expect(fieldsOf(missing.body)).toEqual(['checkpoint']);
  });

  it('adapts a finished run: before/after accuracy and per-layer drift for each corruption × severity', { timeout: 60_000 }, async () => {
    const submitted = await postJson(`${url}api/adapt`, { checkpoint: runId, method: 'stats', corruptions: ['contrast'], severities: [5] });
    expect(submitted.status, JSON.stringify(submitted.body)).toBe(202);
    const id: string = submitted.body.adaptId;
    const result = await waitFor(async () => {
      const { body } = await getJson(`${url}api/adapt/${id}`);
      return ['completed', 'failed', 'stopped'].includes(body?.status) ? (body as AdaptJobResponse) : null;
    }, 50_000, 'the adapt job');
    expect(result.status, result.error ?? '').toBe('completed');
    expect(result.request).toMatchObject({ checkpoint: runId, method: 'stats', corruptions: ['contrast'], severities: [5] });
    const report = result.report!;
    expect(report.runId).toBe(runId);
    expect(report.cells).toHaveLength(1);
    const [cell] = report.cells;
    if (process.env.BNLAB_TEST_VERBOSE) console.log(JSON.stringify({ ...cell, drift: cell.drift.slice(0, 2) }));
    expect(cell).toMatchObject({ corruption: 'contrast', severity: 5, images: report.classes.length * 4 });
    for (const value of [cell.before.accuracy, cell.after.accuracy]) expect(value).toBeGreaterThanOrEqual(0), expect(value).toBeLessThanOrEqual(1);
    // every BN layer of the demo backbone, and stats adaptation moved the statistics, not gamma/beta
    expect(cell.drift.length).toBeGreaterThan(3);
    expect(cell.drift.every((d) => d.meanShift > 0 && d.logVarRatio >= 0)).toBe(true);
    expect(cell.drift.every((d) => d.gammaChange === 0 && d.betaChange === 0)).toBe(true);
    expect(cell.sourceWeight).toBe(0);

    // the job's "before" is what `corrupt` + `evaluate` give on the same images
    const copy = path.join(running.env.dir, 'contrast-5');
    await corruptFolder({ data, corruption: 'contrast', severity: 5, out: copy, seed: 0, size: 64 });
    const direct = await evaluateCheckpoint({ checkpoint: path.join(running.env.config.checkpointsDir, runId), data: copy });
    expect(direct.images).toBe(cell.images);
    expect(cell.before.accuracy).toBe(direct.accuracy);
    expect(cell.before.loss).toBeCloseTo(direct.loss, 5);

    // the job endpoints know it like any other job
    const { body: detail } = await getJson(`${url}api/runs/${id}`);
    expect(detail).toMatchObject({ id, kind: 'adapt', status: 'completed' });
    const { body: listed } = await getJson(`${url}api/runs?kind=adapt`);
    expect(listed.runs.map((r: { id: string }) => r.id)).toEqual([id]);
  });
});
