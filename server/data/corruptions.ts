/**
 * Synthetic distribution shift, generated, never downloaded: six image corruptions at severities
 * 1–5 in the spirit of ImageNet-C (Hendrycks & Dietterich, ICLR 2019, "Benchmarking Neural Network
 * Robustness to Common Corruptions and Perturbations"; parameters from their reference code,
 * github.com/hendrycks/robustness, `make_imagenet_c.py`). Pixels x are 8-bit sRGB, written below
 * as x / 255 in [0, 1]; every result is clipped to [0, 1] and rounded back to 8 bits.
 *
 * | corruption     | parameter per severity 1..5        | operation                                        |
 * |----------------|------------------------------------|--------------------------------------------------|
 * | gaussian-noise | sigma 0.08 0.12 0.18 0.26 0.38     | x + N(0, sigma²) per pixel and channel (ImageNet-C) |
 * | blur           | sigma 1 2 3 4 6 px                 | Gaussian blur (ImageNet-C gaussian_blur), libvips |
 * | contrast       | c 0.4 0.3 0.2 0.1 0.05             | (x - mean_ch) * c + mean_ch, mean over the image (ImageNet-C) |
 * | brightness     | c 0.1 0.2 0.3 0.4 0.5              | HSV value V + c, clipped (ImageNet-C)             |
 * | invert         | threshold t 192 160 128 64 0       | each channel value >= t becomes 255 - x (PIL's solarize); t = 0 is full colour inversion |
 * | jpeg           | quality 25 18 15 10 7              | JPEG encode + decode (ImageNet-C jpeg_compression), libjpeg via sharp |
 *
 * Colour inversion is not in ImageNet-C; bnlab grades it as solarisation with a falling threshold
 * so that severity 5 is the full inversion. ImageNet-C applies its parameters to 224×224 crops;
 * bnlab applies them at the resolution it decodes to (shorter side ceil(1.15 × input size), 258 px
 * for 224), so blur radii are in the same units up to 15 %.
 *
 * Determinism: the only random corruption is the noise, drawn from mulberry32 (data/random.ts)
 * seeded by hashSeed(seed, key) where the key names the image (its path inside the folder), so the
 * same seed gives the same bytes on every machine, whatever the order files are processed in.
 * Blur and JPEG are deterministic libvips/libjpeg operations.
 */
import sharp, { type Sharp } from 'sharp';
import { createRng, hashSeed, type Rng } from './random.ts';
import type { DecodedImage } from './decode.ts';
import { fnv1a } from './scan.ts';

export const CORRUPTIONS = ['gaussian-noise', 'blur', 'contrast', 'brightness', 'invert', 'jpeg'] as const;
export type CorruptionName = (typeof CORRUPTIONS)[number];

/** The parameter of each corruption at severities 1..5 (see the module table). */
export const SEVERITY_PARAMETERS: Record<CorruptionName, readonly [number, number, number, number, number]> = {
  'gaussian-noise': [0.08, 0.12, 0.18, 0.26, 0.38],
  blur: [1, 2, 3, 4, 6],
  contrast: [0.4, 0.3, 0.2, 0.1, 0.05],
  brightness: [0.1, 0.2, 0.3, 0.4, 0.5],
  invert: [192, 160, 128, 64, 0],
  jpeg: [25, 18, 15, 10, 7],
};

/** What the parameter of each corruption is, for reports. */
export const PARAMETER_NAMES: Record<CorruptionName, string> = {
  'gaussian-noise': 'noise sigma (pixel range [0, 1])',
  blur: 'Gaussian sigma (px)',
  contrast: 'contrast factor',
  brightness: 'added HSV value',
  invert: 'solarise threshold (0 = full inversion)',
  jpeg: 'JPEG quality',
};

export function isCorruptionName(name: string): name is CorruptionName {
  return (CORRUPTIONS as readonly string[]).includes(name);
}

/** The parameter at a severity, after checking both (errors name what is wrong and what is allowed). */
export function corruptionParameter(name: string, severity: number): number {
  if (!isCorruptionName(name)) throw new RangeError(`unknown corruption '${name}'; choose one of ${CORRUPTIONS.join(', ')}`);
  if (!Number.isInteger(severity) || severity < 1 || severity > 5) throw new RangeError(`severity must be an integer from 1 to 5, got ${severity}`);
  return SEVERITY_PARAMETERS[name][severity - 1];
}

export interface CorruptOptions {
  seed: number;
  /** names the image for its noise stream (e.g. its path relative to the folder) */
  key: string;
}

/** The corrupted copy of an RGB image (the input is not modified). */
export async function corruptImage(image: DecodedImage, name: CorruptionName, severity: number, opts: CorruptOptions): Promise<DecodedImage> {
  const parameter = corruptionParameter(name, severity);
  switch (name) {
    case 'gaussian-noise':
      return gaussianNoise(image, parameter, createRng(hashSeed(opts.seed, fnv1a(opts.key))));
    case 'contrast':
      return contrast(image, parameter);
    case 'brightness':
      return brightness(image, parameter);
    case 'invert':
      return solarize(image, parameter);
    case 'blur':
      return viaSharp(image, (s) => s.blur(parameter));
    case 'jpeg':
      return jpegRoundTrip(image, parameter);
  }
}

/** x + N(0, sigma²) on x/255, per pixel and channel; standard normals by Box–Muller. */
export function gaussianNoise(image: DecodedImage, sigma: number, rng: Rng): DecodedImage {
  const out = new Uint8Array(image.data.length);
  for (let i = 0; i < out.length; i += 2) {
    // Box–Muller: two independent standard normals from two uniforms (1 - u keeps log away from 0)
    const radius = Math.sqrt(-2 * Math.log(1 - rng()));
    const angle = 2 * Math.PI * rng();
    out[i] = toByte(image.data[i] / 255 + sigma * radius * Math.cos(angle));
    if (i + 1 < out.length) out[i + 1] = toByte(image.data[i + 1] / 255 + sigma * radius * Math.sin(angle));
  }
  return { ...image, data: out };
}

/** (x - mean) * c + mean, with the mean of each channel over the whole image (ImageNet-C contrast). */
export function contrast(image: DecodedImage, factor: number): DecodedImage {
  const sums = [0, 0, 0];
  for (let i = 0; i < image.data.length; i++) sums[i % 3] += image.data[i];
  const pixels = image.data.length / 3;
  const means = sums.map((s) => s / pixels / 255);
  const out = new Uint8Array(image.data.length);
  for (let i = 0; i < out.length; i++) out[i] = toByte((image.data[i] / 255 - means[i % 3]) * factor + means[i % 3]);
  return { ...image, data: out };
}

/**
 * HSV value V = max(r, g, b) raised by `amount` and clipped to 1, hue and saturation kept
 * (ImageNet-C brightness). With H and S fixed every channel is proportional to V, so the RGB
 * result is rgb * V' / V; a black pixel (V = 0, S = 0 by convention) becomes grey V'.
 */
export function brightness(image: DecodedImage, amount: number): DecodedImage {
  const out = new Uint8Array(image.data.length);
  for (let i = 0; i < out.length; i += 3) {
    const r = image.data[i] / 255;
    const g = image.data[i + 1] / 255;
    const b = image.data[i + 2] / 255;
    const value = Math.max(r, g, b);
    const raised = Math.min(1, value + amount);
    if (value === 0) {
      out[i] = out[i + 1] = out[i + 2] = toByte(raised);
    } else {
      const scale = raised / value;
      out[i] = toByte(r * scale);
      out[i + 1] = toByte(g * scale);
      out[i + 2] = toByte(b * scale);
    }
  }
  return { ...image, data: out };
}

/** Each channel value >= threshold becomes 255 - value (PIL ImageOps.solarize); threshold 0 inverts all. */
export function solarize(image: DecodedImage, threshold: number): DecodedImage {
  const out = new Uint8Array(image.data.length);
  for (let i = 0; i < out.length; i++) out[i] = image.data[i] >= threshold ? 255 - image.data[i] : image.data[i];
  return { ...image, data: out };
}

async function jpegRoundTrip(image: DecodedImage, quality: number): Promise<DecodedImage> {
  const encoded = await raw(image).jpeg({ quality }).toBuffer();
  return fromSharp(sharp(encoded));
}

async function viaSharp(image: DecodedImage, op: (s: Sharp) => Sharp): Promise<DecodedImage> {
  return fromSharp(op(raw(image)));
}

function raw(image: DecodedImage): Sharp {
  return sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } });
}

async function fromSharp(pipeline: Sharp): Promise<DecodedImage> {
  const { data, info } = await pipeline.removeAlpha().raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new Error(`corruption produced ${info.channels} channels, expected 3`);
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height };
}

/** Clip a [0, 1] value and round it to 8 bits. */
function toByte(unit: number): number {
  return Math.round(Math.min(1, Math.max(0, unit)) * 255);
}

/** Encode an RGB image as PNG (lossless, so a corruption is stored exactly as computed). */
export async function encodePng(image: DecodedImage): Promise<Buffer> {
  return raw(image).png().toBuffer();
}
