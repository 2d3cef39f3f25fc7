// @ts-check
/** Small pieces the page's panels share: an element with text, a short time, an error's words. */

/** An element `tag` of class `className` holding `text`. @param {string} tag @param {string} className @param {string} text */
export function cell(tag, className, text) {
  const el = document.createElement(tag);
  el.className = className;
  el.textContent = text;
  return el;
}

/** A time in the browser's zone, short. @param {number} secs */
export function when(secs) {
  return new Date(secs * 1000).toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'short' });
}

/** What an error says. @param {unknown} e */
export function messageOf(e) {
  return e instanceof Error ? e.message : String(e);
}
