import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { selectBackend } from '../backend.ts';

const dataIds = () => (tf.backend() as unknown as { numDataIds(): number }).numDataIds();

describe('Identity by reference on wasm', () => {
  it('shares data between a tensor and its clone, freeing it only after both are disposed', async () => {
    expect(await selectBackend('wasm')).toBe('wasm');
    const base = dataIds();
    const x = tf.tensor([1, 2, 3, 4], [2, 2]);
    const y = tf.clone(x);
    expect(dataIds()).toBe(base + 1); // shared, not copied
    x.dispose();
    expect(Array.from(await y.data())).toEqual([1, 2, 3, 4]);
    y.dispose();
    expect(dataIds()).toBe(base);
  });

  it('keeps a variable independent of the tensor it was assigned from', async () => {
    await selectBackend('wasm');
    const v = tf.variable(tf.tensor([1, 2]));
    const source = tf.clone(v);
    v.assign(tf.tensor([5, 6]));
    expect(Array.from(await source.data())).toEqual([1, 2]);
    expect(Array.from(await v.data())).toEqual([5, 6]);
    tf.dispose([v, source]);
  });

  it('still copies strings through the backend kernel', async () => {
    await selectBackend('wasm');
    const s = tf.tensor(['a', 'b']);
    const c = tf.clone(s);
    s.dispose();
    expect(await c.data()).toEqual(['a', 'b']);
    c.dispose();
  });
});
