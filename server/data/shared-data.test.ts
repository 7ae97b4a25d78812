/**
 * The pipeline on the real shared data sets (/work/shared/data, see its README for the counts).
 * Skipped unless BNLAB_SHARED_DATA points at them.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DecodedImageCache, ImageDataset } from './dataset.ts';
import { scanImageFolder } from './scan.ts';

const sharedData = process.env.BNLAB_SHARED_DATA;

describe.skipIf(!sharedData)('shared data sets', () => {
  const root = (name: string) => path.join(sharedData!, name);
  const opts = { valFraction: 0.2, seed: 0 };

  it('ants-bees: 245 train / 153 val in two classes', async () => {
    const split = await scanImageFolder(root('ants-bees'), opts);
    expect(split.layout).toBe('train-val');
    expect(split.classes).toEqual(['ants', 'bees']);
    expect([split.train.length, split.val.length]).toEqual([245, 153]);
    expect(split.train.filter((i) => i.label === 0)).toHaveLength(124);
    expect(split.val.filter((i) => i.label === 1)).toHaveLength(83);
    expect(split.skipped).toEqual([]);
  });

  it('digits and fashion-mnist-mini: 400 train / 200 val in ten classes', async () => {
    const digits = await scanImageFolder(root('digits'), opts);
    expect(digits.classes).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    expect([digits.train.length, digits.val.length]).toEqual([400, 200]);
    const fashion = await scanImageFolder(root('fashion-mnist-mini'), opts);
    expect(fashion.classes).toEqual(['ankle_boot', 'bag', 'coat', 'dress', 'pullover', 'sandal', 'shirt', 'sneaker', 'trouser', 'tshirt_top']);
    expect([fashion.train.length, fashion.val.length]).toEqual([400, 200]);
  });

  it('decodes every ants-bees image at 224 px, then serves epoch 2 from the cache', async () => {
    const split = await scanImageFolder(root('ants-bees'), opts);
    const items = [...split.train, ...split.val];
    const ds = new ImageDataset({
      items,
      imageSize: 224,
      preprocessing: 'minus1to1',
      augment: { randomResizedCrop: true, scale: [0.35, 1], horizontalFlip: true },
      cache: new DecodedImageCache(),
    });
    const started = performance.now();
    let count = 0;
    let first: Float32Array | null = null;
    for await (const batch of ds.batches({ batchSize: 32, shuffle: true, seed: 0, epoch: 0 })) {
      count += batch.count;
      first ??= batch.images;
    }
    const firstEpochMs = performance.now() - started;
    expect(count).toBe(398);
    expect(ds.skipped).toEqual([]);
    expect(ds.decodeStats.decodes).toBe(398);
    const values = first!;
    expect(values.length).toBe(32 * 224 * 224 * 3);
    let min = Infinity;
    let max = -Infinity;
    for (const v of values) {
      min = Math.min(min, v);
      max = Math.max(max, v);
    }
    expect(min).toBeGreaterThanOrEqual(-1);
    expect(max).toBeLessThanOrEqual(1);
    expect(max - min).toBeGreaterThan(1); // real photos, not a constant

    const secondStarted = performance.now();
    for await (const batch of ds.batches({ batchSize: 32, shuffle: true, seed: 0, epoch: 1 })) count += batch.count;
    const secondEpochMs = performance.now() - secondStarted;
    expect(ds.decodeStats.decodes).toBe(398);
    expect(ds.decodeStats.cacheHits).toBe(398);
    console.log(`ants-bees 398 images at 224: epoch 1 (decode + crop) ${firstEpochMs.toFixed(0)} ms, epoch 2 (cache) ${secondEpochMs.toFixed(0)} ms`);
  });

  it('upscales 28x28 digits and single-channel fashion PNGs to 3-channel batches', async () => {
    for (const name of ['digits', 'fashion-mnist-mini']) {
      const split = await scanImageFolder(root(name), opts);
      const ds = new ImageDataset({ items: split.val, imageSize: 224, preprocessing: 'zero1', augment: null, cache: new DecodedImageCache() });
      const batch = (await ds.batches({ batchSize: 16, shuffle: true, seed: 1, epoch: 0 }).next()).value!;
      expect(batch.count).toBe(16);
      const pixels = 224 * 224;
      let inkPixels = 0;
      for (let p = 0; p < pixels; p++) {
        const [r, g, b] = [batch.images[p * 3]!, batch.images[p * 3 + 1]!, batch.images[p * 3 + 2]!];
        expect(Math.abs(r - g) + Math.abs(g - b)).toBeLessThan(1e-6); // grey content in 3 equal channels
        if (r > 0.5) inkPixels++;
      }
      expect(inkPixels).toBeGreaterThan(pixels * 0.02); // a light object on black, upscaled
      expect(inkPixels).toBeLessThan(pixels * 0.8);
    }
  });
});
