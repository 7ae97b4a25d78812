/**
 * Bring your own model through real `bnlab` processes: the refusal of a model whose preprocessing
 * is not stated (exit 1, a message naming both ways to state it, no stack trace), `bnlab layers`,
 * the setup line every command prints, and `recalibrate` output used by predict, export, inspect
 * and train (it used to fail predict with "imageSize must be a positive integer, got undefined").
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeLayersModel } from '../server/train/checkpoint.ts';
import { BNLAB_BIN, STACK_TRACE, cliEnv, writeImageFolder } from './support/reliability-fixtures.ts';
import { TOPOLOGIES, randomizeBatchNorm } from './support/topologies.ts';

const run = promisify(execFile);
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'bnlab-byom-cli-'));
const model = path.join(work, 'darknet');
const data = path.join(work, 'images');
const env = cliEnv({ BNLAB_CHECKPOINTS_DIR: path.join(work, 'checkpoints') });

async function bnlab(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [BNLAB_BIN, ...args], { env, cwd: work, maxBuffer: 1 << 24 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('bnlab with a model of unknown preprocessing (darknet-style, random weights)', () => {
  beforeAll(async () => {
    const { model: net } = TOPOLOGIES.darknet('dn');
    randomizeBatchNorm(net, 3);
    await writeLayersModel(model, net);
    net.dispose();
    await writeImageFolder(data, 6);
  });

  it('train, inspect and recalibrate refuse it, naming --preprocessing, backbone.json and bnlab layers', async () => {
    for (const args of [
      ['train', '--backbone', model, '--data', data, '--epochs', '1'],
      ['inspect', '--backbone', model, '--data', data],
      ['recalibrate', '--backbone', model, '--data', data, '--out', path.join(work, 'never')],
    ]) {
      const { code, stderr } = await bnlab(...args);
      expect(code, args[0]).toBe(1);
      expect(stderr).toContain('does not say how its pixels are scaled');
      expect(stderr).toContain('--preprocessing <mode>');
      expect(stderr).toContain(path.join(model, 'backbone.json'));
      expect(stderr).toContain(`bnlab layers --backbone ${model}`);
      expect(stderr).not.toMatch(STACK_TRACE);
    }
    expect(fs.existsSync(path.join(work, 'never'))).toBe(false);
  });

  it('bnlab layers lists shapes, BN layers and the default cut (the class-count conv is skipped)', async () => {
    const { code, stdout } = await bnlab('layers', '--backbone', model);
    expect(code).toBe(0);
    expect(stdout).toContain('preprocessing NOT STATED');
    expect(stdout).toMatch(/dn_leaky2 +LeakyReLU +\[4, 4, 16\] +0 +<- default cut/);
    expect(stdout).toMatch(/dn_conv0_bn +BatchNormalization +\[16, 16, 8\] +32 +BN/);
    expect(stdout).toMatch(/dn_logits_conv +Conv2D +\[4, 4, 5\]/);
    const json = JSON.parse((await bnlab('layers', '--backbone', model, '--cut', 'dn_leaky1', '--json')).stdout);
    expect(json.setup).toMatchObject({ cutLayer: 'dn_leaky1', cutLayerFrom: 'option', preprocessingFrom: 'unstated' });
    expect(json.layers.find((l: { cut: boolean }) => l.cut).name).toBe('dn_leaky1');
    const missing = await bnlab('layers', '--backbone', model, '--cut', 'nope');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/has no layer 'nope' to cut at; layers with 4-D output near the end: .*\(the name came from --cut/);
  });

  it('with --preprocessing every command prints backbone, input size, preprocessing and cut first; inspect --json carries them', async () => {
    const train = await bnlab('train', '--backbone', model, '--data', data, '--preprocessing', '[0,1]', '--epochs', '1', '--batch-size', '4', '--max-steps', '1', '--out', path.join(work, 'ck'));
    expect(train.code, train.stderr).toBe(0);
    expect(train.stderr).toContain('backbone darknet: input 16x16, preprocessing [0, 1] (x / 255) (as given), cut at dn_leaky2 (default rule)');
    expect(train.stderr.indexOf('backbone darknet:')).toBeLessThan(train.stderr.indexOf('step 1/1'));
    const inspect = await bnlab('inspect', '--backbone', model, '--data', data, '--preprocessing', 'imagenet', '--cut', 'dn_leaky1', '--batch-size', '4', '--json');
    expect(inspect.code, inspect.stderr).toBe(0);
    expect(JSON.parse(inspect.stdout).setup).toEqual({ backbone: 'darknet', inputSize: 16, preprocessing: 'imagenet', preprocessingFrom: 'option', cutLayer: 'dn_leaky1', cutLayerFrom: 'option' });
    expect(inspect.stderr).toContain('preprocessing imagenet (x / 255 - mean) / std');
  });

  it('recalibrate output is usable by predict, export, inspect and train --backbone', async () => {
    const out = path.join(work, 'recal');
    const recal = await bnlab('recalibrate', '--backbone', model, '--data', data, '--preprocessing', 'mean=0.5,0.5,0.5;std=0.25,0.25,0.25', '--out', out, '--batch-size', '4');
    expect(recal.code, recal.stderr).toBe(0);
    expect(recal.stderr).toContain('backbone darknet: input 16x16, preprocessing (x / 255 - mean) / std, mean 0.5, 0.5, 0.5, std 0.25, 0.25, 0.25 (as given), cut at dn_leaky2 (default rule)');
    const predicted = await bnlab('predict', '--checkpoint', out, path.join(data, 'warm'), '--json', '--top', '1');
    expect(predicted.code, predicted.stderr).toBe(0);
    expect(JSON.parse(predicted.stdout).predictions).toHaveLength(6);
    expect(predicted.stderr).toContain('5 classes (from model.json)');
    const exported = await bnlab('export', '--checkpoint', out, '--out', path.join(work, 'recal-export'));
    expect(exported.code, exported.stderr).toBe(0);
    expect(exported.stdout).toContain('no metadata.json: @teachablemachine/image scales pixels to [-1, 1]');
    const again = await bnlab('inspect', '--backbone', out, '--data', data, '--batch-size', '4', '--json');
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout).setup).toMatchObject({ preprocessing: { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] }, preprocessingFrom: 'sidecar', cutLayer: 'dn_leaky2' });
    const train = await bnlab('train', '--backbone', out, '--data', data, '--epochs', '1', '--batch-size', '4', '--max-steps', '1', '--out', path.join(work, 'ck-recal'));
    expect(train.code, train.stderr).toBe(0);
  });

  it('predict on a folder that describes no classifier says what it needs', async () => {
    const { code, stderr } = await bnlab('predict', '--checkpoint', model, data);
    expect(code).toBe(1);
    expect(stderr).toContain('does not describe a classifier');
    expect(stderr).not.toMatch(STACK_TRACE);
  });
});
