/**
 * POST /api/runs/:id/predict — the body is one image (Content-Type image/png, image/jpeg or
 * image/webp, at most PREDICT_BODY_LIMIT); answers the checkpoint's top classes for it.
 *
 * The image is checked by its first bytes (not only its Content-Type), written to a private temp
 * folder, and classified by a child process (predict-child.ts) that loads tfjs and the checkpoint,
 * answers and exits: nothing heavy runs in the server process, a broken image or a crash costs only
 * the child, and a child that takes longer than PREDICT_TIMEOUT_MS is killed. One at a time (429
 * while one is running): each child loads the model afresh, and training has the cores.
 */
import { fork } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import express from 'express';
import type { PredictResponse } from '../../schema/api.ts';
import { RUN_FILES } from '../../runs/files.ts';
import { findJob, type RouteContext } from './context.ts';
import { runFolderPath } from './run-files.ts';

export const PREDICT_BODY_LIMIT = '8mb';
export const PREDICT_TIMEOUT_MS = 60_000;
const CHILD_FILE = fileURLToPath(new URL('../predict-child.ts', import.meta.url));

/** Content types the route takes, and the magic bytes each must start with. */
const IMAGE_TYPES: Record<string, { ext: string; magic: (b: Buffer) => boolean }> = {
  'image/png': { ext: '.png', magic: (b) => b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) },
  'image/jpeg': { ext: '.jpg', magic: (b) => b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff },
  'image/webp': { ext: '.webp', magic: (b) => b.subarray(0, 4).toString('latin1') === 'RIFF' && b.subarray(8, 12).toString('latin1') === 'WEBP' },
};

/** The accepted image type of a Content-Type (own keys only: no `constructor` or `__proto__`). */
function imageType(type: string) {
  return Object.hasOwn(IMAGE_TYPES, type) ? IMAGE_TYPES[type] : undefined;
}

function tsxLoader(): string {
  try {
    return import.meta.resolve('tsx');
  } catch {
    return 'tsx';
  }
}

type ChildAnswer = { ok: true; result: { predictions: { top: PredictResponse['top'] }[]; skipped: { reason: string }[] } } | { ok: false; error: string };

function classify(checkpointDir: string, file: string): Promise<ChildAnswer> {
  return new Promise((resolve) => {
    const child = fork(CHILD_FILE, [], { execArgv: ['--import', tsxLoader()], stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    let stderr = '';
    let answered = false;
    const answer = (value: ChildAnswer) => {
      if (answered) return;
      answered = true;
      clearTimeout(timer);
      resolve(value);
    };
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      answer({ ok: false, error: `prediction took longer than ${PREDICT_TIMEOUT_MS / 1000} s` });
    }, PREDICT_TIMEOUT_MS);
    child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)));
    child.on('message', (message: ChildAnswer) => answer(message));
    child.on('exit', (code, signal) => answer({ ok: false, error: `the predict process ended (${signal ?? `code ${code}`}) without an answer${stderr ? `: ${stderr.trim().split('\n').at(-1)}` : ''}` }));
    child.send({ checkpointDir, file, topK: 5 });
  });
}

export function predictRoutes({ config, queue }: RouteContext): express.Router {
  const router = express.Router();
  let busy = false;
  const readImage = express.raw({ type: () => true, limit: PREDICT_BODY_LIMIT });
  /** The Content-Type is checked before the body is read; a body over the limit gets its own 413. */
  const imageBody: express.RequestHandler = (req, res, next) => {
    const type = String(req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    if (!imageType(type)) {
      res.status(415).json({ error: `send the image itself as the body, with Content-Type ${Object.keys(IMAGE_TYPES).join(', ')}; got ${type || 'none'}` });
      return;
    }
    readImage(req, res, (error?: unknown) => {
      if ((error as { type?: string } | undefined)?.type === 'entity.too.large') {
        res.status(413).json({ error: `image too large (limit ${PREDICT_BODY_LIMIT})` });
      } else next(error);
    });
  };
  router.post('/runs/:id/predict', imageBody, async (req, res) => {
    const found = findJob(queue, req, res);
    if (!found) return;
    const type = String(req.headers['content-type']).split(';')[0].trim().toLowerCase();
    const kind = imageType(type)!; // imageBody answered 415 for anything else
    const body = req.body as Buffer;
    if (!Buffer.isBuffer(body) || body.length === 0) {
      res.status(400).json({ error: 'the request has no image in its body' });
      return;
    }
    if (!kind.magic(body)) {
      res.status(415).json({ error: `the body is not a ${type} image (its first bytes do not match)` });
      return;
    }
    const runId = found.id === found.job.id && found.job.kind === 'comparison' ? null : found.id;
    if (!runId) {
      res.status(400).json({ error: `'${found.id}' is a comparison: predict with one of its runs` });
      return;
    }
    const dir = await runFolderPath(config.checkpointsDir, runId);
    if (!dir || !(await fs.stat(path.join(dir, RUN_FILES.model)).catch(() => null))) {
      res.status(409).json({ error: `run '${runId}' has no saved model yet (no ${RUN_FILES.model} in its folder)` });
      return;
    }
    if (busy) {
      res.status(429).json({ error: 'another prediction is running; try again in a moment' });
      return;
    }
    busy = true;
    const temp = await fs.mkdtemp(path.join(os.tmpdir(), 'bnlab-predict-'));
    try {
      const file = path.join(temp, `upload${kind.ext}`);
      await fs.writeFile(file, body, { mode: 0o600 });
      const answer = await classify(dir, file);
      if (!answer.ok) {
        res.status(500).json({ error: `prediction failed: ${answer.error}` });
        return;
      }
      const prediction = answer.result.predictions[0];
      if (!prediction) {
        res.status(422).json({ error: `the image could not be read: ${answer.result.skipped[0]?.reason ?? 'unknown reason'}` });
        return;
      }
      const response: PredictResponse = { runId, top: prediction.top };
      res.json(response);
    } finally {
      busy = false;
      await fs.rm(temp, { recursive: true, force: true });
    }
  });
  return router;
}
