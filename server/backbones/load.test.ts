import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type BnlabConfig } from '../config.ts';
import { BackboneError } from './errors.ts';
import { batchNormLayers, leafLayers } from '../model/layers.ts';
import { loadBackbone, urlCacheDir } from './load.ts';
import { sha256Hex } from './model-files.ts';
import { DEMO_BACKBONE_DIR, SOURCE_FILE, type BackboneEntry } from './registry.ts';
import { tempDir, tinyBnModel, tinyDenseModel, writeModelFolder } from '../../test/support/backbone-fixtures.ts';

const MODELS_DIR = process.env.BNLAB_MODELS_DIR;

function configWith(overrides: Partial<BnlabConfig>): BnlabConfig {
  return { ...loadConfig({}), cacheDir: tempDir('bnlab-backbones-cache-'), modelsDir: null, ...overrides };
}

async function rejection(promise: Promise<unknown>): Promise<BackboneError> {
  const err = await promise.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(BackboneError);
  return err as BackboneError;
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe.skipIf(!MODELS_DIR)('shared backbones by name from BNLAB_MODELS_DIR', () => {
  const config = () => configWith({ modelsDir: MODELS_DIR! });

  it('MobileNet v1 0.25: 88 layers, 27 BN, sha256-verified, cut at conv_pw_13_relu', async () => {
    const backbone = await loadBackbone('mobilenet_v1_0.25_224', config());
    expect(backbone.source).toEqual({ location: 'models-dir', dir: path.join(MODELS_DIR!, 'mobilenet_v1_0.25_224') });
    expect(backbone.model.layers.length).toBe(88);
    expect(batchNormLayers(backbone.model).length).toBe(27);
    expect(backbone.model.countParams()).toBe(475_544);
    expect(backbone.entry.cutLayer).toBe('conv_pw_13_relu');
    expect(backbone.entry.inputSize).toBe(224);
    expect(backbone.entry.preprocessing).toBe('minus1to1');
    expect(backbone.warnings).toEqual([]);
    backbone.model.dispose();
  });

  it('MobileNet v1 0.25 predicts African elephant (386) for samples/elephants.jpg', async () => {
    const backbone = await loadBackbone('mobilenet_v1_0.25_224', config());
    const size = backbone.entry.inputSize;
    const { data } = await sharp(path.join(MODELS_DIR!, 'samples', 'elephants.jpg'))
      .removeAlpha()
      .resize(size, size, { fit: 'cover', position: 'centre' })
      .raw()
      .toBuffer({ resolveWithObject: true });
    const pixels = Float32Array.from(data, (v) => v / 127.5 - 1);
    const probabilities = tf.tidy(() => backbone.model.predict(tf.tensor4d(pixels, [1, size, size, 3])) as tf.Tensor);
    const values = await probabilities.data();
    probabilities.dispose();
    const top = values.indexOf(Math.max(...values));
    const classes = JSON.parse(fs.readFileSync(path.join(MODELS_DIR!, 'mobilenet_v1_0.25_224', 'imagenet_classes.json'), 'utf8')) as string[] | Record<string, string>;
    const label = Array.isArray(classes) ? classes[top] : classes[String(top)];
    expect(top).toBe(386);
    expect(label).toContain('African elephant');
    backbone.model.dispose();
  });

  it('Teachable MobileNetV2 0.35: nested containers, 158 leaf layers, 52 BN, cut at out_relu', async () => {
    const backbone = await loadBackbone('teachable_mobilenet_v2_0.35_224', config());
    expect(leafLayers(backbone.model).length).toBe(158);
    expect(batchNormLayers(backbone.model).length).toBe(52);
    expect(backbone.model.countParams()).toBe(538_508);
    expect(backbone.entry.cutLayer).toBe('out_relu');
    expect(backbone.model.outputs[0].shape).toEqual([null, 2]);
    expect(backbone.warnings).toEqual([]);
    backbone.model.dispose();
  });

  it('the same models load from a folder path and from a model.json path, with the default cut; unstated preprocessing is refused', async () => {
    const v1Dir = path.join(MODELS_DIR!, 'mobilenet_v1_0.25_224');
    const refused = await rejection(loadBackbone(v1Dir, configWith({})));
    expect(refused.code).toBe('preprocessing-unstated');
    expect(refused.message).toContain('--preprocessing');
    expect(refused.message).toContain(path.join(v1Dir, 'backbone.json'));
    expect(refused.message).toContain(`bnlab layers --backbone ${v1Dir}`);
    const v1 = await loadBackbone(v1Dir, configWith({}), { preprocessing: 'minus1to1' });
    expect(v1.source.location).toBe('path');
    expect(v1.entry.cutLayer).toBe('conv_pw_13_relu');
    expect(v1.stated).toEqual({ preprocessing: 'option', cutLayer: 'rule' });
    expect(v1.entry.inputSize).toBe(224);
    // a Teachable Machine folder states [-1, 1] through its metadata.json
    const v2 = await loadBackbone(path.join(MODELS_DIR!, 'teachable_mobilenet_v2_0.35_224', 'model.json'), configWith({}));
    expect(v2.entry.cutLayer).toBe('out_relu');
    expect(v2.stated.preprocessing).toBe('teachable-machine');
    expect(v2.entry.preprocessing).toBe('minus1to1');
    expect(v2.teachable?.labels).toHaveLength(2);
    expect(v2.warnings).toEqual([]);
    v1.model.dispose();
    v2.model.dispose();
  });

  it('a corrupted byte in a models-dir copy is a sha256 mismatch naming file, expected and actual hash', async () => {
    const modelsDir = tempDir('bnlab-backbones-models-');
    const copy = path.join(modelsDir, 'mobilenet_v1_0.25_224');
    fs.cpSync(path.join(MODELS_DIR!, 'mobilenet_v1_0.25_224'), copy, { recursive: true });
    const shard = path.join(copy, 'group5-shard1of1');
    const bytes = fs.readFileSync(shard);
    const expected = sha256Hex(bytes);
    bytes[0] ^= 0xff;
    fs.writeFileSync(shard, bytes);
    const err = await rejection(loadBackbone('mobilenet_v1_0.25_224', configWith({ modelsDir })));
    expect(err.code).toBe('sha-mismatch');
    expect(err.message).toContain('group5-shard1of1');
    expect(err.message).toContain(`expected ${expected}`);
    expect(err.message).toContain(`got ${sha256Hex(bytes)}`);
  });
});

describe('loading errors and warnings', () => {
  it('unknown name lists the known names', async () => {
    const err = await rejection(loadBackbone('mobilenet_v9', configWith({})));
    expect(err.code).toBe('unknown-name');
    for (const name of ['mobilenet_v1_0.25_224', 'teachable_mobilenet_v2_0.35_224', 'demo']) expect(err.message).toContain(name);
  });

  it('a path that does not exist', async () => {
    const err = await rejection(loadBackbone('./no/such/model.json', configWith({})));
    expect(err.code).toBe('missing-model-json');
  });

  it('a graph model by path', async () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify({ format: 'graph-model', modelTopology: { node: [] }, weightsManifest: [] }));
    const err = await rejection(loadBackbone(dir, configWith({})));
    expect(err.code).toBe('graph-model');
    expect(err.message).toContain('is a graph model; bnlab needs a layers model');
  });

  it('a missing shard by path names the shard', async () => {
    const dir = tempDir();
    await writeModelFolder(tinyBnModel(), dir, 2);
    fs.rmSync(path.join(dir, 'group2-shard1of1'));
    const err = await rejection(loadBackbone(dir, configWith({})));
    expect(err.code).toBe('missing-shard');
    expect(err.message).toContain('group2-shard1of1');
  });

  it('a model without BN layers loads with a warning', async () => {
    const dir = tempDir();
    await writeModelFolder(tinyDenseModel(), dir, 1);
    const backbone = await loadBackbone(dir, configWith({}), { preprocessing: 'zero1' });
    expect(backbone.warnings.some((w) => w.includes('has no BatchNormalization layers'))).toBe(true);
    expect(backbone.entry.cutLayer).toBe('tiny_dense_hidden');
    backbone.model.dispose();
  });

  it('an unregistered folder in the models dir loads by its name; backbone.json overrides the guesses', async () => {
    const modelsDir = tempDir('bnlab-backbones-models-');
    const dir = path.join(modelsDir, 'my_net');
    await writeModelFolder(tinyBnModel(), dir, 2);
    fs.writeFileSync(path.join(dir, 'backbone.json'), JSON.stringify({ cutLayer: 'tiny_bn_relu1', preprocessing: 'zero1' }));
    const backbone = await loadBackbone('my_net', configWith({ modelsDir }));
    expect(backbone.name).toBe('my_net');
    expect(backbone.entry).toMatchObject({ cutLayer: 'tiny_bn_relu1', preprocessing: 'zero1', inputSize: 16 });
    expect(backbone.warnings).toEqual([]);
    backbone.model.dispose();
  });

  it('a registry cut layer that the model lacks is an error listing candidates', async () => {
    const modelsDir = tempDir('bnlab-backbones-models-');
    await writeModelFolder(tinyBnModel(), path.join(modelsDir, 'tiny'), 1);
    const entry: BackboneEntry = { name: 'tiny', description: 't', url: null, sha256: null, inputSize: 16, preprocessing: 'minus1to1', cutLayer: 'nope', localDir: 'tiny' };
    const err = await rejection(loadBackbone('tiny', configWith({ modelsDir }), { registry: [entry] }));
    expect(err.code).toBe('cut-layer-missing');
    expect(err.message).toContain('tiny_bn_relu2');
  });

  it('no local copy and an unreachable URL: the error names the URL and BNLAB_MODELS_DIR', async () => {
    // A port that was just closed: connection refused, no internet needed.
    const server = http.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const url = `http://127.0.0.1:${port}/tiny/model.json`;
    const entry: BackboneEntry = { name: 'tiny', description: 't', url, sha256: null, inputSize: 16, preprocessing: 'minus1to1', cutLayer: 'tiny_bn_relu2', localDir: 'tiny' };
    const config = configWith({});
    const err = await rejection(loadBackbone('tiny', config, { registry: [entry] }));
    expect(err.code).toBe('download-failed');
    expect(err.message).toContain(url);
    expect(err.message).toContain('BNLAB_MODELS_DIR');
    expect(fs.readdirSync(config.cacheDir)).toEqual([]);
  });
});

describe('downloading from a URL into the cache', () => {
  let server: http.Server;
  let base: string;
  let served: string[];
  let files: string[];
  let hashes: Record<string, string>;
  let tamper: string | null = null;
  const root = tempDir('bnlab-backbones-served-');

  beforeAll(async () => {
    files = await writeModelFolder(tinyBnModel('served'), path.join(root, 'served_net'), 2);
    hashes = Object.fromEntries(files.map((f) => [f, sha256Hex(fs.readFileSync(path.join(root, 'served_net', f)))]));
    served = [];
    server = http.createServer((req, res) => {
      const rel = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
      served.push(rel);
      const file = path.join(root, rel);
      if (!file.startsWith(root) || !fs.existsSync(file)) {
        res.writeHead(404).end();
        return;
      }
      const bytes = fs.readFileSync(file);
      if (tamper && rel.endsWith(tamper)) bytes[bytes.length - 1] ^= 1;
      res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(bytes);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const entry = (sha256: Record<string, string> | null): BackboneEntry => ({
    name: 'served_net',
    description: 'served by the test',
    url: `${base}/served_net/model.json`,
    sha256,
    inputSize: 16,
    preprocessing: 'minus1to1',
    cutLayer: 'served_relu2',
    localDir: 'served_net',
  });

  it('a registered name downloads into <cache>/<name>, verified, then loads from the cache', async () => {
    const config = configWith({});
    served.length = 0;
    const first = await loadBackbone('served_net', config, { registry: [entry(hashes)] });
    expect(first.source).toEqual({ location: 'cache', dir: path.join(config.cacheDir, 'served_net') });
    expect(served).toEqual(['/served_net/model.json', '/served_net/group1-shard1of1', '/served_net/group2-shard1of1']);
    expect(first.warnings).toEqual([]);
    for (const f of files) expect(sha256Hex(fs.readFileSync(path.join(config.cacheDir, 'served_net', f)))).toBe(hashes[f]);
    const source = JSON.parse(fs.readFileSync(path.join(config.cacheDir, 'served_net', SOURCE_FILE), 'utf8'));
    expect(source).toMatchObject({ url: entry(hashes).url, verified: true });
    expect(fs.readdirSync(config.cacheDir)).toEqual(['served_net']); // no temp folder left behind
    first.model.dispose();

    served.length = 0;
    const second = await loadBackbone('served_net', config, { registry: [entry(hashes)] });
    expect(served).toEqual([]);
    expect(second.source.location).toBe('cache');
    second.model.dispose();
  });

  it('a served shard that differs from the recorded sha256 fails and leaves nothing in the cache', async () => {
    const config = configWith({});
    tamper = 'group2-shard1of1';
    try {
      const err = await rejection(loadBackbone('served_net', config, { registry: [entry(hashes)] }));
      expect(err.code).toBe('sha-mismatch');
      expect(err.message).toContain('group2-shard1of1');
      expect(err.message).toContain(`expected ${hashes['group2-shard1of1']}`);
    } finally {
      tamper = null;
    }
    expect(fs.readdirSync(config.cacheDir)).toEqual([]);
  });

  it('a sha256 map that lacks a served file refuses it as unverified', async () => {
    const config = configWith({});
    const partial = { ...hashes };
    delete partial['group1-shard1of1'];
    const err = await rejection(loadBackbone('served_net', config, { registry: [entry(partial)] }));
    expect(err.code).toBe('sha-mismatch');
    expect(err.message).toContain('group1-shard1of1');
  });

  it('an HTTP 404 is a download error naming the URL', async () => {
    const config = configWith({});
    const missing = { ...entry(null), url: `${base}/nothing/model.json` };
    const err = await rejection(loadBackbone('served_net', config, { registry: [missing] }));
    expect(err.code).toBe('download-failed');
    expect(err.message).toContain('HTTP 404');
    expect(err.message).toContain(`${base}/nothing/model.json`);
  });

  it('a URL spec downloads into a per-URL cache folder, warns that it is unverified, and guesses the entry', async () => {
    const config = configWith({});
    const url = `${base}/served_net/model.json`;
    const backbone = await loadBackbone(url, config, { preprocessing: 'minus1to1' });
    expect(backbone.source).toEqual({ location: 'url-cache', dir: urlCacheDir(config, url) });
    expect(backbone.name).toBe('served_net');
    expect(backbone.entry).toMatchObject({ url, cutLayer: 'served_relu2', inputSize: 16 });
    expect(backbone.warnings.join('\n')).toContain('not verified');
    backbone.model.dispose();
    // A later corruption of the cached copy is caught by the hashes recorded at download time.
    const shard = path.join(urlCacheDir(config, url), 'group1-shard1of1');
    const bytes = fs.readFileSync(shard);
    bytes[0] ^= 1;
    fs.writeFileSync(shard, bytes);
    const err = await rejection(loadBackbone(url, config, { preprocessing: 'minus1to1' }));
    expect(err.code).toBe('sha-mismatch');
  });
});

describe.skipIf(!fs.existsSync(path.join(DEMO_BACKBONE_DIR, 'model.json')))('embedded demo backbone', () => {
  it('loads by name from the repository with BN layers and a cut layer that exists', async () => {
    const backbone = await loadBackbone('demo', configWith({}));
    expect(backbone.source.location).toBe('bundled');
    expect(backbone.entry.inputSize).toBe(64);
    expect(batchNormLayers(backbone.model).length).toBeGreaterThan(0);
    expect(backbone.warnings).toEqual([]);
    backbone.model.dispose();
  });
});
