/** Optimizers and learning-rate schedules named in recipes. */
import * as tf from '@tensorflow/tfjs';
import type { OptimizerConfig } from '../schema/recipe.ts';
import { FusedAdam } from './fused-adam.ts';

export function createOptimizer(config: OptimizerConfig): tf.Optimizer {
  // FusedAdam = tf.train.adam(lr) (β1 0.9, β2 0.999, the backend's ε), one kernel per variable on wasm
  return config.type === 'sgd' ? tf.train.momentum(config.lr, config.momentum) : new FusedAdam(config.lr, 0.9, 0.999);
}

/**
 * Learning rate for an epoch (0-based): 'constant'; 'cosine' = lr * (1 + cos(pi * epoch / epochs)) / 2;
 * 'step' = lr * 0.1^floor(epoch / stepEvery).
 */
export function learningRateAt(config: OptimizerConfig, epoch: number, epochs: number): number {
  switch (config.schedule) {
    case 'cosine':
      return (config.lr * (1 + Math.cos((Math.PI * epoch) / epochs))) / 2;
    case 'step':
      return config.lr * 0.1 ** Math.floor(epoch / config.stepEvery);
    default:
      return config.lr;
  }
}

/** SGD-family optimizers cache the rate in a tensor (setLearningRate); Adam reads the field each step. */
export function setLearningRate(optimizer: tf.Optimizer, lr: number) {
  const target = optimizer as unknown as { setLearningRate?: (lr: number) => void; learningRate: number };
  if (typeof target.setLearningRate === 'function') target.setLearningRate(lr);
  else target.learningRate = lr;
}
