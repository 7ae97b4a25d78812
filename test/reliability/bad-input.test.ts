/**
 * Bad input, case by case: every input is built here in a temp folder, fed through the engine API
 * a user's command reaches (scan, dataset, backbone loading, recipe parsing, training) or through
 * the real CLI, and the test asserts the key phrase of the message the user gets and that nothing
 * crashed. Each case is recorded for RELIABILITY.md (summary.ts).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type BnlabConfig } from '../../server/config.ts';
import { selectBackend } from '../../server/engine/backend.ts';
import { loadBackbone } from '../../server/backbones/load.ts';
import type { BackboneEntry } from '../../server/backbones/registry.ts';
import { ImageDataset } from '../../server/data/dataset.ts';
import { scanImageFolder } from '../../server/data/scan.ts';
import { type RunEvent } from '../../server/schema/events.ts';
import { parseRecipe, type RecipeInput } from '../../server/schema/recipe.ts';
import { loadCheckpoint } from '../../server/train/checkpoint.ts';
import { runTraining } from '../../server/train/loop.ts';
import { RunQueue } from '../../server/web/queue/run-queue.ts';
import {
  BNLAB_BIN,
  STACK_TRACE,
  bilevelPng,
  cliEnv,
  jpegBytes,
  tempDir,
  texturedPixels,
  writeImageFolder,
  writeRecipe,
  writeTinyBackbone,
} from '../support/reliability-fixtures.ts';
import { SuiteRecorder, isProgrammingError, type CaseRecord } from './summary.ts';

const recorder = new SuiteRecorder('bad-input', 'npx vitest run test/reliability/bad-input.test.ts');
const work = tempDir('bnlab-bad-input-');
const config: BnlabConfig = { ...loadConfig(), checkpointsDir: path.join(work, 'checkpoints'), cacheDir: path.join(work, 'cache'), modelsDir: null };
const backbone = path.join(work, 'backbone');
const spatialBackbone = path.join(work, 'backbone-spatial');
const images = path.join(work, 'images');
/** A fresh folder for one case, inside `work` so afterAll removes it. */
const caseDir = (name: string) => fs.mkdtempSync(path.join(work, `${name}-`));

/** Process-level failures while this file runs: each one is a crash. */
const processFailures: string[] = [];
const onUnhandled = (error: unknown) => processFailures.push(String((error as Error)?.stack ?? error));

type Outcome = CaseRecord['outcome'];
interface Seen {
  outcome: Outcome;
  message: string;
  crashed?: boolean;
}

/**
 * Record and assert one case: the outcome kind must be `outcome`, the message must match
 * `expected`, and nothing may have crashed. Extra checks run after recording (`and`).
 */
async function check(
  id: string,
  group: string,
  input: string,
  outcome: Outcome,
  expected: RegExp,
  attempt: () => Promise<Seen>,
  and?: () => void | Promise<void>,
): Promise<void> {
  let seen: Seen;
  const failuresBefore = processFailures.length;
  try {
    seen = await attempt();
  } catch (error) {
    seen = { outcome: 'error', message: (error as Error)?.message ?? String(error), crashed: isProgrammingError(error) };
  }
  const crashed = Boolean(seen.crashed) || processFailures.length > failuresBefore;
  let passed = seen.outcome === outcome && expected.test(seen.message) && !crashed;
  let extraFailure: unknown = null;
  if (passed && and) {
    try {
      await and();
    } catch (error) {
      passed = false;
      extraFailure = error;
    }
  }
  const shown = seen.message.trim().slice(0, 400) + (extraFailure ? ` [then: ${(extraFailure as Error).message.split('\n')[0]}]` : '');
  recorder.record({ id, group, input, outcome: seen.outcome, message: shown, expected: expected.source, passed, crashed });
  expect(crashed, `crashed: ${seen.message}`).toBe(false);
  expect(seen.outcome, seen.message).toBe(outcome);
  expect(seen.message).toMatch(expected);
  if (extraFailure) throw extraFailure;
}

// --- engine entry points -------------------------------------------------------------------------

/** Decode one file through ImageDataset (what training does): skipped with a reason, or decoded. */
async function decodeThroughDataset(file: string, imageSize = 16): Promise<Seen & { image?: { width: number; height: number; data: Uint8Array } }> {
  const dataset = new ImageDataset({ items: [{ path: file, label: 0 }], imageSize, preprocessing: 'minus1to1', augment: null });
  const image = await dataset.load(0);
  if (!image) return { outcome: 'skipped', message: `${path.basename(file)}: ${dataset.skipped[0]?.reason ?? '(no reason)'}` };
  for await (const _batch of dataset.batches({ batchSize: 1, shuffle: false, seed: 0, epoch: 0 })) {
    // a decoded file must also assemble into a batch
  }
  return { outcome: 'ok', message: `decoded to ${image.width}x${image.height}`, image };
}

function classFolderWith(name: string, files: Record<string, Buffer | string>): string {
  const root = caseDir('scan');
  fs.mkdirSync(path.join(root, 'other'));
  fs.writeFileSync(path.join(root, 'other', 'a.png'), fs.readFileSync(path.join(images, 'cool', '0.png')));
  fs.mkdirSync(path.join(root, name));
  for (const [file, bytes] of Object.entries(files)) fs.writeFileSync(path.join(root, name, file), bytes);
  return root;
}

async function scan(root: string): Promise<Seen & { skipped: { path: string; reason: string }[]; classes: string[]; warnings: string[] }> {
  const split = await scanImageFolder(root, { valFraction: 0.25, seed: 0 });
  const outcome: Outcome = split.skipped.length ? 'skipped' : split.warnings.length ? 'warning' : 'ok';
  const message = [...split.skipped.map((s) => `${path.basename(s.path)}: ${s.reason}`), ...split.warnings].join('\n') || `classes ${split.classes.join(', ')}`;
  return { outcome, message, skipped: split.skipped, classes: split.classes, warnings: split.warnings };
}

const recipe = (overrides: Partial<RecipeInput> = {}) =>
  parseRecipe({
    backbone,
    data: images,
    policy: 'train-bn',
    epochs: 1,
    batchSize: 4,
    seed: 1,
    logEvery: 4,
    augment: { randomResizedCrop: false, scale: [0.5, 1], horizontalFlip: false },
    ...overrides,
  });

let runCounter = 0;
/** Train in this process; warnings are the run's 'warn' log events. */
async function train(overrides: Partial<RecipeInput> = {}, opts: { outDir?: string; resume?: boolean; onEvent?: (e: RunEvent) => void } = {}) {
  const events: RunEvent[] = [];
  const outDir = opts.outDir ?? path.join(work, 'runs', `run-${++runCounter}`);
  const summary = await runTraining(recipe(overrides), {
    runId: path.basename(outDir),
    config,
    backend: 'wasm',
    outDir,
    resume: opts.resume,
    onEvent: (e) => {
      events.push(e);
      opts.onEvent?.(e);
    },
  });
  const warnings = events.filter((e): e is Extract<RunEvent, { type: 'log' }> => e.type === 'log' && e.level === 'warn').map((e) => e.message);
  return { summary, events, warnings, outDir };
}

/** A run that is expected to finish with warnings: outcome 'warning' with every warning joined. */
async function trainForWarnings(overrides: Partial<RecipeInput> = {}): Promise<Seen> {
  const { warnings, summary } = await train(overrides);
  const end = `run completed: val accuracy ${summary.valAccuracy}, ${summary.steps} steps, ${summary.skippedFiles.length} file(s) skipped`;
  return { outcome: warnings.length ? 'warning' : 'ok', message: [...warnings, end].join('\n') };
}

interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function runCli(args: string[], env: NodeJS.ProcessEnv = cliEnv()): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BNLAB_BIN, ...args], { cwd: work, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** Any CLI run: 'ok' on exit 0 (or 'warning' when bnlab printed a note on stderr), 'error' on exit 1; stdout, then stderr. */
function cliSeen(result: CliResult): Seen {
  const crashed = result.signal !== null || (result.code !== 0 && result.code !== 1) || STACK_TRACE.test(result.stderr);
  const outcome: Outcome = result.code === 0 ? (/^bnlab: /m.test(result.stderr) ? 'warning' : 'ok') : 'error';
  const text = [result.stdout.trim(), result.stderr.trim()].filter(Boolean).join('\n');
  return { outcome, message: `exit ${result.code ?? result.signal}: ${text}`, crashed };
}

/** A CLI refusal: exit code 1, the message on stderr, no stack trace. */
async function cliRefusal(args: string[]): Promise<Seen> {
  const result = await runCli(args);
  const crashed = result.signal !== null || (result.code !== 0 && result.code !== 1) || STACK_TRACE.test(result.stderr);
  const message = `exit ${result.code ?? result.signal}: ${result.stderr.trim()}`;
  return { outcome: result.code === 1 ? 'error' : result.code === 0 ? 'ok' : 'error', message, crashed };
}

// --- the suite -----------------------------------------------------------------------------------

beforeAll(async () => {
  process.on('unhandledRejection', onUnhandled);
  process.on('uncaughtException', onUnhandled);
  await selectBackend('wasm');
  await writeTinyBackbone(backbone);
  await writeTinyBackbone(spatialBackbone, { pointBn: false });
  await writeImageFolder(images, 8);
});

afterAll(() => {
  process.off('unhandledRejection', onUnhandled);
  process.off('uncaughtException', onUnhandled);
  recorder.extra.processFailures = processFailures.length;
  recorder.write();
  fs.rmSync(work, { recursive: true, force: true });
});

describe('bad images: skipped with a reason, or converted to RGB', () => {
  const file = (name: string, bytes: Buffer | string) => {
    const target = path.join(work, 'files', name);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, bytes);
    return target;
  };

  it('truncated JPEG', async () => {
    const bytes = await jpegBytes(64, 64);
    await check('truncated-jpeg', 'image', 'JPEG cut to half its bytes', 'skipped', /corrupt or truncated image/, () => decodeThroughDataset(file('truncated.jpg', bytes.subarray(0, bytes.length >> 1))));
  });

  it('truncated PNG', async () => {
    const bytes = await sharp(texturedPixels([10, 200, 30], 3, 64, 64), { raw: { width: 64, height: 64, channels: 3 } }).png().toBuffer();
    await check('truncated-png', 'image', 'PNG cut to half its bytes', 'skipped', /corrupt or truncated image/, () => decodeThroughDataset(file('truncated.png', bytes.subarray(0, bytes.length >> 1))));
  });

  it('0-byte file', async () => {
    await check('empty-file', 'image', '0-byte .jpg', 'skipped', /empty file/, () => decodeThroughDataset(file('empty.jpg', Buffer.alloc(0))));
  });

  it('text file renamed .jpg', async () => {
    await check('text-as-jpg', 'image', 'text file named .jpg', 'skipped', /unsupported format/, () => decodeThroughDataset(file('notes.jpg', 'this is not an image\n'.repeat(20))));
  });

  it('SVG content named .png', async () => {
    const svg = '<svg xmlns="http://www.w3.org/2000/svg" width="32" height="32"><rect width="32" height="32" fill="red"/></svg>';
    await check('svg-as-png', 'image', 'SVG document named .png', 'skipped', /unsupported format/, () => decodeThroughDataset(file('vector.png', svg)));
  });

  it('unsupported extensions (.bmp, .svg) are listed by the scan, not read', async () => {
    const root = classFolderWith('mixed', { 'ok.png': fs.readFileSync(path.join(images, 'warm', '0.png')), 'old.bmp': Buffer.from('BM....'), 'logo.svg': '<svg/>' });
    await check('bmp-svg-extension', 'image', '.bmp and .svg files in a class folder', 'skipped', /old\.bmp: unsupported extension[\s\S]*|logo\.svg: unsupported extension/, () => scan(root), async () => {
      const result = await scan(root);
      expect(result.skipped.map((s) => path.basename(s.path)).sort()).toEqual(['logo.svg', 'old.bmp']);
    });
  });

  it('16-bit PNG is reduced to 8-bit RGB', async () => {
    const bytes = await sharp(texturedPixels([200, 100, 50], 0), { raw: { width: 20, height: 20, channels: 3 } }).toColourspace('rgb16').png().toBuffer();
    expect((await sharp(bytes).metadata()).depth).toBe('ushort');
    let decoded: Awaited<ReturnType<typeof decodeThroughDataset>> | null = null;
    await check('png-16bit', 'image', '16-bit RGB PNG', 'ok', /decoded to 19x19/, async () => (decoded = await decodeThroughDataset(file('deep.png', bytes))), () => {
      const data = decoded!.image!.data;
      const mean = (c: number) => data.filter((_, i) => i % 3 === c).reduce((a, b) => a + b, 0) / (data.length / 3);
      expect(Math.abs(mean(0) - 200)).toBeLessThan(20);
      expect(Math.abs(mean(2) - 50)).toBeLessThan(20);
    });
  });

  it('CMYK JPEG is converted to RGB', async () => {
    const bytes = await sharp(texturedPixels([40, 90, 210], 0), { raw: { width: 20, height: 20, channels: 3 } }).toColourspace('cmyk').jpeg().toBuffer();
    expect((await sharp(bytes).metadata()).space).toBe('cmyk');
    let decoded: Awaited<ReturnType<typeof decodeThroughDataset>> | null = null;
    await check('jpeg-cmyk', 'image', 'CMYK JPEG', 'ok', /decoded to 19x19/, async () => (decoded = await decodeThroughDataset(file('print.jpg', bytes))), () => {
      const data = decoded!.image!.data;
      const mean = (c: number) => data.filter((_, i) => i % 3 === c).reduce((a, b) => a + b, 0) / (data.length / 3);
      // blue stays blue through CMYK and back
      expect(mean(2)).toBeGreaterThan(mean(0) + 80);
    });
  });

  it('alpha PNG is composited over white', async () => {
    const rgba = Buffer.alloc(20 * 20 * 4);
    for (let p = 0; p < 400; p++) rgba.set([255, 0, 0, 0], p * 4); // fully transparent red
    const bytes = await sharp(rgba, { raw: { width: 20, height: 20, channels: 4 } }).png().toBuffer();
    let decoded: Awaited<ReturnType<typeof decodeThroughDataset>> | null = null;
    await check('png-alpha', 'image', 'fully transparent RGBA PNG', 'ok', /decoded to 19x19/, async () => (decoded = await decodeThroughDataset(file('cutout.png', bytes))), () => {
      expect(Math.min(...decoded!.image!.data)).toBeGreaterThanOrEqual(250);
    });
  });

  it('EXIF-rotated photo comes out upright', async () => {
    const bytes = await sharp(texturedPixels([90, 90, 90], 0, 40, 20), { raw: { width: 40, height: 20, channels: 3 } }).jpeg().withMetadata({ orientation: 6 }).toBuffer();
    expect((await sharp(bytes).metadata()).orientation).toBe(6);
    // stored 40 wide x 20 high, displayed rotated 90°: 20 wide x 40 high, shorter side -> 19
    await check('exif-rotated', 'image', '40x20 JPEG with EXIF orientation 6', 'ok', /decoded to 19x38/, () => decodeThroughDataset(file('portrait.jpg', bytes)));
  });

  it('1x1 image is upscaled', async () => {
    const bytes = await sharp(Buffer.from([10, 20, 30]), { raw: { width: 1, height: 1, channels: 3 } }).png().toBuffer();
    await check('tiny-1x1', 'image', '1x1 PNG', 'ok', /decoded to 19x19/, () => decodeThroughDataset(file('dot.png', bytes)));
  });

  it('10000x10000 image hits the decompression-bomb limit', async () => {
    const bytes = bilevelPng(10_000, 10_000);
    expect(bytes.length).toBeLessThan(200_000);
    const meta = await sharp(bytes).metadata();
    expect([meta.width, meta.height]).toEqual([10_000, 10_000]);
    await check('bomb-10000x10000', 'image', `10000x10000 PNG (${bytes.length} bytes on disk)`, 'skipped', /image too large/, async () => {
      const seen = await decodeThroughDataset(file('bomb.png', bytes));
      return seen;
    });
  });

  it('unicode and spaces in class and file names', async () => {
    const root = caseDir('unicode');
    const classes = { 'ñandú café': [200, 60, 60], 'über straße ☃': [60, 60, 200] } as const;
    for (const [name, colour] of Object.entries(classes)) {
      fs.mkdirSync(path.join(root, name));
      for (let i = 0; i < 3; i++) {
        await sharp(texturedPixels(colour, i), { raw: { width: 20, height: 20, channels: 3 } }).png().toFile(path.join(root, name, `bild ${i} – 写真 😀.png`));
      }
    }
    let classesSeen: string[] = [];
    await check('unicode-names', 'image', 'class folders and files with unicode, emoji and spaces', 'ok', /decoded 6 of 6/, async () => {
      const split = await scanImageFolder(root, { valFraction: 0.34, seed: 0 });
      classesSeen = split.classes;
      const dataset = new ImageDataset({ items: [...split.train, ...split.val], imageSize: 16, preprocessing: 'minus1to1', augment: null });
      let count = 0;
      for await (const batch of dataset.batches({ batchSize: 4, shuffle: false, seed: 0, epoch: 0 })) count += batch.count;
      return { outcome: dataset.skipped.length ? 'skipped' : 'ok', message: `decoded ${count} of ${split.train.length + split.val.length}` };
    }, () => expect(classesSeen).toEqual(['ñandú café', 'über straße ☃']));
  });

  it('symlink loop inside a class folder is skipped, not followed forever', async () => {
    const root = classFolderWith('looped', { 'a.png': fs.readFileSync(path.join(images, 'warm', '1.png')) });
    fs.symlinkSync('..', path.join(root, 'looped', 'again'));
    await check('symlink-loop-dir', 'image', 'class/again -> .. (directory cycle)', 'skipped', /again: symlink loop/, () => scan(root));
  });

  it('self-referencing symlink file is skipped', async () => {
    const root = classFolderWith('selfref', { 'a.png': fs.readFileSync(path.join(images, 'warm', '1.png')) });
    fs.symlinkSync('me.png', path.join(root, 'selfref', 'me.png'));
    await check('symlink-loop-file', 'image', 'me.png -> me.png', 'skipped', /me\.png: broken symlink or symlink loop/, () => scan(root));
  });

});

describe('symlinks in image folders: one label, one split, nothing from outside', () => {
  /** Every item's real path, its labels and its splits. */
  const byRealPath = (split: Awaited<ReturnType<typeof scanImageFolder>>) => {
    const seen = new Map<string, { labels: Set<string>; splits: Set<string> }>();
    for (const [name, items] of [['train', split.train], ['val', split.val]] as const) {
      for (const item of items) {
        const real = fs.realpathSync(item.path);
        const entry = seen.get(real) ?? { labels: new Set(), splits: new Set() };
        entry.labels.add(split.classes[item.label]);
        entry.splits.add(name);
        seen.set(real, entry);
      }
    }
    return seen;
  };

  it('a symlink loop inside a class folder does not relabel the other classes (ants/loop -> ..)', async () => {
    const root = caseDir('weird');
    await writeImageFolder(root, 9, { ants: [200, 80, 40], bees: [40, 90, 210] });
    fs.symlinkSync('..', path.join(root, 'ants', 'loop'));
    let split: Awaited<ReturnType<typeof scanImageFolder>> | null = null;
    await check('symlink-loop-relabels', 'image', 'weird/ants/loop -> .. with 9 ants and 9 bees', 'skipped', /loop: symlink loop: leads back up to/, async () => {
      split = await scanImageFolder(root, { valFraction: 0.25, seed: 0 });
      return { outcome: split.skipped.length ? 'skipped' : 'ok', message: `${split.skipped.map((x) => `${path.relative(root, x.path)}: ${x.reason}`).join('\n')}\n${split.train.length} train + ${split.val.length} val images` };
    }, () => {
      const seen = byRealPath(split!);
      expect(seen.size).toBe(18);
      for (const [real, { labels, splits }] of seen) {
        expect([...labels], real).toEqual([path.basename(path.dirname(real))]); // the folder it lives in, nothing else
        expect(splits.size, real).toBe(1);
      }
      expect(split!.train.length + split!.val.length).toBe(18);
    });
  });

  it('a file linked into another class and another split is read once', async () => {
    const root = caseDir('dupes');
    await writeImageFolder(path.join(root, 'train'), 4);
    await writeImageFolder(path.join(root, 'val'), 2);
    fs.symlinkSync(path.join(root, 'train', 'warm', '1.png'), path.join(root, 'train', 'cool', 'warm-copy.png'));
    fs.symlinkSync(path.join(root, 'train', 'cool', '2.png'), path.join(root, 'val', 'cool', 'leak.png'));
    let split: Awaited<ReturnType<typeof scanImageFolder>> | null = null;
    await check('symlink-file-two-labels', 'image', 'train/cool/warm-copy.png -> train/warm/1.png, val/cool/leak.png -> train/cool/2.png', 'skipped', /warm-copy\.png: same file as .*warm\/1\.png \(class "warm"\)[\s\S]*leak\.png: same file as .*train\/cool\/2\.png/, async () => {
      split = await scanImageFolder(root, { valFraction: 0.25, seed: 0 });
      return { outcome: 'skipped', message: split.skipped.map((x) => `${path.relative(root, x.path)}: ${x.reason}`).join('\n') };
    }, () => {
      for (const [real, { labels, splits }] of byRealPath(split!)) {
        expect(labels.size, real).toBe(1);
        expect(splits.size, real).toBe(1);
      }
      expect([split!.train.length, split!.val.length]).toEqual([8, 4]);
    });
  });

  it('file symlinks leading outside the data roots are refused like folder symlinks, through training', async () => {
    const root = caseDir('outside-files');
    const elsewhere = path.join(os.tmpdir(), `bnlab-elsewhere-${process.pid}`);
    await writeImageFolder(elsewhere, 1, { x: [10, 200, 10] });
    await writeImageFolder(root, 6);
    fs.symlinkSync('/etc/passwd', path.join(root, 'cool', 'passwd.jpg'));
    fs.symlinkSync(path.join(elsewhere, 'x', '0.png'), path.join(root, 'warm', 'outside.png'));
    fs.symlinkSync(path.join(elsewhere, 'x'), path.join(root, 'warm', 'more'));
    let summary: Awaited<ReturnType<typeof train>>['summary'] | null = null;
    try {
      await check('symlink-file-outside-roots', 'image', 'cool/passwd.jpg -> /etc/passwd, warm/outside.png and warm/more/ -> outside every root (runTraining)', 'skipped', /passwd\.jpg: symlink leads outside the data folder and the data roots[\s\S]*more: symlink leads outside[\s\S]*outside\.png: symlink leads outside/, async () => {
        summary = (await train({ data: root, batchSize: 2, maxStepsPerEpoch: 1 }, {})).summary;
        return { outcome: 'skipped', message: summary.skippedFiles.map((x) => `${path.relative(root, x.path)}: ${x.reason}`).join('\n') };
      }, () => {
        // the refused files were never opened: no decode reason for them, and 12 images trained on
        expect(summary!.skippedFiles.map((x) => path.basename(x.path)).sort()).toEqual(['more', 'outside.png', 'passwd.jpg']);
      });
    } finally {
      fs.rmSync(elsewhere, { recursive: true, force: true });
    }
  });
});

describe('bad data folders: errors that name the folder', () => {
  it('empty class folder', async () => {
    const root = classFolderWith('nothing', {});
    await check('empty-class-folder', 'data', 'a class folder with no images', 'error', /empty class folder: .*nothing has no images/, () => scan(root));
  });

  it('one class only', async () => {
    const root = caseDir('one-class');
    await writeImageFolder(root, 3, { solo: [1, 2, 3] });
    await check('one-class', 'data', 'root/solo/* only', 'error', /only one class folder \(solo\) in .*at least two classes/, () => scan(root));
  });

  it('data folder does not exist', async () => {
    await check('data-missing', 'data', 'data path that does not exist', 'error', /data folder not found: .*no-such-folder/, () => scan(path.join(work, 'no-such-folder')));
  });

  it('data path is a file', async () => {
    await check('data-is-file', 'data', 'data path pointing at a PNG', 'error', /data folder is not a directory/, () => scan(path.join(images, 'cool', '0.png')));
  });

  it('train/ without val/', async () => {
    const root = caseDir('train-only');
    await writeImageFolder(path.join(root, 'train'), 2);
    await check('train-without-val', 'data', 'root/train/<class>/* but no root/val', 'error', /has train\/ but no val\//, () => scan(root));
  });

  it('a class with a single image: the scan warns and training shows the warning', async () => {
    const root = caseDir('single');
    await writeImageFolder(root, 6, { many: [200, 80, 40] });
    await writeImageFolder(path.join(root, '..', path.basename(root) + '-tmp'), 1, { lonely: [40, 90, 210] });
    fs.renameSync(path.join(root, '..', path.basename(root) + '-tmp', 'lonely'), path.join(root, 'lonely'));
    await check('single-image-class', 'data', 'class "lonely" with one image (through runTraining)', 'warning', /class "lonely" has a single image/, () => trainForWarnings({ data: root, batchSize: 2 }));
  });

  it('every image in the data is corrupt', async () => {
    const root = caseDir('all-corrupt');
    for (const cls of ['a', 'b']) {
      fs.mkdirSync(path.join(root, cls));
      for (let i = 0; i < 4; i++) fs.writeFileSync(path.join(root, cls, `${i}.jpg`), 'garbage');
    }
    await check('all-images-corrupt', 'data', '8 files named .jpg, none decodes', 'error', /(no|none of the) .*images? .*(could be decoded|decodable)|could not decode any/i, () => trainForWarnings({ data: root, batchSize: 2 }));
  });
});

describe('batch size and BatchNorm guards', () => {
  it('batch size 1 with training-mode BN is refused by default, naming per-image statistics and the override', async () => {
    await check('batch1-refused', 'training', 'batchSize 1, train-bn, BN on 8x8 and 4x4 maps', 'error', /batch size 1 with 2 BatchNorm layer\(s\) in training mode: .*per-image statistics.*--allow-tiny-batch/, () => trainForWarnings({ backbone: spatialBackbone, batchSize: 1, maxStepsPerEpoch: 3 }));
  });

  it('batch size 1 with a training-mode BN on 1x1 maps is refused even with allowTinyBatch', async () => {
    await check('batch1-point-bn', 'training', 'batchSize 1, allowTinyBatch, train-bn, BN after a 1x1 conv output', 'error', /BatchNorm layer 'bn2' would normalise one value per channel in training mode/, () => trainForWarnings({ batchSize: 1, allowTinyBatch: true }));
  });

  it('batch size 1 with spatial training-mode BN and allowTinyBatch runs with a warning', async () => {
    await check('batch1-spatial-bn', 'training', 'batchSize 1, allowTinyBatch, train-bn, BN on 8x8 and 4x4 maps only', 'warning', /batch size 1 is below 8 with 2 BN layer\(s\) in training mode/, () => trainForWarnings({ backbone: spatialBackbone, batchSize: 1, maxStepsPerEpoch: 3, allowTinyBatch: true }));
  });

  it('batch size larger than the dataset', async () => {
    await check('batch-larger-than-data', 'training', 'batchSize 64 with 12 training images', 'error', /batchSize 64 is larger than the 12 training images/, () => trainForWarnings({ batchSize: 64 }));
  });

  it('a last partial batch of one image is dropped with a warning', async () => {
    await check('last-batch-of-one', 'training', 'batchSize 11 with 12 training images, BN on 1x1 maps', 'warning', /last partial batch \(1 image\) is dropped every epoch/, () => trainForWarnings({ batchSize: 11 }));
  });

  it('imageSize that does not match the backbone', async () => {
    await check('image-size-mismatch', 'training', 'imageSize 32 for a 16x16 backbone', 'error', /imageSize 32 does not match backbone/, () => trainForWarnings({ imageSize: 32 }));
  });
});

describe('diverging training', () => {
  it('NaN loss from the first step stops with a clear message and writes no checkpoint', async () => {
    const poisoned = await writeTinyBackbone(path.join(work, 'poisoned'), { poisoned: true });
    const outDir = path.join(work, 'runs', 'nan-first');
    await check('nan-loss-first-step', 'training', 'backbone whose conv kernel holds NaN', 'error', /loss became NaN at step 1 .*training diverged\. No checkpoint was written\. Lower optimizer\.lr/, async () => {
      await train({ backbone: poisoned, policy: 'freeze-all' }, { outDir });
      return { outcome: 'ok', message: 'trained' };
    }, () => expect(fs.existsSync(path.join(outDir, 'model.json'))).toBe(false));
  });

  it('a learning rate that diverges after a good epoch keeps the last good checkpoint', async () => {
    const outDir = path.join(work, 'runs', 'nan-later');
    // Adam moves every weight by about lr on its first step: with lr 3e38 (near float32's max) the
    // epoch-1 checkpoint holds huge but finite weights, and the next forward pass overflows to NaN.
    // (Smaller huge rates only saturate the softmax: BN cancels the conv scale and the clipped
    // cross-entropy stays finite, so they cannot test this path.)
    let message = '';
    await check('nan-loss-huge-lr', 'training', 'adam lr 3e38, 1 step per epoch, 3 epochs', 'error', /(loss became (NaN|Infinity|-Infinity) at step \d+ \(epoch \d+, .*|weights became NaN or infinite by step \d+ \(epoch \d+\): )training diverged\. The last good checkpoint \(end of epoch [1-9]\d*\) is kept/, async () => {
      try {
        await train({ policy: 'full', epochs: 3, maxStepsPerEpoch: 1, optimizer: { type: 'adam', lr: 3e38 } }, { outDir });
      } catch (error) {
        message = (error as Error).message;
        throw error;
      }
      return { outcome: 'ok', message: 'trained without diverging' };
    }, async () => {
      // "epoch N" in the message counts completed epochs; the checkpoint's meta.epoch is 0-based
      const kept = Number(/last good checkpoint \(end of epoch (\d+)\)/.exec(message)![1]);
      const { model, meta } = await loadCheckpoint(outDir);
      expect(meta.epoch).toBe(kept - 1);
      expect(meta.completed).toBe(false);
      let nonFinite = 0;
      for (const w of model.getWeights()) nonFinite += Array.from(await w.data()).filter((v) => !Number.isFinite(v)).length;
      model.dispose();
      expect(nonFinite, `the kept checkpoint (epoch ${kept}) holds ${nonFinite} non-finite weight values`).toBe(0);
    });
  });
});

describe('recipes: field-named errors', () => {
  const parse = async (input: unknown): Promise<Seen> => {
    parseRecipe(input, 'recipe test.json');
    return { outcome: 'ok', message: 'accepted' };
  };
  const base = { backbone: 'demo', data: 'data/demo' };

  it('unknown field', async () => {
    await check('recipe-unknown-field', 'recipe', '"bacthSize": 8 (typo)', 'error', /recipe test\.json is invalid:[\s\S]*bacthSize/, () => parse({ ...base, bacthSize: 8 }));
  });

  it('wrong type', async () => {
    await check('recipe-wrong-type', 'recipe', '"batchSize": "16"', 'error', /batchSize: .*expected number/, () => parse({ ...base, batchSize: '16' }));
  });

  it('unknown policy', async () => {
    await check('recipe-unknown-policy', 'recipe', '"policy": "freeze-most"', 'error', /policy: .*unknown policy; use one of freeze-all/, () => parse({ ...base, policy: 'freeze-most' }));
  });

  it('negative learning rate', async () => {
    await check('recipe-negative-lr', 'recipe', '"optimizer": { "lr": -0.1 }', 'error', /optimizer\.lr: /, () => parse({ ...base, optimizer: { lr: -0.1 } }));
  });

  it('BN momentum out of range', async () => {
    await check('recipe-momentum-range', 'recipe', '"bnMomentum": { "keras": 1.5 }', 'error', /bnMomentum/, () => parse({ ...base, bnMomentum: { keras: 1.5 } }));
  });

  it('missing backbone', async () => {
    await check('recipe-missing-backbone', 'recipe', 'no "backbone" field', 'error', /backbone: /, () => parse({ data: 'data/demo' }));
  });

  it('recipe that is not an object', async () => {
    await check('recipe-not-object', 'recipe', 'a JSON array', 'error', /\(top level\): /, () => parse([1, 2]));
  });
});

describe('backbones: errors that name the file', () => {
  const copyBackbone = (name: string) => {
    const dir = path.join(work, 'models', name);
    fs.cpSync(backbone, dir, { recursive: true });
    return dir;
  };
  const load = async (spec: string, registry?: BackboneEntry[], cfg: BnlabConfig = config): Promise<Seen> => {
    const loaded = await loadBackbone(spec, cfg, registry ? { registry } : {});
    loaded.model.dispose();
    return { outcome: loaded.warnings.length ? 'warning' : 'ok', message: loaded.warnings.join('\n') || 'loaded' };
  };

  it('unknown backbone name', async () => {
    await check('backbone-unknown', 'backbone', '"backbone": "resnet9000"', 'error', /unknown backbone 'resnet9000'\. Known names: .*mobilenet_v1_0\.25_224/, () => load('resnet9000'));
  });

  it('path that does not exist', async () => {
    await check('backbone-path-missing', 'backbone', './nowhere/model.json', 'error', /no model\.json: .*nowhere.* does not exist/, () => load(path.join(work, 'nowhere', 'model.json')));
  });

  it('missing shard', async () => {
    const dir = copyBackbone('missing-shard');
    fs.rmSync(path.join(dir, 'weights.bin'));
    await check('shard-missing', 'backbone', 'model.json whose weights.bin is gone', 'error', /weight shard weights\.bin listed in .*model\.json is missing/, () => load(dir));
  });

  it('truncated shard', async () => {
    const dir = copyBackbone('truncated-shard');
    const shard = path.join(dir, 'weights.bin');
    fs.truncateSync(shard, fs.statSync(shard).size - 100);
    await check('shard-truncated', 'backbone', 'weights.bin 100 bytes short', 'error', /shard weights\.bin of .* is truncated: \d+ bytes, but weightsManifest group 1 .* needs \d+ bytes/, () => load(dir));
  });

  it('sha256 mismatch against the registry', async () => {
    const models = path.join(work, 'registry-models');
    fs.cpSync(backbone, path.join(models, 'tiny'), { recursive: true });
    const entry: BackboneEntry = { name: 'tiny', description: 'test', url: null, sha256: { 'model.json': '0'.repeat(64) }, inputSize: 16, preprocessing: 'minus1to1', cutLayer: 'relu2', localDir: 'tiny' };
    await check('sha-mismatch', 'backbone', 'registry entry whose model.json sha256 differs from the file', 'error', /sha256 mismatch for model\.json from .*: expected 0{64}, got [0-9a-f]{64}/, () => load('tiny', [entry], { ...config, modelsDir: models }));
  });

  it('graph model instead of a layers model', async () => {
    const dir = path.join(work, 'models', 'graph');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify({ format: 'graph-model', generatedBy: '2.x', modelTopology: { node: [{ name: 'x', op: 'Placeholder' }], library: {}, versions: {} }, weightsManifest: [] }));
    await check('graph-model', 'backbone', 'model.json with format graph-model', 'error', /is a graph model; bnlab needs a layers model/, () => load(dir));
  });

  it('model.json that is not JSON', async () => {
    const dir = copyBackbone('bad-json');
    fs.writeFileSync(path.join(dir, 'model.json'), '{"modelTopology": {');
    await check('model-json-malformed', 'backbone', 'model.json cut mid-object', 'error', /model\.json is not valid JSON/, () => load(dir));
  });

  it('weight path escaping the model folder', async () => {
    const dir = copyBackbone('escape');
    const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
    json.weightsManifest[0].paths = ['../../../../etc/passwd'];
    fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(json));
    await check('shard-path-traversal', 'backbone', 'weightsManifest path ../../../../etc/passwd', 'error', /lists weight file '\.\.\/\.\.\/\.\.\/\.\.\/etc\/passwd', which is not a plain relative path/, () => load(dir));
  });

  it('model without BatchNorm layers loads with a warning', async () => {
    const dir = await writeTinyBackbone(path.join(work, 'models', 'no-bn'), { batchNorm: false });
    await check('model-without-bn', 'backbone', 'conv backbone with no BN layer', 'warning', /has no BatchNormalization layers: BN policies, recalibration and drift have nothing to act on/, () => load(dir));
  });

  it('malformed backbone.json sidecar', async () => {
    const dir = copyBackbone('bad-sidecar');
    fs.writeFileSync(path.join(dir, 'backbone.json'), '{ cutLayer: relu2 }');
    await check('sidecar-malformed', 'backbone', 'backbone.json that is not JSON', 'error', /backbone\.json is not valid JSON/, () => load(dir));
  });

  it('cut layer that does not exist', async () => {
    const dir = copyBackbone('bad-cut');
    fs.writeFileSync(path.join(dir, 'backbone.json'), JSON.stringify({ cutLayer: 'conv99', preprocessing: 'minus1to1' }));
    await check('cut-layer-missing', 'backbone', 'backbone.json cutLayer "conv99"', 'error', /has no layer 'conv99' to cut at; layers with 4-D output near the end: /, () => load(dir));
  });

  it('model whose preprocessing nobody states', async () => {
    const dir = copyBackbone('unstated');
    fs.rmSync(path.join(dir, 'backbone.json'));
    await check('preprocessing-unstated', 'backbone', 'a model folder without backbone.json, registry entry or Teachable Machine metadata.json', 'error',
      /does not say how its pixels are scaled.*--preprocessing <mode>.*backbone\.json.*bnlab layers --backbone /, () => load(dir));
  });
});

describe('checkpoints and resume', () => {
  it('resume with a different recipe is refused', async () => {
    const outDir = path.join(work, 'runs', 'resume-other');
    await train({}, { outDir });
    await check('resume-recipe-differs', 'checkpoint', '--resume with another batch size', 'error', /cannot resume .*: its recipe differs from this run's/, () => trainForResume({ batchSize: 2 }, outDir));
  });

  it('resume from a checkpoint whose model.json is garbage names the file', async () => {
    const outDir = path.join(work, 'runs', 'resume-garbage');
    await train({}, { outDir });
    fs.writeFileSync(path.join(outDir, 'model.json'), '{"modelTopology": nul');
    await check('resume-corrupt-checkpoint', 'checkpoint', 'model.json overwritten with broken JSON, then --resume', 'error', /checkpoint .*model\.json.* (is unreadable|is corrupt|is not valid JSON)/, () => trainForResume({}, outDir));
  });

  it('two runs writing the same checkpoint folder: the second is refused, the first stays intact', async () => {
    const outDir = path.join(work, 'runs', 'shared-folder');
    let second: Promise<Seen> | null = null;
    const first = train({ epochs: 3, batchSize: 2 }, {
      outDir,
      onEvent: (e) => {
        // start the second run while the first one is mid-training, right after its first checkpoint
        if (e.type === 'checkpoint' && !second) {
          second = train({ epochs: 2, batchSize: 4 }, { outDir }).then(
            (): Seen => ({ outcome: 'ok', message: 'the second run trained into the same folder' }),
            (error: Error): Seen => ({ outcome: 'error', message: error.message, crashed: isProgrammingError(error) }),
          );
        }
      },
    }).then(
      () => null,
      (error: Error) => error,
    );
    const firstError = await first;
    const secondResult = async () => (second ? await second : { outcome: 'ok' as const, message: 'second run never started' });
    /** What became of the first run's folder, for the record. */
    const firstRunState = async () => {
      try {
        const { meta, model } = await loadCheckpoint(outDir);
        model.dispose();
        const lines = fs.readFileSync(path.join(outDir, 'metrics.jsonl'), 'utf8').trim().split('\n');
        const started = lines.filter((l) => l.includes('"type":"runStarted"')).length;
        return `first run: ${firstError ? `failed (${firstError.message})` : 'completed'}; folder now holds a checkpoint of a ${meta.recipe.epochs}-epoch recipe, metrics.jsonl has ${started} runStarted event(s)`;
      } catch (error) {
        return `first run: ${firstError ? `failed (${firstError.message})` : 'completed'}; its checkpoint no longer loads: ${(error as Error).message}`;
      }
    };
    await check('same-checkpoint-folder', 'checkpoint', 'a second run started with the same --out while the first trains', 'error', /(already in use|locked) by (another run|run|pid)/i, async () => {
      const seen = await secondResult();
      return { ...seen, message: `second run: ${seen.message}; ${await firstRunState()}` };
    }, async () => {
      expect(firstError?.message ?? null).toBeNull();
      const { meta, model } = await loadCheckpoint(outDir);
      model.dispose();
      expect(meta.recipe.epochs).toBe(3);
      expect(meta.completed).toBe(true);
      const events = fs.readFileSync(path.join(outDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as RunEvent);
      expect(events.filter((e) => e.type === 'runStarted')).toHaveLength(1);
      const steps = events.filter((e) => e.type === 'stepEnd').map((e) => (e as { step: number }).step);
      expect(steps).toEqual(steps.map((_, i) => i + 1));
    });
  });

  async function trainForResume(overrides: Partial<RecipeInput>, outDir: string): Promise<Seen> {
    await train(overrides, { outDir, resume: true });
    return { outcome: 'ok', message: 'resumed' };
  }
});

describe('the real CLI: exit code 1, message on stderr, no stack trace', () => {
  it('malformed recipe JSON', async () => {
    const file = path.join(work, 'broken.json');
    fs.writeFileSync(file, '{ "backbone": "demo", "data": ');
    await check('cli-recipe-malformed-json', 'cli', 'bnlab train --recipe broken.json (cut mid-object)', 'error', /^exit 1: [\s\S]*bnlab: recipe .*broken\.json is not valid JSON/, () => cliRefusal(['train', '--recipe', file]));
  });

  it('recipe with an unknown field', async () => {
    const file = writeRecipe(path.join(work, 'typo.json'), { backbone, data: images, epohcs: 2 });
    await check('cli-recipe-unknown-field', 'cli', 'bnlab train --recipe typo.json ("epohcs")', 'error', /^exit 1: [\s\S]*is invalid:[\s\S]*epohcs/, () => cliRefusal(['train', '--recipe', file]));
  });

  it('unknown policy flag', async () => {
    const file = writeRecipe(path.join(work, 'ok.json'), { backbone, data: images, epochs: 1 });
    await check('cli-unknown-policy', 'cli', 'bnlab train --policy freeze-some', 'error', /^exit 1: [\s\S]*policy: .*unknown policy/, () => cliRefusal(['train', '--recipe', file, '--policy', 'freeze-some', '--out', path.join(work, 'cli-out')]));
  });

  it('unknown backbone', async () => {
    const file = writeRecipe(path.join(work, 'nobackbone.json'), { backbone: 'resnet9000', data: images, epochs: 1 });
    await check('cli-unknown-backbone', 'cli', 'bnlab train with "backbone": "resnet9000"', 'error', /^exit 1: [\s\S]*unknown backbone 'resnet9000'/, () => cliRefusal(['train', '--recipe', file, '--out', path.join(work, 'cli-out2')]));
  });

  it('non-numeric flag', async () => {
    const file = writeRecipe(path.join(work, 'ok2.json'), { backbone, data: images, epochs: 1 });
    await check('cli-epochs-not-number', 'cli', 'bnlab train --epochs many', 'error', /^exit 1: [\s\S]*option '--epochs <n>' argument 'many' is invalid. expected a number/, () => cliRefusal(['train', '--recipe', file, '--epochs', 'many']));
  });

  it('recipe file that does not exist', async () => {
    await check('cli-recipe-missing', 'cli', 'bnlab train --recipe nope.json', 'error', /^exit 1: [\s\S]*cannot read recipe .*nope\.json/, () => cliRefusal(['train', '--recipe', path.join(work, 'nope.json')]));
  });

  it('BNLAB_BACKEND=bogus names the variable', async () => {
    const result = await runCli(['train', '--backbone', backbone, '--data', images, '--out', path.join(work, 'cli-bogus-backend')], cliEnv({ BNLAB_BACKEND: 'bogus' }));
    await check('cli-backend-env-bogus', 'cli', 'BNLAB_BACKEND=bogus bnlab train …', 'error', /^exit 1: [\s\S]*Unknown backend 'bogus' \(from BNLAB_BACKEND\); choose one of: wasm, cpu, tensorflow/, async () => cliSeen(result));
  });

  it('--port that is not a number, and PORT that is not one', async () => {
    await check('cli-port-not-number', 'cli', 'bnlab serve --port abc', 'error', /^exit 1: [\s\S]*--port must be a whole number from 0 to 65535 \(0 = any free port\), got 'abc'/, () => cliRefusal(['serve', '--port', 'abc']));
    const result = await runCli(['serve'], cliEnv({ PORT: '70000' }));
    await check('cli-port-env-out-of-range', 'cli', 'PORT=70000 bnlab serve', 'error', /^exit 1: [\s\S]*the PORT environment variable must be a whole number from 0 to 65535/, async () => cliSeen(result));
  });

  it('train --data without --backbone trains the demo backbone and says so', async () => {
    const out = path.join(work, 'cli-no-backbone');
    const result = await runCli(['train', '--data', images, '--epochs', '1', '--max-steps', '1', '--batch-size', '4', '--out', out]);
    await check('cli-train-no-backbone', 'cli', 'bnlab train --data <folder> (no --backbone, no --recipe)', 'warning', /^exit 0: [\s\S]*no --backbone given: using the demo backbone 'demo' \(pass --backbone/, async () => cliSeen(result), async () => {
      const { meta, model } = await loadCheckpoint(out);
      model.dispose();
      expect(meta.recipe.backbone).toBe('demo');
      expect(meta.classes).toEqual(['cool', 'warm']);
    });
  });

  it('a failed run keeps its folder and the run list shows it as failed', async () => {
    const checkpoints = caseDir('cli-checkpoints');
    const oneClass = caseDir('cli-one-class');
    await writeImageFolder(oneClass, 3, { solo: [1, 2, 3] });
    const out = path.join(checkpoints, 'failed-run');
    const result = await runCli(['train', '--backbone', backbone, '--data', oneClass, '--out', out]);
    let listed = '';
    await check('cli-failed-run-marked', 'cli', 'bnlab train on a one-class folder, then the dashboard run list', 'error', /^exit 1: [\s\S]*only one class folder \(solo\)[\s\S]*run list: failed-run failed: only one class folder/, async () => {
      const queue = new RunQueue({ config: { ...config, checkpointsDir: checkpoints } });
      try {
        await queue.loadHistory();
        listed = queue.list().map((job) => `${job.id} ${job.status}: ${job.error}`).join('; ');
      } finally {
        await queue.close();
      }
      const seen = cliSeen(result);
      return { ...seen, message: `${seen.message}\nrun list: ${listed}` };
    }, () => {
      expect(fs.readdirSync(out)).toContain('metrics.jsonl');
      const last = JSON.parse(fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').at(-1)!) as RunEvent;
      expect(last).toMatchObject({ type: 'runFinished', status: 'failed' });
    });
  });

  describe('with a trained checkpoint', () => {
    const checkpoint = path.join(work, 'runs', 'for-cli');
    beforeAll(async () => {
      await train({ maxStepsPerEpoch: 1 }, { outDir: checkpoint });
    });

    it('export --out into a non-empty folder that is not an export is refused unless --force', async () => {
      const target = caseDir('export-into-data');
      await writeImageFolder(target, 1);
      fs.writeFileSync(path.join(target, 'model.json'), '{"mine": true}');
      const before = fs.readdirSync(target).sort();
      await check('cli-export-nonempty', 'cli', 'bnlab export --out <an image folder holding its own model.json>', 'error', /^exit 1: [\s\S]*--out .* is not empty \(.*\) and is not a bnlab export: refusing to overwrite its files.*--force/, () => cliRefusal(['export', '--checkpoint', checkpoint, '--out', target]), async () => {
        expect(fs.readdirSync(target).sort()).toEqual(before);
        expect(fs.readFileSync(path.join(target, 'model.json'), 'utf8')).toBe('{"mine": true}');
        const forced = await runCli(['export', '--checkpoint', checkpoint, '--out', target, '--force']);
        expect(forced.code, forced.stderr).toBe(0);
        // an earlier export may be replaced without --force
        const again = await runCli(['export', '--checkpoint', checkpoint, '--out', target]);
        expect(again.code, again.stderr).toBe(0);
      });
    });

    it('predict with a missing input reports it and predicts the others', async () => {
      const good = path.join(images, 'cool', '0.png');
      const result = await runCli(['predict', '--checkpoint', checkpoint, path.join(work, 'gone.jpg'), good]);
      await check('cli-predict-missing-input', 'cli', 'bnlab predict gone.jpg cool/0.png', 'ok', /^exit 0: [\s\S]*0\.png: (cool|warm) [\d.]+%[\s\S]*skipped .*gone\.jpg: no such file or folder/, async () => cliSeen(result), () => {
        expect(result.stdout + result.stderr).not.toMatch(/ENOENT/);
      });
    });

    it('predict with no usable input exits 1', async () => {
      const empty = caseDir('predict-empty');
      const text = path.join(empty, 'notes.jpg');
      fs.writeFileSync(text, 'not an image');
      const result = await runCli(['predict', '--checkpoint', checkpoint, path.join(work, 'gone.jpg'), text, empty + '-missing']);
      await check('cli-predict-nothing', 'cli', 'bnlab predict gone.jpg notes.jpg (text) missing-folder/', 'error', /^exit 1: [\s\S]*skipped .*gone\.jpg: no such file or folder[\s\S]*skipped .*notes\.jpg: unsupported format[\s\S]*nothing was predicted: none of the 3 input\(s\)/, async () => cliSeen(result), () => {
        expect(result.stdout + result.stderr).not.toMatch(/ENOENT/);
      });
    });
  });

  it('recalibrate accepts a one-class folder and a folder without class folders', async () => {
    const oneClass = caseDir('recal-one-class');
    await writeImageFolder(oneClass, 3, { solo: [90, 120, 30] });
    const flat = caseDir('recal-flat');
    for (const file of ['0.png', '1.png']) fs.copyFileSync(path.join(images, 'warm', file), path.join(flat, file));
    const one = await runCli(['recalibrate', '--backbone', backbone, '--data', oneClass, '--out', path.join(work, 'recal-1'), '--batch-size', '3']);
    await check('cli-recalibrate-one-class', 'cli', 'bnlab recalibrate --data <folder with one class folder>', 'ok', /^exit 0: [\s\S]*recalibrated 3 BN layers on 3 images/, async () => cliSeen(one));
    const none = await runCli(['recalibrate', '--backbone', backbone, '--data', flat, '--out', path.join(work, 'recal-2'), '--batch-size', '2']);
    await check('cli-recalibrate-no-classes', 'cli', 'bnlab recalibrate --data <folder of images, no class folders>', 'ok', /^exit 0: [\s\S]*recalibrated 3 BN layers on 2 images/, async () => cliSeen(none));
  });
});

describe('nothing crashed', () => {
  it('no uncaught exception or unhandled rejection during the suite', () => {
    expect(processFailures).toEqual([]);
  });

  it('at least 30 distinct cases were tried', () => {
    expect(new Set(recorder.cases.map((c) => c.id)).size).toBeGreaterThanOrEqual(30);
  });
});
