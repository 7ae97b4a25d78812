import path from 'node:path';
import type { Response } from 'express';
import { listBackbones } from '../../backbones/registry.ts';
import { PROJECT_ROOT, type BnlabConfig } from '../../config.ts';
import type { FieldError } from '../../schema/api.ts';
import type { Recipe } from '../../schema/recipe.ts';
import { recipeLimitErrors } from '../queue/submit-limits.ts';
import { dataFolderProblem } from '../data-folders.ts';
import { isInside, PathOutsideRootsError, resolveInsideRoots } from '../safe-path.ts';
import { sendFieldErrors } from '../validation.ts';

/**
 * Pin a validated recipe to real paths the dashboard may use: its data folder inside the data
 * roots, its backbone a known name or a model folder inside the data roots or models folder.
 * Answers 400 (naming the field) and returns null when it cannot.
 */
export async function pinRecipe(config: BnlabConfig, recipe: Recipe, res: Response, prefix = ''): Promise<Recipe | null> {
  const { pinned, fields } = await pinFields(config, recipe, prefix);
  if (fields.length) {
    sendFieldErrors(res, fields);
    return null;
  }
  return pinned;
}

/** pinRecipe's work: the pinned recipe, or the field errors that prevent it (submit-time bounds included). */
export async function pinFields(config: BnlabConfig, recipe: Recipe, prefix = ''): Promise<{ pinned: Recipe; fields: FieldError[] }> {
  const fields: FieldError[] = [];
  let data = recipe.data;
  try {
    const isDemo = isInside(path.resolve(PROJECT_ROOT, recipe.data), config.demoDataDir);
    data = (await resolveInsideRoots(recipe.data, config.dataRoots, PROJECT_ROOT, { allowMissing: isDemo })).real;
  } catch (error) {
    if (!(error instanceof PathOutsideRootsError)) throw error;
    fields.push({ field: `${prefix}data`, message: error.message });
  }
  let backbone = recipe.backbone;
  const known = listBackbones(config).some((b) => b.name === recipe.backbone);
  if (!known) {
    // a URL scheme, but not a Windows drive letter (C:\models): that is a path, refused below as one
    if (/^[a-z][a-z0-9+.-]*:/i.test(recipe.backbone) && !/^[a-z]:[\\/]/i.test(recipe.backbone)) {
      fields.push({
        field: `${prefix}backbone`,
        message: 'URLs are not accepted from the dashboard; use a listed backbone (the CLI can download one)',
      });
    } else {
      const roots = [...config.dataRoots, config.modelsDir, config.cacheDir].filter((r): r is string => !!r);
      try {
        backbone = (await resolveInsideRoots(recipe.backbone, roots, PROJECT_ROOT)).real;
      } catch (error) {
        if (!(error instanceof PathOutsideRootsError)) throw error;
        fields.push({ field: `${prefix}backbone`, message: `unknown backbone: not a listed name, and ${error.message}` });
      }
    }
  }
  if (!fields.length) {
    const unusable = await dataFolderProblem(data, recipe, config);
    if (unusable) fields.push({ field: `${prefix}data`, message: unusable });
  }
  fields.push(...recipeLimitErrors(recipe, prefix));
  return { pinned: { ...recipe, data, backbone }, fields };
}
