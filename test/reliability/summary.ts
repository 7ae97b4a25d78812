/**
 * Figures for RELIABILITY.md, written by the suites themselves so that no number is typed by hand.
 * Each suite records its cases and writes `test-output/reliability/<suite>.json`; then all suite
 * files are merged into `test-output/reliability.json` (written atomically, after the suite's own
 * file, so the last suite to finish always sees every other's file). report.ts renders the merge.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
// from config.ts rather than fixtures.ts: the load test should not pull tfjs and sharp into its process
import { PROJECT_ROOT } from '../../server/config.ts';

export const OUTPUT_DIR = path.join(PROJECT_ROOT, 'test-output');
export const SUITES_DIR = path.join(OUTPUT_DIR, 'reliability');
export const SUMMARY_FILE = path.join(OUTPUT_DIR, 'reliability.json');

/** One input tried and what the user got. */
export interface CaseRecord {
  id: string;
  group: string;
  input: string;
  /** what a user sees: an error, a warning, a skipped-file reason, or that it worked */
  outcome: 'error' | 'warning' | 'skipped' | 'ok' | 'http' | 'refused';
  /** the text (or HTTP status + text) the user sees, trimmed */
  message: string;
  /** the key phrase the suite requires */
  expected: string;
  /** the message matched and the behaviour was as expected */
  passed: boolean;
  /** an uncaught exception, a programming error (TypeError, ...), a stack trace or a dead process */
  crashed: boolean;
}

export interface KillRecord {
  kill: number;
  trigger: string;
  atMs: number;
  /** checkpoint files present after the kill (model.json's step), null when none yet */
  checkpointStep: number | null;
  checkpointLoads: boolean;
  tmpFilesLeft: number;
  /** the next start printed 'resumed from checkpoint' at this step; null: it was killed before saying */
  resumed: boolean | null;
}

/** One measured training run of the load test (load.test.ts). */
export interface LoadRunRecord {
  /** 'none' or e.g. '50 clients' */
  condition: string;
  clients: number;
  round: number;
  steps: number;
  /** median over the run's stepEnd events of msPerImage (worker-side time of one training step / batch size) */
  medianMsPerImage: number;
  /** wall time in the server between the first and the last stepEnd arrival, divided by steps - 1 */
  wallMsPerStep: number;
  /** POST /api/runs to the job's 'completed' status, seconds */
  runSeconds: number;
  events: number;
  /** clients that received every seq 1..lastSeq exactly once and in order */
  clientsComplete: number;
  /** clients that received the runFinished event (status completed) and the job's 'completed' status */
  clientsGotFinal: number;
  /** 'events' messages per client (batching: far fewer than events) */
  messagesPerClient: number;
  /** from the server recording runFinished to the last client receiving it, ms */
  finalDeliveryMaxMs: number | null;
  /** this process (server + clients) during the run */
  peakRssMb: number;
  peakHeapMb: number;
  /** server event-loop delay during the run, p99, ms */
  eventLoopP99Ms: number;
  /** CPU time (user + system) of this process (server + clients) during the run, seconds */
  serverCpuSeconds: number;
}

/** The load test's figures: runs with and without socket clients, interleaved, and memory. */
export interface LoadRecord {
  recipe: string;
  flushMs: number;
  transport: string;
  runs: LoadRunRecord[];
  /** median of the per-run medianMsPerImage of each condition */
  medianMsPerImage: Record<string, number>;
  /** (clients / none) - 1 for each client condition, from medianMsPerImage */
  slowdown: Record<string, number>;
  /** the same from wallMsPerStep */
  wallSlowdown: Record<string, number>;
  /** fastest run's medianMsPerImage of each condition (best of N: other load on the machine only adds time) */
  bestMsPerImage: Record<string, number>;
  /** (clients / none) - 1 from bestMsPerImage */
  bestSlowdown: Record<string, number>;
  targetSlowdown: number;
  assertedSlowdownBound: number;
  /** per condition: (slowest run - fastest run) / fastest run of medianMsPerImage: the machine's noise */
  spread: Record<string, number>;
  /** false when some condition's spread exceeded the asserted bound: the comparison was too noisy to assert */
  slowdownAsserted: boolean;
  /** heapUsed after a full GC, before the first measured run and after the last (clients closed) */
  heapBeforeMb: number;
  heapAfterMb: number;
  rssBeforeMb: number;
  rssAfterMb: number;
  assertedHeapGrowthMb: number;
}

export interface SuiteRecord {
  suite: string;
  command: string;
  finishedAt: string;
  seconds: number;
  cases: CaseRecord[];
  kills?: KillRecord[];
  load?: LoadRecord;
  extra?: Record<string, unknown>;
}

export class SuiteRecorder {
  readonly cases: CaseRecord[] = [];
  readonly kills: KillRecord[] = [];
  readonly extra: Record<string, unknown> = {};
  load: LoadRecord | null = null;
  private readonly started = Date.now();

  constructor(
    readonly suite: string,
    readonly command: string,
  ) {}

  record(entry: CaseRecord): void {
    entry = { ...entry, message: withoutTempDirs(entry.message), input: withoutTempDirs(entry.input) };
    const at = this.cases.findIndex((c) => c.id === entry.id);
    if (at >= 0) this.cases[at] = entry;
    else this.cases.push(entry);
  }

  write(): void {
    const record: SuiteRecord = {
      suite: this.suite,
      command: this.command,
      finishedAt: new Date().toISOString(),
      seconds: (Date.now() - this.started) / 1000,
      cases: this.cases,
      ...(this.kills.length ? { kills: this.kills } : {}),
      ...(this.load ? { load: this.load } : {}),
      ...(Object.keys(this.extra).length ? { extra: this.extra } : {}),
    };
    fs.mkdirSync(SUITES_DIR, { recursive: true });
    writeJsonAtomic(path.join(SUITES_DIR, `${this.suite}.json`), record);
    mergeSuites();
  }
}

/** Messages name the test's random temp folders; the report shows them as <tmp>. */
const TEMP_FOLDER = new RegExp(`${os.tmpdir().replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/bnlab-[\\w.-]*`, 'g');
export function withoutTempDirs(text: string): string {
  return text.replace(TEMP_FOLDER, '<tmp>');
}

export function readSuites(): SuiteRecord[] {
  if (!fs.existsSync(SUITES_DIR)) return [];
  return fs
    .readdirSync(SUITES_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => JSON.parse(fs.readFileSync(path.join(SUITES_DIR, f), 'utf8')) as SuiteRecord);
}

export function mergeSuites(): void {
  writeJsonAtomic(SUMMARY_FILE, { generatedAt: new Date().toISOString(), suites: readSuites() });
}

function writeJsonAtomic(file: string, value: unknown): void {
  const temp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temp, `${JSON.stringify(value, null, 2)}\n`);
  fs.renameSync(temp, file);
}

/** True for errors that mean a bug in bnlab rather than a refusal written for the user. */
export function isProgrammingError(error: unknown): boolean {
  return error instanceof TypeError || error instanceof ReferenceError || (error instanceof RangeError && /Maximum call stack|Invalid array length/.test(error.message));
}
