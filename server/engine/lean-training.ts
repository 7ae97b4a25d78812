/**
 * One call that prepares a model's layers for fast, lean training on bnlab's engine:
 * Conv2D layers compute only the gradients a step needs (lazy-conv-gradients.ts) and
 * Activation('relu6') layers run one kernel and keep only their output for backprop
 * (relu6-activation.ts). Values are the same as tfjs's own layers (forward and gradients); the
 * model's config and weights are untouched, so saving and loading are unaffected. Idempotent.
 * (BatchNorm's fused training path lives in the BN wrapper, policies/bn-mode.ts; early release of
 * backprop memory is installed by selectBackend, early-gradient-release.ts.)
 */
import type * as tf from '@tensorflow/tfjs';
import { useLazyConvGradients } from './lazy-conv-gradients.ts';
import { useLeanRelu6 } from './relu6-activation.ts';

export function useLeanTraining(model: tf.LayersModel): { lazyConvLayers: number; leanRelu6Layers: number } {
  return { lazyConvLayers: useLazyConvGradients(model), leanRelu6Layers: useLeanRelu6(model) };
}
