/**
 * Test-time adaptation of a finished run (the "adapt" job): the form that submits it (shown on a
 * finished run's view) and the view of its result: accuracy before and after adaptation for each
 * corruption × severity of the run's val images, and per BN layer what adaptation changed (the
 * drift of the adapted statistics and gamma/beta from the source's, one line per cell).
 */
import { ADAPT_CORRUPTION_NAMES, ADAPT_LIMITS, type AdaptCell, type AdaptReport } from '../../../server/schema/adapt-report.ts';
import type { AdaptJobResponse } from '../../../server/schema/api.ts';
import { api, ApiError } from '../api.ts';
import { LiveLineChart } from '../charts/live-line-chart.ts';
import { LAYER_PALETTE } from '../charts/setup.ts';
import { fill, formatNumber, formatPercent, formatSeconds, h } from '../dom.ts';
import { tableExportButtons } from '../download.ts';
import { DRIFT_AXIS, type DriftMetric } from '../run-data.ts';
import { metricSelect, statusBadge } from './controls.ts';

const STAGES: Record<string, string> = {
  corrupt: 'corrupting the val images',
  'evaluate-source': 'evaluating the source checkpoint',
  adapt: 'adapting',
  'evaluate-adapted': 'evaluating the adapted model',
};

/** "Adapt to a shift": submits POST /api/adapt for run `runId` and opens the adapt view. */
export function adaptForm(runId: string): HTMLElement {
  const method = h('select', { name: 'method' }, h('option', { value: 'stats' }, 'stats (re-estimate BN statistics)'), h('option', { value: 'tent' }, 'tent (entropy minimisation on gamma/beta)'));
  const prior = h('input', { type: 'number', name: 'prior', min: 0, step: 'any', placeholder: 'none (target only)' });
  const steps = h('input', { type: 'number', name: 'steps', min: 1, step: 1, placeholder: 'one pass', disabled: true });
  const batch = h('input', { type: 'number', name: 'batchSize', min: 1, value: 32 });
  method.addEventListener('change', () => (steps.disabled = method.value !== 'tent'));
  const corruptions = ADAPT_CORRUPTION_NAMES.map((name) => h('input', { type: 'checkbox', name: 'corruption', value: name, checked: name === 'contrast' }));
  const severities = [1, 2, 3, 4, 5].map((s) => h('input', { type: 'checkbox', name: 'severity', value: s, checked: s === 3 }));
  const message = h('p', { class: 'form-message', role: 'status' });
  const form = h('form', { class: 'run-form adapt-form', 'data-adapt-form': runId },
    h('div', { class: 'row' },
      h('label', {}, 'Method', method),
      h('label', { title: "Schneider et al.'s pseudo sample size N: the source statistics keep weight N/(N+n)" }, 'Prior N', prior),
      h('label', {}, 'TENT steps', steps),
      h('label', {}, 'Batch size', batch),
    ),
    h('fieldset', { class: 'field' }, h('legend', {}, `Corruptions (at most ${ADAPT_LIMITS.corruptions})`), corruptions.map((box) => h('label', { class: 'inline' }, box, ` ${box.value}`))),
    h('fieldset', { class: 'field' }, h('legend', {}, `Severities 1–5 (at most ${ADAPT_LIMITS.severities})`), severities.map((box) => h('label', { class: 'inline' }, box, ` ${box.value}`))),
    h('button', { class: 'primary', type: 'submit', 'data-action': 'adapt' }, 'Adapt'),
    message,
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    message.textContent = '';
    message.classList.remove('error');
    const body = {
      checkpoint: runId,
      method: method.value,
      prior: prior.value === '' ? null : Number(prior.value),
      steps: method.value === 'tent' && steps.value !== '' ? Number(steps.value) : null,
      batchSize: Number(batch.value),
      corruptions: corruptions.filter((b) => b.checked).map((b) => b.value),
      severities: severities.filter((b) => b.checked).map((b) => Number(b.value)),
    };
    try {
      const { adaptId } = await api<{ adaptId: string }>('POST', 'api/adapt', body);
      location.hash = `#/adapt/${encodeURIComponent(adaptId)}`;
    } catch (error) {
      message.classList.add('error');
      message.textContent = error instanceof ApiError && error.fields.length ? error.fields.map((f) => `${f.field}: ${f.message}`).join('\n') : (error as Error).message;
    }
  });
  return h('details', { class: 'adapt-panel', open: true }, h('summary', {}, 'Adapt to a shift'),
    h('p', { class: 'muted' }, 'Corrupts this run’s val images, evaluates the checkpoint on them, adapts its BatchNorm layers on the same images without their labels, and evaluates again, for each corruption × severity.'),
    form,
  );
}

export class AdaptView {
  private readonly result = h('div', { class: 'adapt-result' });
  private readonly header = h('div', { class: 'run-header' });
  private readonly drift = new LiveLineChart({ id: 'adapt-drift', title: 'What adaptation changed, per BN layer', xLabel: 'BN layer (network order, 0 = input side)', yLabel: DRIFT_AXIS.meanShift });
  private metric: DriftMetric = 'meanShift';
  private report: AdaptReport | null = null;
  private timer = 0;
  private disposed = false;

  constructor(root: HTMLElement, private readonly id: string) {
    this.drift.filePrefix = id;
    root.replaceChildren(h('section', { class: 'view adapt-view', 'data-view': 'adapt' }, this.header, this.result));
    void this.poll();
  }

  private async poll(): Promise<void> {
    if (this.disposed) return;
    try {
      const job = await api<AdaptJobResponse>('GET', `api/adapt/${encodeURIComponent(this.id)}`);
      const request = job.request;
      fill(this.header,
        h('h1', {}, `Adapt ${request?.checkpoint ?? ''} (${request?.method ?? '?'}) `, statusBadge(job.status)),
        h('p', { class: 'muted' }, [
          job.id,
          request ? `run ${request.checkpoint}` : null,
          request ? `prior ${request.prior ?? 'none'}` : null,
          request?.method === 'tent' ? `steps ${request.steps ?? 'one pass'}` : null,
          request ? `batch ${request.batchSize}` : null,
        ].filter(Boolean).join(' · '), ' · ', request ? h('a', { href: `#/job/${encodeURIComponent(request.checkpoint)}` }, 'source run') : null),
      );
      if (job.status === 'queued' || job.status === 'running') {
        const p = job.progress;
        fill(this.result, h('p', { 'data-adapt-progress': '' }, p ? `cell ${p.cell} of ${p.cells}: ${p.corruption} severity ${p.severity}, ${STAGES[p.stage] ?? p.stage}…` : 'waiting for a worker…'));
        this.timer = window.setTimeout(() => void this.poll(), 1000);
        return;
      }
      if (job.status !== 'completed' || !job.report) {
        fill(this.result, h('pre', { class: 'error-box' }, job.error ?? 'no report'));
        return;
      }
      this.render(job.report);
    } catch (error) {
      fill(this.result, h('pre', { class: 'error-box' }, (error as Error).message));
    }
  }

  private render(report: AdaptReport): void {
    this.report = report;
    const table = this.table(report.cells);
    fill(this.result,
      h('p', { class: 'muted' }, `${report.backbone} checkpoint of run ${report.runId} (${report.classes.length} classes), val images of ${report.data}, backend ${report.backend}. Accuracy in inference mode on the corrupted copy; the model is adapted on the same images without their labels.`),
      h('h2', {}, 'Accuracy before and after adaptation ', tableExportButtons(table, () => `${this.id}-accuracy`)),
      table,
      h('h2', {}, 'Per-layer drift caused by adaptation ', metricSelect(this.metric, (m) => this.setMetric(m))),
      this.drift.element,
      h('details', {}, h('summary', {}, 'BN layers by index'),
        h('ol', { start: 0, class: 'layer-index' }, (report.cells[0]?.drift ?? []).map((d) => h('li', {}, h('code', {}, d.layer))))),
    );
    this.plot();
  }

  private table(cells: AdaptCell[]): HTMLTableElement {
    const columns = ['corruption', 'severity', 'parameter', 'images', 'accuracy before', 'accuracy after', 'change (points)', 'entropy before', 'entropy after', 'seconds'];
    return h('table', { class: 'ranking adapt-table', 'data-adapt-table': '' },
      h('thead', {}, h('tr', {}, columns.map((c) => h('th', { 'data-export': c }, c)))),
      h('tbody', {}, cells.map((cell) => {
        const change = (cell.after.accuracy - cell.before.accuracy) * 100;
        return h('tr', { 'data-cell': `${cell.corruption}-${cell.severity}` },
          h('td', {}, cell.corruption),
          h('td', { class: 'num' }, String(cell.severity)),
          h('td', { class: 'num', 'data-export': cell.parameter }, `${cell.parameterName} ${formatNumber(cell.parameter)}`),
          h('td', { class: 'num' }, String(cell.images)),
          h('td', { class: 'num', 'data-before': cell.before.accuracy, 'data-export': cell.before.accuracy }, formatPercent(cell.before.accuracy)),
          h('td', { class: 'num', 'data-after': cell.after.accuracy, 'data-export': cell.after.accuracy }, formatPercent(cell.after.accuracy)),
          h('td', { class: `num ${change < 0 ? 'worse' : change > 0 ? 'better' : ''}`, 'data-export': change }, `${change > 0 ? '+' : ''}${change.toFixed(1)}`),
          h('td', { class: 'num', 'data-export': cell.before.entropy }, formatNumber(cell.before.entropy)),
          h('td', { class: 'num', 'data-export': cell.after.entropy }, formatNumber(cell.after.entropy)),
          h('td', { class: 'num', 'data-export': cell.seconds }, formatSeconds(cell.seconds)),
        );
      })),
    );
  }

  private setMetric(metric: DriftMetric): void {
    this.metric = metric;
    this.drift.setYLabel(DRIFT_AXIS[metric]);
    this.plot();
  }

  /** One line per cell over the BN layers (x = layer index in network order). */
  private plot(): void {
    this.drift.reset();
    (this.report?.cells ?? []).forEach((cell, i) => {
      const key = `${cell.corruption} ${cell.severity}`;
      this.drift.ensureSeries(key, { label: key, color: LAYER_PALETTE[i % LAYER_PALETTE.length], points: true });
      cell.drift.forEach((d, layer) => this.drift.push(key, layer, d[this.metric]));
    });
  }

  dispose(): void {
    this.disposed = true;
    clearTimeout(this.timer);
    this.drift.destroy();
  }
}
