/**
 * The runs list: columns (policy, backbone, data, best val accuracy, status, duration, progress),
 * click a header to sort, a filter box, pages of PAGE_SIZE, CSV/JSON export of the filtered rows,
 * and check boxes to overlay any runs in one view (`#/overlay/<id>,<id>`). Rows come from
 * GET /api/runs (JobListing) and update live from the socket's job summaries.
 */
import type { JobListing, JobSummary } from '../../../server/schema/api.ts';
import { formatPercent, formatSeconds, h } from '../dom.ts';
import { downloadCsv, downloadJson } from '../download.ts';
import { queryRows, toRow, type RunRow, type RunsQuery, type SortKey } from '../runs-query.ts';
import { statusBadge } from './controls.ts';

const PAGE_SIZE = 25;

const COLUMNS: { key: SortKey | null; label: string; num?: boolean }[] = [
  { key: 'status', label: 'status' },
  { key: 'name', label: 'name' },
  { key: 'policy', label: 'policy' },
  { key: 'backbone', label: 'backbone' },
  { key: 'data', label: 'data' },
  { key: 'bestValAccuracy', label: 'best val acc.', num: true },
  { key: 'durationSeconds', label: 'duration', num: true },
  { key: null, label: 'progress', num: true },
  { key: 'createdAt', label: 'created' },
];

export class RunsTable {
  readonly element: HTMLElement;
  private readonly jobs = new Map<string, JobSummary & Partial<JobListing>>();
  private readonly selected = new Set<string>();
  private readonly body = h('tbody', {});
  private readonly head = h('tr', {});
  private readonly pager = h('div', { class: 'pager' });
  private readonly filterBox = h('input', { type: 'search', placeholder: 'filter: policy, data, status…', 'aria-label': 'filter runs', 'data-control': 'runs-filter' });
  private readonly overlayButton = h('a', { class: 'button', 'data-action': 'overlay', href: '#/' }, 'Overlay selected');
  private readonly query: RunsQuery = { filter: '', sort: 'createdAt', descending: true, page: 0, pageSize: PAGE_SIZE };
  private message: string | null = null;

  constructor() {
    this.filterBox.addEventListener('input', () => {
      this.query.filter = this.filterBox.value;
      this.query.page = 0;
      this.render();
    });
    const exportAll = (kind: 'csv' | 'json') => {
      const rows = queryRows(this.rows(), { ...this.query, page: 0, pageSize: Number.MAX_SAFE_INTEGER }).rows;
      if (kind === 'json') downloadJson('bnlab-runs', rows);
      else downloadCsv('bnlab-runs', Object.keys(rows[0] ?? toRow(emptyJob())), rows.map((r) => Object.values(r)));
    };
    this.element = h('div', { class: 'runs-table' },
      h('div', { class: 'toolbar' }, this.filterBox, this.overlayButton,
        h('span', { class: 'export-buttons' },
          h('button', { type: 'button', class: 'small', 'data-export': 'runs-csv', onclick: () => exportAll('csv') }, 'CSV'),
          h('button', { type: 'button', class: 'small', 'data-export': 'runs-json', onclick: () => exportAll('json') }, 'JSON'),
        ),
      ),
      h('div', { class: 'table-scroll' }, h('table', { class: 'run-list' }, h('thead', {}, this.head), this.body)),
      this.pager,
    );
    this.render();
  }

  /** Add or update a job (a live summary keeps the backbone/data the listing gave). */
  upsert(job: JobSummary | JobListing): void {
    const previous = this.jobs.get(job.id);
    this.jobs.set(job.id, { ...previous, ...job, backbone: (job as JobListing).backbone ?? previous?.backbone, data: (job as JobListing).data ?? previous?.data });
    this.render();
  }

  has(id: string): boolean {
    return this.jobs.has(id);
  }

  showMessage(message: string | null): void {
    this.message = message;
    this.render();
  }

  private rows(): RunRow[] {
    return [...this.jobs.values()].map((job) => toRow(job));
  }

  private render(): void {
    const { rows, total, pages, page } = queryRows(this.rows(), this.query);
    this.query.page = page;
    this.head.replaceChildren(
      h('th', { 'data-export': 'selected' }, ''),
      ...COLUMNS.map(({ key, label, num }) => {
        if (!key) return h('th', { class: num ? 'num' : undefined }, label);
        const active = this.query.sort === key;
        const th = h('th', { class: `sortable${num ? ' num' : ''}`, 'data-sort': key, 'aria-sort': active ? (this.query.descending ? 'descending' : 'ascending') : 'none', title: 'sort' },
          label, active ? (this.query.descending ? ' ▾' : ' ▴') : '');
        th.addEventListener('click', () => {
          if (this.query.sort === key) this.query.descending = !this.query.descending;
          else {
            this.query.sort = key;
            this.query.descending = key === 'bestValAccuracy' || key === 'createdAt' || key === 'durationSeconds';
          }
          this.render();
        });
        return th;
      }),
    );
    const selected = [...this.selected].filter((id) => this.jobs.has(id));
    this.overlayButton.textContent = `Overlay selected (${selected.length})`;
    this.overlayButton.setAttribute('href', selected.length ? `#/overlay/${selected.map(encodeURIComponent).join(',')}` : '#/');
    this.overlayButton.classList.toggle('disabled', selected.length === 0);
    this.overlayButton.setAttribute('aria-disabled', String(selected.length === 0));
    if (this.message) {
      this.body.replaceChildren(h('tr', {}, h('td', { colspan: COLUMNS.length + 1, class: 'error' }, this.message)));
    } else if (!total) {
      this.body.replaceChildren(h('tr', {}, h('td', { colspan: COLUMNS.length + 1, class: 'muted' }, this.jobs.size ? 'No run matches the filter.' : 'No runs yet: start the demo above.')));
    } else {
      this.body.replaceChildren(...rows.map((row) => this.renderRow(row)));
    }
    this.pager.replaceChildren(
      h('button', { type: 'button', class: 'small', 'data-action': 'prev-page', disabled: page === 0, onclick: () => this.goTo(page - 1) }, '‹ prev'),
      h('span', { class: 'muted', 'data-page': page + 1 }, ` page ${page + 1} of ${pages} · ${total} run${total === 1 ? '' : 's'} `),
      h('button', { type: 'button', class: 'small', 'data-action': 'next-page', disabled: page >= pages - 1, onclick: () => this.goTo(page + 1) }, 'next ›'),
    );
  }

  private goTo(page: number): void {
    this.query.page = page;
    this.render();
  }

  private renderRow(row: RunRow): HTMLElement {
    const job = this.jobs.get(row.id)!;
    const box = h('input', { type: 'checkbox', 'aria-label': `select ${row.name}`, checked: this.selected.has(row.id), 'data-select': row.id });
    box.addEventListener('change', () => {
      if (box.checked) this.selected.add(row.id);
      else this.selected.delete(row.id);
      this.render();
    });
    const running = job.runs.filter((r) => r.status === 'running');
    const current = running[0];
    const ended = job.runs.filter((r) => r.status !== 'running' && r.status !== 'queued').length;
    // runs of one job can go on several workers at once: "2 running · 3/6 done · on a:1, b:2"
    const workers = [...new Set(running.map((r) => r.worker).filter(Boolean))];
    const progress = running.length > 1
      ? `${running.length} running · ${ended}/${job.runs.length} done${workers.length ? ` · on ${workers.join(', ')}` : ''}`
      : current?.totalSteps
        ? `${job.runs.length > 1 ? `run ${ended + 1}/${job.runs.length} · ` : ''}step ${current.step}/${current.totalSteps}${current.worker ? ` · on ${current.worker}` : ''}`
        : job.status === 'queued' ? 'waiting' : job.status === 'running' ? 'starting' : `${ended}/${job.runs.length} runs`;
    return h('tr', { 'data-job': row.id },
      h('td', {}, box),
      h('td', { 'data-export': row.status }, statusBadge(row.status)),
      h('td', {}, h('a', { href: `#/job/${encodeURIComponent(row.id)}` }, row.name), row.kind === 'comparison' || row.kind === 'sweep' ? h('span', { class: 'muted' }, ` (${row.kind} of ${job.runs.length})`) : row.kind === 'inspect' ? h('span', { class: 'muted' }, ' (inspect)') : null),
      h('td', {}, row.policy),
      h('td', { title: job.backbone ?? '' }, row.backbone),
      h('td', { title: job.data ?? '' }, row.data),
      h('td', { class: 'num' }, formatPercent(row.bestValAccuracy)),
      h('td', { class: 'num' }, formatSeconds(row.durationSeconds)),
      h('td', { class: 'num' }, progress),
      h('td', { class: 'muted' }, new Date(row.createdAt).toLocaleString()),
    );
  }
}

function emptyJob(): JobSummary {
  return { id: '', kind: 'run', status: 'queued', name: '', createdAt: '', startedAt: null, finishedAt: null, policies: [], runs: [], lastSeq: 0, error: null, fromDisk: false, resumable: false };
}
