import type { Preprocessing } from './preprocessing.ts';
import type { Recipe } from './recipe.ts';

/** Written beside the weights in every checkpoint folder (checkpoint.json). */
export interface CheckpointMeta {
  format: 'bnlab-checkpoint@1';
  runId: string;
  recipe: Recipe;
  classes: string[];
  preprocessing: Preprocessing;
  inputSize: number;
  /** the layer the head was attached at (absent in checkpoints written before it was recorded) */
  cutLayer?: string;
  epoch: number;
  step: number;
  completed: boolean;
  backend: string;
  time: string;
}
