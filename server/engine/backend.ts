/**
 * Backend choice for bnlab: wasm by default (with bnlab's gradient kernels registered so convnets
 * train), cpu as fallback, and tfjs-node ('tensorflow') when the optional package loads.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { conv2DBackpropFilterConfig } from './kernels/conv2d-backprop-filter.ts';
import { pointwiseConv2DBackpropInputConfig, CONV2D_BACKPROP_INPUT } from './kernels/conv2d-backprop-input.ts';
import { depthwiseBackpropFilterConfig } from './kernels/depthwise-backprop-filter.ts';
import { depthwiseBackpropInputConfig } from './kernels/depthwise-backprop-input.ts';
import { BROADCAST_OPS, broadcastBinaryConfig } from './kernels/broadcast-binary.ts';
import { aliasingCastConfig, aliasingIdentityConfig, aliasingSliceConfig } from './kernels/identity-alias.ts';
import { contiguousPadConfig, contiguousSliceConfig } from './kernels/contiguous-runs.ts';
import { batchNormForwardConfig } from './kernels/batch-norm-forward.ts';
import { fusedBatchNormGradConfig } from './kernels/fused-batch-norm-grad.ts';
import { leadingAxesMeanConfig, leadingAxesSumConfig } from './kernels/leading-axes-reduce.ts';
import { batchMomentsConfig, batchNormTrainGradConfig } from './kernels/batch-norm-training-kernels.ts';
import { relu6GradFromOutputConfig } from './kernels/relu6-grad.ts';
import { adamUpdateConfig } from './kernels/adam-update.ts';
import { activationGradConfigs, clipGradConfig, reluGradConfig } from './kernels/activation-grads.ts';
import { reluClipConfig, reluClipGradConfig } from './kernels/relu-clip.ts';
import { installEarlyGradientRelease } from './ops/early-gradient-release.ts';
import { useThreadedWasm, wasmThreadCount } from './threaded-wasm.ts';

export const BACKEND_NAMES = ['wasm', 'cpu', 'tensorflow'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

/** Marks kernel configs installed by bnlab, so registration can run any number of times. */
const BNLAB_KERNEL = Symbol.for('bnlab.wasmKernel');
type MarkedConfig = tf.KernelConfig & { [BNLAB_KERNEL]?: true };
type MarkedGradient = tf.GradConfig & { [BNLAB_KERNEL]?: true };

function isBnlabKernel(kernelName: string): boolean {
  const current = tf.getKernel(kernelName, 'wasm') as MarkedConfig | undefined;
  return current?.[BNLAB_KERNEL] === true;
}

function install(config: tf.KernelConfig): void {
  if (tf.getKernel(config.kernelName, 'wasm')) tf.unregisterKernel(config.kernelName, 'wasm');
  tf.registerKernel({ ...config, [BNLAB_KERNEL]: true } as MarkedConfig);
}

/**
 * Registers bnlab's wasm kernels: Conv2DBackpropFilter, DepthwiseConv2dNativeBackpropFilter and
 * DepthwiseConv2dNativeBackpropInput (absent from tfjs-backend-wasm); fast paths wrapping the
 * backend's own pointwise Conv2DBackpropInput (matMul), Sum/Mean over leading axes and
 * last-axis-broadcast elementwise ops (BatchNorm's and ReLU6's shapes), a one-pass SIMD FusedBatchNorm
 * forward, Identity, same-dtype Cast and whole-tensor Slice by reference instead of copy, other Slices and PadV2 as
 * contiguous copies (kernels/contiguous-runs.ts); plus a Tile-free FusedBatchNorm gradient (for every backend,
 * same values as tfjs-core's), and bnlab's own training-mode BatchNorm kernels (BnlabBatchMoments,
 * BnlabBatchNormTrainGrad; see engine/batch-norm-training.ts) and ReLU6-from-output gradient
 * (BnlabRelu6GradFromOutput; engine/relu6-activation.ts), the one-kernel Adam step (BnlabAdamUpdate;
 * train/fused-adam.ts) and one-pass ReLU and ClipByValue gradients (kernels/activation-grads.ts). Idempotent; safe before or after the
 * wasm backend initialises.
 */
export function registerWasmGradientKernels(): void {
  for (const config of [
    conv2DBackpropFilterConfig, depthwiseBackpropFilterConfig, depthwiseBackpropInputConfig,
    batchMomentsConfig, batchNormTrainGradConfig, relu6GradFromOutputConfig, adamUpdateConfig,
    clipGradConfig, reluGradConfig, reluClipConfig, reluClipGradConfig,
  ]) {
    if (!isBnlabKernel(config.kernelName)) install(config);
  }
  if (tf.getGradient(fusedBatchNormGradConfig.kernelName) !== fusedBatchNormGradConfig) {
    tf.registerGradient(fusedBatchNormGradConfig); // backend-independent; same values as tfjs-core's
  }
  const clip = tf.getGradient('ClipByValue') as MarkedGradient | undefined;
  const relu = tf.getGradient('Relu') as MarkedGradient | undefined;
  if (clip && relu && !clip[BNLAB_KERNEL]) {
    // one-pass ReLU / clip gradients on wasm, tfjs's own (kept as the fallback) elsewhere
    for (const config of activationGradConfigs({ clip, relu })) tf.registerGradient({ ...config, [BNLAB_KERNEL]: true } as MarkedGradient);
  }
  const wrappers: [string, (original: tf.KernelConfig) => tf.KernelConfig][] = [
    [CONV2D_BACKPROP_INPUT, pointwiseConv2DBackpropInputConfig],
    ['Sum', leadingAxesSumConfig],
    ['Mean', leadingAxesMeanConfig],
    ['Identity', aliasingIdentityConfig],
    ['Cast', aliasingCastConfig],
    ['Slice', (original) => aliasingSliceConfig(contiguousSliceConfig(original))],
    ['PadV2', contiguousPadConfig],
    ['FusedBatchNorm', batchNormForwardConfig],
    ...Object.keys(BROADCAST_OPS).map((name) => [name, broadcastBinaryConfig] as [string, typeof broadcastBinaryConfig]),
  ];
  for (const [kernelName, wrap] of wrappers) {
    const original = tf.getKernel(kernelName, 'wasm');
    if (original && !isBnlabKernel(kernelName)) install(wrap(original));
  }
}

function parseBackendName(value: string, source: string): BackendName {
  const name = value.trim().toLowerCase();
  if ((BACKEND_NAMES as readonly string[]).includes(name)) return name as BackendName;
  throw new Error(`Unknown backend '${value}' (from ${source}); choose one of: ${BACKEND_NAMES.join(', ')}`);
}

let threadedFailureReported = false;

async function useWasm(): Promise<boolean> {
  registerWasmGradientKernels();
  const threads = wasmThreadCount();
  if (threads > 1) {
    try {
      await useThreadedWasm(threads);
    } catch (error) {
      if (!threadedFailureReported) {
        threadedFailureReported = true;
        console.warn(`bnlab: threaded wasm backend unavailable (${(error as Error).message}); using the single-threaded wasm backend.`);
      }
    }
  }
  try {
    return await tf.setBackend('wasm');
  } catch {
    return false;
  }
}

async function useCpu(): Promise<string> {
  if (!(await tf.setBackend('cpu'))) throw new Error('The tfjs cpu backend failed to initialise');
  return 'cpu';
}

async function useTensorflow(): Promise<string> {
  const optionalPackage = '@tensorflow/tfjs-node';
  try {
    await import(optionalPackage); // optional dependency; registers the 'tensorflow' backend
  } catch (error) {
    throw new Error(
      `Backend 'tensorflow' needs the optional package ${optionalPackage}, which did not load ` +
        `(${(error as Error).message.split('\n')[0]}). Use --backend wasm (the default) or --backend cpu instead.`,
    );
  }
  if (!(await tf.setBackend('tensorflow'))) {
    throw new Error(`${optionalPackage} loaded but its 'tensorflow' backend failed to initialise; use wasm or cpu.`);
  }
  return 'tensorflow';
}

/**
 * Picks and initialises the tfjs backend: `requested`, else env BNLAB_BACKEND, else wasm
 * (falling back to cpu, with a warning, only when wasm fails to initialise by default).
 * An explicit request that cannot be met is an error. Returns the active backend's name.
 * wasm runs XNNPACK on wasmThreadCount() threads (env BNLAB_WASM_THREADS; threaded-wasm.ts) when
 * above 1, falling back to the single-threaded build with one warning if the threaded one fails.
 * Also installs early-gradient-release.ts (BNLAB_EARLY_GRADIENT_RELEASE=0 turns it off).
 */
export async function selectBackend(requested?: string | null): Promise<string> {
  installEarlyGradientRelease(); // backprop frees dead gradients and saved tensors as it goes (any backend)
  const fromEnv = process.env.BNLAB_BACKEND;
  // callers pass config.backend, which is BNLAB_BACKEND: name the variable the user set
  const explicit =
    requested != null && requested !== ''
      ? parseBackendName(requested, requested === fromEnv ? 'BNLAB_BACKEND' : 'the backend option')
      : fromEnv
        ? parseBackendName(fromEnv, 'BNLAB_BACKEND')
        : null;

  if (explicit === 'cpu') return useCpu();
  if (explicit === 'tensorflow') return useTensorflow();
  if (await useWasm()) return 'wasm';
  if (explicit === 'wasm') {
    throw new Error('The wasm backend failed to initialise; pass --backend cpu to use the (slower) cpu backend.');
  }
  console.warn('bnlab: the wasm backend failed to initialise; falling back to the cpu backend.');
  return useCpu();
}
