/**
 * The one accessor of tfjs-layers BatchNormalization internals: configuration (epsilon, Keras
 * momentum, axis), the moving statistics and gamma/beta variables. Everything else in bnlab reads
 * or writes BN state through these functions, so a tfjs upgrade that renames a field breaks here.
 */
import type * as tf from '@tensorflow/tfjs';


/**
 * The tfjs-layers BatchNormalization internals bnlab reads and writes (tfjs-layers 4.22): the live
 * fields, not getConfig()'s copy, so a momentum written here is the one the next call uses.
 */
export interface BatchNormInternals {
  axis: number;
  epsilon: number;
  /** Keras convention: weight of the OLD running value */
  momentum: number;
  center: boolean;
  scale: boolean;
  gamma?: tf.LayerVariable | null;
  beta?: tf.LayerVariable | null;
  movingMean?: tf.LayerVariable;
  movingVariance?: tf.LayerVariable;
}

/** The one cast to tfjs' private BatchNormalization fields in bnlab. */
export function batchNormInternals(layer: tf.layers.Layer): BatchNormInternals {
  if (layer.getClassName() !== 'BatchNormalization') {
    throw new Error(`layer ${layer.name} is a ${layer.getClassName()}, not a BatchNormalization layer`);
  }
  return layer as unknown as BatchNormInternals;
}

/** Configuration of a BatchNormalization layer that the statistics code relies on. */
export interface BnLayerConfig {
  name: string;
  epsilon: number;
  momentumKeras: number;
  center: boolean;
  scale: boolean;
  /** the configured axis, as saved (-1 or rank-1 for channel-last) */
  axis: number;
}

export function bnLayerConfig(layer: tf.layers.Layer): BnLayerConfig {
  if (layer.getClassName() !== 'BatchNormalization') {
    throw new Error(`layer ${layer.name} is a ${layer.getClassName()}, not a BatchNormalization layer`);
  }
  const config = layer.getConfig() as Record<string, unknown>;
  return {
    name: layer.name,
    epsilon: Number(config.epsilon ?? 1e-3),
    momentumKeras: Number(config.momentum ?? 0.99),
    center: config.center !== false,
    scale: config.scale !== false,
    axis: Number(config.axis ?? -1),
  };
}

/**
 * Refuse BN layers that normalise anything but the last (channel) axis: every statistic in bnlab
 * reduces over all other axes (N, H, W) and would silently be wrong for channels-first layers.
 */
export function assertChannelLast(layer: tf.layers.Layer, rank?: number): void {
  const { axis } = bnLayerConfig(layer);
  const inputRank = rank ?? inputRankOf(layer);
  const channelLast = axis === -1 || (inputRank !== null && axis === inputRank - 1);
  if (!channelLast) {
    throw new Error(
      `BatchNormalization layer ${layer.name} normalises axis ${axis} of a rank-${inputRank ?? '?'} input; ` +
        'bnlab supports only channel-last BN (axis -1, data_format channels_last). ' +
        'Convert the model to channels_last before using it with bnlab.',
    );
  }
}

function inputRankOf(layer: tf.layers.Layer): number | null {
  const spec = layer.inputSpec?.[0];
  if (spec?.ndim != null) return spec.ndim;
  try {
    const shape = layer.inboundNodes[0]?.inputShapes;
    const first = Array.isArray(shape?.[0]) ? (shape[0] as unknown[]) : (shape as unknown[] | undefined);
    return first ? first.length : null;
  } catch {
    return null;
  }
}

/** The LayerVariables of a built BN layer; throws a clear error for anything else. */
export function bnVariables(layer: tf.layers.Layer): {
  movingMean: tf.LayerVariable;
  movingVariance: tf.LayerVariable;
  gamma: tf.LayerVariable | null;
  beta: tf.LayerVariable | null;
} {
  const { scale, center } = bnLayerConfig(layer);
  assertChannelLast(layer);
  const internals = batchNormInternals(layer);
  if (!layer.built || !internals.movingMean || !internals.movingVariance) {
    throw new Error(`BatchNormalization layer ${layer.name} is not built (no moving statistics yet)`);
  }
  return {
    movingMean: internals.movingMean,
    movingVariance: internals.movingVariance,
    gamma: scale && internals.gamma ? internals.gamma : null,
    beta: center && internals.beta ? internals.beta : null,
  };
}
