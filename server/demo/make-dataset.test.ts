import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { DEMO_DATASET_MARKER, ensureDemoDataset, makeDemoDataset } from './make-dataset.ts';
import { imageSeed, renderShapeImage, TARGET_CLASSES } from './synthetic.ts';

const root = await fs.mkdtemp(path.join(os.tmpdir(), 'bnlab-demo-dataset-'));
afterAll(() => fs.rm(root, { recursive: true, force: true }));

async function listFiles(dir: string): Promise<string[]> {
  const entries = await fs.readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => path.relative(dir, path.join(e.parentPath, e.name))).sort();
}

describe('makeDemoDataset', () => {
  it('writes root/{train,val}/<class>/*.png, balanced, lossless copies of the generator output', async () => {
    const out = path.join(root, 'a', 'demo');
    const summary = await makeDemoDataset(out, { seed: 5, perClassTrain: 3, perClassVal: 2 });
    expect(summary).toEqual({ classes: [...TARGET_CLASSES], train: 12, val: 8 });
    for (const split of ['train', 'val']) {
      expect((await fs.readdir(path.join(out, split))).sort()).toEqual([...TARGET_CLASSES].sort());
      for (const shape of TARGET_CLASSES) {
        expect(await fs.readdir(path.join(out, split, shape))).toHaveLength(split === 'train' ? 3 : 2);
      }
    }
    const { data, info } = await sharp(path.join(out, 'val', 'heart', 'heart-0001.png')).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height, info.channels]).toEqual([64, 64, 3]);
    expect(data.equals(Buffer.from(renderShapeImage('heart', 'night', imageSeed(5, 'val', 'heart', 1)).data))).toBe(true);
    // No temp folders left beside it.
    expect(await fs.readdir(path.dirname(out))).toEqual(['demo']);
  });

  it('is idempotent: a second call with the same options rewrites nothing', async () => {
    const out = path.join(root, 'b');
    await makeDemoDataset(out, { perClassTrain: 2, perClassVal: 1 });
    const file = path.join(out, 'train', 'dots', 'dots-0000.png');
    const before = (await fs.stat(file)).mtimeMs;
    const filesBefore = await listFiles(out);
    await new Promise((r) => setTimeout(r, 20));
    await makeDemoDataset(out, { perClassTrain: 2, perClassVal: 1 });
    expect((await fs.stat(file)).mtimeMs).toBe(before);
    expect(await listFiles(out)).toEqual(filesBefore);
    expect(filesBefore).toContain(DEMO_DATASET_MARKER);
  });

  it('regenerates a demo dataset made with other options', async () => {
    const out = path.join(root, 'c');
    await makeDemoDataset(out, { perClassTrain: 2, perClassVal: 1 });
    const summary = await makeDemoDataset(out, { perClassTrain: 3, perClassVal: 1 });
    expect(summary.train).toBe(12);
    expect(await fs.readdir(path.join(out, 'train', 'frame'))).toHaveLength(3);
    expect((await fs.readdir(root)).filter((n) => n.startsWith('c.'))).toEqual([]);
  });

  it('refuses to replace a non-empty folder that is not a demo dataset', async () => {
    const out = path.join(root, 'd');
    await fs.mkdir(out);
    await fs.writeFile(path.join(out, 'mine.txt'), 'user data');
    await expect(makeDemoDataset(out, { perClassTrain: 1, perClassVal: 1 })).rejects.toThrow(/not a bnlab demo dataset/);
    expect(await fs.readFile(path.join(out, 'mine.txt'), 'utf8')).toBe('user data');
  });

  it('two concurrent calls both succeed and leave one complete dataset', async () => {
    const out = path.join(root, 'e');
    const [a, b] = await Promise.all([makeDemoDataset(out, { perClassTrain: 2, perClassVal: 1 }), makeDemoDataset(out, { perClassTrain: 2, perClassVal: 1 })]);
    expect(a).toEqual(b);
    expect((await listFiles(out)).filter((f) => f.endsWith('.png'))).toHaveLength(12);
  });

  it('rejects invalid counts', async () => {
    await expect(makeDemoDataset(path.join(root, 'f'), { perClassTrain: 0 })).rejects.toThrow(/perClassTrain/);
  });

  it('ensureDemoDataset creates config.demoDataDir', async () => {
    const demoDataDir = path.join(root, 'g', 'data', 'demo');
    const result = await ensureDemoDataset({ demoDataDir }, { perClassTrain: 1, perClassVal: 1 });
    expect(result).toBe(demoDataDir);
    expect(await fs.readdir(path.join(demoDataDir, 'val'))).toHaveLength(TARGET_CLASSES.length);
  });
});
