/**
 * Test helpers: image files generated with sharp into a temporary folder, so that no binary
 * fixture is committed. Used only by server/data/*.test.ts.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp, { type Sharp } from 'sharp';

export type Rgb = readonly [number, number, number];
export type ImageFormat = 'jpg' | 'png' | 'webp' | 'gif' | 'tiff';

export async function makeTempDir(prefix: string): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), `bnlab-${prefix}-`));
}

export async function removeDir(dir: string): Promise<void> {
  await fs.rm(dir, { recursive: true, force: true });
}

/** Raw RGB bytes of a width x height image whose pixel (x, y) is pixel(x, y). */
export function rgbPixels(width: number, height: number, pixel: (x: number, y: number) => Rgb): Buffer {
  const data = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const [r, g, b] = pixel(x, y);
      const o = (y * width + x) * 3;
      data[o] = r;
      data[o + 1] = g;
      data[o + 2] = b;
    }
  }
  return data;
}

export function rawRgb(data: Buffer, width: number, height: number): Sharp {
  return sharp(data, { raw: { width, height, channels: 3 } });
}

/** Encode an RGB pattern in the given format (lossless where the format allows) and write it. */
export async function writePattern(
  file: string,
  width: number,
  height: number,
  pixel: (x: number, y: number) => Rgb,
  format: ImageFormat = 'png',
): Promise<string> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  const image = rawRgb(rgbPixels(width, height, pixel), width, height);
  const encoded =
    format === 'jpg'
      ? image.jpeg({ quality: 95, chromaSubsampling: '4:4:4' })
      : format === 'webp'
        ? image.webp({ lossless: true })
        : format === 'gif'
          ? image.gif()
          : format === 'tiff'
            ? image.tiff()
            : image.png();
  await encoded.toFile(file);
  return file;
}

export async function writeSolid(file: string, width: number, height: number, colour: Rgb, format: ImageFormat = 'png'): Promise<string> {
  return writePattern(file, width, height, () => colour, format);
}

/** Pixel (x, y) of an RGB image as [r, g, b]. */
export function pixelAt(image: { data: Uint8Array; width: number }, x: number, y: number): [number, number, number] {
  const o = (y * image.width + x) * 3;
  return [image.data[o]!, image.data[o + 1]!, image.data[o + 2]!];
}

export function expectClose(actual: readonly number[], expected: readonly number[], tolerance: number): void {
  const worst = Math.max(...actual.map((v, i) => Math.abs(v - expected[i]!)));
  if (!(worst <= tolerance)) {
    throw new Error(`expected [${expected.join(', ')}] within ${tolerance}, got [${actual.join(', ')}]`);
  }
}
