/**
 * A policy comparison, live: every policy on the same axes (total drift, the drift of one picked
 * layer, train loss, val accuracy), one drift heatmap per policy, and the final table (val accuracy
 * and loss, time, total drift) filled in as each run ends.
 */
import type { EventEnvelope, JobDetail, JobSummary } from '../../../server/schema/api.ts';
import { DriftHeatmap } from '../charts/drift-heatmap.ts';
import { LiveLineChart } from '../charts/live-line-chart.ts';
import { PALETTE } from '../charts/setup.ts';
import { fill, formatNumber, formatPercent, formatSeconds, h } from '../dom.ts';
import type { LiveConnection } from '../live.ts';
import { JobData, mostDrifting, type DriftMetric, type RunSeries } from '../run-data.ts';
import { jobActions, metricSelect, PauseGate, runProgressText, statusBadge, windowSelect } from './controls.ts';

export class ComparisonView {
  private readonly data = new JobData();
  private metric: DriftMetric = 'meanShift';
  private layer: string | null = null;
  private autoLayer = true;
  private readonly totalDrift = new LiveLineChart({ id: 'total-drift', title: 'Total BN drift (Σ over layers of mean shift)', xLabel: 'step', yLabel: 'Σ mean shift' });
  private readonly layerDrift = new LiveLineChart({ id: 'layer-drift', title: 'Drift of one layer', xLabel: 'step', yLabel: 'drift' });
  private readonly loss = new LiveLineChart({ id: 'loss', title: 'Train loss', xLabel: 'step', yLabel: 'cross-entropy' });
  private readonly valAccuracy = new LiveLineChart({ id: 'val-accuracy', title: 'Val accuracy (inference-mode BN)', xLabel: 'epoch', yLabel: 'accuracy', yMin: 0, yMax: 1 });
  private readonly heatmaps = new Map<string, DriftHeatmap>();
  private readonly policyOf = new Map<string, string>();
  private readonly heatmapRow = h('div', { class: 'heatmap-row' });
  private readonly layerSelect = h('select', { 'aria-label': 'layer' }, h('option', { value: '' }, 'most drifting layer'));
  private readonly table = h('table', { class: 'final-table', 'data-final-table': '', 'data-complete': 'false' });
  private readonly header = h('div', { class: 'run-header' });
  private readonly gate = new PauseGate<EventEnvelope>((items) => this.apply(items));
  private readonly stopWatching: () => void;
  private readonly stopJobUpdates: () => void;
  private job: JobSummary;

  constructor(root: HTMLElement, detail: JobDetail, live: LiveConnection) {
    this.job = detail;
    // Fix colours by the order the policies were asked for.
    detail.runs.forEach((run) => this.ensureRun(run.runId, run.label ?? run.policy ?? run.runId));
    this.layerSelect.addEventListener('change', () => {
      this.autoLayer = !this.layerSelect.value;
      this.layer = this.layerSelect.value || this.layer;
      this.rebuildLayerDrift();
    });
    const stepWindow = windowSelect((size) => [this.totalDrift, this.layerDrift, this.loss].forEach((c) => c.setWindow(size)));
    root.replaceChildren(
      h('section', { class: 'view comparison-view', 'data-view': 'comparison' },
        this.header,
        h('div', { class: 'toolbar' }, this.gate.button, stepWindow, metricSelect(this.metric, (m) => this.setMetric(m)), this.layerSelect),
        h('div', { class: 'chart-grid' }, this.totalDrift.element, this.layerDrift.element, this.loss.element, this.valAccuracy.element),
        h('h2', {}, 'Drift heatmaps, one per policy (BN layers, input at top, × time; one colour scale)'),
        this.heatmapRow,
        h('h2', {}, 'Results'),
        this.table,
      ),
    );
    this.renderHeader();
    this.renderTable();
    this.stopWatching = live.watch(detail.id, (events) => this.gate.push(events));
    this.stopJobUpdates = live.onJob((summary) => {
      if (summary.id !== this.job.id) return;
      this.job = summary;
      this.renderHeader();
      this.renderTable();
    });
  }

  private colourOf(runId: string): string {
    return PALETTE[[...this.data.runs.keys()].indexOf(runId) % PALETTE.length];
  }

  private ensureRun(runId: string, policy: string): RunSeries {
    const run = this.data.ensure(runId);
    if (!this.policyOf.has(runId)) this.policyOf.set(runId, policy);
    const colour = this.colourOf(runId);
    this.totalDrift.ensureSeries(runId, { label: policy, color: colour });
    this.loss.ensureSeries(runId, { label: policy, color: colour });
    this.valAccuracy.ensureSeries(runId, { label: policy, color: colour, points: true });
    this.layerDrift.ensureSeries(runId, { label: policy, color: colour });
    if (!this.heatmaps.has(runId)) {
      const heatmap = new DriftHeatmap(policy, runId);
      this.heatmaps.set(runId, heatmap);
      this.heatmapRow.append(heatmap.element);
    }
    return run;
  }

  private renderHeader(): void {
    const done = this.job.runs.filter((r) => r.status !== 'queued' && r.status !== 'running').length;
    fill(this.header,
      h('h1', {}, this.job.name, ' ', statusBadge(this.job.status)),
      h('p', { class: 'muted' }, `${this.job.id} · ${done} of ${this.job.runs.length} runs done · one queued task per run, aggregated when all are done`),
      h('ol', { class: 'run-steps' },
        this.job.runs.map((r) =>
          h('li', { 'data-run': r.runId },
            h('span', { class: 'swatch', style: `background:${this.colourOf(r.runId)}` }),
            `${r.label ?? r.policy ?? r.runId} `,
            statusBadge(r.status),
            h('span', { class: 'muted', 'data-progress': '' }, ` ${runProgressText(r)}`),
          ),
        ),
      ),
      jobActions(this.job),
      this.job.error ? h('pre', { class: 'error-box' }, this.job.error) : null,
    );
  }

  private renderTable(): void {
    const complete = this.job.status !== 'queued' && this.job.status !== 'running';
    this.table.dataset.complete = String(complete);
    this.table.replaceChildren(
      h('thead', {}, h('tr', {}, ['policy', 'status', 'val accuracy', 'val loss', 'val acc., BN train mode', 'time', 'steps', 'total drift (Σ mean shift)'].map((c) => h('th', {}, c)))),
      h('tbody', {},
        this.job.runs.map((r) => {
          const s = r.summary;
          return h('tr', { 'data-run': r.runId },
            h('td', {}, h('span', { class: 'swatch', style: `background:${this.colourOf(r.runId)}` }), r.label ?? r.policy ?? r.runId),
            h('td', {}, statusBadge(r.status)),
            h('td', { class: 'num' }, formatPercent(s?.valAccuracy)),
            h('td', { class: 'num' }, formatNumber(s?.valLoss)),
            h('td', { class: 'num' }, formatPercent(s?.valTrainModeAccuracy)),
            h('td', { class: 'num' }, formatSeconds(s?.seconds)),
            h('td', { class: 'num' }, s ? String(s.steps) : '–'),
            h('td', { class: 'num' }, formatNumber(s?.totalMeanShift)),
          );
        }),
      ),
    );
  }

  private apply(envelopes: EventEnvelope[]): void {
    let drifted = false;
    for (const { event } of envelopes) {
      if (!this.data.runs.has(event.runId)) this.ensureRun(event.runId, event.runId);
      const run = this.data.apply(event);
      switch (event.type) {
        case 'stepEnd':
          this.loss.push(run.runId, event.step, event.loss);
          break;
        case 'epochEnd':
          this.valAccuracy.push(run.runId, event.epoch + 1, event.val.accuracy);
          break;
        case 'bnStats': {
          drifted = true;
          const snapshot = run.snapshots[run.snapshots.length - 1];
          this.totalDrift.push(run.runId, snapshot.step, snapshot.totalMeanShift);
          const heatmap = this.heatmaps.get(run.runId)!;
          heatmap.setLayers(run.layers);
          heatmap.addColumn(snapshot.step, Float32Array.from(run.layers, (l) => snapshot.byLayer.get(l)?.[this.metric] ?? NaN));
          if (this.layer) this.layerDrift.push(run.runId, snapshot.step, snapshot.byLayer.get(this.layer)?.[this.metric] ?? null);
          break;
        }
        default:
          break;
      }
    }
    if (drifted) {
      this.refreshLayerChoice();
      this.shareHeatmapScale();
    }
  }

  /** One colour scale for all policies' heatmaps: the largest drift any of them has shown. */
  private shareHeatmapScale(): void {
    const max = Math.max(0, ...[...this.heatmaps.values()].map((m) => m.maximum));
    for (const heatmap of this.heatmaps.values()) heatmap.shareScale(max);
  }

  private refreshLayerChoice(): void {
    const runs = [...this.data.runs.values()];
    const layers = runs.find((r) => r.layers.length)?.layers ?? [];
    if (this.layerSelect.options.length - 1 !== layers.length) {
      this.layerSelect.replaceChildren(h('option', { value: '' }, 'most drifting layer'), ...layers.map((l) => h('option', { value: l }, l)));
    }
    if (!this.autoLayer) return;
    const top = mostDrifting(runs, this.metric, 1)[0] ?? null;
    if (top !== this.layer) {
      this.layer = top;
      this.rebuildLayerDrift();
    }
  }

  private rebuildLayerDrift(): void {
    this.layerDrift.reset();
    for (const run of this.data.runs.values()) {
      this.layerDrift.ensureSeries(run.runId, { label: this.policyOf.get(run.runId) ?? run.policy, color: this.colourOf(run.runId) });
      if (!this.layer) continue;
      for (const snapshot of run.snapshots) this.layerDrift.push(run.runId, snapshot.step, snapshot.byLayer.get(this.layer)?.[this.metric] ?? null);
    }
    const caption = this.layerDrift.element.querySelector('figcaption');
    if (caption) caption.textContent = this.layer ? `Drift of ${this.layer}${this.autoLayer ? ' (most drifting)' : ''}` : 'Drift of one layer';
  }

  private setMetric(metric: DriftMetric): void {
    this.metric = metric;
    for (const run of this.data.runs.values()) {
      const heatmap = this.heatmaps.get(run.runId)!;
      heatmap.clearColumns();
      for (const s of run.snapshots) heatmap.addColumn(s.step, Float32Array.from(run.layers, (l) => s.byLayer.get(l)?.[metric] ?? NaN));
    }
    this.shareHeatmapScale();
    this.refreshLayerChoice();
    this.rebuildLayerDrift();
  }

  dispose(): void {
    this.stopWatching();
    this.stopJobUpdates();
    [this.totalDrift, this.layerDrift, this.loss, this.valAccuracy].forEach((c) => c.destroy());
    this.heatmaps.forEach((m) => m.destroy());
  }
}
