/**
 * `npm run bench`: bnlab's performance benchmark (issue 5).
 *
 *   npm run bench [-- --full] [--only <regex>] [--backends wasm,cpu] [--no-peer] [--no-write] [--merge]
 *
 * --merge keeps the stored run and replaces only the parts this run measured (models by id, the
 * data pipeline, recalibration, end to end), recording this run's date, command and load under
 * meta.merged, so a part can be re-measured when the machine is quieter.
 *
 * For each model (bench/models.ts) it runs, one after the other so that their timings see the
 * same machine state: a wasm worker process, the PyTorch peer (bench/torch_peer.py, when some
 * python imports torch), a cpu worker (small configurations only) and a tfjs-node worker (when
 * @tensorflow/tfjs-node loads). Then the data pipeline. It prints a table, writes
 * bench/results/latest.json and rewrites the results section of BENCH.md.
 *
 * --only matches (regex, case-insensitive) model ids and 'data-pipeline'. Models and data come
 * from BNLAB_MODELS_DIR / BNLAB_SHARED_DATA, defaulting to ../shared/{models,data} beside the
 * project when those exist (the same configuration the tests use).
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PROJECT_ROOT } from '../server/config.ts';
import type { PipelineResult } from './data-pipeline.ts';
import type { EndToEndResult } from './end-to-end.ts';
import type { RecalibrationResult } from './recalibration.ts';
import { BENCH_MODELS, INFERENCE_BATCH, type BenchModel } from './models.ts';
import { consoleTable, renderSection, replaceBetweenMarkers, type BenchRun, type ModelRun, type PeerResult, type PeerTaskResult } from './report.ts';
import { FULL_POLICY, SHORT_POLICY, type RepeatPolicy } from './timing.ts';
import { parseResultLine, RESULT_PREFIX } from './result-line.ts';
import type { WorkerRegime, WorkerResult } from './worker.ts';

const BENCH_DIR = path.join(PROJECT_ROOT, 'bench');

interface Options {
  full: boolean;
  only: RegExp | null;
  backends: string[] | null;
  peer: boolean;
  write: boolean;
  /** keep the stored run (bench/results/latest.json) and replace only what this run measured */
  merge: boolean;
}

function parseOptions(argv: string[]): Options {
  const value = (name: string) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const only = value('--only');
  const backends = value('--backends');
  return {
    full: argv.includes('--full'),
    only: only ? new RegExp(only, 'i') : null,
    backends: backends ? backends.split(',') : null,
    peer: !argv.includes('--no-peer'),
    write: !argv.includes('--no-write'),
    merge: argv.includes('--merge'),
  };
}

function log(message: string) {
  process.stderr.write(`[bench] ${message}\n`);
}

function defaultSharedDir(envName: string, sub: string) {
  if (process.env[envName]) return;
  const candidate = path.resolve(PROJECT_ROOT, '..', 'shared', sub);
  if (fs.existsSync(candidate)) process.env[envName] = candidate;
}

/** Total busy jiffies of all CPUs (/proc/stat), to account for load from other processes. */
function busyJiffies(): number | null {
  try {
    const cpu = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const idle = (cpu[3] ?? 0) + (cpu[4] ?? 0);
    return cpu.slice(0, 8).reduce((a, b) => a + b, 0) - idle;
  } catch {
    return null;
  }
}

/** Installed version of an npm package (without loading it). */
function packageVersion(name: string): string {
  try {
    return JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, 'node_modules', name, 'package.json'), 'utf8')).version;
  } catch {
    return 'not installed';
  }
}

function loadAverage(): number {
  return os.loadavg()[0] ?? 0;
}

function cpuModel(): string {
  try {
    const line = fs.readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('model name'));
    return line ? line.split(':')[1]!.trim() : os.cpus()[0]?.model ?? 'unknown';
  } catch {
    return os.cpus()[0]?.model ?? 'unknown';
  }
}

/** Runs a child process; resolves with its result line's JSON (see result-line.ts) or an error object. */
function runChild(command: string, args: string[], timeoutMs: number, prefix: string, env: Record<string, string> = {}): Promise<unknown> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: PROJECT_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => {
      stderr += d;
      // pass the children's progress lines through
      for (const line of d.toString().split('\n')) if (line.startsWith('[bench]')) process.stderr.write(`${line}\n`);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    const started = performance.now();
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const parsed = parseResultLine(stdout, prefix);
      if (parsed !== null && typeof parsed === 'object') {
        resolve({ ...parsed, wallSeconds: (performance.now() - started) / 1000 });
        return;
      }
      const why = signal === 'SIGKILL' ? `killed after ${timeoutMs / 1000} s` : `exit ${code ?? signal}`;
      const tail = stderr.trim().split('\n').slice(-3).join(' | ');
      resolve({ status: 'error', message: `${why}${/out of memory|heap/i.test(stderr) ? ' (out of memory)' : ''}: ${tail.slice(0, 400)}`, regimes: [] });
    });
  });
}

function policyArgs(policy: RepeatPolicy): string[] {
  return ['--warmup', String(policy.warmup), '--iterations', String(policy.iterations), '--min-iterations', String(policy.minIterations), '--budget-ms', String(policy.budgetMs)];
}

/** The python that imports torch: BNLAB_PYTHON, python3 on PATH, Debian's /usr/bin/python3, python. */
function findTorchPython(): { python: string | null; tried: string[] } {
  const candidates = [process.env.BNLAB_PYTHON, 'python3', '/usr/bin/python3', 'python'].filter((c): c is string => !!c);
  const tried: string[] = [];
  for (const candidate of [...new Set(candidates)]) {
    const probe = spawnSync(candidate, ['-c', 'import torch'], { stdio: 'ignore', timeout: 60_000 });
    tried.push(candidate);
    if (probe.status === 0) return { python: candidate, tried };
  }
  return { python: null, tried };
}

async function probeTfjsNode(): Promise<string | null> {
  const name = '@tensorflow/tfjs-node';
  try {
    await import(name);
    return null;
  } catch (error) {
    return (error as Error).message.split('\n')[0] ?? 'failed to load';
  }
}

/**
 * Models also run with bnlab's SIMD kernels split over 2 threads (BNLAB_KERNEL_THREADS=2, off by
 * default: simd-split.ts), as a column of their own, to show what the helper thread does here.
 */
const KERNEL_THREADS_MODELS = new Set(['mnv1-0.25-224', 'mnv2-0.35-224']);
export const KERNEL_THREADS_BACKEND = 'wasm, 2 kernel threads';

/** Models whose drift cost a short run measures (a --full run measures every model but α1.0). */
const SHORT_DRIFT_MODELS = new Set(['demo', 'mnv1-0.25-224']);

function workerRegimes(model: BenchModel, backend: string, full: boolean): WorkerRegime[] {
  const drift = !model.heavy && (full || SHORT_DRIFT_MODELS.has(model.id));
  const all: WorkerRegime[] = ['inference', 'freeze-all', 'train-bn', ...(drift ? (['drift'] as WorkerRegime[]) : []), 'full'];
  if (backend !== 'cpu') return all;
  if (model.cpu === 'all') return all.filter((r) => r !== 'drift');
  if (model.cpu === 'inference') return ['inference'];
  return [];
}

async function main() {
  const options = parseOptions(process.argv.slice(2));
  defaultSharedDir('BNLAB_MODELS_DIR', 'models');
  defaultSharedDir('BNLAB_SHARED_DATA', 'data');
  const policy = options.full ? FULL_POLICY : SHORT_POLICY;
  const started = Date.now();
  const busyStart = busyJiffies();
  const loadStart = loadAverage();
  const clockTicks = 100; // USER_HZ on Linux
  let ourCpuSeconds = 0;

  const tfjsNodeError = await probeTfjsNode();
  const backends = (options.backends ?? ['wasm', 'cpu', 'tensorflow']).filter((b) => b !== 'tensorflow' || tfjsNodeError === null);
  const { python, tried } = options.peer ? findTorchPython() : { python: null, tried: [] };
  const peerStatus = !options.peer
    ? 'disabled (--no-peer)'
    : python
      ? `ran with ${python}, torch.set_num_threads(2), same batch sizes`
      : `peer unavailable: no python that imports torch (tried ${tried.join(', ')}; set BNLAB_PYTHON)`;
  log(`models ${process.env.BNLAB_MODELS_DIR ?? '(BNLAB_MODELS_DIR unset)'}; ${peerStatus}; tfjs-node: ${tfjsNodeError === null ? 'loaded' : 'not available'}`);

  const models = BENCH_MODELS.filter((m) => !options.only || options.only.test(m.id));
  const modelRuns: ModelRun[] = [];
  let torchVersion: string | null = null;
  let torchvisionVersion: string | null = null;
  const timeoutMs = (options.full ? 40 : 15) * 60_000;

  for (const model of models) {
    const run: ModelRun = { model, backends: [], peer: null };
    for (const backend of backends) {
      const regimes = workerRegimes(model, backend, options.full);
      if (!regimes.length) continue;
      // the cpu backend is ~100x slower than wasm: one warmup, few timed steps
      const p = backend === 'cpu' ? { ...policy, warmup: 1, iterations: Math.min(policy.iterations, 3), minIterations: 1, budgetMs: policy.budgetMs / 4 } : model.heavy ? { ...policy, warmup: 1, minIterations: 2 } : policy;
      /** One worker process for `model` on `backend` (result labelled `label`), its CPU time counted. */
      const runWorker = async (list: WorkerRegime[], label: string, env: Record<string, string> = {}) => {
        const args = ['--import', 'tsx', path.join(BENCH_DIR, 'worker.ts'), '--model', model.id, '--backend', backend, '--regimes', list.join(','), ...policyArgs(p)];
        const result = (await runChild(process.execPath, args, timeoutMs, RESULT_PREFIX, env)) as WorkerResult;
        result.regimes ??= [];
        ourCpuSeconds += result.cpuSeconds ?? 0;
        run.backends.push({ ...result, backend: label });
      };
      log(`${model.id} on ${backend}: ${regimes.join(', ')}`);
      await runWorker(regimes, backend);
      if (backend === 'wasm' && KERNEL_THREADS_MODELS.has(model.id)) {
        const split: WorkerRegime[] = ['inference', 'train-bn', 'full'];
        log(`${model.id} on wasm with BNLAB_KERNEL_THREADS=2: ${split.join(', ')}`);
        await runWorker(split, KERNEL_THREADS_BACKEND, { BNLAB_KERNEL_THREADS: '2' });
      }
      if (backend === 'wasm' && python && model.peerArch) {
        log(`${model.id} on PyTorch (${model.peerArch})`);
        const p = model.heavy ? { ...policy, warmup: 1, minIterations: 2 } : policy;
        const peer = (await runChild(
          python,
          [path.join(BENCH_DIR, 'torch_peer.py'), '--arch', model.peerArch, '--size', String(model.inputSize), '--classes', String(model.numClasses), '--train-batch', String(model.trainBatch), '--infer-batch', String(INFERENCE_BATCH), '--threads', '2', ...policyArgs(p)],
          timeoutMs,
          '', // the peer prints plain JSON
        )) as PeerResult;
        peer.regimes ??= [];
        ourCpuSeconds += peer.cpuSeconds ?? 0;
        torchVersion ??= peer.torchVersion ?? null;
        torchvisionVersion ??= peer.torchvisionVersion ?? null;
        run.peer = peer;
      }
    }
    modelRuns.push(run);
  }

  let pipeline: PipelineResult | null = null;
  if (!options.only || options.only.test('data-pipeline')) {
    const data = path.join(process.env.BNLAB_SHARED_DATA ?? path.resolve(PROJECT_ROOT, '..', 'shared', 'data'), 'ants-bees');
    log(`data pipeline on ${data}`);
    pipeline = (await runChild(process.execPath, ['--import', 'tsx', path.join(BENCH_DIR, 'data-pipeline.ts'), '--data', data, '--size', '224', '--batch', '16', ...policyArgs({ ...policy, warmup: 1 })], timeoutMs, RESULT_PREFIX)) as PipelineResult;
    ourCpuSeconds += pipeline.cpuSeconds ?? 0;
  }

  const antsBees = path.join(process.env.BNLAB_SHARED_DATA ?? path.resolve(PROJECT_ROOT, '..', 'shared', 'data'), 'ants-bees');
  const peerTask = async (args: string[]): Promise<PeerTaskResult | null> => {
    if (!python) return null;
    const result = (await runChild(python, [path.join(BENCH_DIR, 'torch_peer.py'), '--arch', 'mobilenet_v1:0.25', '--size', '224', '--classes', '2', '--threads', '2', ...args], timeoutMs * 3, '')) as PeerTaskResult;
    ourCpuSeconds += result.cpuSeconds ?? 0;
    torchVersion ??= result.torchVersion ?? null;
    return result;
  };
  let recalibration: BenchRun['recalibration'] = null;
  if (!options.only || options.only.test('recalibration')) {
    log(`recalibration of mnv1-0.25-224 on 100 images (single walk, then the per-layer prefix reference once)`);
    const walkPolicy = { warmup: 1, iterations: options.full ? 5 : 3, minIterations: 2, budgetMs: policy.budgetMs };
    const bnlab = (await runChild(process.execPath, ['--import', 'tsx', path.join(BENCH_DIR, 'recalibration.ts'), '--data', antsBees, '--images', '100', '--batch', '16', ...policyArgs(walkPolicy)], timeoutMs, RESULT_PREFIX)) as RecalibrationResult;
    ourCpuSeconds += bnlab.cpuSeconds ?? 0;
    log(`recalibration on PyTorch (single walk)`);
    const peer = await peerTask(['--regimes', 'recalibrate', '--images', String(bnlab.images || 100), '--recal-batch', '16', ...policyArgs(walkPolicy)]);
    recalibration = { bnlab, peer };
  }
  let endToEnd: BenchRun['endToEnd'] = null;
  if (!options.only || options.only.test('end-to-end')) {
    log(`end-to-end: 5 seeds x (freeze-all, adabn), 5 epochs, ants-bees, augmentation off`);
    const bnlab = (await runChild(process.execPath, ['--import', 'tsx', path.join(BENCH_DIR, 'end-to-end.ts'), '--data', antsBees, '--seeds', '5', '--epochs', '5', '--batch', '16', '--uncached', options.full ? '1' : '0'], timeoutMs * 2, RESULT_PREFIX)) as EndToEndResult;
    ourCpuSeconds += bnlab.cpuSeconds ?? 0;
    log(`end-to-end on PyTorch (frozen backbone recomputed every step)`);
    const peer =
      bnlab.status === 'ok'
        ? await peerTask(['--regimes', 'e2e', '--seeds', '5', '--epochs', '5', '--train-batch', '16', '--train-count', String(bnlab.trainCount), '--val-count', String(bnlab.valCount), '--steps-per-epoch', String(bnlab.stepsPerEpoch), '--policies', 'freeze-all,adabn'])
        : null;
    endToEnd = { bnlab, peer };
  }

  const wallSeconds = (Date.now() - started) / 1000;
  const busyEnd = busyJiffies();
  const self = process.cpuUsage();
  ourCpuSeconds += (self.user + self.system) / 1e6;
  const otherLoadCores = busyStart !== null && busyEnd !== null ? Math.max(0, ((busyEnd - busyStart) / clockTicks - ourCpuSeconds) / wallSeconds) : null;
  const argv = process.argv.slice(2);
  const fresh: BenchRun = {
    meta: {
      date: new Date().toISOString(),
      command: `npm run bench${argv.length ? ` -- ${argv.map((a) => (/^[\w.,:=/-]+$/.test(a) ? a : `'${a}'`)).join(' ')}` : ''}`,
      mode: options.full ? 'full' : 'short',
      cores: os.availableParallelism(),
      cpuModel: cpuModel(),
      memoryGiB: os.totalmem() / 1024 ** 3,
      node: process.version,
      tfjs: packageVersion('@tensorflow/tfjs'),
      torch: torchVersion,
      torchvision: torchvisionVersion,
      python,
      peerStatus,
      tfjsNodeStatus: tfjsNodeError === null ? 'loaded and benchmarked' : `not available here (${tfjsNodeError}); see shared/notes/tfjs-facts.md: its native library cannot be downloaded on this machine`,
      loadAverage: { start: loadStart, end: loadAverage() },
      otherLoadCores,
      wallSeconds,
    },
    models: modelRuns,
    pipeline,
    recalibration,
    endToEnd,
  };

  const resultsFile = path.join(BENCH_DIR, 'results', 'latest.json');
  const report = options.merge && fs.existsSync(resultsFile) ? mergeRuns(JSON.parse(fs.readFileSync(resultsFile, 'utf8')) as BenchRun, fresh, options.only) : fresh;
  console.log(consoleTable(report));
  console.log(`\nOther load: ${otherLoadCores === null ? 'unknown' : `${otherLoadCores.toFixed(2)} cores busy with other processes on average`}; wall ${wallSeconds.toFixed(0)} s`);
  if (options.write) {
    const resultsDir = path.join(BENCH_DIR, 'results');
    fs.mkdirSync(resultsDir, { recursive: true });
    fs.writeFileSync(path.join(resultsDir, 'latest.json'), `${JSON.stringify(report, null, 2)}\n`);
    const benchMd = path.join(PROJECT_ROOT, 'BENCH.md');
    const current = fs.existsSync(benchMd) ? fs.readFileSync(benchMd, 'utf8') : '# bnlab benchmark\n';
    fs.writeFileSync(benchMd, replaceBetweenMarkers(current, renderSection(report)));
    log(`wrote bench/results/latest.json and BENCH.md`);
  }
}

/** The stored run with the parts `fresh` measured replaced (see --merge). */
function mergeRuns(stored: BenchRun, fresh: BenchRun, only: RegExp | null): BenchRun {
  const measured = (part: string) => !only || only.test(part);
  const models = stored.models.map((m) => fresh.models.find((f) => f.model.id === m.model.id) ?? m);
  for (const f of fresh.models) if (!models.includes(f)) models.push(f);
  const parts = [...fresh.models.map((m) => m.model.id), ...['data-pipeline', 'recalibration', 'end-to-end'].filter(measured)];
  return {
    meta: { ...stored.meta, merged: [...(stored.meta.merged ?? []), { date: fresh.meta.date, command: fresh.meta.command, parts, otherLoadCores: fresh.meta.otherLoadCores, loadAverage: fresh.meta.loadAverage, wallSeconds: fresh.meta.wallSeconds }] },
    models,
    pipeline: measured('data-pipeline') ? fresh.pipeline : stored.pipeline,
    recalibration: measured('recalibration') ? fresh.recalibration : stored.recalibration,
    endToEnd: measured('end-to-end') ? fresh.endToEnd : stored.endToEnd,
  };
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
