// @ts-check
/**
 * The page's side of the aws-exec HTTP protocol: upload input files, submit, follow a log by
 * byte range, list and cancel jobs, list the files a job left, set and delete secrets.
 */

/**
 * What a job runs, as its metadata records it.
 * @typedef {{kind: 'argv', argv: string[]} | {kind: 'rpc', 'rpc-name': string, 'rpc-args': string}} JobCommand
 */

/**
 * A job's metadata (`GET /api/job`, and each entry of `GET /api/jobs`). Times are seconds
 * since the epoch; `state` is one of queued, running, exited, signaled, timed-out,
 * cancelled, failed, lost.
 * @typedef {{uid: string, owner: string, command: JobCommand, state: string, submitted: number,
 *   started?: number, finished?: number, exit?: number, timeout?: number, notes?: string[],
 *   truncated?: boolean, usage?: Usage, notify?: {url: string, on?: string[]},
 *   notified?: Delivery, retry?: {attempts: number}, attempt?: number, attempts?: Attempt[],
 *   'retry-at'?: number, runner?: string, 'task-size'?: {cpu: number, 'memory-mb': number},
 *   task?: string}} JobMeta
 */

/**
 * One attempt of a retried job, in its meta (`attempts`, oldest first).
 * @typedef {{attempt: number, state: string, exit: number, started?: number, finished: number,
 *   notes?: string[]}} Attempt
 */

/**
 * How the notification of a job's end is going.
 * @typedef {{id: string, attempts: number, last?: string, delivered?: boolean,
 *   stopped?: string, next?: number}} Delivery
 */

/**
 * What a finished run used: wall and CPU milliseconds, the largest resident set of its
 * processes, its log's bytes, and on Lambda the billed milliseconds and an estimated cost
 * in billionths of a dollar.
 * @typedef {{'wall-ms': number, 'cpu-user-ms': number, 'cpu-system-ms': number,
 *   'peak-memory-bytes': number, 'log-bytes': number, 'billed-ms'?: number,
 *   'cost-nano-usd'?: number}} Usage
 */

/**
 * One page of `GET /api/jobs`, newest first; `next` is the `before` of the page after it.
 * @typedef {{jobs: JobMeta[], next: string | null}} JobPage
 */

/**
 * A file a job left under `$AWS_EXEC_ARTIFACTS` (`GET /api/artifacts`): its path there,
 * `/`-separated, its size in bytes, and an absolute URL to download it from.
 * @typedef {{path: string, size: number, url: string}} Artifact
 */

/**
 * The last firing of a schedule or trigger: when, the job it started (with that job's state
 * and exit code now), or why it started none.
 * @typedef {{at: number, uid?: string, skipped?: string, state?: string, exit?: number}} LastRun
 */

/**
 * A schedule (`GET /api/schedules`): a cron expression read in a time zone, what a firing
 * does while the last run goes on, the job it starts, and its next and last runs.
 * @typedef {{name: string, cron: string, tz: string, overlap: string, exec: object,
 *   next?: number, last?: LastRun}} Schedule
 */

/**
 * A trigger (`GET /api/triggers`): uploads under `prefix` of the caller's inbox start its job.
 * @typedef {{name: string, prefix: string, exec: object, last?: LastRun}} Trigger
 */

/**
 * A secret as `GET /api/secrets` lists it: its name and when it was last set (seconds since
 * the epoch). Its value is never answered.
 * @typedef {{name: string, updated: number}} SecretInfo
 */

export class AuthError extends Error {}

export class ApiError extends Error {
  /** @param {number} status @param {string} message */
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** Seconds a poll waits for news of a job where the service watches it (`serve`). */
const LONG_POLL = 5;
/** Long polls the page holds at once: a browser has six connections to the service, and
 * the rest of the page needs some while many runs are followed. */
const LONG_POLLS = 2;
let polling = 0;
/** Polls waiting for their turn, first come first served. @type {(() => void)[]} */
const turns = [];

/** Waits until the page may hold one more long poll. @param {AbortSignal} [signal] */
function turn(signal) {
  signal?.throwIfAborted();
  if (polling < LONG_POLLS) {
    polling++;
    return Promise.resolve();
  }
  return new Promise((resolve, reject) => {
    const go = () => {
      signal?.removeEventListener('abort', stop);
      resolve(undefined);
    };
    const stop = () => {
      const at = turns.indexOf(go);
      if (at >= 0) turns.splice(at, 1);
      reject(signal?.reason);
    };
    turns.push(go);
    signal?.addEventListener('abort', stop, { once: true });
  });
}

/** Ends a long poll: the next one waiting takes its place. */
function turnDone() {
  const next = turns.shift();
  if (next) next();
  else polling--;
}

/** @param {number} ms @param {AbortSignal} [signal] */
function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(signal.reason);
    }, { once: true });
  });
}

export class Api {
  /** @param {string} key */
  constructor(key) {
    this.key = key;
  }

  /** @param {string} method @param {string} path @param {unknown} [body] @param {AbortSignal} [signal] */
  async request(method, path, body, signal) {
    const resp = await fetch(path, {
      method,
      headers: { auth: this.key, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
      signal,
    });
    let data = null;
    try {
      data = await resp.json();
    } catch {
      // not JSON: described below by status alone
    }
    if (resp.status === 401) throw new AuthError(data?.error ?? 'auth key not recognised');
    if (!resp.ok) throw new ApiError(resp.status, data?.error ?? `HTTP ${resp.status}`);
    return data;
  }

  /** The key's name; throws AuthError for a wrong key. @returns {Promise<{name: string}>} */
  whoami() {
    return this.request('GET', '/api/whoami');
  }

  /**
   * Starts a job. `inputs` maps a path in the job's directory to the key of a file sent by
   * `uploadInput`; each is put in place before the command starts. Each of `secrets` names
   * one of the caller's secrets, given to the job as a variable of that name.
   * @param {string[]} argv @param {Record<string, string>} [inputs] @param {string[]} [secrets]
   * @returns {Promise<string>} the uid
   */
  async submit(argv, inputs, secrets) {
    /** @type {{argv: string[], inputs?: Record<string, string>, secrets?: string[]}} */
    const body = { argv };
    if (inputs && Object.keys(inputs).length) body.inputs = inputs;
    if (secrets?.length) body.secrets = secrets;
    const { uid } = await this.request('POST', '/api/exec', body);
    return uid;
  }

  /** The caller's secrets: names and times, never values. @returns {Promise<SecretInfo[]>} */
  async secrets() {
    const answer = await this.request('GET', '/api/secrets');
    const list = Array.isArray(answer?.secrets) ? answer.secrets : [];
    return list
      .filter((/** @type {any} */ s) => s && typeof s.name === 'string')
      .map((/** @type {any} */ s) => ({ name: s.name, updated: typeof s.updated === 'number' ? s.updated : 0 }));
  }

  /**
   * Stores secret `name`, replacing any value it had; the service checks the name and value.
   * @param {string} name @param {string} value @returns {Promise<SecretInfo>}
   */
  putSecret(name, value) {
    return this.request('PUT', `/api/secrets/${encodeURIComponent(name)}`, { value });
  }

  /** Deletes secret `name`; jobs that ask for it from then on are refused. @param {string} name */
  deleteSecret(name) {
    return this.request('DELETE', `/api/secrets/${encodeURIComponent(name)}`);
  }

  /** The caller's schedules by name. @returns {Promise<Schedule[]>} */
  async schedules() {
    const answer = await this.request('GET', '/api/schedules');
    return Array.isArray(answer?.schedules) ? answer.schedules : [];
  }

  /** The caller's triggers by name. @returns {Promise<Trigger[]>} */
  async triggers() {
    const answer = await this.request('GET', '/api/triggers');
    return Array.isArray(answer?.triggers) ? answer.triggers : [];
  }

  /**
   * Sends one input file: asks the service where to put it, then PUTs its bytes there.
   * Resolves to the key that names it in `submit`'s `inputs`.
   * @param {Blob} file @param {AbortSignal} [signal] @returns {Promise<string>}
   */
  async uploadInput(file, signal) {
    const slot = await this.request('POST', '/api/inputs', undefined, signal);
    if (typeof slot?.key !== 'string' || !slot.key || typeof slot?.url !== 'string' || !slot.url) {
      throw new ApiError(502, 'the service gave no upload URL');
    }
    /** @type {Response} */
    let resp;
    try {
      // The bytes alone: a Blob without a type sends no Content-Type of its own.
      resp = await fetch(absolute(slot.url), {
        method: 'PUT', body: file.slice(0, file.size, ''), cache: 'no-store', signal,
      });
    } catch (e) {
      if (signal?.aborted) throw e;
      throw new ApiError(0, `the upload URL could not be reached (${e instanceof Error ? e.message : e})`);
    }
    if (!resp.ok) throw new ApiError(resp.status, `the upload URL answered HTTP ${resp.status}`);
    return slot.key;
  }

  /**
   * The files job `uid` left, with download URLs made absolute; empty when there are none.
   * @param {string} uid @param {AbortSignal} [signal] @returns {Promise<Artifact[]>}
   */
  async artifacts(uid, signal) {
    const answer = await this.request(
      'GET', `/api/artifacts?uid=${encodeURIComponent(uid)}`, undefined, signal);
    const list = Array.isArray(answer?.artifacts) ? answer.artifacts : [];
    return list
      .filter((/** @type {any} */ a) => a && typeof a.path === 'string' && typeof a.url === 'string' && a.url)
      .map((/** @type {any} */ a) => ({
        path: a.path,
        size: typeof a.size === 'number' ? a.size : 0,
        url: absolute(a.url),
      }));
  }

  /**
   * A URL of the job's log as far as the service can show it now, or null while there is
   * none (an ended job with an empty log). @param {string} uid @param {AbortSignal} [signal]
   * @returns {Promise<string | null>}
   */
  async logUrl(uid, signal) {
    const answer = await this.request(
      'GET', `/api/exec?uid=${encodeURIComponent(uid)}&range-start=0`, undefined, signal);
    return typeof answer.url === 'string' ? answer.url : null;
  }

  /**
   * Where to read job `uid`'s log from byte `from`, or its exit once it is all read (with
   * `segment`, URLs to follow its segments from storage as well). Where the service watches
   * the job (`serve`) it answers once there are bytes past `from` or the job ended, else
   * after `LONG_POLL` s: `news` is false then, and the log has nothing past `from` to read
   * (a read would fail with 416). Elsewhere it answers at once, `news` true.
   * @param {string} uid @param {number} from @param {AbortSignal} [signal]
   * @param {number | null} [segment]
   * @returns {Promise<{answer: any, news: boolean}>}
   */
  async poll(uid, from, signal, segment = null) {
    await turn(signal);
    try {
      const asked = performance.now();
      const more = segment === null ? '' : `&segment=${segment}`;
      const answer = await this.request(
        'GET', `/api/exec?uid=${encodeURIComponent(uid)}&range-start=${from}&wait=${LONG_POLL}${more}`,
        undefined, signal);
      return { answer, news: performance.now() - asked < LONG_POLL * 1000 - 100 };
    } finally {
      turnDone();
    }
  }

  /** The job's metadata (command, state, times). @param {string} uid @param {AbortSignal} [signal] @returns {Promise<JobMeta>} */
  job(uid, signal) {
    return this.request('GET', `/api/job?uid=${encodeURIComponent(uid)}`, undefined, signal);
  }

  /**
   * A page of the caller's jobs, newest first: at most `limit`, only those in `state` if
   * given, and only those older than the job `before` if given.
   * @param {{limit?: number, state?: string, before?: string}} [options] @param {AbortSignal} [signal]
   * @returns {Promise<JobPage>}
   */
  async jobs(options = {}, signal) {
    const query = new URLSearchParams();
    if (options.limit !== undefined) query.set('limit', String(options.limit));
    if (options.state) query.set('state', options.state);
    if (options.before) query.set('before', options.before);
    const answer = await this.request('GET', `/api/jobs?${query}`, undefined, signal);
    const jobs = Array.isArray(answer?.jobs) ? answer.jobs : [];
    return {
      jobs: jobs.filter((/** @type {any} */ j) => j && typeof j.uid === 'string'),
      next: typeof answer?.next === 'string' && answer.next ? answer.next : null,
    };
  }

  /**
   * Cancels a job: a queued one never starts, a running one is stopped, a finished one is
   * left as it is. Resolves to the job's state as the service then saw it.
   * @param {string} uid @returns {Promise<{uid: string, state: string}>}
   */
  cancel(uid) {
    return this.request('DELETE', `/api/exec?uid=${encodeURIComponent(uid)}`);
  }

  /**
   * Follows a job's log from byte 0, handing each chunk to `onBytes`; resolves to its exit
   * code and what the service said of the run (timed out, cancelled, its log cut), which
   * is never in the log. The log is read only where a poll says there is more (a read past
   * its end fails, and the browser logs each failure): where the service watches the job,
   * each poll waits for news; elsewhere the page waits 50 ms between empty polls, backing
   * off to 1 s. Network errors and 5xx are retried.
   * @param {string} uid @param {(b: Uint8Array) => void} onBytes @param {AbortSignal} signal
   * @param {(retrying: boolean) => void} [onRetry]
   * @param {number} [from] the byte to start at (what the caller already has)
   * @returns {Promise<{exit: number, notes: string[]}>}
   */
  async follow(uid, onBytes, signal, onRetry, from = 0) {
    let offset = from;
    // The next log segment to read while the service hands out segment URLs (S3); null
    // once the log is read through the service's URL instead (segments are followed from
    // the start only: their boundaries are not known here).
    let segment = /** @type {number | null} */ (from === 0 ? 0 : null);
    let wait = 50;
    let ceiling = 1000; // 5 s while errors are being retried
    for (;;) {
      signal.throwIfAborted();
      try {
        const { answer, news } = await this.poll(uid, offset, signal, segment);
        onRetry?.(false);
        ceiling = 1000;
        if (typeof answer.exit === 'number') return { exit: answer.exit, notes: answer.notes ?? [] };
        if (segment !== null && answer.follow) {
          const at = await followSegments(answer.follow, { offset, segment }, onBytes, signal);
          ({ offset, segment } = at);
          if (typeof at.exit === 'number') {
            // Read from storage: what the service said is in the job's meta.
            const meta = await this.job(uid).catch(() => null);
            return { exit: at.exit, notes: meta?.notes ?? [] };
          }
          continue;
        }
        segment = null;
        if (!news) continue; // it waited, and nothing came: ask again
        const got = await readFrom(answer.url, offset, onBytes, signal);
        if (got > 0) {
          offset += got;
          wait = 50;
          continue;
        }
      } catch (e) {
        if (e instanceof AuthError || signal.aborted) throw e;
        if (e instanceof ApiError && e.status < 500) throw e;
        onRetry?.(true);
        ceiling = 5000;
        wait = Math.max(wait, 500);
      }
      await sleep(wait, signal);
      wait = Math.min(wait * 1.5, ceiling);
    }
  }
}

/**
 * Reads a job's log segments straight from storage with the URLs of `follow`, each whole
 * once it exists, until the URLs run out or near their expiry (ask the service again) or
 * the job's end is read.
 * @param {{first: number, segments: string[], size: string, exit: string, log: string, expires: number}} follow
 * @param {{offset: number, segment: number | null}} at
 * @param {(bytes: Uint8Array) => void} onBytes @param {AbortSignal} signal
 * @returns {Promise<{offset: number, segment: number | null, exit?: number}>}
 */
async function followSegments(follow, at, onBytes, signal) {
  let { offset, segment } = at;
  let wait = 50;
  for (;;) {
    if (segment === null) return { offset, segment };
    const url = follow.segments[segment - follow.first];
    if (!url || Date.now() / 1000 + 30 > follow.expires) return { offset, segment };
    const got = await readFrom(url, 0, onBytes, signal);
    if (got > 0) {
      offset += got;
      segment += 1;
      wait = 50;
      continue;
    }
    const size = await readNumber(follow.size, signal);
    if (size !== null) {
      // Ended: what the segments did not bring is in the whole log, from where they stopped.
      if (offset < size) {
        offset += await readFrom(follow.log, offset, onBytes, signal);
        segment = null;
      }
      if (offset >= size) {
        const exit = await readNumber(follow.exit, signal);
        if (exit !== null) return { offset, segment, exit };
      }
      return { offset, segment };
    }
    await sleep(wait, signal);
    wait = Math.min(wait * 1.5, 250);
  }
}

/** A small object holding a number, or null while it does not exist. @param {string} url @param {AbortSignal} signal */
async function readNumber(url, signal) {
  const resp = await fetch(absolute(url), { cache: 'no-store', signal });
  if ([403, 404].includes(resp.status)) return null;
  if (!resp.ok) throw new ApiError(resp.status, `reading ${url}: HTTP ${resp.status}`);
  const n = Number((await resp.text()).trim());
  return Number.isFinite(n) ? n : null;
}

/** A URL the service gave, which may be relative to the page's origin, made absolute. @param {string} url */
function absolute(url) {
  return new URL(url, location.origin).href;
}

/** The most bytes handed on at once: a large read is parsed and drawn a piece at a time. */
const PIECE = 256 * 1024;

/**
 * GETs the log URL from `offset`; 403/404/416 mean nothing new yet.
 * @param {string} url @param {number} offset @param {(b: Uint8Array) => void} onBytes @param {AbortSignal} signal
 */
async function readFrom(url, offset, onBytes, signal) {
  const resp = await fetch(url, { headers: { Range: `bytes=${offset}-` }, cache: 'no-store', signal });
  if ([403, 404, 416].includes(resp.status)) return 0;
  if (resp.status !== 200 && resp.status !== 206) throw new ApiError(resp.status, `log read: HTTP ${resp.status}`);
  // Read whole, not as a stream: Chromium often reports a fetch whose body was streamed to
  // its end as aborted, which reads as a failure where there is none.
  let bytes = new Uint8Array(await resp.arrayBuffer());
  // A server that ignored Range sent everything: skip what was already shown.
  if (resp.status === 200) bytes = bytes.subarray(offset);
  for (let at = 0; at < bytes.length; at += PIECE) onBytes(bytes.subarray(at, at + PIECE));
  return bytes.length;
}

/**
 * Bytes of the log at `url`: the last `last` of them (a suffix range, which needs no size),
 * or those from `start` to `end`. Answers where they start and how long the log is (as far
 * as it was read, when the answer does not say). A server that ignores ranges sends it all:
 * that is read as it streams, keeping only the part asked for, so memory stays bounded.
 * @param {string} url
 * @param {{last: number} | {start: number, end: number}} range
 * @param {AbortSignal} [signal]
 * @returns {Promise<{start: number, total: number, bytes: Uint8Array}>}
 */
export async function readRange(url, range, signal) {
  const header = 'last' in range ? `bytes=-${range.last}` : `bytes=${range.start}-${range.end - 1}`;
  let resp = await fetch(url, { headers: { Range: header }, cache: 'no-store', signal });
  const nothing = { start: 'last' in range ? 0 : range.start, total: 0, bytes: new Uint8Array() };
  if ([403, 404, 416].includes(resp.status)) {
    await resp.body?.cancel();
    return nothing;
  }
  if (resp.status !== 200 && resp.status !== 206) throw new ApiError(resp.status, `log read: HTTP ${resp.status}`);
  const told = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(resp.headers.get('content-range') ?? '');
  if (resp.status === 206 && told) {
    return { start: Number(told[1]), total: Number(told[3]), bytes: new Uint8Array(await resp.arrayBuffer()) };
  }
  if (resp.status === 206 && !('last' in range)) {
    // Where it starts was not said (a header the browser may not read): as asked.
    const bytes = new Uint8Array(await resp.arrayBuffer());
    return { start: range.start, total: range.start + bytes.length, bytes };
  }
  if (resp.status === 206) {
    // The last bytes, from an unknown place: read it all instead, keeping the end.
    await resp.body?.cancel();
    resp = await fetch(url, { cache: 'no-store', signal });
    if (!resp.ok) throw new ApiError(resp.status, `log read: HTTP ${resp.status}`);
  }
  if (!resp.body) return nothing;
  const reader = resp.body.getReader();
  /** @type {Uint8Array[]} */
  const kept = [];
  let keptFrom = 0; // the byte kept[0] starts at
  let read = 0;
  const from = 'last' in range ? 0 : range.start;
  const to = 'last' in range ? Infinity : range.end;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    const at = read;
    read += value.length;
    if ('last' in range) {
      kept.push(value);
      // Whole chunks that fall before the last `last` bytes go.
      while (kept.length > 1 && read - (keptFrom + kept[0].length) >= range.last) {
        keptFrom += /** @type {Uint8Array} */ (kept.shift()).length;
      }
    } else if (read > from && at < to) {
      if (!kept.length) keptFrom = at;
      kept.push(value);
    }
    if (read >= to) {
      await reader.cancel();
      break;
    }
  }
  const all = new Uint8Array(kept.reduce((n, c) => n + c.length, 0));
  let n = 0;
  for (const chunk of kept) {
    all.set(chunk, n);
    n += chunk.length;
  }
  const start = 'last' in range ? Math.max(0, read - range.last) : Math.min(from, read);
  const end = Math.min(to, read);
  return { start, total: read, bytes: all.subarray(start - keptFrom, Math.max(start, end) - keptFrom) };
}
