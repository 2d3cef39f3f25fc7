// @ts-check
/**
 * The page's secrets panel: the caller's secrets by name with when each was set, a form to
 * set one, a delete for each (a second click confirms it), and a checkbox for each that
 * attaches it to the next command, which then has it as a variable of that name.
 * A value goes from its field to the service and nowhere else: the field is emptied once
 * the service has it, and the service never answers a value, so the page cannot show one.
 */
import { cell, when, messageOf } from './ui.js';
import { AuthError, ApiError } from './api.js';

/** @typedef {import('./api.js').Api} Api */
/** @typedef {import('./api.js').SecretInfo} SecretInfo */

/** How long a first click on Delete waits for the second that confirms it. */
const CONFIRM_MS = 5000;

export class SecretsPanel {
  /**
   * @param {HTMLDetailsElement} root the panel, holding #secrets-list, #secrets-count, #secrets-error,
   *   #secrets-status and the form #secret-form with #secret-name and #secret-value
   * @param {{refused: () => void, attached: (names: string[]) => void}} hooks what the page
   *   does when the service refuses the key, and when the secrets attached to the next
   *   command change
   */
  constructor(root, hooks) {
    this.root = root;
    this.hooks = hooks;
    const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (root.querySelector(`#${id}`));
    this.list = $('secrets-list');
    this.count = $('secrets-count');
    this.error = $('secrets-error');
    this.status = $('secrets-status');
    this.form = /** @type {HTMLFormElement} */ ($('secret-form'));
    this.name = /** @type {HTMLInputElement} */ ($('secret-name'));
    this.value = /** @type {HTMLInputElement} */ ($('secret-value'));
    this.save = /** @type {HTMLButtonElement} */ (this.form.querySelector('button[type="submit"]'));
    /** @type {Api | null} */
    this.api = null;
    /** The names listed now, and whether a list came at all. */
    this.names = /** @type {Set<string>} */ (new Set());
    this.listed = false;
    /** The names attached to the next command, in the order attached. */
    this.attached = /** @type {Set<string>} */ (new Set());
    this.seq = 0;
    /** Delete buttons clicked once, each with what puts it back. */
    this.armed = /** @type {WeakMap<HTMLButtonElement, () => void>} */ (new WeakMap());
    this.form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      this.put();
    });
  }

  /** Forgets everything the panel showed or holds, the value being typed too (signed out). */
  clear() {
    this.seq++;
    this.api = null;
    this.names.clear();
    this.listed = false;
    this.list.textContent = '';
    this.count.textContent = '';
    this.error.textContent = '';
    this.status.textContent = '';
    this.form.reset();
    this.root.open = false;
    this.setAttached([]);
  }

  /**
   * Lists the caller's secrets; attachments to names no longer listed are dropped. Never
   * throws: a failure is shown in the panel. @param {Api} api
   */
  async refresh(api) {
    this.api = api;
    const seq = ++this.seq;
    try {
      const secrets = await api.secrets();
      if (seq !== this.seq) return;
      this.show(secrets);
    } catch (e) {
      if (seq !== this.seq) return;
      // The panel may be closed: its summary says so too.
      if (!this.listed) this.count.textContent = 'not listed';
      this.failed('Cannot list secrets', e);
    }
  }

  /** The names attached to the next command, leaving none attached. */
  take() {
    const names = [...this.attached];
    this.setAttached([]);
    return names;
  }

  /**
   * Attaches `names` again after the command they were taken for never ran, unless others
   * were attached since. @param {string[]} names
   */
  restore(names) {
    if (!this.attached.size) this.setAttached(names.filter((n) => this.names.has(n)));
  }

  /** Attaches nothing to the next command. */
  detachAll() {
    this.setAttached([]);
  }

  /** @param {SecretInfo[]} secrets */
  show(secrets) {
    this.names = new Set(secrets.map((s) => s.name));
    this.listed = true;
    const rows = document.createDocumentFragment();
    for (const s of secrets) rows.append(this.row(s));
    this.list.textContent = '';
    this.list.append(rows);
    this.error.textContent = '';
    this.setAttached([...this.attached].filter((n) => this.names.has(n)));
  }

  /** One secret's row: name, when set, its checkbox and its delete. @param {SecretInfo} s */
  row(s) {
    const li = document.createElement('li');
    li.className = 'secret';
    li.dataset.name = s.name;
    const name = cell('code', 'secret-name', s.name);
    name.title = s.name;
    const set = cell('span', 'secret-when', s.updated ? `set ${when(s.updated)}` : '');
    const use = document.createElement('label');
    use.className = 'secret-use';
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.checked = this.attached.has(s.name);
    box.setAttribute('aria-label', `use in next run: ${s.name}`);
    box.addEventListener('change', () => {
      const names = [...this.attached].filter((n) => n !== s.name);
      if (box.checked) names.push(s.name);
      this.setAttached(names);
    });
    use.append(box, 'use in next run');
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'secret-delete';
    button.textContent = 'Delete';
    button.setAttribute('aria-label', `Delete ${s.name}`);
    button.addEventListener('click', () => this.remove(s.name, button));
    li.append(name, set, use, button);
    return li;
  }

  /** Sets the attached names, ticking their boxes, and tells the page. @param {string[]} names */
  setAttached(names) {
    this.attached = new Set(names);
    for (const li of this.list.querySelectorAll('li.secret')) {
      const box = li.querySelector('input[type="checkbox"]');
      if (box instanceof HTMLInputElement) box.checked = this.attached.has(/** @type {HTMLElement} */ (li).dataset.name ?? '');
    }
    const n = this.names.size;
    const listed = !this.listed ? '' : n === 0 ? 'none yet' : n === 1 ? '1 secret' : `${n} secrets`;
    const attached = this.attached.size ? `${this.attached.size} attached` : '';
    this.count.textContent = [listed, attached].filter(Boolean).join(', ');
    this.hooks.attached([...this.attached]);
  }

  /** Stores the form's secret; the value field is emptied once the service has it. */
  async put() {
    const api = this.api;
    if (!api || this.save.disabled) return;
    const name = this.name.value.trim();
    this.status.textContent = '';
    if (!name) {
      this.error.textContent = 'Name the secret: A-Z, 0-9 and _, not starting with a digit.';
      this.name.focus();
      return;
    }
    const replacing = this.names.has(name);
    this.save.disabled = true;
    try {
      await api.putSecret(name, this.value.value);
      if (api !== this.api) return;
      this.form.reset();
      this.error.textContent = '';
      this.status.textContent = `${name} ${replacing ? 'replaced' : 'saved'}.`;
      await this.refresh(api);
    } catch (e) {
      if (api !== this.api) return;
      // The value stays in its field, so a bad name can be put right without typing it again.
      this.failed('Not saved', e);
    } finally {
      this.save.disabled = false;
    }
  }

  /**
   * Deletes a secret on the second click of its button; the first asks for it, for a while.
   * @param {string} name @param {HTMLButtonElement} button
   */
  async remove(name, button) {
    const api = this.api;
    if (!api || button.disabled) return;
    const armed = this.armed.get(button);
    if (!armed) {
      button.dataset.armed = 'true';
      button.textContent = 'Confirm';
      button.setAttribute('aria-label', `Confirm: delete ${name}`);
      const disarm = () => {
        clearTimeout(timer);
        button.removeEventListener('blur', disarm);
        this.armed.delete(button);
        delete button.dataset.armed;
        button.textContent = 'Delete';
        button.setAttribute('aria-label', `Delete ${name}`);
      };
      const timer = setTimeout(disarm, CONFIRM_MS);
      button.addEventListener('blur', disarm);
      this.armed.set(button, disarm);
      return;
    }
    // A failed delete asks again before the next try.
    armed();
    button.disabled = true;
    this.status.textContent = '';
    try {
      await api.deleteSecret(name);
      if (api !== this.api) return;
      this.error.textContent = '';
      this.status.textContent = `${name} deleted.`;
    } catch (e) {
      if (api !== this.api) return;
      // Already gone (deleted elsewhere): the list below catches up, nothing to say.
      if (!(e instanceof ApiError && e.status === 404)) {
        this.failed(`Cannot delete ${name}`, e);
        button.disabled = false;
        return;
      }
    }
    await this.refresh(api);
  }

  /** @param {string} what @param {unknown} e */
  failed(what, e) {
    if (e instanceof AuthError) {
      this.hooks.refused();
      return;
    }
    this.error.textContent = `${what}: ${messageOf(e)}`;
  }
}
