// @ts-check
/**
 * A job's log in its block, as a window over the log that draws only what is on screen.
 *
 * A log of any size opens at its end (a suffix range: what its last part weighs, not its
 * size). The view keeps a stretch of the log as parsed lines (at most `MAX_BYTES` or
 * `MAX_LINES`, whichever comes first) with the byte each line starts at, and draws into the
 * DOM only the lines in view and `OVERSCAN` more on each side; spacers above and below give
 * the output the height of all the lines kept, so it scrolls as if they were all there. A
 * short output (up to `WHOLE_ROWS` lines) is drawn whole, as a terminal would.
 *
 * Scrolled near the top of what it keeps, the view reads the part before it by range; near
 * the bottom, the part after it. Past its bounds it lets go of the end farthest from view:
 * its start while it follows a running job at the bottom, its end (and so the following)
 * when earlier parts are read; scrolled back down, it reads on until it meets the log's end
 * and follows again. While the job runs and the output is at its bottom, it stays there;
 * scrolled up, it stays put. The whole log is a download link away.
 */

import { Parser, Styles, paint } from './term.js';
import { readRange } from './api.js';

/** How much of a log's end is read to open it. */
const OPEN = 128 * 1024;
/** How much one step reads before or after what is kept. */
const STEP = 256 * 1024;
/** The most bytes of the log kept as lines... */
export const MAX_BYTES = 2 * 1024 * 1024;
/** ...and the most lines (which also bounds the output's height in pixels). */
export const MAX_LINES = 100_000;
/** What is kept once the view has let go of lines past its bounds: room to grow again. */
const KEEP = 0.8;
/** An output this short is drawn whole. */
export const WHOLE_ROWS = 1000;
/** Lines drawn beyond each edge of the view. */
const OVERSCAN = 80;
/** A presigned URL (they last about a minute) older than this is asked for again. */
const URL_FRESH_MS = 30_000;

const NEWLINE = 10;

/** @typedef {import('./api.js').Api} Api */
/** @typedef {import('./term.js').Line} Line */

export class LogView {
  /**
   * @param {{out: HTMLElement}} block the block whose `out` (a <pre>) shows the log
   * @param {Api} api @param {string} uid
   */
  constructor(block, api, uid) {
    this.api = api;
    this.uid = uid;
    this.out = block.out;
    this.out.textContent = '';
    this.out.classList.add('log');
    this.styles = new Styles();

    // What is kept: whole lines, the byte each starts at, the style in effect there.
    /** @type {Line[]} */
    this.lines = [];
    /** @type {number[]} */
    this.offsets = [];
    /** @type {number[]} */
    this.lineStyles = [];
    /** The row number of `lines[0]`: rows keep their numbers as lines come and go. */
    this.base = 0;
    /** The byte the kept lines start at. */
    this.first = 0;
    /** The byte just past the last whole line kept (where the open line starts). */
    this.last = 0;
    /** The style in effect at `last`. */
    this.lastStyle = 0;
    /** Bytes of the log known so far: where following goes on from. */
    this.end = 0;
    /** Byte offsets just past the line breaks of the bytes being parsed, and the next one
     * to hand out (each line break byte is one line: the parser hands back each at once). */
    /** @type {number[]} */
    this.breaks = [];
    this.nextBreak = 0;
    /** Feeds the open line while what is kept reaches the log's end; null once the view
     * has let go of its end. @type {Parser | null} */
    this.parser = this.liveParser(0);
    /** The job's log is complete. */
    this.ended = false;
    /** The output is at its bottom: new lines keep it there. */
    this.stick = true;
    /** Where the output was scrolled to at the last scroll event. */
    this.lastTop = 0;
    /** The bottoms (greatest scrollTop) the output has had since the last scroll event: a
     * fast log can add many lines between a scroll to the bottom and its event. */
    /** @type {number[]} */
    this.bottoms = [];
    /** Counts resets, so a read started before one is dropped. */
    this.generation = 0;
    this.loading = false;
    /** The log's presigned URL and when it was handed out. */
    /** @type {string | null} */
    this.url = null;
    this.urlAt = 0;

    // What is drawn: rows `drawnFrom` onwards, one element each, between two spacers.
    /** @type {HTMLElement[]} */
    this.drawn = [];
    this.drawnFrom = 0;
    /** The row drawn as the open line, if it is drawn. */
    this.drawnOpen = -1;
    /** Rows to move the view by at the next draw, so what is in view stays there. */
    this.shift = 0;
    this.above = gap();
    this.below = gap();
    this.out.append(this.above, this.below);
    this.lineHeight = 0;
    this.padTop = 0;

    this.bar = document.createElement('div');
    this.bar.className = 'log-earlier';
    this.bar.hidden = true;
    this.more = document.createElement('button');
    this.more.type = 'button';
    this.more.className = 'log-more';
    this.more.addEventListener('click', () => {
      this.out.scrollTop = 0;
      this.loadEarlier();
    });
    this.download = document.createElement('a');
    this.download.className = 'log-download';
    this.download.download = `${uid}.log`;
    this.download.target = '_blank';
    this.download.rel = 'noopener';
    this.download.href = '#';
    this.download.addEventListener('click', (ev) => this.onDownload(ev));
    this.bar.append(this.more, this.download);
    this.out.before(this.bar);

    this.later = document.createElement('button');
    this.later.type = 'button';
    this.later.className = 'log-later';
    this.later.hidden = true;
    this.later.addEventListener('click', () => this.jumpToEnd());
    this.out.after(this.later);

    // Scrolling up stops following at once (before the scroll event, which a fast log's
    // next lines could beat); back at the bottom, following resumes.
    this.out.addEventListener('wheel', (ev) => {
      if (ev.deltaY < 0) this.stick = false;
    }, { passive: true });
    this.out.addEventListener('touchmove', () => { this.stick = false; }, { passive: true });
    this.out.addEventListener('keydown', (ev) => {
      if (['ArrowUp', 'PageUp', 'Home'].includes(ev.key)) this.stick = false;
    });
    this.out.addEventListener('scroll', () => {
      // Scrolled down to within a few lines of the bottom counts as there: a line may have
      // come between the scroll and this event.
      const top = this.out.scrollTop;
      const down = top >= this.lastTop;
      const wasBottom = this.bottoms.some((b) => Math.abs(top - b) < 1);
      this.lastTop = top;
      this.bottoms = [];
      this.stick = this.parser !== null && (wasBottom || this.atBottom(down ? 3 : 1));
      this.draw();
      this.loadMore();
    }, { passive: true });
  }

  // ---- the log's bytes ---------------------------------------------------------------------

  /**
   * Opens an existing job's log at its end: its last part is read and shown from its first
   * whole line. Answers the byte to follow it from.
   * @param {AbortSignal} signal @returns {Promise<number>}
   */
  async open(signal) {
    // An empty log has no last part to read (asking for one fails): where the service
    // watches the job, the poll waits for its first bytes.
    const { answer, news } = await this.api.poll(this.uid, 0, signal);
    if (typeof answer?.url !== 'string' || !news) return 0;
    this.url = answer.url;
    this.urlAt = Date.now();
    this.download.href = answer.url;
    const tail = await readRange(answer.url, { last: OPEN }, signal);
    this.showTail(tail.start, tail.bytes);
    this.out.scrollTop = this.out.scrollHeight;
    return this.end;
  }

  /** New bytes at the end of the log. @param {Uint8Array} bytes */
  append(bytes) {
    const at = this.end;
    this.end += bytes.length;
    if (this.parser) {
      this.feed(this.parser, bytes, at);
      this.letGo();
    }
    this.draw();
    this.showBars();
  }

  /** The log ended. */
  finish() {
    this.ended = true;
    this.parser?.end();
    this.draw();
    this.showBars();
  }

  /** A parser whose lines are kept below the others as they come, the first starting at
   * `last` in style `style`. @param {number} style */
  liveParser(style) {
    const parser = new Parser(this.styles, style);
    parser.onLine = (line, lineStyle) => {
      this.lines.push(line);
      this.offsets.push(this.last);
      this.lineStyles.push(lineStyle);
      this.last = this.breaks[this.nextBreak++] ?? this.last;
      this.lastStyle = parser.lineStyle;
    };
    return parser;
  }

  /** @param {Parser} parser @param {Uint8Array} bytes @param {number} at where `bytes` start */
  feed(parser, bytes, at) {
    this.breaks = breaksOf(bytes, at);
    this.nextBreak = 0;
    parser.write(bytes);
  }

  /**
   * Keeps `bytes`, which start at byte `at` and end where the log ends now, from their
   * first whole line, in place of all that was kept.
   * @param {number} at @param {Uint8Array} bytes
   */
  showTail(at, bytes) {
    const skip = at > 0 ? firstLine(bytes) : 0;
    this.reset(at + skip);
    this.end = at + skip;
    this.append(bytes.subarray(skip));
  }

  /** Lets go of all that is kept: the view starts over, empty, at byte `at`. @param {number} at */
  reset(at) {
    this.generation++;
    this.base += this.lines.length + 1;
    this.lines = [];
    this.offsets = [];
    this.lineStyles = [];
    this.first = at;
    this.last = at;
    this.lastStyle = 0;
    this.parser = this.liveParser(0);
    this.stick = true;
  }

  /** Past its bounds, the view lets go of lines at the end farthest from what is in view. */
  letGo() {
    const bytes = this.last - this.first;
    if (this.lines.length <= MAX_LINES && bytes <= MAX_BYTES) return;
    const { top, bottom } = this.inView();
    const keepLines = Math.floor(MAX_LINES * KEEP);
    const keepBytes = Math.floor(MAX_BYTES * KEEP);
    const n = this.lines.length;
    if (this.stick || top > n - bottom) {
      // The start goes; what is in view stays where it is on screen.
      let k = Math.max(0, n - keepLines);
      while (k < n - 1 && this.last - this.offsets[k] > keepBytes) k++;
      if (k === 0) return;
      this.lines.splice(0, k);
      this.offsets.splice(0, k);
      this.lineStyles.splice(0, k);
      this.base += k;
      this.first = this.offsets[0] ?? this.last;
      if (!this.stick) this.shift -= k;
    } else {
      // The end goes, and with it the following: new bytes are only counted until the view
      // is scrolled back down to them.
      let k = Math.min(n, keepLines);
      while (k > 1 && (k < n ? this.offsets[k] : this.last) - this.first > keepBytes) k--;
      if (k >= n && !this.parser) return;
      if (k < n) {
        this.last = this.offsets[k];
        this.lastStyle = this.lineStyles[k];
        this.lines.length = k;
        this.offsets.length = k;
        this.lineStyles.length = k;
      }
      this.parser = null;
    }
  }

  /** Reads what comes before or after what is kept when the view nears either end. */
  loadMore() {
    if (this.loading) return;
    const box = this.out;
    const margin = Math.max(box.clientHeight, 200);
    if (box.scrollTop < margin && this.first > 0) this.loadEarlier();
    else if (!this.parser && box.scrollHeight - box.scrollTop - box.clientHeight < margin) {
      this.loadLater();
    }
  }

  /** Reads the part of the log before what is kept and puts it above, keeping the view still. */
  async loadEarlier() {
    if (this.loading || this.first === 0) return;
    this.loading = true;
    const generation = this.generation;
    const to = this.first;
    try {
      const url = await this.logUrl();
      if (!url || generation !== this.generation) return;
      const from = Math.max(0, to - STEP);
      const part = await readRange(url, { start: from, end: to });
      if (generation !== this.generation || this.first !== to || part.bytes.length === 0) return;
      // From its first whole line; a line longer than a step is shown from where it is cut.
      const skip = from > 0 ? firstLine(part.bytes) : 0;
      const bytes = part.bytes.subarray(skip, to - from);
      const at = from + skip;
      const lines = /** @type {Line[]} */ ([]);
      const offsets = /** @type {number[]} */ ([]);
      const styles = /** @type {number[]} */ ([]);
      // Its colours start plain: what came before it is not read.
      const parser = new Parser(this.styles, 0);
      let start = at;
      const ends = breaksOf(bytes, at);
      let next = 0;
      parser.onLine = (line, style) => {
        lines.push(line);
        offsets.push(start);
        styles.push(style);
        start = ends[next++] ?? start;
      };
      parser.write(bytes);
      if (start < to) {
        // What is kept started inside a line: its first part is a line of its own here.
        parser.end();
        if (parser.partial) parser.newline();
      }
      this.lines = lines.concat(this.lines);
      this.offsets = offsets.concat(this.offsets);
      this.lineStyles = styles.concat(this.lineStyles);
      this.base -= lines.length;
      this.first = at;
      this.shift += lines.length;
      this.letGo();
      this.draw();
    } catch {
      // Shown as it was; another scroll tries again.
    } finally {
      this.loading = false;
      this.showBars();
    }
    // Still at the top (a fast scroll, or a step of few lines): read on.
    if (generation === this.generation) this.loadMore();
  }

  /** Reads the part of the log after what is kept and puts it below; once it reaches the
   * log's end, the view follows it again. */
  async loadLater() {
    if (this.loading || this.parser) return;
    this.loading = true;
    const generation = this.generation;
    const from = this.last;
    const style = this.lastStyle;
    try {
      const url = await this.logUrl();
      if (!url || generation !== this.generation) return;
      const to = Math.min(this.end, from + STEP);
      const part = to > from
        ? await readRange(url, { start: from, end: to })
        : { start: from, total: to, bytes: new Uint8Array() };
      if (generation !== this.generation || this.last !== from || this.parser) return;
      const bytes = part.bytes.subarray(0, to - from);
      if (bytes.length < to - from) return; // not there (yet): another scroll tries again
      const parser = this.liveParser(style);
      this.feed(parser, bytes, from);
      const following = to === this.end;
      if (following) {
        // The log's end: follow it from here.
        this.parser = parser;
        if (this.ended) parser.end();
      } else if (this.last === from) {
        // A line longer than a step: shown cut where the step ends.
        parser.end();
        this.breaks = [to];
        this.nextBreak = 0;
        parser.newline();
      }
      // What is in view stays there; at the bottom of it all, it follows on.
      this.letGo();
      this.draw();
      if (following && this.parser) {
        this.stick = this.atBottom();
        if (this.stick) this.draw();
      }
    } catch {
      // Shown as it was; another scroll tries again.
    } finally {
      this.loading = false;
      this.showBars();
    }
    if (generation === this.generation) this.loadMore();
  }

  /** Shows the log's end again, and follows it on. */
  async jumpToEnd() {
    const generation = ++this.generation;
    try {
      const url = await this.logUrl();
      if (!url || generation !== this.generation) return;
      const end = this.end;
      const tail = await readRange(url, { start: Math.max(0, end - OPEN), end });
      if (generation !== this.generation || tail.start + tail.bytes.length < end) return;
      const now = this.end;
      this.showTail(tail.start, tail.bytes.subarray(0, end - tail.start));
      this.out.scrollTop = this.out.scrollHeight;
      if (now > end) {
        // Bytes came meanwhile: read on to them.
        this.parser = null;
        this.end = now;
        this.draw();
        this.showBars();
        this.loadLater();
      }
    } catch {
      // As it was; the button stays.
    }
  }

  /** The log's presigned URL, asked for again when it is old. @param {AbortSignal} [signal] */
  async logUrl(signal) {
    if (!this.url || Date.now() - this.urlAt > URL_FRESH_MS) {
      this.url = await this.api.logUrl(this.uid, signal);
      this.urlAt = Date.now();
      if (this.url) this.download.href = this.url;
    }
    return this.url;
  }

  /** A download link whose URL may have expired is given a fresh one first. @param {MouseEvent} ev */
  onDownload(ev) {
    if (this.url && Date.now() - this.urlAt <= URL_FRESH_MS) return;
    ev.preventDefault();
    this.url = null;
    this.logUrl().then((url) => {
      if (url) this.download.click();
    }, () => {});
  }

  showBars() {
    const following = this.parser !== null;
    this.bar.hidden = this.first === 0 && following;
    this.more.hidden = this.first === 0;
    this.more.textContent = `${size(this.first)} earlier: show more`;
    this.download.textContent = `whole log (${size(this.end)})`;
    this.later.hidden = following;
    this.later.textContent = `${size(this.end - this.last)} later: jump to the end`;
  }

  // ---- drawing -----------------------------------------------------------------------------

  /** Rows there are to draw: the whole lines kept, and the open line when it has text. */
  rows() {
    return this.lines.length + (this.parser?.partial ? 1 : 0);
  }

  measure() {
    if (this.lineHeight) return;
    const style = getComputedStyle(this.out);
    this.lineHeight = parseFloat(style.lineHeight) || 1.35 * (parseFloat(style.fontSize) || 13);
    this.padTop = parseFloat(style.paddingTop) || 0;
  }

  /** The rows in view now, as indexes into `lines`. */
  inView() {
    this.measure();
    const box = this.out;
    const top = Math.max(0, Math.floor((box.scrollTop - this.padTop) / this.lineHeight));
    const height = box.clientHeight || 600;
    return { top, bottom: top + Math.ceil(height / this.lineHeight) };
  }

  /** Whether the output is scrolled to within `lines` lines of its bottom. */
  atBottom(lines = 1) {
    const box = this.out;
    return box.scrollHeight - box.scrollTop - box.clientHeight < Math.max(lines * this.lineHeight, 8);
  }

  /** Draws the rows in view (and a margin), and sizes the spacers for the rest. */
  draw() {
    this.measure();
    const box = this.out;
    const rows = this.rows();
    const lh = this.lineHeight;
    const before = box.scrollTop;
    const scrollTop = before + this.shift * lh;
    const shifted = this.shift !== 0;
    this.shift = 0;
    let from = 0;
    let to = rows;
    if (rows > WHOLE_ROWS) {
      const page = Math.ceil((box.clientHeight || 600) / lh);
      const top = this.stick ? rows - page : Math.floor((scrollTop - this.padTop) / lh);
      from = Math.max(0, Math.min(top, rows - page) - OVERSCAN);
      to = Math.min(rows, Math.max(top, 0) + page + OVERSCAN);
    }
    this.drawRows(this.base + from, this.base + to);
    this.above.style.height = `${from * lh}px`;
    this.below.style.height = `${(rows - to) * lh}px`;
    if (this.stick) box.scrollTop = box.scrollHeight;
    else if (shifted) {
      box.scrollTop = scrollTop;
      // A bottom scrolled to before the shift is where it moved to.
      const moved = box.scrollTop - before;
      this.bottoms = this.bottoms.map((b) => b + moved);
    }
    if (this.bottoms.length > 64) this.bottoms.shift();
    this.bottoms.push(box.scrollHeight - box.clientHeight);
  }

  /** Makes the drawn rows exactly `a` to `b` (row numbers), reusing those already drawn. @param {number} a @param {number} b */
  drawRows(a, b) {
    const open = this.parser?.partial ? this.base + this.lines.length : -1;
    let end = this.drawnFrom + this.drawn.length;
    // The row drawn as the open line is drawn again: it has changed, or become whole.
    if (this.drawnOpen >= this.drawnFrom && this.drawnOpen < end) {
      if (this.drawnOpen < a || this.drawnOpen >= b) {
        // dropped below
      } else {
        this.fill(this.drawn[this.drawnOpen - this.drawnFrom], this.drawnOpen);
      }
    }
    if (b <= this.drawnFrom || a >= end) {
      for (const el of this.drawn) el.remove();
      this.drawn = [];
      this.drawnFrom = a;
      end = a;
    }
    while (this.drawn.length && this.drawnFrom < a) {
      this.drawn.shift()?.remove();
      this.drawnFrom++;
    }
    while (this.drawn.length && end > b) {
      this.drawn.pop()?.remove();
      end--;
    }
    if (!this.drawn.length) {
      this.drawnFrom = a;
      end = a;
    }
    if (a < this.drawnFrom) {
      const made = [];
      for (let row = a; row < this.drawnFrom; row++) made.push(this.row(row));
      this.above.after(...made);
      this.drawn = made.concat(this.drawn);
      this.drawnFrom = a;
    }
    if (end < b) {
      const made = [];
      for (let row = end; row < b; row++) made.push(this.row(row));
      this.below.before(...made);
      this.drawn.push(...made);
    }
    this.drawnOpen = open >= a && open < b ? open : -1;
  }

  /** A new element for row `row`. @param {number} row */
  row(row) {
    const el = document.createElement('span');
    this.fill(el, row);
    return el;
  }

  /** @param {HTMLElement} el @param {number} row */
  fill(el, row) {
    const i = row - this.base;
    if (i < this.lines.length) {
      el.className = 'ln';
      paint(el, this.lines[i], this.styles, '\n');
    } else {
      el.className = '';
      paint(el, this.parser ? this.parser.line() : '', this.styles);
    }
  }
}

/** An empty block that stands for rows not drawn. */
function gap() {
  const el = document.createElement('span');
  el.className = 'log-gap';
  el.setAttribute('aria-hidden', 'true');
  return el;
}

/** Where the first whole line of `bytes` starts; 0 when the only line break ends them (a
 * line longer than them is shown from where it is cut). @param {Uint8Array} bytes */
function firstLine(bytes) {
  const cut = bytes.indexOf(NEWLINE);
  return cut >= 0 && cut < bytes.length - 1 ? cut + 1 : 0;
}

/** Offsets just past each line break of `bytes`, which start at byte `at`. @param {Uint8Array} bytes @param {number} at */
function breaksOf(bytes, at) {
  const ends = [];
  for (let i = bytes.indexOf(NEWLINE); i >= 0; i = bytes.indexOf(NEWLINE, i + 1)) ends.push(at + i + 1);
  return ends;
}

/** @param {number} bytes */
function size(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(0)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
