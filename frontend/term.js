// @ts-check
/**
 * A job's log bytes as a terminal shows them: UTF-8 decoded as a stream (a character split
 * across reads is joined, invalid bytes become U+FFFD), ANSI colours and styles, `\r`
 * returning to the start of the line so progress bars overwrite, and `ESC[K` erasing.
 *
 * `Parser` turns bytes into lines (text with runs of styles) and holds no DOM, so a view can
 * keep many lines and draw few (logview.js); `paint` draws one line; `Terminal` draws every
 * line into a <pre> (short outputs the page writes itself).
 */

const PALETTE = [
  '#1e1e1e', '#e05561', '#3fb950', '#d29922', '#4c8fe6', '#bc6fd6', '#39c5cf', '#d0d0d0',
  '#7d8590', '#ff7b72', '#56d364', '#e3b341', '#79c0ff', '#d2a8ff', '#56d4dd', '#ffffff',
];

/** @param {number} n */
function color256(n) {
  if (n < 16) return PALETTE[n];
  if (n < 232) {
    const i = n - 16;
    const level = (/** @type {number} */ x) => (x ? 55 + x * 40 : 0);
    return `rgb(${level(Math.floor(i / 36))}, ${level(Math.floor(i / 6) % 6)}, ${level(i % 6)})`;
  }
  const grey = 8 + (n - 232) * 10;
  return `rgb(${grey}, ${grey}, ${grey})`;
}

// One token at a time: a control sequence, a line break, a carriage return, a backspace,
// or a run of printable text.
const TOKEN = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b\n]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]|\n|\r|\x08|[^\x1b\n\r\x08]+|\x1b/gy;
const COMPLETE_ESCAPE = /^(?:\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b\n]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_])/;
const INVISIBLE = /[\x00-\x07\x0b\x0c\x0e-\x1a\x1c-\x1f\x7f]/g;
/** Lines a terminal keeps; the oldest go past it. */
const MAX_LINES = 20000;
/** Characters a line keeps: the rest of a longer one is cut, marked with `…` (the whole log
 * still has it). */
export const MAX_COLUMNS = 65536;

/**
 * @typedef {{fg?: string, bg?: string, bold?: boolean, dim?: boolean, italic?: boolean,
 *   underline?: boolean, strike?: boolean, inverse?: boolean}} Style
 */

/**
 * A line as parsed: its text when it is all in the plain style, else its text and its runs
 * of one style as pairs (where the run ends in `text`, the style's number in `Styles`).
 * @typedef {string | {text: string, runs: number[]}} Line
 */

/** The styles met so far, each numbered once; parsers of one log share them. */
export class Styles {
  constructor() {
    /** @type {Style[]} */
    this.list = [{}];
    /** @type {Map<string, number>} */
    this.ids = new Map([['{}', 0]]);
  }

  /** @param {Style} style @returns {number} */
  id(style) {
    const key = JSON.stringify(style);
    let id = this.ids.get(key);
    if (id === undefined) {
      id = this.list.length;
      this.list.push(style);
      this.ids.set(key, id);
    }
    return id;
  }
}

/**
 * Turns log bytes into lines: each line break hands the line it ends to `onLine`, with the
 * style in effect where that line began (so a later part of the log can be parsed again
 * from there); the line being written stays open (`partial`).
 */
export class Parser {
  /** @param {Styles} [styles] @param {number} [style] the style in effect where the bytes begin */
  constructor(styles = new Styles(), style = 0) {
    this.styles = styles;
    this.decoder = new TextDecoder('utf-8');
    this.styleId = style;
    /** @type {Style} */
    this.style = styles.list[style] ?? {};
    /** The style in effect where the open line began. */
    this.lineStyle = style;
    /** @type {string[]} */
    this.chars = [];
    /** @type {number[]} */
    this.keys = [];
    this.col = 0;
    this.cut = false;
    this.pending = '';
    /** @type {(line: Line, style: number) => void} */
    this.onLine = () => {};
  }

  /** Feeds raw log bytes. @param {Uint8Array} bytes */
  write(bytes) {
    this.feed(this.decoder.decode(bytes, { stream: true }));
  }

  /** Flushes a trailing partial character or escape once the bytes are complete. */
  end() {
    this.feed(this.decoder.decode());
    if (this.pending) {
      const rest = this.pending;
      this.pending = '';
      this.text(rest.replace(INVISIBLE, ''));
    }
  }

  /** Whether the open line has any text. */
  get partial() {
    return this.chars.length > 0;
  }

  /** The open line as it is now. @returns {Line} */
  line() {
    const text = this.chars.join('') + (this.cut ? '…' : '');
    const keys = this.keys;
    if (keys.every((k) => k === 0)) return text;
    /** @type {number[]} */
    const runs = [];
    let at = 0;
    let start = 0;
    for (let i = 1; i <= keys.length; i++) {
      if (i === keys.length || keys[i] !== keys[start]) {
        for (let j = start; j < i; j++) at += this.chars[j].length;
        runs.push(at, keys[start]);
        start = i;
      }
    }
    if (this.cut) runs.push(text.length, 0);
    return { text, runs };
  }

  /** @param {string} input */
  feed(input) {
    let text = this.pending + input;
    this.pending = '';
    const esc = text.lastIndexOf('\x1b');
    if (esc >= 0 && text.length - esc < 64 && !text.includes('\n', esc)
      && !COMPLETE_ESCAPE.test(text.slice(esc))) {
      this.pending = text.slice(esc);
      text = text.slice(0, esc);
    }
    TOKEN.lastIndex = 0;
    let m;
    while ((m = TOKEN.exec(text)) !== null) {
      const tok = m[0];
      if (tok === '\n') this.newline();
      else if (tok === '\r') this.col = 0;
      else if (tok === '\x08') this.col = Math.max(0, this.col - 1);
      else if (tok.startsWith('\x1b[')) this.csi(tok);
      else if (tok[0] !== '\x1b') this.text(tok.replace(INVISIBLE, ''));
    }
  }

  /** @param {string} s */
  text(s) {
    for (const ch of s) {
      if (this.col >= MAX_COLUMNS) {
        this.cut = true;
        return;
      }
      while (this.chars.length < this.col) {
        this.chars.push(' ');
        this.keys.push(0);
      }
      this.chars[this.col] = ch;
      this.keys[this.col] = this.styleId;
      this.col++;
    }
  }

  /** @param {string} seq */
  csi(seq) {
    const final = seq[seq.length - 1];
    const body = seq.slice(2, -1);
    const nums = body.split(';').map((p) => (p === '' ? NaN : Number(p)));
    const n = (/** @type {number} */ d) => (Number.isFinite(nums[0]) && nums[0] > 0 ? nums[0] : d);
    switch (final) {
      case 'm':
        if (!body.startsWith('?')) this.sgr(nums.map((x) => (Number.isFinite(x) ? x : 0)));
        break;
      case 'K': {
        const mode = Number.isFinite(nums[0]) ? nums[0] : 0;
        if (mode === 0) {
          this.chars.length = Math.min(this.chars.length, this.col);
          this.keys.length = this.chars.length;
        } else if (mode === 1) {
          for (let i = 0; i < Math.min(this.col + 1, this.chars.length); i++) {
            this.chars[i] = ' ';
            this.keys[i] = 0;
          }
        } else {
          this.chars = [];
          this.keys = [];
        }
        break;
      }
      case 'G':
        this.col = Math.min(n(1) - 1, MAX_COLUMNS);
        break;
      case 'C':
        this.col = Math.min(this.col + n(1), MAX_COLUMNS);
        break;
      case 'D':
        this.col = Math.max(0, this.col - n(1));
        break;
      default:
        break; // cursor movement across lines and screen control do not apply to a log
    }
  }

  /** @param {number[]} codes */
  sgr(codes) {
    const s = { ...this.style };
    for (let i = 0; i < codes.length; i++) {
      const c = codes[i];
      if (c === 0) Object.keys(s).forEach((k) => delete s[/** @type {keyof Style} */ (k)]);
      else if (c === 1) s.bold = true;
      else if (c === 2) s.dim = true;
      else if (c === 3) s.italic = true;
      else if (c === 4) s.underline = true;
      else if (c === 7) s.inverse = true;
      else if (c === 9) s.strike = true;
      else if (c === 22) { delete s.bold; delete s.dim; }
      else if (c === 23) delete s.italic;
      else if (c === 24) delete s.underline;
      else if (c === 27) delete s.inverse;
      else if (c === 29) delete s.strike;
      else if (c >= 30 && c <= 37) s.fg = PALETTE[c - 30];
      else if (c >= 90 && c <= 97) s.fg = PALETTE[c - 90 + 8];
      else if (c >= 40 && c <= 47) s.bg = PALETTE[c - 40];
      else if (c >= 100 && c <= 107) s.bg = PALETTE[c - 100 + 8];
      else if (c === 39) delete s.fg;
      else if (c === 49) delete s.bg;
      else if (c === 38 || c === 48) {
        let value;
        if (codes[i + 1] === 5) {
          value = color256(codes[i + 2] ?? 0);
          i += 2;
        } else if (codes[i + 1] === 2) {
          value = `rgb(${codes[i + 2] ?? 0}, ${codes[i + 3] ?? 0}, ${codes[i + 4] ?? 0})`;
          i += 4;
        }
        if (value) s[c === 38 ? 'fg' : 'bg'] = value;
      }
    }
    this.style = s;
    this.styleId = this.styles.id(s);
  }

  newline() {
    const line = this.line();
    const style = this.lineStyle;
    this.chars = [];
    this.keys = [];
    this.col = 0;
    this.cut = false;
    this.lineStyle = this.styleId;
    this.onLine(line, style);
  }
}

/**
 * Fills `el` with `line`, one span per run of one style, then `end` (a line break for a
 * whole line).
 * @param {HTMLElement} el @param {Line} line @param {Styles} styles @param {string} [end]
 */
export function paint(el, line, styles, end = '') {
  if (typeof line === 'string') {
    el.textContent = line + end;
    return;
  }
  el.textContent = '';
  const { text, runs } = line;
  let start = 0;
  for (let i = 0; i < runs.length; i += 2) {
    const part = text.slice(start, runs[i]);
    const style = styles.list[runs[i + 1]] ?? {};
    if (part) el.append(Object.keys(style).length ? styled(part, style) : part);
    start = runs[i];
  }
  if (end) el.append(end);
}

/** Draws every line of what it is fed into a <pre>, up to the most lines it keeps. */
export class Terminal {
  /** @param {HTMLElement} pre @param {{maxLines?: number}} [options] */
  constructor(pre, options = {}) {
    this.pre = pre;
    this.maxLines = options.maxLines ?? MAX_LINES;
    this.parser = new Parser();
    this.parser.onLine = (line) => {
      const el = document.createElement('span');
      el.className = 'ln';
      paint(el, line, this.parser.styles, '\n');
      this.done.append(el);
      this.lines++;
    };
    this.lines = 0;
    this.current = document.createElement('span');
    pre.append(this.current);
    /** @type {DocumentFragment} */
    this.done = document.createDocumentFragment();
  }

  /** Feeds raw log bytes. @param {Uint8Array} bytes */
  write(bytes) {
    this.parser.write(bytes);
    this.render();
  }

  /** Flushes a trailing partial character or escape once the log is complete. */
  end() {
    this.parser.end();
    this.render();
  }

  /** Writes plain text (notes from the page itself) in the current style. @param {string} s */
  note(s) {
    this.parser.feed(s);
    this.render();
  }

  render() {
    const box = this.pre;
    const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 4;
    if (this.done.childNodes.length) box.insertBefore(this.done, this.current);
    while (this.lines > this.maxLines && box.firstChild !== this.current) {
      box.firstChild?.remove();
      this.lines--;
    }
    paint(this.current, this.parser.line(), this.parser.styles);
    if (atBottom) box.scrollTop = box.scrollHeight;
  }
}

/** @param {string} text @param {Style} s */
function styled(text, s) {
  const span = document.createElement('span');
  span.textContent = text;
  const classes = ['bold', 'dim', 'italic', 'underline', 'strike'].filter(
    (k) => s[/** @type {keyof Style} */ (k)],
  );
  if (classes.length) span.className = classes.map((k) => `t-${k}`).join(' ');
  const fg = s.inverse ? s.bg ?? 'var(--bg)' : s.fg;
  const bg = s.inverse ? s.fg ?? 'var(--fg)' : s.bg;
  if (fg) span.style.color = fg;
  if (bg) span.style.backgroundColor = bg;
  return span;
}
