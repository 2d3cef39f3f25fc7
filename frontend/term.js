// @ts-check
/**
 * Renders a job's log bytes into a <pre> the way a terminal shows them: UTF-8 decoded as a
 * stream (a character split across reads is joined, invalid bytes become U+FFFD), ANSI
 * colours and styles, `\r` returning to the start of the line so progress bars overwrite,
 * and `ESC[K` erasing.
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
const TOKEN = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]|\n|\r|\x08|[^\x1b\n\r\x08]+|\x1b/gy;
const COMPLETE_ESCAPE = /^(?:\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_])/;
const INVISIBLE = /[\x00-\x07\x0b\x0c\x0e-\x1a\x1c-\x1f\x7f]/g;
/** Lines a terminal keeps by default; a windowed view sets its own bound. */
const MAX_LINES = 20000;

/**
 * @typedef {{fg?: string, bg?: string, bold?: boolean, dim?: boolean, italic?: boolean,
 *   underline?: boolean, strike?: boolean, inverse?: boolean}} Style
 */

export class Terminal {
  /**
   * @param {HTMLElement} pre
   * @param {{maxLines?: number, onDrop?: (lines: number) => void}} [options] past
   *   `maxLines`, the oldest lines are removed while `trimTop` holds (`onDrop` hears how many)
   */
  constructor(pre, options = {}) {
    this.pre = pre;
    this.maxLines = options.maxLines ?? MAX_LINES;
    this.onDrop = options.onDrop;
    /** Whether the oldest lines go past `maxLines` (a view reading earlier output says no). */
    this.trimTop = true;
    this.decoder = new TextDecoder('utf-8');
    /** @type {Style} */
    this.style = {};
    this.styleKey = '';
    /** @type {Map<string, Style>} */
    this.styles = new Map([['', {}]]);
    /** @type {string[]} */
    this.chars = [];
    /** @type {string[]} */
    this.keys = [];
    this.col = 0;
    this.pending = '';
    this.lines = 0;
    this.current = document.createElement('span');
    pre.append(this.current);
    /** @type {DocumentFragment} */
    this.done = document.createDocumentFragment();
  }

  /** Feeds raw log bytes. @param {Uint8Array} bytes */
  write(bytes) {
    this.feed(this.decoder.decode(bytes, { stream: true }));
    this.render();
  }

  /** Flushes a trailing partial character or escape once the log is complete. */
  end() {
    this.feed(this.decoder.decode());
    if (this.pending) {
      const rest = this.pending;
      this.pending = '';
      this.text(rest.replace(INVISIBLE, ''));
    }
    this.render();
  }

  /** Writes plain text (notes from the page itself) in the current style. @param {string} s */
  note(s) {
    this.feed(s);
    this.render();
  }

  /** @param {string} input */
  feed(input) {
    let text = this.pending + input;
    this.pending = '';
    const esc = text.lastIndexOf('\x1b');
    if (esc >= 0 && text.length - esc < 64 && !COMPLETE_ESCAPE.test(text.slice(esc))) {
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
      while (this.chars.length < this.col) {
        this.chars.push(' ');
        this.keys.push('');
      }
      this.chars[this.col] = ch;
      this.keys[this.col] = this.styleKey;
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
            this.keys[i] = '';
          }
        } else {
          this.chars = [];
          this.keys = [];
        }
        break;
      }
      case 'G':
        this.col = n(1) - 1;
        break;
      case 'C':
        this.col += n(1);
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
    this.styleKey = JSON.stringify(s);
    if (!this.styles.has(this.styleKey)) this.styles.set(this.styleKey, s);
  }

  newline() {
    const line = document.createElement('span');
    line.className = 'ln';
    this.paint(line);
    line.append('\n');
    this.done.append(line);
    this.chars = [];
    this.keys = [];
    this.col = 0;
    this.lines++;
  }

  /** Fills `el` with the current line's text, one span per run of one style. @param {HTMLElement} el */
  paint(el) {
    el.textContent = '';
    let start = 0;
    for (let i = 1; i <= this.chars.length; i++) {
      if (i === this.chars.length || this.keys[i] !== this.keys[start]) {
        const text = this.chars.slice(start, i).join('');
        const style = this.styles.get(this.keys[start]) ?? {};
        el.append(Object.keys(style).length ? styled(text, style) : text);
        start = i;
      }
    }
  }

  render() {
    const box = this.pre;
    const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 4;
    if (this.done.childNodes.length) box.insertBefore(this.done, this.current);
    let dropped = 0;
    while (this.trimTop && this.lines > this.maxLines && box.firstChild !== this.current) {
      box.firstChild?.remove();
      this.lines--;
      dropped++;
    }
    if (dropped) this.onDrop?.(dropped);
    this.paint(this.current);
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
