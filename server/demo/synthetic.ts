/**
 * Procedural, seeded shape images for bnlab's embedded demo (pure JS, no dependencies).
 *
 * Two label sets and two styles make a small transfer-learning problem with a domain shift:
 * - SOURCE_CLASSES rendered in the 'studio' style are what the demo backbone is pretrained on
 *   (tools/train-demo-backbone.ts).
 * - TARGET_CLASSES rendered in the 'night' style are the user's dataset (make-dataset.ts).
 *
 * Why a *different* label set: bnlab is about fine-tuning a pretrained backbone on a new task. If the
 * target classes were the pretraining classes, the old classifier would already solve them and the
 * demo would be about classifier re-use, not transfer. The target shapes are new (crescent, heart,
 * dot grid, square frame) but built from the same visual vocabulary (curved/straight edges, corners,
 * repeated blobs, outlines), so pretrained features transfer, as with ImageNet features on a new set.
 *
 * Why 'night': a dim exposure with a blue-green cast, low contrast, sensor noise and a fine woven
 * background texture moves the mean, the scale and the frequency content of the input together, so
 * every BN layer's input statistics move (not just the first layer's, as a pure brightness offset
 * would after one recalibrated layer), while a human still sees the shapes clearly.
 *
 * Determinism: an image depends only on (shape, style, seed, size); the RNG and the per-image seed
 * mixing are the engine's (server/data/random.ts: createRng, hashSeed), so any image can be
 * regenerated independently.
 */
import { createRng, hashSeed, type Rng } from '../data/random.ts';

export const SOURCE_CLASSES = ['circle', 'square', 'triangle', 'cross', 'star', 'ring', 'stripes', 'checker'] as const;
export const TARGET_CLASSES = ['crescent', 'heart', 'dots', 'frame'] as const;

export type SourceClass = (typeof SOURCE_CLASSES)[number];
export type TargetClass = (typeof TARGET_CLASSES)[number];
export type ShapeClass = SourceClass | TargetClass;
export const SHAPE_CLASSES: readonly ShapeClass[] = [...SOURCE_CLASSES, ...TARGET_CLASSES];

/** 'studio': bright, high-contrast pretraining domain. 'night': the shifted target domain. */
export type DomainStyle = 'studio' | 'night';
export const DOMAIN_STYLES: readonly DomainStyle[] = ['studio', 'night'];

export const DEFAULT_IMAGE_SIZE = 64;

/** Interleaved RGB, row-major, one byte per channel. */
export interface RgbImage {
  width: number;
  height: number;
  channels: 3;
  data: Uint8Array;
}

/**
 * A string (split or class name) as a 32-bit number, so it can be mixed into a seed by the engine's
 * numeric hashSeed: FNV-1a over the UTF-16 code units.
 */
function stringSeed(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Salt that keeps the demo's image seeds apart from other users of hashSeed with the same numbers. */
const DEMO_SEED_SALT = stringSeed('bnlab-demo');

/** Standard normal sample (Box-Muller) from a uniform RNG. */
function gaussian(rng: Rng): number {
  const u = Math.max(rng(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng());
}

type Vec = [number, number];
type InsideTest = (x: number, y: number) => boolean;

/** Even-odd point-in-polygon test. */
function insidePolygon(vertices: Vec[], x: number, y: number): boolean {
  let inside = false;
  for (let i = 0, j = vertices.length - 1; i < vertices.length; j = i++) {
    const [xi, yi] = vertices[i];
    const [xj, yj] = vertices[j];
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

function regularPolygon(corners: number, radius: number, phase = Math.PI / 2): Vec[] {
  return Array.from({ length: corners }, (_, k) => {
    const a = phase + (2 * Math.PI * k) / corners;
    return [radius * Math.cos(a), radius * Math.sin(a)] as Vec;
  });
}

function starPolygon(points: number, outer: number, inner: number): Vec[] {
  return Array.from({ length: points * 2 }, (_, k) => {
    const a = Math.PI / 2 + (Math.PI * k) / points;
    const r = k % 2 === 0 ? outer : inner;
    return [r * Math.cos(a), r * Math.sin(a)] as Vec;
  });
}

const TRIANGLE = regularPolygon(3, 1.1);
const STAR = starPolygon(5, 1.05, 0.45);
const HEART_TIP: Vec[] = [[-0.86, 0.12], [0.86, 0.12], [0, -0.95]];

/** Shapes in a local frame where the shape roughly fills the unit disc (y up). */
const SHAPES: Record<ShapeClass, InsideTest> = {
  circle: (x, y) => x * x + y * y < 0.9,
  square: (x, y) => Math.max(Math.abs(x), Math.abs(y)) < 0.8,
  triangle: (x, y) => insidePolygon(TRIANGLE, x, y),
  cross: (x, y) => (Math.abs(x) < 0.3 && Math.abs(y) < 1) || (Math.abs(x) < 1 && Math.abs(y) < 0.3),
  star: (x, y) => insidePolygon(STAR, x, y),
  ring: (x, y) => {
    const r2 = x * x + y * y;
    return r2 < 1 && r2 > 0.32;
  },
  stripes: (x, y) => x * x + y * y < 1 && (((y + 10) % 0.5) + 0.5) % 0.5 < 0.25,
  checker: (x, y) => {
    if (Math.max(Math.abs(x), Math.abs(y)) >= 0.9) return false;
    return (Math.floor((x + 0.9) / 0.6) + Math.floor((y + 0.9) / 0.6)) % 2 === 0;
  },
  crescent: (x, y) => x * x + y * y < 1 && (x - 0.45) * (x - 0.45) + y * y > 0.62,
  heart: (x, y) =>
    (x - 0.42) ** 2 + (y - 0.22) ** 2 < 0.22 || (x + 0.42) ** 2 + (y - 0.22) ** 2 < 0.22 || insidePolygon(HEART_TIP, x, y),
  dots: (x, y) => {
    const gx = Math.round(x / 0.62) * 0.62;
    const gy = Math.round(y / 0.62) * 0.62;
    return Math.abs(gx) <= 0.63 && Math.abs(gy) <= 0.63 && (x - gx) ** 2 + (y - gy) ** 2 < 0.05;
  },
  frame: (x, y) => {
    const m = Math.max(Math.abs(x), Math.abs(y));
    return m < 0.88 && m > 0.58;
  },
};

/** Relative luminance (Rec. 709 weights) of a linear-ish RGB triple in [0, 1]. */
function luminance([r, g, b]: readonly number[]): number {
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

function hsvToRgb(h: number, s: number, v: number): [number, number, number] {
  const i = Math.floor(h * 6);
  const f = h * 6 - i;
  const p = v * (1 - s);
  const q = v * (1 - f * s);
  const t = v * (1 - (1 - f) * s);
  switch (((i % 6) + 6) % 6) {
    case 0: return [v, t, p];
    case 1: return [q, v, p];
    case 2: return [p, v, t];
    case 3: return [p, q, v];
    case 4: return [t, p, v];
    default: return [v, p, q];
  }
}

/** Per-style scene parameters; every number is a design choice of the domain, not a fitted value. */
interface StyleParams {
  /** Background colour sampler. */
  background(rng: Rng): [number, number, number];
  /** Foreground colour sampler; the minimum luminance gap to the background is enforced by retrying. */
  foreground(rng: Rng): [number, number, number];
  minLuminanceGap: number;
  /** Amplitude of a smooth linear illumination gradient across the image. */
  gradient: number;
  /** Amplitude and period (pixels) of a woven background texture (0: none). */
  textureAmplitude: number;
  texturePeriod: number;
  /** Camera: out = gain * cast * scene + blackLevel + noise. */
  gain(rng: Rng): number;
  cast: [number, number, number];
  blackLevel: number;
  noiseSigma: number;
}

const STYLES: Record<DomainStyle, StyleParams> = {
  studio: {
    background: (rng) => hsvToRgb(rng(), 0.1 + 0.3 * rng(), 0.7 + 0.28 * rng()),
    foreground: (rng) => hsvToRgb(rng(), 0.55 + 0.45 * rng(), 0.2 + 0.6 * rng()),
    minLuminanceGap: 0.3,
    gradient: 0.08,
    textureAmplitude: 0,
    texturePeriod: 1,
    gain: () => 1,
    cast: [1, 1, 1],
    blackLevel: 0,
    noiseSigma: 0.025,
  },
  night: {
    background: (rng) => hsvToRgb(rng(), 0.1 + 0.3 * rng(), 0.55 + 0.3 * rng()),
    foreground: (rng) => hsvToRgb(rng(), 0.4 + 0.5 * rng(), 0.3 + 0.6 * rng()),
    minLuminanceGap: 0.25,
    gradient: 0.15,
    textureAmplitude: 0.18,
    texturePeriod: 3.2,
    gain: (rng) => 0.3 + 0.12 * rng(),
    cast: [0.55, 0.95, 1.3],
    blackLevel: 0.04,
    noiseSigma: 0.035,
  },
};

const SUPERSAMPLES = 3;

/**
 * Render one image of `shape` in `style`. The shape gets a random position (kept mostly inside the
 * frame), scale and rotation; colours, gradient and noise are drawn from the style. Same arguments,
 * same bytes.
 */
export function renderShapeImage(shape: ShapeClass, style: DomainStyle, seed: number, size = DEFAULT_IMAGE_SIZE): RgbImage {
  const inside = SHAPES[shape];
  if (!inside) throw new Error(`unknown shape class '${shape}'`);
  const params = STYLES[style];
  if (!params) throw new Error(`unknown domain style '${style}'`);
  const rng = createRng(seed);

  const scale = 0.45 + 0.3 * rng(); // radius as a fraction of the half-width
  const maxOffset = Math.max(0, 0.92 - scale);
  const cx = (2 * rng() - 1) * maxOffset;
  const cy = (2 * rng() - 1) * maxOffset;
  const angle = 2 * Math.PI * rng();
  const cos = Math.cos(angle);
  const sin = Math.sin(angle);

  const bg = params.background(rng);
  let fg = params.foreground(rng);
  for (let tries = 0; Math.abs(luminance(fg) - luminance(bg)) < params.minLuminanceGap && tries < 64; tries++) {
    fg = params.foreground(rng);
  }
  if (Math.abs(luminance(fg) - luminance(bg)) < params.minLuminanceGap) {
    // Guarantee the gap: push the foreground away from the background in brightness.
    const darker = luminance(bg) > 0.5;
    fg = fg.map((c) => (darker ? c * 0.3 : Math.min(1, c + 0.5))) as [number, number, number];
  }
  const gradAngle = 2 * Math.PI * rng();
  const gradX = Math.cos(gradAngle) * params.gradient;
  const gradY = Math.sin(gradAngle) * params.gradient;
  const textureAngle = 2 * Math.PI * rng();
  const tdx = Math.cos(textureAngle);
  const tdy = Math.sin(textureAngle);
  const gain = params.gain(rng);

  const data = new Uint8Array(size * size * 3);
  const half = size / 2;
  for (let py = 0; py < size; py++) {
    for (let px = 0; px < size; px++) {
      // Coverage of the shape in this pixel by supersampling, for anti-aliased edges.
      let hits = 0;
      for (let sy = 0; sy < SUPERSAMPLES; sy++) {
        for (let sx = 0; sx < SUPERSAMPLES; sx++) {
          const u = (px + (sx + 0.5) / SUPERSAMPLES - half) / half - cx;
          const v = -((py + (sy + 0.5) / SUPERSAMPLES - half) / half) - cy;
          const lx = (cos * u + sin * v) / scale;
          const ly = (-sin * u + cos * v) / scale;
          if (inside(lx, ly)) hits++;
        }
      }
      const coverage = hits / (SUPERSAMPLES * SUPERSAMPLES);
      const u = (px + 0.5 - half) / half;
      const v = (py + 0.5 - half) / half;
      const light = 1 + gradX * u + gradY * v;
      // Woven texture: two crossing sinusoids, on the background only.
      const texture =
        params.textureAmplitude *
        Math.sin((2 * Math.PI * (tdx * px + tdy * py)) / params.texturePeriod) *
        Math.sin((2 * Math.PI * (-tdy * px + tdx * py)) / (params.texturePeriod * 1.7));
      const o = (py * size + px) * 3;
      for (let c = 0; c < 3; c++) {
        const scene = (coverage * fg[c] + (1 - coverage) * (bg[c] + texture * bg[c])) * light;
        const value = gain * params.cast[c] * scene + params.blackLevel + params.noiseSigma * gaussian(rng);
        data[o + c] = Math.max(0, Math.min(255, Math.round(value * 255)));
      }
    }
  }
  return { width: size, height: size, channels: 3, data };
}

/** Seed of image `index` of `shape` in a named split of a dataset made with `datasetSeed`. */
export function imageSeed(datasetSeed: number, split: string, shape: ShapeClass, index: number): number {
  return hashSeed(DEMO_SEED_SALT, datasetSeed, stringSeed(split), stringSeed(shape), index);
}

/**
 * `perClass` images of each class, class-major order, labels as indices into `classes`.
 * Pixels are concatenated into one buffer of shape [n, size, size, 3].
 */
export function renderBatch(
  classes: readonly ShapeClass[],
  style: DomainStyle,
  perClass: number,
  datasetSeed: number,
  split: string,
  size = DEFAULT_IMAGE_SIZE,
): { pixels: Uint8Array; labels: number[]; size: number } {
  const pixels = new Uint8Array(classes.length * perClass * size * size * 3);
  const labels: number[] = [];
  let offset = 0;
  classes.forEach((shape, label) => {
    for (let i = 0; i < perClass; i++) {
      const image = renderShapeImage(shape, style, imageSeed(datasetSeed, split, shape, i), size);
      pixels.set(image.data, offset);
      offset += image.data.length;
      labels.push(label);
    }
  });
  return { pixels, labels, size };
}
