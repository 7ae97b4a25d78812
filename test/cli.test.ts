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
    const summaries = JSON.parse((await bnlab('compare', ...quick, '--policies', 'freeze-all,bn-stats-only', '--json')).stdout);
    expect(summaries.map((s: { policy: string }) => s.policy)).toEqual(['freeze-all', 'bn-stats-only']);
    expect(summaries[0].totalMeanShift).toBe(0);
    expect(summaries[1].totalMeanShift).toBeGreaterThan(0);
    expect(summaries[0].steps).toBe(summaries[1].steps);
    // the dashboard regroups CLI comparisons from the same manifest it writes for its own
    const manifests = path.join(work, 'checkpoints', '.dashboard', 'comparisons');
    const [manifest] = fs.readdirSync(manifests).map((f) => JSON.parse(fs.readFileSync(path.join(manifests, f), 'utf8')));
    expect(manifest.runIds).toEqual(summaries.map((s: { runId: string }) => s.runId));
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
