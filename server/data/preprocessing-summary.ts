/**
 * How pixels reach the network, as data for the run-start log line, runStarted and the summary:
 * the recipe's resize mode and the backbone entry's normalisation (issue 10: preprocessing is a
 * choice the user must see, since Keras, Teachable Machine and torchvision differ).
 */
import type { PreprocessingSummary } from '../schema/events.ts';
import { describePreprocessing as describeNormalisation, type Preprocessing } from '../schema/preprocessing.ts';
import type { ResizeMode } from '../schema/recipe.ts';

const RESIZE_TEXT: Record<ResizeMode, string> = {
  crop: 'shorter side to 1.15 x input, center crop (torchvision eval style)',
  squash: 'whole image to input x input, aspect not kept (Keras / Teachable Machine style)',
  pad: 'whole image inside input x input, aspect kept, black borders (letterbox)',
};

export function preprocessingSummary(resize: ResizeMode, normalisation: Preprocessing, inputSize: number): PreprocessingSummary {
  return { resize, normalisation, formula: describeNormalisation(normalisation), inputSize };
}

export function describePreprocessing(p: PreprocessingSummary): string {
  return `preprocessing: resize '${p.resize}' (${RESIZE_TEXT[p.resize]}) to ${p.inputSize} x ${p.inputSize}; pixels ${p.formula}`;
}
