/**
 * Frees backprop memory as soon as it is dead instead of at the end of the backward pass.
 *
 * tfjs keeps, until a gradient computation ends, every tensor a tape node saved for its gradient
 * and every intermediate gradient (one per node output). For a convnet that is about the size of
 * all activations twice over, which is what pushes MobileNet v1 α1.0 @224 at batch 32 past the
 * wasm backend's 4 GiB heap. Backprop visits the tape in reverse, and a node's output gradient
 * (dy) and saved tensors are used by that node only: once the next node's gradient starts, they
 * can go. This module patches the engine (tfjs-core 4.22 internals: `gradients`, `addTapeNode`)
 * so that, in an outermost gradient computation without a caller-supplied dy (what
 * optimizer.minimize, tf.grads(f)(x), variableGrads do), each node's dys and saved tensors are
 * disposed when the following node's gradient is requested. Never disposed: a dy that the node
 * handed back as one of its input gradients, and tensors marked kept. Values are unchanged; only
 * the peak memory of the backward pass drops. Higher-order or caller-dy gradients are untouched.
 */
import * as tf from '@tensorflow/tfjs';

interface TapeNode {
  saved?: tf.Tensor[];
  gradient?: (dys: tf.Tensor[]) => Record<string, () => tf.Tensor>;
}

interface EngineInternals {
  state: { gradientDepth: number; activeTape: TapeNode[] | null };
  gradients(f: () => tf.Tensor, xs: tf.Tensor[], dy?: tf.Tensor, allowNoGradients?: boolean): unknown;
  addTapeNode(...args: unknown[]): void;
}

const INSTALLED = Symbol.for('bnlab.earlyGradientRelease');

/** Counters for tests and profiling. */
export const earlyGradientReleaseStats = { releasedTensors: 0 };

export const earlyGradientReleaseOptions = { enabled: process.env.BNLAB_EARLY_GRADIENT_RELEASE !== '0' };

/** Installs the engine patch once per engine (idempotent). No effect while options.enabled is false. */
export function installEarlyGradientRelease(): void {
  const engine = tf.engine() as unknown as EngineInternals & { [INSTALLED]?: true };
  if (engine[INSTALLED]) return;
  if (typeof engine.gradients !== 'function' || typeof engine.addTapeNode !== 'function') return; // another tfjs: leave it alone
  engine[INSTALLED] = true;

  let active = false;
  /** the previous node's dys and saved tensors, and the gradients its thunks returned */
  let pending: { dys: tf.Tensor[]; saved: tf.Tensor[]; returned: Set<tf.Tensor> } | null = null;

  const releasePending = () => {
    if (!pending) return;
    for (const t of [...pending.dys, ...pending.saved]) {
      if (t.isDisposed || pending.returned.has(t) || (t as unknown as { kept?: boolean }).kept && !pending.saved.includes(t)) continue;
      t.dispose();
      earlyGradientReleaseStats.releasedTensors++;
    }
    pending = null;
  };

  const gradients = engine.gradients.bind(engine);
  engine.gradients = (f, xs, dy, allowNoGradients) => {
    const outer = active;
    active = earlyGradientReleaseOptions.enabled && dy == null && engine.state.gradientDepth === 0;
    try {
      return gradients(f, xs, dy, allowNoGradients);
    } finally {
      pending = null; // whatever is left is disposed by the engine's own scopes
      active = outer;
    }
  };

  const addTapeNode = engine.addTapeNode.bind(engine);
  engine.addTapeNode = (...args: unknown[]) => {
    addTapeNode(...args);
    const tape = engine.state.activeTape;
    const node = tape?.[tape.length - 1];
    const gradient = node?.gradient;
    if (!node || !gradient) return;
    node.gradient = (dys) => {
      if (!active) return gradient(dys);
      releasePending(); // backprop has finished with the previous node
      const returned = new Set<tf.Tensor>();
      const thunks = gradient(dys);
      const wrapped: Record<string, () => tf.Tensor> = {};
      for (const [name, thunk] of Object.entries(thunks)) {
        wrapped[name] = () => {
          const g = thunk();
          returned.add(g);
          return g;
        };
      }
      pending = { dys: dys.filter((d): d is tf.Tensor => d instanceof tf.Tensor), saved: node.saved ?? [], returned };
      return wrapped;
    };
  };
}
