// Serves the page's files from frontend/ as they are now to a playwright context, keeping
// the service's answers' headers: the page can be tried and measured without rebuilding
// the binary it is compiled into. Used by the browser tests and the bench.
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const frontend = join(dirname(fileURLToPath(import.meta.url)), '..');
const PAGE_FILES = ['index.html', 'app.js', 'api.js', 'term.js', 'logview.js', 'schedules.js', 'app.css'];

/** @param {import('playwright-core').BrowserContext} context @param {string} url */
export async function servePageFromDisk(context, url) {
  const origin = new URL(url).origin;
  const fileOf = (u) => (u.pathname === '/' ? 'index.html' : u.pathname.slice(1));
  await context.route((u) => u.origin === origin && PAGE_FILES.includes(fileOf(u)), async (route) => {
    const response = await route.fetch();
    const file = fileOf(new URL(route.request().url()));
    await route.fulfill({ response, body: readFileSync(join(frontend, file), 'utf8') });
  });
}
