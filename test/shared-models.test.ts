/**
 * Real pretrained backbones on real images (../shared, pointed to by BNLAB_MODELS_DIR and
 * BNLAB_SHARED_DATA; CI sets both): each trains on wasm, its checkpoint round-trips through plain
 * tf.loadLayersModel, and its BN statistics behave as the policy says.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../server/config.ts';
import { selectBackend } from '../server/engine/backend.ts';
import { type RunEvent } from '../server/schema/events.ts';
import { parseRecipe } from '../server/schema/recipe.ts';
import { diskHandler } from '../server/backbones/model-files.ts';
import { loadCheckpoint } from '../server/train/checkpoint.ts';
import { runTraining } from '../server/train/loop.ts';

const modelsDir = process.env.BNLAB_MODELS_DIR;
const sharedData = process.env.BNLAB_SHARED_DATA;
const available = Boolean(modelsDir && sharedData);
if (!available && process.env.CI) throw new Error('CI must set BNLAB_MODELS_DIR and BNLAB_SHARED_DATA');

const cases = [
  { backbone: 'mobilenet_v1_0.25_224', data: 'ants-bees', bnLayers: 27 },
  { backbone: 'teachable_mobilenet_v2_0.35_224', data: 'fashion-mnist-mini', bnLayers: 52 },
];

describe.skipIf(!available)('shared pretrained backbones on wasm', () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'bnlab-shared-'));
  const config = { ...loadConfig(), checkpointsDir: work };

  beforeAll(async () => {
    expect(await selectBackend('wasm')).toBe('wasm');
  });

  for (const c of cases) {
    it(`${c.backbone}: train-bn steps on ${c.data}, checkpoint loads with plain tfjs and predicts the same`, async () => {
      const events: RunEvent[] = [];
      const recipe = parseRecipe({
        backbone: c.backbone,
        data: path.join(sharedData!, c.data),
        policy: 'train-bn',
        epochs: 1,
        batchSize: 8,
        maxStepsPerEpoch: 2,
        logEvery: 1,
      });
      const summary = await runTraining(recipe, { runId: c.backbone, config, backend: 'wasm', onEvent: (e) => events.push(e) });
      const started = events.find((e): e is Extract<RunEvent, { type: 'runStarted' }> => e.type === 'runStarted')!;
      expect(started.backbone.bnLayers).toHaveLength(c.bnLayers);
      expect(started.backend).toBe('wasm');
      const steps = events.filter((e) => e.type === 'stepEnd');
      expect(steps).toHaveLength(2);
      for (const step of steps) if (step.type === 'stepEnd') expect(Number.isFinite(step.loss)).toBe(true);
      const drift = events.filter((e) => e.type === 'bnStats').at(-1)!;
      if (drift.type !== 'bnStats') throw new Error('unreachable');
      // two EMA steps with the pretrained momentum move every training-mode BN layer a little
      expect(drift.layers.filter((l) => l.meanShift > 0)).toHaveLength(c.bnLayers);
      expect(summary.valAccuracy).toBeGreaterThanOrEqual(0);

      const plain = await tf.loadLayersModel(diskHandler(path.join(summary.checkpointDir, 'model.json')));
      const { model: restored, meta } = await loadCheckpoint(summary.checkpointDir);
      expect(meta.inputSize).toBe(224);
      const x = tf.randomUniform([2, 224, 224, 3], -1, 1, 'float32', 7);
      const a = (plain.predict(x) as tf.Tensor).dataSync();
      const b = (restored.predict(x) as tf.Tensor).dataSync();
      expect(Array.from(a)).toEqual(Array.from(b));
      tf.dispose([x, plain, restored] as unknown as tf.Tensor[]);
    });
  }
});
