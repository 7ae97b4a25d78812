/**
 * A policy comparison, live — or an overlay of any runs picked in the runs list (several jobs): every
 * run on the same axes (total drift, the drift of one picked layer, train loss, val accuracy against
 * step), one drift heatmap per run, and the final table (val accuracy and loss, time, total drift)
 * filled in as each run ends; for a finished comparison one sentence per policy on what happened.
 */
import type { EventEnvelope, JobDetail, JobSummary, RunProgress } from '../../../server/schema/api.ts';
import { api } from '../api.ts';
import { DriftHeatmap } from '../charts/drift-heatmap.ts';
import { LiveLineChart } from '../charts/live-line-chart.ts';
import { PALETTE } from '../charts/setup.ts';
import { fill, formatNumber, formatPercent, formatSeconds, h } from '../dom.ts';
import { tableExportButtons } from '../download.ts';
import type { LiveConnection } from '../live.ts';
import { policyStories } from '../policy-story.ts';
import { DRIFT_AXIS, JobData, mostDrifting, type DriftMetric, type RunSeries } from '../run-data.ts';
import { jobActions, logScaleToggle, metricSelect, PauseGate, runProgressText, smoothingSlider, statusBadge, windowSelect } from './controls.ts';
import { loadRunFolders, manageActions, runFolderPanel } from './run-actions.ts';
import { seedStatisticsPanel } from './seed-statistics.ts';

/** Why the train-mode column differs from val accuracy, next to the table that shows both. */
const TRAIN_MODE_NOTE =
  '"val acc., BN train mode" normalises each val batch with its own statistics; it differs from val accuracy (running statistics) because the running averages (EMA, Keras momentum 0.99) still lag behind this data after a short run — PreciseBN (--precise-bn) recomputes them exactly and closes the gap.';

export class ComparisonView {
  private readonly data = new JobData();
  private metric: DriftMetric = 'meanShift';
  private layer: string | null = null;
  private autoLayer = true;
  private readonly totalDrift = new LiveLineChart({ id: 'total-drift', title: 'Total BN drift (Σ over layers of mean shift)', xLabel: 'step', yLabel: 'Σ mean shift (σ₀ units)' });
  private readonly layerDrift = new LiveLineChart({ id: 'layer-drift', title: 'Drift of one layer', xLabel: 'step', yLabel: DRIFT_AXIS.meanShift });
  private readonly loss = new LiveLineChart({ id: 'loss', title: 'Train loss', xLabel: 'step', yLabel: 'cross-entropy loss (nats)' });
  private readonly valAccuracy = new LiveLineChart({ id: 'val-accuracy', title: 'Val accuracy (inference-mode BN), per epoch and final', xLabel: 'step', yLabel: 'val accuracy (%)', yMin: 0, yMax: 1, percent: true });
  private readonly heatmaps = new Map<string, DriftHeatmap>();
  private readonly labelOf = new Map<string, string>();
  private readonly heatmapRow = h('div', { class: 'heatmap-row' });
  private readonly layerSelect = h('select', { 'aria-label': 'layer' }, h('option', { value: '' }, 'most drifting layer'));
  private readonly table = h('table', { class: 'final-table', 'data-final-table': '', 'data-complete': 'false' });
  private readonly stories = h('div', { class: 'stories', 'data-stories': '' });
  private readonly folders = h('div', { class: 'run-folders' });
  private readonly seedStats = h('div', { class: 'seed-stats' });
  private seedStatsLoaded = false;
  private readonly header = h('div', { class: 'run-header' });
  private readonly actionMessage = h('p', { class: 'form-message', role: 'status' });
  private readonly gate = new PauseGate<EventEnvelope>((items) => this.apply(items));
  private readonly stopWatching: (() => void)[] = [];
  private readonly stopJobUpdates: () => void;
  /** the jobs shown: one comparison, or the picked runs of an overlay */
  private readonly jobs = new Map<string, JobSummary>();
  private foldersLoaded = false;

  constructor(root: HTMLElement, details: JobDetail | JobDetail[], live: LiveConnection, private readonly overlay = Array.isArray(details)) {
    const list = Array.isArray(details) ? details : [details];
    for (const detail of list) this.jobs.set(detail.id, detail);
    // Fix colours by the order the runs were asked for; in an overlay name each run by its job too.
    for (const detail of list) {
      for (const run of detail.runs) {
        const policy = run.label ?? run.policy ?? run.runId;
        this.ensureRun(run.runId, this.overlay ? `${policy} · ${detail.kind === 'comparison' ? `${detail.name} ` : ''}${detail.id}` : policy);
      }
    }
    this.layerSelect.addEventListener('change', () => {
      this.autoLayer = !this.layerSelect.value;
      this.layer = this.layerSelect.value || this.layer;
      this.rebuildLayerDrift();
    });
    const charts = [this.totalDrift, this.layerDrift, this.loss, this.valAccuracy];
    const prefix = this.overlay ? 'overlay' : list[0].id;
    for (const chart of charts) chart.filePrefix = prefix;
    const stepWindow = windowSelect((size) => charts.forEach((c) => c.setWindow(size)));
    root.replaceChildren(
      h('section', { class: 'view comparison-view', 'data-view': this.overlay ? 'overlay' : 'comparison' },
        this.header,
        h('div', { class: 'toolbar' }, this.gate.button, stepWindow, metricSelect(this.metric, (m) => this.setMetric(m)), this.layerSelect,
          smoothingSlider([this.totalDrift, this.layerDrift, this.loss]), logScaleToggle([this.totalDrift, this.layerDrift, this.loss])),
        h('div', { class: 'chart-grid' }, ...charts.map((c) => c.element)),
        h('h2', {}, 'Drift heatmaps, one per run (BN layers, input at top, × step; one colour scale)'),
        this.heatmapRow,
        h('h2', {}, 'Results ', tableExportButtons(this.table, () => `${prefix}-results`)),
        this.table,
        h('p', { class: 'muted', 'data-train-mode-note': '' }, TRAIN_MODE_NOTE),
        this.seedStats,
        this.stories,
        this.folders,
      ),
    );
    this.renderHeader();
    this.renderTable();
    for (const id of this.jobs.keys()) this.stopWatching.push(live.watch(id, (events) => this.gate.push(events)));
    this.stopJobUpdates = live.onJob((summary) => {
      if (!this.jobs.has(summary.id)) return;
      this.jobs.set(summary.id, summary);
      this.renderHeader();
      this.renderTable();
    });
  }

  private get runs(): RunProgress[] {
    return [...this.jobs.values()].flatMap((job) => job.runs);
  }

  private get complete(): boolean {
    return [...this.jobs.values()].every((job) => job.status !== 'queued' && job.status !== 'running');
  }

  private colourOf(runId: string): string {
    return PALETTE[[...this.data.runs.keys()].indexOf(runId) % PALETTE.length];
  }

  private ensureRun(runId: string, label: string): RunSeries {
    const run = this.data.ensure(runId);
    if (!this.labelOf.has(runId)) this.labelOf.set(runId, label);
    const colour = this.colourOf(runId);
    this.totalDrift.ensureSeries(runId, { label, color: colour });
    this.loss.ensureSeries(runId, { label, color: colour });
    this.valAccuracy.ensureSeries(runId, { label, color: colour, points: true });
    this.layerDrift.ensureSeries(runId, { label, color: colour });
    if (!this.heatmaps.has(runId)) {
      const heatmap = new DriftHeatmap(label, runId);
      heatmap.filePrefix = this.overlay ? 'overlay' : [...this.jobs.keys()][0] ?? 'bnlab';
      heatmap.setMetricLabel(DRIFT_AXIS[this.metric]);
      this.heatmaps.set(runId, heatmap);
      this.heatmapRow.append(heatmap.element);
    }
    return run;
  }

  private renderHeader(): void {
    const jobs = [...this.jobs.values()];
    const steps = h('ol', { class: 'run-steps' },
      this.runs.map((r) =>
        h('li', { 'data-run': r.runId },
          h('span', { class: 'swatch', style: `background:${this.colourOf(r.runId)}` }),
          `${this.labelOf.get(r.runId) ?? r.runId} `,
          statusBadge(r.status),
          h('span', { class: 'muted', 'data-progress': '' }, ` ${runProgressText(r)}`),
        ),
      ),
    );
    if (this.overlay) {
      fill(this.header,
        h('h1', {}, `Overlay of ${this.runs.length} runs`),
        h('p', { class: 'muted' }, `from ${jobs.map((j) => j.name).join('; ')} — recipes and data may differ: compare with care`),
        steps,
      );
      return;
    }
    const job = jobs[0];
    fill(this.header,
      h('h1', {}, job.name, ' ', statusBadge(job.status), ' ', manageActions(job, this.actionMessage)),
      this.actionMessage,
      h('p', { class: 'muted' }, `${job.id} · ${job.runs.filter((r) => r.status !== 'queued' && r.status !== 'running').length} of ${job.runs.length} runs done · same data split for every policy · one queued task per run, aggregated when all are done`),
      steps,
      jobActions(job),
      job.error ? h('pre', { class: 'error-box' }, job.error) : null,
    );
  }

  private renderTable(): void {
    const complete = this.complete;
    this.table.dataset.complete = String(complete);
    this.table.replaceChildren(
      h('thead', {}, h('tr', {}, (['run', 'status', 'val accuracy (%)', 'val loss (nats)', 'val acc., BN train mode (%)', 'time (s)', 'steps', 'total drift (Σ mean shift)'] as const).map((c) => h('th', {}, c)))),
      h('tbody', {},
        this.runs.map((r) => {
          const s = r.summary;
          return h('tr', { 'data-run': r.runId },
            h('td', {}, h('span', { class: 'swatch', style: `background:${this.colourOf(r.runId)}` }), this.labelOf.get(r.runId) ?? r.runId),
            h('td', {}, statusBadge(r.status)),
            // exports carry full-precision values (data-export); the cells show rounded ones
            h('td', { class: 'num', 'data-export': s ? (s.valAccuracy * 100).toString() : '' }, formatPercent(s?.valAccuracy)),
            h('td', { class: 'num', 'data-export': s?.valLoss ?? '' }, formatNumber(s?.valLoss)),
            h('td', { class: 'num', 'data-export': s?.valTrainModeAccuracy != null ? (s.valTrainModeAccuracy * 100).toString() : '' }, formatPercent(s?.valTrainModeAccuracy)),
            h('td', { class: 'num', 'data-export': s?.seconds ?? '' }, formatSeconds(s?.seconds)),
            h('td', { class: 'num' }, s ? String(s.steps) : '–'),
            h('td', { class: 'num', 'data-export': s?.totalMeanShift ?? '' }, formatNumber(s?.totalMeanShift)),
          );
        }),
      ),
    );
    if (complete && !this.overlay) this.renderStories();
    if (complete && !this.overlay && !this.seedStatsLoaded) {
      this.seedStatsLoaded = true;
      const id = [...this.jobs.keys()][0];
      void api<JobDetail>('GET', `api/runs/${encodeURIComponent(id)}`)
        .then((detail) => {
          if (detail.comparison) fill(this.seedStats, seedStatisticsPanel(detail.comparison));
        })
        .catch((error) => fill(this.seedStats, h('p', { class: 'error' }, (error as Error).message)));
    }
    if (complete && !this.foldersLoaded) {
      this.foldersLoaded = true;
      void Promise.all([...this.jobs.keys()].map(loadRunFolders))
        .then((lists) => fill(this.folders, h('h2', {}, 'Run folders, models, predict'),
          lists.flat().map((folder) => h('details', { class: 'run-folder-item' }, h('summary', {}, this.labelOf.get(folder.runId) ?? folder.runId), runFolderPanel(folder)))))
        .catch((error) => fill(this.folders, h('p', { class: 'error' }, (error as Error).message)));
    }
  }

  /** One sentence per policy, from the measured numbers (policy-story.ts). */
  private renderStories(): void {
    // the policy as the comparison asked for it (its label), e.g. 'train-bn+precise-bn'
    const outcomes = this.runs.filter((r) => r.summary).map((r) => ({ runId: r.runId, policy: this.labelOf.get(r.runId) ?? r.policy ?? r.runId, summary: r.summary! }));
    if (!outcomes.length) return;
    const classes = [...this.data.runs.values()].find((r) => r.started)?.started?.classes.length ?? 0;
    const stories = policyStories(outcomes, classes);
    fill(this.stories,
      h('h2', {}, 'What happened'),
      h('ul', {}, outcomes.map(({ policy, runId }) => h('li', { 'data-story': policy }, h('span', { class: 'swatch', style: `background:${this.colourOf(runId)}` }), stories.get(policy) ?? ''))),
    );
  }

  private apply(envelopes: EventEnvelope[]): void {
    let drifted = false;
    let started = false;
    for (const { event } of envelopes) {
      if (!this.data.runs.has(event.runId)) this.ensureRun(event.runId, event.runId);
      const run = this.data.apply(event);
      switch (event.type) {
        case 'runStarted':
          started = true;
          break;
        case 'stepEnd':
          this.loss.push(run.runId, event.step, event.loss);
          break;
        case 'epochEnd':
          this.valAccuracy.push(run.runId, event.step, event.val.accuracy);
          break;
        case 'runFinished': {
          // PreciseBN re-evaluates after the last epoch: plot the final accuracy where it differs
          const last = run.epochs[run.epochs.length - 1];
          const final = event.summary?.valAccuracy;
          if (last && final !== undefined && final !== last.val.accuracy) this.valAccuracy.push(run.runId, last.step, final);
          break;
        }
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
    if (started && this.complete && !this.overlay) this.renderStories();
  }

  /** One colour scale for all runs' heatmaps: the largest drift any of them has shown. */
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
      this.layerDrift.ensureSeries(run.runId, { label: this.labelOf.get(run.runId) ?? run.policy, color: this.colourOf(run.runId) });
      if (!this.layer) continue;
      for (const snapshot of run.snapshots) this.layerDrift.push(run.runId, snapshot.step, snapshot.byLayer.get(this.layer)?.[this.metric] ?? null);
    }
    this.layerDrift.setTitle(this.layer ? `Drift of ${this.layer}${this.autoLayer ? ' (most drifting)' : ''}` : 'Drift of one layer');
  }

  private setMetric(metric: DriftMetric): void {
    this.metric = metric;
    this.layerDrift.setYLabel(DRIFT_AXIS[metric]);
    for (const run of this.data.runs.values()) {
      const heatmap = this.heatmaps.get(run.runId)!;
      heatmap.setMetricLabel(DRIFT_AXIS[metric]);
      heatmap.clearColumns();
      for (const s of run.snapshots) heatmap.addColumn(s.step, Float32Array.from(run.layers, (l) => s.byLayer.get(l)?.[metric] ?? NaN));
    }
    this.shareHeatmapScale();
    this.refreshLayerChoice();
    this.rebuildLayerDrift();
  }

  dispose(): void {
    this.stopWatching.forEach((stop) => stop());
    this.stopJobUpdates();
    [this.totalDrift, this.layerDrift, this.loss, this.valAccuracy].forEach((c) => c.destroy());
    this.heatmaps.forEach((m) => m.destroy());
  }
}
