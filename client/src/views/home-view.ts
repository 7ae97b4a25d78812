/**
 * First screen: the one-click demo comparison, the list of runs (live; runs-table.ts), and the
 * new-run form with the server's validation messages next to the fields they are about. Opened as
 * `#/new/<id>` the form is prefilled from that run's recipe ("re-run with changes").
 */
import { NAMED_POLICIES, PRECISE_BN_SUFFIX, UNFREEZE_LAST_PATTERN } from '../../../server/schema/policy-names.ts';
import type { PolicySpec, Recipe, RecipeInput } from '../../../server/schema/recipe.ts';
import type { BackboneOption, DataListing, FieldError, JobDetail, JobListing, JobSummary } from '../../../server/schema/api.ts';
import { api, ApiError } from '../api.ts';
import { h } from '../dom.ts';
import type { LiveConnection } from '../live.ts';
import { RunsTable } from './runs-table.ts';

/** Policy check boxes the form offers besides the named ones and unfreeze-last. */
const VARIANTS: Record<string, string> = {
  [`train-bn${PRECISE_BN_SUFFIX}`]: 'train-bn, then PreciseBN: population statistics recomputed over the training data after training',
};


/** Form inputs by the recipe field their server error names. */
const FIELD_OF_PATH: Record<string, string> = {
  backbone: 'backbone',
  data: 'data',
  policy: 'policies',
  policies: 'policies',
  epochs: 'epochs',
  batchSize: 'batchSize',
  'optimizer.lr': 'lr',
  seeds: 'seeds',
  resize: 'resize',
  allowTinyBatch: 'batchSize',
};

export class HomeView {
  private readonly table = new RunsTable();
  private readonly form: HTMLFormElement;
  /** the recipe being re-run with changes (fields the form does not show are kept from it) */
  private base: Recipe | null = null;
  /** policies of the cloned job the check boxes cannot show (custom rule lists) */
  private extraPolicies: PolicySpec[] = [];
  private readonly cloneNote = h('p', { class: 'muted clone-note' });
  private readonly formMessage = h('p', { class: 'form-message', role: 'status' });
  private readonly demoMessage = h('p', { class: 'form-message', role: 'status' });
  private readonly stopJobUpdates: () => void;

  constructor(root: HTMLElement, live: LiveConnection, private readonly cloneFrom: string | null = null) {
    this.form = this.buildForm();
    const demoButton = h('button', { class: 'primary big', type: 'button', 'data-action': 'run-demo' }, 'Run the demo comparison (freeze-all vs train-bn vs train-bn + PreciseBN vs adabn)');
    demoButton.addEventListener('click', () => void this.startDemo(demoButton));
    root.replaceChildren(
      h('section', { class: 'view home-view', 'data-view': 'home' },
        h('div', { class: 'demo-card' },
          h('h1', {}, 'Watch BatchNorm statistics drift while a backbone fine-tunes'),
          h('p', {}, 'The demo fine-tunes bnlab’s small embedded backbone on generated images whose colours and contrast differ from its pretraining data, four times with the same split and seed: ',
            h('b', {}, 'freeze-all'), ' keeps the pretrained BN statistics, ', h('b', {}, 'train-bn'), ' lets them follow the new data (an EMA of batch statistics), ',
            h('b', {}, 'train-bn + PreciseBN'), ' does the same and then recomputes the statistics over the training data, ',
            h('b', {}, 'adabn'), ' recomputes them once before training. When it ends, one sentence per policy says what the measured numbers show. Offline, a minute or two.'),
          demoButton,
          this.demoMessage,
        ),
        h('div', { class: 'columns' },
          h('section', { class: 'panel' }, h('h2', {}, 'Runs'), this.table.element),
          h('section', { class: 'panel', 'data-panel': 'new-run' }, h('h2', {}, cloneFrom ? 'Re-run with changes' : 'New run or comparison'), this.cloneNote, this.form, this.formMessage),
        ),
      ),
    );
    this.stopJobUpdates = live.onJob((summary: JobSummary) => this.table.upsert(summary));
    void this.load();
  }

  private async load(): Promise<void> {
    try {
      const { runs } = await api<{ runs: JobListing[] }>('GET', 'api/runs');
      for (const job of runs) this.table.upsert(job);
    } catch (error) {
      this.table.showMessage((error as Error).message);
    }
    await this.fillOptions();
    if (this.cloneFrom) void this.prefill(this.cloneFrom);
  }

  /** Fill the form from a job's recipe and policies ("re-run with changes"). */
  private async prefill(id: string): Promise<void> {
    try {
      const detail = await api<JobDetail>('GET', `api/runs/${encodeURIComponent(id)}`);
      if (!detail.recipe) throw new Error(`${id} has no recipe on record`);
      this.base = detail.recipe;
      const set = (name: string, value: string | number) => {
        const input = this.form.elements.namedItem(name) as HTMLInputElement | HTMLSelectElement | null;
        if (!input) return;
        if (input instanceof HTMLSelectElement && ![...input.options].some((o) => o.value === String(value))) {
          input.append(h('option', { value: String(value) }, String(value)));
        }
        input.value = String(value);
      };
      set('backbone', detail.recipe.backbone);
      set('data', detail.recipe.data);
      set('epochs', detail.recipe.epochs);
      set('batchSize', detail.recipe.batchSize);
      set('lr', detail.recipe.optimizer.lr);
      set('seeds', detail.recipe.seeds);
      set('resize', detail.recipe.resize);
      (this.form.elements.namedItem('preciseBn') as HTMLInputElement).checked = detail.recipe.preciseBn;
      const specs = detail.policySpecs.length ? detail.policySpecs : [detail.recipe.policy];
      this.extraPolicies = [];
      for (const box of this.form.querySelectorAll<HTMLInputElement>('input[name=policy]')) box.checked = false;
      for (const spec of specs) {
        const unfreeze = typeof spec === 'string' ? UNFREEZE_LAST_PATTERN.exec(spec) : null;
        const box = typeof spec === 'string' ? this.form.querySelector<HTMLInputElement>(`input[name=policy][value="${CSS.escape(unfreeze ? 'unfreeze-last' : spec)}"]`) : null;
        if (unfreeze) set('unfreezeLast', unfreeze[1]);
        if (box) box.checked = true;
        else this.extraPolicies.push(spec);
      }
      this.cloneNote.textContent = `Prefilled from ${detail.name} (${detail.id}); fields not shown (seed, augmentation, head, schedule…) are kept from it${this.extraPolicies.length ? `, and ${this.extraPolicies.length} custom polic${this.extraPolicies.length === 1 ? 'y' : 'ies'}` : ''}.`;
    } catch (error) {
      this.formMessage.textContent = `could not prefill from ${id}: ${(error as Error).message}`;
    }
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
        Object.entries(VARIANTS).map(([name, description]) => h('label', { class: 'inline', title: description }, h('input', { type: 'checkbox', name: 'policy', value: name }), ` ${name}`)),
        h('label', { class: 'inline unfreeze' }, h('input', { type: 'checkbox', name: 'policy', value: 'unfreeze-last' }), ' unfreeze-last: ', h('input', { type: 'number', name: 'unfreezeLast', value: 2, min: 1, step: 1, class: 'tiny', 'aria-label': 'units to unfreeze' })),
        h('small', { class: 'field-error' }),
      ),
      h('label', { class: 'inline check', title: 'recompute BN population statistics over the training data after training (every policy)' }, h('input', { type: 'checkbox', name: 'preciseBn' }), ' PreciseBN after training'),
      h('div', { class: 'row' },
        field('epochs', 'Epochs', h('input', { type: 'number', name: 'epochs', value: 3, min: 1, step: 1 })),
        field('batchSize', 'Batch size', h('input', { type: 'number', name: 'batchSize', value: 16, min: 1, step: 1 })),
        field('lr', 'Learning rate', h('input', { type: 'number', name: 'lr', value: 0.001, step: 'any' })),
      ),
      h('div', { class: 'row' },
        field('seeds', 'Seeds per policy', h('input', { type: 'number', name: 'seeds', value: 3, min: 1, max: 16, step: 1 }), 'comparisons: one run per policy × seed on one split; one seed says nothing about its noise'),
        field('resize', 'Resize', h('select', { name: 'resize' },
          h('option', { value: 'crop' }, 'crop (shorter side ×1.15, center)'),
          h('option', { value: 'squash' }, 'squash (whole image, Keras/Teachable Machine)'),
          h('option', { value: 'pad' }, 'pad (letterbox)'),
        )),
        h('label', { class: 'inline check', title: 'batch size 1 with training-mode BN normalises each image by its own statistics; refused unless this is ticked' }, h('input', { type: 'checkbox', name: 'allowTinyBatch' }), ' allow batch size 1'),
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
    const policies: (string | PolicySpec)[] = [...this.form.querySelectorAll<HTMLInputElement>('input[name=policy]:checked')].map((box) =>
      box.value === 'unfreeze-last' ? `unfreeze-last:${value('unfreezeLast')}` : box.value,
    );
    const { policy: _policy, ...kept } = this.base ?? ({} as Partial<Recipe>);
    policies.push(...(this.extraPolicies as string[]));
    const recipe: RecipeInput = {
      ...kept,
      preciseBn: (this.form.elements.namedItem('preciseBn') as HTMLInputElement).checked,
      backbone: value('backbone'),
      data: value('data'),
      epochs: number('epochs'),
      batchSize: number('batchSize'),
      optimizer: { ...kept.optimizer, lr: number('lr') },
      seeds: number('seeds'),
      resize: value('resize') as Recipe['resize'],
      allowTinyBatch: (this.form.elements.namedItem('allowTinyBatch') as HTMLInputElement).checked,
    };
    if (value('preprocessing')) recipe.preprocessing = value('preprocessing');
    if (value('cutLayer').trim()) recipe.cutLayer = value('cutLayer').trim();
    if (kept.name) recipe.name = `${kept.name} (re-run)`;
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
