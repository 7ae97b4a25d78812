/**
 * Every recipe flag, through the real `bnlab` binary, reaches the run: the recipe recorded in the
 * checkpoint holds each value, and the BN momentum flags reach the layers' plan (runStarted). A
 * value that is not a number is refused, naming its flag. New flags must be added here: the table
 * in server/cli/recipe-args.ts is checked against this test's list.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { RECIPE_FLAGS } from '../server/cli/recipe-args.ts';
import { PROJECT_ROOT } from '../server/config.ts';
import { makeDemoDataset } from '../server/demo/make-dataset.ts';
import type { RunStartedEvent } from '../server/schema/events.ts';

const run = promisify(execFile);
const BIN = path.join(PROJECT_ROOT, 'bin', 'bnlab.js');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'bnlab-flags-'));
const data = path.join(work, 'images');
const env = { ...process.env, BNLAB_CHECKPOINTS_DIR: path.join(work, 'checkpoints'), BNLAB_BACKEND: 'wasm' };
const bnlab = (...args: string[]) => run(process.execPath, [BIN, ...args], { env, cwd: work, maxBuffer: 32 * 1024 * 1024 });

/** flag → [value given, where it must show up in the recorded recipe, the value expected there] */
const CASES: Record<string, [string | null, string, unknown]> = {
  '--backbone': ['demo', 'backbone', 'demo'],
  '--data': [data, 'data', data],
  '--policy': ['bn-stats-only', 'policy', 'bn-stats-only'],
  '--epochs': ['1', 'epochs', 1],
  '--batch-size': ['8', 'batchSize', 8],
  '--lr': ['0.005', 'optimizer.lr', 0.005],
  '--optimizer': ['sgd', 'optimizer.type', 'sgd'],
  '--seed': ['3', 'seed', 3],
  '--max-steps': ['2', 'maxStepsPerEpoch', 2],
  '--precise-bn': [null, 'preciseBn', true],
  '--bn-momentum-keras': ['0.95', 'bnMomentum.keras', 0.95],
  '--preprocessing': ['[-1,1]', 'preprocessing', 'minus1to1'],
  '--cut': ['block4_pw_relu', 'cutLayer', 'block4_pw_relu'],
  '--data-seed': ['4', 'dataSeed', 4],
  '--resize': ['squash', 'resize', 'squash'],
  '--allow-tiny-batch': [null, 'allowTinyBatch', true],
};
const PYTORCH_MOMENTUM = '--bn-momentum-pytorch';
/** compare-only (checked by test/cli.test.ts's compare --seeds case) */
const COMPARE_SEEDS = '--seeds';

const at = (object: unknown, dotted: string) => dotted.split('.').reduce((o: any, k) => o?.[k], object);
const flagName = (flags: string) => flags.split(/[ ,]/)[0];

async function trainWith(args: string[], out: string) {
  await bnlab('train', ...args, '--out', out, '--json');
  const recipe = JSON.parse(fs.readFileSync(path.join(out, 'checkpoint.json'), 'utf8')).recipe;
  const events = fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  return { recipe, started: events.find((e) => e.type === 'runStarted') as RunStartedEvent };
}

describe('recipe flags reach the run', () => {
  beforeAll(async () => {
    await makeDemoDataset(data, { perClassTrain: 8, perClassVal: 4, seed: 2 });
  });

  it('this test covers every flag in the table', () => {
    expect(RECIPE_FLAGS.map((f) => flagName(f.flags)).sort()).toEqual([...Object.keys(CASES), PYTORCH_MOMENTUM, COMPARE_SEEDS].sort());
  });

  it('every flag lands in the recorded recipe; --bn-momentum-keras sets every BN layer', async () => {
    const args = Object.entries(CASES).flatMap(([flag, [value]]) => (value === null ? [flag] : [flag, value]));
    const { recipe, started } = await trainWith(args, path.join(work, 'all-flags'));
    for (const [flag, [, field, expected]] of Object.entries(CASES)) expect(at(recipe, field), flag).toEqual(expected);
    expect(started.policy.bnMomentumKeras).toBe(0.95);
  });

  it('--bn-momentum-pytorch 0.2 is Keras momentum 0.8 (weight of the new value vs the old)', async () => {
    const { recipe, started } = await trainWith(['--backbone', 'demo', '--data', data, '--epochs', '1', '--max-steps', '1', PYTORCH_MOMENTUM, '0.2'], path.join(work, 'pytorch'));
    expect(recipe.bnMomentum).toEqual({ pytorch: 0.2 });
    expect(started.policy.bnMomentumKeras).toBeCloseTo(0.8, 12);
  });

  it.each(['--bn-momentum-keras', '--bn-momentum-pytorch', '--epochs', '--lr'])('%s banana is refused naming the flag', async (flag) => {
    const failure = await bnlab('train', '--backbone', 'demo', '--data', data, flag, 'banana').then(() => null, (error) => error);
    expect(failure, 'exit status').not.toBeNull();
    expect(failure.code).toBe(1);
    expect(failure.stderr).toContain(flag);
    expect(failure.stderr).toMatch(/banana/);
  });

  it('the two momentum conventions cannot be given together', async () => {
    const failure = await bnlab('train', '--backbone', 'demo', '--data', data, '--bn-momentum-keras', '0.9', PYTORCH_MOMENTUM, '0.1').then(() => null, (error) => error);
    expect(failure?.stderr).toMatch(/cannot be used with/);
  });
});
