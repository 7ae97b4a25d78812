/**
 * Population statistics of every BatchNorm layer's input: PreciseBN / AdaBN.
 *
 * Why: a BN layer's running statistics are what it divides by at inference. After fine-tuning
 * they are an EMA that lags the weights (with Keras momentum 0.99, 0.99^125 ≈ 28 % of the value
 * from 125 steps ago is still in it), and for a pretrained backbone on a new domain they describe
 * the pretraining data (ImageNet), not the user's images. Recomputing them on the user's data
 * fixes both (AdaBN, Li et al. 2016; PreciseBN, Wu & Johnson 2021, fvcore/nn/precise_bn.py).
 *
 * What, exactly: for each BN layer, in topological order, with every layer in inference mode:
 *   x       = the layer's input over the whole data set: N images × H × W positions, C channels
 *   n       = N*H*W values per channel (N for a BN after a dense layer)
 *   mean_c  = (1/n) sum x_c
 *   var_c   = (1/n) sum (x_c - mean_c)^2        (biased, as tfjs/Keras BN uses; see drift.ts)
 * Recalibration writes moving_mean = mean and moving_variance = var, then moves to the next
 * layer, so every layer is measured with its upstream layers already recalibrated. Unlike
 * fvcore, which averages per-batch statistics (exact for the mean, and for the variance only up to
 * the between-batch spread), the merge here is exact: per-batch mean and biased variance (two
 * passes on the device, float32) are combined in float64 with Chan et al.'s parallel formula, so
 * the result does not depend on how the data is split into batches.
 *
 * Measuring (for `inspect`) is the same computation without writing anything: every BN input is
 * measured with upstream layers at their current (pretrained) statistics, in a single pass.
 *
 * Cost: recalibration walks the data once (one forward pass, activations held between layers,
 * see recalibrateBatchNorm); the reference implementation runs the data once per BN layer through
 * the prefix up to it (about (L+1)/2 forward passes). Measuring needs one forward pass.
 *
 * Nested containers (Teachable Machine: Sequential[Sequential[functional model3, GAP], head]): a
 * BN layer's prefix is built inside the container that holds it directly, and that container's
 * input is computed from the batch by the prefixes of the containers above it (for Teachable
 * Machine models all of them are the image input itself).
 *
 * Batches: `batches()` is called once per pass (once by the walk, once per BN layer by the prefix
 * reference and fallback), so it must return a fresh iterable over the same data each time. Each yielded tensor is disposed here once
 * it has been used (disposing twice is harmless in tfjs, so a producer that also disposes after its
 * `yield` is fine); a producer that keeps a cache must yield clones.
 */
import * as tf from '@tensorflow/tfjs';
import { budgetFromEnv, DEFAULT_SPILL_BUDGET_BYTES, SpillStore } from '../data/spill-store.ts';
import { LayerGraph, UnsupportedGraphError, type GraphStep } from '../model/layer-graph.ts';
import { isBatchNorm, isContainer } from '../model/layers.ts';
import { assertChannelLast, bnVariables } from '../model/batch-norm.ts';

type Layer = tf.layers.Layer;

/** Per-channel population statistics of one BN layer's input. */
export interface ChannelMoments {
  mean: Float32Array;
  /** biased: divide by count */
  variance: Float32Array;
  /** values per channel (N*H*W) */
  count: number;
}

export type BatchSource = () => AsyncIterable<tf.Tensor4D>;

export interface RecalibrateOptions {
  /** called after each BN layer is written */
  onLayer?: (done: number, total: number, name: string) => void;
  /**
   * What to write instead of the population statistics (e.g. a mix with the layer's current
   * statistics, stats/prior-mix.ts); called before the layer is written, so downstream layers are
   * measured with upstream layers holding what was written. Default: the population statistics.
   */
  combine?: (layer: string, population: ChannelMoments) => { mean: Float32Array; variance: Float32Array };
  /** bytes of held activations kept in memory before spilling to disk (default BNLAB_WALK_MEMORY_MB or 1 GiB) */
  memoryBytes?: number;
  /** parent folder for spilled activations (default the OS temporary folder) */
  spillDir?: string;
  /** how the recalibration ran: the single walk, or the per-layer prefixes (and why) */
  onReport?: (report: RecalibrationReport) => void;
}

export interface RecalibrationReport {
  method: 'walk' | 'prefix';
  /** why the walk was not used (null when it was) */
  reason: string | null;
  /** peak bytes of held activations in memory and on disk */
  peakMemoryBytes: number;
  peakDiskBytes: number;
}

export interface MeasureOptions {
  onBatch?: (batches: number, images: number) => void;
}

export interface MeasuredStatistics {
  /** keyed by BN layer name, in topological order */
  layers: Map<string, ChannelMoments>;
  images: number;
  batches: number;
}

/**
 * PreciseBN: set every BN layer's moving mean/variance to the population mean and biased variance
 * of its input over all batches, layer by layer in topological order (see the module comment).
 * Returns what was written, keyed by layer name (with `combine`, the combined statistics).
 *
 * One walk over the data: `batches()` is read once; every image's activations at the current BN
 * layer (and every tensor later layers still need, e.g. MobileNetV2's residual inputs) are held
 * as Float32Arrays outside the wasm heap, in chunks of the source's batches, under
 * `memoryBytes` (default BNLAB_WALK_MEMORY_MB, 1 GiB) and spilled to disk past it. After the
 * layer is recalibrated the held activations advance through the next segment of the graph, so
 * every segment runs once per image: one forward pass in all instead of ~(L+1)/2. The per-batch
 * moments are those of today's prefix computation (same batches, same ops, float32 values kept
 * exactly), merged in the same order, so the result is bit-identical to
 * `recalibrateBatchNormByPrefix`, which stays as the reference and as the fallback for graphs the
 * walk does not support (model/layer-graph.ts UnsupportedGraphError).
 */
export async function recalibrateBatchNorm(
  model: tf.LayersModel,
  batches: BatchSource,
  opts: RecalibrateOptions = {},
): Promise<Map<string, ChannelMoments>> {
  const sites = findBnSites(model);
  let walk: WalkPlan;
  try {
    walk = planWalk(model, sites);
  } catch (error) {
    if (!(error instanceof UnsupportedGraphError)) throw error;
    opts.onReport?.({ method: 'prefix', reason: error.message, peakMemoryBytes: 0, peakDiskBytes: 0 });
    return recalibrateBatchNormByPrefix(model, batches, opts);
  }
  const store = new SpillStore({
    budgetBytes: opts.memoryBytes ?? budgetFromEnv('BNLAB_WALK_MEMORY_MB', DEFAULT_SPILL_BUDGET_BYTES),
    dir: opts.spillDir,
  });
  try {
    const written = await runWalk(walk, batches, store, opts);
    opts.onReport?.({ method: 'walk', reason: null, peakMemoryBytes: store.peakMemoryBytes, peakDiskBytes: store.peakDiskBytes });
    return written;
  } finally {
    store.close();
  }
}

/**
 * Today's (pre-walk) recalibration: the data once per BN layer through the prefix of the network
 * up to that layer. The reference the single walk is tested against, and its fallback.
 */
export async function recalibrateBatchNormByPrefix(
  model: tf.LayersModel,
  batches: BatchSource,
  opts: RecalibrateOptions = {},
): Promise<Map<string, ChannelMoments>> {
  const sites = findBnSites(model);
  const feeds = new FeedBuilder();
  const written = new Map<string, ChannelMoments>();
  for (const [index, site] of sites.entries()) {
    const probe = feeds.probe(site.chain, [site.input]);
    const accumulator = new MomentAccumulator(site.layer.name);
    for await (const batch of batches()) {
      try {
        checkBatch(batch);
        const [moments] = await batchMoments(() => probe(batch));
        accumulator.add(moments);
      } finally {
        batch.dispose();
      }
    }
    const population = accumulator.result();
    const moments = opts.combine ? { ...opts.combine(site.layer.name, population), count: population.count } : population;
    writeMovingStatistics(site.layer, moments);
    written.set(site.layer.name, moments);
    opts.onLayer?.(index + 1, sites.length, site.layer.name);
  }
  return written;
}

/**
 * The same population statistics, measured in one pass with every BN layer at its current
 * statistics and nothing written: how the data looks to the model as it is.
 */
export async function measureBatchNormInputs(
  model: tf.LayersModel,
  batches: BatchSource,
  opts: MeasureOptions = {},
): Promise<MeasuredStatistics> {
  const sites = findBnSites(model);
  const feeds = new FeedBuilder();
  // One multi-output probe per innermost container.
  const groups = new Map<tf.LayersModel, BnSite[]>();
  for (const site of sites) {
    const container = site.chain[site.chain.length - 1];
    groups.set(container, [...(groups.get(container) ?? []), site]);
  }
  const probes = [...groups.values()].map((group) => ({
    group,
    probe: feeds.probe(group[0].chain, group.map((site) => site.input)),
    accumulators: group.map((site) => new MomentAccumulator(site.layer.name)),
  }));
  let images = 0;
  let batchCount = 0;
  for await (const batch of batches()) {
    try {
      checkBatch(batch);
      for (const { probe, accumulators } of probes) {
        const moments = await batchMoments(() => probe(batch));
        moments.forEach((m, i) => accumulators[i].add(m));
      }
    } finally {
      batch.dispose();
    }
    images += batch.shape[0];
    batchCount += 1;
    opts.onBatch?.(batchCount, images);
  }
  const layers = new Map<string, ChannelMoments>();
  const byName = new Map<string, ChannelMoments>();
  for (const { group, accumulators } of probes) {
    group.forEach((site, i) => byName.set(site.layer.name, accumulators[i].result()));
  }
  for (const site of sites) layers.set(site.layer.name, byName.get(site.layer.name)!);
  return { layers, images, batches: batchCount };
}

/** Write population statistics into a BN layer's moving mean and moving variance. */
export function writeMovingStatistics(layer: Layer, moments: { mean: Float32Array; variance: Float32Array }): void {
  const { movingMean, movingVariance } = bnVariables(layer);
  const channels = movingMean.shape[0];
  if (moments.mean.length !== channels || moments.variance.length !== channels) {
    throw new Error(
      `layer ${layer.name} has ${channels} channels, statistics have ${moments.mean.length}/${moments.variance.length}`,
    );
  }
  tf.tidy(() => {
    movingMean.write(tf.tensor1d(moments.mean));
    movingVariance.write(tf.tensor1d(moments.variance));
  });
}

// ---------------------------------------------------------------------------------------------
// Where each BN layer sits

interface BnSite {
  layer: Layer;
  /** containers from the model down to the one that holds the layer directly */
  chain: tf.LayersModel[];
  /** the layer's input within chain[last], or null when it is that container's input */
  input: tf.SymbolicTensor | null;
}

function findBnSites(model: tf.LayersModel): BnSite[] {
  const sites: BnSite[] = [];
  const names = new Set<string>();
  const visit = (container: tf.LayersModel, chain: tf.LayersModel[]) => {
    for (const layer of container.layers) {
      if (isContainer(layer)) visit(layer, [...chain, layer]);
      else if (isBatchNorm(layer)) {
        if (names.has(layer.name)) throw new Error(`two BatchNormalization layers are named ${layer.name}`);
        names.add(layer.name);
        const input = inputWithin(layer, container);
        assertChannelLast(layer, (input ?? singleInput(container)).shape.length);
        sites.push({ layer, chain, input });
      }
    }
  };
  visit(model, [model]);
  if (sites.length === 0) throw new Error(`model ${model.name} has no BatchNormalization layers`);
  return sites;
}

function singleInput(container: tf.LayersModel): tf.SymbolicTensor {
  if (container.inputs.length !== 1) {
    throw new Error(`container ${container.name} has ${container.inputs.length} inputs; bnlab needs exactly one image input`);
  }
  return container.inputs[0];
}

/**
 * The symbolic input of `layer` inside `container`'s graph: null when it is the container's own
 * input, else the input tensor of the layer's inbound node that belongs to that graph (a layer
 * reused elsewhere has several nodes; a nested model also has its own creation node).
 */
function inputWithin(layer: Layer, container: tf.LayersModel): tf.SymbolicTensor | null {
  const containerInput = singleInput(container);
  const candidates: tf.SymbolicTensor[] = [];
  for (const node of layer.inboundNodes) {
    if (node.inputTensors.length !== 1) continue;
    const input = node.inputTensors[0];
    if (input === containerInput) return null;
    candidates.push(input);
  }
  for (const input of candidates) {
    if (reachable(containerInput, input)) return input;
  }
  throw new Error(`cannot find the input of layer ${layer.name} inside container ${container.name}`);
}

/** Whether `target` is computed from `source` in the layer graph (walks inbound nodes back). */
function reachable(source: tf.SymbolicTensor, target: tf.SymbolicTensor): boolean {
  const seen = new Set<tf.SymbolicTensor>();
  const stack = [target];
  while (stack.length > 0) {
    const tensor = stack.pop()!;
    if (tensor === source) return true;
    if (seen.has(tensor)) continue;
    seen.add(tensor);
    const node = tensor.sourceLayer?.inboundNodes[tensor.nodeIndex];
    if (node) stack.push(...node.inputTensors);
  }
  return false;
}

type Probe = (batch: tf.Tensor) => tf.Tensor[];

/** Builds (and caches) the inference-mode prefix functions from a batch to tensors inside containers. */
class FeedBuilder {
  private readonly containerFeeds = new Map<tf.LayersModel, (x: tf.Tensor) => tf.Tensor>();

  /**
   * A function from a batch to the given tensors of chain[last] (null = its input), all computed in
   * inference mode. The caller runs it inside tf.tidy.
   */
  probe(chain: tf.LayersModel[], targets: Array<tf.SymbolicTensor | null>): Probe {
    const container = chain[chain.length - 1];
    const feed = this.feedFor(chain);
    const symbolic = [...new Set(targets.filter((t): t is tf.SymbolicTensor => t !== null))];
    const prefix = symbolic.length > 0 ? tf.model({ inputs: singleInput(container), outputs: symbolic }) : null;
    return (batch) => {
      const x = feed(batch);
      const outputs = prefix ? toArray(prefix.apply(x, { training: false })) : [];
      return targets.map((t) => (t === null ? x : outputs[symbolic.indexOf(t)]));
    };
  }

  /** batch -> input of chain[last], through the prefixes of the containers above it. */
  private feedFor(chain: tf.LayersModel[]): (x: tf.Tensor) => tf.Tensor {
    let feed = (x: tf.Tensor) => x;
    for (let i = 1; i < chain.length; i++) {
      const parent = chain[i - 1];
      const child = chain[i];
      let step = this.containerFeeds.get(child);
      if (!step) {
        const input = inputWithin(child, parent);
        const prefix = input === null ? null : tf.model({ inputs: singleInput(parent), outputs: input });
        step = prefix ? (x) => prefix.apply(x, { training: false }) as tf.Tensor : (x) => x;
        this.containerFeeds.set(child, step);
      }
      const outer = feed;
      const inner = step;
      feed = (x) => inner(outer(x));
    }
    return feed;
  }
}

function toArray(result: tf.Tensor | tf.Tensor[] | tf.SymbolicTensor | tf.SymbolicTensor[]): tf.Tensor[] {
  return (Array.isArray(result) ? result : [result]) as tf.Tensor[];
}

function checkBatch(batch: tf.Tensor): void {
  if (batch.rank !== 4) throw new Error(`expected image batches of rank 4 [N, H, W, C], got shape [${batch.shape}]`);
  if (batch.shape[0] === 0) throw new Error('empty batch');
}

// ---------------------------------------------------------------------------------------------
// The single walk

type Symbolic = tf.SymbolicTensor;

/** What segment k of the walk runs: the layers between the previous BN input and this one. */
interface WalkSegment {
  site: BnSite;
  /** the BN layer's input */
  target: Symbolic;
  steps: GraphStep[];
  /** held tensors this segment reads */
  fetch: Symbolic[];
  /** tensors computed here (or fed, in segment 0) that later segments read */
  keep: Symbolic[];
  /** held tensors no later segment reads: dropped after this one */
  release: Symbolic[];
}

interface WalkPlan {
  input: Symbolic;
  segments: WalkSegment[];
}

/** Cut the graph at every BN input, in BN order, and work out which tensors each segment hands on. */
function planWalk(model: tf.LayersModel, sites: BnSite[]): WalkPlan {
  const graph = new LayerGraph(model);
  graph.stepsFor(model.outputs, new Set()); // expands every nested container the outputs go through
  const siteIndex = new Map(sites.map((site, i) => [site.layer, i]));
  const targets = sites.map((site) => graph.canonical(site.input ?? singleInput(site.chain[site.chain.length - 1])));
  const done = new Set<GraphStep>();
  const stepsPerSegment = targets.map((target, k) => {
    const steps = graph.stepsFor([target], done);
    for (const step of steps) {
      const j = siteIndex.get(step.layer);
      if (j !== undefined && j >= k) {
        throw new UnsupportedGraphError(`BN layer ${step.layer.name} feeds ${sites[k].layer.name} but comes after it in layer order`);
      }
    }
    return steps;
  });
  const producedAt = new Map<Symbolic, number>([[graph.input, 0]]);
  const lastUse = new Map<Symbolic, number>();
  stepsPerSegment.forEach((steps, k) => {
    for (const step of steps) {
      step.inputs.forEach((t) => lastUse.set(t, k));
      step.outputs.forEach((t) => producedAt.set(t, k));
    }
    lastUse.set(targets[k], k);
  });
  const segments = stepsPerSegment.map((steps, k): WalkSegment => {
    const consumed = new Set([...steps.flatMap((step) => step.inputs), targets[k]]);
    const fetch = [...consumed].filter((t) => producedAt.get(t)! < k);
    const produced = [...(k === 0 ? [graph.input] : []), ...steps.flatMap((step) => step.outputs)];
    const keep = produced.filter((t) => (lastUse.get(t) ?? -1) > k);
    for (const t of keep) {
      if (t.dtype !== 'float32') throw new UnsupportedGraphError(`tensor ${t.name} is ${t.dtype}; the walk holds float32 activations only`);
    }
    return { site: sites[k], target: targets[k], steps, fetch, keep, release: fetch.filter((t) => lastUse.get(t) === k) };
  });
  return { input: graph.input, segments };
}

async function runWalk(plan: WalkPlan, batches: BatchSource, store: SpillStore, opts: RecalibrateOptions): Promise<Map<string, ChannelMoments>> {
  const written = new Map<string, ChannelMoments>();
  const shapes = new Map<string, number[]>();
  const key = (t: Symbolic, chunk: number) => `${t.id}:${chunk}`;
  let chunks = 0;
  for (const [k, segment] of plan.segments.entries()) {
    const accumulator = new MomentAccumulator(segment.site.layer.name);
    const runChunk = async (chunk: number, batch: tf.Tensor | null) => {
      const feeds = new Map<Symbolic, tf.Tensor>();
      const fetched = segment.fetch.map((t) => tf.tensor(store.get(key(t, chunk)), shapes.get(key(t, chunk))));
      segment.fetch.forEach((t, i) => feeds.set(t, fetched[i]));
      if (batch) feeds.set(plan.input, batch);
      try {
        const { kept, moments } = tf.tidy(() => {
          const values = LayerGraph.run(segment.steps, feeds, { training: false });
          return { kept: segment.keep.map((t) => values.get(t)!), moments: momentTensors(values.get(segment.target)!) };
        });
        try {
          for (const [i, t] of segment.keep.entries()) {
            store.put(key(t, chunk), (await kept[i].data()) as Float32Array);
            shapes.set(key(t, chunk), kept[i].shape);
          }
        } finally {
          kept.forEach((t) => t !== batch && t.dispose());
        }
        accumulator.add((await readMoments([moments]))[0]);
      } finally {
        fetched.forEach((t) => t.dispose());
      }
    };
    if (k === 0) {
      for await (const batch of batches()) {
        try {
          checkBatch(batch);
          await runChunk(chunks, batch);
          chunks += 1;
        } finally {
          batch.dispose();
        }
      }
    } else {
      for (let chunk = 0; chunk < chunks; chunk++) await runChunk(chunk, null);
    }
    for (const t of segment.release) {
      for (let chunk = 0; chunk < chunks; chunk++) {
        store.delete(key(t, chunk));
        shapes.delete(key(t, chunk));
      }
    }
    const population = accumulator.result();
    const moments = opts.combine ? { ...opts.combine(segment.site.layer.name, population), count: population.count } : population;
    writeMovingStatistics(segment.site.layer, moments);
    written.set(segment.site.layer.name, moments);
    opts.onLayer?.(k + 1, plan.segments.length, segment.site.layer.name);
  }
  return written;
}

// ---------------------------------------------------------------------------------------------
// Accumulating moments

interface BatchMoments {
  mean: Float32Array;
  variance: Float32Array;
  count: number;
}

/** Per-channel mean and biased variance of each probed tensor over all axes but the last. */
async function batchMoments(run: () => tf.Tensor[]): Promise<BatchMoments[]> {
  return readMoments(tf.tidy(() => run().map(momentTensors)));
}

type MomentTensors = [tf.Tensor, tf.Tensor, tf.Tensor];

/** [mean, biased variance, values per channel] of x over all axes but the last (on the device, float32). */
function momentTensors(x: tf.Tensor): MomentTensors {
  const channels = x.shape[x.rank - 1];
  const { mean, variance } = tf.moments(x.reshape([-1, channels]), 0);
  return [mean, variance, tf.scalar(x.size / channels, 'int32')];
}

/** Download moment tensors, then dispose them. */
async function readMoments(pairs: MomentTensors[]): Promise<BatchMoments[]> {
  try {
    const out: BatchMoments[] = [];
    for (const [mean, variance, count] of pairs) {
      out.push({
        mean: (await mean.data()) as Float32Array,
        variance: (await variance.data()) as Float32Array,
        count: (await count.data())[0],
      });
    }
    return out;
  } finally {
    pairs.flat().forEach((t) => t.dispose());
  }
}

/**
 * Exact merge of per-batch moments in float64 (Chan, Golub & LeVeque):
 *   n = na + nb, delta = mean_b - mean_a,
 *   mean = mean_a + delta * nb / n,  M2 = M2_a + M2_b + delta^2 * na * nb / n,  var = M2 / n.
 */
class MomentAccumulator {
  private count = 0;
  private mean: Float64Array | null = null;
  private m2: Float64Array | null = null;

  constructor(private readonly layerName: string) {}

  add(batch: BatchMoments): void {
    const channels = batch.mean.length;
    if (!this.mean || !this.m2) {
      this.mean = new Float64Array(channels);
      this.m2 = new Float64Array(channels);
    }
    if (this.mean.length !== channels) {
      throw new Error(`layer ${this.layerName}: a batch has ${channels} channels, an earlier one ${this.mean.length}`);
    }
    const na = this.count;
    const nb = batch.count;
    const n = na + nb;
    for (let c = 0; c < channels; c++) {
      const delta = batch.mean[c] - this.mean[c];
      this.mean[c] += (delta * nb) / n;
      this.m2[c] += batch.variance[c] * nb + (delta * delta * na * nb) / n;
    }
    this.count = n;
  }

  result(): ChannelMoments {
    if (!this.mean || !this.m2 || this.count === 0) throw new Error(`no data reached layer ${this.layerName}`);
    const variance = new Float32Array(this.m2.length);
    for (let c = 0; c < variance.length; c++) variance[c] = this.m2[c] / this.count;
    const mean = Float32Array.from(this.mean);
    for (let c = 0; c < mean.length; c++) {
      if (!Number.isFinite(mean[c]) || !Number.isFinite(variance[c])) {
        throw new Error(`layer ${this.layerName}: non-finite statistics in channel ${c} (NaN/Inf in the data or weights)`);
      }
    }
    return { mean, variance, count: this.count };
  }
}

/** Batches of `batchSize` (the last one may be smaller) as slices of one tensor, disposed after use. */
export function sliceBatches(all: tf.Tensor4D, batchSize: number): () => AsyncIterable<tf.Tensor4D> {
  return async function* () {
    for (let start = 0; start < all.shape[0]; start += batchSize) {
      const size = Math.min(batchSize, all.shape[0] - start);
      const batch = all.slice([start, 0, 0, 0], [size, -1, -1, -1]);
      try {
        yield batch;
      } finally {
        batch.dispose();
      }
    }
  };
}
