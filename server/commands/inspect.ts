/** `inspect` for a recipe: the pretrained backbone's BN statistics against the user's data, before any training. */
import type { BnlabConfig } from '../config.ts';
import type { BackboneSetup } from '../schema/backbone-setup.ts';
import { selectBackend } from '../engine/backend.ts';
import { resolvePolicy } from '../policies/index.ts';
import { describeLayers } from '../policies/plan.ts';
import type { Recipe } from '../schema/recipe.ts';
import type { RecipeInspection } from '../schema/inspect-report.ts';
import { inspectBatchNorm } from '../stats/inspect.ts';
import { imageTensors, prepareExperiment } from '../train/experiment.ts';


export async function inspectRecipe(recipe: Recipe, config: BnlabConfig, backendName?: string | null, onSetup?: (setup: BackboneSetup) => void): Promise<RecipeInspection> {
  const backend = await selectBackend(backendName ?? config.backend);
  const experiment = await prepareExperiment(recipe, config, undefined, onSetup);
  const plan = resolvePolicy(recipe.policy, describeLayers(experiment.model, experiment.headLayerNames));
  const report = await inspectBatchNorm(experiment.model, () => imageTensors(experiment.trainEval, recipe.batchSize), {
    batchSize: recipe.batchSize,
    policyTrainsBn: plan.bnTrainMode.size > 0,
    trainCount: experiment.split.train.length,
  });
  experiment.model.dispose();
  return {
    ...report,
    backbone: experiment.backbone.name,
    setup: experiment.setup,
    backend,
    data: experiment.split.root,
    classes: experiment.split.classes,
    trainCount: experiment.split.train.length,
    valCount: experiment.split.val.length,
    warnings: experiment.warnings,
    skippedFiles: [...experiment.split.skipped, ...experiment.trainEval.skipped],
  };
}
