/**
 * `bnlab layers --backbone <b>`: every leaf layer of a model with its output shape and parameter
 * count, BatchNormalization layers marked, and the default cut (backbones/cut-layer.ts) and the cut
 * in use marked, so a user can choose `--cut <layer>`. Reads no images, so it also works for a
 * model whose preprocessing is not stated yet (and says so).
 */
import type { BnlabConfig } from '../config.ts';
import { selectBackend } from '../engine/backend.ts';
import { layerTable, type LayerRow } from '../backbones/cut-layer.ts';
import { loadBackbone } from '../backbones/load.ts';
import { backboneSetup, formatBackboneSetup } from '../backbones/setup.ts';
import { type BackboneSetup } from '../schema/backbone-setup.ts';
import type { Preprocessing } from '../schema/preprocessing.ts';

export interface LayerListing {
  setup: BackboneSetup;
  layers: LayerRow[];
  bnLayers: number;
  warnings: string[];
}

export async function listLayers(
  spec: string,
  config: BnlabConfig,
  opts: { cutLayer?: string | null; preprocessing?: Preprocessing | null; backend?: string | null } = {},
): Promise<LayerListing> {
  await selectBackend(opts.backend ?? config.backend);
  const backbone = await loadBackbone(spec, config, { cutLayer: opts.cutLayer, preprocessing: opts.preprocessing, requirePreprocessing: false });
  try {
    const layers = layerTable(backbone.model, backbone.entry.cutLayer);
    return { setup: backboneSetup(backbone), layers, bnLayers: layers.filter((l) => l.batchNorm).length, warnings: backbone.warnings };
  } finally {
    backbone.model.dispose();
  }
}

const shape = (s: (number | null)[] | null) => (s ? `[${s.map((d) => d ?? '?').join(', ')}]` : '(several)');

/** The human-readable table: marks "BN", "<- default cut", "<- cut (as given)". */
export function formatLayerListing(listing: LayerListing): string {
  const { layers } = listing;
  const nameWidth = Math.min(40, Math.max(...layers.map((l) => l.name.length), 5));
  const classWidth = Math.max(...layers.map((l) => l.className.length), 5);
  const shapeWidth = Math.max(...layers.map((l) => shape(l.outputShape).length), 5);
  const lines = [formatBackboneSetup(listing.setup), `${layers.length} layers, ${listing.bnLayers} BatchNormalization`, ''];
  lines.push(`  ${'layer'.padEnd(nameWidth)}  ${'class'.padEnd(classWidth)}  ${'output'.padEnd(shapeWidth)}  ${'params'.padStart(9)}`);
  for (const l of layers) {
    const marks = [l.batchNorm ? 'BN' : '', l.defaultCut ? '<- default cut' : '', l.cut && !l.defaultCut ? '<- cut in use' : ''].filter(Boolean).join(' ');
    const where = l.containers.length ? `  (in ${l.containers.join(' > ')})` : '';
    lines.push(`  ${l.name.padEnd(nameWidth)}  ${l.className.padEnd(classWidth)}  ${shape(l.outputShape).padEnd(shapeWidth)}  ${String(l.params).padStart(9)}  ${marks}${where}`.trimEnd());
  }
  if (listing.setup.preprocessingFrom === 'unstated') {
    lines.push('', 'preprocessing is NOT stated for this model: train, inspect and recalibrate will refuse it until you pass --preprocessing or write it in backbone.json');
  }
  for (const w of listing.warnings) lines.push(`warning: ${w}`);
  return lines.join('\n');
}
