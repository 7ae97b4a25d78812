/**
 * The command line as a user runs it: real `bnlab` processes on the embedded demo backbone and a
 * small generated image folder, checking what they print and write.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../server/config.ts';
import { makeDemoDataset } from '../server/demo/make-dataset.ts';
import { diskHandler } from '../server/backbones/model-files.ts';
import { DEMO_BACKBONE_DIR } from '../server/backbones/registry.ts';
import { snapshotBn } from '../server/stats/drift.ts';

const run = promisify(execFile);
const BIN = path.join(PROJECT_ROOT, 'bin', 'bnlab.js');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'bnlab-cli-'));
const data = path.join(work, 'images');
const env = { ...process.env, BNLAB_CHECKPOINTS_DIR: path.join(work, 'checkpoints'), BNLAB_BACKEND: 'wasm' };

async function bnlab(...args: string[]) {
  return run(process.execPath, [BIN, ...args], { env, cwd: work, maxBuffer: 32 * 1024 * 1024 });
}

const quick = ['--backbone', 'demo', '--data', data, '--epochs', '1', '--batch-size', '16', '--seed', '1'];

describe('bnlab CLI', () => {
  beforeAll(async () => {
    await makeDemoDataset(data, { perClassTrain: 12, perClassVal: 6, seed: 5 });
  });

  it('train --json prints a summary and leaves a checkpoint that plain tfjs loads', async () => {
    const out = path.join(work, 'run-a');
    const { stdout, stderr } = await bnlab('train', ...quick, '--policy', 'train-bn', '--out', out, '--json');
    const summary = JSON.parse(stdout);
    expect(summary.policy).toBe('train-bn');
    expect(summary.checkpointDir).toBe(out);
    expect(summary.valAccuracy).toBeGreaterThanOrEqual(0);
    expect(stderr).toMatch(/backend wasm/);
    expect(stderr).toMatch(/epoch 1: train loss/);
    const model = await tf.loadLayersModel(diskHandler(path.join(out, 'model.json')));
    expect(model.outputs[0].shape).toEqual([null, 4]);
    expect(fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8')).toMatch(/"type":"bnStats"/);

    const predicted = JSON.parse((await bnlab('predict', '--checkpoint', out, path.join(data, 'val'), '--json', '--top', '2')).stdout);
    expect(predicted.predictions).toHaveLength(24);
    for (const p of predicted.predictions) {
      expect(p.top).toHaveLength(2);
      expect(p.top[0].probability).toBeGreaterThanOrEqual(p.top[1].probability);
    }

    const exported = path.join(work, 'exported');
    await bnlab('export', '--checkpoint', out, '--out', exported);
    expect(JSON.parse(fs.readFileSync(path.join(exported, 'labels.json'), 'utf8')).labels).toHaveLength(4);
    // + backbone.json (train --backbone needs no flags) and metadata.json (@teachablemachine/image; the demo is [-1, 1])
    expect(fs.readdirSync(exported).sort()).toEqual(['backbone.json', 'labels.json', 'metadata.json', 'model.json', 'weights.bin']);
  });

  it('inspect --json ranks every BN layer by name and recommends a policy', async () => {
    const report = JSON.parse((await bnlab('inspect', ...quick, '--json')).stdout);
    const model = await tf.loadLayersModel(diskHandler(path.join(DEMO_BACKBONE_DIR, 'model.json')));
    const bnNames = [...snapshotBn(model).keys()];
    expect(report.layers.map((l: { layer: string }) => l.layer).sort()).toEqual([...bnNames].sort());
    expect([...report.ranking].sort()).toEqual([...bnNames].sort());
    expect(typeof report.recommendation.policy).toBe('string');
    expect(report.recommendation.reason.length).toBeGreaterThan(10);
  });

  it('recalibrate writes a loadable model whose BN statistics moved to the folder and nothing else', async () => {
    const out = path.join(work, 'recalibrated');
    const result = JSON.parse((await bnlab('recalibrate', '--backbone', 'demo', '--data', data, '--out', out, '--json')).stdout);
    expect(result.images).toBe(72);
    const before = await tf.loadLayersModel(diskHandler(path.join(DEMO_BACKBONE_DIR, 'model.json')));
    const after = await tf.loadLayersModel(diskHandler(path.join(out, 'model.json')));
    const a = snapshotBn(before);
    const b = snapshotBn(after);
    for (const [name, state] of a) {
      expect(Array.from(b.get(name)!.mean)).not.toEqual(Array.from(state.mean));
      expect(Array.from(b.get(name)!.gamma!)).toEqual(Array.from(state.gamma!));
    }
    // non-BN weights are untouched
    const conv = before.layers.find((l) => l.getClassName() === 'Conv2D')!;
    expect(Array.from(after.getLayer(conv.name).getWeights()[0].dataSync())).toEqual(Array.from(conv.getWeights()[0].dataSync()));
  });

  it('compare --json runs each policy on the same split', async () => {
    const report = JSON.parse((await bnlab('compare', ...quick, '--policies', 'freeze-all,bn-stats-only', '--json')).stdout);
    const summaries = report.runs;
    expect(summaries.map((s: { policy: string }) => s.policy)).toEqual(['freeze-all', 'bn-stats-only']);
    expect(summaries[0].totalMeanShift).toBe(0);
    expect(summaries[1].totalMeanShift).toBeGreaterThan(0);
    expect(summaries[0].steps).toBe(summaries[1].steps);
    // one seed: no interval, a verdict over images only
    expect(report.policies[0].valAccuracy).toMatchObject({ n: 1, sd: null, ci95: null });
    expect(report.verdicts).toHaveLength(1);
    expect(report.verdicts[0].seedVarianceIncluded).toBe(false);
    // the dashboard regroups CLI comparisons from the same manifest it writes for its own
    const manifests = path.join(work, 'checkpoints', '.dashboard', 'comparisons');
    const [manifest] = fs.readdirSync(manifests).map((f) => JSON.parse(fs.readFileSync(path.join(manifests, f), 'utf8')));
    expect(manifest.runIds).toEqual(summaries.map((s: { runId: string }) => s.runId));
  });

  it('compare --seeds 2: every policy x seed on one split, with per-seed values, intervals and verdicts', async () => {
    const { stdout } = await bnlab('compare', ...quick, '--max-steps', '2', '--policies', 'freeze-all,train-bn', '--seeds', '2', '--json');
    const report = JSON.parse(stdout);
    expect(report.seeds).toEqual([1, 2]);
    expect(report.dataSeed).toBe(1);
    expect(report.runs.map((r: { policy: string; seed: number }) => `${r.policy}@${r.seed}`)).toEqual(['freeze-all@1', 'train-bn@1', 'freeze-all@2', 'train-bn@2']);
    const valCorrect = report.runs.map((r: { valCorrect: string }) => r.valCorrect);
    for (const bits of valCorrect) expect(bits).toMatch(/^[01]{24}$/);
    for (const p of report.policies) {
      expect(p.valAccuracy.n).toBe(2);
      expect(p.valAccuracy.values).toHaveLength(2);
      expect(p.valAccuracy.ci95[0]).toBeLessThanOrEqual(p.valAccuracy.mean);
    }
    // the val accuracy is the share of '1' in the per-image record
    const run = report.runs[1];
    expect(run.valAccuracy).toBeCloseTo([...run.valCorrect].filter((c: string) => c === '1').length / 24, 10);
    expect(report.verdicts[0]).toMatchObject({ a: 'freeze-all', b: 'train-bn', seeds: 2, images: 24, seedVarianceIncluded: true });
    expect(report.verdicts[0].text).toMatch(/better at 95 %|not distinguishable at 95 %/);
  });

  it('compare prints per-seed values, intervals, the convergence column and the verdicts', async () => {
    const { stdout } = await bnlab('compare', ...quick, '--max-steps', '1', '--policies', 'freeze-all,adabn', '--seeds', '2');
    expect(stdout).toMatch(/\| policy +\| val acc % \| 95 % interval/);
    expect(stdout).toMatch(/per seed \(1, 2\)/);
    expect(stdout).toMatch(/freeze-all vs adabn: [+-]\d+\.\d points \[/);
    expect(stdout).toMatch(/mean over 2 seeds/);
  });

  it('train-mode BN at batch size 1 is refused with the reason and the override; the override runs without NaN', async () => {
    const failure = await bnlab('train', ...quick, '--policy', 'train-bn', '--batch-size', '1', '--max-steps', '2').then(
      () => null,
      (error: { code: number; stderr: string }) => error,
    );
    expect(failure?.code).toBe(1);
    expect(failure?.stderr).toMatch(/batch size 1 with \d+ BatchNorm layer\(s\) in training mode/);
    expect(failure?.stderr).toMatch(/per-image statistics/);
    expect(failure?.stderr).toMatch(/--allow-tiny-batch/);
    const { stdout, stderr } = await bnlab('train', ...quick, '--policy', 'train-bn', '--batch-size', '1', '--max-steps', '2', '--allow-tiny-batch', '--json');
    expect(stderr).not.toMatch(/NaN/);
    expect(JSON.parse(stdout).valTrainModeAccuracy).toBeNull();
    // frozen BN has no per-image statistics: batch size 1 is fine without the flag
    await bnlab('train', ...quick, '--policy', 'freeze-all', '--batch-size', '1', '--max-steps', '2');
  });

  it('--resize squash exists by that name, is printed at run start and recorded', async () => {
    const { stdout, stderr } = await bnlab('train', ...quick, '--policy', 'freeze-all', '--max-steps', '1', '--resize', 'squash', '--json');
    expect(stderr).toMatch(/preprocessing: resize 'squash' \(whole image to input x input/);
    expect(stderr).toMatch(/pixels \[-1, 1\] \(x \/ 127\.5 - 1\)/);
    const summary = JSON.parse(stdout);
    expect(summary.preprocessing).toMatchObject({ resize: 'squash', normalisation: 'minus1to1' });
    expect(summary.convergence.converged).toBeNull(); // one epoch: cannot tell
    const failure = await bnlab('train', ...quick, '--resize', 'stretch').catch((e: { stderr: string }) => e);
    expect((failure as { stderr: string }).stderr).toMatch(/--resize.*stretch.*crop, squash, pad|Allowed choices are crop, squash, pad/);
  });

  it('a broken recipe names its field and exits 1 without a stack trace', async () => {
    const recipe = path.join(work, 'broken.json');
    fs.writeFileSync(recipe, JSON.stringify({ backbone: 'demo', data, epochs: 0, policy: 'freeze-most' }));
    const failure = await bnlab('train', '--recipe', recipe).then(
      () => null,
      (error: { code: number; stderr: string }) => error,
    );
    expect(failure?.code).toBe(1);
    expect(failure?.stderr).toMatch(/epochs: /);
    expect(failure?.stderr).toMatch(/policy: .*unknown policy/);
    expect(failure?.stderr).not.toMatch(/\n\s+at /);
  });
});
