/**
 * The one training set-up, used by the loop (loop.ts), the bench (bench/worker.ts) and the step
 * profiler (tools/profile-step.ts), so that what is measured is what users run:
 *
 *   BnController (per-layer BN mode) → lean training ops → describeLayers → resolvePolicy →
 *   applyPlan (trainable flags, BN modes, momentum) → the variables the optimizer updates.
 *
 * BN modes are set after the layers' own trainable flags: tfjs `trainable = false` on a BN layer
 * stops gamma/beta but not its statistics, so the mode is enforced by the wrapper (bn-control.ts).
 */
import type * as tf from '@tensorflow/tfjs';
import { useLeanTraining, type LeanOptions } from '../engine/ops/lean-training.ts';
import { resolvePolicy } from '../policies/index.ts';
import { describeLayers, type ModelLayers, type PolicyPlan } from '../policies/plan.ts';
import type { PolicySummary } from '../schema/events.ts';
import { splitPreciseBn } from '../schema/policy-names.ts';
import type { BnMomentum, PolicySpec } from '../schema/recipe.ts';
import { kerasMomentum } from '../stats/drift.ts';
import { applyPlan } from './apply-plan.ts';
import { BnController } from './bn-control.ts';

/** A classifier made ready for bnlab's training step; policies are applied to it afterwards. */
export interface TrainableModel {
  model: tf.LayersModel;
  bn: BnController;
  layers: ModelLayers;
  /** how many layers got the lean ops (0 when switched off) */
  lazyConvLayers: number;
  leanRelu6Layers: number;
  leanReluMaxLayers: number;
}

export function makeTrainable(model: tf.LayersModel, headLayerNames: Iterable<string>, leanOptions: LeanOptions = {}): TrainableModel {
  const bn = new BnController(model);
  const lean = useLeanTraining(model, leanOptions); // same values, less memory and time
  return { model, bn, layers: describeLayers(model, headLayerNames), ...lean };
}

export interface AppliedPolicy {
  plan: PolicyPlan;
  /** the plan as the run reports it (runStarted) */
  summary: PolicySummary;
  /** what the optimizer updates */
  variables: tf.Variable[];
  /** the BN momentum override in Keras convention (weight of the old value), or null */
  momentumKeras: number | null;
}

/** Resolve a policy for this model and apply it; can be called again with another policy. */
export function applyPolicy(target: TrainableModel, spec: PolicySpec, bnMomentum?: BnMomentum): AppliedPolicy {
  const plan = resolvePolicy(spec, target.layers);
  const momentumKeras = bnMomentum ? kerasMomentum(bnMomentum) : null;
  const variables = applyPlan(target.model, plan, target.bn, momentumKeras);
  // `train-bn+precise-bn` keeps its own name (run tables, the dashboard's labels) and says so
  const variant = typeof spec === 'string' && splitPreciseBn(spec).preciseBn;
  const summary: PolicySummary = {
    name: variant ? spec : plan.name,
    description: variant ? `${plan.description}; then PreciseBN: BN population statistics recomputed over the training data after training` : plan.description,
    trainableLayers: [...plan.trainableLayers],
    bnTrainMode: [...plan.bnTrainMode],
    bnAffineTrainable: [...plan.bnAffineTrainable],
    bnMomentumKeras: momentumKeras,
  };
  return { plan, summary, variables, momentumKeras };
}
