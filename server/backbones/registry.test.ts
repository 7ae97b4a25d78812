import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../config.ts';
import { SOURCE_FILE, backboneRegistry, demoEntry, findBackboneEntry, listBackbones } from './registry.ts';
import { tempDir } from '../../test/support/backbone-fixtures.ts';

const MODELS_DIR = process.env.BNLAB_MODELS_DIR;

describe('backbone registry', () => {
  it('ships the two MobileNets and the demo with URL, input size, preprocessing and cut layer', () => {
    const byName = Object.fromEntries(backboneRegistry().map((e) => [e.name, e]));
    expect(Object.keys(byName)).toEqual(['mobilenet_v1_0.25_224', 'teachable_mobilenet_v2_0.35_224', 'demo']);
    expect(byName['mobilenet_v1_0.25_224']).toMatchObject({
      url: 'https://storage.googleapis.com/tfjs-models/tfjs/mobilenet_v1_0.25_224/model.json',
      inputSize: 224,
      preprocessing: 'minus1to1',
      cutLayer: 'conv_pw_13_relu',
      localDir: 'mobilenet_v1_0.25_224',
    });
    expect(Object.keys(byName['mobilenet_v1_0.25_224'].sha256!)).toHaveLength(56); // model.json + 55 shards
    expect(byName['teachable_mobilenet_v2_0.35_224']).toMatchObject({ cutLayer: 'out_relu', inputSize: 224, sha256: null });
    expect(byName['teachable_mobilenet_v2_0.35_224'].url).toContain('mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top/model.json');
    expect(byName.demo).toMatchObject({ inputSize: 64, preprocessing: 'minus1to1', url: null });
    expect(findBackboneEntry('nope')).toBeNull();
  });

  it.skipIf(!MODELS_DIR)('MobileNet v1 hashes agree with the shared SHA256SUMS', () => {
    const sums = fs.readFileSync(path.join(MODELS_DIR!, 'SHA256SUMS'), 'utf8');
    const shared = Object.fromEntries(
      sums
        .split('\n')
        .map((line) => line.match(/^([0-9a-f]{64})\s+\.\/mobilenet_v1_0\.25_224\/(.+)$/))
        .filter((m): m is RegExpMatchArray => m !== null)
        .map((m) => [m[2], m[1]]),
    );
    for (const [file, hash] of Object.entries(findBackboneEntry('mobilenet_v1_0.25_224')!.sha256!)) expect(shared[file], file).toBe(hash);
  });

  it('the demo entry reads its backbone.json sidecar', () => {
    const dir = tempDir();
    expect(demoEntry(dir)).toMatchObject({ cutLayer: '', inputSize: 64, preprocessing: 'minus1to1', bundledDir: dir });
    fs.writeFileSync(path.join(dir, 'backbone.json'), JSON.stringify({ cutLayer: 'block3_relu', inputSize: 48, preprocessing: 'zero1' }));
    expect(demoEntry(dir)).toMatchObject({ cutLayer: 'block3_relu', inputSize: 48, preprocessing: 'zero1' });
    fs.writeFileSync(path.join(dir, 'backbone.json'), JSON.stringify({ inputSize: 'big' }));
    expect(() => demoEntry(dir)).toThrow(/backbone\.json is invalid: inputSize/);
  });

  it('listBackbones: registered entries with where they load from, plus local and cached extras', () => {
    const modelsDir = tempDir('bnlab-backbones-models-');
    const cacheDir = tempDir('bnlab-backbones-cache-');
    for (const dir of [path.join(modelsDir, 'mobilenet_v1_0.25_224'), path.join(modelsDir, 'my_net'), path.join(cacheDir, 'teachable_mobilenet_v2_0.35_224'), path.join(cacheDir, 'url-0123')]) {
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(path.join(dir, 'model.json'), '{}');
    }
    fs.writeFileSync(path.join(cacheDir, 'url-0123', SOURCE_FILE), JSON.stringify({ url: 'http://example.test/m/model.json' }));
    fs.mkdirSync(path.join(modelsDir, 'not_a_model'));
    const config = { ...loadConfig({}), modelsDir, cacheDir };
    const byName = Object.fromEntries(listBackbones(config).map((l) => [l.name, l]));
    expect(Object.keys(byName).sort()).toEqual(['demo', 'mobilenet_v1_0.25_224', 'my_net', 'teachable_mobilenet_v2_0.35_224', 'url-0123']);
    expect(byName['mobilenet_v1_0.25_224']).toMatchObject({ registered: true, location: 'models-dir', availableOffline: true });
    expect(byName['teachable_mobilenet_v2_0.35_224']).toMatchObject({ registered: true, location: 'cache', availableOffline: true });
    expect(byName.my_net).toMatchObject({ registered: false, location: 'models-dir', path: path.join(modelsDir, 'my_net') });
    expect(byName['url-0123']).toMatchObject({ registered: false, location: 'cache', url: 'http://example.test/m/model.json' });
    const demoShipped = fs.existsSync(path.join(demoEntry().bundledDir!, 'model.json'));
    expect(byName.demo).toMatchObject({ registered: true, availableOffline: demoShipped, location: demoShipped ? 'bundled' : null });

    const bare = Object.fromEntries(listBackbones({ ...config, modelsDir: null, cacheDir: tempDir() }).map((l) => [l.name, l]));
    expect(bare['mobilenet_v1_0.25_224']).toMatchObject({ location: 'download', availableOffline: false, path: null });
  });
});
