/**
 * Turning one benchmark run into rows, target verdicts and the BENCH.md section. Pure functions
 * over the JSON that run.ts writes (bench/results/latest.json), so a stored run can be re-rendered.
 *
 * Ratios are bnlab time / PyTorch time for the same model, regime and batch, measured in the
 * same run (lower is better; 1.0 = as fast as PyTorch).
 */
import type { PipelineResult } from './data-pipeline.ts';
import type { EndToEndResult } from './end-to-end.ts';
import type { RecalibrationResult } from './recalibration.ts';
import type { BenchModel } from './models.ts';
import type { RegimeResult, WorkerResult } from './worker.ts';

export interface PeerRegime {
  regime: string;
  status: 'ok' | 'oom' | 'error';
  message?: string;
  batch: number;
  msPerImage: number[];
  medianMsPerImage: number | null;
  peakRssMiB: number;
}

export interface PeerResult {
  status: 'ok' | 'unavailable' | 'error';
  message?: string;
  arch?: string;
  python?: string;
  torchVersion?: string;
  torchvisionVersion?: string | null;
  threads?: number;
  regimes: PeerRegime[];
  cpuSeconds?: number;
  /** wall-clock seconds of the whole process (set by run.ts) */
  wallSeconds?: number;
  peakRssMiB?: number;
}

/** The peer's answer for the recalibrate / e2e tasks (bench/torch_peer.py). */
export interface PeerTaskResult {
  status: 'ok' | 'unavailable' | 'error';
  message?: string;
  torchVersion?: string;
  recalibrate?: { images: number; batch: number; seconds: number[]; medianSeconds: number | null; peakRssMiB: number };
  e2e?: { seconds: number; runSeconds: number[]; peakRssMiB: number };
  cpuSeconds?: number;
  wallSeconds?: number;
  peakRssMiB?: number;
}

export interface ModelRun {
  model: BenchModel;
  /** one per tfjs backend run (wasm first) */
  backends: WorkerResult[];
  /** null: no peer architecture for this model, or the peer is unavailable */
  peer: PeerResult | null;
}

export interface BenchMeta {
  date: string;
  command: string;
  mode: 'short' | 'full';
  cores: number;
  cpuModel: string;
  memoryGiB: number;
  node: string;
  tfjs: string;
  torch: string | null;
  torchvision: string | null;
  python: string | null;
  peerStatus: string;
  tfjsNodeStatus: string;
  /** 1-minute load average before and after the run (from /proc/loadavg) */
  loadAverage: { start: number; end: number };
  /** average number of cores kept busy by processes other than the bench during the run; null if unknown */
  otherLoadCores: number | null;
  wallSeconds: number;
  /** later runs with --merge that replaced some parts of this one */
  merged?: Array<{ date: string; command: string; parts: string[]; otherLoadCores: number | null; loadAverage: { start: number; end: number }; wallSeconds: number }>;
}

export interface BenchRun {
  meta: BenchMeta;
  models: ModelRun[];
  pipeline: PipelineResult | null;
  /** absent in runs recorded before issue 11 */
  recalibration?: { bnlab: RecalibrationResult; peer: PeerTaskResult | null } | null;
  endToEnd?: { bnlab: EndToEndResult; peer: PeerTaskResult | null } | null;
}

export const TRAIN_REGIMES = ['freeze-all', 'train-bn', 'full'] as const;
export const TABLE_REGIMES = ['inference', ...TRAIN_REGIMES] as const;

export interface Row {
  model: string;
  regime: string;
  batch: number | null;
  /** median ms/image per tfjs backend ('wasm', 'cpu', 'tensorflow'); a string when not measured */
  backends: Record<string, number | string>;
  torch: number | string;
  /** wasm / PyTorch */
  ratio: number | null;
  wasmPeakRssMiB: number | null;
  wasmHeapMiB: number | null;
  torchPeakRssMiB: number | null;
}

function regimeOf(worker: WorkerResult | undefined, regime: string): RegimeResult | undefined {
  return worker?.regimes.find((r) => r.regime === regime);
}

function cell(result: { status: string; medianMsPerImage: number | null; message?: string } | undefined): number | string {
  if (!result) return '—';
  if (result.status === 'ok' && result.medianMsPerImage !== null) return result.medianMsPerImage;
  return result.status === 'oom' ? 'OOM' : result.status;
}

export function buildRows(run: BenchRun): Row[] {
  const rows: Row[] = [];
  for (const m of run.models) {
    const wasm = m.backends.find((b) => b.backend === 'wasm');
    for (const regime of TABLE_REGIMES) {
      const backends: Record<string, number | string> = {};
      for (const b of m.backends) backends[b.backend] = b.status === 'ok' ? cell(regimeOf(b, regime)) : b.status;
      const wasmRegime = regimeOf(wasm, regime);
      const peerRegime = m.peer?.regimes.find((r) => r.regime === regime);
      const torch = m.model.peerArch === null ? 'n/a' : !m.peer || m.peer.status !== 'ok' ? 'unavailable' : cell(peerRegime);
      const ratio = typeof backends.wasm === 'number' && typeof torch === 'number' ? backends.wasm / torch : null;
      if (Object.values(backends).every((v) => v === '—') && typeof torch !== 'number') continue;
      rows.push({
        model: m.model.id,
        regime,
        batch: wasmRegime?.batch ?? peerRegime?.batch ?? null,
        backends,
        torch,
        ratio,
        wasmPeakRssMiB: wasmRegime?.peakRssMiB ?? null,
        wasmHeapMiB: wasmRegime?.wasmHeapMiB ?? null,
        torchPeakRssMiB: peerRegime?.peakRssMiB ?? null,
      });
    }
  }
  return rows;
}

export interface TargetVerdict {
  target: string;
  measured: string;
  limit: string;
  /** null: could not be measured in this run */
  pass: boolean | null;
}

const TARGET_MODEL = 'mnv1-0.25-224';
const V2_MODEL = 'mnv2-0.35-224';
const WIDE_MODEL = 'mnv1-1.0-224';

function fmt(value: number, digits = 2): string {
  return value.toFixed(digits);
}

/** The issue's targets (issue 5), computed from the run. */
export function evaluateTargets(run: BenchRun): TargetVerdict[] {
  const rows = buildRows(run);
  const row = (model: string, regime: string) => rows.find((r) => r.model === model && r.regime === regime);
  const verdicts: TargetVerdict[] = [];
  const ratioTarget = (model: string, regime: string, limit: number, label: string) => {
    const r = row(model, regime);
    const wasm = r?.backends.wasm;
    verdicts.push(
      r?.ratio != null
        ? { target: label, measured: `${fmt(r.ratio)}× (wasm ${fmt(wasm as number, 1)} vs PyTorch ${fmt(r.torch as number, 1)} ms/image)`, limit: `<= ${limit}×`, pass: r.ratio <= limit }
        : { target: label, measured: `not measured (wasm: ${wasm ?? '—'}, PyTorch: ${r?.torch ?? '—'})`, limit: `<= ${limit}×`, pass: null },
    );
  };
  for (const [model, name] of [[TARGET_MODEL, 'MobileNet v1 α0.25@224'], [V2_MODEL, 'MobileNetV2 α0.35@224']] as const) {
    ratioTarget(model, 'full', 1.0, `${name} \`full\` training step, batch 16, wasm / PyTorch`);
    ratioTarget(model, 'train-bn', 1.0, `${name} \`train-bn\` training step, batch 16, wasm / PyTorch`);
    verdicts.push(inferenceVerdict(run, model, name, row(model, 'inference')?.torch));
  }

  const targetRun = run.models.find((m) => m.model.id === TARGET_MODEL);
  const drift = regimeOf(targetRun?.backends.find((b) => b.backend === 'wasm'), 'drift');
  verdicts.push(
    drift?.status === 'ok' && drift.driftCostFraction != null
      ? {
          target: 'Live BN drift collection (capture every step), MobileNet v1 α0.25@224 train-bn, wasm',
          measured: `${fmt(drift.driftCostFraction * 100, 1)} % (${fmt(drift.medianMsPerImage!, 1)} vs ${fmt(drift.medianBaselineMsPerImage!, 1)} ms/image; readout ${fmt(drift.driftReadoutMs ?? NaN, 1)} ms/step)`,
          limit: '<= 5 % of step time',
          pass: drift.driftCostFraction <= 0.05,
        }
      : { target: 'Live BN drift collection, MobileNet v1 α0.25@224 train-bn, wasm', measured: `not measured (${drift?.message ?? drift?.status ?? 'not run'})`, limit: '<= 5 % of step time', pass: null },
  );

  const trainTimes = TRAIN_REGIMES.map((regime) => row(TARGET_MODEL, regime)?.backends.wasm).filter((v): v is number => typeof v === 'number');
  const cached = run.pipeline?.medianCachedImagesPerSecond ?? null;
  if (trainTimes.length && cached) {
    const fastest = Math.min(...trainTimes);
    const trainRate = 1000 / fastest;
    const factor = cached / trainRate;
    verdicts.push({
      target: 'Data pipeline with cache vs the fastest MobileNet v1 α0.25@224 training regime on wasm',
      measured: `${fmt(factor, 1)}× (${fmt(cached, 0)} images/s cached, ${fmt(run.pipeline!.coldImagesPerSecond ?? NaN, 0)} cold; training ${fmt(trainRate, 1)} images/s)`,
      limit: '>= 10×',
      pass: factor >= 10,
    });
  } else {
    verdicts.push({ target: 'Data pipeline with cache vs training rate', measured: `not measured (pipeline: ${run.pipeline?.status ?? 'not run'}, training times: ${trainTimes.length})`, limit: '>= 10×', pass: null });
  }

  const wide = run.models.find((m) => m.model.id === WIDE_MODEL);
  const wideWasm = wide?.backends.find((b) => b.backend === 'wasm');
  const wideTrain = TRAIN_REGIMES.map((regime) => regimeOf(wideWasm, regime)).filter((r): r is RegimeResult => r !== undefined);
  if (wideTrain.length) {
    const failed = wideTrain.filter((r) => r.status !== 'ok');
    const ratios = TRAIN_REGIMES.map((regime) => {
      const r = row(WIDE_MODEL, regime);
      return `${regime} ${r?.ratio != null ? `${fmt(r.ratio)}×` : String(r?.backends.wasm ?? '—')}`;
    }).join(', ');
    const heap = Math.max(...wideTrain.map((r) => r.wasmHeapMiB ?? 0));
    verdicts.push({
      target: `MobileNet v1 α1.0@224 trains at batch ${wideTrain[0]!.batch} on wasm without running out of memory`,
      measured: failed.length
        ? `${failed.map((r) => `${r.regime}: ${r.status}${r.message ? ` (${r.message.slice(0, 120)})` : ''}`).join('; ')}; wasm heap ${fmt(heap, 0)} MiB`
        : `all training regimes ran; wasm heap ${fmt(heap, 0)} MiB; wasm/PyTorch: ${ratios}`,
      limit: 'no OOM',
      pass: failed.length === 0,
    });
  } else {
    verdicts.push({ target: 'MobileNet v1 α1.0@224 trains at batch 32 without OOM', measured: 'not run (filtered out?)', limit: 'no OOM', pass: null });
  }
  verdicts.push(recalibrationVerdict(run));
  verdicts.push(endToEndVerdict(run));
  return verdicts;
}

/**
 * Inference as bnlab runs it for inference (`bnlab predict`: BN folded into the convolutions,
 * folded-inference.ts), with plain `model.predict` (what validation during training uses, kept
 * unfolded so the frozen-prefix path can be compared with it bit for bit) alongside.
 */
function inferenceVerdict(run: BenchRun, model: string, name: string, torch: number | string | undefined): TargetVerdict {
  const target = `${name} inference (\`bnlab predict\`, BN folded), batch 16, wasm / PyTorch`;
  const wasm = regimeOf(run.models.find((m) => m.model.id === model)?.backends.find((b) => b.backend === 'wasm'), 'inference');
  const folded = wasm?.status === 'ok' ? wasm.medianFoldedMsPerImage ?? null : null;
  if (folded == null || typeof torch !== 'number') {
    return { target, measured: `not measured (folded: ${folded ?? '—'}, PyTorch: ${torch ?? '—'})`, limit: '<= 0.8×', pass: null };
  }
  const plain = wasm?.medianMsPerImage;
  return {
    target,
    measured: `${fmt(folded / torch)}× (folded ${fmt(folded, 1)} vs PyTorch ${fmt(torch, 1)} ms/image; plain model.predict ${plain != null ? `${fmt(plain, 1)} ms/image, ${fmt(plain / torch)}×` : '—'})`,
    limit: '<= 0.8×',
    pass: folded / torch <= 0.8,
  };
}

function recalibrationVerdict(run: BenchRun): TargetVerdict {
  const target = 'Recalibration of MobileNet v1 α0.25@224 on 100 images, bnlab single walk / PyTorch single walk';
  const r = run.recalibration;
  const ours = r?.bnlab.status === 'ok' ? r.bnlab.medianWalkSeconds : null;
  const theirs = r?.peer?.status === 'ok' ? r.peer.recalibrate?.medianSeconds ?? null : null;
  if (ours == null || theirs == null) {
    return { target, measured: `not measured (bnlab: ${r?.bnlab.status ?? 'not run'}${r?.bnlab.message ? ` ${r.bnlab.message.slice(0, 120)}` : ''}; PyTorch: ${r?.peer?.status ?? 'unavailable'})`, limit: '<= 1.5×', pass: null };
  }
  const ratio = ours / theirs;
  const prefix = r!.bnlab.prefixSeconds;
  return {
    target,
    measured: `${fmt(ratio)}× (bnlab ${fmt(ours, 1)} s vs PyTorch ${fmt(theirs, 1)} s${prefix != null ? `; the per-layer prefix implementation took ${fmt(prefix, 1)} s` : ''})`,
    limit: '<= 1.5×',
    pass: ratio <= 1.5,
  };
}

function endToEndVerdict(run: BenchRun): TargetVerdict {
  const target = 'End to end: 5 seeds × (freeze-all, adabn), ants-bees, 5 epochs, augmentation off, MobileNet v1 α0.25@224; bnlab / PyTorch loop that recomputes the frozen backbone every step';
  const e = run.endToEnd;
  const ours = e?.bnlab.status === 'ok' ? e.bnlab.cached?.seconds ?? null : null;
  const theirs = e?.peer?.status === 'ok' ? e.peer.e2e?.seconds ?? null : null;
  if (ours == null || theirs == null) {
    return { target, measured: `not measured (bnlab: ${e?.bnlab.status ?? 'not run'}${e?.bnlab.message ? ` ${e.bnlab.message.slice(0, 120)}` : ''}; PyTorch: ${e?.peer?.status ?? 'unavailable'})`, limit: '<= 0.3×', pass: null };
  }
  const ratio = ours / theirs;
  return { target, measured: `${fmt(ratio)}× (bnlab ${fmt(ours, 0)} s vs PyTorch ${fmt(theirs, 0)} s)`, limit: '<= 0.3×', pass: ratio <= 0.3 };
}

/** The recalibration and end-to-end sections of BENCH.md. */
export function tasksSection(run: BenchRun): string[] {
  const out: string[] = [];
  const r = run.recalibration;
  if (r) {
    const b = r.bnlab;
    out.push('### Recalibration (single walk)', '');
    out.push(
      b.status === 'ok'
        ? `bnlab \`recalibrateBatchNorm\` (server/stats/population.ts), wasm, ${b.images} ants-bees training images decoded beforehand, batches of ${b.batch}, ${b.bnLayers} BN layers: ` +
            `median ${num(b.medianWalkSeconds, 2)} s of ${b.walkSeconds.length} (${b.walkSeconds.map((t) => t.toFixed(2)).join(', ')}); held activations peak ${num(b.walkPeakHeldMiB, 0)} MiB in memory, ${num(b.walkPeakSpilledMiB, 0)} MiB on disk; ` +
            `peak RSS ${num(b.peakRssMiB, 0)} MiB. The per-layer prefix implementation it replaces: ${b.prefixSeconds == null ? 'not run' : `${num(b.prefixSeconds, 1)} s`}` +
            `${b.identicalToPrefix == null ? '' : b.identicalToPrefix ? ', identical statistics (bit for bit)' : ', **statistics differ**'}.`
        : `bnlab: ${b.status} ${b.message ?? ''}`,
      '',
      r.peer?.status === 'ok' && r.peer.recalibrate
        ? `PyTorch (bench/torch_peer.py \`bn_walk_recalibrate\`, the same exact single walk, ${r.peer.recalibrate.images} in-memory images, batches of ${r.peer.recalibrate.batch}): median ${num(r.peer.recalibrate.medianSeconds, 2)} s (${r.peer.recalibrate.seconds.map((t) => t.toFixed(2)).join(', ')}); peak RSS ${num(r.peer.recalibrate.peakRssMiB, 0)} MiB.`
        : `PyTorch: ${r.peer?.status ?? 'unavailable'} ${r.peer?.message ?? ''}`,
      '',
    );
  }
  const e = run.endToEnd;
  if (e) {
    const b = e.bnlab;
    out.push('### End to end', '');
    if (b.status === 'ok' && b.cached) {
      const pass = (label: string, p: NonNullable<EndToEndResult['cached']>) =>
        `${label}: ${num(p.seconds, 0)} s for ${p.runSeconds.length} runs (per run ${p.runSeconds.map((t) => t.toFixed(1)).join(', ')} s; val accuracy ${p.valAccuracy.map((a) => a.toFixed(3)).join(', ')})`;
      out.push(
        `bnlab, one process, ${b.seeds} seeds × ${b.policies.join(' + ')} via \`runComparison\` (what \`bnlab compare\` runs), ${b.trainCount} training / ${b.valCount} validation images, ${b.stepsPerEpoch} steps of ${b.batch} per epoch, ${b.epochs} epochs, per-epoch validation and checkpoints, fresh decoded-image caches; peak RSS ${num(b.peakRssMiB, 0)} MiB.`,
        '',
        `- ${pass('with the frozen-prefix cache (default)', b.cached)}`,
        ...(b.uncached ? [`- ${pass('whole model every step (BNLAB_FROZEN_PREFIX=0)', b.uncached)}`] : []),
        ...[...new Set(b.cached.notes.map((n) => n.replace(/\d+ computed in [\d.]+ s, \d+ reused/, 'N computed, M reused')))].map((n) => `- run log: ${n}`),
        '',
      );
    } else out.push(`bnlab: ${b.status} ${b.message ?? ''}`, '');
    out.push(
      e.peer?.status === 'ok' && e.peer.e2e
        ? `PyTorch loop (bench/torch_peer.py \`run_e2e\`: a fresh model per run, adabn's single-walk recalibration, every step through the whole model with the backbone frozen and BN in eval mode, no_grad validation per epoch, in-memory tensors): ${num(e.peer.e2e.seconds, 0)} s (per run ${e.peer.e2e.runSeconds.map((t) => t.toFixed(1)).join(', ')} s); peak RSS ${num(e.peer.e2e.peakRssMiB, 0)} MiB.`
        : `PyTorch: ${e.peer?.status ?? 'unavailable'} ${e.peer?.message ?? ''}`,
      '',
    );
  }
  const folded = run.models.flatMap((m) => {
    const inference = regimeOf(m.backends.find((b) => b.backend === 'wasm'), 'inference');
    if (inference?.medianFoldedMsPerImage == null || inference.medianMsPerImage == null) return [];
    const torch = m.peer?.regimes.find((g) => g.regime === 'inference')?.medianMsPerImage ?? null;
    return [[m.model.id, num(inference.medianMsPerImage, 2), num(inference.medianFoldedMsPerImage, 2), torch == null ? '—' : `${(inference.medianFoldedMsPerImage / torch).toFixed(2)}×`]];
  });
  if (folded.length) {
    out.push('### Inference with BN folded', '', 'The same inference batches through `foldedPredictor` (server/model/folded-inference.ts: inference-mode BN folded into the convolution before it, ReLU/ReLU6 fused), which `bnlab predict` uses.', '');
    out.push(table(['model', 'model.predict ms/img', 'folded ms/img', 'folded / PyTorch'], folded), '');
  }
  return out;
}

// ------------------------------------------------------------------------------------------------
// Rendering

function num(value: number | string | null | undefined, digits = 1): string {
  if (value === null || value === undefined) return '—';
  return typeof value === 'number' ? (Number.isFinite(value) ? value.toFixed(digits) : String(value)) : value;
}

function backendNames(run: BenchRun): string[] {
  const names = new Set<string>();
  run.models.forEach((m) => m.backends.forEach((b) => names.add(b.backend)));
  return [...names];
}

function table(header: string[], body: string[][]): string {
  return [`| ${header.join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`, ...body.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

export function timesTable(run: BenchRun): string {
  const backends = backendNames(run);
  const header = ['model', 'regime', 'batch', ...backends.map((b) => `${b} ms/img`), 'PyTorch ms/img', 'wasm / PyTorch', 'wasm peak RSS MiB', 'wasm heap MiB', 'PyTorch peak RSS MiB'];
  const body = buildRows(run).map((r) => [
    r.model,
    r.regime,
    num(r.batch, 0),
    ...backends.map((b) => num(r.backends[b] ?? '—')),
    num(r.torch),
    r.ratio === null ? '—' : `${r.ratio.toFixed(2)}×`,
    num(r.wasmPeakRssMiB, 0),
    num(r.wasmHeapMiB, 0),
    num(r.torchPeakRssMiB, 0),
  ]);
  return table(header, body);
}

export function driftTable(run: BenchRun): string {
  const body: string[][] = [];
  for (const m of run.models) {
    for (const b of m.backends) {
      const d = regimeOf(b, 'drift');
      if (!d) continue;
      body.push([
        m.model.id,
        b.backend,
        d.status === 'ok' ? num(d.medianBaselineMsPerImage) : d.status,
        d.status === 'ok' ? num(d.medianMsPerImage) : '—',
        d.driftCostFraction != null ? `${(d.driftCostFraction * 100).toFixed(1)} %` : '—',
        num(d.driftReadoutMs),
      ]);
    }
  }
  return table(['model', 'backend', 'train-bn step ms/img (drift off)', 'drift on ms/img', 'cost', 'readout ms/step'], body);
}

export function targetsTable(run: BenchRun): string {
  return table(
    ['target', 'measured', 'limit', 'result'],
    evaluateTargets(run).map((v) => [v.target, v.measured, v.limit, v.pass === null ? 'not measured' : v.pass ? '**pass**' : '**FAIL**']),
  );
}

export function renderSection(run: BenchRun): string {
  const m = run.meta;
  const load =
    m.otherLoadCores === null
      ? `unknown (load average ${m.loadAverage.start.toFixed(1)} → ${m.loadAverage.end.toFixed(1)})`
      : `${m.otherLoadCores.toFixed(2)} of ${m.cores} cores busy with other processes on average during the run ` +
        `(load average ${m.loadAverage.start.toFixed(1)} → ${m.loadAverage.end.toFixed(1)})` +
        (m.otherLoadCores > 0.25 ? ': **other load was present, absolute times are inflated; ratios are interleaved per model**' : ': the machine was otherwise idle');
  const p = run.pipeline;
  const notes = [
    ...run.models.flatMap((r) => r.backends.filter((b) => b.note).map((b) => `- ${r.model.id} (${b.backend}): ${b.note}`)),
    ...run.models.flatMap((r) =>
      r.backends.flatMap((b) =>
        b.regimes.filter((g) => g.status !== 'ok').map((g) => `- ${r.model.id} ${g.regime} on ${b.backend}: ${g.status}${g.message ? ` — ${g.message.slice(0, 300)}` : ''}`),
      ),
    ),
    ...run.models.flatMap((r) =>
      (r.peer?.regimes ?? []).filter((g) => g.status !== 'ok').map((g) => `- ${r.model.id} ${g.regime} on PyTorch: ${g.status}${g.message ? ` — ${g.message.slice(0, 300)}` : ''}`),
    ),
    ...run.models.map((r) => {
      const cores = (p: { cpuSeconds?: number; wallSeconds?: number } | null | undefined) =>
        p?.cpuSeconds && p.wallSeconds ? `${(p.cpuSeconds / p.wallSeconds).toFixed(2)} cores (${p.cpuSeconds.toFixed(0)} CPU-s in ${p.wallSeconds.toFixed(0)} s)` : '—';
      return `- ${r.model.id} CPU used: ${r.backends.map((b) => `${b.backend} ${cores(b)}`).join(', ')}${r.peer ? `, PyTorch ${cores(r.peer)}` : ''}`;
    }),
    ...run.models.flatMap((r) => r.backends.flatMap((b) => b.regimes.filter((g) => g.leakedTensors > 0).map((g) => `- ${r.model.id} ${g.regime} on ${b.backend}: ${g.leakedTensors} tensors leaked`))),
  ];
  return [
    `Run ${m.date} (${m.mode}; ${m.wallSeconds.toFixed(0)} s), command: \`${m.command}\``,
    '',
    `- Machine: ${m.cores} cores (\`nproc\`), CPU model \`${m.cpuModel}\` (/proc/cpuinfo), ${m.memoryGiB.toFixed(0)} GiB RAM`,
    `- Versions: Node ${m.node}, @tensorflow/tfjs ${m.tfjs}, PyTorch ${m.torch ?? '—'}, torchvision ${m.torchvision ?? '—'} (${m.python ?? 'no python with torch'})`,
    `- PyTorch peer: ${m.peerStatus}`,
    `- tfjs-node ('tensorflow' backend): ${m.tfjsNodeStatus}`,
    `- Other load: ${load}`,
    ...(m.merged ?? []).map(
      (g) =>
        `- Re-measured by \`${g.command}\` at ${g.date} (${g.wallSeconds.toFixed(0)} s): ${g.parts.join(', ')}; other load ${g.otherLoadCores === null ? 'unknown' : `${g.otherLoadCores.toFixed(2)} of ${m.cores} cores`} (load average ${g.loadAverage.start.toFixed(1)} → ${g.loadAverage.end.toFixed(1)})`,
    ),
    '',
    '### Targets (issues 5 and 11)',
    '',
    targetsTable(run),
    '',
    '### Median ms per image',
    '',
    'Training regimes run bnlab\'s `trainStep` (server/train/step.ts) with Adam; inference is `model.predict`. ' +
      'Peak RSS and wasm heap are process peaks up to that regime (one process per model and backend; regimes run in the order shown).',
    '',
    timesTable(run),
    '',
    '### BN drift collection cost',
    '',
    'train-bn steps with and without capture of every BN layer\'s batch mean plus the drift computation (snapshotBn + driftAll), alternating; the training loop only captures every `logEvery` steps, so this is the worst case.',
    '',
    driftTable(run),
    '',
    '### Data pipeline',
    '',
    p && p.status === 'ok'
      ? `ImageDataset on \`${p.data}\` (${p.images} training images, ${p.imageSize}×${p.imageSize}, random resized crop + flip): cold ${num(p.coldImagesPerSecond, 0)} images/s (every file decoded), cached ${num(p.medianCachedImagesPerSecond, 0)} images/s (median of ${p.cachedImagesPerSecond.length} epochs).`
      : `not measured: ${p?.message ?? 'not run'}`,
    '',
    ...tasksSection(run),
    ...(notes.length ? ['### Notes', '', ...notes, ''] : []),
  ].join('\n');
}

export const BENCH_MARKER_START = '<!-- bench:results:start -->';
export const BENCH_MARKER_END = '<!-- bench:results:end -->';

/** Replace the text between the markers (appending both markers when absent). */
export function replaceBetweenMarkers(document: string, section: string): string {
  const start = document.indexOf(BENCH_MARKER_START);
  const end = document.indexOf(BENCH_MARKER_END);
  const block = `${BENCH_MARKER_START}\n${section.trim()}\n${BENCH_MARKER_END}`;
  if (start < 0 || end < start) return `${document.trimEnd()}\n\n${block}\n`;
  return document.slice(0, start) + block + document.slice(end + BENCH_MARKER_END.length);
}

/** Fixed-width console table of the times (what `npm run bench` prints). */
export function consoleTable(run: BenchRun): string {
  const backends = backendNames(run);
  const header = ['model', 'regime', 'batch', ...backends, 'PyTorch', 'ratio', 'RSS', 'heap'];
  const body = buildRows(run).map((r) => [
    r.model,
    r.regime,
    num(r.batch, 0),
    ...backends.map((b) => num(r.backends[b] ?? '—')),
    num(r.torch),
    r.ratio === null ? '—' : `${r.ratio.toFixed(2)}x`,
    num(r.wasmPeakRssMiB, 0),
    num(r.wasmHeapMiB, 0),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const targets = evaluateTargets(run).map((v) => `  [${v.pass === null ? 'n/a ' : v.pass ? 'pass' : 'FAIL'}] ${v.target}: ${v.measured} (limit ${v.limit})`);
  return [`ms/image (median); ratio = wasm / PyTorch; RSS = wasm process peak MiB; heap = wasm heap MiB`, line(header), ...body.map(line), '', 'Targets:', ...targets].join('\n');
}
