/**
 * Adam whose per-variable step is one wasm kernel (engine/kernels/adam-update.ts) where the
 * backend runs it, and tfjs's AdamOptimizer unchanged elsewhere. Same state (m, v, accBeta1/2,
 * iterations), same serialisation (className 'Adam') and checkpoints, and the same numbers bit for
 * bit (fused-adam.test.ts): only the number of ops per variable per step changes (1 instead of ~12).
 * BNLAB_FUSED_ADAM=0 or `fusedAdamOptions.enabled = false` runs tfjs's path.
 */
import * as tf from '@tensorflow/tfjs';
import { ADAM_UPDATE, adamUpdateUsable, type AdamUpdateAttrs } from '../engine/kernels/adam-update.ts';

export const fusedAdamOptions = { enabled: process.env.BNLAB_FUSED_ADAM !== '0' };

/** AdamOptimizer's private state, as tfjs 4.22 names it. */
interface AdamState {
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
  accumulatedFirstMoment: { originalName: string; variable: tf.Variable }[];
  accumulatedSecondMoment: { originalName: string; variable: tf.Variable }[];
}

/** tfjs's { name, tensor } pair (not re-exported by @tensorflow/tfjs). */
type NamedTensor = { name: string; tensor: tf.Tensor };
type Gradients = Parameters<tf.AdamOptimizer['applyGradients']>[0];

export class FusedAdam extends tf.AdamOptimizer {
  static override get className() {
    return 'Adam';
  }

  override applyGradients(variableGradients: Gradients): void {
    if (!fusedAdamOptions.enabled || !adamUpdateUsable()) return super.applyGradients(variableGradients);
    const state = this as unknown as AdamState;
    const names = Array.isArray(variableGradients) ? variableGradients.map((v) => v.name) : Object.keys(variableGradients);
    // 1 − β^t as tfjs's sub(1, accBeta) computes it in float32 (the difference is exact in float64).
    const c1 = Math.fround(1 - state.accBeta1.dataSync()[0]);
    const c2 = Math.fround(1 - state.accBeta2.dataSync()[0]);
    const attrs: AdamUpdateAttrs = { beta1: this.beta1, beta2: this.beta2, epsilon: this.epsilon, learningRate: this.learningRate, c1, c2 };
    tf.tidy(() => {
      names.forEach((name, i) => {
        const value = tf.engine().registeredVariables[name];
        state.accumulatedFirstMoment[i] ??= { originalName: `${name}/m`, variable: tf.tidy(() => tf.zerosLike(value).variable(false)) };
        state.accumulatedSecondMoment[i] ??= { originalName: `${name}/v`, variable: tf.tidy(() => tf.zerosLike(value).variable(false)) };
        const gradient = Array.isArray(variableGradients) ? (variableGradients[i] as NamedTensor).tensor : variableGradients[name];
        if (gradient == null) return;
        const m = state.accumulatedFirstMoment[i].variable;
        const v = state.accumulatedSecondMoment[i].variable;
        const [newValue, newM, newV] = tf.engine().runKernel(ADAM_UPDATE, { value, gradient, m, v }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
        m.assign(newM);
        v.assign(newV);
        value.assign(newValue);
      });
      state.accBeta1.assign(tf.mul(state.accBeta1, this.beta1));
      state.accBeta2.assign(tf.mul(state.accBeta2, this.beta2));
    });
    this.incrementIterations();
  }
}
