/**
 * What a command is about to use, said before it starts: backbone, input size, preprocessing and
 * cut layer, each with where it was stated (so a guessed or defaulted value is never silent).
 */
import { describePreprocessing, type Preprocessing } from '../schema/preprocessing.ts';
import type { BackboneSetup, CutLayerSource, PreprocessingSource } from '../schema/backbone-setup.ts';
import type { LoadedBackbone } from './load.ts';


const PREPROCESSING_FROM: Record<PreprocessingSource, string> = {
  option: 'as given',
  registry: 'registry entry',
  sidecar: 'backbone.json',
  'teachable-machine': 'Teachable Machine metadata.json',
  unstated: 'not stated',
};
const CUT_FROM: Record<CutLayerSource, string> = { option: 'as given', registry: 'registry entry', sidecar: 'backbone.json', rule: 'default rule' };

export function backboneSetup(loaded: LoadedBackbone, inputSize = loaded.entry.inputSize): BackboneSetup {
  return {
    backbone: loaded.name,
    inputSize,
    preprocessing: loaded.entry.preprocessing,
    preprocessingFrom: loaded.stated.preprocessing,
    cutLayer: loaded.entry.cutLayer,
    cutLayerFrom: loaded.stated.cutLayer,
  };
}

/** "backbone demo: input 64x64, preprocessing [-1, 1] (x / 127.5 - 1) (registry entry), cut at relu4 (backbone.json)" */
export function formatBackboneSetup(setup: BackboneSetup): string {
  return (
    `backbone ${setup.backbone}: input ${setup.inputSize}x${setup.inputSize}, ` +
    (setup.preprocessingFrom === 'unstated' ? 'preprocessing NOT STATED, ' : `preprocessing ${describePreprocessing(setup.preprocessing)} (${PREPROCESSING_FROM[setup.preprocessingFrom]}), `) +
    `cut at ${setup.cutLayer} (${CUT_FROM[setup.cutLayerFrom]})`
  );
}
