import { spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { THREADED_BY_DEFAULT, wasmThreadCount } from './threaded-wasm.ts';

const probe = fileURLToPath(new URL('../../tools/threaded-wasm-probe.ts', import.meta.url));
const root = fileURLToPath(new URL('../..', import.meta.url));

/** Runs the probe in a child that must exit by itself (pthread workers must not hold it open). */
function runProbe(env: Record<string, string>, ...args: string[]) {
  const child = spawnSync(process.execPath, ['--import', 'tsx', probe, ...args], {
    cwd: root, env: { ...process.env, ...env }, encoding: 'utf8', timeout: 60_000,
  });
  expect(child.error, 'the probe process did not exit by itself').toBeUndefined();
  expect(child.status, child.stderr).toBe(0);
  const line = child.stdout.split('\n').find((l) => l.startsWith('{'));
  return { result: JSON.parse(line!), stderr: child.stderr };
}

describe('wasmThreadCount', () => {
  it('reads BNLAB_WASM_THREADS, rejects nonsense, defaults to the cores capped at 4', () => {
    expect(wasmThreadCount({ BNLAB_WASM_THREADS: '1' })).toBe(1);
    expect(wasmThreadCount({ BNLAB_WASM_THREADS: '3' })).toBe(3);
    expect(() => wasmThreadCount({ BNLAB_WASM_THREADS: '0' })).toThrow(/positive integer/);
    expect(() => wasmThreadCount({ BNLAB_WASM_THREADS: 'two' })).toThrow(/positive integer/);
    expect(wasmThreadCount({})).toBe(THREADED_BY_DEFAULT ? Math.min(4, cpus().length) : 1);
  });
});

describe('threaded wasm backend', () => {
  it('runs XNNPACK on 2 threads over a shared heap, bnlab SIMD kernels included, same gradients as cpu, and exits', () => {
    const { result, stderr } = runProbe({ BNLAB_WASM_THREADS: '2' });
    expect(stderr).not.toMatch(/threaded wasm backend unavailable|SIMD training kernels unavailable/);
    expect(result).toMatchObject({ backend: 'wasm', threads: 2, sharedMemory: true, simdKernels: true });
    expect(result.maxRelative).toBeLessThan(1e-4);
  }, 90_000);

  it('BNLAB_WASM_THREADS=1 keeps the single-threaded build', () => {
    const { result } = runProbe({ BNLAB_WASM_THREADS: '1' });
    expect(result).toMatchObject({ backend: 'wasm', threads: 1, sharedMemory: false, simdKernels: true });
    expect(result.maxRelative).toBeLessThan(1e-4);
  }, 90_000);

  it('falls back to the single-threaded build with one warning when the threaded one cannot be used', () => {
    const { result, stderr } = runProbe({ BNLAB_WASM_THREADS: '2' }, '--preinit-single');
    expect(stderr.match(/threaded wasm backend unavailable \(a single-threaded wasm backend is already initialised\)/g)).toHaveLength(1);
    expect(result).toMatchObject({ backend: 'wasm', threads: 1, sharedMemory: false, simdKernels: true });
  }, 90_000);
});
