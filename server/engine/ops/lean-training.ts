/**
 * One call that prepares a model's layers for fast, lean training on bnlab's engine:
 * Conv2D layers compute only the gradients a step needs (lazy-conv-gradients.ts) and
 * Activation('relu6') layers run one kernel and keep only their output for backprop
 * (relu6-activation.ts); ReLU(max_value) layers run one kernel each way (relu-max-activation.ts). Values are the same as tfjs's own layers (forward and gradients); the
 * model's config and weights are untouched, so saving and loading are unaffected. Idempotent.
 * (BatchNorm's fused training path lives in the BN wrapper, train/bn-control.ts; early release of
 * backprop memory is installed by selectBackend, early-gradient-release.ts.)
 */
import type * as tf from '@tensorflow/tfjs';
import { useLazyConvGradients } from './lazy-conv-gradients.ts';
import { useLeanRelu6 } from './relu6-activation.ts';
import { useLeanReluMax } from './relu-max-activation.ts';

export interface LeanOptions {
  /** Conv2D layers compute only the gradients a step needs (default on) */
  lazyConv?: boolean;
  /** relu6 activations keep only their output for backprop (default on) */
  leanRelu6?: boolean;
  /** ReLU(max_value) layers run as one op each way (default on) */
  leanReluMax?: boolean;
}

/** Returns how many layers got each lean op (0 for one switched off, e.g. by the step profiler). */
export function useLeanTraining(model: tf.LayersModel, options: LeanOptions = {}): { lazyConvLayers: number; leanRelu6Layers: number; leanReluMaxLayers: number } {
  return {
    lazyConvLayers: options.lazyConv === false ? 0 : useLazyConvGradients(model),
    leanRelu6Layers: options.leanRelu6 === false ? 0 : useLeanRelu6(model),
    leanReluMaxLayers: options.leanReluMax === false ? 0 : useLeanReluMax(model),
  };
}
