/**
 * Layers × time heatmap of BN drift on a plain canvas: one row per BN layer (network order, input at
 * the top), one column per drift snapshot. Colour is log-scaled against the largest value seen so
 * far, t = log(1 + v/s) / log(1 + vmax/s) with s = vmax / 100, so both small early drift and large
 * late drift stay visible. Pixels are written into an ImageData (cols × rows) and scaled up
 * without smoothing; a redraw costs one pass over the cells, at most once per animation frame.
 */
import { formatNumber, h } from '../dom.ts';

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
  private readonly hover: HTMLElement;
  private layers: string[] = [];
  private readonly steps: number[] = [];
  private readonly columns: Float32Array[] = [];
  private max = 0;
  /** Scale shared with other heatmaps (a comparison); null: this heatmap's own maximum. */
  private sharedMax: number | null = null;
  private frame = 0;

  constructor(title: string, id: string) {
    this.canvas = h('canvas', { class: 'heatmap', 'data-heatmap': id, 'data-columns': 0, width: 600, height: 240 });
    this.scaleLabel = h('span', { class: 'heatmap-scale-max' }, '0');
    this.hover = h('div', { class: 'heatmap-hover' }, 'hover a cell: layer, step, value');
    this.element = h(
      'figure',
      { class: 'chart heatmap-figure' },
      h('figcaption', {}, title),
      h('div', { class: 'heatmap-box' }, this.canvas),
      h('div', { class: 'heatmap-legend' }, h('span', {}, '0'), h('span', { class: 'heatmap-gradient' }), this.scaleLabel),
      this.hover,
    );
    this.canvas.addEventListener('mousemove', (e) => this.describe(e));
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
    const height = Math.max(120, Math.min(520, rows * 8));
    if (this.canvas.width !== width) this.canvas.width = width;
    if (this.canvas.height !== height) this.canvas.height = height;
    context.fillStyle = '#f1f3f7';
    context.fillRect(0, 0, width, height);
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
    context.drawImage(bitmap, 0, 0, width, height);
    this.scaleLabel.textContent = formatNumber(max);
  }

  private describe(event: MouseEvent): void {
    const rows = this.layers.length;
    const cols = this.columns.length;
    if (!rows || !cols) return;
    const rect = this.canvas.getBoundingClientRect();
    const c = Math.min(cols - 1, Math.floor(((event.clientX - rect.left) / rect.width) * cols));
    const r = Math.min(rows - 1, Math.floor(((event.clientY - rect.top) / rect.height) * rows));
    this.hover.textContent = `${this.layers[r]} · step ${this.steps[c]} · ${formatNumber(this.columns[c][r])}`;
  }

  destroy(): void {
    if (this.frame) cancelAnimationFrame(this.frame);
  }
}
