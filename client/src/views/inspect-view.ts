/**
 * Inspect: before training, how far the data's BN-input statistics are from the pretrained ones,
 * layer by layer (ranked, largest symmetric KL first), lint findings, and the recommended policy.
 */
import type { RecipeInspection } from '../../../server/schema/inspect-report.ts';
import type { BackboneOption, DataListing, InspectJobResponse, JobDetail } from '../../../server/schema/api.ts';
import { api, ApiError } from '../api.ts';
import { fill, formatNumber, h } from '../dom.ts';
import { downloadJson, tableExportButtons } from '../download.ts';
import { statusBadge } from './controls.ts';

interface InspectForm {
  backbone: string;
  data: string;
  batchSize: number;
}

/** What was last submitted in this tab: the form shows it again after navigating to the result. */
let lastSubmitted: InspectForm | null = null;

export class InspectView {
  private readonly result = h('div', { class: 'inspect-result' });
  private readonly message = h('p', { class: 'form-message', role: 'status' });
  private timer = 0;
  private disposed = false;

  constructor(root: HTMLElement, inspectId: string | null) {
    const backbone = h('select', { name: 'backbone' });
    const data = h('select', { name: 'data' });
    const batch = h('input', { type: 'number', name: 'batchSize', value: 16, min: 1 });
    const form = h('form', { class: 'run-form inline-form' },
      h('label', {}, 'Backbone', backbone), h('label', {}, 'Data folder', data), h('label', {}, 'Batch size', batch),
      h('button', { class: 'primary', type: 'submit' }, 'Inspect'),
    );
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      this.message.textContent = '';
      try {
        lastSubmitted = { backbone: backbone.value, data: data.value, batchSize: Number(batch.value) };
        const { inspectId: id } = await api<{ inspectId: string }>('POST', 'api/inspect', lastSubmitted);
        location.hash = `#/inspect/${encodeURIComponent(id)}`;
      } catch (error) {
        this.message.textContent = error instanceof ApiError && error.fields.length
          ? error.fields.map((f) => `${f.field}: ${f.message}`).join('\n')
          : (error as Error).message;
      }
    });
    root.replaceChildren(
      h('section', { class: 'view inspect-view', 'data-view': 'inspect' },
        h('h1', {}, 'Inspect: pretrained BN statistics vs your data'),
        h('p', { class: 'muted' }, 'Passes the training images once through the pretrained backbone (nothing trains) and ranks BN layers by how far the data’s statistics are from the ones the backbone was trained with.'),
        form, this.message, this.result,
      ),
    );
    // the values to show: the inspected job's own recipe (survives a reload), else the last submitted
    const shown: Promise<InspectForm | null> = inspectId
      ? api<JobDetail>('GET', `api/runs/${encodeURIComponent(inspectId)}`)
          .then((d) => (d.recipe ? { backbone: d.recipe.backbone, data: d.recipe.data, batchSize: d.recipe.batchSize } : lastSubmitted))
          .catch(() => lastSubmitted)
      : Promise.resolve(lastSubmitted);
    void Promise.all([api<{ backbones: BackboneOption[] }>('GET', 'api/backbones'), api<DataListing>('GET', 'api/data'), shown]).then(([b, d, values]) => {
      backbone.replaceChildren(...b.backbones.map((o) => h('option', { value: o.name, selected: o.name === 'demo' }, o.name)));
      // inspect scans the folder as training does: a folder the server would refuse is greyed out, with the reason
      const options = d.datasets.map((s) => h('option', { value: s.path, disabled: !s.trainable, title: s.problem ?? undefined }, s.problem ? `${s.relative} — not usable: ${s.problem}` : s.relative));
      if (!d.demo.ready) options.unshift(h('option', { value: d.demo.path }, 'demo (generated on first use)'));
      data.replaceChildren(...options);
      if (values) {
        const pick = (select: HTMLSelectElement, value: string) => {
          if (![...select.options].some((o) => o.value === value)) select.append(h('option', { value }, value));
          select.value = value;
        };
        pick(backbone, values.backbone);
        pick(data, values.data);
        batch.value = String(values.batchSize);
      }
    });
    if (inspectId) void this.poll(inspectId);
  }

  private async poll(id: string): Promise<void> {
    if (this.disposed) return;
    try {
      const job = await api<InspectJobResponse>('GET', `api/inspect/${encodeURIComponent(id)}`);
      if (job.status === 'queued' || job.status === 'running') {
        fill(this.result,h('p', {}, statusBadge(job.status), ' measuring…'));
        this.timer = window.setTimeout(() => void this.poll(id), 1000);
        return;
      }
      if (job.status !== 'completed' || !job.report) {
        fill(this.result,h('p', {}, statusBadge(job.status)), h('pre', { class: 'error-box' }, job.error ?? 'no report'));
        return;
      }
      this.render(job.report as RecipeInspection);
    } catch (error) {
      fill(this.result,h('pre', { class: 'error-box' }, (error as Error).message));
    }
  }

  private render(report: RecipeInspection): void {
    const ranking = this.rankingTable(report);
    fill(this.result,
      h('div', { class: 'recommendation', 'data-recommendation': report.recommendation.policy },
        h('h2', {}, 'Recommended policy: ', h('code', {}, report.recommendation.policy)),
        h('p', {}, report.recommendation.reason),
      ),
      h('p', { class: 'muted' }, `${report.backbone} on ${report.data}: ${report.images} images measured (${report.classes.length} classes, ${report.trainCount} train / ${report.valCount} val), backend ${report.backend}. Median mean shift ${formatNumber(report.summary.medianMeanShift)}, median log-variance ratio ${formatNumber(report.summary.medianLogVarRatio)}.`),
      report.lint.length ? h('ul', { class: 'lint' }, report.lint.map((f) => h('li', {}, h('code', {}, f.code), ' ', f.message))) : null,
      report.warnings.length ? h('ul', { class: 'lint' }, report.warnings.map((w) => h('li', {}, w))) : null,
      h('h2', {}, 'BN layers ranked by mismatch (symmetric KL) ', tableExportButtons(ranking, () => `inspect-${report.backbone}-ranking`),
        h('button', { type: 'button', class: 'small', 'data-export': 'report-json', onclick: () => downloadJson(`inspect-${report.backbone}-report`, report) }, 'full report JSON')),
      ranking,
    );
  }

  private rankingTable(report: RecipeInspection): HTMLTableElement {
    const byName = new Map(report.layers.map((l) => [l.layer, l]));
    const maxKl = Math.max(...report.layers.map((l) => l.symmetricKl), 1e-12);
    return h('table', { class: 'ranking' },
        h('thead', {}, h('tr', {}, ['#', 'layer', 'symmetric KL (nats)', 'relative to the largest', 'mean shift (σ₀ units)', 'log-var ratio (nats)', 'channels'].map((c, i) => h('th', { 'data-export': c }, i === 3 ? '' : c)))),
        h('tbody', {},
          report.ranking.map((name, i) => {
            const layer = byName.get(name)!;
            return h('tr', {},
              h('td', { class: 'num' }, String(i + 1)),
              h('td', {}, h('code', {}, name)),
              h('td', { class: 'num', 'data-export': layer.symmetricKl }, formatNumber(layer.symmetricKl)),
              h('td', { class: 'bar-cell', 'data-export': layer.symmetricKl / maxKl }, h('div', { class: 'bar', style: `width:${((layer.symmetricKl / maxKl) * 100).toFixed(1)}%` })),
              h('td', { class: 'num', 'data-export': layer.meanShift }, formatNumber(layer.meanShift)),
              h('td', { class: 'num', 'data-export': layer.logVarRatio }, formatNumber(layer.logVarRatio)),
              h('td', { class: 'num' }, String(layer.channels)),
            );
          }),
        ),
      );
  }

  dispose(): void {
    this.disposed = true;
    clearTimeout(this.timer);
  }
}
