/**
 * A line chart that grows: points are pushed into named series and drawn with
 * `chart.update('none')` (no animation, no re-parse of earlier points) at most once per animation
 * frame. Each series keeps its raw points; what is plotted is derived from them: debiased EMA
 * smoothing (smoothing.ts, TensorBoard's) for the series that allow it, and only y > 0 on a log
 * axis. The figure has PNG (Chart.js toBase64Image) and CSV/JSON (raw points) download buttons.
 *
 * The canvas carries `data-points` (total points drawn), `data-plotted-sum` (Σ of the plotted y,
 * so a test can see smoothing change the series), `data-smoothing`, `data-scale` and `data-y-label`.
 */
import type { ChartDataset, ScatterDataPoint } from 'chart.js';
import { h } from '../dom.ts';
import { downloadCsv, downloadJson, downloadUrl } from '../download.ts';
import { Chart } from './setup.ts';
import { emaDebiased } from './smoothing.ts';

export interface LiveLineChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  logY?: boolean;
  /** stable name for tests, CSS and downloaded file names */
  id: string;
  yMin?: number;
  yMax?: number;
  /** values are fractions shown as percent (ticks and tooltips ×100, "%") */
  percent?: boolean;
}

export interface SeriesStyle {
  label: string;
  color: string;
  dashed?: boolean;
  /** draw point markers (for sparse series such as per-epoch values) */
  points?: boolean;
  /** follow the chart's smoothing (default: true unless `points`) */
  smooth?: boolean;
}

type LineDataset = ChartDataset<'line', ScatterDataPoint[]>;

/** Tick labels: up to 3 significant digits, no trailing zeros (0.000123 → 1.23e-4). */
function formatTick(value: number): string {
  if (value === 0) return '0';
  const abs = Math.abs(value);
  return abs < 1e-3 || abs >= 1e5 ? value.toExponential(1) : String(Number(value.toPrecision(3)));
}

interface Point {
  x: number;
  y: number;
}

interface Series {
  dataset: LineDataset;
  raw: Point[];
  smooth: boolean;
  /** running EMA state for appending without recomputing */
  ema: number;
  seen: number;
}

export class LiveLineChart {
  readonly element: HTMLElement;
  private readonly chart: Chart<'line', ScatterDataPoint[]>;
  private readonly canvas: HTMLCanvasElement;
  private readonly caption: HTMLElement;
  private readonly series = new Map<string, Series>();
  private frame = 0;
  private windowSize: number | null = null;
  private maxX = -Infinity;
  private smoothing = 0;
  private logY: boolean;

  constructor(private readonly options: LiveLineChartOptions) {
    this.logY = options.logY ?? false;
    this.canvas = h('canvas', { 'data-chart': options.id, 'data-points': 0, 'data-plotted-sum': 0, 'data-smoothing': 0, 'data-scale': this.logY ? 'log' : 'linear' });
    this.caption = h('span', { class: 'chart-title' }, options.title);
    const button = (label: string, kind: string, onclick: () => void) =>
      h('button', { type: 'button', class: 'small', 'data-export': kind, title: `download this chart as ${label}`, onclick }, label);
    this.element = h('figure', { class: 'chart', 'data-figure': options.id },
      h('figcaption', {}, this.caption,
        h('span', { class: 'export-buttons' },
          button('PNG', 'png', () => this.downloadPng()),
          button('CSV', 'csv', () => this.downloadCsv()),
          button('JSON', 'json', () => this.downloadJson()),
        ),
      ),
      h('div', { class: 'chart-box' }, this.canvas),
    );
    const percent = options.percent ?? false;
    const formatY = (value: number) => (percent ? `${(value * 100).toFixed(1)} %` : String(Number(value.toPrecision(4))));
    this.chart = new Chart(this.canvas, {
      type: 'line',
      data: { datasets: [] },
      options: {
        animation: false,
        parsing: false,
        normalized: true,
        responsive: true,
        maintainAspectRatio: false,
        interaction: { mode: 'nearest', axis: 'x', intersect: false },
        scales: {
          x: { type: 'linear', title: { display: true, text: options.xLabel }, ticks: { maxTicksLimit: 8 } },
          y: {
            type: this.logY ? 'logarithmic' : 'linear',
            title: { display: true, text: options.yLabel },
            min: options.yMin,
            max: options.yMax,
            // a log axis makes a tick per minor decade step: keep a few, with short labels
            ticks: percent
              ? { callback: (value) => `${Math.round(Number(value) * 100)} %` }
              : { maxTicksLimit: 7, autoSkip: true, autoSkipPadding: 6, callback: (value) => formatTick(Number(value)) },
          },
        },
        plugins: {
          legend: { position: 'bottom', labels: { boxWidth: 12, boxHeight: 2 } },
          decimation: { enabled: true, algorithm: 'lttb', samples: 400 },
          tooltip: {
            callbacks: {
              title: (items) => `${options.xLabel} ${items[0]?.parsed.x ?? ''}`,
              label: (item) => `${item.dataset.label}: ${formatY(item.parsed.y ?? Number.NaN)}`,
            },
          },
        },
        elements: { point: { radius: 0, hitRadius: 6 }, line: { borderWidth: 2, tension: 0 } },
      },
    });
  }

  get id(): string {
    return this.options.id;
  }

  setTitle(title: string): void {
    this.caption.textContent = title;
  }

  setYLabel(label: string): void {
    const y = this.chart.options.scales!.y!;
    if (y.title) y.title.text = label;
    this.schedule();
  }

  /** Create a series; idempotent. */
  ensureSeries(key: string, style: SeriesStyle): void {
    if (this.series.has(key)) return;
    const dataset: LineDataset = {
      label: style.label,
      data: [],
      borderColor: style.color,
      backgroundColor: style.color,
      borderDash: style.dashed ? [6, 4] : undefined,
      pointRadius: style.points ? 3 : 0,
      spanGaps: true,
    };
    this.series.set(key, { dataset, raw: [], smooth: style.smooth ?? !style.points, ema: 0, seen: 0 });
    this.chart.data.datasets.push(dataset);
    this.schedule();
  }

  has(key: string): boolean {
    return this.series.has(key);
  }

  push(key: string, x: number, y: number | null): void {
    const series = this.series.get(key);
    if (!series || y === null || !Number.isFinite(y)) return;
    // x going back means a run resumed from a checkpoint and replays those steps: replace them.
    if (series.raw.length && series.raw[series.raw.length - 1].x >= x) {
      series.raw = series.raw.filter((p) => p.x < x);
      series.raw.push({ x, y });
      this.replot();
      return;
    }
    series.raw.push({ x, y });
    let plotted = y;
    if (series.smooth && this.smoothing > 0) {
      series.seen += 1;
      series.ema = this.smoothing * series.ema + (1 - this.smoothing) * y;
      plotted = series.ema / (1 - this.smoothing ** series.seen);
    }
    if (!this.logY || plotted > 0) series.dataset.data.push({ x, y: plotted });
    if (x > this.maxX) this.maxX = x;
    this.schedule();
  }

  /** EMA weight in [0, 1): 0 plots the raw values. */
  setSmoothing(weight: number): void {
    this.smoothing = weight;
    this.replot();
  }

  setLogScale(log: boolean): void {
    this.logY = log;
    const y = this.chart.options.scales!.y!;
    y.type = log ? 'logarithmic' : 'linear';
    // a log axis cannot start at 0: let it fit the data
    y.min = log ? undefined : this.options.yMin;
    this.replot();
  }

  /** Show only the last `size` units of x (null: everything), following new points. */
  setWindow(size: number | null): void {
    this.windowSize = size;
    this.schedule();
  }

  /** Remove every series (e.g. when the layer selection changes). */
  reset(): void {
    this.series.clear();
    this.chart.data.datasets = [];
    this.maxX = -Infinity;
    this.schedule();
  }

  get pointCount(): number {
    let total = 0;
    for (const series of this.series.values()) total += series.dataset.data.length;
    return total;
  }

  /** Rebuild every plotted series from its raw points (smoothing or scale changed). */
  private replot(): void {
    for (const series of this.series.values()) {
      const ys = series.smooth && this.smoothing > 0 ? emaDebiased(series.raw.map((p) => p.y), this.smoothing) : series.raw.map((p) => p.y);
      series.seen = series.raw.length;
      // the EMA state that emaDebiased ended in, so later pushes continue it
      series.ema = series.seen ? ys[ys.length - 1] * (1 - this.smoothing ** series.seen) : 0;
      series.dataset.data = series.raw.map((p, i) => ({ x: p.x, y: ys[i] })).filter((p) => !this.logY || p.y > 0);
    }
    this.schedule();
  }

  private schedule(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => this.draw());
  }

  private draw(): void {
    if (this.frame) cancelAnimationFrame(this.frame);
    this.frame = 0;
    const x = this.chart.options.scales!.x!;
    x.min = this.windowSize !== null && Number.isFinite(this.maxX) ? Math.max(0, this.maxX - this.windowSize) : undefined;
    this.chart.update('none');
    let sum = 0;
    for (const series of this.series.values()) for (const p of series.dataset.data) sum += p.y ?? 0;
    this.canvas.dataset.points = String(this.pointCount);
    this.canvas.dataset.plottedSum = sum.toPrecision(8);
    this.canvas.dataset.smoothing = String(this.smoothing);
    this.canvas.dataset.scale = this.logY ? 'log' : 'linear';
    this.canvas.dataset.yLabel = String(this.chart.options.scales!.y!.title?.text ?? '');
  }

  /** Downloaded files are named `<prefix>-<chart id>.<ext>`; the view sets the prefix (run id). */
  filePrefix = 'bnlab';

  private fileName(ext: string): string {
    return `${this.filePrefix}-${this.options.id}.${ext}`;
  }

  /** The chart as drawn (white background, see setup.ts), as a PNG file. */
  downloadPng(): void {
    this.draw();
    downloadUrl(this.chart.toBase64Image('image/png', 1), this.fileName('png'));
  }

  /** Raw points (not smoothed), one row per point: series, x, y. */
  private rows(): { series: string; x: number; y: number }[] {
    const rows: { series: string; x: number; y: number }[] = [];
    for (const series of this.series.values()) for (const p of series.raw) rows.push({ series: String(series.dataset.label), x: p.x, y: p.y });
    return rows;
  }

  downloadCsv(): void {
    downloadCsv(this.fileName('csv'), ['series', this.options.xLabel, this.options.yLabel], this.rows().map((r) => [r.series, r.x, r.y]));
  }

  downloadJson(): void {
    downloadJson(this.fileName('json'), { title: this.caption.textContent, x: this.options.xLabel, y: this.options.yLabel, points: this.rows() });
  }

  destroy(): void {
    if (this.frame) cancelAnimationFrame(this.frame);
    this.chart.destroy();
  }
}
