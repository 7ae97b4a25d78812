/** How a bench child process hands its result to run.ts: one stdout line, prefix + JSON. */
export const RESULT_PREFIX = 'BENCH_RESULT ';

export function writeResultLine(result: unknown): void {
  process.stdout.write(`${RESULT_PREFIX}${JSON.stringify(result)}\n`);
}

/** The last non-empty line starting with `prefix` ('' for plain JSON lines), parsed; null when absent or not JSON. */
export function parseResultLine(stdout: string, prefix = RESULT_PREFIX): unknown {
  const line = stdout.split('\n').reverse().find((l) => l.trim() !== '' && l.startsWith(prefix));
  if (!line) return null;
  try {
    return JSON.parse(line.slice(prefix.length));
  } catch {
    return null;
  }
}
