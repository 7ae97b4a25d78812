/**
 * A run's folder on disk, from the dashboard:
 *
 *   GET    /api/runs/:id/files         each run folder of the job: path, preprocessing, files
 *   GET    /api/runs/:runId/files/:name   download one file of a run folder (model.json, weights-*.bin,
 *                                      checkpoint.json, metrics.jsonl: the names runs/files.ts writes)
 *   DELETE /api/runs/:id                a finished job and its run folders (409 while queued/running)
 *
 * Every path is `<checkpoints>/<run id>` with ids checked by IdSchema, and before anything is read
 * or removed its real path must lie strictly inside the real checkpoints folder and not be a
 * symlink, so neither a crafted id nor a planted link reaches outside.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import express from 'express';
import type { CheckpointMeta } from '../../schema/checkpoint.ts';
import type { RunFile, RunFilesResponse, RunFolder } from '../../schema/api.ts';
import { comparisonManifestsDir, RUN_FILES } from '../../runs/files.ts';
import { isInside } from '../safe-path.ts';
import { IdSchema } from '../validation.ts';
import { findJob, type RouteContext } from './context.ts';
import { removedJobs } from './removed-jobs.ts';

/** File names a run folder may offer for download. */
const DOWNLOADABLE = /^(model\.json|checkpoint\.json|metrics\.jsonl|weights-\d+\.bin)$/;

/** The real path of `<checkpoints>/<runId>` when it is a real folder strictly inside; else null. */
export async function runFolderPath(checkpointsDir: string, runId: string): Promise<string | null> {
  if (!IdSchema.safeParse(runId).success || runId === '.' || runId === '..') return null;
  let root: string;
  try {
    root = await fs.realpath(checkpointsDir);
  } catch {
    return null;
  }
  const dir = path.join(root, runId);
  try {
    const stat = await fs.lstat(dir);
    if (!stat.isDirectory() || stat.isSymbolicLink()) return null;
    const real = await fs.realpath(dir);
    return real !== root && isInside(real, root) && path.dirname(real) === root ? real : null;
  } catch {
    return null;
  }
}

async function describeFolder(checkpointsDir: string, runId: string): Promise<RunFolder> {
  const dir = (await runFolderPath(checkpointsDir, runId)) ?? path.join(path.resolve(checkpointsDir), runId);
  const folder: RunFolder = { runId, dir, exists: false, preprocessing: null, classes: [], inputSize: null, modelFiles: [], files: [] };
  if (!(await runFolderPath(checkpointsDir, runId))) return folder;
  folder.exists = true;
  const entries = await fs.readdir(dir, { withFileTypes: true });
  const files: RunFile[] = [];
  for (const entry of entries) {
    if (!entry.isFile() || !DOWNLOADABLE.test(entry.name)) continue;
    files.push({ name: entry.name, bytes: (await fs.stat(path.join(dir, entry.name))).size });
  }
  folder.files = files.sort((a, b) => a.name.localeCompare(b.name));
  try {
    const meta = JSON.parse(await fs.readFile(path.join(dir, RUN_FILES.meta), 'utf8')) as CheckpointMeta;
    folder.preprocessing = meta.preprocessing ?? null;
    folder.classes = meta.classes ?? [];
    folder.inputSize = meta.inputSize ?? null;
  } catch {
    // no checkpoint yet (or a failed run): the folder holds only its metrics
  }
  try {
    const model = JSON.parse(await fs.readFile(path.join(dir, RUN_FILES.model), 'utf8')) as { weightsManifest?: { paths?: string[] }[] };
    const weights = (model.weightsManifest ?? []).flatMap((group) => group.paths ?? []);
    if (weights.every((name) => DOWNLOADABLE.test(name) && files.some((f) => f.name === name))) folder.modelFiles = [RUN_FILES.model, ...weights];
  } catch {
    // no exported model in this folder
  }
  return folder;
}

export function runFileRoutes({ config, queue }: RouteContext): express.Router {
  const router = express.Router();

  router.get('/runs/:id/files', async (req, res) => {
    const found = findJob(queue, req, res);
    if (!found) return;
    const runIds = found.id === found.job.id ? [...found.job.runs.keys()] : [found.id];
    const body: RunFilesResponse = { jobId: found.job.id, folders: await Promise.all(runIds.map((id) => describeFolder(config.checkpointsDir, id))) };
    res.json(body);
  });

  router.get('/runs/:id/files/:name', async (req, res) => {
    const found = findJob(queue, req, res);
    if (!found) return;
    const name = String(req.params.name);
    if (!DOWNLOADABLE.test(name)) {
      res.status(404).json({ error: `'${name}' is not a file the dashboard offers (model.json, weights-<step>.bin, checkpoint.json, metrics.jsonl)` });
      return;
    }
    const dir = await runFolderPath(config.checkpointsDir, found.id);
    const file = dir ? path.join(dir, name) : null;
    const stat = file ? await fs.lstat(file).catch(() => null) : null;
    if (!file || !stat?.isFile()) {
      res.status(404).json({ error: `run '${found.id}' has no file '${name}'` });
      return;
    }
    res.attachment(`${found.id}-${name}`);
    res.sendFile(file, { dotfiles: 'deny' });
  });

  router.delete('/runs/:id', async (req, res) => {
    const found = findJob(queue, req, res);
    if (!found) return;
    const { job } = found;
    if (found.id !== job.id) {
      res.status(400).json({ error: `'${found.id}' is one run of comparison '${job.id}': delete the comparison` });
      return;
    }
    if (job.status === 'queued' || job.status === 'running') {
      res.status(409).json({ error: `'${job.id}' is ${job.status}: stop it before deleting it` });
      return;
    }
    const removed: string[] = [];
    for (const runId of job.runs.keys()) {
      const dir = await runFolderPath(config.checkpointsDir, runId);
      if (!dir) continue;
      await fs.rm(dir, { recursive: true, force: true });
      removed.push(dir);
    }
    if (job.kind === 'comparison') {
      await fs.rm(path.join(comparisonManifestsDir(config.checkpointsDir), `${job.id}.json`), { force: true });
    }
    removedJobs(queue).add(job.id);
    res.json({ id: job.id, deleted: true, removedFolders: removed });
  });
  return router;
}
