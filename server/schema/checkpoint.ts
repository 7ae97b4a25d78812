import type { Preprocessing, Recipe } from './recipe.ts';

/** Written beside the weights in every checkpoint folder (checkpoint.json). */
export interface CheckpointMeta {
  format: 'bnlab-checkpoint@1';
  runId: string;
  recipe: Recipe;
  classes: string[];
  preprocessing: Preprocessing;
  inputSize: number;
  epoch: number;
  step: number;
  completed: boolean;
  backend: string;
  time: string;
}
