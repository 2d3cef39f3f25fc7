// @ts-check
/**
 * The aws-exec page: sign in with a key, run bash commands, watch their output stream.
 * A run's uid is in the address (#/job/UID) so a reload or a shared link re-attaches;
 * #/run?cmd=... only fills in the command line, it never runs anything by itself.
 * The jobs panel lists the caller's jobs as the service knows them (whoever started them);
 * a row is a #/job/UID link, so opening one re-attaches the same way.
 * Files attached at the prompt are uploaded before the command is submitted and placed in
 * its directory under their own names; the files a job leaves under $AWS_EXEC_ARTIFACTS are
 * listed as download links below its output once it has ended. Schedules and triggers are
 * listed above the runs (schedules.js) with their last runs as #/job/UID links. Secrets are
 * set and deleted in their panel (secrets.js); those ticked there go with the next command,
 * shown by the command line as the files are.
 */
import { Api, AuthError } from './api.js';
import { Terminal } from './term.js';
import { LogView } from './logview.js';
import { SchedulesPanel } from './schedules.js';
import { cell, messageOf } from './ui.js';
import { SecretsPanel } from './secrets.js';

/** @typedef {import('./api.js').JobMeta} JobMeta */
/** @typedef {import('./api.js').JobCommand} JobCommand */
/** @typedef {import('./api.js').JobPage} JobPage */
/** @typedef {import('./api.js').Artifact} Artifact */

const KEY_STORE = 'aws-exec.auth';
const HISTORY_STORE = 'aws-exec.history';
const HISTORY_MAX = 500;
const JOBS_PAGE = 50;

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const signin = /** @type {HTMLFormElement} */ ($('signin'));
const keyInput = /** @type {HTMLInputElement} */ ($('key'));
const signinError = $('signin-error');
const consoleEl = $('console');
const runs = $('runs');
const prompt = /** @type {HTMLFormElement} */ ($('prompt'));
const cmd = /** @type {HTMLInputElement} */ ($('cmd'));
const who = $('who');
const signout = $('signout');
const jobsList = $('jobs-list');
const jobsError = $('jobs-error');
const jobsEmpty = $('jobs-empty');
const jobsRefresh = /** @type {HTMLButtonElement} */ ($('jobs-refresh'));
const jobsMore = /** @type {HTMLButtonElement} */ ($('jobs-more'));
const autos = new SchedulesPanel($('autos'), (run) => learn(run));
const inputsPicker = /** @type {HTMLInputElement} */ ($('inputs'));
const inputsChosen = $('inputs-chosen');
const inputsList = $('inputs-list');
const inputsClear = /** @type {HTMLButtonElement} */ ($('inputs-clear'));
const secretsChosen = $('secrets-chosen');
const secretsAttached = $('secrets-attached');
const secrets = new SecretsPanel(/** @type {HTMLDetailsElement} */ ($('secrets')), {
  refused: () => showSignin('The auth key was refused. Sign in again.'),
  attached: showAttachedSecrets,
});

/** @type {Api | null} */
let api = null;
/** Runs being followed, by uid, so a hash change never attaches twice. */
const following = new Map();

// The command line sticks over the bottom of the screen: a run scrolled into view stops
// above it (`.run`'s scroll-margin-bottom).
new ResizeObserver(() => {
  document.documentElement.style.setProperty('--prompt-height', `${prompt.offsetHeight}px`);
}).observe(prompt);

/** Whether the page is scrolled to (near) its bottom, where new output keeps it. */
function nearBottom() {
  return window.innerHeight + window.scrollY >= document.body.scrollHeight - 80;
}

// ---- what the page knows of each job ------------------------------------------------------

/**
 * The furthest the page has heard each job get, whichever request told it: the jobs panel,
 * the runs and the schedules' last runs show a job's state from here, so they agree.
 */
const known = /** @type {Map<string, JobMeta>} */ (new Map());
/** The runs following each job, told when what is known of it changes. */
const hearing = /** @type {Map<string, Set<(meta: JobMeta) => void>>} */ (new Map());

/** How far along a job is: its attempt, then queued, running, ended. @param {{state?: string, attempt?: number}} meta */
function progress(meta) {
  const phase = meta.state === 'queued' ? 0 : meta.state === 'running' ? 1 : 2;
  return (meta.attempt ?? 1) * 3 + phase;
}

/**
 * Takes in what a request said of a job, unless the page has heard of it further along
 * (answers cross), and shows it wherever the job is shown. Answers what is known now.
 * @param {Partial<JobMeta> & {uid: string}} meta @returns {JobMeta}
 */
function learn(meta) {
  const had = known.get(meta.uid);
  if (had && progress({ attempt: had.attempt, ...meta }) < progress(had)) return had;
  const now = /** @type {JobMeta} */ ({ ...had, ...meta });
  known.set(meta.uid, now);
  const row = listed.get(meta.uid);
  if (row) paintRow(row, now);
  autos.showJob(now);
  for (const tell of hearing.get(meta.uid) ?? []) tell(now);
  return now;
}

/** Calls `tell` with each change of what is known of job `uid`; answers how to stop.
 * @param {string} uid @param {(meta: JobMeta) => void} tell */
function hear(uid, tell) {
  const all = hearing.get(uid) ?? new Set();
  hearing.set(uid, all.add(tell));
  return () => {
    all.delete(tell);
    if (!all.size && hearing.get(uid) === all) hearing.delete(uid);
  };
}

// ---- sign in / out ------------------------------------------------------------------------

function showSignin(message = '') {
  api = null;
  for (const ctl of following.values()) ctl.abort();
  following.clear();
  known.clear();
  clearJobs();
  autos.clear();
  secrets.clear();
  choose([], true);
  consoleEl.hidden = true;
  signout.hidden = true;
  who.textContent = '';
  signin.hidden = false;
  signinError.textContent = message;
  keyInput.focus();
}

/** @param {string} key @param {boolean} typed */
async function trySignin(key, typed) {
  const candidate = new Api(key);
  try {
    const me = await candidate.whoami();
    api = candidate;
    localStorage.setItem(KEY_STORE, key);
    signin.hidden = true;
    signinError.textContent = '';
    keyInput.value = '';
    consoleEl.hidden = false;
    signout.hidden = false;
    who.textContent = `signed in as ${me.name}`;
    route();
    refreshJobs();
    autos.refresh(candidate);
    secrets.refresh(candidate);
    cmd.focus();
  } catch (e) {
    if (e instanceof AuthError) {
      localStorage.removeItem(KEY_STORE);
      showSignin(typed ? 'That auth key was not recognised. Check it and try again.'
        : 'The saved auth key is no longer valid. Sign in again.');
    } else {
      showSignin(`Cannot reach the service: ${messageOf(e)}`);
    }
  }
}

signin.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const key = keyInput.value.trim();
  if (key) trySignin(key, true);
});

signout.addEventListener('click', () => {
  localStorage.removeItem(KEY_STORE);
  runs.textContent = '';
  history.replaceState(null, '', location.pathname);
  showSignin('Signed out.');
});

/** A byte count as people read it: 512 B, 4.9 KiB, 13 MiB. @param {number} bytes */
function humanSize(bytes) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = Math.max(0, bytes);
  let unit = 0;
  while (value >= 1023.95 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  if (unit === 0) return `${Math.round(value)} B`;
  return `${value < 9.95 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}

// ---- files to attach ----------------------------------------------------------------------

/** The files attached to the next command, in the order chosen; one per name. */
let chosen = /** @type {File[]} */ ([]);

/**
 * Adds files to those attached to the next command (a later file replaces an earlier one of
 * the same name, as both would land at the same path), or replaces them all.
 * @param {File[]} files @param {boolean} [replace]
 */
function choose(files, replace = false) {
  const byName = new Map(replace ? [] : chosen.map((f) => [f.name, f]));
  for (const file of files) {
    byName.delete(file.name);
    byName.set(file.name, file);
  }
  chosen = [...byName.values()];
  inputsList.textContent = '';
  for (const file of chosen) {
    const li = document.createElement('li');
    li.className = 'chosen-file';
    li.title = file.name;
    li.append(cell('span', 'chosen-name', file.name), cell('span', 'chosen-size', humanSize(file.size)));
    inputsList.append(li);
  }
  inputsChosen.hidden = chosen.length === 0;
}

/** The attached files, leaving none attached. */
function takeChosen() {
  const files = chosen;
  choose([], true);
  return files;
}

inputsPicker.addEventListener('change', () => {
  choose([...(inputsPicker.files ?? [])]);
  inputsPicker.value = ''; // so choosing the same file again is seen again
});

inputsClear.addEventListener('click', () => {
  choose([], true);
  cmd.focus();
});

// ---- secrets to attach --------------------------------------------------------------------

/** Lists by the command line the secrets the next command gets. @param {string[]} names */
function showAttachedSecrets(names) {
  secretsAttached.textContent = '';
  for (const name of names) {
    const li = document.createElement('li');
    li.className = 'chosen-file chosen-secret';
    li.title = `The next command has secret ${name} as $${name}; its log shows the value as ***`;
    li.append(cell('span', 'chosen-name', `$${name}`), cell('span', 'chosen-size', 'secret'));
    secretsAttached.append(li);
  }
  secretsChosen.hidden = names.length === 0;
}

$('secrets-detach').addEventListener('click', () => {
  secrets.detachAll();
  cmd.focus();
});

// ---- history ------------------------------------------------------------------------------

/** @returns {string[]} */
function loadHistory() {
  try {
    const h = JSON.parse(localStorage.getItem(HISTORY_STORE) ?? '[]');
    return Array.isArray(h) ? h.filter((x) => typeof x === 'string') : [];
  } catch {
    return [];
  }
}

let past = loadHistory();
let cursor = past.length;
let draft = '';

/** @param {string} line */
function remember(line) {
  if (past[past.length - 1] !== line) past.push(line);
  past = past.slice(-HISTORY_MAX);
  localStorage.setItem(HISTORY_STORE, JSON.stringify(past));
  cursor = past.length;
  draft = '';
}

cmd.addEventListener('keydown', (ev) => {
  if (ev.key === 'ArrowUp' && cursor > 0) {
    if (cursor === past.length) draft = cmd.value;
    cursor--;
    cmd.value = past[cursor];
  } else if (ev.key === 'ArrowDown' && cursor < past.length) {
    cursor++;
    cmd.value = cursor === past.length ? draft : past[cursor];
  } else {
    return;
  }
  ev.preventDefault();
  cmd.setSelectionRange(cmd.value.length, cmd.value.length);
});

document.addEventListener('keydown', (ev) => {
  const target = /** @type {HTMLElement} */ (ev.target);
  if (ev.key === '/' && !consoleEl.hidden && !['INPUT', 'TEXTAREA'].includes(target.tagName)) {
    ev.preventDefault();
    cmd.focus();
  }
});

// ---- runs ---------------------------------------------------------------------------------

/** A run's block on the page. @param {string} title */
function runBlock(title) {
  const article = document.createElement('article');
  article.className = 'run';
  article.dataset.state = 'running';
  const header = document.createElement('header');
  const code = document.createElement('code');
  code.className = 'cmd';
  code.textContent = title;
  header.append(code);
  const out = document.createElement('pre');
  out.className = 'out';
  out.tabIndex = 0;
  const artifacts = document.createElement('section');
  artifacts.className = 'artifacts';
  artifacts.hidden = true;
  const alert = document.createElement('p');
  alert.className = 'alert';
  alert.setAttribute('role', 'alert');
  const footer = document.createElement('footer');
  footer.textContent = 'starting…';
  article.append(header, out, artifacts, alert, footer);
  runs.append(article);
  article.scrollIntoView({ block: 'end' });
  return { article, header, code, out, artifacts, alert, footer };
}

/** @param {ReturnType<typeof runBlock>} block @param {string} uid */
function showUid(block, uid) {
  const link = document.createElement('a');
  link.className = 'uid';
  link.href = `#/job/${uid}`;
  link.textContent = uid.split('.')[1]?.slice(0, 8) ?? uid;
  link.title = uid;
  block.header.append(link);
  block.article.dataset.uid = uid;
}

/**
 * A Cancel button in the run's header: asks the service to stop the job; the follow loop
 * then sees its end as with any other. The button goes when the follow ends.
 * @param {ReturnType<typeof runBlock>} block @param {string} uid
 */
function cancelButton(block, uid) {
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'cancel';
  button.textContent = 'Cancel';
  button.title = 'Stop this job';
  button.addEventListener('click', async () => {
    if (!api || button.disabled) return;
    button.disabled = true;
    block.alert.textContent = '';
    try {
      const { state } = await api.cancel(uid);
      if (typeof state === 'string') learn({ uid, state });
      refreshJobs();
    } catch (e) {
      if (e instanceof AuthError) {
        showSignin('The auth key was refused. Sign in again.');
        return;
      }
      block.alert.textContent = `Cancel failed: ${messageOf(e)}`;
      button.disabled = false;
    }
  });
  block.header.append(button);
  return button;
}

/**
 * What a followed run's footer says of its job: its state as the page knows it (queued until
 * told otherwise), and while it runs, for how long since `since` (ms since the epoch).
 * @param {JobMeta | undefined} meta @param {number} since
 */
function stateText(meta, since) {
  const state = meta?.state ?? 'queued';
  return state === 'running' ? `running… ${span((Date.now() - since) / 1000)}` : `${state}…`;
}

/**
 * Follows a run to its end; `cancellable` says whether the job may still be running.
 * A job that ran before the page saw it (`existing`) opens at the end of its log, and its
 * running time counts from `started` (seconds since the epoch) when that is known.
 * @param {ReturnType<typeof runBlock>} block @param {string} uid
 * @param {number} [started]
 */
async function follow(block, uid, cancellable = true, existing = false, started = undefined) {
  const mine = api;
  if (!mine) return;
  const ctl = new AbortController();
  following.set(uid, ctl);
  const down = nearBottom();
  const cancel = cancellable ? cancelButton(block, uid) : null;
  // Its header may have grown (a phone wraps it): the new run stays above the command line.
  if (down) block.article.scrollIntoView({ block: 'end' });
  const view = new LogView(block, mine, uid);
  const since = typeof started === 'number' ? started * 1000 : Date.now();
  let retrying = false;
  let ended = false;
  // The footer says what the jobs panel says of the job; a running one, how long it has run,
  // a second at a time.
  const show = () => {
    if (!retrying && !ended) block.footer.textContent = stateText(known.get(uid), since);
  };
  // The service says `running` once a job has run 200 ms, and a poll of its log says
  // nothing of that: its state is asked for until it has started.
  let asking = false;
  const askUntilStarted = async () => {
    if (asking) return;
    asking = true;
    try {
      for (let wait = 300; (known.get(uid)?.state ?? 'queued') === 'queued'; wait = Math.min(wait * 2, 1000)) {
        await new Promise((resolve) => setTimeout(resolve, wait));
        if (ended || ctl.signal.aborted) return;
        try {
          learn(await mine.job(uid, ctl.signal));
        } catch {
          // asked again in a moment; the follow shows what went wrong
        }
      }
    } finally {
      asking = false;
    }
  };
  const unhear = hear(uid, (meta) => {
    show();
    if (meta.state === 'queued') askUntilStarted();
  });
  show();
  askUntilStarted();
  const ticking = setInterval(show, 1000);
  try {
    const from = existing ? await view.open(ctl.signal) : 0;
    if (from > 0) window.scrollTo(0, document.body.scrollHeight);
    const { exit, notes } = await mine.follow(uid, (bytes) => {
      const stick = nearBottom();
      view.append(bytes);
      if (stick) window.scrollTo(0, document.body.scrollHeight);
    }, ctl.signal, (failing) => {
      retrying = failing;
      if (failing) block.footer.textContent = 'connection lost; retrying…';
      else show();
    }, from);
    ended = true;
    clearInterval(ticking);
    // Its end as the service has it, shown in its row as the exit is on its card.
    const meta = await mine.job(uid, ctl.signal).catch(() => null);
    if (ctl.signal.aborted) return;
    if (meta) learn(meta);
    view.finish();
    block.article.dataset.state = 'done';
    block.article.dataset.exit = String(exit);
    block.footer.className = exit === 0 ? 'ok' : 'fail';
    block.footer.textContent = `exit ${exit}`;
    if (notes.length) {
      // The service's words, apart from the job's own output.
      const said = document.createElement('p');
      said.className = 'notes';
      said.textContent = notes.map((n) => `aws-exec: ${n}`).join('\n');
      block.footer.before(said);
    }
    refreshUntilEnded(uid);
    loadArtifacts(block, uid);
    if (meta) showUsage(block, uid, meta);
  } catch (e) {
    ended = true;
    if (ctl.signal.aborted) return;
    view.finish();
    block.article.dataset.state = 'error';
    block.footer.className = 'fail';
    block.footer.textContent = messageOf(e);
    if (e instanceof AuthError) showSignin('The auth key was refused. Sign in again.');
  } finally {
    clearInterval(ticking);
    unhear();
    following.delete(uid);
    cancel?.remove();
  }
}

/**
 * Under a finished run, what it used (wall and CPU time, peak memory, log, and on Lambda
 * an estimated cost), from its `meta`. A service without usage shows nothing.
 * @param {ReturnType<typeof runBlock>} block @param {string} uid @param {JobMeta} meta
 */
function showUsage(block, uid, meta) {
  const u = meta.usage;
  if (!u) return;
  const parts = [
    `${secs(u['wall-ms'])}`,
    `CPU ${secs(u['cpu-user-ms'] + u['cpu-system-ms'])}`,
    `${humanSize(u['peak-memory-bytes'])} peak`,
    `${humanSize(u['log-bytes'])} of log`,
  ];
  const size = meta['task-size'];
  if (meta.runner) {
    parts.push(size ? `on ${meta.runner} (${size.cpu / 1024} vCPU, ${size['memory-mb']} MiB)` : `on ${meta.runner}`);
  }
  if (typeof u['cost-nano-usd'] === 'number') {
    parts.push(`about $${(u['cost-nano-usd'] / 1e9).toPrecision(2)}`);
  }
  const line = document.createElement('p');
  line.className = 'usage';
  line.textContent = parts.join(' · ');
  block.footer.after(line);
  const tries = meta.attempts ?? [];
  if (tries.length > 1) {
    const attempts = document.createElement('p');
    attempts.className = 'usage attempts';
    attempts.textContent = `${tries.length} attempts: ${tries
      .map((a) => `#${a.attempt} ${a.state} ${a.exit}`)
      .join(' · ')}`;
    line.after(attempts);
  }
  if (meta.notify) showDelivery(line, uid, meta);
}

/**
 * How the notification of a run's end is going, under what it used, looked at again until
 * it is delivered or stopped (a minute at most).
 * @param {HTMLElement} after @param {string} uid @param {import('./api.js').JobMeta} meta
 */
async function showDelivery(after, uid, meta) {
  const line = document.createElement('p');
  line.className = 'usage delivery';
  after.after(line);
  for (let look = 0; look < 30; look++) {
    const d = meta.notified;
    const url = meta.notify?.url ?? '';
    if (!d) line.textContent = `notify ${url}: not yet sent`;
    else if (d.delivered) line.textContent = `notify ${url}: delivered (${d.attempts} attempts)`;
    else if (d.stopped) line.textContent = `notify ${url}: not delivered: ${d.stopped}`;
    else line.textContent = `notify ${url}: ${d.attempts} attempts, last ${d.last ?? '-'}; trying again`;
    if (d && (d.delivered || d.stopped)) return;
    await new Promise((resolve) => setTimeout(resolve, 2000));
    if (!api || !line.isConnected) return;
    try {
      meta = await api.job(uid);
    } catch {
      return;
    }
  }
}

/** Milliseconds as seconds, to a precision that reads. @param {number} ms */
function secs(ms) {
  const s = ms / 1000;
  return s < 1 ? `${s.toFixed(3)} s` : s < 10 ? `${s.toFixed(2)} s` : `${s.toFixed(1)} s`;
}

/** Runs a command line; `history` and `clear` are handled here. @param {string} line */
async function run(line) {
  if (!api) return;
  remember(line);
  if (line === 'clear') {
    runs.textContent = '';
    return;
  }
  const block = runBlock(`$ ${line}`);
  if (line === 'history') {
    new Terminal(block.out).note(past.map((h, i) => `${String(i + 1).padStart(5)}  ${h}`).join('\n') + '\n');
    block.article.dataset.state = 'done';
    block.footer.textContent = 'built-in';
    return;
  }
  const files = takeChosen();
  const names = secrets.take();
  /** @type {Record<string, string>} */
  const inputs = {};
  for (const [i, file] of files.entries()) {
    block.footer.textContent =
      `uploading ${file.name} (${humanSize(file.size)}, ${i + 1} of ${files.length})…`;
    try {
      inputs[file.name] = await api.uploadInput(file);
    } catch (e) {
      block.article.dataset.state = 'error';
      block.footer.className = 'fail';
      block.footer.textContent = 'not run: an attached file could not be uploaded';
      block.alert.textContent = `Upload of ${file.name} failed: ${messageOf(e)}`;
      if (e instanceof AuthError) {
        showSignin('The auth key was refused. Sign in again.');
      } else if (!chosen.length) {
        choose(files, true); // still attached, so the command can simply be run again
        secrets.restore(names);
        if (!cmd.value) cmd.value = line;
      }
      return;
    }
    if (!api) return;
  }
  if (files.length) block.footer.textContent = 'starting…';
  try {
    const uid = await api.submit(['bash', '-c', line], inputs, names);
    showUid(block, uid);
    location.hash = `#/job/${uid}`;
    refreshJobs();
    await follow(block, uid);
  } catch (e) {
    block.article.dataset.state = 'error';
    block.footer.className = 'fail';
    block.footer.textContent = messageOf(e);
    if (e instanceof AuthError) showSignin('The auth key was refused. Sign in again.');
  }
}

prompt.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const line = cmd.value.trim();
  cmd.value = '';
  if (line) run(line);
});

/** Re-attaches to a job named in the address. @param {string} uid */
async function attach(uid) {
  if (!api || following.has(uid) || runs.querySelector(`[data-uid="${CSS.escape(uid)}"]`)) return;
  const block = runBlock(`job ${uid}`);
  showUid(block, uid);
  let ended = false;
  /** @type {number | undefined} */
  let started;
  try {
    const meta = learn(await api.job(uid));
    started = meta?.started;
    const argv = argvOf(meta?.command);
    if (argv) {
      block.code.textContent = `$ ${argv[0] === 'bash' && argv[1] === '-c' ? argv[2] : argv.join(' ')}`;
    } else if (commandText(meta?.command)) {
      block.code.textContent = commandText(meta.command);
    }
    ended = typeof meta?.exit === 'number';
  } catch {
    // the follow below reports a job that is not there
  }
  await follow(block, uid, !ended, true, started);
}

// ---- artifacts ----------------------------------------------------------------------------

/**
 * Lists the files an ended job left, below its output. The newest list shown carries the id
 * `artifacts`.
 * @param {ReturnType<typeof runBlock>} block @param {string} uid
 */
async function loadArtifacts(block, uid) {
  const mine = api;
  if (!mine) return;
  const box = block.artifacts;
  box.dataset.state = 'loading';
  try {
    const list = await mine.artifacts(uid);
    if (api !== mine) return;
    showArtifacts(box, list);
  } catch (e) {
    if (api !== mine) return;
    box.dataset.state = 'error';
    if (e instanceof AuthError) showSignin('The auth key was refused. Sign in again.');
    else block.alert.textContent = `Cannot list the job's artifacts: ${messageOf(e)}`;
  }
}

/** @param {HTMLElement} box @param {Artifact[]} list */
function showArtifacts(box, list) {
  box.textContent = '';
  if (list.length) {
    const title = cell('h3', 'artifacts-title', list.length === 1 ? '1 artifact' : `${list.length} artifacts`);
    const ul = document.createElement('ul');
    for (const artifact of list) {
      const link = document.createElement('a');
      link.className = 'artifact';
      link.href = artifact.url;
      link.download = artifact.path.split('/').pop() || artifact.path;
      link.textContent = `${artifact.path} (${humanSize(artifact.size)})`;
      link.title = `${artifact.path}, ${artifact.size} bytes`;
      const li = document.createElement('li');
      li.append(link);
      ul.append(li);
    }
    box.append(title, ul);
  }
  box.hidden = list.length === 0;
  box.dataset.state = list.length ? 'shown' : 'none';
  if (box.id !== 'artifacts') {
    document.getElementById('artifacts')?.removeAttribute('id');
    box.id = 'artifacts';
  }
}

// ---- jobs panel ---------------------------------------------------------------------------

/**
 * A listed job's row: the meta it shows and the cells that change.
 * @typedef {{meta: JobMeta, link: HTMLElement, state: HTMLElement, exit: HTMLElement,
 *   dur: HTMLElement, age: HTMLElement}} ListedJob
 */

/** The listed jobs by uid. */
const listed = /** @type {Map<string, ListedJob>} */ (new Map());
/** Where the next page of older jobs starts, if there is one. */
let jobsNext = /** @type {string | null} */ (null);
/** Counts list requests, so only the newest answer is shown. */
let jobsSeq = 0;

/** @param {string} state */
function isFinal(state) {
  return state !== 'queued' && state !== 'running';
}

/** @param {JobCommand | undefined} command @returns {string[] | null} */
function argvOf(command) {
  return command && 'argv' in command && Array.isArray(command.argv) ? command.argv : null;
}

/** How a command reads in the list: the argv joined, or `rpc NAME ARGS`. @param {JobCommand | undefined} command */
function commandText(command) {
  const argv = argvOf(command);
  if (argv) return argv.join(' ');
  if (command && 'rpc-name' in command) return `rpc ${command['rpc-name']} ${command['rpc-args'] ?? 'null'}`;
  return '';
}

/** A length of time, to the second: 7s, 3m05s, 2h04m, 3d05h. @param {number} secs */
function span(secs) {
  const s = Math.max(0, Math.round(secs));
  const two = (/** @type {number} */ n) => String(n).padStart(2, '0');
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${two(s % 60)}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${two(Math.floor(s / 60) % 60)}m`;
  return `${Math.floor(s / 86400)}d${two(Math.floor(s / 3600) % 24)}h`;
}

/** How long ago, coarsely: 40s ago, 5m ago, 3h ago, 2d ago. @param {number} secs */
function ago(secs) {
  const s = Math.max(0, Math.round(secs));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

const nowSecs = () => Date.now() / 1000;

/** Run time: finished - started, or so far while it runs. @param {JobMeta} meta */
function runTime(meta) {
  if (typeof meta.started !== 'number') return '';
  if (typeof meta.finished === 'number') return span(meta.finished - meta.started);
  return isFinal(meta.state) ? '' : span(nowSecs() - meta.started);
}

/** One job's row: a link that re-attaches to it. @param {JobMeta} meta */
function jobRow(meta) {
  const li = document.createElement('li');
  const link = document.createElement('a');
  link.className = 'job';
  link.href = `#/job/${encodeURIComponent(meta.uid)}`;
  link.dataset.uid = meta.uid;
  link.title = meta.uid;
  const state = cell('span', 'job-state', '');
  const exit = cell('span', 'job-exit', '');
  const dur = cell('span', 'job-dur', '');
  const age = cell('span', 'job-age', typeof meta.submitted === 'number' ? ago(nowSecs() - meta.submitted) : '');
  if (typeof meta.submitted === 'number') age.title = new Date(meta.submitted * 1000).toLocaleString();
  const text = commandText(meta.command);
  const command = cell('code', 'job-cmd', text);
  command.title = text;
  link.append(state, exit, dur, age, command);
  li.append(link);
  const row = { meta, link, state, exit, dur, age };
  listed.set(meta.uid, row);
  paintRow(row, meta);
  return li;
}

/** Shows a job's state, exit code and run time in its row. @param {ListedJob} row @param {JobMeta} meta */
function paintRow(row, meta) {
  row.meta = meta;
  row.link.dataset.state = String(meta.state);
  row.state.textContent = String(meta.state);
  const hasExit = typeof meta.exit === 'number';
  row.exit.textContent = hasExit ? `exit ${meta.exit}` : '';
  row.exit.className = hasExit ? `job-exit ${meta.exit === 0 ? 'ok' : 'fail'}` : 'job-exit';
  row.dur.textContent = runTime(meta);
}

/** Shows a page of jobs, replacing the list or adding older ones below it. @param {JobPage} page @param {boolean} older */
function showJobs(page, older) {
  if (!older) {
    jobsList.textContent = '';
    listed.clear();
  }
  const rows = document.createDocumentFragment();
  for (const meta of page.jobs) {
    const now = learn(meta);
    if (!listed.has(meta.uid)) rows.append(jobRow(now));
  }
  jobsList.append(rows);
  jobsNext = page.next;
  jobsMore.hidden = !jobsNext;
  jobsEmpty.hidden = listed.size > 0;
  jobsError.textContent = '';
}

function clearJobs() {
  jobsSeq++;
  jobsList.textContent = '';
  listed.clear();
  jobsNext = null;
  jobsMore.hidden = true;
  jobsEmpty.hidden = true;
  jobsError.textContent = '';
  jobsList.removeAttribute('aria-busy');
}

/** @param {unknown} e */
function jobsFailed(e) {
  if (e instanceof AuthError) showSignin('The auth key was refused. Sign in again.');
  else jobsError.textContent = `Cannot list jobs: ${messageOf(e)}`;
}

/** Loads the newest jobs into the panel. Never throws; false when nothing was shown. */
async function refreshJobs() {
  const mine = api;
  if (!mine) return false;
  const seq = ++jobsSeq;
  jobsList.setAttribute('aria-busy', 'true');
  try {
    const page = await mine.jobs({ limit: JOBS_PAGE });
    if (seq !== jobsSeq || api !== mine) return false;
    showJobs(page, false);
    return true;
  } catch (e) {
    if (seq === jobsSeq && api === mine) jobsFailed(e);
    return false;
  } finally {
    if (seq === jobsSeq) jobsList.removeAttribute('aria-busy');
  }
}

/** Adds the next page of older jobs below the list. */
async function olderJobs() {
  const mine = api;
  const before = jobsNext;
  if (!mine || !before) return;
  const seq = jobsSeq;
  jobsMore.disabled = true;
  try {
    const page = await mine.jobs({ limit: JOBS_PAGE, before });
    if (seq === jobsSeq && api === mine) showJobs(page, true);
  } catch (e) {
    if (seq === jobsSeq && api === mine) jobsFailed(e);
  } finally {
    jobsMore.disabled = false;
  }
}

/**
 * After a run ends: refreshes the list until it shows that job ended too (its metadata is
 * written before its exit code, so the first refresh normally does), a few tries at most.
 * @param {string} uid
 */
async function refreshUntilEnded(uid) {
  for (let attempt = 0; attempt < 5; attempt++) {
    if (attempt) await new Promise((resolve) => setTimeout(resolve, 1000));
    if (!api) return;
    const shown = await refreshJobs();
    const row = listed.get(uid);
    if (shown && (!row || isFinal(row.meta.state))) return;
  }
}

/** Brings ages and running times up to date without asking the service. */
function tickJobs() {
  const now = nowSecs();
  for (const { meta, dur, age } of listed.values()) {
    if (typeof meta.submitted === 'number') age.textContent = ago(now - meta.submitted);
    if (!isFinal(meta.state)) dur.textContent = runTime(meta);
  }
}

jobsRefresh.addEventListener('click', () => {
  refreshJobs();
  if (api) {
    autos.refresh(api);
    secrets.refresh(api);
  }
});
jobsMore.addEventListener('click', () => olderJobs());
setInterval(() => {
  if (api && !document.hidden) tickJobs();
}, 10000);

// A row is a #/job/UID link, and following it re-attaches through the address. A run already
// on the page is brought into view instead; the address the page is already at changes
// nothing, so that case attaches here.
jobsList.addEventListener('click', (ev) => {
  if (ev.button !== 0 || ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.altKey) return;
  const link = /** @type {Element} */ (ev.target).closest('a.job');
  if (!(link instanceof HTMLAnchorElement)) return;
  const uid = link.dataset.uid ?? '';
  const block = runs.querySelector(`[data-uid="${CSS.escape(uid)}"]`);
  if (block) block.scrollIntoView({ block: 'start' });
  else if (location.hash === link.hash) attach(uid);
});

// A last run's link re-attaches like a job row; the address the page is already at changes
// nothing, so that case attaches here.
$('autos-list').addEventListener('click', (ev) => {
  const link = /** @type {Element} */ (ev.target).closest('a[data-uid]');
  if (link instanceof HTMLAnchorElement && location.hash === link.hash) attach(link.dataset.uid ?? '');
});

// ---- the address --------------------------------------------------------------------------

function route() {
  if (!api) return;
  const hash = location.hash;
  const job = /^#\/job\/([^/?#]+)$/.exec(hash);
  if (job) {
    attach(decodeURIComponent(job[1]));
    return;
  }
  const prefill = /^#\/run\?(.*)$/.exec(hash)?.[1] ?? location.search.slice(1);
  const text = new URLSearchParams(prefill).get('cmd');
  if (text) {
    cmd.value = text; // filled in only: running it takes the user's Enter
    cmd.focus();
  }
}

window.addEventListener('hashchange', route);

const saved = localStorage.getItem(KEY_STORE);
if (saved) trySignin(saved, false);
else showSignin();
