/**
 * The one way bnlab swaps a leaf layer's `call` for a leaner op with the same values (lean ReLU6,
 * lean ReLU(max_value)): single float32 inputs go to `lean`, which may decline (null) and leave the
 * call to the layer's own; everything else always goes to the layer. Idempotent per `marker`; the
 * model's config and weights are untouched.
 */
import type * as tf from '@tensorflow/tfjs';
import { leafLayers } from '../../model/layers.ts';

type CallFn = (inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>) => tf.Tensor | tf.Tensor[];
type WrappableLayer = tf.layers.Layer & { call: CallFn } & Record<symbol, CallFn | undefined>;

/** Wraps every leaf layer `matches` accepts; returns how many match (wrapped now or before). */
export function wrapLeafLayerCalls(
  model: tf.LayersModel,
  marker: symbol,
  matches: (layer: tf.layers.Layer) => boolean,
  lean: (x: tf.Tensor, layer: tf.layers.Layer) => tf.Tensor | null,
): number {
  let wrapped = 0;
  for (const layer of leafLayers(model) as WrappableLayer[]) {
    if (!matches(layer)) continue;
    wrapped++;
    if (layer[marker]) continue;
    const original = layer.call.bind(layer) as CallFn;
    layer[marker] = original;
    layer.call = (inputs, kwargs) => {
      const x = Array.isArray(inputs) && inputs.length === 1 ? inputs[0] : inputs;
      return (!Array.isArray(x) && x.dtype === 'float32' && lean(x, layer)) || original(inputs, kwargs);
    };
  }
  return wrapped;
}
