/**
 * A line chart that grows: points are pushed into named series and drawn with
 * `chart.update('none')` (no animation, no re-parse of earlier points) at most once per animation
 * frame. The canvas carries `data-points` (total points drawn), which the browser test reads.
 */
import type { ChartDataset, ScatterDataPoint } from 'chart.js';
import { h } from '../dom.ts';
import { Chart } from './setup.ts';

export interface LiveLineChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  logY?: boolean;
  /** stable name for tests and CSS */
  id: string;
  yMin?: number;
  yMax?: number;
}

export interface SeriesStyle {
  label: string;
  color: string;
  dashed?: boolean;
  /** draw point markers (for sparse series such as per-epoch values) */
  points?: boolean;
}

type LineDataset = ChartDataset<'line', ScatterDataPoint[]>;

export class LiveLineChart {
  readonly element: HTMLElement;
  private readonly chart: Chart<'line', ScatterDataPoint[]>;
  private readonly canvas: HTMLCanvasElement;
  private readonly series = new Map<string, LineDataset>();
  private frame = 0;
  private windowSize: number | null = null;
  private maxX = -Infinity;

  constructor(private readonly options: LiveLineChartOptions) {
    this.canvas = h('canvas', { 'data-chart': options.id, 'data-points': 0 });
    this.element = h('figure', { class: 'chart' }, h('figcaption', {}, options.title), h('div', { class: 'chart-box' }, this.canvas));
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
            type: options.logY ? 'logarithmic' : 'linear',
            title: { display: true, text: options.yLabel },
            min: options.yMin,
            max: options.yMax,
          },
        },
        plugins: {
          legend: { position: 'bottom', labels: { boxWidth: 12, boxHeight: 2 } },
          decimation: { enabled: true, algorithm: 'lttb', samples: 400 },
          tooltip: { callbacks: { title: (items) => `${options.xLabel} ${items[0]?.parsed.x ?? ''}` } },
        },
        elements: { point: { radius: 0, hitRadius: 6 }, line: { borderWidth: 2, tension: 0 } },
      },
    });
  }

  /** Create (or restyle) a series; idempotent. */
  ensureSeries(key: string, style: SeriesStyle): void {
    const existing = this.series.get(key);
    if (existing) return;
    const dataset: LineDataset = {
      label: style.label,
      data: [],
      borderColor: style.color,
      backgroundColor: style.color,
      borderDash: style.dashed ? [6, 4] : undefined,
      pointRadius: style.points ? 3 : 0,
      spanGaps: true,
    };
    this.series.set(key, dataset);
    this.chart.data.datasets.push(dataset);
    this.schedule();
  }

  has(key: string): boolean {
    return this.series.has(key);
  }

  push(key: string, x: number, y: number | null): void {
    const dataset = this.series.get(key);
    if (!dataset || y === null || !Number.isFinite(y)) return;
    if (this.options.logY && y <= 0) return;
    // x going back means a run resumed from a checkpoint and replays those steps: replace them.
    const data = dataset.data as { x: number; y: number }[];
    while (data.length && data[data.length - 1].x >= x) data.pop();
    dataset.data.push({ x, y });
    if (x > this.maxX) this.maxX = x;
    this.schedule();
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
    for (const dataset of this.series.values()) total += dataset.data.length;
    return total;
  }

  private schedule(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      const x = this.chart.options.scales!.x!;
      x.min = this.windowSize !== null && Number.isFinite(this.maxX) ? Math.max(0, this.maxX - this.windowSize) : undefined;
      this.chart.update('none');
      this.canvas.dataset.points = String(this.pointCount);
    });
  }

  destroy(): void {
    if (this.frame) cancelAnimationFrame(this.frame);
    this.chart.destroy();
  }
}
