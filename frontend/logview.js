// @ts-check
/**
 * A job's log in its block, as a window over the log: a log of any size opens at its end
 * (a suffix range: what its last part weighs, not its size), the output holds at most a
 * few thousand lines, earlier parts load when it is scrolled to the top (later lines go
 * then, and come back with "jump to the end"), a running job is followed at the bottom,
 * and the whole log is a download away.
 *
 * Byte offsets of the window's first line and of each line break in it are kept, so that
 * what is dropped can be read again by range.
 */

import { Terminal } from './term.js';
import { readRange } from './api.js';

/** The most lines the output holds while it follows the end. */
export const WINDOW_LINES = 2000;

/** While earlier parts are read, the output may hold this many lines before it lets go
 * of the latest ones. */
const MOST_LINES = 3 * WINDOW_LINES;

/** How much of a log's end is read to open it, and how much earlier output one step reads. */
const STEP = 128 * 1024;

const NEWLINE = 10;

/** @typedef {import('./api.js').Api} Api */

export class LogView {
  /**
   * @param {{out: HTMLElement, article: HTMLElement, footer: HTMLElement}} block
   * @param {Api} api @param {string} uid
   */
  constructor(block, api, uid) {
    this.api = api;
    this.uid = uid;
    this.out = block.out;
    /** The byte the window's first line starts at. */
    this.start = 0;
    /** Bytes of the log handed to the view so far: where following goes on from. */
    this.end = 0;
    /** Offsets just past each line break shown, oldest first. */
    /** @type {number[]} */
    this.breaks = [];
    /** Set once the latest lines were let go to read earlier ones: new bytes are only
     * counted until "jump to the end". */
    this.detached = false;
    this.loading = false;
    this.term = this.newTerminal(this.out);

    this.earlier = document.createElement('div');
    this.earlier.className = 'log-earlier';
    this.earlier.hidden = true;
    const more = document.createElement('button');
    more.type = 'button';
    more.className = 'log-more';
    more.addEventListener('click', () => this.loadEarlier());
    this.moreButton = more;
    const download = document.createElement('a');
    download.className = 'log-download';
    download.textContent = 'whole log';
    download.href = '#';
    download.addEventListener('click', (ev) => {
      ev.preventDefault();
      this.download();
    });
    this.earlier.append(more, download);
    this.out.before(this.earlier);

    this.later = document.createElement('button');
    this.later.type = 'button';
    this.later.className = 'log-later';
    this.later.textContent = 'later output: jump to the end';
    this.later.hidden = true;
    this.later.addEventListener('click', () => this.jumpToEnd());
    this.out.after(this.later);

    this.out.addEventListener('scroll', () => {
      if (this.out.scrollTop < 40 && this.start > 0 && !this.loading) this.loadEarlier();
      this.term.trimTop = !this.detached && this.atBottom();
    }, { passive: true });
  }

  /** @param {HTMLElement} pre */
  newTerminal(pre) {
    return new Terminal(pre, {
      maxLines: WINDOW_LINES,
      onDrop: (lines) => {
        const gone = this.breaks.splice(0, lines);
        this.start = gone[gone.length - 1] ?? this.start;
        this.showEarlier();
      },
    });
  }

  atBottom() {
    const box = this.out;
    return box.scrollHeight - box.scrollTop - box.clientHeight < 40;
  }

  /**
   * Opens an existing job's log at its end: its last part is read and shown from its first
   * whole line. Answers the byte to follow it from.
   * @param {AbortSignal} signal @returns {Promise<number>}
   */
  async open(signal) {
    const url = await this.api.logUrl(this.uid, signal);
    if (!url) return 0;
    const tail = await readRange(url, { last: STEP }, signal);
    this.showFrom(tail.start, tail.bytes, tail.total);
    return this.end;
  }

  /**
   * Shows `bytes`, which start at byte `start` of the log, from their first whole line on;
   * `total` is where they end.
   * @param {number} start @param {Uint8Array} bytes @param {number} total
   */
  showFrom(start, bytes, total) {
    let skip = 0;
    if (start > 0) {
      const cut = bytes.indexOf(NEWLINE);
      if (cut >= 0 && cut < bytes.length - 1) skip = cut + 1;
    }
    this.start = start + skip;
    this.end = this.start;
    this.append(bytes.subarray(skip));
    this.end = Math.max(this.end, total);
    this.showEarlier();
  }

  /** New bytes at the end of the log. @param {Uint8Array} bytes */
  append(bytes) {
    const at = this.end;
    this.end += bytes.length;
    if (this.detached) return;
    for (let i = bytes.indexOf(NEWLINE); i >= 0; i = bytes.indexOf(NEWLINE, i + 1)) {
      this.breaks.push(at + i + 1);
    }
    this.term.trimTop = this.atBottom();
    this.term.write(bytes);
  }

  /** The log ended. */
  finish() {
    this.term.end();
  }

  showEarlier() {
    this.earlier.hidden = this.start === 0;
    this.moreButton.textContent = `${size(this.start)} earlier: show more`;
  }

  /** Reads the part of the log before the window and shows it above. */
  async loadEarlier() {
    if (this.loading || this.start === 0) return;
    this.loading = true;
    try {
      const url = await this.api.logUrl(this.uid);
      if (!url) return;
      const from = Math.max(0, this.start - STEP);
      const part = await readRange(url, { start: from, end: this.start });
      let bytes = part.bytes;
      let start = from;
      if (from > 0) {
        // From its first whole line; a line longer than a step is shown from where it is cut.
        const cut = bytes.indexOf(NEWLINE);
        if (cut >= 0 && cut < bytes.length - 1) {
          bytes = bytes.subarray(cut + 1);
          start = from + cut + 1;
        }
      }
      // Rendered apart (its colours start plain), then put above what is shown, keeping
      // the lines in view where they are.
      const pre = document.createElement('pre');
      const earlier = new Terminal(pre, { maxLines: Infinity });
      earlier.write(bytes);
      earlier.end();
      const lines = [...pre.children].filter((el) => el.classList.contains('ln'));
      if (earlier.current.textContent) lines.push(earlier.current);
      const before = this.out.scrollHeight;
      this.out.prepend(...lines);
      this.out.scrollTop += this.out.scrollHeight - before;
      const breaks = [];
      for (let i = bytes.indexOf(NEWLINE); i >= 0; i = bytes.indexOf(NEWLINE, i + 1)) {
        breaks.push(start + i + 1);
      }
      this.breaks.unshift(...breaks);
      this.term.lines += lines.length;
      this.start = start;
      this.letGoOfLatest();
      this.showEarlier();
    } catch {
      // Shown as it was; another scroll tries again.
    } finally {
      this.loading = false;
    }
  }

  /** Past the most lines, the latest go: following pauses until "jump to the end". */
  letGoOfLatest() {
    let over = this.term.lines - MOST_LINES;
    if (over <= 0) return;
    this.detached = true;
    this.term.trimTop = false;
    this.term.current.textContent = '';
    while (over-- > 0) {
      const last = this.term.current.previousElementSibling;
      if (!last) break;
      last.remove();
      this.term.lines--;
      this.breaks.pop();
    }
    this.later.hidden = false;
  }

  /** Shows the log's end again, and follows it on. */
  async jumpToEnd() {
    const url = await this.api.logUrl(this.uid).catch(() => null);
    if (!url) return;
    const end = this.end;
    const tail = await readRange(url, { start: Math.max(0, end - STEP), end }).catch(() => null);
    if (!tail) return;
    this.out.textContent = '';
    this.breaks = [];
    this.detached = false;
    this.later.hidden = true;
    this.term = this.newTerminal(this.out);
    this.showFrom(tail.start, tail.bytes, end);
    this.out.scrollTop = this.out.scrollHeight;
  }

  /** Saves the whole log (a fresh URL: those handed out expire within minutes). */
  async download() {
    const url = await this.api.logUrl(this.uid).catch(() => null);
    if (!url) return;
    const link = document.createElement('a');
    link.href = url;
    link.download = `${this.uid}.log`;
    link.rel = 'noopener';
    document.body.append(link);
    link.click();
    link.remove();
  }
}

/** @param {number} bytes */
function size(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(0)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
