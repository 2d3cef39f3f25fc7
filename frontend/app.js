// @ts-check
/**
 * The aws-exec page: sign in with a key, run bash commands, watch their output stream.
 * A run's uid is in the address (#/job/UID) so a reload or a shared link re-attaches;
 * #/run?cmd=... only fills in the command line, it never runs anything by itself.
 */
import { Api, AuthError } from './api.js';
import { Terminal } from './term.js';

const KEY_STORE = 'aws-exec.auth';
const HISTORY_STORE = 'aws-exec.history';
const HISTORY_MAX = 500;

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

/** @type {Api | null} */
let api = null;
/** Runs being followed, by uid, so a hash change never attaches twice. */
const following = new Map();

// ---- sign in / out ------------------------------------------------------------------------

function showSignin(message = '') {
  api = null;
  for (const ctl of following.values()) ctl.abort();
  following.clear();
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
    cmd.focus();
  } catch (e) {
    if (e instanceof AuthError) {
      localStorage.removeItem(KEY_STORE);
      showSignin(typed ? 'That auth key was not recognised. Check it and try again.'
        : 'The saved auth key is no longer valid. Sign in again.');
    } else {
      showSignin(`Cannot reach the service: ${e instanceof Error ? e.message : e}`);
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
  const footer = document.createElement('footer');
  footer.textContent = 'running…';
  article.append(header, out, footer);
  runs.append(article);
  article.scrollIntoView({ block: 'end' });
  return { article, header, code, out, footer, term: new Terminal(out) };
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

/** @param {ReturnType<typeof runBlock>} block @param {string} uid */
async function follow(block, uid) {
  if (!api) return;
  const ctl = new AbortController();
  following.set(uid, ctl);
  const nearBottom = () => window.innerHeight + window.scrollY >= document.body.scrollHeight - 80;
  try {
    const exit = await api.follow(uid, (bytes) => {
      const stick = nearBottom();
      block.term.write(bytes);
      if (stick) window.scrollTo(0, document.body.scrollHeight);
    }, ctl.signal, (retrying) => {
      block.footer.textContent = retrying ? 'connection lost; retrying…' : 'running…';
    });
    block.term.end();
    block.article.dataset.state = 'done';
    block.article.dataset.exit = String(exit);
    block.footer.className = exit === 0 ? 'ok' : 'fail';
    block.footer.textContent = `exit ${exit}`;
  } catch (e) {
    if (ctl.signal.aborted) return;
    block.term.end();
    block.article.dataset.state = 'error';
    block.footer.className = 'fail';
    block.footer.textContent = e instanceof Error ? e.message : String(e);
    if (e instanceof AuthError) showSignin('The auth key was refused. Sign in again.');
  } finally {
    following.delete(uid);
  }
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
    block.term.note(past.map((h, i) => `${String(i + 1).padStart(5)}  ${h}`).join('\n') + '\n');
    block.article.dataset.state = 'done';
    block.footer.textContent = 'built-in';
    return;
  }
  try {
    const uid = await api.submit(['bash', '-c', line]);
    showUid(block, uid);
    location.hash = `#/job/${uid}`;
    await follow(block, uid);
  } catch (e) {
    block.article.dataset.state = 'error';
    block.footer.className = 'fail';
    block.footer.textContent = e instanceof Error ? e.message : String(e);
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
  try {
    const meta = await api.job(uid);
    const argv = meta?.command?.argv;
    if (Array.isArray(argv)) {
      block.code.textContent = `$ ${argv[0] === 'bash' && argv[1] === '-c' ? argv[2] : argv.join(' ')}`;
    } else if (meta?.command?.['rpc-name']) {
      block.code.textContent = `rpc ${meta.command['rpc-name']} ${meta.command['rpc-args']}`;
    }
  } catch {
    // the follow below reports a job that is not there
  }
  await follow(block, uid);
}

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
