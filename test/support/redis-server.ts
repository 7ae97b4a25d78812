/**
 * A real, throwaway redis-server for tests: Debian's `redis-server` on a free 127.0.0.1 port, no
 * persistence, its own temp folder; stopped (by its pid) when the test is done. Never a system
 * service. Without the binary the Redis tests are skipped with a loud warning, except in CI
 * (process.env.CI set), where a missing redis-server is a failure (like Chromium in browser.test.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const REDIS_SERVER_PATH = process.env.BNLAB_REDIS_SERVER ?? '/usr/bin/redis-server';

export function redisServerAvailable(): boolean {
  return fs.existsSync(REDIS_SERVER_PATH);
}

export function warnRedisMissing(file: string): void {
  if (redisServerAvailable() || process.env.CI) return;
  console.warn(
    `\n${'!'.repeat(78)}\n!! ${file} SKIPPED: no redis-server at ${REDIS_SERVER_PATH}.\n` +
      '!! Install it (apt-get install redis-server) or set BNLAB_REDIS_SERVER; in CI this is a failure.\n' +
      `${'!'.repeat(78)}\n`,
  );
}

/** A port nothing listens on right now (the OS picks it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface TestRedis {
  url: string;
  port: number;
  stop(): Promise<void>;
}

export async function startRedis(): Promise<TestRedis> {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bnlab-redis-'));
  const child: ChildProcess = spawn(REDIS_SERVER_PATH, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server did not start within 10 s:\n${output}`)), 10_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited with code ${code}:\n${output}`));
    });
  });
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
