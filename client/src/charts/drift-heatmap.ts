/**
 * Layers × time heatmap of BN drift on a plain canvas: one row per BN layer (network order, input at
 * the top), one column per drift snapshot. Colour is log-scaled against the largest value seen so
 * far, t = log(1 + v/s) / log(1 + vmax/s) with s = vmax / 100, so both small early drift and large
 * late drift stay visible. Pixels are written into an ImageData (cols × rows) and scaled up
 * without smoothing; a redraw costs one pass over the cells, at most once per animation frame.
 */
import { formatNumber, h } from '../dom.ts';
import { downloadCsv, downloadUrl } from '../download.ts';

/** Room around the cells for the axes: layer names on the left, step ticks below. */
const AXIS_FONT = '10px ui-monospace, monospace';
const BOTTOM_MARGIN = 30;
const TOP_MARGIN = 4;
const RIGHT_MARGIN = 8;
const MAX_LABEL_WIDTH = 170;

/** About `count` whole round numbers between lo and hi (steps of 1, 2, 5 × 10^k, at least 1). */
export function niceTicks(lo: number, hi: number, count: number): number[] {
  if (!(hi > lo)) return [lo];
  const raw = Math.max(1, (hi - lo) / Math.max(1, count));
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? raw;
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + 1e-9; t += step) ticks.push(Math.round(t * 1e6) / 1e6);
  return ticks;
}

/** Viridis-like stops (t, r, g, b). */
const STOPS: [number, number, number, number][] = [
  [0, 68, 1, 84],
  [0.25, 59, 82, 139],
  [0.5, 33, 145, 140],
  [0.75, 94, 201, 98],
  [1, 253, 231, 37],
];

export function colourAt(t: number): [number, number, number] {
  const x = Math.min(1, Math.max(0, t));
  for (let i = 1; i < STOPS.length; i++) {
    const [t1, r1, g1, b1] = STOPS[i];
    const [t0, r0, g0, b0] = STOPS[i - 1];
    if (x <= t1) {
      const f = (x - t0) / (t1 - t0);
      return [r0 + f * (r1 - r0), g0 + f * (g1 - g0), b0 + f * (b1 - b0)];
    }
  }
  return [253, 231, 37];
}

export class DriftHeatmap {
  readonly element: HTMLElement;
  private readonly canvas: HTMLCanvasElement;
  private readonly scaleLabel: HTMLElement;
  private readonly legendTitle: HTMLElement;
  private readonly hover: HTMLElement;
  private layers: string[] = [];
  private readonly steps: number[] = [];
  private readonly columns: Float32Array[] = [];
  private max = 0;
  /** Scale shared with other heatmaps (a comparison); null: this heatmap's own maximum. */
  private sharedMax: number | null = null;
  private frame = 0;
  private metricLabel = 'drift';
  /** the cells' rectangle inside the canvas, in canvas pixels (set by draw) */
  private plot = { left: 0, top: 0, width: 1, height: 1 };
  filePrefix = 'bnlab';

  constructor(title: string, private readonly id: string) {
    this.canvas = h('canvas', { class: 'heatmap', 'data-heatmap': id, 'data-columns': 0, width: 600, height: 240 });
    this.scaleLabel = h('span', { class: 'heatmap-scale-max' }, '0');
    this.legendTitle = h('span', { class: 'heatmap-metric' }, this.metricLabel);
    this.hover = h('div', { class: 'heatmap-hover' }, 'hover a cell: layer, step, value');
    this.element = h(
      'figure',
      { class: 'chart heatmap-figure' },
      h('figcaption', {}, h('span', { class: 'chart-title' }, title),
        h('span', { class: 'export-buttons' },
          h('button', { type: 'button', class: 'small', 'data-export': 'png', onclick: () => this.downloadPng() }, 'PNG'),
          h('button', { type: 'button', class: 'small', 'data-export': 'csv', onclick: () => this.downloadCsv() }, 'CSV'),
        ),
      ),
      h('div', { class: 'heatmap-box' }, this.canvas),
      h('div', { class: 'heatmap-legend' }, this.legendTitle, h('span', {}, '0'), h('span', { class: 'heatmap-gradient' }), this.scaleLabel),
      this.hover,
    );
    this.canvas.addEventListener('mousemove', (e) => this.describe(e));
  }

  /** Name of the measure the colours show (legend, CSV header). */
  setMetricLabel(label: string): void {
    this.metricLabel = label;
    this.legendTitle.textContent = label;
  }

  setLayers(layers: string[]): void {
    if (this.layers.length === layers.length && this.layers.every((l, i) => l === layers[i])) return;
    this.layers = [...layers];
    this.steps.length = 0;
    this.columns.length = 0;
    this.max = 0;
    this.schedule();
  }

  /** Append one snapshot: `values[i]` belongs to layer i of setLayers (NaN when missing). */
  addColumn(step: number, values: Float32Array): void {
    this.steps.push(step);
    this.columns.push(values);
    for (const v of values) if (Number.isFinite(v) && v > this.max) this.max = v;
    this.schedule();
  }

  /** Largest value drawn so far. */
  get maximum(): number {
    return this.max;
  }

  /** Colour against `max` instead of this heatmap's own maximum, so several compare by eye. */
  shareScale(max: number | null): void {
    if (max === this.sharedMax) return;
    this.sharedMax = max;
    this.schedule();
  }

  clearColumns(): void {
    this.steps.length = 0;
    this.columns.length = 0;
    this.max = 0;
    this.schedule();
  }

  private schedule(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.draw();
    });
  }

  private draw(): void {
    const rows = this.layers.length;
    const cols = this.columns.length;
    const context = this.canvas.getContext('2d');
    this.canvas.dataset.columns = String(cols);
    if (!context) return;
    const width = this.canvas.clientWidth || 600;
    const height = Math.max(140, Math.min(540, rows * 8 + BOTTOM_MARGIN + TOP_MARGIN));
    if (this.canvas.width !== width) this.canvas.width = width;
    if (this.canvas.height !== height) this.canvas.height = height;
    context.fillStyle = '#ffffff';
    context.fillRect(0, 0, width, height);
    context.font = AXIS_FONT;
    const rowHeight = (height - TOP_MARGIN - BOTTOM_MARGIN) / Math.max(1, rows);
    // label every k-th layer so labels (12 px tall) never overlap
    const every = Math.max(1, Math.ceil(12 / rowHeight));
    const labelled = this.layers.map((name, i) => ({ name, i })).filter(({ i }) => i % every === 0);
    const labelWidth = Math.min(MAX_LABEL_WIDTH, Math.max(30, ...labelled.map(({ name }) => context.measureText(name).width)) + 6);
    const plot = { left: labelWidth, top: TOP_MARGIN, width: Math.max(1, width - labelWidth - RIGHT_MARGIN), height: height - TOP_MARGIN - BOTTOM_MARGIN };
    this.plot = plot;
    context.fillStyle = '#f1f3f7';
    context.fillRect(plot.left, plot.top, plot.width, plot.height);
    if (!rows || !cols) return;
    const image = new ImageData(cols, rows);
    const max = Math.max(this.max, this.sharedMax ?? 0);
    const s = max / 100 || 1;
    const denominator = Math.log1p(max / s) || 1;
    for (let c = 0; c < cols; c++) {
      const column = this.columns[c];
      for (let r = 0; r < rows; r++) {
        const v = column[r];
        const offset = (r * cols + c) * 4;
        if (!Number.isFinite(v)) {
          image.data[offset + 3] = 0;
          continue;
        }
        const [red, green, blue] = colourAt(Math.log1p(v / s) / denominator);
        image.data[offset] = red;
        image.data[offset + 1] = green;
        image.data[offset + 2] = blue;
        image.data[offset + 3] = 255;
      }
    }
    const bitmap = document.createElement('canvas');
    bitmap.width = cols;
    bitmap.height = rows;
    bitmap.getContext('2d')!.putImageData(image, 0, 0);
    context.imageSmoothingEnabled = false;
    context.drawImage(bitmap, plot.left, plot.top, plot.width, plot.height);
    // y axis: layer names (network order, input at the top)
    context.fillStyle = '#4a5160';
    context.textAlign = 'right';
    context.textBaseline = 'middle';
    for (const { name, i } of labelled) {
      let text = name;
      while (text.length > 4 && context.measureText(text).width > labelWidth - 6) text = `…${text.slice(2)}`;
      context.fillText(text, plot.left - 4, plot.top + (i + 0.5) * rowHeight);
    }
    // x axis: step ticks at the columns whose step is nearest each round number
    const first = this.steps[0];
    const last = this.steps[cols - 1];
    context.textAlign = 'center';
    context.textBaseline = 'top';
    const columnWidth = plot.width / cols;
    let lastX = -Infinity;
    for (const tick of niceTicks(first, last, Math.max(2, Math.floor(plot.width / 70)))) {
      let nearest = 0;
      for (let c = 1; c < cols; c++) if (Math.abs(this.steps[c] - tick) < Math.abs(this.steps[nearest] - tick)) nearest = c;
      const x = plot.left + (nearest + 0.5) * columnWidth;
      if (x - lastX < 36) continue; // several ticks landed on one column, or too close to read
      lastX = x;
      context.fillRect(x, plot.top + plot.height, 1, 4);
      context.fillText(String(this.steps[nearest]), x, plot.top + plot.height + 5);
    }
    context.textAlign = 'right';
    context.fillText('step', width - RIGHT_MARGIN, plot.top + plot.height + 17);
    this.scaleLabel.textContent = formatNumber(max);
  }

  downloadPng(): void {
    this.draw();
    downloadUrl(this.canvas.toDataURL('image/png'), `${this.filePrefix}-heatmap-${this.id}.png`);
  }

  /** One row per (step, layer): the values the colours show. */
  downloadCsv(): void {
    const rows: (string | number)[][] = [];
    this.columns.forEach((column, c) => this.layers.forEach((layer, r) => rows.push([this.steps[c], layer, column[r]])));
    downloadCsv(`${this.filePrefix}-heatmap-${this.id}.csv`, ['step', 'layer', this.metricLabel], rows);
  }

  private describe(event: MouseEvent): void {
    const rows = this.layers.length;
    const cols = this.columns.length;
    if (!rows || !cols) return;
    const rect = this.canvas.getBoundingClientRect();
    const scale = this.canvas.width / rect.width;
    const px = (event.clientX - rect.left) * scale - this.plot.left;
    const py = (event.clientY - rect.top) * scale - this.plot.top;
    if (px < 0 || py < 0 || px >= this.plot.width || py >= this.plot.height) return;
    const c = Math.min(cols - 1, Math.floor((px / this.plot.width) * cols));
    const r = Math.min(rows - 1, Math.floor((py / this.plot.height) * rows));
    this.hover.textContent = `${this.layers[r]} · step ${this.steps[c]} · ${formatNumber(this.columns[c][r])}`;
  }

  destroy(): void {
    if (this.frame) cancelAnimationFrame(this.frame);
  }
}
