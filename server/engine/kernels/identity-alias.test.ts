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

describe('Cast and Slice by reference on wasm', () => {
  it('shares data for a same-dtype cast and converts otherwise', async () => {
    await selectBackend('wasm');
    const x = tf.tensor([1.5, -2, 0], [3]);
    const base = dataIds();
    const same = tf.cast(x, 'float32');
    expect(dataIds()).toBe(base);
    const asInt = tf.cast(x, 'int32');
    expect(dataIds()).toBe(base + 1);
    x.dispose();
    expect(Array.from(await same.data())).toEqual([1.5, -2, 0]);
    expect(Array.from(await asInt.data())).toEqual([1, -2, 0]);
    tf.dispose([same, asInt]);
  });

  it('shares data for a whole-tensor slice and copies a partial one', async () => {
    await selectBackend('wasm');
    const x = tf.tensor([1, 2, 3, 4, 5, 6], [3, 2]);
    const base = dataIds();
    const all = tf.slice(x, [0, 0], [-1, 2]);
    expect(dataIds()).toBe(base);
    const part = tf.slice(x, [1, 0], [2, 2]);
    expect(dataIds()).toBe(base + 1);
    x.dispose();
    expect(Array.from(await all.data())).toEqual([1, 2, 3, 4, 5, 6]);
    expect(Array.from(await part.data())).toEqual([3, 4, 5, 6]);
    tf.dispose([all, part]);
  });
});
