/**
 * First screen: the one-click demo comparison, the list of runs (live), and the new-run form with
 * the server's validation messages next to the fields they are about.
 */
import { NAMED_POLICIES } from '../../../server/schema/policy-names.ts';
import type { RecipeInput } from '../../../server/schema/recipe.ts';
import type { BackboneOption, DataListing, FieldError, JobSummary } from '../../../server/schema/api.ts';
import { api, ApiError } from '../api.ts';
import { h } from '../dom.ts';
import type { LiveConnection } from '../live.ts';
import { statusBadge } from './controls.ts';


/** Form inputs by the recipe field their server error names. */
const FIELD_OF_PATH: Record<string, string> = {
  backbone: 'backbone',
  data: 'data',
  policy: 'policies',
  policies: 'policies',
  epochs: 'epochs',
  batchSize: 'batchSize',
  'optimizer.lr': 'lr',
};

export class HomeView {
  private readonly list = h('tbody', {});
  private readonly jobs = new Map<string, JobSummary>();
  private readonly form: HTMLFormElement;
  private readonly formMessage = h('p', { class: 'form-message', role: 'status' });
  private readonly demoMessage = h('p', { class: 'form-message', role: 'status' });
  private readonly stopJobUpdates: () => void;

  constructor(root: HTMLElement, live: LiveConnection) {
    this.form = this.buildForm();
    const demoButton = h('button', { class: 'primary big', type: 'button', 'data-action': 'run-demo' }, 'Run the demo comparison (freeze-all vs train-bn vs adabn)');
    demoButton.addEventListener('click', () => void this.startDemo(demoButton));
    root.replaceChildren(
      h('section', { class: 'view home-view', 'data-view': 'home' },
        h('div', { class: 'demo-card' },
          h('h1', {}, 'Watch BatchNorm statistics drift while a backbone fine-tunes'),
          h('p', {}, 'The demo fine-tunes bnlab’s small embedded backbone on generated images whose colours and contrast differ from its pretraining data, three times with the same split and seed: ',
            h('b', {}, 'freeze-all'), ' keeps the pretrained BN statistics, ', h('b', {}, 'train-bn'), ' lets them follow the new data, ',
            h('b', {}, 'adabn'), ' recomputes them once before training. Offline, about a minute.'),
          demoButton,
          this.demoMessage,
        ),
        h('div', { class: 'columns' },
          h('section', { class: 'panel' }, h('h2', {}, 'Runs'),
            h('table', { class: 'run-list' }, h('thead', {}, h('tr', {}, ['', 'name', 'kind', 'progress', 'created'].map((c) => h('th', {}, c)))), this.list)),
          h('section', { class: 'panel' }, h('h2', {}, 'New run or comparison'), this.form, this.formMessage),
        ),
      ),
    );
    this.stopJobUpdates = live.onJob((summary) => {
      this.jobs.set(summary.id, summary);
      this.renderList();
    });
    void this.load();
  }

  private async load(): Promise<void> {
    try {
      const { runs } = await api<{ runs: JobSummary[] }>('GET', 'api/runs');
      for (const job of runs) if (!this.jobs.has(job.id)) this.jobs.set(job.id, job);
      this.renderList();
    } catch (error) {
      this.list.replaceChildren(h('tr', {}, h('td', { colspan: 5, class: 'error' }, (error as Error).message)));
    }
    void this.fillOptions();
  }

  private renderList(): void {
    const jobs = [...this.jobs.values()].sort((a, b) => b.createdAt.localeCompare(a.createdAt));
    if (!jobs.length) {
      this.list.replaceChildren(h('tr', {}, h('td', { colspan: 5, class: 'muted' }, 'No runs yet: start the demo above.')));
      return;
    }
    this.list.replaceChildren(
      ...jobs.map((job) => {
        const running = job.runs.filter((r) => r.status === 'running');
        const current = running[0];
        const ended = job.runs.filter((r) => r.status !== 'running' && r.status !== 'queued').length;
        // runs of one job can go on several workers at once: "2 running · 3/6 done · on a:1, b:2"
        const workers = [...new Set(running.map((r) => r.worker).filter(Boolean))];
        const progress = running.length > 1
          ? `${running.length} running · ${ended}/${job.runs.length} done${workers.length ? ` · on ${workers.join(', ')}` : ''}`
          : current?.totalSteps
            ? `${job.runs.length > 1 ? `run ${ended + 1}/${job.runs.length} · ` : ''}step ${current.step}/${current.totalSteps}${current.worker ? ` · on ${current.worker}` : ''}`
            : job.status === 'queued' ? 'waiting' : job.status === 'running' ? 'starting' : `${ended}/${job.runs.length} runs`;
        return h('tr', { 'data-job': job.id },
          h('td', {}, statusBadge(job.status)),
          h('td', {}, h('a', { href: `#/job/${encodeURIComponent(job.id)}` }, job.name)),
          h('td', {}, job.kind === 'comparison' || job.kind === 'sweep' ? `${job.kind} (${job.runs.length} runs)` : job.kind),
          h('td', { class: 'num' }, progress),
          h('td', { class: 'muted' }, new Date(job.createdAt).toLocaleString()),
        );
      }),
    );
  }

  private async startDemo(button: HTMLButtonElement): Promise<void> {
    button.disabled = true;
    this.demoMessage.textContent = 'starting…';
    try {
      const { comparisonId } = await api<{ comparisonId: string }>('POST', 'api/demo');
      location.hash = `#/job/${encodeURIComponent(comparisonId)}`;
    } catch (error) {
      this.demoMessage.textContent = (error as Error).message;
      this.demoMessage.classList.add('error');
      button.disabled = false;
    }
  }

  private buildForm(): HTMLFormElement {
    const field = (name: string, label: string, input: HTMLElement, hint?: string) =>
      h('div', { class: 'field', 'data-field': name }, h('label', {}, label, input), hint ? h('small', { class: 'muted' }, hint) : null, h('small', { class: 'field-error' }));
    const form = h('form', { class: 'run-form', novalidate: true },
      field('backbone', 'Backbone', h('select', { name: 'backbone' }, h('option', { value: '' }, 'loading…'))),
      h('div', { class: 'row' },
        field('preprocessing', 'Preprocessing', h('select', { name: 'preprocessing' },
          h('option', { value: '' }, 'as the model states'),
          h('option', { value: '[-1,1]' }, '[-1, 1]  (x / 127.5 − 1)'),
          h('option', { value: '[0,1]' }, '[0, 1]  (x / 255)'),
          h('option', { value: 'imagenet' }, 'ImageNet mean/std'),
        ), 'required when the model states none (registry, backbone.json, Teachable Machine metadata.json)'),
        field('cutLayer', 'Cut layer', h('input', { type: 'text', name: 'cutLayer', placeholder: 'default rule' }), 'bnlab layers --backbone <b> lists them'),
      ),
      field('data', 'Data folder', h('select', { name: 'data' }, h('option', { value: '' }, 'loading…')), 'image folders under the configured data roots'),
      h('fieldset', { class: 'field', 'data-field': 'policies' },
        h('legend', {}, 'Policy (pick several to compare them)'),
        Object.entries(NAMED_POLICIES).map(([name, description]) => h('label', { class: 'inline', title: description }, h('input', { type: 'checkbox', name: 'policy', value: name, checked: name === 'train-bn' }), ` ${name}`)),
        h('label', { class: 'inline' }, h('input', { type: 'checkbox', name: 'policy', value: 'unfreeze-last' }), ' unfreeze-last: ', h('input', { type: 'number', name: 'unfreezeLast', value: 2, min: 1, step: 1, class: 'tiny' })),
        h('small', { class: 'field-error' }),
      ),
      h('div', { class: 'row' },
        field('epochs', 'Epochs', h('input', { type: 'number', name: 'epochs', value: 3, min: 1, step: 1 })),
        field('batchSize', 'Batch size', h('input', { type: 'number', name: 'batchSize', value: 16, min: 1, step: 1 })),
        field('lr', 'Learning rate', h('input', { type: 'number', name: 'lr', value: 0.001, step: 'any' })),
      ),
      h('button', { class: 'primary', type: 'submit' }, 'Start'),
    );
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.submit();
    });
    return form;
  }

  private async fillOptions(): Promise<void> {
    const backboneSelect = this.form.querySelector<HTMLSelectElement>('select[name=backbone]')!;
    const dataSelect = this.form.querySelector<HTMLSelectElement>('select[name=data]')!;
    try {
      const [{ backbones }, data] = await Promise.all([
        api<{ backbones: BackboneOption[] }>('GET', 'api/backbones'),
        api<DataListing>('GET', 'api/data'),
      ]);
      backboneSelect.replaceChildren(
        ...backbones.map((b) =>
          h('option', { value: b.name, title: b.description, selected: b.name === 'demo' }, `${b.name}${b.availableOffline ? '' : b.location === 'download' ? ' (downloads on first use)' : ' (not available)'}`),
        ),
      );
      // a folder the server would refuse (one class) is listed, greyed out, with the reason
      const options = data.datasets.map((d) =>
        h(
          'option',
          { value: d.path, disabled: !d.trainable, title: d.problem ?? undefined },
          `${d.relative} · ${d.classes.length} ${d.classes.length === 1 ? 'class' : 'classes'} · ${d.imageCount} images${d.problem ? ` — not trainable: ${d.problem}` : ''}`,
        ),
      );
      if (!data.demo.ready) options.unshift(h('option', { value: data.demo.path }, 'demo (generated on first use)'));
      dataSelect.replaceChildren(...options);
    } catch (error) {
      this.formMessage.textContent = `could not load the choices: ${(error as Error).message}`;
    }
  }

  private async submit(): Promise<void> {
    this.showErrors([]);
    const value = (name: string) => (this.form.elements.namedItem(name) as HTMLInputElement | HTMLSelectElement).value;
    const number = (name: string) => (value(name) === '' ? Number.NaN : Number(value(name)));
    const policies = [...this.form.querySelectorAll<HTMLInputElement>('input[name=policy]:checked')].map((box) =>
      box.value === 'unfreeze-last' ? `unfreeze-last:${value('unfreezeLast')}` : box.value,
    );
    const recipe: RecipeInput = {
      backbone: value('backbone'),
      data: value('data'),
      epochs: number('epochs'),
      batchSize: number('batchSize'),
      optimizer: { lr: number('lr') },
    };
    if (value('preprocessing')) recipe.preprocessing = value('preprocessing');
    if (value('cutLayer').trim()) recipe.cutLayer = value('cutLayer').trim();
    if (!policies.length) {
      this.showErrors([{ field: 'policies', message: 'pick at least one policy' }]);
      return;
    }
    try {
      let id: string;
      if (policies.length === 1) {
        id = (await api<{ runId: string }>('POST', 'api/runs', { ...recipe, policy: policies[0] })).runId;
      } else {
        id = (await api<{ comparisonId: string }>('POST', 'api/compare', { recipe, policies })).comparisonId;
      }
      location.hash = `#/job/${encodeURIComponent(id)}`;
    } catch (error) {
      if (error instanceof ApiError && error.fields.length) this.showErrors(error.fields);
      else this.formMessage.textContent = (error as Error).message;
    }
  }

  /** Put each server message under its field; anything unplaced goes under the form. */
  private showErrors(fields: FieldError[]): void {
    for (const slot of this.form.querySelectorAll('.field-error')) slot.textContent = '';
    this.formMessage.textContent = '';
    const unplaced: string[] = [];
    for (const { field, message } of fields) {
      const path = field.replace(/^recipe\./, '').replace(/^policies\.\d+$/, 'policies');
      const name = FIELD_OF_PATH[path];
      const slot = name ? this.form.querySelector(`[data-field="${name}"] .field-error`) : null;
      if (slot) slot.textContent = slot.textContent ? `${slot.textContent}; ${message}` : message;
      else unplaced.push(`${field}: ${message}`);
    }
    if (unplaced.length) this.formMessage.textContent = unplaced.join('\n');
  }

  dispose(): void {
    this.stopJobUpdates();
  }
}
