/**
 * Identity on the tfjs wasm backend by reference counting instead of copying, as the cpu backend
 * does. tfjs clones every tensor saved for backprop through Identity, so a training step copied each
 * layer's activations once more (~8 % of a MobileNet step). Tensor data is immutable on this backend
 * (kernels always write fresh outputs; Variable.assign swaps data ids), so sharing is safe.
 * Strings keep the backend's own kernel.
 */
import * as tf from '@tensorflow/tfjs';

type KernelArgs = { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap };

export function aliasingIdentityConfig(original: tf.KernelConfig): tf.KernelConfig {
  const kernelFunc = (args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    if (x.dtype === 'string') return original.kernelFunc(args as never);
    (args.backend as { incRef(dataId: object): void }).incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  };
  return { ...original, kernelFunc: kernelFunc as unknown as tf.KernelFunc };
}

/**
 * Cast to the tensor's own dtype by reference (the backend copies; tf.moments casts every BatchNorm
 * input to float32 in training mode, a full copy of each activation per step).
 */
export function aliasingCastConfig(original: tf.KernelConfig): tf.KernelConfig {
  const kernelFunc = (args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const { dtype } = (args.attrs ?? {}) as { dtype?: tf.DataType };
    if (x.dtype === 'string' || dtype !== x.dtype) return original.kernelFunc(args as never);
    (args.backend as { incRef(dataId: object): void }).incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  };
  return { ...original, kernelFunc: kernelFunc as unknown as tf.KernelFunc };
}

/**
 * Slice that covers the whole tensor by reference (model.predict slices its input into batches,
 * which copies the whole input when one batch is all of it).
 */
export function aliasingSliceConfig(original: tf.KernelConfig): tf.KernelConfig {
  const kernelFunc = (args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const { begin, size } = (args.attrs ?? {}) as { begin?: number | number[]; size?: number | number[] };
    if (x.dtype !== 'string' && begin !== undefined && size !== undefined) {
      const [b, s] = tf.slice_util.parseSliceParams(x, begin, size);
      if (b.every((v) => v === 0) && s.every((v, i) => v === x.shape[i])) {
        (args.backend as { incRef(dataId: object): void }).incRef(x.dataId);
        return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
      }
    }
    return original.kernelFunc(args as never);
  };
  return { ...original, kernelFunc: kernelFunc as unknown as tf.KernelFunc };
}
