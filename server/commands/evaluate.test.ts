import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../engine/backend.ts';
import { loadCheckpoint } from '../train/checkpoint.ts';
import { evaluate } from '../train/evaluate.ts';
import { makeDemoCheckpoint } from '../../test/support/demo-checkpoint.ts';
import { evaluateCheckpoint, labelledEvaluationSet } from './evaluate.ts';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'bnlab-evaluate-'));
let checkpoint: string;
let data: string;

beforeAll(async () => {
  await selectBackend('wasm');
  ({ checkpoint, data } = await makeDemoCheckpoint(work, { perClassVal: 5 }));
});

afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

describe('evaluateCheckpoint', () => {
  it('evaluates val/ of a {train,val} folder: accuracy from the per-image results, the same figures as training reports', async () => {
    const report = await evaluateCheckpoint({ checkpoint, data, batchSize: 7 });
    expect(report.images).toBe(20);
    expect(report.perImage).toHaveLength(20);
    expect(report.perImage.every((p) => p.file.includes(`${path.sep}val${path.sep}`))).toBe(true);
    expect(report.accuracy).toBe(report.perImage.filter((p) => p.correct).length / 20);
    for (const p of report.perImage) {
      expect(p.correct).toBe(p.label === p.predicted);
      expect(p.label).toBe(path.basename(path.dirname(p.file)));
    }
    // the training loop's own evaluation of the same images
    const { model, meta } = await loadCheckpoint(checkpoint);
    const { dataset } = await labelledEvaluationSet(data, meta);
    const reference = await evaluate(model, dataset, 16);
    expect(report.accuracy).toBeCloseTo(reference.accuracy, 10);
    expect(report.loss).toBeCloseTo(reference.loss, 4);
    expect(report.entropy).toBeGreaterThan(0);
    expect(report.entropy).toBeLessThanOrEqual(Math.log(4) + 1e-6);
    model.dispose();
  });

  it('evaluates every image of a flat folder and names --data for classes the checkpoint lacks', async () => {
    const flat = path.join(work, 'flat');
    for (const cls of ['heart', 'dots']) fs.cpSync(path.join(data, 'val', cls), path.join(flat, cls), { recursive: true });
    expect((await evaluateCheckpoint({ checkpoint, data: flat })).images).toBe(10);
    fs.cpSync(path.join(data, 'val', 'heart'), path.join(flat, 'zebra'), { recursive: true });
    await expect(evaluateCheckpoint({ checkpoint, data: flat })).rejects.toThrow(/^--data .*class folder\(s\) zebra are not classes of the checkpoint/);
    await expect(evaluateCheckpoint({ checkpoint, data: path.join(work, 'none') })).rejects.toThrow(/^--data: data folder not found/);
  });
});
