/**
 * Test-time adaptation from the command line, as a user runs it: corrupt a demo folder's val
 * images, adapt a checkpoint to them without labels, evaluate before and after; bad flags exit 1
 * with a message naming the flag.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../server/config.ts';
import { diskHandler } from '../server/backbones/model-files.ts';
import { makeDemoCheckpoint } from './support/demo-checkpoint.ts';

const run = promisify(execFile);
const BIN = path.join(PROJECT_ROOT, 'bin', 'bnlab.js');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'bnlab-adapt-cli-'));
const env = { ...process.env, BNLAB_CHECKPOINTS_DIR: path.join(work, 'checkpoints'), BNLAB_BACKEND: 'wasm' };
let checkpoint: string;
let data: string;

async function bnlab(...args: string[]) {
  return run(process.execPath, [BIN, ...args], { env, cwd: work, maxBuffer: 32 * 1024 * 1024 });
}

async function failure(...args: string[]): Promise<{ code: number; stderr: string }> {
  return bnlab(...args).then(
    () => ({ code: 0, stderr: '' }),
    (error: { code: number; stderr: string }) => error,
  );
}

describe('bnlab corrupt / adapt / evaluate', () => {
  beforeAll(async () => {
    ({ checkpoint, data } = await makeDemoCheckpoint(work, { perClassVal: 4 }));
  });

  it('corrupts val, adapts to it without labels and evaluates the adapted checkpoint', async () => {
    const corrupted = path.join(work, 'contrast-5');
    const made = JSON.parse((await bnlab('corrupt', '--data', data, '--corruption', 'contrast', '--severity', '5', '--size', '64', '--out', corrupted, '--json')).stdout);
    expect(made.images).toBe(16);
    expect(made.parameter).toBe(0.05);

    const before = JSON.parse((await bnlab('evaluate', '--checkpoint', checkpoint, '--data', corrupted, '--json')).stdout);
    expect(before.images).toBe(16);
    expect(before.perImage).toHaveLength(16);

    const adapted = path.join(work, 'adapted');
    const summary = JSON.parse((await bnlab('adapt', '--checkpoint', checkpoint, '--data', corrupted, '--method', 'tent', '--steps', '2', '--batch-size', '8', '--prior', '4', '--out', adapted, '--json')).stdout);
    expect(summary.tentSteps).toBe(2);
    expect(summary.sourceWeight).toBeCloseTo(4 / 20, 12);
    const model = await tf.loadLayersModel(diskHandler(path.join(adapted, 'model.json')));
    expect(model.outputs[0].shape).toEqual([null, 4]);

    const after = JSON.parse((await bnlab('evaluate', '--checkpoint', adapted, '--data', corrupted, '--json')).stdout);
    expect(after.images).toBe(16);
    const { stdout } = await bnlab('evaluate', '--checkpoint', adapted, '--data', corrupted);
    expect(stdout).toMatch(/^16 images: accuracy \d+\.\d %, loss \d+\.\d+, mean entropy \d+\.\d+ nats/);
  });

  it('bad input exits 1 naming the flag, without a stack trace', async () => {
    const cases: [string[], RegExp][] = [
      [['adapt', '--checkpoint', checkpoint, '--data', data, '--method', 'tent', '--batch-size', '1', '--out', path.join(work, 'x')], /--batch-size 1: TENT/],
      [['adapt', '--checkpoint', checkpoint, '--data', data, '--method', 'bn', '--out', path.join(work, 'x')], /--method: unknown method 'bn'/],
      [['adapt', '--checkpoint', checkpoint, '--data', path.join(work, 'missing'), '--method', 'stats', '--out', path.join(work, 'x')], /--data: folder not found/],
      [['adapt', '--checkpoint', path.join(work, 'no-run'), '--data', data, '--method', 'stats', '--out', path.join(work, 'x')], /--checkpoint .*no-run: no model.json/],
      [['corrupt', '--data', data, '--corruption', 'fog', '--severity', '1', '--out', path.join(work, 'x')], /--corruption: unknown corruption 'fog'/],
    ];
    for (const [args, message] of cases) {
      const result = await failure(...args);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(message);
      expect(result.stderr).not.toMatch(/\n\s+at /);
    }
    expect(fs.existsSync(path.join(work, 'x'))).toBe(false);
  });
});
