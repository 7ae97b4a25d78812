/**
 * Per-layer control of BatchNormalization behaviour. tfjs decides a BN layer's mode from the
 * `training` flag passed to the whole model, and `trainable = false` does not stop the running
 * statistics from moving. bnlab therefore wraps each BN layer's `call` so that its mode is a property
 * of the layer:
 *   - 'train': in a training step (model called with training=true) normalise with the batch's mean
 *     and biased variance and update running = running * momentum + batch * (1 - momentum)
 *     (Keras/tfjs convention); outside a training step use the running statistics.
 *   - 'inference': always normalise with the running statistics, which never change.
 * The wrapper also refuses a training-mode step in which a channel has a single value (nothing to
 * normalise: the batch variance is 0 and the output collapses to beta), and can capture the batch
 * mean of the layer's input for drift reports.
 * Training-mode calls of a channels-last layer with γ and β run bnlab's fused op
 * (engine/batch-norm-training.ts: same values and gradients as tfjs's moments + batchNorm, far
 * fewer tensors kept for backprop) and then the same moving-average update tfjs performs; other
 * configurations, or BNLAB_FUSED_BN=0, use the layer's own call, except layers without γ or β
 * (see lacksAffine), which tfjs cannot train through and which always take bnlab's own path.
 */
import * as tf from '@tensorflow/tfjs';
import type { BnMode } from '../schema/recipe.ts';
import { batchNormInternals, type BatchNormInternals } from '../model/batch-norm.ts';
import { batchNormLayers } from '../model/layers.ts';
import { batchNormTraining, batchNormTrainingOptions } from '../engine/ops/batch-norm-training.ts';

export class SingleValueBatchNormError extends Error {
  constructor(layer: string, shape: number[]) {
    super(
      `BatchNorm layer '${layer}' would normalise one value per channel in training mode (input shape [${shape.join(', ')}]): ` +
        'batch statistics of a single value are meaningless (variance 0, every output equals beta) and would corrupt the running statistics. ' +
        'Use a batch size of at least 2 (8 or more is advisable), or a policy that keeps this layer in inference mode (e.g. freeze-all or adabn).',
    );
    this.name = 'SingleValueBatchNormError';
  }
}

interface BnState {
  mode: BnMode;
  /** set while measuring train-mode accuracy: every BN layer uses batch statistics */
  forceBatchStatistics: boolean;
  captureBatchMean: boolean;
  lastBatchMean: tf.Tensor1D | null;
}

type CallFn = (inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>) => tf.Tensor | tf.Tensor[];
const ORIGINAL_CALL = Symbol('bnlab.originalCall');
const STATE = Symbol('bnlab.bnState');

type ControlledLayer = tf.layers.Layer & { [ORIGINAL_CALL]?: CallFn; [STATE]?: BnState; call: CallFn };

/** Handle on every BN layer of a model: set modes, capture batch means, measure train-mode BN. */
export class BnController {
  private readonly layers: ControlledLayer[];

  constructor(model: tf.LayersModel) {
    this.layers = batchNormLayers(model) as ControlledLayer[];
    for (const layer of this.layers) wrap(layer);
  }

  get names(): string[] {
    return this.layers.map((l) => l.name);
  }

  setMode(name: string, mode: BnMode) {
    this.state(name).mode = mode;
  }

  mode(name: string): BnMode {
    return this.state(name).mode;
  }

  setMomentumKeras(momentum: number) {
    for (const layer of this.layers) batchNormInternals(layer).momentum = momentum;
  }

  /** Run `fn` with every BN layer normalising by batch statistics (running statistics restored after). */
  async withBatchStatistics<T>(fn: () => Promise<T>): Promise<T> {
    const saved = this.layers.map((layer) => layer.getWeights().map((w) => w.clone()));
    this.layers.forEach((layer) => (layer[STATE]!.forceBatchStatistics = true));
    try {
      return await fn();
    } finally {
      this.layers.forEach((layer, i) => {
        layer[STATE]!.forceBatchStatistics = false;
        layer.setWeights(saved[i]);
        saved[i].forEach((t) => t.dispose());
      });
    }
  }

  /** While on, each BN layer keeps the per-channel mean of its latest input. */
  setCapture(on: boolean) {
    for (const layer of this.layers) {
      layer[STATE]!.captureBatchMean = on;
      if (!on) this.disposeCapture(layer);
    }
  }

  /** Per-channel mean of the latest input to each BN layer (captured ones only), then forget them. */
  async takeBatchMeans(): Promise<Map<string, Float32Array>> {
    const out = new Map<string, Float32Array>();
    for (const layer of this.layers) {
      const mean = layer[STATE]!.lastBatchMean;
      if (mean) out.set(layer.name, (await mean.data()) as Float32Array);
      this.disposeCapture(layer);
    }
    return out;
  }

  /**
   * Stand in for a capture the layer did not make because it did not run (its input came from a
   * cache, train/frozen-prefix.ts): `mean` becomes its latest batch mean while capture is on.
   */
  provideBatchMean(name: string, mean: Float32Array) {
    const layer = this.layers.find((l) => l.name === name);
    if (!layer) throw new Error(`no BatchNormalization layer named '${name}'`);
    const state = layer[STATE]!;
    if (!state.captureBatchMean) return;
    state.lastBatchMean?.dispose();
    state.lastBatchMean = tf.keep(tf.tensor1d(mean));
  }

  private disposeCapture(layer: ControlledLayer) {
    layer[STATE]!.lastBatchMean?.dispose();
    layer[STATE]!.lastBatchMean = null;
  }

  private state(name: string): BnState {
    const layer = this.layers.find((l) => l.name === name);
    if (!layer) throw new Error(`no BatchNormalization layer named '${name}'`);
    return layer[STATE]!;
  }
}

function wrap(layer: ControlledLayer) {
  if (layer[STATE]) return;
  const original = layer.call.bind(layer) as CallFn;
  layer[ORIGINAL_CALL] = original;
  const state: BnState = { mode: 'inference', forceBatchStatistics: false, captureBatchMean: false, lastBatchMean: null };
  layer[STATE] = state;
  layer.call = (inputs, kwargs) => {
    const input = Array.isArray(inputs) ? inputs[0] : inputs;
    const training = state.forceBatchStatistics || (state.mode === 'train' && kwargs?.training === true);
    if (training) {
      const valuesPerChannel = input.shape.slice(0, -1).reduce((a, b) => a * b, 1);
      if (valuesPerChannel < 2) throw new SingleValueBatchNormError(layer.name, input.shape);
    }
    const withoutAffine = lacksAffine(layer, input);
    if (training && (withoutAffine || fusedTrainingApplies(layer, input))) return fusedTrainingCall(layer, input, state);
    if (state.captureBatchMean) {
      state.lastBatchMean?.dispose();
      const axes = input.shape.slice(0, -1).map((_, i) => i);
      state.lastBatchMean = tf.keep(tf.mean(input, axes) as tf.Tensor1D);
    }
    if (withoutAffine) return inferenceCallWithoutAffine(layer, input);
    return original(inputs, { ...kwargs, training });
  };
}

function fusedTrainingApplies(layer: ControlledLayer, input: tf.Tensor): boolean {
  const bn = batchNormInternals(layer);
  const lastAxis = bn.axis === -1 || bn.axis === input.rank - 1;
  return batchNormTrainingOptions.enabled && lastAxis && input.rank >= 2 && input.dtype === 'float32' &&
    bn.center && bn.scale && bn.gamma != null && bn.beta != null;
}

/**
 * A channels-last layer built with `scale: false` (no γ; every BN layer of Keras InceptionV3) or
 * `center: false` (no β). tfjs-layers 4.22 cannot train through such a layer: its training call
 * reads the missing variable ("Cannot read properties of undefined (reading 'read')"), and its
 * inference call passes `undefined` to tf.batchNorm, whose gradient then saves that undefined for
 * backprop (the engine's clone fails "reading 'dtype'"). bnlab computes both modes itself with a
 * constant γ = 1 / β = 0 in place of the missing one, which is what the layer means.
 */
function lacksAffine(layer: ControlledLayer, input: tf.Tensor): boolean {
  const bn = batchNormInternals(layer);
  const lastAxis = bn.axis === -1 || bn.axis === input.rank - 1;
  return lastAxis && input.rank >= 2 && input.dtype === 'float32' && (bn.gamma == null || bn.beta == null);
}

function affineOf(bn: BatchNormInternals): { gamma: tf.Tensor1D; beta: tf.Tensor1D } {
  const like = bn.movingMean!.read() as tf.Tensor1D;
  return {
    gamma: (bn.gamma?.read() as tf.Tensor1D | undefined) ?? tf.onesLike(like),
    beta: (bn.beta?.read() as tf.Tensor1D | undefined) ?? tf.zerosLike(like),
  };
}

/** Inference mode of a layer without γ or β: y = (x − running mean) / sqrt(running var + ε) · γ + β. */
function inferenceCallWithoutAffine(layer: ControlledLayer, input: tf.Tensor): tf.Tensor {
  const bn = batchNormInternals(layer);
  return tf.tidy(() => {
    const { gamma, beta } = affineOf(bn);
    return tf.batchNorm(input, bn.movingMean!.read() as tf.Tensor1D, bn.movingVariance!.read() as tf.Tensor1D, beta, gamma, bn.epsilon);
  });
}

/**
 * The layer's training-mode call with the fused op: y from batch statistics, then (exactly as
 * tfjs-layers does) moving = moving − (moving − batch)·(1 − momentum) for mean and biased variance.
 */
function fusedTrainingCall(layer: ControlledLayer, input: tf.Tensor, state: BnState): tf.Tensor {
  const bn = batchNormInternals(layer);
  return tf.tidy(() => {
    const { gamma, beta } = affineOf(bn);
    const { y, mean, variance } = batchNormTraining(input, gamma, beta, bn.epsilon);
    const movingAverage = (variable: tf.LayerVariable, value: tf.Tensor) =>
      tf.tidy(() => {
        const decay = 1 - bn.momentum;
        const original = variable.read();
        variable.write(tf.sub(original, tf.mul(tf.sub(original, value), decay)));
      });
    try {
      movingAverage(bn.movingMean!, mean);
      movingAverage(bn.movingVariance!, variance);
    } finally {
      variance.dispose();
      if (state.captureBatchMean) {
        state.lastBatchMean?.dispose();
        state.lastBatchMean = mean; // already kept: the same per-channel mean of the input
      } else {
        mean.dispose();
      }
    }
    return y;
  });
}
