/**
 * What a user does with a finished run besides looking at it: re-run it with changes, delete it,
 * find its checkpoint folder, download the exported model, classify an image with it.
 */
import type { JobSummary, PredictResponse, RunFilesResponse, RunFolder } from '../../../server/schema/api.ts';
import { api, apiBlob } from '../api.ts';
import { formatPercent, h } from '../dom.ts';
import { downloadUrl } from '../download.ts';

const IMAGE_TYPES = ['image/png', 'image/jpeg', 'image/webp'];

function isActive(job: JobSummary): boolean {
  return job.status === 'queued' || job.status === 'running';
}

/** "Re-run with changes" (the new-run form, prefilled from this job's recipe) and "Delete". */
/** Re-run with changes, and delete (finished jobs): what a user does with a run, beside stop/resume (controls.ts jobActions). */
export function manageActions(job: JobSummary, message: HTMLElement): HTMLElement {
  const rerun = h('a', { class: 'button', href: `#/new/${encodeURIComponent(job.id)}`, 'data-action': 'rerun', title: 'open the new-run form filled in with this recipe' }, 'Re-run with changes');
  const remove = h('button', { type: 'button', class: 'danger', 'data-action': 'delete', disabled: isActive(job), title: isActive(job) ? 'stop it first' : 'delete the run and its checkpoint folder' }, 'Delete');
  remove.addEventListener('click', async () => {
    if (!window.confirm(`Delete ${job.name} (${job.id}) and its checkpoint folder? This cannot be undone.`)) return;
    try {
      await api('DELETE', `api/runs/${encodeURIComponent(job.id)}`);
      location.hash = '#/';
    } catch (error) {
      message.textContent = (error as Error).message;
      message.classList.add('error');
    }
  });
  return h('span', { class: 'job-actions' }, job.kind === 'inspect' || job.kind === 'adapt' ? null : rerun, remove);
}

function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
}

async function downloadRunFile(runId: string, name: string): Promise<void> {
  const blob = await apiBlob(`api/runs/${encodeURIComponent(runId)}/files/${encodeURIComponent(name)}`);
  const url = URL.createObjectURL(blob);
  downloadUrl(url, `${runId}-${name}`);
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** A run folder: its path, preprocessing, the model's files to download, and the predict box. */
export function runFolderPanel(folder: RunFolder): HTMLElement {
  const message = h('p', { class: 'form-message', role: 'status' });
  const fail = (error: unknown) => {
    message.textContent = (error as Error).message;
    message.classList.add('error');
  };
  const fileButton = (name: string) =>
    h('button', { type: 'button', class: 'small', 'data-download': name, onclick: () => void downloadRunFile(folder.runId, name).catch(fail) }, name);
  const copy = h('button', { type: 'button', class: 'small', title: 'copy the path' }, 'copy');
  copy.addEventListener('click', () => void navigator.clipboard?.writeText(folder.dir).then(() => (copy.textContent = 'copied')).catch(fail));
  const sizes = new Map(folder.files.map((f) => [f.name, f.bytes]));
  const modelBytes = folder.modelFiles.reduce((sum, name) => sum + (sizes.get(name) ?? 0), 0);
  return h('div', { class: 'run-folder', 'data-run-folder': folder.runId },
    h('dl', { class: 'facts' },
      h('dt', {}, 'checkpoint folder'), h('dd', {}, h('code', { 'data-checkpoint-path': '' }, folder.dir), ' ', folder.exists ? copy : h('span', { class: 'muted' }, '(not on disk)')),
      folder.preprocessing ? [h('dt', {}, 'preprocessing'), h('dd', {}, `${folder.preprocessing === 'minus1to1' ? 'pixels scaled to [−1, 1]' : 'pixels scaled to [0, 1]'} (${folder.preprocessing}), ${folder.inputSize ?? '?'} px input, classes ${folder.classes.join(', ')}`)] : null,
      h('dt', {}, 'exported model'),
      h('dd', {}, folder.modelFiles.length
        ? [h('span', { class: 'muted' }, `tfjs layers format, ${formatBytes(modelBytes)}: `), ...folder.modelFiles.map(fileButton)]
        : h('span', { class: 'muted' }, 'none saved')),
      folder.files.some((f) => !folder.modelFiles.includes(f.name))
        ? [h('dt', {}, 'run files'), h('dd', {}, folder.files.filter((f) => !folder.modelFiles.includes(f.name)).map((f) => fileButton(f.name)))]
        : null,
    ),
    folder.modelFiles.length ? predictBox(folder.runId) : null,
    message,
  );
}

/** Upload one image; the server classifies it with this run's checkpoint (in a child process). */
function predictBox(runId: string): HTMLElement {
  const input = h('input', { type: 'file', accept: IMAGE_TYPES.join(','), 'data-predict-input': runId });
  const result = h('div', { class: 'predict-result', 'data-predict-result': runId, role: 'status' });
  input.addEventListener('change', async () => {
    const file = input.files?.[0];
    if (!file) return;
    if (!IMAGE_TYPES.includes(file.type)) {
      result.replaceChildren(h('p', { class: 'error' }, `${file.name}: use a PNG, JPEG or WebP image (got ${file.type || 'an unknown type'})`));
      return;
    }
    result.replaceChildren(h('p', { class: 'muted' }, `classifying ${file.name}…`));
    try {
      const answer = await api<PredictResponse>('POST', `api/runs/${encodeURIComponent(runId)}/predict`, file);
      result.replaceChildren(
        h('p', {}, h('b', {}, file.name), ' →'),
        h('ol', { class: 'predict-top' }, answer.top.map((t) => h('li', { 'data-label': t.label }, h('b', {}, t.label), ` ${formatPercent(t.probability)}`))),
      );
    } catch (error) {
      result.replaceChildren(h('p', { class: 'error' }, (error as Error).message));
    }
  });
  return h('div', { class: 'predict-box' }, h('label', { class: 'inline' }, 'Classify an image with this model: ', input), result);
}

/** The run folders of a job, loaded from the server (once the job has ended: folders change while it runs). */
export async function loadRunFolders(jobId: string): Promise<RunFolder[]> {
  return (await api<RunFilesResponse>('GET', `api/runs/${encodeURIComponent(jobId)}/files`)).folders;
}
