/**
 * The run-folder routes through the real server (scripted worker for speed): list a run's folder,
 * download one of its files, delete a finished run (and its folder) but not a running one, refuse
 * ids and names that would leave the checkpoints folder, and the predict route's body checks.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getJson, postJson, scriptedRecipe, startTestServer, waitForJob, type RunningServer } from './support/test-server.ts';

let running: RunningServer;
beforeAll(async () => {
  running = await startTestServer();
});
afterAll(async () => {
  await running.close();
  fs.rmSync(running.env.dir, { recursive: true, force: true });
});

const del = (url: string) => fetch(url, { method: 'DELETE' }).then(async (r) => ({ status: r.status, body: (await r.json()) as any }));

describe('run folder routes', () => {
  it('lists, downloads, deletes a finished run; 409 while it runs', async () => {
    const { url, env } = running;
    const slow = await postJson(`${url}api/runs`, scriptedRecipe(env, 'steps=400,delayMs=20'));
    expect(slow.status).toBe(201);
    await waitForJob(url, slow.body.runId, ['running']);
    const refused = await del(`${url}api/runs/${slow.body.runId}`);
    expect(refused.status).toBe(409);
    expect(refused.body.error).toMatch(/running: stop it before deleting/);
    await postJson(`${url}api/runs/${slow.body.runId}/stop`, {});
    await waitForJob(url, slow.body.runId, ['stopped']);

    const { body: { runId } } = await postJson(`${url}api/runs`, scriptedRecipe(env, 'steps=3,delayMs=1'));
    await waitForJob(url, runId, ['completed']);
    const files = await getJson(`${url}api/runs/${runId}/files`);
    expect(files.status).toBe(200);
    const [folder] = files.body.folders;
    expect(folder).toMatchObject({ runId, exists: true, dir: path.join(fs.realpathSync(env.config.checkpointsDir), runId) });
    expect(folder.files.map((f: { name: string }) => f.name)).toContain('metrics.jsonl');
    const download = await fetch(`${url}api/runs/${runId}/files/metrics.jsonl`);
    expect(download.status).toBe(200);
    expect(download.headers.get('content-disposition')).toMatch(/attachment/);
    expect((await download.text()).split('\n')[0]).toMatch(/"type":"runStarted"/);
    expect((await fetch(`${url}api/runs/${runId}/files/..%2F..%2Fetc%2Fpasswd`)).status).toBe(404);
    expect((await fetch(`${url}api/runs/${runId}/files/.lock`)).status).toBe(404);

    const removed = await del(`${url}api/runs/${runId}`);
    expect(removed.status).toBe(200);
    expect(fs.existsSync(folder.dir)).toBe(false);
    expect((await getJson(`${url}api/runs/${runId}`)).status).toBe(404);
    expect((await getJson(`${url}api/runs`)).body.runs.map((r: { id: string }) => r.id)).not.toContain(runId);
    for (const id of ['%2E%2E', '.', '%2E']) expect([400, 404]).toContain((await del(`${url}api/runs/${id}`)).status);
    expect(fs.existsSync(env.config.checkpointsDir)).toBe(true);
  });

  it('lists backbone and data per job', async () => {
    const { body } = await getJson(`${running.url}api/runs`);
    expect(body.runs[0]).toMatchObject({ backbone: expect.any(String), data: running.env.dataset });
  });

  it('predict: refuses a non-image body (415), a lying Content-Type (415), too large (413), no model (409)', async () => {
    const { url, env } = running;
    const { body: { runId } } = await postJson(`${url}api/runs`, scriptedRecipe(env, 'steps=2,delayMs=1'));
    await waitForJob(url, runId, ['completed']);
    const post = (body: BodyInit, type: string) => fetch(`${url}api/runs/${runId}/predict`, { method: 'POST', headers: { 'content-type': type }, body }).then(async (r) => ({ status: r.status, body: (await r.json()) as any }));
    expect((await post('hello', 'text/plain')).status).toBe(415);
    expect((await post('hello', 'constructor')).status).toBe(415);
    const lying = await post('not a png at all', 'image/png');
    expect(lying.status).toBe(415);
    expect(lying.body.error).toMatch(/first bytes/);
    const large = await post(Buffer.alloc(9 * 1024 * 1024), 'image/png');
    expect(large.status).toBe(413);
    expect(large.body.error).toMatch(/image too large \(limit 8mb\)/);
    const png = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(16)]);
    const noModel = await post(png, 'image/png');
    expect(noModel.status).toBe(409);
    expect(noModel.body.error).toMatch(/no saved model/);
  });
});
