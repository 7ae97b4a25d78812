/**
 * Preprocessing: how a backbone expects its RGB pixels (0..255) scaled. Checkpoints written before
 * the named 'imagenet' mode and mean/std existed say 'minus1to1' or 'zero1', which stay valid.
 */
import { z } from 'zod';

/** Named pixel scalings: 'minus1to1' x / 127.5 - 1; 'zero1' x / 255; 'imagenet' (x / 255 - mean) / std with ImageNet's RGB mean/std. */
export const PREPROCESSING_NAMES = ['minus1to1', 'zero1', 'imagenet'] as const;
export type NamedPreprocessing = (typeof PREPROCESSING_NAMES)[number];
/** Per-channel (x / 255 - mean[c]) / std[c], RGB order, torchvision's convention. */
export interface MeanStdPreprocessing {
  mean: [number, number, number];
  std: [number, number, number];
}
/** Pixel scaling a backbone expects: a named mode or explicit per-channel mean/std. */
export type Preprocessing = NamedPreprocessing | MeanStdPreprocessing;

/** torchvision's ImageNet statistics (RGB, on x / 255). */
export const IMAGENET_MEAN_STD: MeanStdPreprocessing = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };

const PREPROCESSING_ALIASES: Record<string, NamedPreprocessing> = {
  'minus1to1': 'minus1to1', '[-1,1]': 'minus1to1', '-1..1': 'minus1to1', 'tf': 'minus1to1',
  'zero1': 'zero1', '[0,1]': 'zero1', '0..1': 'zero1',
  'imagenet': 'imagenet', 'torch': 'imagenet',
};

export const PREPROCESSING_HELP = "'[-1,1]' (x/127.5-1), '[0,1]' (x/255), 'imagenet' (ImageNet mean/std), or 'mean=R,G,B;std=R,G,B' (on x/255)";

const channels = z.tuple([z.number(), z.number(), z.number()]);
/** Accepts the named modes, their aliases ('[-1,1]', '[0,1]'), 'mean=..;std=..' text, or { mean, std }. */
export const PreprocessingSchema = z.preprocess(
  (value) => (typeof value === 'string' ? parsePreprocessingText(value) ?? value : value),
  z.union([
    z.enum(PREPROCESSING_NAMES),
    z.strictObject({ mean: channels, std: z.tuple([z.number().positive(), z.number().positive(), z.number().positive()]) }),
  ], { error: `unknown preprocessing; use ${PREPROCESSING_HELP}` }),
) as unknown as z.ZodType<Preprocessing, unknown>;

/** '[-1,1]', 'imagenet', 'mean=0.5,0.5,0.5;std=0.25,0.25,0.25', ... → Preprocessing; null when not recognised. */
export function parsePreprocessingText(text: string): Preprocessing | null {
  const compact = text.replace(/\s+/g, '').toLowerCase();
  if (compact in PREPROCESSING_ALIASES) return PREPROCESSING_ALIASES[compact];
  const match = /^mean=([^;]+);std=([^;]+)$/.exec(compact);
  if (!match) return null;
  const triple = (list: string) => {
    const values = list.split(',').map(Number);
    return values.length === 3 && values.every(Number.isFinite) ? (values as [number, number, number]) : null;
  };
  const mean = triple(match[1]);
  const std = triple(match[2]);
  return mean && std && std.every((v) => v > 0) ? { mean, std } : null;
}

/** One line for logs: "[-1, 1] (x / 127.5 - 1)". */
export function describePreprocessing(p: Preprocessing): string {
  if (p === 'minus1to1') return '[-1, 1] (x / 127.5 - 1)';
  if (p === 'zero1') return '[0, 1] (x / 255)';
  const { mean, std } = p === 'imagenet' ? IMAGENET_MEAN_STD : p;
  return `${p === 'imagenet' ? 'imagenet ' : ''}(x / 255 - mean) / std, mean ${mean.join(', ')}, std ${std.join(', ')}`;
}
