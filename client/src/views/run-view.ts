/**
 * One run, live: loss and accuracy (train per step, val per epoch), per-layer drift lines for the
 * picked layers, a layers × time drift heatmap, the batch-vs-running gap, and the run's log; what
 * the data scan skipped and why, warnings, the preprocessing and checkpoint folder; smoothing and a
 * log axis; downloads of every chart (PNG/CSV/JSON) and of the run's history (CSV/JSON).
 */
import type { RunEvent } from '../../../server/schema/events.ts';
import type { Preprocessing } from '../../../server/schema/preprocessing.ts';
import { downloadCsv, downloadJson } from '../download.ts';
import { manageActions, loadRunFolders, runFolderPanel } from './run-actions.ts';
import { adaptForm } from './adapt-view.ts';
import type { EventEnvelope, JobDetail, JobSummary } from '../../../server/schema/api.ts';
import { api } from '../api.ts';
import { DriftHeatmap } from '../charts/drift-heatmap.ts';
import { LiveLineChart } from '../charts/live-line-chart.ts';
import { LAYER_PALETTE } from '../charts/setup.ts';
import { fill, formatNumber, formatPercent, formatSeconds, h } from '../dom.ts';
import type { LiveConnection } from '../live.ts';
import { DRIFT_AXIS, mostDrifting, RunSeries, type DriftMetric } from '../run-data.ts';
import { jobActions, LayerPicker, logScaleToggle, metricSelect, PauseGate, runProgressText, smoothingSlider, statusBadge, windowSelect } from './controls.ts';

const DEFAULT_LAYER_COUNT = 5;

export class RunView {
  private readonly run: RunSeries;
  private metric: DriftMetric = 'meanShift';
  private readonly loss = new LiveLineChart({ id: 'loss', title: 'Loss', xLabel: 'step', yLabel: 'cross-entropy loss (nats)' });
  private readonly accuracy = new LiveLineChart({ id: 'accuracy', title: 'Accuracy', xLabel: 'step', yLabel: 'accuracy (%)', yMin: 0, yMax: 1, percent: true });
  private readonly drift = new LiveLineChart({ id: 'drift', title: 'BN drift per layer', xLabel: 'step', yLabel: DRIFT_AXIS.meanShift });
  private readonly gap = new LiveLineChart({ id: 'gap', title: 'Batch vs running statistics gap', xLabel: 'step', yLabel: 'batch gap |μ_batch−μ|/σ (σ units)' });
  private readonly heatmap = new DriftHeatmap('Drift heatmap: BN layers (input at top) × step', 'run');
  private readonly events: RunEvent[] = [];
  private readonly folder = h('div', { class: 'run-folder-slot' });
  /** the "Adapt to a shift" form, once the run has completed */
  private readonly adaptSlot = h('div', { class: 'adapt-slot' });
  private readonly actionMessage = h('p', { class: 'form-message', role: 'status' });
  private foldersLoaded = false;
  private readonly picker = new LayerPicker(DEFAULT_LAYER_COUNT, () => this.rebuildLayerCharts());
  private readonly gate = new PauseGate<EventEnvelope>((items) => this.apply(items));
  private readonly header = h('div', { class: 'run-header' });
  private readonly summary = h('div', { class: 'run-summary' });
  private readonly logList = h('ol', { class: 'log-list' });
  private readonly stopWatching: () => void;
  private readonly stopJobUpdates: () => void;
  private job: JobSummary;

  constructor(
    private readonly root: HTMLElement,
    detail: JobDetail,
    live: LiveConnection,
  ) {
    this.job = detail;
    this.run = new RunSeries(detail.id);
    this.loss.ensureSeries('train', { label: 'train (per step)', color: '#94a3b8' });
    this.loss.ensureSeries('val', { label: 'val (per epoch)', color: '#dc2626', points: true });
    this.accuracy.ensureSeries('train', { label: 'train (per step)', color: '#94a3b8' });
    this.accuracy.ensureSeries('val', { label: 'val (per epoch)', color: '#2563eb', points: true });
    this.accuracy.ensureSeries('valTrainMode', { label: 'val, BN in training mode', color: '#d97706', points: true, dashed: true });
    const charts = [this.loss, this.accuracy, this.drift, this.gap];
    for (const chart of charts) chart.filePrefix = detail.id;
    this.heatmap.filePrefix = detail.id;
    this.heatmap.setMetricLabel(DRIFT_AXIS[this.metric]);
    const stepWindow = windowSelect((size) => charts.forEach((c) => c.setWindow(size)));
    const historyButton = (label: string, kind: string, onclick: () => void) => h('button', { type: 'button', class: 'small', 'data-export': kind, onclick }, label);
    root.replaceChildren(
      h('section', { class: 'view run-view', 'data-view': 'run' },
        this.header,
        this.summary,
        this.folder,
        this.adaptSlot,
        h('div', { class: 'toolbar' }, this.gate.button, stepWindow, metricSelect(this.metric, (m) => this.setMetric(m)), this.picker.element,
          smoothingSlider(charts), logScaleToggle([this.loss, this.drift, this.gap]),
          h('span', { class: 'export-buttons', 'data-history-export': '' }, 'history: ',
            historyButton('steps CSV', 'steps-csv', () => this.downloadSteps()),
            historyButton('epochs CSV', 'epochs-csv', () => this.downloadEpochs()),
            historyButton('events JSON', 'events-json', () => downloadJson(`${this.job.id}-events`, this.events)),
          ),
        ),
        h('div', { class: 'chart-grid' }, this.loss.element, this.accuracy.element, this.drift.element, this.gap.element),
        this.heatmap.element,
        h('details', { class: 'logs', open: true }, h('summary', {}, 'Log (info, warnings, errors)'), this.logList),
      ),
    );
    this.renderHeader();
    this.stopWatching = live.watch(detail.id, (events) => this.gate.push(events));
    this.stopJobUpdates = live.onJob((summary) => {
      if (summary.id !== this.job.id) return;
      this.job = summary;
      this.renderHeader();
    });
  }

  private renderHeader(): void {
    const run = this.job.runs[0];
    const total = run?.totalSteps ?? null;
    const done = total ? Math.min(1, (run?.step ?? 0) / total) : 0;
    const canStop = this.job.status === 'queued' || this.job.status === 'running';
    if (!canStop && !this.foldersLoaded) {
      this.foldersLoaded = true;
      void loadRunFolders(this.job.id)
        .then((folders) => fill(this.folder, folders.map(runFolderPanel)))
        .catch((error) => fill(this.folder, h('p', { class: 'error' }, (error as Error).message)));
    }
    if (this.job.status === 'completed' && this.job.kind === 'run' && !this.adaptSlot.firstChild) this.adaptSlot.append(adaptForm(this.job.id));
    fill(this.header,
      h('h1', {}, this.job.name, ' ', statusBadge(this.job.status), ' ', manageActions(this.job, this.actionMessage)),
      this.actionMessage,
      h('div', { class: 'progress', title: total ? `step ${run?.step} of ${total}` : 'waiting' }, h('div', { class: 'progress-bar', style: `width:${(done * 100).toFixed(1)}%` })),
      h('p', { class: 'muted', 'data-progress': '' }, [this.job.id, `policy ${this.job.policies.join(', ')}`, runProgressText(run)].filter(Boolean).join(' · ')),
      jobActions(this.job),
      this.job.error ? h('pre', { class: 'error-box' }, this.job.error) : null,
    );
  }

  private renderSummary(): void {
    const started = this.run.started;
    const finished = this.run.finished?.summary;
    const last = this.run.epochs[this.run.epochs.length - 1];
    const skipped = finished?.skippedFiles ?? [];
    const warnings = this.run.logs.filter((l) => l.level !== 'info');
    this.summary.replaceChildren(
      h('dl', { class: 'facts' },
        started ? [h('dt', {}, 'backbone'), h('dd', {}, `${started.backbone.name} (${started.backbone.bnLayers.length} BN layers, ${started.backbone.inputSize}px)`)] : null,
        started?.backbone.cutLayer ? [h('dt', {}, 'input'), h('dd', {}, `preprocessing ${preprocessingLabel(started.backbone.preprocessing)} · cut at ${started.backbone.cutLayer}`)] : null,
        started ? [h('dt', {}, 'data'), h('dd', {}, h('code', {}, started.recipe.data), ` · ${started.classes.length} classes (${started.classes.join(', ')}) · ${started.trainCount} train / ${started.valCount} val · backend ${started.backend}`)] : null,
        started ? [h('dt', {}, 'recipe'), h('dd', {}, `${started.recipe.epochs} epochs × ${started.stepsPerEpoch} steps, batch ${started.recipe.batchSize}, ${started.recipe.optimizer.type} lr ${started.recipe.optimizer.lr}${started.recipe.preciseBn ? ', PreciseBN after training' : ''}, seed ${started.recipe.seed}`)] : null,
        started ? [h('dt', {}, 'policy'), h('dd', {}, `${started.policy.name}: ${started.policy.description}`)] : null,
        last ? [h('dt', {}, 'val accuracy'), h('dd', {}, `${formatPercent(last.val.accuracy)} (loss ${formatNumber(last.val.loss)}) after epoch ${last.epoch + 1}`)] : null,
        finished ? [h('dt', {}, 'finished'), h('dd', {}, `${formatSeconds(finished.seconds)}, ${finished.steps} steps, total drift Σ mean shift ${formatNumber(finished.totalMeanShift)}`)] : null,
        finished?.checkpointDir ? [h('dt', {}, 'checkpoint'), h('dd', {}, h('code', {}, finished.checkpointDir))] : null,
        h('dt', {}, 'warnings'), h('dd', { 'data-warnings': warnings.length }, warnings.length ? `${warnings.length} (see the log below)` : 'none'),
        h('dt', {}, 'skipped files'),
        h('dd', { 'data-skipped': skipped.length },
          skipped.length
            ? h('details', { class: 'skipped-files' }, h('summary', {}, `${skipped.length} file${skipped.length === 1 ? '' : 's'} not used`),
                h('ul', {}, skipped.map((f) => h('li', {}, h('code', {}, f.path), ` — ${f.reason}`))))
            : finished ? 'none' : '–'),
      ),
    );
  }

  private apply(envelopes: EventEnvelope[]): void {
    let drifted = false;
    let summaryChanged = false;
    for (const { event } of envelopes) {
      if (event.runId !== this.job.id) continue;
      this.events.push(event);
      this.run.apply(event);
      drifted ||= event.type === 'bnStats';
      summaryChanged ||= event.type === 'runStarted' || event.type === 'epochEnd' || event.type === 'runFinished' || (event.type === 'log' && event.level !== 'info');
      this.plot(event);
    }
    if (drifted) {
      this.heatmap.setLayers(this.run.layers);
      if (this.picker.update(this.run.layers, mostDrifting([this.run], this.metric, DEFAULT_LAYER_COUNT))) this.rebuildLayerCharts();
    }
    if (summaryChanged) this.renderSummary();
  }

  private plot(event: RunEvent): void {
    switch (event.type) {
      case 'stepEnd':
        this.loss.push('train', event.step, event.loss);
        this.accuracy.push('train', event.step, event.accuracy);
        break;
      case 'epochEnd':
        this.loss.push('val', event.step, event.val.loss);
        this.accuracy.push('val', event.step, event.val.accuracy);
        this.accuracy.push('valTrainMode', event.step, event.valTrainModeAccuracy);
        break;
      case 'runFinished': {
        // PreciseBN re-evaluates after the last epoch: plot the final accuracy where it differs
        const last = this.run.epochs[this.run.epochs.length - 1];
        const final = event.summary?.valAccuracy;
        if (last && final !== undefined && final !== last.val.accuracy) this.accuracy.push('val', last.step, final);
        break;
      }
      case 'bnStats': {
        this.heatmap.setLayers(this.run.layers);
        const snapshot = this.run.snapshots[this.run.snapshots.length - 1];
        this.heatmap.addColumn(snapshot.step, Float32Array.from(this.run.layers, (l) => snapshot.byLayer.get(l)?.[this.metric] ?? NaN));
        for (const layer of this.picker.selection) {
          const drift = snapshot.byLayer.get(layer);
          if (!drift) continue;
          this.drift.push(layer, snapshot.step, drift[this.metric]);
          this.gap.push(layer, snapshot.step, drift.batchGap);
        }
        break;
      }
      case 'log':
        this.logList.append(h('li', { class: `log-${event.level}`, 'data-level': event.level }, `${event.level === 'info' ? '' : `${event.level}: `}${event.message}`));
        break;
      default:
        break;
    }
  }

  private downloadSteps(): void {
    downloadCsv(`${this.job.id}-steps`, ['step', 'epoch', 'loss', 'accuracy', 'ms_per_image'], this.run.steps.map((s) => [s.step, s.epoch, s.loss, s.accuracy, s.msPerImage]));
  }

  private downloadEpochs(): void {
    downloadCsv(
      `${this.job.id}-epochs`,
      ['epoch', 'step', 'train_loss', 'train_accuracy', 'val_loss', 'val_accuracy', 'val_accuracy_bn_train_mode'],
      this.run.epochs.map((e) => [e.epoch + 1, e.step, e.train.loss, e.train.accuracy, e.val.loss, e.val.accuracy, e.valTrainModeAccuracy]),
    );
  }

  private setMetric(metric: DriftMetric): void {
    this.metric = metric;
    this.drift.setYLabel(DRIFT_AXIS[metric]);
    this.heatmap.setMetricLabel(DRIFT_AXIS[metric]);
    this.heatmap.clearColumns();
    for (const snapshot of this.run.snapshots) {
      this.heatmap.addColumn(snapshot.step, Float32Array.from(this.run.layers, (l) => snapshot.byLayer.get(l)?.[metric] ?? NaN));
    }
    this.picker.update(this.run.layers, mostDrifting([this.run], metric, DEFAULT_LAYER_COUNT));
    this.rebuildLayerCharts();
  }

  /** Selection or measure changed: redraw the per-layer charts from the stored snapshots. */
  private rebuildLayerCharts(): void {
    this.drift.reset();
    this.gap.reset();
    this.picker.selection.forEach((layer, i) => {
      const color = LAYER_PALETTE[i % LAYER_PALETTE.length];
      this.drift.ensureSeries(layer, { label: layer, color });
      this.gap.ensureSeries(layer, { label: layer, color });
    });
    for (const snapshot of this.run.snapshots) {
      for (const layer of this.picker.selection) {
        const drift = snapshot.byLayer.get(layer);
        if (!drift) continue;
        this.drift.push(layer, snapshot.step, drift[this.metric]);
        this.gap.push(layer, snapshot.step, drift.batchGap);
      }
    }
  }

  dispose(): void {
    this.stopWatching();
    this.stopJobUpdates();
    [this.loss, this.accuracy, this.drift, this.gap].forEach((c) => c.destroy());
    this.heatmap.destroy();
  }
}

/** '[-1, 1]', '[0, 1]', 'imagenet' or 'mean … / std …' (the schema's describePreprocessing without importing zod into the page). */
function preprocessingLabel(p: Preprocessing | undefined): string {
  if (p === undefined) return '?';
  if (p === 'minus1to1') return '[-1, 1]';
  if (p === 'zero1') return '[0, 1]';
  if (p === 'imagenet') return 'ImageNet mean/std';
  return `mean ${p.mean.join(', ')} / std ${p.std.join(', ')}`;
}
