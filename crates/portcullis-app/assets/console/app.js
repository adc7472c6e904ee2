// Portcullis admin console.
//
// One script, no dependencies, no build step. It runs under a strict Content-Security-Policy
// (script-src 'self', style-src 'self', connect-src 'self'), so: no inline handlers, no eval,
// no innerHTML. Every value that comes from the API is inserted with textContent (through el()).
//
// Sections: DOM helpers, formatting, authentication + fetch wrapper, banner, header status,
// pages (routes, authorizers, functions, live, explain, charts), router.
'use strict';

(() => {
  // ---------------------------------------------------------------------------------------------
  // DOM helpers

  const $ = (id) => document.getElementById(id);
  const SVG_NS = 'http://www.w3.org/2000/svg';

  // Appends children (nodes, strings, numbers, arrays of those; null/undefined/false skipped).
  function append(parent, children) {
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue;
      if (Array.isArray(child)) append(parent, child);
      else if (child instanceof Node) parent.appendChild(child);
      else parent.appendChild(document.createTextNode(String(child)));
    }
    return parent;
  }

  // Applies attributes: `class`, `data` (an object for dataset), `text`, everything else through
  // setAttribute (null/undefined/false values are skipped, true sets an empty attribute).
  function setAttrs(node, attrs) {
    if (!attrs) return;
    for (const [name, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (name === 'class') node.setAttribute('class', value);
      else if (name === 'data') {
        for (const [k, v] of Object.entries(value)) {
          if (v !== null && v !== undefined) node.dataset[k] = String(v);
        }
      } else if (name === 'text') node.textContent = String(value);
      else node.setAttribute(name, value === true ? '' : String(value));
    }
  }

  // el('td', {class: 'num'}, 'text', otherNode): an HTML element; text is never parsed as markup.
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    setAttrs(node, attrs);
    return append(node, children);
  }

  // The same for SVG elements.
  function svgEl(tag, attrs, ...children) {
    const node = document.createElementNS(SVG_NS, tag);
    setAttrs(node, attrs);
    return append(node, children);
  }

  const badge = (text, kind) => el('span', { class: kind ? `badge ${kind}` : 'badge' }, text);
  const dash = () => el('span', { class: 'muted' }, '–');

  // A <dl class="kv"> from [label, value] pairs; pairs with a null value are skipped.
  function kv(pairs) {
    const dl = el('dl', { class: 'kv' });
    for (const [label, value, cls] of pairs) {
      if (value === null || value === undefined) continue;
      dl.append(el('dt', null, label), el('dd', { class: cls }, value));
    }
    return dl;
  }

  // A figure in a card; `key` becomes data-stat (a stable hook for tests).
  function stat(key, label, value, sub) {
    return el('div', { class: 'stat', data: { stat: key } },
      el('span', { class: 'label' }, label),
      el('span', { class: 'value' }, value),
      sub ? el('span', { class: 'sub' }, sub) : null);
  }

  // ---------------------------------------------------------------------------------------------
  // Formatting

  const numberFormat = new Intl.NumberFormat();
  const fmtInt = (n) => (typeof n === 'number' && Number.isFinite(n) ? numberFormat.format(n) : '–');
  const pad2 = (n) => String(n).padStart(2, '0');

  // Local wall-clock time: HH:MM, HH:MM:SS or HH:MM:SS.mmm.
  function fmtClock(t, precision = 'minutes') {
    const d = new Date(t);
    let s = `${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
    if (precision !== 'minutes') s += `:${pad2(d.getSeconds())}`;
    if (precision === 'millis') s += `.${String(d.getMilliseconds()).padStart(3, '0')}`;
    return s;
  }

  // Local date and time, YYYY-MM-DD HH:MM:SS.
  function fmtDateTime(t) {
    if (typeof t !== 'number') return '–';
    const d = new Date(t);
    return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${fmtClock(t, 'seconds')}`;
  }

  // A duration for people: "850 ms", "42 s", "2 min", "3 h", "2 d".
  function humanDuration(ms) {
    if (typeof ms !== 'number' || !Number.isFinite(ms)) return '–';
    const a = Math.abs(ms);
    if (a < 1000) return `${Math.round(ms)} ms`;
    if (a < 60e3) return `${Math.round(ms / 1e3)} s`;
    if (a < 3600e3) return `${Math.round(ms / 60e3)} min`;
    if (a < 86400e3) return `${Math.round(ms / 3600e3)} h`;
    return `${Math.round(ms / 86400e3)} d`;
  }

  function timeAgo(t) {
    if (typeof t !== 'number') return '–';
    const delta = Date.now() - t;
    if (delta < 1000) return 'just now';
    return `${humanDuration(delta)} ago`;
  }

  // A latency in ms, with precision that suits its size.
  function fmtMs(ms) {
    if (typeof ms !== 'number' || !Number.isFinite(ms)) return '–';
    if (ms < 10) return `${ms.toFixed(ms < 1 ? 2 : 1)} ms`;
    if (ms < 1000) return `${Math.round(ms)} ms`;
    return `${(ms / 1000).toFixed(2)} s`;
  }

  // hits / (hits + misses) as a percentage, "–" when there was no lookup.
  function hitRatio(cache) {
    const hits = (cache && cache.hits) || 0;
    const misses = (cache && cache.misses) || 0;
    const total = hits + misses;
    if (total === 0) return '–';
    const pct = (100 * hits) / total;
    return `${Number.isInteger(pct) ? pct : pct.toFixed(1)} %`;
  }

  const statusClass = (status) => {
    const n = Number(status);
    return n >= 200 && n < 600 ? `${Math.floor(n / 100)}xx` : 'other';
  };

  // A compact axis number: 0, 0.5, 12, 1.2k, 3M.
  function fmtAxis(v) {
    const a = Math.abs(v);
    if (a >= 1e6) return `${+(v / 1e6).toFixed(1)}M`;
    if (a >= 1e3) return `${+(v / 1e3).toFixed(1)}k`;
    if (a === 0 || a >= 10) return String(Math.round(v));
    return String(+v.toFixed(2));
  }

  // ---------------------------------------------------------------------------------------------
  // Authentication and the fetch wrapper
  //
  // The admin token lives in sessionStorage only; it is sent as `Authorization: Bearer`, never in
  // a URL. A 401 from any call opens the sign-in form; every call waiting on it retries once a
  // token has been entered.

  const TOKEN_KEY = 'portcullis.adminToken';

  function getToken() {
    try { return sessionStorage.getItem(TOKEN_KEY) || ''; } catch { return ''; }
  }

  function setToken(token) {
    try {
      if (token) sessionStorage.setItem(TOKEN_KEY, token);
      else sessionStorage.removeItem(TOKEN_KEY);
    } catch { /* storage disabled: the token is lost on reload */ }
  }

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  let loginWait = null;    // a promise shared by every call waiting for a token
  let loginResolve = null; // settles loginWait once the form is submitted

  function requireLogin(refusedToken) {
    if (loginWait) return loginWait;
    loginWait = new Promise((resolve) => {
      const overlay = $('login');
      const input = $('login-token');
      $('login-message').textContent = refusedToken
        ? 'The gateway refused this token. Enter the admin token.'
        : 'The admin API needs a token.';
      input.value = '';
      overlay.hidden = false;
      input.focus();
      loginResolve = () => {
        overlay.hidden = true;
        loginWait = null;
        resolve();
      };
    });
    return loginWait;
  }

  $('login-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const token = $('login-token').value.trim();
    if (!token) return;
    setToken(token);
    if (loginResolve) loginResolve();
    loginResolve = null;
  });

  // The best message an error response offers: JSON {"error"} or {"message"}, else its text.
  async function errorMessage(res) {
    let text = '';
    try { text = await res.text(); } catch { /* body unreadable */ }
    let detail = text.trim();
    try {
      const json = JSON.parse(text);
      if (json && typeof json === 'object') {
        detail = json.error || json.message || json.reason || detail;
        if (typeof detail !== 'string') detail = JSON.stringify(detail);
      }
    } catch { /* not JSON */ }
    if (detail.length > 300) detail = `${detail.slice(0, 300)}…`;
    return `${res.status} ${res.statusText || ''}`.trim() + (detail ? `: ${detail}` : '');
  }

  // fetch() for the admin API. Returns parsed JSON, or the Response itself with `raw: true`.
  // Throws ApiError (status 0 for network failures); waits for sign-in on 401, then retries.
  async function api(path, { method = 'GET', json, signal, raw = false, accept, headers = {}, allow = [] } = {}) {
    for (;;) {
      const token = getToken();
      const h = { Accept: accept || 'application/json', ...headers };
      if (token) h.Authorization = `Bearer ${token}`;
      let body;
      if (json !== undefined) {
        h['Content-Type'] = 'application/json';
        body = JSON.stringify(json);
      }
      let res;
      try {
        res = await fetch(path, { method, headers: h, body, signal, cache: 'no-store', credentials: 'same-origin' });
      } catch (e) {
        if (signal && signal.aborted) throw e;
        throw new ApiError(0, `Cannot reach the admin API (${path}): ${e.message}`);
      }
      if (res.status === 401) {
        await requireLogin(Boolean(token));
        continue;
      }
      if (!res.ok && !allow.includes(res.status)) {
        throw new ApiError(res.status, `${method} ${path.split('?')[0]}: ${await errorMessage(res)}`);
      }
      if (raw) return res;
      try {
        return await res.json();
      } catch (e) {
        throw new ApiError(res.status, `${method} ${path.split('?')[0]}: the answer is not JSON`);
      }
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Error banner. Each error has a source (a page or "status"); a later success of the same
  // source clears it, and the dismiss button clears whatever is shown.

  let bannerSource = null;

  function showError(source, err) {
    if (err && err.name === 'AbortError') return;
    bannerSource = source;
    $('banner-text').textContent = err instanceof Error ? err.message : String(err);
    $('banner').dataset.source = source;
    $('banner').hidden = false;
  }

  function clearError(source) {
    if (bannerSource !== source) return;
    bannerSource = null;
    $('banner').hidden = true;
  }

  $('banner-close').addEventListener('click', () => {
    bannerSource = null;
    $('banner').hidden = true;
  });

  // ---------------------------------------------------------------------------------------------
  // Header status line, from /api/overview

  let overview = null;

  async function refreshStatus() {
    const line = $('status');
    try {
      overview = await api('/api/overview');
      clearError('status');
    } catch (e) {
      line.textContent = 'gateway unreachable';
      line.dataset.state = 'error';
      showError('status', e);
      return;
    }
    const o = overview;
    const parts = [
      el('span', { id: 'status-version' }, `v${o.version}`),
      el('span', null, 'listening ', el('code', { id: 'status-listen' }, o.listen)),
      o.admin ? el('span', { class: 'opt' }, 'admin ', el('code', null, o.admin)) : null,
      o.stage ? el('span', null, 'stage ', el('code', null, o.stage)) : null,
      o.config_origin ? el('span', { class: 'opt' }, 'config ', el('code', null, o.config_origin)) : null,
      typeof o.started_at === 'number'
        ? el('span', { title: `started ${fmtDateTime(o.started_at)}` }, `up ${humanDuration(Date.now() - o.started_at)}`)
        : null,
    ].filter(Boolean);
    const nodes = [];
    parts.forEach((p, i) => {
      // The separator goes with the part it precedes, so hiding an optional part hides both.
      if (i) p.prepend(el('span', { class: 'sep', 'aria-hidden': 'true' }, '·'));
      nodes.push(p);
    });
    if (o.dev_mode) nodes.push(' ', badge('dev mode', 'warn'));
    line.replaceChildren(...nodes);
    line.dataset.state = 'ok';
  }

  // ---------------------------------------------------------------------------------------------
  // Routes page

  const routesPage = {
    routes: [],
    matchedKey: null,

    enter() { this.refresh(); },
    leave() {},

    async refresh() {
      try {
        const data = await api('/api/routes');
        this.routes = Array.isArray(data.routes) ? data.routes : [];
        this.render();
        clearError('routes');
      } catch (e) {
        showError('routes', e);
      }
    },

    render() {
      const rows = this.routes.map((r, i) => this.row(r, i));
      $('routes-table').tBodies[0].replaceChildren(...rows);
      this.applyFilter();
      this.highlight(this.matchedKey, false);
    },

    row(r, index) {
      const a = r.authorizer;
      const integ = r.integration || {};
      const tr = el('tr', { data: { routeKey: r.key, priority: index } },
        el('td', { class: 'num' }, String(index)),
        el('td', null, el('span', { class: 'route-key' }, r.key)),
        el('td', null, a
          ? [el('div', null, el('strong', null, a.name), ' ', badge(a.kind || '?', 'accent')),
            (a.scopes || []).length
              ? el('div', { class: 'small muted' }, 'scopes: ', (a.scopes || []).map((s) => el('code', null, s, ' ')))
              : null]
          : el('span', { class: 'muted' }, 'none')),
        el('td', null, (r.rules || []).length
          ? el('ul', { class: 'cell-list' }, r.rules.map((rule) => el('li', null, el('code', null, rule))))
          : dash()),
        el('td', null, badge(integ.kind || '?', integ.kind === 'function' ? 'info' : integ.kind === 'respond' ? 'warn' : 'ok'),
          integ.target ? el('div', { class: 'target' }, integ.target) : null),
        el('td', null, (r.throttle || []).length
          ? el('ul', { class: 'cell-list small' }, r.throttle.map((t) => el('li', null,
            `${fmtInt(t.rate)}/s, burst ${fmtInt(t.burst)}`,
            t.key ? [' per ', el('code', null, t.key)] : null)))
          : dash()),
        el('td', null, r.cors ? this.corsCell(r.cors) : dash()));
      // What the filter searches: every cell's text, cell by cell (so words of adjacent cells do
      // not run together).
      tr.searchText = Array.from(tr.cells, (c) => c.textContent).join('\n').toLowerCase();
      return tr;
    },

    corsCell(c) {
      const origins = c.allow_origins || [];
      const details = [];
      if ((c.allow_methods || []).length) details.push(`methods ${c.allow_methods.join(', ')}`);
      if ((c.allow_headers || []).length) details.push(`headers ${c.allow_headers.join(', ')}`);
      if ((c.expose_headers || []).length) details.push(`expose ${c.expose_headers.join(', ')}`);
      if (typeof c.max_age === 'number') details.push(`max-age ${c.max_age} s`);
      if (c.allow_credentials) details.push('credentials');
      return el('div', { class: 'small' },
        el('div', { class: 'target' }, origins.length ? origins.join(', ') : 'no origins'),
        details.length ? el('div', { class: 'muted' }, details.join(' · ')) : null);
    },

    applyFilter() {
      const q = $('routes-filter').value.trim().toLowerCase();
      let shown = 0;
      for (const tr of $('routes-table').tBodies[0].rows) {
        const visible = !q || tr.searchText.includes(q);
        tr.hidden = !visible;
        if (visible) shown++;
      }
      const total = this.routes.length;
      $('routes-count').textContent = q ? `${shown} of ${total} routes` : `${total} route${total === 1 ? '' : 's'}`;
      $('routes-empty').hidden = shown > 0 || total === 0;
    },

    highlight(key, scroll) {
      for (const tr of $('routes-table').tBodies[0].rows) {
        const on = key !== null && tr.dataset.routeKey === key;
        tr.classList.toggle('is-match', on);
        if (on && scroll) tr.scrollIntoView({ block: 'nearest' });
      }
    },

    async match() {
      const method = $('match-method').value;
      const path = $('match-path').value.trim();
      const out = $('match-result');
      if (!path) return;
      const query = `method=${encodeURIComponent(method)}&path=${encodeURIComponent(path)}`;
      try {
        const m = await api(`/api/match?${query}`);
        clearError('routes');
        out.dataset.matched = String(Boolean(m.matched));
        out.dataset.status = m.matched ? '' : String(m.status ?? '');
        out.dataset.routeKey = m.matched ? m.key : '';
        if (m.matched) {
          const params = Object.entries(m.params || {}).map(([k, v]) => `${k}=${v}`).join(', ');
          out.replaceChildren(badge('match', 'ok'), ' ', el('span', { class: 'route-key' }, m.key),
            params ? el('span', { class: 'params' }, `{${params}}`) : null);
          this.matchedKey = m.key;
          this.highlight(m.key, true);
        } else {
          const why = m.reason || (m.status === 404 ? 'no route matches' : 'rejected');
          out.replaceChildren(badge(String(m.status ?? 'no match'), 'bad'), ' ', why);
          this.matchedKey = null;
          this.highlight(null, false);
        }
      } catch (e) {
        showError('routes', e);
      }
    },
  };

  $('routes-filter').addEventListener('input', () => routesPage.applyFilter());
  $('routes-refresh').addEventListener('click', () => routesPage.refresh());
  $('match-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    routesPage.match();
  });

  // ---------------------------------------------------------------------------------------------
  // Authorizers page

  function denialsTable(denials) {
    const entries = Object.entries(denials || {}).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
    if (!entries.length) return el('p', { class: 'muted small' }, 'No denials.');
    return el('table', { class: 'subtable denials' },
      el('thead', null, el('tr', null, el('th', null, 'reason'), el('th', { class: 'num' }, 'count'))),
      el('tbody', null, entries.map(([reason, n]) =>
        el('tr', { data: { reason, count: n } }, el('td', null, el('code', null, reason)), el('td', { class: 'num' }, fmtInt(n))))));
  }

  const sumValues = (obj) => Object.values(obj || {}).reduce((a, b) => a + (Number(b) || 0), 0);

  function cacheStat(cache) {
    const c = cache || {};
    return stat('hit-ratio', 'cache hit ratio', hitRatio(c), `${fmtInt(c.hits || 0)} hits / ${fmtInt(c.misses || 0)} misses`);
  }

  function jwtCard(a) {
    const lf = a.last_fetch;
    let fetchState = null;
    if (!lf) fetchState = badge('never fetched', 'warn');
    else if (lf.ok) fetchState = badge('keys OK', 'ok');
    else fetchState = badge('fetch failing', 'bad');
    const keys = a.keys || [];
    return el('article', { class: 'card', data: { name: a.name, kind: 'jwt', fetchOk: lf ? String(Boolean(lf.ok)) : 'never' } },
      el('div', { class: 'card-head' }, el('h3', null, a.name), badge('JWT', 'accent'), el('span', { class: 'grow' }), fetchState),
      kv([
        ['issuer', a.issuer || null, 'mono'],
        ['discovery', a.discovery_url || null, 'mono'],
        ['JWKS', a.jwks_url || null, 'mono'],
        ['last fetch', lf
          ? el('span', { title: fmtDateTime(lf.at) }, timeAgo(lf.at), lf.ok ? '' : ' — ',
            lf.ok ? null : el('span', { class: 'decision-deny' }, lf.error || 'failed'))
          : 'never'],
        ['next refresh', typeof a.next_refresh_ms === 'number' ? `in ${humanDuration(a.next_refresh_ms)}` : null],
      ]),
      el('div', { class: 'stats' },
        cacheStat(a.cache),
        stat('cache-size', 'cached tokens', fmtInt((a.cache || {}).size || 0)),
        stat('denials', 'denials', fmtInt(sumValues(a.denials)))),
      el('div', { class: 'section-label' }, `signing keys (${keys.length})`),
      keys.length
        ? el('table', { class: 'subtable keys' },
          el('thead', null, el('tr', null, el('th', null, 'kid'), el('th', null, 'alg'), el('th', { class: 'num' }, 'age'))),
          el('tbody', null, keys.map((k) => el('tr', { data: { kid: k.kid } },
            el('td', null, el('code', null, k.kid ?? '(none)')),
            el('td', null, k.alg || '–'),
            el('td', { class: 'num' }, humanDuration(k.age_ms))))))
        : el('p', { class: 'muted small' }, 'No keys loaded.'),
      el('div', { class: 'section-label' }, 'denials by reason'),
      denialsTable(a.denials));
  }

  function lambdaCard(a) {
    return el('article', { class: 'card', data: { name: a.name, kind: 'lambda' } },
      el('div', { class: 'card-head' }, el('h3', null, a.name), badge('Lambda', 'info'), el('span', { class: 'grow' }),
        a.errors ? badge(`${fmtInt(a.errors)} error${a.errors === 1 ? '' : 's'}`, 'bad') : null),
      kv([
        ['function', a.function || null, 'mono'],
        ['result TTL', typeof a.result_ttl_ms === 'number' ? (a.result_ttl_ms ? humanDuration(a.result_ttl_ms) : 'no caching') : null],
      ]),
      el('div', { class: 'stats' },
        cacheStat(a.cache),
        stat('cache-size', 'cached answers', fmtInt((a.cache || {}).size || 0)),
        stat('invocations', 'invocations', fmtInt(a.invocations || 0)),
        stat('errors', 'errors', fmtInt(a.errors || 0))),
      el('div', { class: 'section-label' }, 'denials by reason'),
      denialsTable(a.denials));
  }

  const authorizersPage = {
    enter() { this.refresh(); },
    leave() {},
    async refresh() {
      try {
        const data = await api('/api/authorizers');
        const jwt = data.jwt || [];
        const lambda = data.lambda || [];
        $('authz-jwt').replaceChildren(...(jwt.length ? jwt.map(jwtCard) : [el('p', { class: 'empty' }, 'No JWT authorizers configured.')]));
        $('authz-lambda').replaceChildren(...(lambda.length ? lambda.map(lambdaCard) : [el('p', { class: 'empty' }, 'No Lambda authorizers configured.')]));
        clearError('authorizers');
      } catch (e) {
        showError('authorizers', e);
      }
    },
  };

  $('authz-refresh').addEventListener('click', () => authorizersPage.refresh());

  // ---------------------------------------------------------------------------------------------
  // Functions page

  const byTime = (a, b) => (a.at || 0) - (b.at || 0);

  const functionsPage = {
    expanded: new Set(), // names of the functions whose detail row is open
    functions: [],

    enter() { this.refresh(); },
    leave() {},

    async refresh() {
      try {
        const data = await api('/api/functions');
        this.functions = data.functions || [];
        this.render();
        clearError('functions');
      } catch (e) {
        showError('functions', e);
      }
    },

    render() {
      const rows = [];
      for (const f of this.functions) {
        const open = this.expanded.has(f.name);
        const inst = f.instances || {};
        const colds = (f.cold_starts || []).slice().sort(byTime);
        const last = colds[colds.length - 1];
        rows.push(el('tr', {
          class: 'clickable', tabindex: '0', 'aria-expanded': String(open),
          data: { function: f.name, errors: f.errors || 0 },
        },
        el('td', null, el('span', { class: 'expander', 'aria-hidden': 'true' }, '▸'), ' ', el('strong', null, f.name)),
        el('td', null, f.runtime || '–'),
        el('td', { class: 'num' }, fmtInt(inst.busy ?? 0)),
        el('td', { class: 'num' }, fmtInt(inst.idle ?? 0)),
        el('td', { class: 'num' }, fmtInt(inst.starting ?? 0)),
        el('td', { class: 'num' }, fmtInt(f.invocations ?? 0)),
        el('td', { class: 'num' }, f.errors ? el('span', { class: 'decision-deny' }, fmtInt(f.errors)) : '0'),
        el('td', { class: 'num' }, f.timeouts ? el('span', { class: 'decision-deny' }, fmtInt(f.timeouts)) : '0'),
        el('td', null, last
          ? el('span', { title: fmtDateTime(last.at) }, `${timeAgo(last.at)} (${fmtMs(last.duration_ms)})`)
          : el('span', { class: 'muted' }, 'none'))));
        if (open) rows.push(this.detailRow(f, colds));
      }
      $('functions-table').tBodies[0].replaceChildren(...rows);
      $('functions-empty').hidden = this.functions.length > 0;
    },

    detailRow(f, colds) {
      const lines = (f.last_lines || []).slice().sort(byTime);
      return el('tr', { class: 'fn-detail', data: { detailFor: f.name } },
        el('td', { colspan: '9' },
          el('div', { class: 'fn-detail-grid' },
            el('div', null,
              el('div', { class: 'section-label' }, `recent cold starts (${colds.length})`),
              colds.length
                ? el('table', { class: 'subtable cold-starts' },
                  el('thead', null, el('tr', null, el('th', null, 'at'), el('th', { class: 'num' }, 'duration'))),
                  el('tbody', null, colds.map((c) => el('tr', null,
                    el('td', { title: fmtDateTime(c.at) }, fmtClock(c.at, 'seconds')),
                    el('td', { class: 'num' }, fmtMs(c.duration_ms))))))
                : el('p', { class: 'muted small' }, 'No cold starts recorded.')),
            el('div', null,
              el('div', { class: 'section-label' }, `last output lines (${lines.length})`),
              lines.length
                ? el('div', { class: 'log', role: 'log' }, lines.map((l) =>
                  el('div', { class: `log-line ${l.stream === 'stderr' ? 'stderr' : 'stdout'}`, data: { stream: l.stream, requestId: l.request_id } },
                    el('span', { class: 'ts', title: fmtDateTime(l.at) }, fmtClock(l.at, 'millis')),
                    l.request_id ? el('span', { class: 'rid' }, l.request_id) : null,
                    el('span', { class: 'text' }, l.text ?? ''))))
                : el('p', { class: 'muted small' }, 'No output yet.')))));
    },

    toggle(name) {
      if (this.expanded.has(name)) this.expanded.delete(name);
      else this.expanded.add(name);
      this.render();
      // Keep keyboard focus on the row that was toggled.
      for (const tr of $('functions-table').tBodies[0].rows) {
        if (tr.dataset.function === name) { tr.focus(); break; }
      }
    },
  };

  function onFunctionRow(ev) {
    if (ev.type === 'keydown' && ev.key !== 'Enter' && ev.key !== ' ') return;
    const tr = ev.target.closest('tr[data-function]');
    if (!tr) return;
    if (ev.type === 'keydown') ev.preventDefault();
    functionsPage.toggle(tr.dataset.function);
  }
  $('functions-table').tBodies[0].addEventListener('click', onFunctionRow);
  $('functions-table').tBodies[0].addEventListener('keydown', onFunctionRow);
  $('functions-refresh').addEventListener('click', () => functionsPage.refresh());

  // ---------------------------------------------------------------------------------------------
  // Live page: a text/event-stream read with fetch() (EventSource cannot send the token)

  // Incremental text/event-stream parser (the WHATWG "event stream interpretation"): fields
  // `event`, `data` (joined with "\n"), `id`; comments and `retry` are ignored; an event is
  // dispatched at a blank line and only when it has data.
  class SseParser {
    constructor(onEvent) {
      this.onEvent = onEvent;
      this.buf = '';
      this.data = [];
      this.type = '';
      this.lastId = '';
      this.first = true;
      this.skipLF = false;
    }

    push(chunk) {
      if (this.skipLF && chunk.length) {
        // The previous chunk ended with "\r": a "\n" starting this one belongs to that line break.
        if (chunk[0] === '\n') chunk = chunk.slice(1);
        this.skipLF = false;
      }
      this.buf += chunk;
      if (this.first && this.buf.length) {
        if (this.buf.charCodeAt(0) === 0xfeff) this.buf = this.buf.slice(1);
        this.first = false;
      }
      const re = /\r\n|\r|\n/g;
      let start = 0;
      for (;;) {
        re.lastIndex = start;
        const m = re.exec(this.buf);
        if (!m) break;
        this.line(this.buf.slice(start, m.index));
        start = m.index + m[0].length;
        if (m[0] === '\r' && start === this.buf.length) this.skipLF = true;
      }
      this.buf = this.buf.slice(start);
    }

    line(line) {
      if (line === '') {
        if (this.data.length) this.onEvent(this.type || 'message', this.data.join('\n'), this.lastId);
        this.data = [];
        this.type = '';
        return;
      }
      if (line[0] === ':') return; // comment (keep-alive)
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value[0] === ' ') value = value.slice(1);
      if (field === 'data') this.data.push(value);
      else if (field === 'event') this.type = value;
      else if (field === 'id' && !value.includes('\0')) this.lastId = value;
    }
  }

  const LIVE_MAX = 500;               // rows kept in the table, and events buffered while paused
  const BACKOFF_MS = [1000, 2000, 5000];

  // A request id as one path segment: RFC 3986 sub-delimiters (like base64's "=") stay literal.
  const pathSegment = (s) => encodeURIComponent(s).replace(/%(3D|2B|3A|40|21|24|26|27|28|29|2A|2C|3B)/g,
    (_, hex) => String.fromCharCode(parseInt(hex, 16)));

  const livePage = {
    active: false,       // the page is open: keep a stream running
    paused: false,
    pending: [],         // events received but not yet in the table (at most LIVE_MAX)
    flushTimer: null,
    droppedClient: 0,
    droppedServer: 0,
    controller: null,    // AbortController of the running stream
    retryTimer: null,
    attempt: 0,          // failed attempts since the last healthy stream, for the backoff
    lastEventId: '',
    selectedId: null,
    detailSeq: 0,

    enter() {
      this.active = true;
      this.updateCounters();
      this.connect();
    },

    // Leaving the page closes the stream (rows are kept; the stream restarts on return).
    leave() {
      this.active = false;
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
      if (this.controller) this.controller.abort();
      this.controller = null;
      this.setConn('closed', 'disconnected');
    },

    setConn(state, text) {
      const c = $('live-conn');
      c.dataset.state = state;
      c.textContent = text;
    },

    async connect() {
      if (!this.active || this.controller) return;
      const controller = new AbortController();
      this.controller = controller;
      this.setConn('connecting', 'connecting…');
      try {
        const headers = this.lastEventId ? { 'Last-Event-ID': this.lastEventId } : {};
        const res = await api('/api/live', { raw: true, accept: 'text/event-stream', headers, signal: controller.signal });
        if (!res.body) throw new ApiError(res.status, 'GET /api/live: the browser cannot stream this response');
        this.setConn('open', 'live');
        clearError('live');
        const parser = new SseParser((type, data, id) => {
          if (id) this.lastEventId = id;
          this.onEvent(type, data);
        });
        const reader = res.body.getReader();
        const decoder = new TextDecoder();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          this.attempt = 0; // data flows: the next failure starts the backoff again at 1 s
          parser.push(decoder.decode(value, { stream: true }));
        }
        throw new ApiError(0, 'GET /api/live: the gateway closed the stream');
      } catch (e) {
        if (controller.signal.aborted) return;
        this.controller = null;
        if (!this.active) return;
        const delay = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
        this.attempt++;
        showError('live', new Error(`${e.message} — reconnecting in ${delay / 1000} s`));
        this.setConn('error', `reconnecting in ${delay / 1000} s`);
        this.retryTimer = setTimeout(() => {
          this.retryTimer = null;
          this.connect();
        }, delay);
      }
    },

    onEvent(type, data) {
      let payload;
      try { payload = JSON.parse(data); } catch { return; }
      if (type === 'request') {
        this.pending.push(payload);
        if (this.pending.length > LIVE_MAX) {
          const over = this.pending.length - LIVE_MAX;
          this.pending.splice(0, over); // keep the newest
          this.droppedClient += over;
        }
        this.scheduleFlush();
      } else if (type === 'dropped') {
        this.droppedServer += Number(payload.count) || 0;
        this.updateCounters();
      }
    },

    // Rows are added in batches (at most ~10 times a second) rather than one DOM insert per event.
    scheduleFlush() {
      if (this.paused) {
        this.updateCounters();
        return;
      }
      if (this.flushTimer === null) this.flushTimer = setTimeout(() => this.flush(), 100);
    },

    flush() {
      this.flushTimer = null;
      if (this.paused || !this.pending.length) return;
      const events = this.pending;
      this.pending = [];
      const tbody = $('live-table').tBodies[0];
      const frag = document.createDocumentFragment();
      for (let i = events.length - 1; i >= 0; i--) frag.appendChild(this.row(events[i])); // newest first
      tbody.insertBefore(frag, tbody.firstChild);
      while (tbody.rows.length > LIVE_MAX) {
        tbody.lastElementChild.remove();
        this.droppedClient++;
      }
      this.updateCounters();
    },

    row(ev) {
      const a = ev.authorizer;
      const cls = statusClass(ev.status);
      return el('tr', {
        class: `clickable s${cls}${ev.id === this.selectedId ? ' is-selected' : ''}`,
        tabindex: '0',
        data: {
          id: ev.id, status: ev.status, statusClass: cls, routeKey: ev.route_key ?? undefined,
          reason: a && a.reason ? a.reason : undefined, decision: a ? a.decision : undefined,
        },
      },
      el('td', { class: 'time', title: fmtDateTime(ev.time) }, fmtClock(ev.time, 'millis')),
      el('td', null, ev.method),
      el('td', { class: 'path', title: ev.path }, ev.path),
      el('td', { class: 'route col-route', title: ev.route_key ?? undefined }, ev.route_key ?? '–'),
      el('td', { class: 'num' }, el('span', { class: 'status-code' }, String(ev.status))),
      el('td', { class: 'num' }, fmtMs(ev.latency_ms)),
      // A denial shows its reason alone (in red): "auth0 token_expired"; an allow shows "allow".
      el('td', { class: 'authz', title: a ? `${a.name} ${a.decision}${a.reason ? ` ${a.reason}` : ''}` : undefined }, a
        ? [a.name, ' ', el('span', { class: a.decision === 'deny' ? 'decision-deny' : 'decision-allow' },
          a.decision === 'deny' && a.reason ? a.reason : a.decision)]
        : dash()),
      el('td', { class: 'col-integration' }, ev.integration || '–'));
    },

    updateCounters() {
      const rows = $('live-table').tBodies[0].rows.length;
      const show = (id, n) => {
        $(id).textContent = fmtInt(n);
        $(id).dataset.value = String(n); // unformatted, for tests
      };
      show('live-count', rows);
      show('live-dropped-client', this.droppedClient);
      show('live-dropped-server', this.droppedServer);
      show('live-buffered', this.pending.length);
      $('live-buffered-wrap').hidden = !this.paused;
      $('live-empty').hidden = rows > 0;
    },

    togglePause() {
      this.paused = !this.paused;
      const b = $('live-pause');
      b.setAttribute('aria-pressed', String(this.paused));
      b.textContent = this.paused ? 'Resume' : 'Pause';
      if (!this.paused) this.flush();
      this.updateCounters();
    },

    clear() {
      $('live-table').tBodies[0].replaceChildren();
      this.pending = [];
      this.updateCounters();
    },

    select(tr) {
      for (const r of tr.parentNode.querySelectorAll('tr.is-selected')) r.classList.remove('is-selected');
      tr.classList.add('is-selected');
      this.selectedId = tr.dataset.id;
      this.showDetail(tr.dataset.id);
    },

    closeDetail() {
      this.selectedId = null;
      this.detailSeq++;
      for (const r of $('live-table').tBodies[0].querySelectorAll('tr.is-selected')) r.classList.remove('is-selected');
      $('live-detail').hidden = true;
      $('live-detail').dataset.state = 'empty';
      document.querySelector('.live-layout').classList.remove('with-detail');
    },

    async showDetail(id) {
      const seq = ++this.detailSeq;
      const panel = $('live-detail');
      const body = $('live-detail-body');
      panel.hidden = false;
      panel.dataset.id = id;
      panel.dataset.state = 'loading';
      document.querySelector('.live-layout').classList.add('with-detail');
      $('live-detail-title').textContent = 'Request';
      body.replaceChildren(el('p', { class: 'muted' }, 'Loading…'));
      let d;
      try {
        const res = await api(`/api/live/${pathSegment(id)}`, { raw: true, allow: [404] });
        if (seq !== this.detailSeq) return;
        if (res.status === 404) {
          panel.dataset.state = 'gone';
          body.replaceChildren(el('p', { class: 'muted' }, 'This request is no longer kept by the gateway (it aged out of the recent-requests buffer).'));
          return;
        }
        d = await res.json();
      } catch (e) {
        if (seq !== this.detailSeq) return;
        panel.dataset.state = 'error';
        body.replaceChildren(el('p', { class: 'decision-deny' }, e.message));
        return;
      }
      if (seq !== this.detailSeq) return;
      this.renderDetail(d);
      panel.dataset.state = 'ready';
    },

    renderDetail(d) {
      const a = d.authorizer;
      const cls = statusClass(d.status);
      $('live-detail-title').textContent = `${d.method} ${d.path}`;
      const parts = [
        kv([
          ['status', el('span', { class: `status-code s${cls}` }, String(d.status))],
          ['time', fmtDateTime(d.time)],
          ['request id', d.id, 'mono'],
          ['route', d.route_key ?? '(none)', 'mono'],
          ['latency', fmtMs(d.latency_ms)],
          ['integration', d.integration || '–'],
          ['authorizer', a
            ? [a.name, ' ', el('span', { class: a.decision === 'deny' ? 'decision-deny' : 'decision-allow' }, a.decision),
              a.reason ? [' ', el('code', null, a.reason)] : null]
            : 'none'],
        ]),
      ];
      if (d.error) parts.push(el('div', { class: 'error-box', id: 'live-detail-error' }, d.error));
      parts.push(el('div', { class: 'section-label' }, 'claims'));
      parts.push(d.claims && Object.keys(d.claims).length
        ? this.mapTable(d.claims, 'live-detail-claims')
        : el('p', { class: 'muted small' }, 'No claims.'));
      parts.push(el('div', { class: 'section-label' }, 'request headers'));
      parts.push(d.request_headers && Object.keys(d.request_headers).length
        ? this.mapTable(d.request_headers, 'live-detail-headers')
        : el('p', { class: 'muted small' }, 'None recorded.'));
      if (d.event !== null && d.event !== undefined) {
        parts.push(el('div', { class: 'section-label' }, 'integration event'));
        parts.push(el('pre', { class: 'json', id: 'live-detail-event' }, JSON.stringify(d.event, null, 2)));
      }
      $('live-detail-body').replaceChildren(...parts);
    },

    // A key/value table; non-string values (arrays, numbers, objects) are shown as JSON.
    mapTable(obj, id) {
      return el('table', { class: 'subtable', id },
        el('tbody', null, Object.entries(obj).map(([k, v]) => el('tr', { data: { key: k } },
          el('td', null, k),
          el('td', null, typeof v === 'string' ? v : JSON.stringify(v))))));
    },
  };

  function onLiveRow(ev) {
    if (ev.type === 'keydown' && ev.key !== 'Enter') return;
    const tr = ev.target.closest('tr[data-id]');
    if (tr) livePage.select(tr);
  }
  $('live-table').tBodies[0].addEventListener('click', onLiveRow);
  $('live-table').tBodies[0].addEventListener('keydown', onLiveRow);
  $('live-pause').addEventListener('click', () => livePage.togglePause());
  $('live-clear').addEventListener('click', () => livePage.clear());
  $('live-detail-close').addEventListener('click', () => livePage.closeDetail());

  // ---------------------------------------------------------------------------------------------
  // Explain page

  // "name: value" lines to [[name, value]]; throws on a line without a colon or name.
  function parseHeaderLines(text) {
    const out = [];
    text.split(/\r?\n/).forEach((raw, i) => {
      const line = raw.trim();
      if (!line) return;
      const colon = line.indexOf(':');
      if (colon <= 0) throw new Error(`Extra headers, line ${i + 1}: expected "name: value"`);
      out.push([line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()]);
    });
    return out;
  }

  const explainPage = {
    enter() { this.refresh(); },
    leave() {},

    // Fills the route select from /api/routes, keeping the current choice when it still exists.
    async refresh() {
      try {
        const data = await api('/api/routes');
        const select = $('explain-route');
        const previous = select.value;
        const keys = (data.routes || []).map((r) => r.key);
        select.replaceChildren(...keys.map((k) => {
          const r = data.routes.find((x) => x.key === k);
          const label = r.authorizer ? `${k}  (${r.authorizer.name})` : k;
          return el('option', { value: k }, label);
        }));
        if (keys.includes(previous)) select.value = previous;
        else {
          // Prefer a route that has an authorizer: that is what explain is for.
          const firstAuth = (data.routes || []).find((r) => r.authorizer);
          if (firstAuth) select.value = firstAuth.key;
        }
        clearError('explain');
      } catch (e) {
        showError('explain', e);
      }
    },

    async submit() {
      let headers;
      try {
        headers = parseHeaderLines($('explain-headers').value);
      } catch (e) {
        showError('explain', e);
        return;
      }
      // Accept a pasted "Authorization: Bearer …" value as well as a bare token.
      const token = $('explain-token').value.trim().replace(/^(authorization:\s*)?bearer\s+/i, '').trim();
      const path = $('explain-path').value.trim();
      const body = {
        route_key: $('explain-route').value,
        path: path || null,
        token: token || null,
        headers,
      };
      const out = $('explain-output');
      out.dataset.state = 'loading';
      try {
        const r = await api('/api/explain', { method: 'POST', json: body });
        clearError('explain');
        this.render(r);
      } catch (e) {
        out.dataset.state = 'error';
        showError('explain', e);
      }
    },

    render(r) {
      const v = $('explain-verdict');
      v.hidden = false;
      v.className = `badge big ${r.allowed ? 'ok' : 'bad'}`;
      v.dataset.allowed = String(Boolean(r.allowed));
      v.dataset.status = String(r.status ?? '');
      v.dataset.reason = r.reason || '';
      v.textContent = r.allowed
        ? `allowed${r.status ? ` (${r.status})` : ''}`
        : `denied ${r.status ?? ''}${r.reason ? ` ${r.reason}` : ''}`.trim();

      const out = $('explain-output');
      const lines = String(r.text || '').replace(/\n$/, '').split('\n');
      out.replaceChildren(...lines.map((line) => {
        let cls = 'line';
        if (/^ok\b/.test(line)) cls += ' line-ok';
        else if (/^FAIL\b/.test(line)) cls += ' line-fail';
        else if (line.startsWith('=>')) cls += ' line-verdict';
        return el('span', { class: cls }, line || '\u00a0');
      }));
      out.dataset.state = 'done';
    },
  };

  $('explain-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    explainPage.submit();
  });
  $('explain-refresh').addEventListener('click', () => explainPage.refresh());

  // ---------------------------------------------------------------------------------------------
  // Charts page: SVG drawn by hand

  // "Nice" ticks from 0 to at least max: steps of 1, 2 or 5 times a power of ten.
  function niceTicks(max, count = 4) {
    if (!(max > 0)) return [0, 1];
    const raw = max / count;
    const pow = 10 ** Math.floor(Math.log10(raw));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * pow).find((s) => s >= raw);
    const ticks = [];
    for (let v = 0; v < max + step * 0.999; v += step) ticks.push(+v.toPrecision(12));
    return ticks;
  }

  // Time ticks on local minute boundaries, at most `maxTicks` of them.
  function timeTicks(t0, t1, maxTicks) {
    const steps = [1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440];
    const spanMin = (t1 - t0) / 60e3;
    const step = steps.find((s) => spanMin / s <= maxTicks) || 1440;
    const ticks = [];
    for (let m = Math.ceil(t0 / 60e3) * 60e3; m <= t1; m += 60e3) {
      const d = new Date(m);
      if ((d.getHours() * 60 + d.getMinutes()) % step === 0) ticks.push(m);
    }
    return ticks;
  }

  const WINDOW_POINTS = 90; // the x axis always spans 15 minutes of 10 s points

  // Draws a time-series chart into an <svg>.
  //   times:  the points' timestamps (ms); intervalMs: their spacing
  //   series: [{name, cls, values}]; kind: 'line' or 'stack' (stacked bars)
  //   unit:   the y axis title; fmt: a value formatter for hover titles
  function drawChart(svg, { times, intervalMs, series, kind, unit, fmt }) {
    const W = Math.max(280, Math.round(svg.clientWidth || svg.getBoundingClientRect().width || 600));
    const H = Math.max(160, Math.round(svg.clientHeight || 220));
    svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
    svg.dataset.points = String(times.length);
    const m = { left: 52, right: 14, top: 10, bottom: 26 };
    const pw = W - m.left - m.right;
    const ph = H - m.top - m.bottom;
    const nodes = [];

    if (!times.length) {
      nodes.push(svgEl('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'no-data' }, 'No data yet'));
      svg.replaceChildren(...nodes);
      return;
    }

    const iv = intervalMs > 0 ? intervalMs : 10000;
    const tMax = times[times.length - 1] + iv / 2;
    const tMin = Math.min(times[0] - iv / 2, tMax - WINDOW_POINTS * iv);
    const x = (t) => m.left + ((t - tMin) / (tMax - tMin)) * pw;

    // y range: the largest value, or the largest stack.
    let yMax = 0;
    times.forEach((_, i) => {
      if (kind === 'stack') yMax = Math.max(yMax, series.reduce((s, ser) => s + (ser.values[i] || 0), 0));
      else for (const ser of series) yMax = Math.max(yMax, ser.values[i] || 0);
    });
    const yTicks = niceTicks(yMax);
    const yTop = yTicks[yTicks.length - 1];
    const y = (v) => m.top + ph - (v / yTop) * ph;

    // Grid and axes.
    for (const v of yTicks) {
      nodes.push(svgEl('line', { class: 'grid-line', x1: m.left, x2: m.left + pw, y1: y(v), y2: y(v) }));
      nodes.push(svgEl('text', { x: m.left - 6, y: y(v) + 4, 'text-anchor': 'end' }, fmtAxis(v)));
    }
    const xAxis = svgEl('g', { class: 'axis' },
      svgEl('line', { x1: m.left, x2: m.left + pw, y1: m.top + ph, y2: m.top + ph }));
    for (const t of timeTicks(tMin, tMax, Math.max(2, Math.floor(pw / 70)))) {
      xAxis.append(
        svgEl('line', { x1: x(t), x2: x(t), y1: m.top + ph, y2: m.top + ph + 4 }),
        svgEl('text', { x: x(t), y: m.top + ph + 17, 'text-anchor': 'middle' }, fmtClock(t)));
    }
    nodes.push(xAxis);
    nodes.push(svgEl('text', {
      class: 'axis-title', 'text-anchor': 'middle', x: 0, y: 0,
      transform: `translate(12 ${m.top + ph / 2}) rotate(-90)`,
    }, unit));

    // Data.
    if (kind === 'stack') {
      const bw = Math.max(1, (pw / ((tMax - tMin) / iv)) * 0.8);
      times.forEach((t, i) => {
        let base = 0;
        for (const ser of series) {
          const v = ser.values[i] || 0;
          if (!v) continue;
          nodes.push(svgEl('rect', {
            class: `bar ${ser.cls}`, x: x(t) - bw / 2, width: bw, y: y(base + v), height: Math.max(0.5, y(base) - y(base + v)),
            data: { series: ser.name },
          }));
          base += v;
        }
      });
    } else {
      for (const ser of series) {
        // A gap of more than 1.5 intervals breaks the line.
        let d = '';
        let prevT = null;
        times.forEach((t, i) => {
          const v = ser.values[i];
          if (typeof v !== 'number') { prevT = null; return; }
          const cmd = prevT === null || t - prevT > 1.5 * iv ? 'M' : 'L';
          d += `${cmd}${x(t).toFixed(1)} ${y(v).toFixed(1)} `;
          prevT = t;
        });
        if (ser.area && d) {
          const area = `${d}L${x(times[times.length - 1]).toFixed(1)} ${y(0)} L${x(times[0]).toFixed(1)} ${y(0)} Z`;
          if (!d.slice(1).includes('M')) nodes.push(svgEl('path', { class: `area ${ser.cls}`, d: area }));
        }
        nodes.push(svgEl('path', { class: `line ${ser.cls}`, d: d.trim(), data: { series: ser.name } }));
      }
    }

    // Hover targets: one transparent column per point, with a native tooltip.
    const colW = Math.max(2, pw / ((tMax - tMin) / iv));
    times.forEach((t, i) => {
      const lines = [fmtClock(t, 'seconds')];
      for (const ser of series) {
        const v = ser.values[i];
        if (kind === 'stack' && !v) continue;
        lines.push(`${ser.name}: ${fmt(v)}`);
      }
      nodes.push(svgEl('rect', { class: 'hover', x: x(t) - colW / 2, width: colW, y: m.top, height: ph },
        svgEl('title', null, lines.join('\n'))));
    });
    svg.replaceChildren(...nodes);
  }

  function legend(container, items) {
    container.replaceChildren(...items.map((it) => el('span', { class: 'legend-item', data: { series: it.name, reason: it.reason } },
      el('span', { class: `swatch ${it.cls}` }), it.name,
      it.count !== undefined ? el('span', { class: 'count' }, fmtInt(it.count)) : null)));
  }

  const chartsPage = {
    timer: null,
    data: null,
    reasonColours: new Map(), // reason -> colour index, kept for the session so colours are stable

    enter() {
      this.refresh();
      this.timer = setInterval(() => { if (!document.hidden) this.refresh(); }, 10000);
    },

    leave() {
      clearInterval(this.timer);
      this.timer = null;
    },

    async refresh() {
      try {
        this.data = await api('/api/series');
        clearError('charts');
        $('charts-updated').textContent = `updated ${fmtClock(Date.now(), 'seconds')}`;
        this.draw();
      } catch (e) {
        showError('charts', e);
      }
    },

    colourFor(reason) {
      if (!this.reasonColours.has(reason)) this.reasonColours.set(reason, this.reasonColours.size % 8);
      return `c${this.reasonColours.get(reason)}`;
    },

    draw() {
      if (!this.data || $('page-charts').hidden) return;
      const iv = this.data.interval_ms > 0 ? this.data.interval_ms : 10000;
      const points = (this.data.points || []).slice().sort((a, b) => a.t - b.t);
      const times = points.map((p) => p.t);
      const num = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : null);

      drawChart($('chart-requests'), {
        times, intervalMs: iv, kind: 'line', unit: 'req/s',
        fmt: (v) => (v === null ? '–' : `${v.toFixed(1)} req/s`),
        series: [{ name: 'requests/s', cls: 'c0', area: true, values: points.map((p) => (num(p.requests) ?? 0) / (iv / 1000)) }],
      });

      const latency = [
        { name: 'p50', cls: 'c0', values: points.map((p) => num(p.p50_ms)) },
        { name: 'p99', cls: 'c1', values: points.map((p) => num(p.p99_ms)) },
      ];
      drawChart($('chart-latency'), {
        times, intervalMs: iv, kind: 'line', unit: 'ms', series: latency,
        fmt: (v) => (v === null ? '–' : fmtMs(v)),
      });
      legend($('chart-latency-legend'), latency.map((s) => ({ name: s.name, cls: s.cls })));

      const totals = new Map();
      for (const p of points) {
        for (const [reason, n] of Object.entries(p.denials || {})) totals.set(reason, (totals.get(reason) || 0) + (Number(n) || 0));
      }
      const reasons = Array.from(totals.keys()).sort();
      const denials = reasons.map((reason) => ({
        name: reason, cls: this.colourFor(reason), values: points.map((p) => Number((p.denials || {})[reason]) || 0),
      }));
      drawChart($('chart-denials'), {
        times, intervalMs: iv, kind: 'stack', unit: 'denials', series: denials, fmt: (v) => fmtInt(v || 0),
      });
      const items = denials.map((s) => ({ name: s.name, reason: s.name, cls: s.cls, count: totals.get(s.name) }))
        .sort((a, b) => b.count - a.count);
      legend($('chart-denials-legend'), items);
      if (!items.length) $('chart-denials-legend').replaceChildren(el('span', { class: 'muted' }, 'No denials in this window.'));
    },
  };

  document.addEventListener('visibilitychange', () => {
    if (!document.hidden && currentPage === 'charts') chartsPage.refresh();
  });

  // Redraw the charts at their new width when the window is resized.
  if (typeof ResizeObserver === 'function') {
    let pending = false;
    new ResizeObserver(() => {
      if (pending) return;
      pending = true;
      requestAnimationFrame(() => {
        pending = false;
        chartsPage.draw();
      });
    }).observe($('chart-requests'));
  }

  // ---------------------------------------------------------------------------------------------
  // Router: #routes, #authorizers, #functions, #live, #explain, #charts.
  // A fragment may carry the admin token once: `#token=XYZ` or `#live&token=XYZ`. It is moved to
  // sessionStorage and removed from the address bar (and so from history).

  const pages = {
    routes: routesPage,
    authorizers: authorizersPage,
    functions: functionsPage,
    live: livePage,
    explain: explainPage,
    charts: chartsPage,
  };
  const DEFAULT_PAGE = 'routes';
  let currentPage = null;

  function takeTokenFromFragment() {
    const frag = location.hash.replace(/^#/, '');
    if (!/(^|&)token=/.test(frag)) return;
    let page = '';
    for (const part of frag.split('&')) {
      if (part.startsWith('token=')) {
        let token = part.slice(6);
        try { token = decodeURIComponent(token); } catch { /* keep it as is */ }
        if (token) setToken(token);
      } else if (part && !page) page = part;
    }
    history.replaceState(null, '', `${location.pathname}${location.search}#${pages[page] ? page : DEFAULT_PAGE}`);
  }

  function navigate() {
    takeTokenFromFragment();
    let name = location.hash.replace(/^#/, '');
    if (!pages[name]) {
      name = DEFAULT_PAGE;
      history.replaceState(null, '', `${location.pathname}${location.search}#${name}`);
    }
    if (name === currentPage) return;
    if (currentPage) pages[currentPage].leave();
    currentPage = name;
    for (const section of document.querySelectorAll('section.page')) section.hidden = section.dataset.page !== name;
    for (const a of document.querySelectorAll('#tabs a')) {
      if (a.dataset.page === name) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    document.body.dataset.page = name;
    document.title = `${$(`page-${name}`).querySelector('h1').textContent} · Portcullis`;
    pages[name].enter();
  }

  window.addEventListener('hashchange', navigate);
  navigate();
  refreshStatus();
})();
