import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listImageFiles } from './list-images.ts';
import { makeTempDir, removeDir, writeSolid } from '../../test/support/test-images.ts';

let root: string;

beforeAll(async () => {
  root = await makeTempDir('list-images');
  await writeSolid(path.join(root, 'b.png'), 4, 4, [1, 2, 3]);
  await writeSolid(path.join(root, 'cam1', 'a.jpg'), 4, 4, [1, 2, 3], 'jpg');
  await writeSolid(path.join(root, 'cam1', 'night', 'c.webp'), 4, 4, [1, 2, 3], 'webp');
  await writeSolid(path.join(root, '.thumbs', 'hidden.png'), 4, 4, [1, 2, 3]);
  await fs.writeFile(path.join(root, 'notes.txt'), 'not an image');
});

afterAll(() => removeDir(root));

describe('listImageFiles', () => {
  it('finds images at any depth, with or without class folders, sorted, hidden entries and other files ignored', async () => {
    const files = await listImageFiles(root);
    expect(files.map((f) => path.relative(root, f))).toEqual(['b.png', path.join('cam1', 'a.jpg'), path.join('cam1', 'night', 'c.webp')]);
  });

  it('names the folder when it is missing, a file, or holds no images', async () => {
    await expect(listImageFiles(path.join(root, 'nope'))).rejects.toThrow(/folder not found: .*nope/);
    await expect(listImageFiles(path.join(root, 'b.png'))).rejects.toThrow(/not a directory/);
    await expect(listImageFiles(path.join(root, '.thumbs'))).resolves.toHaveLength(1);
    const empty = path.join(root, 'empty');
    await fs.mkdir(empty);
    await expect(listImageFiles(empty)).rejects.toThrow(/no images in .*empty/);
  });
});
