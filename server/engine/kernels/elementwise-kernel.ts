/**
 * The frame of bnlab's one-pass elementwise wasm kernels (ReLU6, ReLU, clip and ReLU(max)
 * activations and gradients): float32 inputs of one shape in, one float32 output of that shape,
 * the work done by one export of the SIMD module on heap pointers.
 */
import * as tf from '@tensorflow/tfjs';
import { convSimd, type ConvSimd } from './simd-module.ts';
import { asWasmBackend, heapOffset } from './wasm-heap.ts';

type KernelArgs = { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap };

/**
 * A wasm kernel config: `run` gets the SIMD module, the inputs' pointers in `inputNames` order
 * followed by the output's, the element count and the attrs.
 */
export function elementwiseKernelConfig(
  kernelName: string,
  inputNames: string[],
  run: (simd: ConvSimd, pointers: number[], count: number, attrs: tf.NamedAttrMap) => void,
): tf.KernelConfig {
  const kernelFunc = (args: KernelArgs): tf.TensorInfo => {
    const inputs = inputNames.map((name) => args.inputs[name] as tf.TensorInfo);
    const backend = asWasmBackend(args.backend);
    const simd = convSimd(backend);
    if (!simd || inputs.some((t) => t.dtype !== 'float32' || !tf.util.arraysEqual(t.shape, inputs[0].shape))) {
      throw new Error(`bnlab: ${kernelName} needs float32 inputs of one shape and the SIMD module`);
    }
    const out = backend.makeOutput([...inputs[0].shape], 'float32');
    run(simd, [...inputs, out].map((t) => heapOffset(backend, t)), tf.util.sizeFromShape(inputs[0].shape), args.attrs ?? {});
    return out;
  };
  return { kernelName, backendName: 'wasm', kernelFunc: kernelFunc as unknown as tf.KernelFunc };
}
