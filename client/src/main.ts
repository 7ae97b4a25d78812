/**
 * Dashboard entry: a hash router over the views and one socket connection.
 *   #/                 runs list, demo, new-run form        #/new/<id>      the form prefilled from a run
 *   #/job/<id>         a run or a comparison                #/overlay/<id>,<id>…  any runs on one set of axes
 *   #/inspect[/<id>]   inspect before training            #/adapt/<id>    an adapt job: before/after per shift
 */
import './charts/setup.ts';
import type { JobDetail } from '../../server/schema/api.ts';
import { api, authToken } from './api.ts';
import { h } from './dom.ts';
import { LiveConnection } from './live.ts';
import { AdaptView } from './views/adapt-view.ts';
import { ComparisonView } from './views/comparison-view.ts';
import { HomeView } from './views/home-view.ts';
import { InspectView } from './views/inspect-view.ts';
import { RunView } from './views/run-view.ts';

interface View {
  dispose(): void;
}

authToken(); // first thing: move a ?token= out of the address bar into sessionStorage
const root = document.getElementById('app')!;
const connection = document.getElementById('connection')!;
const live = new LiveConnection((state, detail) => {
  connection.dataset.state = state;
  connection.textContent = state === 'connected' ? 'live' : `offline${detail ? ` (${detail})` : ''}`;
});

let current: View | null = null;
let navigation = 0;

async function route(): Promise<void> {
  const ticket = ++navigation;
  current?.dispose();
  current = null;
  const [, section, rawId] = location.hash.split('/');
  const id = rawId ? decodeURIComponent(rawId) : null;
  if (section === 'inspect') {
    current = new InspectView(root, id);
    return;
  }
  if (section === 'adapt' && id) {
    current = new AdaptView(root, id);
    return;
  }
  if (section === 'new') {
    current = new HomeView(root, live, id);
    return;
  }
  if (section === 'overlay' && id) {
    root.replaceChildren(h('p', { class: 'muted' }, 'loading…'));
    try {
      const ids = id.split(',').filter(Boolean);
      const details = await Promise.all(ids.map((one) => api<JobDetail>('GET', `api/runs/${encodeURIComponent(one)}`)));
      if (ticket !== navigation) return;
      current = new ComparisonView(root, details.filter((d) => d.kind !== 'inspect' && d.kind !== 'adapt'), live, true);
    } catch (error) {
      if (ticket === navigation) root.replaceChildren(h('pre', { class: 'error-box' }, (error as Error).message));
    }
    return;
  }
  if (section === 'job' && id) {
    root.replaceChildren(h('p', { class: 'muted' }, 'loading…'));
    try {
      const detail = await api<JobDetail>('GET', `api/runs/${encodeURIComponent(id)}`);
      if (ticket !== navigation) return;
      if (detail.kind === 'comparison' || detail.kind === 'sweep') current = new ComparisonView(root, detail, live);
      else if (detail.kind === 'inspect') location.hash = `#/inspect/${encodeURIComponent(detail.id)}`;
      else if (detail.kind === 'adapt') location.hash = `#/adapt/${encodeURIComponent(detail.id)}`;
      else current = new RunView(root, detail, live);
    } catch (error) {
      if (ticket === navigation) root.replaceChildren(h('pre', { class: 'error-box' }, (error as Error).message));
    }
    return;
  }
  current = new HomeView(root, live);
}

window.addEventListener('hashchange', () => void route());
// A restarted server numbers events afresh: rebuild the open view from its history, no reload.
live.onRestart(() => void route());
void route();
