import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AugmentOptions } from './augment.ts';
import { DecodedImageCache, ImageDataset, type ImageBatch, type ImageDatasetOptions } from './dataset.ts';
import { scanImageFolder, type ImageItem } from './scan.ts';
import { makeTempDir, removeDir, writePattern, writeSolid, type Rgb } from '../../test/support/test-images.ts';

let tmp: string;
let good: ImageItem[];
let bad: ImageItem[];
const COLOURS: Rgb[] = [
  [255, 0, 0],
  [0, 0, 255],
];
const SIZE = 16;
const AUGMENT: AugmentOptions = { randomResizedCrop: true, scale: [0.2, 1], horizontalFlip: true };

beforeAll(async () => {
  tmp = await makeTempDir('dataset');
  good = [];
  // Two classes of 7 images; each image has a gradient so that crops and flips change pixels.
  for (let label = 0; label < 2; label++) {
    for (let i = 0; i < 7; i++) {
      const f = path.join(tmp, 'data', `class${label}`, `img ${i}.png`);
      const [r, g, b] = COLOURS[label]!;
      await writePattern(f, 24 + i, 20, (x, y) => [Math.min(255, r + x * 3), (g + y * 5 + i) % 256, b]);
      good.push({ path: f, label });
    }
  }
  const truncated = path.join(tmp, 'bad', 'truncated.jpg');
  await writeSolid(truncated, 64, 64, [1, 2, 3], 'jpg');
  const bytes = await fs.readFile(truncated);
  await fs.writeFile(truncated, bytes.subarray(0, bytes.length >> 1));
  const empty = path.join(tmp, 'bad', 'empty.png');
  await fs.writeFile(empty, '');
  const text = path.join(tmp, 'bad', 'text.jpg');
  await fs.writeFile(text, 'not an image');
  bad = [truncated, empty, text].map((p) => ({ path: p, label: 1 }));
});
afterAll(async () => {
  await removeDir(tmp);
});

function dataset(opts: Partial<ImageDatasetOptions> = {}): ImageDataset {
  return new ImageDataset({ items: good, imageSize: SIZE, preprocessing: 'minus1to1', augment: null, cache: new DecodedImageCache(), ...opts });
}

async function collect(ds: ImageDataset, batchSize: number, shuffle = false, seed = 0, epoch = 0): Promise<ImageBatch[]> {
  const batches: ImageBatch[] = [];
  for await (const batch of ds.batches({ batchSize, shuffle, seed, epoch })) batches.push(batch);
  return batches;
}

const allPaths = (batches: ImageBatch[]) => batches.flatMap((b) => b.paths);

describe('ImageDataset.batches', () => {
  it('yields NHWC batches in item order with labels and a short last batch', async () => {
    const ds = dataset();
    const batches = await collect(ds, 4);
    expect(batches.map((b) => b.count)).toEqual([4, 4, 4, 2]);
    expect(allPaths(batches)).toEqual(good.map((i) => i.path));
    for (const batch of batches) {
      expect(batch.images.length).toBe(batch.count * SIZE * SIZE * 3);
      expect(batch.labels.length).toBe(batch.count);
      batch.paths.forEach((p, k) => expect(batch.labels[k]).toBe(good.find((i) => i.path === p)!.label));
      for (const v of batch.images) expect(v >= -1 && v <= 1).toBe(true);
    }
    // Class 0 is red: red channel high, blue channel at -1 (minus1to1 of 0).
    expect(batches[0]!.images[0]).toBeGreaterThan(0.9);
    expect(batches[0]!.images[2]).toBeCloseTo(-1, 2);
    expect(ds.size).toBe(14);
  });

  it('shuffles by (seed, epoch), reproducibly', async () => {
    const ds = dataset();
    const order = async (seed: number, epoch: number) => allPaths(await collect(ds, 5, true, seed, epoch));
    const first = await order(1, 0);
    expect(first).toEqual(await order(1, 0));
    expect([...first].sort()).toEqual(good.map((i) => i.path).sort());
    expect(first).not.toEqual(good.map((i) => i.path));
    expect(await order(1, 1)).not.toEqual(first);
    expect(await order(2, 0)).not.toEqual(first);
  });

  it('skips undecodable files, records each once with its reason, keeps batches full', async () => {
    const skippedEvents: string[] = [];
    const items = [...good.slice(0, 3), bad[0]!, good[3]!, bad[1]!, bad[2]!, ...good.slice(4, 6)];
    const ds = dataset({ items, onSkipped: (f) => skippedEvents.push(path.basename(f.path)) });
    const epoch0 = await collect(ds, 3);
    expect(epoch0.map((b) => b.count)).toEqual([3, 3]);
    expect(allPaths(epoch0)).toEqual(good.slice(0, 6).map((i) => i.path));
    const reasons = Object.fromEntries(ds.skipped.map((s) => [path.basename(s.path), s.reason]));
    expect(reasons).toEqual({ 'truncated.jpg': 'corrupt or truncated image', 'empty.png': 'empty file', 'text.jpg': 'unsupported format' });
    expect(ds.size).toBe(6);
    const decodesAfterEpoch0 = ds.decodeStats.decodes;
    expect(decodesAfterEpoch0).toBe(9);
    expect(ds.decodeStats.failures).toBe(3);

    const epoch1 = await collect(ds, 3, true, 0, 1);
    expect(allPaths(epoch1).sort()).toEqual(good.slice(0, 6).map((i) => i.path).sort());
    expect(ds.skipped).toHaveLength(3); // no duplicates
    expect(skippedEvents.sort()).toEqual(['empty.png', 'text.jpg', 'truncated.jpg']);
    expect(ds.decodeStats.decodes).toBe(decodesAfterEpoch0); // bad files are not retried
  });

  it('yields nothing (and does not hang) when every file is bad', async () => {
    const ds = dataset({ items: bad });
    expect(await collect(ds, 2)).toEqual([]);
    expect(ds.skipped).toHaveLength(3);
    expect(ds.size).toBe(0);
  });

  it('can be abandoned mid-epoch; decoding stays bounded to the prefetch window', async () => {
    const ds = dataset({ decodeConcurrency: 2 });
    for await (const batch of ds.batches({ batchSize: 2, shuffle: false, seed: 0, epoch: 0 })) {
      expect(batch.count).toBe(2);
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(ds.decodeStats.decodes).toBeLessThanOrEqual(2 + 2 * 2); // the batch taken + two batches ahead
    expect(ds.decodeStats.decodes).toBeGreaterThanOrEqual(2);
  });

  it('rejects a bad batch size', async () => {
    await expect(collect(dataset(), 0)).rejects.toThrow(/batchSize/);
  });
});

describe('ImageDataset cache', () => {
  it('decodes every file once: epoch 2+ has zero decodes', async () => {
    const ds = dataset({ augment: AUGMENT });
    await collect(ds, 4, true, 0, 0);
    expect(ds.decodeStats).toEqual({ decodes: 14, cacheHits: 0, diskHits: 0, failures: 0 });
    await collect(ds, 4, true, 0, 1);
    await collect(ds, 4, true, 0, 2);
    expect(ds.decodeStats).toEqual({ decodes: 14, cacheHits: 28, diskHits: 0, failures: 0 });
  });

  it('is shared between datasets with the same image size (train and eval views)', async () => {
    const cache = new DecodedImageCache();
    const train = dataset({ cache, augment: AUGMENT });
    const evalView = dataset({ cache, augment: null });
    await collect(train, 8);
    await collect(evalView, 8);
    expect(evalView.decodeStats.decodes).toBe(0);
    expect(evalView.decodeStats.cacheHits).toBe(14);
    const otherSize = dataset({ cache, imageSize: SIZE * 2 });
    await collect(otherSize, 8);
    expect(otherSize.decodeStats.decodes).toBe(14);
  });

  it('decodes again what did not fit in the byte budget', async () => {
    const probe = dataset();
    const one = (await probe.load(0))!.data.byteLength;
    const cache = new DecodedImageCache({ maxBytes: one * 3.5 });
    const ds = dataset({ cache });
    await collect(ds, 5);
    await collect(ds, 5);
    expect(cache.count).toBe(3);
    expect(ds.decodeStats.cacheHits).toBe(3);
    expect(ds.decodeStats.decodes).toBe(14 + 11);
  });
});

describe('ImageDataset augmentation', () => {
  const pixelsOf = async (seed: number, epoch: number, cache = new DecodedImageCache(), concurrency = 4) => {
    const ds = dataset({ augment: AUGMENT, cache, decodeConcurrency: concurrency });
    const batches = await collect(ds, 6, true, seed, epoch);
    return batches.flatMap((b) => [...b.images]);
  };

  it('is deterministic for (seed, epoch) whatever the cache state or decode concurrency', async () => {
    const cache = new DecodedImageCache();
    const first = await pixelsOf(3, 1, cache, 4);
    const again = await pixelsOf(3, 1, cache, 1); // warm cache, sequential decode
    const fresh = await pixelsOf(3, 1, new DecodedImageCache(), 3);
    expect(again).toEqual(first);
    expect(fresh).toEqual(first);
  });

  it('changes with the epoch and the seed', async () => {
    const cache = new DecodedImageCache();
    const base = await pixelsOf(3, 1, cache);
    expect(await pixelsOf(3, 2, cache)).not.toEqual(base);
    expect(await pixelsOf(4, 1, cache)).not.toEqual(base);
  });

  it('per-image augmentation does not depend on the shuffle: same image, same epoch -> same pixels', async () => {
    const cache = new DecodedImageCache();
    const byPath = async (batchSize: number, shuffle: boolean) => {
      const ds = dataset({ augment: AUGMENT, cache });
      const map = new Map<string, number[]>();
      const length = SIZE * SIZE * 3;
      for await (const b of ds.batches({ batchSize, shuffle, seed: 5, epoch: 2 })) {
        b.paths.forEach((p, k) => map.set(p, [...b.images.subarray(k * length, (k + 1) * length)]));
      }
      return map;
    };
    const a = await byPath(3, true);
    const b = await byPath(5, false);
    for (const item of good) expect(b.get(item.path)).toEqual(a.get(item.path));
  });
});

describe('ImageDataset on a scanned folder', () => {
  it('reads a flat folder with unicode names end to end', async () => {
    const root = path.join(tmp, 'unicode root');
    await writeSolid(path.join(root, 'chat noir', 'été 1.png'), 10, 12, [0, 0, 0]);
    await writeSolid(path.join(root, 'chat noir', 'été 2.jpg'), 12, 10, [0, 0, 0], 'jpg');
    await writeSolid(path.join(root, '白い犬', '犬 1.webp'), 9, 9, [255, 255, 255], 'webp');
    await writeSolid(path.join(root, '白い犬', '犬 2.tiff'), 9, 9, [255, 255, 255], 'tiff');
    await fs.writeFile(path.join(root, '白い犬', 'broken.gif'), 'GIF89a but nothing else');
    const split = await scanImageFolder(root, { valFraction: 0.5, seed: 0 });
    const ds = new ImageDataset({ items: [...split.train, ...split.val], imageSize: 8, preprocessing: 'zero1', augment: null, cache: new DecodedImageCache() });
    const batches = await collect(ds, 8);
    expect(batches).toHaveLength(1);
    expect(batches[0]!.count).toBe(4);
    const length = 8 * 8 * 3;
    batches[0]!.paths.forEach((p, k) => {
      const values = batches[0]!.images.subarray(k * length, (k + 1) * length);
      const mean = values.reduce((s, v) => s + v, 0) / length;
      expect(mean).toBeCloseTo(batches[0]!.labels[k] === 0 ? 0 : 1, 1);
    });
    expect(ds.skipped.map((s) => [path.basename(s.path), s.reason])).toEqual([['broken.gif', 'corrupt or truncated image']]);
  });
});
