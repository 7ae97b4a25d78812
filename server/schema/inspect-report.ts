/**
 * What `bnlab inspect` and the dashboard's inspect view report: per-BN-layer statistics of the
 * data against the pretrained ones, the ranking, lint findings and the recommended policy.
 * Plain data (the client renders it); computed by stats/inspect.ts and commands/inspect.ts.
 */
import type { BackboneSetup } from './backbone-setup.ts';

export interface LintFinding {
  /** stable identifier, e.g. 'bias-before-bn', 'tiny-batch' */
  code: string;
  message: string;
  layers?: string[];
}

export interface InspectLayer {
  layer: string;
  channels: number;
  /** values per channel that the statistics are over (images × H × W) */
  count: number;
  meanShift: number;
  logVarRatio: number;
  symmetricKl: number;
  /** first `previewChannels` channels: the data's population mean/variance and the pretrained running ones */
  dataMean: number[];
  dataVariance: number[];
  runningMean: number[];
  runningVariance: number[];
}

export interface InspectReport {
  images: number;
  /** in the model's topological order */
  layers: InspectLayer[];
  /** layer names, largest symmetricKl first */
  ranking: string[];
  summary: { medianMeanShift: number; medianLogVarRatio: number; medianSymmetricKl: number };
  lint: LintFinding[];
  recommendation: { policy: string; reason: string };
}

export interface RecipeInspection extends InspectReport {
  backbone: string;
  backend: string;
  data: string;
  classes: string[];
  trainCount: number;
  valCount: number;
  /** backbone, input size, preprocessing and cut layer used, with where each was stated */
  setup: BackboneSetup;
  warnings: string[];
  skippedFiles: { path: string; reason: string }[];
}
