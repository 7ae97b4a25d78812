import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DecodedImageCache, ImageDataset, type ImageBatch } from './dataset.ts';
import { decodeImage } from './decode.ts';
import { DiskImageCache, diskImageCache } from './disk-cache.ts';
import type { ImageItem } from './scan.ts';
import { makeTempDir, removeDir, writePattern } from '../../test/support/test-images.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
let tmp: string;
let items: ImageItem[];

beforeAll(async () => {
  tmp = await makeTempDir('disk-cache');
  items = [];
  for (let i = 0; i < 5; i++) {
    const file = path.join(tmp, 'data', `img${i}.${i % 2 ? 'jpg' : 'png'}`);
    await writePattern(file, 40 + i, 30, (x, y) => [(x * 7 + i) % 256, (y * 9) % 256, (x * y) % 256], i % 2 ? 'jpg' : 'png');
    items.push({ path: file, label: i % 2 });
  }
});
afterAll(async () => removeDir(tmp));

const sha = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

async function allBatches(ds: ImageDataset): Promise<ImageBatch[]> {
  const out: ImageBatch[] = [];
  for await (const b of ds.batches({ batchSize: 2, shuffle: true, seed: 3, epoch: 1 })) out.push(b);
  return out;
}

describe('DiskImageCache', () => {
  it('a second process reads what the first wrote and gets the same pixels as a fresh decode', async () => {
    const dir = path.join(tmp, 'cache-a');
    const writer = new DiskImageCache(dir);
    const decoded = await decodeImage(items[1]!.path, { targetSize: 16 });
    await writer.put(items[1]!.path, { targetSize: 16 }, decoded);
    expect(writer.stats.writes).toBe(1);

    const script = path.join(tmp, 'reader.mts');
    await fs.writeFile(
      script,
      `import { createHash } from 'node:crypto';\n` +
        `import { DiskImageCache } from ${JSON.stringify(path.join(here, 'disk-cache.ts'))};\n` +
        `const image = await new DiskImageCache(process.argv[2]).get(process.argv[3], { targetSize: 16 });\n` +
        `console.log(JSON.stringify(image && { width: image.width, height: image.height, sha: createHash('sha256').update(image.data).digest('hex') }));\n`,
    );
    const child = spawnSync(process.execPath, ['--import', 'tsx', script, dir, items[1]!.path], { cwd: path.resolve(here, '../..'), encoding: 'utf8', timeout: 60_000 });
    expect(child.stderr).toBe('');
    expect(JSON.parse(child.stdout.trim())).toEqual({ width: decoded.width, height: decoded.height, sha: sha(decoded.data) });
  });

  it('misses after the file changes, for another target size, and for a damaged entry', async () => {
    const dir = path.join(tmp, 'cache-b');
    const cache = new DiskImageCache(dir);
    const file = path.join(tmp, 'changing.png');
    await writePattern(file, 30, 30, (x) => [x * 8, 0, 0], 'png');
    await cache.put(file, { targetSize: 16 }, await decodeImage(file, { targetSize: 16 }));
    expect(await cache.get(file, { targetSize: 16 })).not.toBeNull();
    expect(await cache.get(file, { targetSize: 20 })).toBeNull();
    const entry = (await cache.entryPath(file, { targetSize: 16 }))!;
    await fs.truncate(entry, 20);
    expect(await cache.get(file, { targetSize: 16 })).toBeNull();
    expect(cache.stats.invalid).toBe(1);
    await writePattern(file, 30, 31, (x) => [0, x * 8, 0], 'png');
    await fs.utimes(file, new Date(), new Date(Date.now() + 5000));
    expect(await cache.entryPath(file, { targetSize: 16 })).not.toBe(entry);
    expect(await cache.get(file, { targetSize: 16 })).toBeNull();
  });

  it('an ImageDataset with a fresh memory cache serves identical batches from disk without decoding', async () => {
    const dir = path.join(tmp, 'cache-c');
    const options = { items, imageSize: 16, preprocessing: 'minus1to1' as const, augment: { randomResizedCrop: true, scale: [0.3, 1] as [number, number], horizontalFlip: true } };
    const first = new ImageDataset({ ...options, cache: new DecodedImageCache(), diskCache: new DiskImageCache(dir) });
    const expected = await allBatches(first);
    expect(first.decodeStats).toMatchObject({ decodes: 5, diskHits: 0 });
    const second = new ImageDataset({ ...options, cache: new DecodedImageCache(), diskCache: new DiskImageCache(dir) });
    const got = await allBatches(second);
    expect(second.decodeStats).toMatchObject({ decodes: 0, diskHits: 5 });
    expect(got.map((b) => [Array.from(b.images), Array.from(b.labels), b.paths])).toEqual(expected.map((b) => [Array.from(b.images), Array.from(b.labels), b.paths]));
    const none = new ImageDataset({ ...options, cache: new DecodedImageCache() });
    expect((await allBatches(none)).map((b) => Array.from(b.images))).toEqual(expected.map((b) => Array.from(b.images)));
  });

  it('lives under the cache folder and can be turned off', () => {
    expect(diskImageCache('/x/cache')?.dir).toBe('/x/cache/decoded-images');
    expect(diskImageCache('/x/cache', { BNLAB_DISK_IMAGE_CACHE: '0' })).toBeNull();
  });
});
