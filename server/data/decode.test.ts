import fs from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  decodedShorterSide,
  decodeImage,
  ImageDecodeError,
  MAX_ASPECT_RATIO,
  resizedDimensions,
  type DecodeFailureReason,
  type DecodedImage,
} from './decode.ts';
import { expectClose, makeTempDir, pixelAt, rawRgb, removeDir, rgbPixels, writePattern, writeSolid, type ImageFormat } from '../../test/support/test-images.ts';

let tmp: string;
beforeAll(async () => {
  tmp = await makeTempDir('decode');
});
afterAll(async () => {
  await removeDir(tmp);
});

const file = (name: string) => path.join(tmp, name);
const ORANGE = [200, 50, 10] as const;

function mean(image: DecodedImage): number[] {
  const sum = [0, 0, 0];
  for (let i = 0; i < image.data.length; i++) sum[i % 3]! += image.data[i]!;
  return sum.map((s) => s / (image.width * image.height));
}

async function expectFailure(promise: Promise<unknown>, reason: DecodeFailureReason, detail?: RegExp): Promise<void> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ImageDecodeError);
  expect((error as ImageDecodeError).reason).toBe(reason);
  if (detail) expect((error as ImageDecodeError).message).toMatch(detail);
}

describe('resizedDimensions', () => {
  it('sets the shorter side and keeps the aspect ratio', () => {
    expect(decodedShorterSide(224)).toBe(258);
    expect(decodedShorterSide(128)).toBe(148);
    expect(resizedDimensions(600, 400, 115)).toEqual({ width: 173, height: 115 });
    expect(resizedDimensions(400, 600, 115)).toEqual({ width: 115, height: 173 });
    expect(resizedDimensions(28, 28, 258)).toEqual({ width: 258, height: 258 });
  });

  it('caps extreme aspect ratios', () => {
    expect(resizedDimensions(10000, 2, 20)).toEqual({ width: MAX_ASPECT_RATIO * 20, height: 20 });
  });
});

describe('decodeImage: formats', () => {
  const formats: ImageFormat[] = ['jpg', 'png', 'webp', 'gif', 'tiff'];
  for (const format of formats) {
    it(`decodes ${format} to RGB at the working size`, async () => {
      const f = await writeSolid(file(`solid.${format}`), 40, 30, ORANGE, format);
      const image = await decodeImage(f, { targetSize: 16 });
      expect([image.width, image.height]).toEqual([25, 19]); // shorter side ceil(16 * 1.15) = 19
      expect(image.data.length).toBe(25 * 19 * 3);
      expectClose(mean(image), ORANGE, format === 'jpg' || format === 'gif' ? 6 : 1.5);
    });
  }

  it('takes the first frame of an animated gif', async () => {
    const red = await sharp({ create: { width: 20, height: 20, channels: 3, background: '#ff0000' } }).png().toBuffer();
    const blue = await sharp({ create: { width: 20, height: 20, channels: 3, background: '#0000ff' } }).png().toBuffer();
    const f = file('anim.gif');
    await sharp([red, blue], { join: { animated: true } }).gif().toFile(f);
    expect((await sharp(f).metadata()).pages).toBe(2);
    const image = await decodeImage(f, { targetSize: 20 });
    expect([image.width, image.height]).toEqual([23, 23]);
    expectClose(mean(image), [255, 0, 0], 2);
  });

  it('takes the first page of a multi-page tiff', async () => {
    const green = await sharp({ create: { width: 10, height: 10, channels: 3, background: '#00ff00' } }).png().toBuffer();
    const black = await sharp({ create: { width: 10, height: 10, channels: 3, background: '#000000' } }).png().toBuffer();
    const f = file('pages.tiff');
    await sharp([green, black], { join: { animated: true } }).tiff().toFile(f);
    expect((await sharp(f).metadata()).pages).toBe(2);
    expectClose(mean(await decodeImage(f, { targetSize: 10 })), [0, 255, 0], 2);
  });
});

describe('decodeImage: orientation and colour', () => {
  it('honours EXIF orientation 6 (stored sideways, displayed rotated 90° clockwise)', async () => {
    // Stored 80x40: top-left quadrant green, rest of the left half red, right half blue.
    const stored = (x: number, y: number) => (x < 40 ? (y < 20 ? ([0, 255, 0] as const) : ([255, 0, 0] as const)) : ([0, 0, 255] as const));
    const f = file('orientation-6.jpg');
    await rawRgb(rgbPixels(80, 40, stored), 80, 40).jpeg({ quality: 95 }).withMetadata({ orientation: 6 }).toFile(f);
    expect((await sharp(f).metadata()).orientation).toBe(6);
    const image = await decodeImage(f, { targetSize: 40 }); // shorter side 46
    expect([image.width, image.height]).toEqual([46, 92]);
    // Rotating clockwise sends stored left -> displayed top, stored top-left -> displayed top-right.
    expectClose(pixelAt(image, 40, 6), [0, 255, 0], 30); // top right: green
    expectClose(pixelAt(image, 6, 6), [255, 0, 0], 30); // top left: red
    expectClose(pixelAt(image, 23, 85), [0, 0, 255], 30); // bottom: blue
  });

  it('expands a true 1-channel grayscale PNG to three equal channels', async () => {
    const f = file('grey.png');
    const grey = Buffer.alloc(12 * 12, 77);
    await sharp(grey, { raw: { width: 12, height: 12, channels: 1 } }).toColourspace('b-w').png().toFile(f);
    const header = await fs.readFile(f);
    expect(header[25]).toBe(0); // PNG colour type 0: grayscale
    const image = await decodeImage(f, { targetSize: 12 });
    expect(image.data.length).toBe(image.width * image.height * 3);
    expectClose(mean(image), [77, 77, 77], 0.5);
  });

  it('composites alpha over white', async () => {
    const width = 10;
    const height = 10;
    const rgba = Buffer.alloc(width * height * 4);
    for (let i = 0; i < width * height; i++) {
      const top = i < (width * height) / 2;
      rgba.set([255, 0, 0, top ? 0 : 128], i * 4); // top half fully transparent, bottom half 50 % red
    }
    const f = file('alpha.png');
    await sharp(rgba, { raw: { width, height, channels: 4 } }).png().toFile(f);
    const image = await decodeImage(f, { targetSize: 20 }); // 23x23
    expectClose(pixelAt(image, 11, 2), [255, 255, 255], 1);
    expectClose(pixelAt(image, 11, 20), [255, 127, 127], 2);
  });

  it('converts a CMYK JPEG to sRGB', async () => {
    const f = file('cmyk.jpg');
    await rawRgb(rgbPixels(16, 16, () => ORANGE), 16, 16).toColourspace('cmyk').jpeg({ quality: 95 }).toFile(f);
    const meta = await sharp(f).metadata();
    expect([meta.space, meta.channels]).toEqual(['cmyk', 4]);
    const image = await decodeImage(f, { targetSize: 16 });
    expect(image.data.length).toBe(image.width * image.height * 3);
    expectClose(mean(image), ORANGE, 20); // ICC round trip, not bit exact
  });

  it('reduces a 16-bit PNG to 8 bits', async () => {
    const f = file('deep.png');
    await rawRgb(rgbPixels(8, 8, () => ORANGE), 8, 8).toColourspace('rgb16').png().toFile(f);
    const header = await fs.readFile(f);
    expect(header[24]).toBe(16); // PNG bit depth
    const image = await decodeImage(f, { targetSize: 8 });
    expectClose(mean(image), ORANGE, 1);
  });
});

describe('decodeImage: sizes', () => {
  it('upscales a 1x1 image', async () => {
    const f = await writeSolid(file('one-pixel.png'), 1, 1, [9, 99, 199]);
    const image = await decodeImage(f, { targetSize: 16 });
    expect([image.width, image.height]).toEqual([19, 19]);
    expectClose(pixelAt(image, 0, 0), [9, 99, 199], 1);
    expectClose(pixelAt(image, 18, 18), [9, 99, 199], 1);
  });

  it('upscales 28x28 digits to the working size for 224 input', async () => {
    const f = await writePattern(file('digit.png'), 28, 28, (x) => (x < 14 ? [0, 0, 0] : [255, 255, 255]));
    const image = await decodeImage(f, { targetSize: 224 });
    expect([image.width, image.height]).toEqual([258, 258]);
    expectClose(pixelAt(image, 10, 100), [0, 0, 0], 2);
    expectClose(pixelAt(image, 250, 100), [255, 255, 255], 2);
  });

  it('downscales a large photo-sized image', async () => {
    const f = await writePattern(file('large.png'), 600, 400, (x, y) => [x % 256, y % 256, 128]);
    const image = await decodeImage(f, { targetSize: 100 });
    expect([image.width, image.height]).toEqual([173, 115]);
  });

  it('refuses a 10000x10000 image (decompression-bomb guard) without decoding it', async () => {
    const f = file('bomb.png');
    await sharp({ create: { width: 10000, height: 10000, channels: 3, background: '#000000' } })
      .png({ compressionLevel: 9 })
      .toFile(f);
    const started = performance.now();
    await expectFailure(decodeImage(f, { targetSize: 224 }), 'image too large', /limit 50000000 pixels/);
    expect(performance.now() - started).toBeLessThan(2000);
  });

  it('applies a custom pixel limit', async () => {
    const f = await writeSolid(file('medium.png'), 200, 200, [1, 2, 3]);
    await expectFailure(decodeImage(f, { targetSize: 16, maxInputPixels: 10_000 }), 'image too large');
  });
});

describe('decodeImage: broken files', () => {
  it('truncated JPEG', async () => {
    const whole = await rawRgb(rgbPixels(64, 64, (x, y) => [(x * 7) % 256, (y * 5) % 256, (x * y) % 256]), 64, 64).jpeg().toBuffer();
    const f = file('truncated.jpg');
    await fs.writeFile(f, whole.subarray(0, Math.floor(whole.length / 2)));
    await expectFailure(decodeImage(f, { targetSize: 16 }), 'corrupt or truncated image', /premature end/i);
  });

  it('truncated PNG', async () => {
    const whole = await rawRgb(rgbPixels(64, 64, (x, y) => [(x * 7) % 256, (y * 5) % 256, (x * y) % 256]), 64, 64).png().toBuffer();
    const f = file('truncated.png');
    await fs.writeFile(f, whole.subarray(0, Math.floor(whole.length / 2)));
    await expectFailure(decodeImage(f, { targetSize: 16 }), 'corrupt or truncated image');
  });

  it('0-byte file', async () => {
    const f = file('empty.jpg');
    await fs.writeFile(f, '');
    await expectFailure(decodeImage(f, { targetSize: 16 }), 'empty file');
  });

  it('text renamed .jpg', async () => {
    const f = file('text.jpg');
    await fs.writeFile(f, 'this is not an image, just some text saved with the wrong name\n');
    await expectFailure(decodeImage(f, { targetSize: 16 }), 'unsupported format');
  });

  it('SVG content behind a .png name is refused, not rendered', async () => {
    const f = file('drawing.png');
    await fs.writeFile(f, '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>');
    await expectFailure(decodeImage(f, { targetSize: 16 }), 'unsupported format', /content is svg/);
  });

  it('missing file', async () => {
    await expectFailure(decodeImage(file('gone.png'), { targetSize: 16 }), 'unreadable file');
  });

  it('works with unicode and spaces in the path', async () => {
    const f = await writeSolid(file('ünï cödé 蜜蜂 image.webp'), 5, 5, [40, 80, 120], 'webp');
    expectClose(mean(await decodeImage(f, { targetSize: 5 })), [40, 80, 120], 1);
  });
});
