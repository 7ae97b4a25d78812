import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { BackboneError } from './errors.ts';
import { diskHandler, groupByteLength, parseModelJson, readModelFolder } from './model-files.ts';
import { tempDir, tinyBnModel, writeModelFolder } from '../../test/support/backbone-fixtures.ts';

async function expectBackboneError(promise: Promise<unknown>, code: string, ...fragments: string[]): Promise<BackboneError> {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(BackboneError);
  const be = err as BackboneError;
  expect(be.code).toBe(code);
  for (const f of fragments) expect(be.message).toContain(f);
  return be;
}

describe('reading a model folder', () => {
  let dir: string;
  beforeAll(async () => {
    await tf.setBackend('cpu');
    dir = tempDir();
    await writeModelFolder(tinyBnModel(), dir, 3);
  });

  it('concatenates shards in manifest order: the model loads with the saved weights', async () => {
    const original = tinyBnModel('tiny_ref');
    const folder = tempDir();
    await writeModelFolder(original, folder, 3);
    const loaded = await tf.loadLayersModel(diskHandler(folder));
    const x = tf.randomNormal([2, 16, 16, 3], 0, 1, 'float32', 7);
    const a = original.predict(x) as tf.Tensor;
    const b = loaded.predict(x) as tf.Tensor;
    expect(Array.from(await b.data())).toEqual(Array.from(await a.data()));
    const conv = original.getLayer('tiny_ref_conv1').getWeights()[0];
    expect(Array.from(await loaded.getLayer('tiny_ref_conv1').getWeights()[0].data())).toEqual(Array.from(await conv.data()));
  });

  it('missing model.json names the path', async () => {
    const empty = tempDir();
    await expectBackboneError(readModelFolder(empty), 'missing-model-json', path.join(empty, 'model.json'));
  });

  it('model.json that is not JSON', async () => {
    const bad = tempDir();
    fs.writeFileSync(path.join(bad, 'model.json'), '{"modelTopology": ');
    await expectBackboneError(readModelFolder(bad), 'bad-model-json', 'not valid JSON');
  });

  it('missing shard names the shard', async () => {
    const broken = tempDir();
    await writeModelFolder(tinyBnModel(), broken, 3);
    fs.rmSync(path.join(broken, 'group2-shard1of1'));
    await expectBackboneError(readModelFolder(broken), 'missing-shard', 'group2-shard1of1', 'is missing');
  });

  it('truncated shard reports bytes held vs bytes the weight specs need', async () => {
    const broken = tempDir();
    await writeModelFolder(tinyBnModel(), broken, 3);
    const file = path.join(broken, 'group3-shard1of1');
    const size = fs.statSync(file).size;
    fs.truncateSync(file, size - 4);
    const json = JSON.parse(fs.readFileSync(path.join(broken, 'model.json'), 'utf8'));
    const need = groupByteLength(json.weightsManifest[2]);
    expect(need).toBe(size);
    await expectBackboneError(readModelFolder(broken), 'truncated-shard', 'group3-shard1of1', `${size - 4} bytes`, `needs ${size} bytes`);
  });

  it('a shard with extra bytes is refused too (it would shift every later weight)', async () => {
    const broken = tempDir();
    await writeModelFolder(tinyBnModel(), broken, 3);
    fs.appendFileSync(path.join(broken, 'group1-shard1of1'), Buffer.alloc(8));
    await expectBackboneError(readModelFolder(broken), 'truncated-shard', 'group1-shard1of1', 'too long');
  });

  it('a manifest path leaving the folder is refused', async () => {
    const hostile = tempDir();
    await writeModelFolder(tinyBnModel(), hostile, 1);
    const jsonPath = path.join(hostile, 'model.json');
    const json = JSON.parse(fs.readFileSync(jsonPath, 'utf8'));
    json.weightsManifest[0].paths = ['../../etc/passwd'];
    fs.writeFileSync(jsonPath, JSON.stringify(json));
    await expectBackboneError(readModelFolder(hostile), 'unsafe-path', '../../etc/passwd');
  });

  it('graph models are recognised by format, by a node list, and by a missing Keras topology', () => {
    const message = 'is a graph model; bnlab needs a layers model';
    const byFormat = { format: 'graph-model', modelTopology: { node: [] }, weightsManifest: [] };
    const byNodes = { modelTopology: { node: [{ name: 'x', op: 'Placeholder' }], library: {}, versions: {} }, weightsManifest: [] };
    const noKeras = { modelTopology: { versions: {} }, weightsManifest: [] };
    for (const json of [byFormat, byNodes, noKeras]) {
      try {
        parseModelJson(JSON.stringify(json), 'x/model.json');
        expect.unreachable('graph model accepted');
      } catch (err) {
        expect((err as BackboneError).code).toBe('graph-model');
        expect((err as Error).message).toContain(message);
      }
    }
  });

  it('accepts both topology shapes: Keras {model_config} and tfjs {class_name, config}', () => {
    const keras = { modelTopology: { model_config: { class_name: 'Model', config: {} } }, weightsManifest: [] };
    const tfjs = { modelTopology: { class_name: 'Sequential', config: {} }, weightsManifest: [] };
    expect(() => parseModelJson(JSON.stringify(keras), 'k')).not.toThrow();
    expect(() => parseModelJson(JSON.stringify(tfjs), 't')).not.toThrow();
  });

  it('folder path and model.json path read the same model', async () => {
    const a = await readModelFolder(dir);
    const b = await readModelFolder(path.join(dir, 'model.json'));
    expect([...a.files.keys()]).toEqual([...b.files.keys()]);
  });
});
