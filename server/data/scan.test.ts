import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataFolderError, scanImageFolder, stratifiedValCount, UNSUPPORTED_EXTENSION } from './scan.ts';
import { makeTempDir, removeDir, writeSolid } from '../../test/support/test-images.ts';

let tmp: string;
beforeAll(async () => {
  tmp = await makeTempDir('scan');
});
afterAll(async () => {
  await removeDir(tmp);
});

/** Write `count` tiny PNGs into dir, named 000.png, 001.png, ... */
async function images(dir: string, count: number, ext = 'png'): Promise<string[]> {
  const files: string[] = [];
  for (let i = 0; i < count; i++) files.push(path.join(dir, `${String(i).padStart(3, '0')}.${ext}`));
  await fs.mkdir(dir, { recursive: true });
  await Promise.all(files.map((f) => writeSolid(f, 4, 4, [10, 20, 30])));
  return files;
}

async function expectDataError(promise: Promise<unknown>, messagePart: string | RegExp, folder: string): Promise<void> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DataFolderError);
  expect((error as DataFolderError).message).toMatch(messagePart);
  expect((error as DataFolderError).folder).toBe(folder);
}

const opts = { valFraction: 0.2, seed: 0 };

describe('scanImageFolder: root/{train,val}/<class>/*', () => {
  it('labels classes in sorted order, keeps the given split, lists odd files', async () => {
    const root = path.join(tmp, 'split');
    await images(path.join(root, 'train', 'zebra'), 3);
    await images(path.join(root, 'train', 'ant'), 2, 'JPG'); // extension case does not matter
    await images(path.join(root, 'val', 'zebra'), 1, 'Jpeg');
    await images(path.join(root, 'val', 'ant'), 2, 'webp');
    await fs.writeFile(path.join(root, 'train', 'ant', 'notes.txt'), 'hello');
    await fs.writeFile(path.join(root, 'train', 'ant', '.DS_Store'), 'x');
    await fs.mkdir(path.join(root, 'train', '.ipynb_checkpoints'));
    await fs.writeFile(path.join(root, 'README.md'), 'about');

    const split = await scanImageFolder(root, opts);
    expect(split.layout).toBe('train-val');
    expect(split.root).toBe(root);
    expect(split.classes).toEqual(['ant', 'zebra']);
    expect(split.train.map((i) => [path.relative(root, i.path), i.label])).toEqual([
      ['train/ant/000.JPG', 0],
      ['train/ant/001.JPG', 0],
      ['train/zebra/000.png', 1],
      ['train/zebra/001.png', 1],
      ['train/zebra/002.png', 1],
    ]);
    expect(split.val.map((i) => [path.relative(root, i.path), i.label])).toEqual([
      ['val/ant/000.webp', 0],
      ['val/ant/001.webp', 0],
      ['val/zebra/000.Jpeg', 1],
    ]);
    expect(split.skipped).toEqual([
      { path: path.join(root, 'README.md'), reason: 'not inside a class folder' },
      { path: path.join(root, 'train', 'ant', 'notes.txt'), reason: UNSUPPORTED_EXTENSION },
    ]);
  });

  it('refuses class lists that differ between train and val, naming the odd classes', async () => {
    const root = path.join(tmp, 'split-mismatch');
    await images(path.join(root, 'train', 'a'), 1);
    await images(path.join(root, 'train', 'b'), 1);
    await images(path.join(root, 'val', 'a'), 1);
    await images(path.join(root, 'val', 'c'), 1);
    await expectDataError(scanImageFolder(root, opts), /only in train\/: b; only in val\/: c/, root);
  });

  it('refuses train/ without val/', async () => {
    const root = path.join(tmp, 'train-only');
    await images(path.join(root, 'train', 'a'), 1);
    await images(path.join(root, 'train', 'b'), 1);
    await expectDataError(scanImageFolder(root, opts), /has train\/ but no val\//, root);
  });

  it('names an empty class folder in val', async () => {
    const root = path.join(tmp, 'split-empty-val');
    await images(path.join(root, 'train', 'a'), 1);
    await images(path.join(root, 'train', 'b'), 1);
    await images(path.join(root, 'val', 'a'), 1);
    await fs.mkdir(path.join(root, 'val', 'b'), { recursive: true });
    await fs.writeFile(path.join(root, 'val', 'b', 'readme.txt'), 'no images here');
    const folder = path.join(root, 'val', 'b');
    await expectDataError(scanImageFolder(root, opts), `empty class folder: ${folder}`, folder);
  });
});

describe('scanImageFolder: root/<class>/* (stratified split)', () => {
  let root: string;
  beforeAll(async () => {
    root = path.join(tmp, 'flat');
    await images(path.join(root, 'cats'), 10);
    await images(path.join(root, 'dogs'), 5);
    await images(path.join(root, 'eels'), 2);
    await images(path.join(root, 'owls'), 1);
  });

  it('splits each class with round(n * valFraction) in [1, n - 1] images in val', async () => {
    const split = await scanImageFolder(root, opts);
    expect(split.layout).toBe('class-folders');
    expect(split.classes).toEqual(['cats', 'dogs', 'eels', 'owls']);
    const valPerClass = [0, 1, 2, 3].map((label) => split.val.filter((i) => i.label === label).length);
    const trainPerClass = [0, 1, 2, 3].map((label) => split.train.filter((i) => i.label === label).length);
    expect(valPerClass).toEqual([2, 1, 1, 0]);
    expect(trainPerClass).toEqual([8, 4, 1, 1]);
    expect(split.warnings.join('\n')).toMatch(/class "owls" has a single image/);
    const all = [...split.train, ...split.val].map((i) => i.path).sort();
    expect(new Set(all).size).toBe(18);
    for (const item of [...split.train, ...split.val]) {
      expect(path.basename(path.dirname(item.path))).toBe(split.classes[item.label]);
    }
  });

  it('is deterministic for a seed and changes with the seed', async () => {
    const valPaths = async (seed: number) => (await scanImageFolder(root, { valFraction: 0.4, seed })).val.map((i) => i.path);
    const first = await valPaths(1);
    expect(await valPaths(1)).toEqual(first);
    const others = await Promise.all([2, 3, 4, 5].map(valPaths));
    expect(others.some((v) => v.join() !== first.join())).toBe(true);
  });

  it('keeps each class split when another class is added', async () => {
    const other = path.join(tmp, 'flat-plus-one');
    await fs.cp(root, other, { recursive: true });
    await images(path.join(other, 'ants'), 4); // sorts first: every other label shifts by one
    const before = await scanImageFolder(root, opts);
    const after = await scanImageFolder(other, opts);
    const names = (split: typeof before) => split.val.map((i) => path.relative(split.root, i.path)).filter((p) => !p.startsWith('ants'));
    expect(names(after)).toEqual(names(before));
  });

  it('computes val counts as documented', () => {
    expect(stratifiedValCount(1, 0.2)).toBe(0);
    expect(stratifiedValCount(2, 0.01)).toBe(1);
    expect(stratifiedValCount(2, 0.99)).toBe(1);
    expect(stratifiedValCount(100, 0.25)).toBe(25);
  });
});

describe('scanImageFolder: errors that name the folder', () => {
  it('missing root', async () => {
    const root = path.join(tmp, 'does-not-exist');
    await expectDataError(scanImageFolder(root, opts), `data folder not found: ${root}`, root);
  });

  it('root is a file', async () => {
    const file = await writeSolid(path.join(tmp, 'a-file.png'), 2, 2, [0, 0, 0]);
    await expectDataError(scanImageFolder(file, opts), `data folder is not a directory: ${file}`, file);
  });

  it('empty class folder', async () => {
    const root = path.join(tmp, 'flat-empty-class');
    await images(path.join(root, 'a'), 2);
    await fs.mkdir(path.join(root, 'b'), { recursive: true });
    await expectDataError(scanImageFolder(root, opts), `empty class folder: ${path.join(root, 'b')}`, path.join(root, 'b'));
  });

  it('only one class', async () => {
    const root = path.join(tmp, 'one-class');
    await images(path.join(root, 'only'), 3);
    await expectDataError(scanImageFolder(root, opts), /only one class folder \(only\).*at least two classes/, root);
  });

  it('no images at all', async () => {
    const root = path.join(tmp, 'nothing');
    await fs.mkdir(root, { recursive: true });
    await fs.writeFile(path.join(root, 'notes.txt'), 'x');
    await expectDataError(scanImageFolder(root, opts), `no images at all in ${root}`, root);
  });

  it('images but no class folders', async () => {
    const root = path.join(tmp, 'loose-images');
    await images(root, 2);
    await expectDataError(scanImageFolder(root, opts), /holds images but no class folders/, root);
  });
});

describe('scanImageFolder: file system oddities', () => {
  it('follows symlinks into the data roots, detects loops and lists broken links', async () => {
    const root = path.join(tmp, 'links');
    const outside = path.join(tmp, 'outside-bees');
    await images(outside, 2);
    await images(path.join(root, 'ants'), 2);
    await fs.symlink(outside, path.join(root, 'bees')); // a class folder that is a symlink
    await fs.symlink('.', path.join(root, 'ants', 'loop')); // ants/loop -> ants: a cycle
    await fs.symlink('self.png', path.join(root, 'ants', 'self.png')); // a link to itself (ELOOP)
    await fs.symlink('missing.png', path.join(root, 'ants', 'dangling.png'));

    // bees/ leads outside the data folder: followed only because its target is in a data root
    const split = await scanImageFolder(root, { valFraction: 0.5, seed: 0, roots: [outside] });
    expect(split.classes).toEqual(['ants', 'bees']);
    const all = [...split.train, ...split.val];
    expect(all.filter((i) => i.label === 0)).toHaveLength(2);
    expect(all.filter((i) => i.label === 1)).toHaveLength(2);
    expect(all.filter((i) => i.label === 1).every((i) => i.path.startsWith(path.join(root, 'bees')))).toBe(true);
    const reasons = Object.fromEntries(split.skipped.map((s) => [path.relative(root, s.path), s.reason]));
    expect(reasons['ants/loop']).toMatch(/symlink loop/);
    expect(reasons['ants/self.png']).toMatch(/broken symlink or symlink loop/);
    expect(reasons['ants/dangling.png']).toMatch(/broken symlink/);
  });

  it('refuses symlinks (folders and files) that lead outside the data folder and the roots', async () => {
    const root = path.join(tmp, 'links-out');
    const outside = path.join(tmp, 'outside-secret');
    await images(outside, 2);
    await images(path.join(root, 'ants'), 2);
    await images(path.join(root, 'bees'), 2);
    await fs.symlink(outside, path.join(root, 'ants', 'more')); // a folder link out
    await fs.symlink(path.join(outside, '000.png'), path.join(root, 'bees', 'stolen.png')); // a file link out
    const split = await scanImageFolder(root, { valFraction: 0.5, seed: 0 });
    const all = [...split.train, ...split.val];
    expect(all.map((i) => path.relative(root, i.path)).sort()).toEqual(['ants/000.png', 'ants/001.png', 'bees/000.png', 'bees/001.png']);
    const reasons = Object.fromEntries(split.skipped.map((s) => [path.relative(root, s.path), s.reason]));
    expect(reasons['ants/more']).toMatch(/symlink leads outside the data folder and the data roots/);
    expect(reasons['bees/stolen.png']).toMatch(/symlink leads outside the data folder and the data roots/);
  });

  it('reads a file once, under one label and in one split (dedupe by real path)', async () => {
    const root = path.join(tmp, 'links-dupes');
    await images(path.join(root, 'train', 'ants'), 3);
    await images(path.join(root, 'train', 'bees'), 3);
    await images(path.join(root, 'val', 'ants'), 1);
    await images(path.join(root, 'val', 'bees'), 1);
    await fs.symlink(path.join(root, 'train', 'bees', '001.png'), path.join(root, 'train', 'ants', 'bee.png')); // other label
    await fs.symlink(path.join(root, 'train', 'ants', '002.png'), path.join(root, 'val', 'ants', 'leak.png')); // other split
    await fs.symlink('..', path.join(root, 'train', 'bees', 'up')); // bees/up -> train/: a loop through ants
    const split = await scanImageFolder(root, opts);
    const rel = (items: { path: string; label: number }[]) => items.map((i) => `${i.label}:${path.relative(root, i.path)}`);
    expect(rel(split.train)).toEqual(['0:train/ants/000.png', '0:train/ants/001.png', '0:train/ants/002.png', '1:train/bees/000.png', '1:train/bees/001.png', '1:train/bees/002.png']);
    expect(rel(split.val)).toEqual(['0:val/ants/000.png', '1:val/bees/000.png']);
    const reasons = Object.fromEntries(split.skipped.map((s) => [path.relative(root, s.path), s.reason]));
    expect(reasons['train/ants/bee.png']).toMatch(/same file as .*train\/bees\/001\.png \(class "bees"\)/);
    expect(reasons['val/ants/leak.png']).toMatch(/same file as .*train\/ants\/002\.png/);
    expect(reasons['train/bees/up']).toMatch(/symlink loop: leads back up/);
  });

  it('a class folder that links back up to the data folder is a loop, not a class', async () => {
    const root = path.join(tmp, 'links-class-loop');
    await images(path.join(root, 'ants'), 2);
    await images(path.join(root, 'bees'), 2);
    await fs.symlink(root, path.join(root, 'loop'));
    const split = await scanImageFolder(root, opts);
    expect(split.classes).toEqual(['ants', 'bees']);
    expect(split.train.length + split.val.length).toBe(4);
    expect(split.skipped.map((s) => [path.relative(root, s.path), s.reason])).toEqual([['loop', expect.stringMatching(/^symlink loop: leads back up to/)]]);
  });

  it('handles unicode and spaces in class and file names', async () => {
    const root = path.join(tmp, 'unicode dataset ü');
    const a = path.join(root, 'café au lait');
    const b = path.join(root, '蜜蜂 🐝');
    await writeSolid(path.join(a, 'naïve photo 1.png'), 3, 3, [1, 2, 3]);
    await writeSolid(path.join(a, 'Ελληνικά 2.png'), 3, 3, [1, 2, 3]);
    await writeSolid(path.join(b, 'ミツバチ.png'), 3, 3, [1, 2, 3]);
    await writeSolid(path.join(b, ' leading space.png'), 3, 3, [1, 2, 3]);
    const split = await scanImageFolder(root, { valFraction: 0.5, seed: 0 });
    expect(split.classes).toEqual(['café au lait', '蜜蜂 🐝']);
    expect([...split.train, ...split.val].map((i) => path.basename(i.path)).sort()).toEqual(
      [' leading space.png', 'naïve photo 1.png', 'Ελληνικά 2.png', 'ミツバチ.png'].sort(),
    );
    expect(split.skipped).toEqual([]);
  });
});
