/**
 * The three resize modes of ImageDataset/decodeImage (recipe field `resize`), on generated PNGs.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DecodedImageCache, ImageDataset } from './dataset.ts';
import type { ResizeMode } from '../schema/recipe.ts';
import { makeTempDir, removeDir, writePattern, type Rgb } from '../../test/support/test-images.ts';

const SIZE = 32;
let tmp: string;
const noise = (x: number, y: number): Rgb => [(x * 37 + y * 11) % 256, (x * 7 + y * 53 + 90) % 256, (x * y * 13 + 5) % 256];

beforeAll(async () => {
  tmp = await makeTempDir('resize');
  await writePattern(path.join(tmp, 'exact.png'), SIZE, SIZE, noise);
  await writePattern(path.join(tmp, 'wide.png'), 64, 32, () => [200, 200, 200]);
});
afterAll(async () => {
  await removeDir(tmp);
});

async function firstImage(file: string, resize: ResizeMode): Promise<Float32Array> {
  const ds = new ImageDataset({ items: [{ path: path.join(tmp, file), label: 0 }], imageSize: SIZE, preprocessing: 'minus1to1', augment: null, cache: new DecodedImageCache(), resize });
  for await (const batch of ds.batches({ batchSize: 1, shuffle: false, seed: 0, epoch: 0 })) return batch.images;
  throw new Error('no batch');
}

describe('resize modes', () => {
  it("'squash' feeds an image already at the input size pixel for pixel", async () => {
    const images = await firstImage('exact.png', 'squash');
    const expected = new Float32Array(SIZE * SIZE * 3);
    for (let y = 0; y < SIZE; y++) for (let x = 0; x < SIZE; x++) noise(x, y).forEach((v, c) => (expected[(y * SIZE + x) * 3 + c] = v * (1 / 127.5) - 1));
    expect(images).toEqual(expected);
  });
  it("'crop' resamples the same image (shorter side x 1.15, center crop), so its pixels change", async () => {
    const squash = await firstImage('exact.png', 'squash');
    const crop = await firstImage('exact.png', 'crop');
    let differing = 0;
    for (let i = 0; i < crop.length; i++) if (Math.abs(crop[i]! - squash[i]!) > 1e-6) differing++;
    expect(differing / crop.length).toBeGreaterThan(0.5);
  });
  it("'pad' letterboxes a 2:1 image: black bands above and below, the image in the middle", async () => {
    const images = await firstImage('wide.png', 'pad');
    const at = (x: number, y: number) => images[(y * SIZE + x) * 3]!;
    expect(at(16, 0)).toBe(-1); // black border: 0 / 127.5 - 1
    expect(at(16, SIZE - 1)).toBe(-1);
    expect(at(16, SIZE / 2)).toBeCloseTo(200 / 127.5 - 1, 5);
    expect(at(0, SIZE / 2)).toBeCloseTo(200 / 127.5 - 1, 5); // full width kept
  });
  it("'squash' stretches a 2:1 image over the whole square; 'crop' cuts its sides", async () => {
    const squash = await firstImage('wide.png', 'squash');
    expect(squash.every((v) => Math.abs(v - (200 / 127.5 - 1)) < 1e-5)).toBe(true);
  });
  it('the cache keeps modes apart', async () => {
    const cache = new DecodedImageCache();
    const item = [{ path: path.join(tmp, 'wide.png'), label: 0 }];
    const make = (resize: ResizeMode) => new ImageDataset({ items: item, imageSize: SIZE, preprocessing: 'minus1to1', augment: null, cache, resize });
    await make('pad').load(0);
    const squash = await make('squash').load(0);
    const pad = await make('pad').load(0);
    expect(cache.count).toBe(2);
    expect(squash!.data[0]).toBe(200);
    expect(pad!.data[0]).toBe(0);
  });
});
