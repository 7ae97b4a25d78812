/**
 * Decode one image file with sharp into 8-bit sRGB RGB pixels at a working resolution.
 *
 * What every file goes through, whatever its format:
 *   - only JPEG, PNG, WebP, GIF and TIFF content is accepted (detected from the bytes, not the name;
 *     a text file called .jpg is 'unsupported format');
 *   - multi-page files (animated GIF/WebP, multi-page TIFF): the first frame/page;
 *   - EXIF orientation applied (a portrait photo stored sideways comes out upright);
 *   - alpha composited over WHITE (ALPHA_BACKGROUND): transparent product shots, logos and
 *     drawings are made to be seen on a white page; composited, not dropped, because the colour
 *     under fully transparent pixels is undefined (often black, sometimes garbage);
 *   - grayscale replicated to 3 channels, CMYK converted through its ICC profile (libvips' default
 *     CMYK profile if none is embedded), 16-bit reduced to 8-bit, all into sRGB;
 *   - resized (aspect kept) so that the SHORTER side is exactly decodedShorterSide(targetSize) =
 *     ceil(1.15 * targetSize): large photos shrink (lanczos3), tiny ones such as 28x28 digits grow
 *     (mitchell, little ringing). The 15 % margin leaves room for random-resized-crop and for the
 *     eval center crop without resampling the original again. The longer side is capped at
 *     MAX_ASPECT_RATIO x the shorter one (extreme panoramas are squeezed rather than exploding
 *     memory).
 *   With `resize: 'squash'` the whole image is resized to targetSize x targetSize instead (aspect not
 *   kept; Keras image_dataset_from_directory and Teachable Machine), and an image already at that
 *   size is not resampled at all; with 'pad' it is fitted inside the square with its aspect kept
 *   and black borders (letterbox; tf.image.resize_with_pad). Either way the eval transform then
 *   takes the whole square, pixel for pixel.
 * Decompression bombs: files over maxInputPixels (default 50 megapixels, checked by sharp from the
 * header before any pixel is decoded) or over MAX_FILE_BYTES are refused as 'image too large'.
 * Strictness: sharp's failOn 'error' — truncated or corrupt pixel data fails, harmless decoder
 * warnings (e.g. extraneous bytes in a JPEG) do not, as with Pillow.
 * Failures are thrown as ImageDecodeError with one of a few human reasons.
 */
import fs from 'node:fs/promises';
import sharp from 'sharp';
import type { ResizeMode } from '../schema/recipe.ts';

/** Interleaved RGB, 8 bits per channel, row-major: data[(y * width + x) * 3 + c]. */
export interface DecodedImage {
  data: Uint8Array;
  width: number;
  height: number;
}

export type DecodeFailureReason =
  | 'empty file'
  | 'corrupt or truncated image'
  | 'unsupported format'
  | 'image too large'
  | 'unreadable file';

export class ImageDecodeError extends Error {
  constructor(
    readonly path: string,
    readonly reason: DecodeFailureReason,
    readonly detail: string,
  ) {
    super(`${path}: ${reason}${detail ? ` (${detail})` : ''}`);
    this.name = 'ImageDecodeError';
  }
}

export const DEFAULT_MAX_INPUT_PIXELS = 50_000_000;
export const MAX_FILE_BYTES = 256 * 1024 * 1024;
export const MAX_ASPECT_RATIO = 8;
export const ALPHA_BACKGROUND = { r: 255, g: 255, b: 255 } as const;
/** Formats sharp may report that we decode; everything else (SVG, HEIF, PDF, ...) is refused. */
export const DECODABLE_FORMATS: ReadonlySet<string> = new Set(['jpeg', 'png', 'webp', 'gif', 'tiff']);

export interface DecodeOptions {
  /** The network input size; the decoded shorter side is ceil(1.15 * targetSize). */
  targetSize: number;
  maxInputPixels?: number;
  /** 'crop' (default): shorter side to ceil(1.15 * targetSize); 'squash' / 'pad': to targetSize x targetSize */
  resize?: ResizeMode;
}

/** Letterbox border colour for resize 'pad' (zeros, as tf.image.resize_with_pad). */
export const PAD_BACKGROUND = { r: 0, g: 0, b: 0 } as const;

/** ceil(1.15 * targetSize): the shorter side of every decoded image. */
export function decodedShorterSide(targetSize: number): number {
  return Math.ceil(targetSize * 1.15);
}

/**
 * Output size for an (oriented) width x height input: shorter side = `shorterSide`,
 * longer side = round(longer * scale), at most MAX_ASPECT_RATIO * shorterSide.
 */
export function resizedDimensions(width: number, height: number, shorterSide: number): { width: number; height: number } {
  const scale = shorterSide / Math.min(width, height);
  const longer = (side: number) => Math.min(MAX_ASPECT_RATIO * shorterSide, Math.max(shorterSide, Math.round(side * scale)));
  return width <= height
    ? { width: shorterSide, height: longer(height) }
    : { width: longer(width), height: shorterSide };
}

export async function decodeImage(file: string, opts: DecodeOptions): Promise<DecodedImage> {
  const maxInputPixels = opts.maxInputPixels ?? DEFAULT_MAX_INPUT_PIXELS;
  const bytes = await readImageBytes(file);
  const input = () => sharp(bytes, { failOn: 'error', limitInputPixels: maxInputPixels, pages: 1, page: 0 });
  try {
    const meta = await input().metadata();
    if (!DECODABLE_FORMATS.has(meta.format)) {
      throw new ImageDecodeError(file, 'unsupported format', `content is ${meta.format}; expected jpeg, png, webp, gif or tiff`);
    }
    const oriented = meta.autoOrient ?? { width: meta.width, height: meta.height };
    if (!oriented.width || !oriented.height) throw new ImageDecodeError(file, 'corrupt or truncated image', 'no dimensions');
    const mode = opts.resize ?? 'crop';
    const size = mode === 'crop' ? resizedDimensions(oriented.width, oriented.height, decodedShorterSide(opts.targetSize)) : { width: opts.targetSize, height: opts.targetSize };
    const upscale = mode === 'pad' ? Math.max(oriented.width, oriented.height) < opts.targetSize : size.width > oriented.width;
    const kernel = upscale ? 'mitchell' : 'lanczos3';
    let pipeline = input().autoOrient().flatten({ background: ALPHA_BACKGROUND });
    const alreadyThere = mode !== 'crop' && oriented.width === opts.targetSize && oriented.height === opts.targetSize;
    if (!alreadyThere) {
      pipeline = pipeline.resize(size.width, size.height, mode === 'pad' ? { fit: 'contain', kernel, background: PAD_BACKGROUND } : { fit: 'fill', kernel });
    }
    const { data, info } = await pipeline
      .toColourspace('srgb')
      .removeAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3 || data.length !== info.width * info.height * 3) {
      throw new ImageDecodeError(file, 'unsupported format', `decoded to ${info.channels} channels`);
    }
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height };
  } catch (error) {
    if (error instanceof ImageDecodeError) throw error;
    const message = (error as Error).message ?? String(error);
    const reason = classifySharpError(message);
    const detail = reason === 'image too large' ? `${message}; limit ${maxInputPixels} pixels (decompression-bomb guard)` : message;
    throw new ImageDecodeError(file, reason, detail);
  }
}

async function readImageBytes(file: string): Promise<Buffer> {
  try {
    const stat = await fs.stat(file);
    if (!stat.isFile()) throw new ImageDecodeError(file, 'unreadable file', 'not a regular file');
    if (stat.size === 0) throw new ImageDecodeError(file, 'empty file', '0 bytes');
    if (stat.size > MAX_FILE_BYTES) {
      throw new ImageDecodeError(file, 'image too large', `${stat.size} bytes, limit ${MAX_FILE_BYTES}`);
    }
    const bytes = await fs.readFile(file);
    if (bytes.length === 0) throw new ImageDecodeError(file, 'empty file', '0 bytes');
    return bytes;
  } catch (error) {
    if (error instanceof ImageDecodeError) throw error;
    throw new ImageDecodeError(file, 'unreadable file', (error as Error).message);
  }
}

/** Map sharp/libvips messages onto the reasons users see. */
function classifySharpError(message: string): DecodeFailureReason {
  if (/exceeds pixel limit/i.test(message)) return 'image too large';
  if (/unsupported image format/i.test(message)) return 'unsupported format';
  if (/buffer is empty/i.test(message)) return 'empty file';
  return 'corrupt or truncated image';
}
