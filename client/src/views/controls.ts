/** Small controls shared by the run and comparison views. */
import type { JobStatus, JobSummary, RunProgress } from '../../../server/schema/api.ts';
import { api } from '../api.ts';
import { formatSeconds, h } from '../dom.ts';
import { DRIFT_METRICS, type DriftMetric } from '../run-data.ts';

export function statusBadge(status: JobStatus | string): HTMLElement {
  return h('span', { class: `badge badge-${status}`, 'data-status': status }, status);
}

/** "step 14 / 32 · ETA 9 s · on host:123": live from the job summaries the server sends while a run goes. */
export function runProgressText(run: RunProgress | undefined): string {
  if (!run) return '';
  const parts: string[] = [];
  if (run.totalSteps) parts.push(`step ${run.step} / ${run.totalSteps}`);
  if (run.status === 'running' && run.etaSeconds !== null && run.etaSeconds !== undefined) parts.push(`ETA ${formatSeconds(run.etaSeconds)}`);
  if (run.worker) parts.push(`on ${run.worker}`);
  return parts.join(' · ');
}

/**
 * Stop (cancel-all for a comparison or sweep: every queued and running run of it) while the job
 * goes; Resume when some run was interrupted, failed or stopped (it continues from its checkpoint).
 */
export function jobActions(job: JobSummary, onError: (message: string) => void = console.warn): HTMLElement[] {
  const out: HTMLElement[] = [];
  const post = (action: string) => api('POST', `api/runs/${encodeURIComponent(job.id)}/${action}`).catch((error: Error) => onError(error.message));
  if (job.status === 'queued' || job.status === 'running') {
    const label = job.runs.length > 1 ? `Cancel all ${job.runs.length} runs` : 'Stop';
    out.push(h('button', { class: 'danger', type: 'button', 'data-action': 'stop', onclick: () => void post('stop') }, label));
  } else if (job.resumable) {
    out.push(h('button', { class: 'primary', type: 'button', 'data-action': 'resume', onclick: () => void post('resume') }, 'Resume from checkpoint'));
  }
  return out;
}

/**
 * Holds events back while paused; on resume hands the held ones over in order. Charts therefore
 * stand still for reading while the run goes on, and catch up in one go.
 */
export class PauseGate<T> {
  readonly button: HTMLButtonElement;
  private paused = false;
  private held: T[] = [];

  constructor(private readonly deliver: (items: T[]) => void) {
    this.button = h('button', { class: 'secondary', type: 'button', 'data-action': 'pause' }, 'Pause charts');
    this.button.addEventListener('click', () => this.toggle());
  }

  push(items: T[]): void {
    if (this.paused) this.held.push(...items);
    else this.deliver(items);
  }

  toggle(): void {
    this.paused = !this.paused;
    this.button.textContent = this.paused ? `Resume charts` : 'Pause charts';
    this.button.classList.toggle('active', this.paused);
    if (!this.paused && this.held.length) {
      const items = this.held;
      this.held = [];
      this.deliver(items);
    }
  }
}

export function metricSelect(initial: DriftMetric, onChange: (metric: DriftMetric) => void): HTMLSelectElement {
  const select = h(
    'select',
    { 'aria-label': 'drift measure' },
    Object.entries(DRIFT_METRICS).map(([key, label]) => h('option', { value: key, selected: key === initial }, label)),
  );
  select.addEventListener('change', () => onChange(select.value as DriftMetric));
  return select;
}

/** x-range of the step charts: everything, or the last N steps (scrolls with the run). */
export function windowSelect(onChange: (size: number | null) => void): HTMLSelectElement {
  const select = h(
    'select',
    { 'aria-label': 'visible steps' },
    h('option', { value: '' }, 'all steps'),
    h('option', { value: '100' }, 'last 100 steps'),
    h('option', { value: '500' }, 'last 500 steps'),
  );
  select.addEventListener('change', () => onChange(select.value ? Number(select.value) : null));
  return select;
}

/**
 * Pick BN layers to plot. 'auto' follows the `count` most drifting layers as the run goes;
 * ticking a box switches to a manual choice.
 */
export class LayerPicker {
  readonly element: HTMLElement;
  private readonly list: HTMLElement;
  private readonly autoBox: HTMLInputElement;
  private layers: string[] = [];
  private selected: string[] = [];

  constructor(
    private readonly count: number,
    private readonly onChange: (layers: string[]) => void,
  ) {
    this.autoBox = h('input', { type: 'checkbox', checked: true });
    this.autoBox.addEventListener('change', () => {
      if (this.autoBox.checked) this.onChange(this.selected);
    });
    this.list = h('div', { class: 'layer-list' });
    this.element = h(
      'details',
      { class: 'layer-picker' },
      h('summary', {}, 'Layers'),
      h('label', { class: 'inline' }, this.autoBox, ` follow the ${count} most drifting`),
      this.list,
    );
  }

  get auto(): boolean {
    return this.autoBox.checked;
  }

  get selection(): string[] {
    return this.selected;
  }

  /** Offer these layers; in auto mode select `ranked` (already sorted by drift). */
  update(layers: string[], ranked: string[]): boolean {
    if (layers.join('\n') !== this.layers.join('\n')) {
      this.layers = layers;
      this.renderList();
    }
    if (!this.auto) return false;
    const next = ranked.slice(0, this.count);
    if (next.join('\n') === this.selected.join('\n')) return false;
    this.selected = next;
    this.syncBoxes();
    return true;
  }

  private renderList(): void {
    this.list.replaceChildren(
      ...this.layers.map((layer) => {
        const box = h('input', { type: 'checkbox', value: layer, checked: this.selected.includes(layer) });
        box.addEventListener('change', () => {
          this.autoBox.checked = false;
          this.selected = [...this.list.querySelectorAll<HTMLInputElement>('input:checked')].map((b) => b.value);
          this.onChange(this.selected);
        });
        return h('label', { class: 'layer-option' }, box, layer);
      }),
    );
  }

  private syncBoxes(): void {
    for (const box of this.list.querySelectorAll<HTMLInputElement>('input')) box.checked = this.selected.includes(box.value);
  }
}

/** Things a chart toolbar drives (LiveLineChart implements them). */
interface Smoothable {
  setSmoothing(weight: number): void;
}
interface LogScalable {
  setLogScale(log: boolean): void;
}

/**
 * TensorBoard-style smoothing slider: the EMA weight w in [0, 0.99] (debiased, see
 * charts/smoothing.ts) applied to every chart in `charts`.
 */
export function smoothingSlider(charts: Smoothable[], initial = 0): HTMLElement {
  const value = h('output', { class: 'slider-value' }, initial.toFixed(2));
  const slider = h('input', { type: 'range', min: 0, max: 0.99, step: 0.01, value: initial, 'aria-label': 'smoothing', 'data-control': 'smoothing' });
  slider.addEventListener('input', () => {
    const weight = Number(slider.value);
    value.textContent = weight.toFixed(2);
    for (const chart of charts) chart.setSmoothing(weight);
  });
  return h('label', { class: 'inline control', title: 'exponential moving average, debiased like TensorBoard: Σ wᵗ⁻ⁱxᵢ / Σ wᵗ⁻ⁱ' }, 'smoothing ', slider, value);
}

/** A checkbox that switches the y axis of `charts` between linear and logarithmic. */
export function logScaleToggle(charts: LogScalable[]): HTMLElement {
  const box = h('input', { type: 'checkbox', 'data-control': 'log-scale' });
  box.addEventListener('change', () => {
    for (const chart of charts) chart.setLogScale(box.checked);
  });
  return h('label', { class: 'inline control', title: 'logarithmic y axis on the loss and drift charts' }, box, ' log scale (loss, drift)');
}
