/**
 * The models the benchmark times, and how each becomes a bnlab classifier: shared pretrained
 * backbones load through loadBackbone exactly as users load them; architecture-only ones are built
 * with random seeded weights and wrapped as a LoadedBackbone so that buildClassifier adds the same
 * head it adds for real backbones.
 */
import * as tf from '@tensorflow/tfjs';
import { loadConfig } from '../server/config.ts';
import { loadBackbone, type LoadedBackbone } from '../server/backbones/load.ts';
import { buildDemoBackbone, DEMO_CUT_LAYER, DEMO_INPUT_SIZE } from '../server/demo/architecture.ts';
import { buildMobileNetV1, MOBILENET_V1_CUT_LAYER } from './mobilenet-v1.ts';

export interface BenchModel {
  /** short id used by --only and in the JSON */
  id: string;
  label: string;
  inputSize: number;
  numClasses: number;
  /** batch size of the training regimes (inference always uses INFERENCE_BATCH) */
  trainBatch: number;
  /** what the PyTorch peer builds for the same architecture; null: no peer */
  peerArch: string | null;
  /** the tfjs cpu backend is ~100x slower; only these models run on it */
  cpu: 'all' | 'inference' | 'none';
  /** the model is big: one warmup step only in short runs */
  heavy: boolean;
}

export const INFERENCE_BATCH = 16;

export const BENCH_MODELS: readonly BenchModel[] = [
  { id: 'demo', label: 'demo backbone @64', inputSize: 64, numClasses: 2, trainBatch: 16, peerArch: null, cpu: 'all', heavy: false },
  { id: 'mnv1-0.25-224', label: 'MobileNet v1 α0.25 @224 (shared, pretrained)', inputSize: 224, numClasses: 2, trainBatch: 16, peerArch: 'mobilenet_v1:0.25', cpu: 'none', heavy: false },
  { id: 'mnv1-0.25-128', label: 'MobileNet v1 α0.25 @128 (random weights)', inputSize: 128, numClasses: 2, trainBatch: 16, peerArch: 'mobilenet_v1:0.25', cpu: 'inference', heavy: false },
  { id: 'mnv2-0.35-224', label: 'MobileNetV2 α0.35 @224 (shared, pretrained)', inputSize: 224, numClasses: 2, trainBatch: 16, peerArch: 'mobilenet_v2:0.35', cpu: 'none', heavy: false },
  { id: 'mnv1-1.0-224', label: 'MobileNet v1 α1.0 @224 (random weights)', inputSize: 224, numClasses: 10, trainBatch: 32, peerArch: 'mobilenet_v1:1.0', cpu: 'none', heavy: true },
];

export function findBenchModel(id: string): BenchModel {
  const model = BENCH_MODELS.find((m) => m.id === id);
  if (!model) throw new Error(`unknown bench model '${id}'; known: ${BENCH_MODELS.map((m) => m.id).join(', ')}`);
  return model;
}

/** A random-weight model presented as a loaded backbone (what buildClassifier consumes). */
export function architectureBackbone(name: string, model: tf.LayersModel, cutLayer: string, inputSize: number): LoadedBackbone {
  return {
    name,
    spec: name,
    stated: { preprocessing: 'option', cutLayer: 'option' },
    teachable: null,
    model,
    entry: { name, description: `${name} (architecture only, random weights)`, url: null, sha256: null, inputSize, preprocessing: 'minus1to1', cutLayer, localDir: name },
    warnings: [],
    source: { location: 'path', dir: '' },
  };
}

/** The backbone for a bench model, and a note on where it came from. */
export async function loadBenchBackbone(spec: BenchModel): Promise<{ backbone: LoadedBackbone; note: string }> {
  switch (spec.id) {
    case 'demo':
      try {
        const backbone = await loadBackbone('demo', loadConfig());
        return { backbone, note: `bundled weights (${backbone.source.dir})` };
      } catch (error) {
        // The demo's trained weights are produced by a script; timing only needs the architecture.
        const model = buildDemoBackbone({ numClasses: 2, seed: 0 });
        const reason = (error as Error).message.split('\n')[0];
        return { backbone: architectureBackbone('demo', model, DEMO_CUT_LAYER, DEMO_INPUT_SIZE), note: `architecture with random weights (bundled demo did not load: ${reason})` };
      }
    case 'mnv1-0.25-224':
      return { backbone: await loadBackbone('mobilenet_v1_0.25_224', loadConfig()), note: 'shared pretrained weights' };
    case 'mnv2-0.35-224':
      return { backbone: await loadBackbone('teachable_mobilenet_v2_0.35_224', loadConfig()), note: 'shared pretrained weights' };
    case 'mnv1-0.25-128':
      return { backbone: architectureBackbone(spec.id, buildMobileNetV1({ alpha: 0.25, inputSize: 128, seed: 0 }), MOBILENET_V1_CUT_LAYER, 128), note: 'architecture, random weights (seed 0)' };
    case 'mnv1-1.0-224':
      return { backbone: architectureBackbone(spec.id, buildMobileNetV1({ alpha: 1, inputSize: 224, seed: 0 }), MOBILENET_V1_CUT_LAYER, 224), note: 'architecture, random weights (seed 0)' };
    default:
      throw new Error(`no loader for bench model '${spec.id}'`);
  }
}
