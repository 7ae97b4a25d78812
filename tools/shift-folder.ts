/**
 * A shifted copy of an image folder, for showing what BN recalibration does under a domain shift:
 *   node --import tsx tools/shift-folder.ts <from> <to> --shift dark|low-contrast|grayscale|tint|blur
 * Keeps the folder layout (class folders stay class folders) and re-encodes every image with sharp:
 *   dark          pixels x 0.35 (an underexposed camera)
 *   low-contrast  128 + (x - 128) x 0.4 (haze)
 *   grayscale     luminance in all three channels
 *   tint          R x 1.25, G x 1.0, B x 0.6 (a warm white balance)
 *   blur          Gaussian blur, sigma 3
 * Deterministic: the same input gives the same bytes.
 */
import fs from 'node:fs';
import path from 'node:path';
import sharp, { type Sharp } from 'sharp';
import { isImageFileName } from '../server/data/scan.ts';

export const SHIFTS = ['dark', 'low-contrast', 'grayscale', 'tint', 'blur'] as const;
export type Shift = (typeof SHIFTS)[number];

function apply(image: Sharp, shift: Shift): Sharp {
  switch (shift) {
    case 'dark':
      return image.linear(0.35, 0);
    case 'low-contrast':
      return image.linear(0.4, 128 * 0.6);
    case 'grayscale':
      return image.grayscale().toColourspace('srgb');
    case 'tint':
      return image.linear([1.25, 1, 0.6], [0, 0, 0]);
    case 'blur':
      return image.blur(3);
  }
}

export async function shiftFolder(from: string, to: string, shift: Shift): Promise<number> {
  let count = 0;
  for (const entry of fs.readdirSync(from, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !isImageFileName(entry.name)) continue;
    const source = path.join(entry.parentPath, entry.name);
    const target = path.join(to, path.relative(from, source)).replace(/\.[^.]+$/, '.png');
    fs.mkdirSync(path.dirname(target), { recursive: true });
    await apply(sharp(source).removeAlpha(), shift).png().toFile(target);
    count++;
  }
  return count;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [from, to] = process.argv.slice(2, 4);
  const shift = process.argv[process.argv.indexOf('--shift') + 1] as Shift;
  if (!from || !to || !SHIFTS.includes(shift)) {
    console.error(`usage: node --import tsx tools/shift-folder.ts <from> <to> --shift ${SHIFTS.join('|')}`);
    process.exit(2);
  }
  const count = await shiftFolder(path.resolve(from), path.resolve(to), shift);
  console.log(`${count} images → ${path.resolve(to)} (${shift})`);
}
