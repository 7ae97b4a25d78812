/** GET /api/health (liveness + queue counts), GET /api/backbones (registry + local models), GET /api/data (datasets under the data roots). */
import express from 'express';
import { z } from 'zod';
import { listBackbones } from '../../backbones/registry.ts';
import { PROJECT_ROOT } from '../../config.ts';
import type { BackboneOption } from '../../schema/api.ts';
import { listDataFolders } from '../data-folders.ts';
import { PathOutsideRootsError, resolveInsideRoots } from '../safe-path.ts';
import { sendFieldErrors, validate } from '../validation.ts';
import { queryOf, type RouteContext } from './context.ts';

const DataQuerySchema = z.strictObject({ path: z.string().min(1).max(4096).optional() });

export function systemRoutes({ config, queue }: RouteContext): express.Router {
  const router = express.Router();
  router.get('/health', (_req, res) => {
    res.json({ ok: true, queue: queue.counts(), uptimeSeconds: Math.round(process.uptime()) });
  });

  router.get('/backbones', (_req, res) => {
    const options: BackboneOption[] = listBackbones(config).map((b) => ({
      name: b.name,
      description: b.description,
      registered: b.registered,
      location: b.location,
      availableOffline: b.availableOffline,
    }));
    res.json({ backbones: options });
  });

  router.get('/data', async (req, res) => {
    const query = validate(DataQuerySchema, queryOf(req), res, ['query']);
    if (!query) return;
    let folder: string | null = null;
    if (query.path) {
      try {
        folder = (await resolveInsideRoots(query.path, config.dataRoots, PROJECT_ROOT)).real;
      } catch (error) {
        if (!(error instanceof PathOutsideRootsError)) throw error;
        sendFieldErrors(res, [{ field: 'query.path', message: error.message }]);
        return;
      }
    }
    res.json(await listDataFolders(config.dataRoots, folder, config.demoDataDir));
  });
  return router;
}
