/**
 * `adapt` on the embedded demo backbone: the written checkpoint loads with plain tf.loadLayersModel
 * and predicts, `stats` holds the target population statistics, `tent` changes only BN gamma/beta
 * (and the statistics), runs are reproducible by seed, and bad flags are named.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diskHandler } from '../backbones/model-files.ts';
import { selectBackend } from '../engine/backend.ts';
import { ImageDataset } from '../data/dataset.ts';
import { listImageFiles } from '../data/list-images.ts';
import { readBnState, snapshotBn } from '../stats/drift.ts';
import { directMoments, expectClose } from '../../test/support/reference-moments.ts';
import { imageTensors } from '../train/experiment.ts';
import { predictFiles } from './predict.ts';
import { makeDemoCheckpoint } from '../../test/support/demo-checkpoint.ts';
import { adaptCheckpoint, episodicTent, parseAdaptSettings } from './adapt.ts';
import { evaluateCheckpoint } from './evaluate.ts';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'bnlab-adapt-'));
let checkpoint: string;
let target: string;

beforeAll(async () => {
  await selectBackend('wasm');
  ({ checkpoint } = await makeDemoCheckpoint(work));
  target = path.join(work, 'images', 'val'); // class sub-folders present but not needed
});

afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

const load = (dir: string) => tf.loadLayersModel(diskHandler(path.join(dir, 'model.json')));

/** weight name -> bytes, for bit-identity checks */
async function weights(dir: string): Promise<Map<string, Buffer>> {
  const model = await load(dir);
  const out = new Map(model.weights.map((w) => [w.originalName, Buffer.from(new Float32Array(w.read().dataSync()).buffer)]));
  model.dispose();
  return out;
}

describe('adapt --method stats', () => {
  it('writes a checkpoint that plain tfjs loads and runs, holding the population statistics of the target images', async () => {
    const out = path.join(work, 'stats');
    const result = await adaptCheckpoint({ checkpoint, data: target, out, settings: parseAdaptSettings({ method: 'stats', batchSize: '7' }) });
    expect(result.images).toBe(24);
    expect(result.sourceWeight).toBe(0);
    expect(result.drift.length).toBeGreaterThan(5);

    const model = await load(out);
    const probs = model.predict(tf.zeros([2, 64, 64, 3])) as tf.Tensor2D;
    expect(probs.shape).toEqual([2, 4]);
    for (const row of (await probs.array()) as number[][]) expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);

    // the first BN layer, directly: the stem conv's output over every target image at once
    const dataset = new ImageDataset({ items: (await listImageFiles(target)).map((p) => ({ path: p, label: 0 })), imageSize: 64, preprocessing: 'minus1to1', augment: null });
    const batches: tf.Tensor4D[] = [];
    for await (const batch of imageTensors(dataset, 100)) batches.push(batch);
    const stemInput = model.getLayer('stem_bn').getInputAt(0) as tf.SymbolicTensor;
    const direct = tf.tidy(() => directMoments(tf.model({ inputs: model.inputs, outputs: stemInput }).predict(batches[0]) as tf.Tensor));
    expectClose(readBnState(model.getLayer('stem_bn')).mean, direct.mean, 1e-4, 1e-5);
    expectClose(readBnState(model.getLayer('stem_bn')).variance, direct.variance, 1e-4, 1e-5);

    // only moving statistics changed
    const [before, after] = [await weights(checkpoint), await weights(out)];
    const changed = [...before.keys()].filter((name) => !before.get(name)!.equals(after.get(name)!));
    expect(changed.length).toBeGreaterThan(0);
    expect(changed.every((name) => /\/moving_(mean|variance)$/.test(name))).toBe(true);
    tf.dispose([probs, ...batches]);
    model.dispose();

    // and the other commands read it
    const evaluated = await evaluateCheckpoint({ checkpoint: out, data: path.join(work, 'images') });
    expect(evaluated.images).toBe(24);
    const predicted = await predictFiles(out, [target], 1);
    expect(predicted.predictions).toHaveLength(24);
  });

  it('--prior N mixes with weight N/(N+n)', async () => {
    const result = await adaptCheckpoint({ checkpoint, data: target, out: path.join(work, 'prior'), settings: parseAdaptSettings({ method: 'stats', prior: '8' }) });
    expect(result.sourceWeight).toBeCloseTo(8 / 32, 12);
    const source = snapshotBn(await load(checkpoint)).get('stem_bn')!;
    const pure = snapshotBn(await load(path.join(work, 'stats'))).get('stem_bn')!;
    const mixed = snapshotBn(await load(path.join(work, 'prior'))).get('stem_bn')!;
    const expected = source.mean.map((m, c) => 0.25 * m + 0.75 * pure.mean[c]);
    expectClose(mixed.mean, expected, 1e-5, 1e-6);
  });
});

describe('adapt --method tent', () => {
  it('changes BN gamma/beta (and statistics) only, every conv and head weight bit-identical; reproducible by seed', async () => {
    const settings = (seed: string) => parseAdaptSettings({ method: 'tent', steps: '3', batchSize: '8', lr: '0.01', seed });
    const a = await adaptCheckpoint({ checkpoint, data: target, out: path.join(work, 'tent-a'), settings: settings('0') });
    expect(a.tentSteps).toBe(3);
    expect(a.tentEntropies).toHaveLength(3);
    const [before, after] = [await weights(checkpoint), await weights(a.out)];
    const changed = [...before.keys()].filter((name) => !before.get(name)!.equals(after.get(name)!));
    expect(changed.some((name) => name.endsWith('/gamma'))).toBe(true);
    expect(changed.some((name) => name.endsWith('/beta'))).toBe(true);
    expect(changed.every((name) => /\/(gamma|beta|moving_mean|moving_variance)$/.test(name))).toBe(true);
    expect([...before.keys()].filter((name) => name.startsWith('bnlab_head')).every((name) => before.get(name)!.equals(after.get(name)!))).toBe(true);

    const again = await adaptCheckpoint({ checkpoint, data: target, out: path.join(work, 'tent-b'), settings: settings('0') });
    const other = await adaptCheckpoint({ checkpoint, data: target, out: path.join(work, 'tent-c'), settings: settings('1') });
    expect(again.tentEntropies).toEqual(a.tentEntropies);
    const gamma = async (dir: string) => (await weights(dir)).get('block3_pw_bn/gamma')!;
    expect((await gamma(again.out)).equals(await gamma(a.out))).toBe(true);
    expect((await gamma(other.out)).equals(await gamma(a.out))).toBe(false);

    const model = await load(a.out);
    expect((model.predict(tf.zeros([1, 64, 64, 3])) as tf.Tensor).shape).toEqual([1, 4]);
    model.dispose();
  });
});

describe('adapt --method tent --episodic', () => {
  it('predicts every image after adapting its own batch from the source, writes predictions.json and no checkpoint', async () => {
    const settings = parseAdaptSettings({ method: 'tent', episodic: true, batchSize: '5', lr: '0.01', seed: '2' });
    expect(settings.episodic).toBe(true);
    const before = await weights(checkpoint);
    const a = await episodicTent({ checkpoint, data: target, out: path.join(work, 'episodic-a'), settings });
    expect(a.images).toBe(24); // batches 5,5,5,5,4
    expect(a.accuracy).not.toBeNull();
    expect(a.predictions.every((p) => p.label !== null && p.probability > 0 && p.probability <= 1)).toBe(true);
    expect(fs.readdirSync(a.out)).toEqual(['predictions.json']);
    const b = await episodicTent({ checkpoint, data: target, out: path.join(work, 'episodic-b'), settings });
    expect(b.predictions).toEqual(a.predictions);
    const after = await weights(checkpoint);
    for (const [name, value] of before) expect(after.get(name)!.equals(value)).toBe(true);
    await expect(adaptCheckpoint({ checkpoint, data: target, out: path.join(work, 'episodic-c'), settings })).rejects.toThrow(/--episodic writes predictions/);
  });
});

describe('adapt: bad input names the flag', () => {
  it('refuses batch size 1 for tent, unknown or missing methods, bad numbers', () => {
    expect(() => parseAdaptSettings({ method: 'tent', batchSize: '1' })).toThrow(/^--batch-size 1: TENT normalises every BN layer/);
    expect(() => parseAdaptSettings({ method: 'norm' })).toThrow(/^--method: unknown method 'norm'; choose stats or tent/);
    expect(() => parseAdaptSettings({})).toThrow(/^--method: missing/);
    expect(() => parseAdaptSettings({ method: 'stats', prior: '-3' })).toThrow(/^--prior must be a number >= 0/);
    expect(() => parseAdaptSettings({ method: 'tent', steps: '0' })).toThrow(/^--steps must be a positive integer, got '0'/);
    expect(() => parseAdaptSettings({ method: 'tent', lr: 'fast' })).toThrow(/^--lr must be a positive number/);
    expect(() => parseAdaptSettings({ method: 'stats', steps: '4' })).toThrow(/--steps and --lr apply to --method tent only/);
    expect(() => parseAdaptSettings({ method: 'stats', episodic: true })).toThrow(/^--episodic applies to --method tent only/);
    expect(parseAdaptSettings({ method: 'stats', batchSize: '1' }).batchSize).toBe(1);
  });

  it('refuses a missing data folder, a non-empty --out and --out equal to --checkpoint', async () => {
    const settings = parseAdaptSettings({ method: 'stats' });
    await expect(adaptCheckpoint({ checkpoint, data: path.join(work, 'nowhere'), out: path.join(work, 'x1'), settings })).rejects.toThrow(/^--data: folder not found/);
    await expect(adaptCheckpoint({ checkpoint, data: target, out: path.join(work, 'stats'), settings })).rejects.toThrow(/^--out .* exists and is not empty/);
    await expect(adaptCheckpoint({ checkpoint, data: target, out: checkpoint, settings })).rejects.toThrow(/--out must differ from --checkpoint/);
    const empty = path.join(work, 'empty');
    fs.mkdirSync(path.join(empty, 'sub'), { recursive: true });
    await expect(adaptCheckpoint({ checkpoint, data: empty, out: path.join(work, 'x2'), settings })).rejects.toThrow(/^--data: no images in/);
  });
});
