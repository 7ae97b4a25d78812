import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CORRUPTION_MANIFEST, corruptFolder } from './corrupt.ts';
import { makeTempDir, removeDir, writePattern } from '../../test/support/test-images.ts';
import { decodeImage } from '../data/decode.ts';
import { stratifiedValCount } from '../data/scan.ts';

let work: string;
let split: string;
let flat: string;

const pattern = (seed: number) => (x: number, y: number) => [(x * 7 + seed * 40) % 256, (y * 5 + seed * 13) % 256, ((x + y) * 3) % 256] as const;

beforeAll(async () => {
  work = await makeTempDir('corrupt');
  split = path.join(work, 'split');
  flat = path.join(work, 'flat');
  for (const cls of ['ants', 'bees']) {
    for (let i = 0; i < 3; i++) await writePattern(path.join(split, 'train', cls, `t${i}.jpg`), 40, 30, pattern(i), 'jpg');
    for (let i = 0; i < 2; i++) await writePattern(path.join(split, 'val', cls, `v${i}.png`), 30, 40, pattern(i + 5));
    for (let i = 0; i < 5; i++) await writePattern(path.join(flat, cls, `f${i}.png`), 32, 32, pattern(i));
  }
  await writePattern(path.join(split, 'val', 'bees', 'nested', 'v9.webp'), 32, 32, pattern(9), 'webp');
});

afterAll(async () => {
  await removeDir(work);
});

const list = (dir: string) => fs.readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => path.relative(dir, path.join(e.parentPath, e.name))).sort();

describe('corruptFolder', () => {
  it('corrupts the val images of a {train,val} folder into the same class folders, as PNG at the decoded size', async () => {
    const out = path.join(work, 'out-split');
    const result = await corruptFolder({ data: split, corruption: 'contrast', severity: 2, out, size: 16 });
    expect(result.images).toBe(5);
    expect(result.parameter).toBe(0.3);
    expect(result.classes).toEqual(['ants', 'bees']);
    expect(list(out)).toEqual([CORRUPTION_MANIFEST, 'ants/v0.png', 'ants/v1.png', 'bees/nested/v9.png', 'bees/v0.png', 'bees/v1.png']);
    const manifest = JSON.parse(fs.readFileSync(path.join(out, CORRUPTION_MANIFEST), 'utf8'));
    expect(manifest).toMatchObject({ corruption: 'contrast', severity: 2, split: 'val', size: 16, source: split });
    // decoded for a 16 px network: shorter side ceil(1.15 * 16) = 19, so training decodes it without resampling
    const image = await decodeImage(path.join(out, 'ants', 'v0.png'), { targetSize: 16 });
    expect(Math.min(image.width, image.height)).toBe(19);
  });

  it('corrupts the seeded val part of a root/<class>/* folder', async () => {
    const out = path.join(work, 'out-flat');
    const result = await corruptFolder({ data: flat, corruption: 'invert', severity: 5, out, size: 16 });
    expect(result.images).toBe(2 * stratifiedValCount(5, 0.2));
    const all = await corruptFolder({ data: flat, corruption: 'invert', severity: 5, out: path.join(work, 'out-flat-all'), size: 16, split: 'all' });
    expect(all.images).toBe(10);
  });

  it('is deterministic given the seed (noise), and the seed matters', async () => {
    const a = await corruptFolder({ data: split, corruption: 'gaussian-noise', severity: 3, out: path.join(work, 'noise-a'), size: 16, seed: 4 });
    const b = await corruptFolder({ data: split, corruption: 'gaussian-noise', severity: 3, out: path.join(work, 'noise-b'), size: 16, seed: 4 });
    const c = await corruptFolder({ data: split, corruption: 'gaussian-noise', severity: 3, out: path.join(work, 'noise-c'), size: 16, seed: 5 });
    const bytes = (dir: string) => fs.readFileSync(path.join(dir, 'bees', 'v1.png'));
    expect(bytes(a.out).equals(bytes(b.out))).toBe(true);
    expect(bytes(a.out).equals(bytes(c.out))).toBe(false);
  });

  it('names the flag on bad input and never writes into a non-empty folder', async () => {
    const out = path.join(work, 'bad');
    await expect(corruptFolder({ data: split, corruption: 'fog', severity: 1, out })).rejects.toThrow(/^--corruption: unknown corruption 'fog'/);
    await expect(corruptFolder({ data: split, corruption: 'blur', severity: 6, out })).rejects.toThrow(/^--severity: severity must be an integer from 1 to 5, got 6/);
    await expect(corruptFolder({ data: path.join(work, 'missing'), corruption: 'blur', severity: 1, out })).rejects.toThrow(/^--data: data folder not found/);
    await expect(corruptFolder({ data: split, corruption: 'blur', severity: 1, out: path.join(split, 'val', 'x') })).rejects.toThrow(/--out .* is inside --data/);
    await expect(corruptFolder({ data: split, corruption: 'blur', severity: 1, out: path.join(work, 'out-split') })).rejects.toThrow(/--out .* exists and is not empty/);
  });
});
