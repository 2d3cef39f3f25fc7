// Serves the page's files from frontend/ as they are now to a playwright context, keeping
// the service's answers' headers: the page can be tried and measured without rebuilding
// the binary it is compiled into. Used by the browser tests and the bench.
import { readFileSync } from 'node:fs';
import { join, dirname, extname } from 'node:path';
import { fileURLToPath } from 'node:url';

const frontend = join(dirname(fileURLToPath(import.meta.url)), '..');
const PAGE_FILES = ['index.html', 'app.js', 'api.js', 'term.js', 'logview.js', 'schedules.js', 'secrets.js', 'ui.js', 'app.css'];
const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

/** @param {import('playwright-core').BrowserContext} context @param {string} url */
export async function servePageFromDisk(context, url) {
  const origin = new URL(url).origin;
  const fileOf = (u) => (u.pathname === '/' ? 'index.html' : u.pathname.slice(1));
  await context.route((u) => u.origin === origin && PAGE_FILES.includes(fileOf(u)), async (route) => {
    const file = fileOf(new URL(route.request().url()));
    const body = readFileSync(join(frontend, file), 'utf8');
    const response = await route.fetch();
    if (response.status() !== 404) {
      await route.fulfill({ response, body });
      return;
    }
    // A file newer than the binary: sent with the headers the service gives its page.
    const page = await route.fetch({ url: `${origin}/` });
    const headers = { ...page.headers(), 'content-type': TYPES[extname(file)] };
    delete headers['content-length'];
    await route.fulfill({ status: 200, headers, body });
  });
}
