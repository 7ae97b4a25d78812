/**
 * How a bench child process talks to run.ts: its `--name value` flags, its CPU and peak-RSS usage,
 * and its result as one stdout line, prefix + JSON (`runBenchChild`).
 */
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

/** A child's `--name value` flag, or `fallback`. */
export function benchArg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

/** CPU seconds (all threads) and peak RSS of this process so far. */
export function processUsage(): { cpuSeconds: number; peakRssMiB: number } {
  const cpu = process.cpuUsage();
  return { cpuSeconds: (cpu.user + cpu.system) / 1e6, peakRssMiB: process.resourceUsage().maxRSS / 1024 };
}

/** Run a child's main, write its result line (or the error) and exit. */
export function runBenchChild(main: () => Promise<unknown>): void {
  main()
    .then((result) => {
      writeResultLine(result);
      process.exit(0);
    })
    .catch((error) => {
      writeResultLine({ status: 'error', message: (error as Error).stack ?? String(error) });
      process.exit(1);
    });
}
