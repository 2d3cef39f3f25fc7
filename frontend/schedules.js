// @ts-check
/**
 * The page's panel of jobs that start themselves: the caller's schedules (cron, time zone,
 * next run) and triggers (inbox prefix), each with its last run as a #/job/UID link. They
 * are made with the CLI or the HTTP API; the page shows them.
 */

import { cell, when } from './ui.js';

/** @typedef {import('./api.js').Api} Api */
/** @typedef {import('./api.js').LastRun} LastRun */
/** @typedef {import('./api.js').JobMeta} JobMeta */
/** What the page knows of a job, told what a panel heard of it.
 * @typedef {(run: {uid: string, state: string, exit?: number}) => {state: string, exit?: number}} Learn */

/** How a last run reads. @param {string} state @param {number | undefined} exit @param {number} at */
function runText(state, exit, at) {
  return `${state}${typeof exit === 'number' ? ` · exit ${exit}` : ''} · ${when(at)}`;
}

/**
 * The last run's cell: a link to its job with state and exit (as the page knows them), or
 * why it skipped. @param {LastRun | undefined} last @param {Learn} learn
 */
function lastRun(last, learn) {
  const out = cell('span', 'auto-last', '');
  if (!last) {
    out.textContent = 'never run';
    return out;
  }
  if (last.uid) {
    const link = document.createElement('a');
    link.href = `#/job/${encodeURIComponent(last.uid)}`;
    link.dataset.uid = last.uid;
    link.dataset.at = String(last.at);
    const run = typeof last.state === 'string'
      ? learn({ uid: last.uid, state: last.state, exit: last.exit })
      : { state: 'started', exit: last.exit };
    link.textContent = runText(run.state, run.exit, last.at);
    link.title = last.uid;
    out.append(link);
  } else {
    out.textContent = `skipped ${when(last.at)}: ${last.skipped ?? ''}`;
    out.classList.add('skipped');
  }
  return out;
}

/** The argv of a definition's job as it reads, or its rpc name. @param {any} exec */
function jobText(exec) {
  if (Array.isArray(exec?.argv)) return exec.argv.join(' ');
  if (typeof exec?.['rpc-name'] === 'string') return `rpc ${exec['rpc-name']}`;
  return '';
}

export class SchedulesPanel {
  /**
   * @param {HTMLElement} root the panel, holding #autos-list, #autos-error and #autos-count
   * @param {Learn} learn tells the page what the service said of a last run, and answers
   *   what the page knows of that job
   */
  constructor(root, learn) {
    this.root = root;
    this.learn = learn;
    this.list = /** @type {HTMLElement} */ (root.querySelector('#autos-list'));
    this.error = /** @type {HTMLElement} */ (root.querySelector('#autos-error'));
    this.count = /** @type {HTMLElement} */ (root.querySelector('#autos-count'));
    this.seq = 0;
  }

  /** Shows what the page now knows of a job wherever it is a last run. @param {JobMeta} meta */
  showJob(meta) {
    for (const link of this.list.querySelectorAll(`a[data-uid="${CSS.escape(meta.uid)}"]`)) {
      if (link instanceof HTMLElement) link.textContent = runText(meta.state, meta.exit, Number(link.dataset.at));
    }
  }

  clear() {
    this.seq++;
    this.list.textContent = '';
    this.error.textContent = '';
    this.count.textContent = '';
    this.root.hidden = true;
  }

  /**
   * Lists the caller's schedules and triggers; the panel stays hidden while there are none.
   * Never throws: a failure is shown in the panel. @param {Api} api
   */
  async refresh(api) {
    const seq = ++this.seq;
    try {
      const [schedules, triggers] = await Promise.all([api.schedules(), api.triggers()]);
      if (seq !== this.seq) return;
      const rows = document.createDocumentFragment();
      for (const s of schedules) {
        const li = document.createElement('li');
        li.className = 'auto';
        li.dataset.kind = 'schedule';
        li.dataset.name = s.name;
        const next = typeof s.next === 'number' ? `next ${when(s.next)}` : 'no next run';
        li.append(
          cell('span', 'auto-name', s.name),
          cell('code', 'auto-when', `${s.cron} (${s.tz})`),
          cell('span', 'auto-next', next),
          cell('code', 'auto-job', jobText(s.exec)),
          lastRun(s.last, this.learn));
        rows.append(li);
      }
      for (const t of triggers) {
        const li = document.createElement('li');
        li.className = 'auto';
        li.dataset.kind = 'trigger';
        li.dataset.name = t.name;
        li.append(
          cell('span', 'auto-name', t.name),
          cell('code', 'auto-when', `upload to ${t.prefix || '(anywhere)'}`),
          cell('span', 'auto-next', 'on upload'),
          cell('code', 'auto-job', jobText(t.exec)),
          lastRun(t.last, this.learn));
        rows.append(li);
      }
      this.list.textContent = '';
      this.list.append(rows);
      this.error.textContent = '';
      const n = schedules.length + triggers.length;
      this.count.textContent = `${schedules.length} scheduled, ${triggers.length} on upload`;
      this.root.hidden = n === 0;
    } catch (e) {
      if (seq !== this.seq) return;
      this.error.textContent = `Cannot list schedules: ${e instanceof Error ? e.message : e}`;
      this.root.hidden = false;
    }
  }
}
