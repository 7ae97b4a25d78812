/**
 * Lint: a conv/dense bias directly followed by BatchNormalization is wasted. BN subtracts the
 * per-channel batch mean, which cancels any constant per-channel bias, and beta already provides
 * the shift; the bias only gets a zero gradient and takes memory.
 */
import type * as tf from '@tensorflow/tfjs';
import { isBatchNorm } from '../model/layers.ts';
import { layersWithContainers, nodeIndicesIn } from '../backbones/cut-layer.ts';

type Layer = tf.layers.Layer;

export interface BiasBeforeBn {
  /** the conv/dense layer with a bias */
  layer: string;
  /** the BatchNormalization layer it feeds */
  bn: string;
}

const BIASED_CLASSES = new Set(['Conv1D', 'Conv2D', 'Conv3D', 'Conv2DTranspose', 'Conv3DTranspose', 'DepthwiseConv2D', 'SeparableConv2D', 'Dense']);

function hasBias(layer: Layer): boolean {
  return BIASED_CLASSES.has(layer.getClassName()) && (layer as unknown as { useBias?: boolean }).useBias === true;
}

/**
 * Conv/dense/depthwise layers with useBias whose output feeds only a BatchNormalization layer.
 * Each container (the model and every nested functional or Sequential model) is inspected in its
 * own graph: a producer counts as feeding only the BN when no other layer of that container reads
 * it and it is not one of the container's outputs.
 */
export function findBiasBeforeBn(model: tf.LayersModel): BiasBeforeBn[] {
  const containers = [model, ...layersWithContainers(model).map((p) => p.layer).filter((l): l is tf.LayersModel => Array.isArray((l as { layers?: unknown }).layers))];
  const findings: BiasBeforeBn[] = [];
  for (const container of containers) {
    const consumers = new Map<Layer, Layer[]>();
    for (const layer of container.layers) {
      for (const index of nodeIndicesIn(container, layer)) {
        for (const producer of layer.inboundNodes[index].inboundLayers) {
          const list = consumers.get(producer) ?? [];
          list.push(layer);
          consumers.set(producer, list);
        }
      }
    }
    const outputs = new Set<Layer>(container.outputLayers);
    for (const [producer, readers] of consumers) {
      if (!hasBias(producer) || outputs.has(producer)) continue;
      if (readers.length === 1 && isBatchNorm(readers[0])) findings.push({ layer: producer.name, bn: readers[0].name });
    }
  }
  return findings;
}
