/**
 * A layers model as a flat list of layer applications, runnable from any intermediate tensors.
 *
 * Why: tfjs only runs a model from its Input layers (`tf.model` refuses other inputs), but
 * single-walk recalibration (stats/population.ts) and the frozen-prefix cache
 * (train/frozen-prefix.ts) hold intermediate activations and continue from them. This is the
 * same execution tfjs-layers does (engine/executor.js `execute`: each layer's `apply` called with
 * the array of its input values and the caller's kwargs, in topological order), with the
 * feed/fetch sets chosen by the caller, so values are bit-identical to `model.apply`.
 *
 * Nested containers (Teachable Machine nests functional models in Sequential ones) are expanded
 * in place: a container applied to a tensor becomes its inner layers, its inputs aliased to the
 * outer tensors. A container applied more than once, a multi-input model or an unexpected graph
 * raises UnsupportedGraphError, so a caller can fall back to whole-model execution.
 */
import * as tf from '@tensorflow/tfjs';
import { isContainer } from './layers.ts';

type Layer = tf.layers.Layer;
type Symbolic = tf.SymbolicTensor;

export class UnsupportedGraphError extends Error {}

/** One application of a (leaf) layer: canonical input and output tensors. */
export interface GraphStep {
  layer: Layer;
  inputs: Symbolic[];
  outputs: Symbolic[];
}

interface NodeLike {
  inputTensors: Symbolic[];
  outputTensors: Symbolic[];
}

export class LayerGraph {
  /** the model's (canonical) image input */
  readonly input: Symbolic;
  private readonly alias = new Map<Symbolic, Symbolic>();
  private readonly producer = new Map<Symbolic, GraphStep>();
  private readonly expanded = new Set<tf.LayersModel>();

  constructor(readonly model: tf.LayersModel) {
    if (model.inputs.length !== 1) throw new UnsupportedGraphError(`model ${model.name} has ${model.inputs.length} inputs; the layer walk needs exactly one`);
    this.input = model.inputs[0];
  }

  /** The tensor `t` stands for once containers are expanded (a container's input is the tensor fed to it). */
  canonical(t: Symbolic): Symbolic {
    let current = t;
    for (let guard = 0; this.alias.has(current); guard++) {
      if (guard > 10_000) throw new UnsupportedGraphError('alias cycle in the layer graph');
      current = this.alias.get(current)!;
    }
    return current;
  }

  /** The step that produces canonical tensor `t`, or null for the model input. */
  producerOf(t: Symbolic): GraphStep | null {
    let c = this.canonical(t);
    for (let guard = 0; guard < 10_000; guard++) {
      if (c === this.input) return null;
      const step = this.producer.get(c);
      if (step) return step;
      this.resolve(c); // a leaf layer's step, or an alias into the container that produced c
      c = this.canonical(c);
    }
    throw new UnsupportedGraphError(`cannot resolve the producer of ${t.name}`);
  }

  /**
   * The steps needed to compute `targets` that are not in `done`, in an order where every step
   * comes after the steps it depends on; they are added to `done`.
   */
  stepsFor(targets: Symbolic[], done: Set<GraphStep>): GraphStep[] {
    const out: GraphStep[] = [];
    const visiting = new Set<GraphStep>();
    // Iterative depth-first post-order (MobileNetV2 is ~150 layers deep; no recursion limits).
    const stack: Array<{ tensor: Symbolic; expanded: boolean; step?: GraphStep }> = targets.map((tensor) => ({ tensor, expanded: false })).reverse();
    while (stack.length > 0) {
      const frame = stack.pop()!;
      if (frame.expanded) {
        const step = frame.step!;
        visiting.delete(step);
        if (!done.has(step)) {
          // every input is resolved now, so its canonical tensor is final
          step.inputs = step.inputs.map((x) => this.canonical(x));
          done.add(step);
          out.push(step);
        }
        continue;
      }
      const step = this.producerOf(frame.tensor);
      if (!step || done.has(step)) continue;
      if (visiting.has(step)) continue; // pushed already by another consumer; emitted when its frame pops
      visiting.add(step);
      stack.push({ tensor: frame.tensor, expanded: true, step });
      for (let i = step.inputs.length - 1; i >= 0; i--) stack.push({ tensor: step.inputs[i], expanded: false });
    }
    return out;
  }

  /**
   * Run `steps` (from stepsFor) with the given feeds (canonical tensor -> value), exactly as
   * tfjs-layers executes a model. Returns every value computed or fed. Call inside tf.tidy.
   */
  static run(steps: GraphStep[], feeds: Map<Symbolic, tf.Tensor>, kwargs: { training: boolean }): Map<Symbolic, tf.Tensor> {
    const values = new Map(feeds);
    for (const step of steps) {
      const inputValues = step.inputs.map((t) => {
        const value = values.get(t);
        if (!value) throw new Error(`layer walk: no value for input ${t.name} of layer ${step.layer.name}`);
        return value;
      });
      const result = step.layer.apply(inputValues, { ...kwargs });
      const outputs = (Array.isArray(result) ? result : [result]) as tf.Tensor[];
      step.outputs.forEach((t, i) => values.set(t, outputs[i]));
    }
    return values;
  }

  /** Find (and expand containers for) the producer of canonical tensor `t`. */
  private resolve(t: Symbolic): void {
    if (this.producer.has(t)) return;
    const layer = t.sourceLayer as Layer;
    if (layer.getClassName() === 'InputLayer') {
      throw new UnsupportedGraphError(`tensor ${t.name} comes from input layer ${layer.name}, which is not the model's input`);
    }
    const node = nodeOf(layer, t);
    if (isContainer(layer)) {
      const container = layer;
      if (this.expanded.has(container)) throw new UnsupportedGraphError(`container ${container.name} is applied more than once`);
      this.expanded.add(container);
      if (container.inputs.length !== node.inputTensors.length) throw new UnsupportedGraphError(`container ${container.name}: ${node.inputTensors.length} inputs fed, ${container.inputs.length} declared`);
      container.inputs.forEach((inner, i) => this.alias.set(inner, node.inputTensors[i]));
      node.outputTensors.forEach((outer, i) => this.alias.set(outer, container.outputs[i]));
      return;
    }
    const step: GraphStep = { layer, inputs: [...node.inputTensors], outputs: node.outputTensors };
    for (const output of node.outputTensors) this.producer.set(output, step);
  }
}

/** The inbound node of `layer` that produced `t`. */
function nodeOf(layer: Layer, t: Symbolic): NodeLike {
  const nodes = layer.inboundNodes as unknown as NodeLike[];
  const node = nodes.find((n) => n.outputTensors.some((o) => o === t || o.id === t.id));
  if (!node) throw new UnsupportedGraphError(`cannot find the node of layer ${layer.name} that produced ${t.name}`);
  return node;
}
