/**
 * Walking a tfjs layers model down to its leaf layers. Teachable Machine models nest functional
 * models inside Sequential containers; BN control and drift must see every leaf.
 */
import * as tf from '@tensorflow/tfjs';

type Layer = tf.layers.Layer;

/** A container (Sequential or functional model) has its own `layers`. */
export function isContainer(layer: Layer): layer is tf.LayersModel {
  return Array.isArray((layer as unknown as { layers?: unknown }).layers);
}

/** Every leaf layer in topological order, nested containers expanded in place. */
export function leafLayers(model: tf.LayersModel): Layer[] {
  const out: Layer[] = [];
  const visit = (layer: Layer) => {
    if (isContainer(layer)) layer.layers.forEach(visit);
    else out.push(layer);
  };
  model.layers.forEach(visit);
  return out;
}

export function isBatchNorm(layer: Layer): boolean {
  return layer.getClassName() === 'BatchNormalization';
}

export function batchNormLayers(model: tf.LayersModel): Layer[] {
  return leafLayers(model).filter(isBatchNorm);
}
