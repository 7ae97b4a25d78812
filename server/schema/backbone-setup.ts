/**
 * What a command is about to use, said before it starts (log line, runStarted, inspect --json):
 * backbone, input size, preprocessing and cut layer, each with where it was stated.
 */
import type { Preprocessing } from './preprocessing.ts';

/** Where the preprocessing in use was stated. 'unstated': only with `requirePreprocessing: false` (the `layers` command). */
export type PreprocessingSource = 'option' | 'registry' | 'sidecar' | 'teachable-machine' | 'unstated';
/** Where the cut layer came from: the caller (--cut / recipe cutLayer), the registry, backbone.json, or the default rule (cut-layer.ts). */
export type CutLayerSource = 'option' | 'registry' | 'sidecar' | 'rule';

export interface BackboneSetup {
  backbone: string;
  inputSize: number;
  preprocessing: Preprocessing;
  preprocessingFrom: PreprocessingSource;
  cutLayer: string;
  cutLayerFrom: CutLayerSource;
}
