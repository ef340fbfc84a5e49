// browser.mjs is the smallest browser a server-rendered login needs: fetch
// with a cookie jar, redirects followed by hand (so the caller can stop at
// the application's redirect URI), and a reader for HTML forms.

const HTTP_TIMEOUT_MS = 15_000;
const MAX_REDIRECTS = 20;

// CookieJar keeps host-only cookies by host and name, honouring Path,
// Max-Age and Expires (enough for one server on 127.0.0.1).
export class CookieJar {
  #cookies = new Map(); // "host name" -> { name, value, path, expires }

  store(url, response) {
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      let path = defaultPath(url);
      let expires = Infinity;
      let maxAgeSeen = false;
      for (const attr of attrs) {
        const i = attr.indexOf('=');
        const key = (i < 0 ? attr : attr.slice(0, i)).trim().toLowerCase();
        const v = i < 0 ? '' : attr.slice(i + 1).trim();
        if (key === 'path' && v.startsWith('/')) path = v;
        if (key === 'max-age' && /^-?\d+$/.test(v)) {
          expires = Date.now() + Number(v) * 1000;
          maxAgeSeen = true;
        }
        if (key === 'expires' && !maxAgeSeen) {
          const t = Date.parse(v);
          if (!Number.isNaN(t)) expires = t;
        }
      }
      const key = `${url.host} ${name}`;
      if (expires <= Date.now()) this.#cookies.delete(key);
      else this.#cookies.set(key, { name, value, path, expires });
    }
  }

  header(url) {
    const now = Date.now();
    const out = [];
    for (const [key, c] of this.#cookies) {
      if (!key.startsWith(`${url.host} `) || c.expires <= now) continue;
      if (pathMatches(url.pathname, c.path)) out.push(`${c.name}=${c.value}`);
    }
    return out.join('; ');
  }
}

function defaultPath(url) {
  const p = url.pathname;
  const i = p.lastIndexOf('/');
  return i <= 0 ? '/' : p.slice(0, i);
}

function pathMatches(requestPath, cookiePath) {
  if (requestPath === cookiePath) return true;
  if (!requestPath.startsWith(cookiePath)) return false;
  return cookiePath.endsWith('/') || requestPath[cookiePath.length] === '/';
}

export class Browser {
  jar = new CookieJar();
  #fetch;

  // fetchImpl lets a caller trace what the browser sends and receives.
  constructor(fetchImpl = fetch) {
    this.#fetch = fetchImpl;
  }

  async #request(url, init = {}) {
    const headers = new Headers(init.headers);
    const cookie = this.jar.header(url);
    if (cookie) headers.set('cookie', cookie);
    headers.set('accept', 'text/html,application/xhtml+xml');
    const response = await this.#fetch(url, {
      ...init,
      headers,
      redirect: 'manual',
      signal: AbortSignal.timeout(HTTP_TIMEOUT_MS),
    });
    this.jar.store(url, response);
    return response;
  }

  // navigate loads url (a GET, or whatever init says) and follows redirects
  // until one points at stopPrefix. It returns { callback: URL } when it got
  // there, else the page it ended on as { url, status, html }.
  async navigate(url, stopPrefix, init = {}) {
    url = new URL(url);
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const response = await this.#request(url, init);
      if ([301, 302, 303, 307, 308].includes(response.status)) {
        const location = response.headers.get('location');
        await response.body?.cancel();
        if (!location) throw new Error(`HTTP ${response.status} from ${url} without a Location header`);
        const next = new URL(location, url);
        if (next.href.startsWith(stopPrefix)) return { callback: next };
        url = next;
        if (response.status !== 307 && response.status !== 308) init = {};
        continue;
      }
      return { url, status: response.status, html: await response.text() };
    }
    throw new Error(`more than ${MAX_REDIRECTS} redirects, the last to ${url}`);
  }

  // submit posts a form read by readForm, as a browser would.
  async submit(form, stopPrefix) {
    return this.navigate(form.action, stopPrefix, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form.fields).toString(),
    });
  }
}

// ---------------------------------------------------------------------------
// HTML forms, read with regular expressions: enough for server-rendered
// pages, with any attribute order and quoting and entities decoded.

const NAMED_ENTITIES = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00a0' };

export function decodeEntities(s) {
  return s.replace(/&(#[xX][0-9a-fA-F]+|#[0-9]+|[a-zA-Z]+);/g, (m, body) => {
    if (body[0] === '#') {
      const hex = body[1] === 'x' || body[1] === 'X';
      const code = hex ? parseInt(body.slice(2), 16) : parseInt(body.slice(1), 10);
      return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : m;
    }
    return NAMED_ENTITIES[body.toLowerCase()] ?? m;
  });
}

// attributes parses the attributes of one start tag.
export function attributes(tag) {
  const attrs = {};
  const inner = tag.replace(/^<\s*[a-zA-Z][a-zA-Z0-9-]*/, '').replace(/\/?\s*>$/, '');
  const re = /([^\s"'<>\/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g;
  for (const m of inner.matchAll(re)) {
    const name = m[1].toLowerCase();
    if (name in attrs) continue; // the first occurrence wins, as in browsers
    attrs[name] = decodeEntities(m[2] ?? m[3] ?? m[4] ?? '');
  }
  return attrs;
}

const START_TAG = (name) => new RegExp(`<(${name})\\b(?:[^>"']|"[^"]*"|'[^']*')*>`, 'gi');

// forms lists the page's forms as { attrs, controls: [{ tag, attrs }] }.
export function forms(html) {
  return [...html.matchAll(/<form\b(?:[^>"']|"[^"]*"|'[^']*')*>[\s\S]*?<\/form\s*>/gi)].map((m) => {
    const text = m[0];
    const open = text.match(START_TAG('form'))[0];
    const controls = [...text.matchAll(START_TAG('input|button'))]
      .map((c) => ({ tag: c[1].toLowerCase(), attrs: attributes(c[0]) }));
    return { attrs: attributes(open), controls };
  });
}

// readLoginForm finds the page's POST form with an input named `username`
// or `password` and returns { action, fields, kind }: the action resolved
// against the page URL, the fields a browser would send (hidden inputs
// verbatim, text inputs with their values, checked boxes, the default
// submit button) as [name, value] pairs, and kind 'password' or 'username'.
// It returns null when there is no such form.
export function readLoginForm(html, pageUrl) {
  const hasInput = (f, name) => f.controls.some((c) => c.tag === 'input' && c.attrs.name === name);
  const form = forms(html).find((f) => (f.attrs.method || 'get').toLowerCase() === 'post'
    && (hasInput(f, 'password') || hasInput(f, 'username')));
  if (!form) return null;

  const fields = [];
  let defaultButton = null;
  for (const { tag, attrs } of form.controls) {
    if ('disabled' in attrs) continue;
    const type = (attrs.type || (tag === 'button' ? 'submit' : 'text')).toLowerCase();
    if (type === 'submit' || type === 'image') {
      defaultButton ??= attrs;
      continue;
    }
    if (!attrs.name || ['button', 'reset', 'file'].includes(type)) continue;
    const checkable = type === 'checkbox' || type === 'radio';
    if (checkable && !('checked' in attrs)) continue;
    fields.push([attrs.name, attrs.value ?? (checkable ? 'on' : '')]);
  }
  if (defaultButton?.name) fields.push([defaultButton.name, defaultButton.value ?? '']);

  return {
    action: new URL(form.attrs.action || pageUrl.href, pageUrl),
    fields,
    kind: hasInput(form, 'password') ? 'password' : 'username',
  };
}

// setField sets a form field, adding it when the form has none by that name.
export function setField(fields, name, value) {
  const i = fields.findIndex(([n]) => n === name);
  if (i >= 0) fields[i] = [name, value];
  else fields.push([name, value]);
}

// pageSummary is a short text rendering of a page for error messages.
export function pageSummary(page) {
  const text = page.html.replace(/<script[\s\S]*?<\/script>|<style[\s\S]*?<\/style>/gi, ' ')
    .replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').trim();
  return `HTTP ${page.status} at ${page.url}: ${decodeEntities(text).slice(0, 400)}`;
}

// tracingFetch wraps fetch to write every request and response, bodies
// included, to log (a function taking a line of text).
export function tracingFetch(log, inner = fetch) {
  return async (input, init = {}) => {
    const method = init.method ?? 'GET';
    const url = input instanceof Request ? input.url : String(input);
    const headers = new Headers(init.headers);
    log(`> ${method} ${url}`);
    for (const [k, v] of headers) log(`> ${k}: ${v}`);
    if (init.body) log(`> ${init.body}`);
    const response = await inner(input, init);
    log(`< ${response.status} ${url}`);
    for (const [k, v] of response.headers) log(`< ${k}: ${v}`);
    const text = await response.clone().text().catch(() => '');
    if (text) log(`< ${text.slice(0, 4000)}`);
    log('');
    return response;
  };
}
