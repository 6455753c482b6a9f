// The redirector's console: plain JavaScript over the admin API (/api/links).
//
// Rules kept throughout: every value that came from the server or the person is put on the page
// with textContent, Element.append(string) or setAttribute, never parsed as markup; the admin token
// lives in sessionStorage and travels only in the Authorization header, never in a URL; errors
// are told in words, never as raw JSON.
'use strict';

(() => {
  const TOKEN_KEY = 'redirector.adminToken';
  const PAGE_SIZE = 50;
  const MAX_URLS = 100;
  const PARALLEL = 4;
  const SVG_NS = 'http://www.w3.org/2000/svg';

  const $ = (id) => document.getElementById(id);

  // el builds an element. Attributes are set with setAttribute, text with textContent, and
  // string children become text nodes: nothing is parsed as HTML.
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k === 'dataset') Object.assign(e.dataset, v);
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children) {
      if (c !== null && c !== undefined && c !== false) e.append(c);
    }
    return e;
  }

  // What pages.js (the bio page editor, loaded after this file) builds on.
  window.redirectorConsole = Object.freeze({ el, $, TOKEN_KEY });

  function svg(tag, attrs) {
    const e = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    return e;
  }

  // safeHref returns url when it is an http(s) URL, else null: a link is never javascript:.
  function safeHref(url) {
    try {
      const u = new URL(url, location.href);
      return u.protocol === 'https:' || u.protocol === 'http:' ? u.href : null;
    } catch {
      return null;
    }
  }

  // Ids are [A-Za-z0-9_-]; encodeURIComponent keeps a path safe whatever arrives.
  const idPath = (id) => '/' + encodeURIComponent(id);
  const qrPNG = (id, size) => idPath(id) + '/qr.png?size=' + size;
  const qrSVG = (id) => idPath(id) + '/qr.svg';

  const plural = (n, one, many) => n.toLocaleString() + ' ' + (n === 1 ? one : many);

  // productLabel names a target page in a few words: "Product 1005… · aliexpress.com".
  function productLabel(target) {
    let u;
    try {
      u = new URL(target);
    } catch {
      return target;
    }
    const host = u.hostname.replace(/^www\./, '');
    let m = u.pathname.match(/^\/(?:item|i)\/(\d+)(?:\.html)?$/);
    if (m) return 'Product ' + m[1] + ' · ' + host;
    m = u.pathname.match(/^\/store\/(\d+)/);
    if (m) return 'Store ' + m[1] + ' · ' + host;
    return host + u.pathname + u.search;
  }

  function formatDate(iso) {
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return '';
    return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
  }

  function shortDay(date) {
    const d = new Date(date + 'T00:00:00Z');
    if (Number.isNaN(d.getTime())) return date;
    return d.toLocaleDateString(undefined, { month: 'short', day: 'numeric', timeZone: 'UTC' });
  }

  // sentence ends a server's short reason (written to follow a colon) with a full stop.
  function sentence(s) {
    s = String(s).trim();
    if (!s) return '';
    return /[.!?]$/.test(s) ? s : s + '.';
  }

  // describe turns an API answer into words for a person. what names the action for 404/409.
  function describe(status, detail, what) {
    switch (true) {
      case status === 0:
        return 'Could not reach the redirector. Check the connection and try again.';
      case status === 400:
        return detail ? 'Not accepted: ' + sentence(detail) : 'The redirector did not accept that.';
      case status === 401:
        return 'The admin token was not accepted. Enter it again.';
      case status === 403:
        return 'The admin API is turned off on this redirector: it must be started with ADMIN_TOKEN set.';
      case status === 404:
        return what === 'link' || !what
          ? 'That link does not exist any more: it may have been deleted.'
          : 'Not found.';
      case status === 409:
        return 'That custom name is already taken: choose another one.';
      case status === 413:
        return 'That is too much at once: send fewer or shorter URLs.';
      case status === 429:
        return 'Too many wrong tokens were tried from here. Wait a minute, then try again.';
      case status === 503:
        return "The redirector's store is not answering. Try again in a moment.";
      case status >= 500:
        return 'The redirector ran into a problem (error ' + status + '). Try again in a moment.';
      default:
        return 'The redirector gave an unexpected answer (status ' + status + ').';
    }
  }

  class APIError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  // api calls the admin API and returns {status, data}; it throws an APIError whose message is
  // a sentence. A 401 also sends the person back to the sign-in form.
  async function api(method, path, body) {
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (!token) {
      askToken('');
      throw new APIError(401, 'Sign in with the admin token first.');
    }
    const init = {
      method,
      headers: { Authorization: 'Bearer ' + token, Accept: 'application/json' },
      cache: 'no-store',
      credentials: 'omit',
      redirect: 'error',
    };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch {
      throw new APIError(0, describe(0));
    }
    if (res.status === 204) return { status: 204, data: null };
    let data = null;
    try {
      data = await res.json();
    } catch {
      data = null;
    }
    if (!res.ok) {
      const detail = data && typeof data.error === 'string' ? data.error : '';
      if (res.status === 401) askToken(describe(401));
      throw new APIError(res.status, describe(res.status, detail));
    }
    if (data === null || typeof data !== 'object') {
      throw new APIError(res.status, 'The redirector sent an answer this console cannot read. Try again.');
    }
    return { status: res.status, data };
  }

  // ---- status line ----

  let statusTimer = 0;
  function showStatus(message, kind) {
    const s = $('status');
    clearTimeout(statusTimer);
    s.textContent = message;
    s.className = 'notice ' + (kind || 'info');
    s.hidden = false;
    if (kind === 'ok') statusTimer = setTimeout(() => { s.hidden = true; }, 6000);
  }
  // report shows an APIError; a 401 has already sent the person to the sign-in form.
  function report(e) {
    if (e.status !== 401) showStatus(e.message, 'error');
  }
  function clearStatus() {
    clearTimeout(statusTimer);
    $('status').hidden = true;
  }

  // ---- copying ----

  async function copyText(text, button) {
    let ok = false;
    try {
      if (navigator.clipboard && window.isSecureContext) {
        await navigator.clipboard.writeText(text);
        ok = true;
      }
    } catch {
      ok = false;
    }
    if (!ok) {
      const ta = el('textarea', { class: 'offscreen', readonly: true, 'aria-hidden': 'true' });
      ta.value = text;
      document.body.append(ta);
      ta.select();
      try {
        ok = document.execCommand('copy');
      } catch {
        ok = false;
      }
      ta.remove();
    }
    const label = button.dataset.label || button.textContent;
    button.dataset.label = label;
    button.textContent = ok ? 'Copied' : 'Select and copy by hand';
    button.classList.toggle('copied', ok);
    setTimeout(() => {
      button.textContent = label;
      button.classList.remove('copied');
    }, 1800);
  }

  function copyButton(text, label) {
    return el('button', {
      type: 'button',
      class: 'copy',
      text: label || 'Copy',
      title: 'Copy ' + text,
      onclick: (ev) => copyText(text, ev.currentTarget),
    });
  }

  function shortLink(link) {
    const href = safeHref(link.short_url);
    // Shown without its scheme, as people write it; the link and the copy keep all of it.
    const shown = String(link.short_url).replace(/^https?:\/\//, '');
    return el('a', { class: 'short', href, target: '_blank', rel: 'noopener noreferrer', title: link.short_url, text: shown });
  }

  function targetLink(target) {
    return el('a', {
      class: 'target',
      href: safeHref(target),
      target: '_blank',
      rel: 'noopener noreferrer',
      title: target,
      text: productLabel(target),
    });
  }

  // retryQR asks again, a few times and a little later each time, for a QR code that did not load:
  // the server renders only a few codes at once and answers 503 (Retry-After: 1) past that. The
  // retries of a page of codes are spread over a second or more, so they do not collide again.
  function retryQR(e) {
    const img = e.target;
    const tries = Number(img.dataset.tries || 0) + 1;
    if (tries > 5) return;
    img.dataset.tries = String(tries);
    const delay = 1000 * tries * (0.5 + Math.random());
    setTimeout(() => { img.src = qrPNG(img.dataset.id, 256) + '&retry=' + tries; }, delay);
  }

  function qrBlock(id, size) {
    return el('div', { class: 'qr' },
      el('img', {
        class: 'qr-img',
        src: qrPNG(id, 256),
        alt: 'QR code of the short link ' + id,
        width: size,
        height: size,
        loading: 'lazy',
        dataset: { id },
        onerror: retryQR,
      }),
      el('div', { class: 'downloads' },
        el('a', { href: qrPNG(id, 1024), download: id + '-qr.png', class: 'dl dl-png', title: 'Download the QR code as a 1024-pixel PNG', text: 'PNG' }),
        el('a', { href: qrSVG(id), download: id + '-qr.svg', class: 'dl dl-svg', title: 'Download the QR code as SVG, for print', text: 'SVG' })));
  }

  // ---- sign in ----

  function askToken(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    $('app').hidden = true;
    $('foot').hidden = true;
    $('signout').hidden = true;
    $('login').hidden = false;
    const err = $('login-error');
    err.textContent = message || '';
    err.hidden = !message;
    clearStatus();
    $('token').value = '';
    $('token').focus();
  }

  function showApp() {
    $('login').hidden = true;
    $('app').hidden = false;
    $('foot').hidden = false;
    $('signout').hidden = false;
  }

  async function onLogin(ev) {
    ev.preventDefault();
    const token = $('token').value.trim();
    const err = $('login-error');
    if (!token) {
      err.textContent = 'Enter the admin token.';
      err.hidden = false;
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, token);
    const button = ev.submitter || $('login-form').querySelector('button');
    button.disabled = true;
    try {
      await loadLinks(true);
      showApp();
      $('urls').focus();
    } catch (e) {
      if (e.status !== 401) {
        sessionStorage.removeItem(TOKEN_KEY);
        err.textContent = e.message;
        err.hidden = false;
      }
    } finally {
      button.disabled = false;
    }
  }

  function onSignOut() {
    sessionStorage.removeItem(TOKEN_KEY);
    state.links.clear();
    state.cursor = '';
    $('links').replaceChildren();
    $('results').replaceChildren();
    $('urls').value = '';
    askToken('');
  }

  // ---- shortening ----

  // pool runs fn over items, at most n at a time.
  async function pool(items, n, fn) {
    let next = 0;
    const worker = async () => {
      while (next < items.length) {
        const item = items[next++];
        await fn(item);
      }
    };
    await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  }

  function resultPending(url) {
    return el('li', { class: 'result pending' },
      el('div', { class: 'result-info' },
        el('div', { class: 'muted', text: 'Shortening…' }),
        el('div', { class: 'given', text: url })));
  }

  function resultError(url, message) {
    return el('li', { class: 'result failed' },
      el('div', { class: 'result-info' },
        el('div', { class: 'given', text: url }),
        el('p', { class: 'field-error', role: 'alert', text: message })));
  }

  function resultCard(link, isNew) {
    return el('li', { class: 'result', dataset: { id: link.id } },
      qrBlock(link.id, 112),
      el('div', { class: 'result-info' },
        el('div', { class: 'short-row' },
          shortLink(link),
          copyButton(link.short_url),
          el('span', { class: isNew ? 'badge new' : 'badge', text: isNew ? 'New' : 'Already had one' })),
        el('div', { class: 'muted' }, 'Leads to ', targetLink(link.target))));
  }

  async function onShorten(ev) {
    ev.preventDefault();
    clearStatus();
    const seen = new Set();
    const urls = $('urls').value.split(/\r?\n/)
      .map((s) => s.trim())
      .filter((s) => s && !seen.has(s) && seen.add(s));
    const slug = $('slug').value.trim();
    if (urls.length === 0) {
      showStatus('Paste at least one AliExpress URL.', 'error');
      return;
    }
    if (urls.length > MAX_URLS) {
      showStatus('Paste at most ' + MAX_URLS + ' URLs at a time.', 'error');
      return;
    }
    if (slug && urls.length > 1) {
      showStatus('A custom name goes with one URL: paste a single URL or clear the name.', 'error');
      return;
    }
    const button = $('shorten');
    button.disabled = true;
    button.textContent = 'Shortening…';
    const results = $('results');
    results.replaceChildren();
    const jobs = urls.map((url) => {
      const li = resultPending(url);
      results.append(li);
      return { url, li, ok: false };
    });
    await pool(jobs, PARALLEL, async (job) => {
      try {
        const { status, data } = await api('POST', '/api/links', slug ? { url: job.url, slug } : { url: job.url });
        job.li.replaceWith(resultCard(data, status === 201));
        job.ok = true;
      } catch (e) {
        job.li.replaceWith(resultError(job.url, e.message));
      }
    });
    button.disabled = false;
    button.textContent = 'Shorten';
    const failed = jobs.filter((j) => !j.ok);
    const done = jobs.length - failed.length;
    // What failed stays in the box, to be fixed and sent again.
    $('urls').value = failed.map((j) => j.url).join('\n');
    if (failed.length === 0) $('slug').value = '';
    if (done > 1) {
      const shorts = [...results.querySelectorAll('.result .short')].map((a) => a.title);
      results.append(el('li', { class: 'result-all' }, copyButton(shorts.join('\n'), 'Copy all ' + shorts.length + ' short links')));
    }
    if (failed.length && done) {
      showStatus(plural(done, 'link', 'links') + ' shortened; ' + failed.length + ' could not be: see below.', 'error');
    } else if (failed.length) {
      showStatus(failed.length === 1 ? 'That URL could not be shortened: see below.' : 'None of the URLs could be shortened: see below.', 'error');
    } else {
      showStatus(done === 1 ? 'Short link ready.' : plural(done, 'short link', 'short links') + ' ready.', 'ok');
    }
    if (done && sessionStorage.getItem(TOKEN_KEY)) {
      loadLinks(true).catch(report);
    }
  }

  // ---- the list of links ----

  const state = {
    links: new Map(), // id → link, in the order loaded
    cursor: '',
  };

  function countText(n, one, many) {
    return typeof n === 'number' ? plural(n, one, many) : '–';
  }

  function linkRow(link) {
    const details = el('div', { class: 'details', hidden: true });
    const toggle = el('button', {
      type: 'button',
      class: 'ghost toggle',
      text: 'Details',
      'aria-expanded': 'false',
    });
    const li = el('li', { class: 'link', dataset: { id: link.id } },
      el('div', { class: 'link-main' },
        el('div', { class: 'link-what' },
          el('div', { class: 'short-row' }, shortLink(link), copyButton(link.short_url)),
          el('div', { class: 'muted small' }, targetLink(link.target), ' · created ', formatDate(link.created_at))),
        el('div', { class: 'counts' },
          el('span', { class: 'count clicks', text: countText(link.clicks, 'click', 'clicks') }),
          el('span', { class: 'count scans', text: countText(link.scans, 'scan', 'scans') }),
          healthBadge(link)),
        toggle),
      details);
    toggle.addEventListener('click', () => {
      const open = details.hidden;
      details.hidden = !open;
      toggle.setAttribute('aria-expanded', String(open));
      toggle.textContent = open ? 'Close' : 'Details';
      if (open) openDetails(li, details);
    });
    return li;
  }

  // healthBadge shows the link's health state (see docs/links.md#link-health); nothing before it is known.
  const HEALTH_TITLES = {
    ok: 'Earning: a current affiliate link',
    untagged: 'Not promotable: clicks earn no commission',
    gone: 'Product gone: clicks go to the plan B, the store or a search',
    unknown: 'Not checked yet',
    page: 'Not a product page: only tagging is checked',
  };
  function healthBadge(link) {
    const st = link.health && link.health.state;
    if (!st || !Object.prototype.hasOwnProperty.call(HEALTH_TITLES, st)) return null;
    return el('span', { class: 'count health health-' + st, text: st, title: HEALTH_TITLES[st] });
  }

  function updateRow(li, link) {
    state.links.set(link.id, Object.assign(state.links.get(link.id) || {}, link));
    const cur = state.links.get(link.id);
    li.querySelector('.count.clicks').textContent = countText(cur.clicks, 'click', 'clicks');
    li.querySelector('.count.scans').textContent = countText(cur.scans, 'scan', 'scans');
    li.querySelector('.link-what .target').replaceWith(targetLink(cur.target));
  }

  async function loadLinks(reset) {
    const q = new URLSearchParams({ limit: String(PAGE_SIZE) });
    if (!reset && state.cursor) q.set('cursor', state.cursor);
    const health = $('health-filter').value;
    if (health) q.set('health', health);
    const more = $('more');
    more.disabled = true;
    try {
      const { data } = await api('GET', '/api/links?' + q.toString());
      const list = $('links');
      if (reset) {
        state.links.clear();
        list.replaceChildren();
      }
      for (const link of Array.isArray(data.links) ? data.links : []) {
        if (state.links.has(link.id)) continue;
        state.links.set(link.id, link);
        list.append(linkRow(link));
      }
      state.cursor = typeof data.next_cursor === 'string' ? data.next_cursor : '';
      more.hidden = !state.cursor;
      applyFilter();
    } finally {
      more.disabled = false;
    }
  }

  function applyFilter() {
    const q = $('search').value.trim().toLowerCase();
    let shown = 0;
    for (const li of $('links').children) {
      const link = state.links.get(li.dataset.id);
      const hay = link ? (link.id + ' ' + link.target + ' ' + productLabel(link.target)).toLowerCase() : '';
      const match = !q || hay.includes(q);
      li.hidden = !match;
      if (match) shown++;
    }
    $('links-empty').hidden = state.links.size !== 0;
    $('links-nomatch').hidden = !(q && state.links.size && shown === 0);
  }

  // chart draws the daily counts as bars: a bar's height is its clicks, its dark part the scans.
  // The bars are an SVG stretched to the width of the card; the labels are HTML beside it, so
  // that no text is ever stretched with it.
  function chart(daily) {
    const W = 300, H = 100;
    const n = Math.max(daily.length, 1);
    const step = W / n;
    const barW = Math.max(step * 0.7, 0.5);
    const max = Math.max(1, ...daily.map((d) => Number(d.clicks) || 0));
    const total = daily.reduce((a, d) => a + (Number(d.clicks) || 0), 0);
    const root = svg('svg', {
      class: 'chart',
      viewBox: '0 0 ' + W + ' ' + H,
      preserveAspectRatio: 'none',
      role: 'img',
      'aria-label': 'Clicks per day over the last ' + daily.length + ' days: ' + total + ' in all',
    });
    for (const y of [0, H / 2]) {
      root.append(svg('line', { class: 'grid', x1: 0, x2: W, y1: y + 0.5, y2: y + 0.5, 'vector-effect': 'non-scaling-stroke' }));
    }
    daily.forEach((d, i) => {
      const clicks = Number(d.clicks) || 0;
      const scans = Math.min(Number(d.scans) || 0, clicks);
      const x = i * step + (step - barW) / 2;
      const g = svg('g', { class: 'day' });
      const tip = svg('title');
      tip.textContent = shortDay(d.date) + ': ' + plural(clicks, 'click', 'clicks') + ', ' + plural(scans, 'scan', 'scans');
      g.append(tip);
      // A transparent full-height hit area makes the tooltip easy to reach on empty days.
      g.append(svg('rect', { class: 'hit', x: i * step, y: 0, width: step, height: H }));
      const hc = (clicks / max) * H;
      const hs = (scans / max) * H;
      if (clicks > 0) g.append(svg('rect', { class: 'bar-clicks', x, y: H - hc, width: barW, height: hc }));
      if (scans > 0) g.append(svg('rect', { class: 'bar-scans', x, y: H - hs, width: barW, height: hs }));
      root.append(g);
    });
    root.append(svg('line', { class: 'axis', x1: 0, x2: W, y1: H, y2: H, 'vector-effect': 'non-scaling-stroke' }));
    return el('figure', { class: 'chart-box' },
      el('div', { class: 'chart-max small muted', text: plural(max, 'click', 'clicks') + ' a day at most' }),
      root,
      el('div', { class: 'chart-days small muted' },
        el('span', { text: daily.length ? shortDay(daily[0].date) : '' }),
        el('span', { text: daily.length ? shortDay(daily[daily.length - 1].date) : '' })));
  }

  // confirmBar asks before a lasting change: the action runs on the second, explicit click.
  function confirmBar(question, yesLabel, danger, onYes) {
    const bar = el('div', { class: 'confirm', role: 'alertdialog', 'aria-label': question });
    const yes = el('button', { type: 'button', class: danger ? 'danger yes' : 'primary yes', text: yesLabel });
    const no = el('button', { type: 'button', class: 'ghost no', text: 'Cancel' });
    bar.append(el('p', { text: question }), el('div', { class: 'row tight' }, yes, no));
    no.addEventListener('click', () => bar.remove());
    yes.addEventListener('click', async () => {
      yes.disabled = true;
      no.disabled = true;
      try {
        await onYes();
      } finally {
        bar.remove();
      }
    });
    setTimeout(() => no.focus(), 0);
    return bar;
  }

  // money formats cents of a currency ("mixed": several currencies, summed as they are).
  function money(cents, currency) {
    const v = (Number(cents) || 0) / 100;
    return v.toFixed(2) + (currency && currency !== 'mixed' ? ' ' + currency : '');
  }

  // earningsBlock shows what a link earned from the synced orders, and its channel.
  function earningsBlock(link) {
    const e = link.earnings;
    const box = el('div', { class: 'earnings' }, el('h3', { text: 'Earnings' }));
    if (link.channel) box.append(el('p', { class: 'small muted', text: 'Channel: ' + link.channel }));
    if (!e) {
      box.append(el('p', { class: 'small muted', text: 'Orders are not synced on this server.' }));
      return box;
    }
    box.append(
      el('p', { class: 'small earnings-line', text: plural(Number(e.orders) || 0, 'order', 'orders') + ', ' +
        plural(Number(e.items) || 0, 'item', 'items') + ', ' + money(e.sales, e.currency) + ' in sales' }),
      el('p', { class: 'small earnings-commission', text: money(e.estimated_commission, e.currency) + ' commission expected, ' +
        money(e.settled_commission, e.currency) + ' settled' }),
      el('p', { class: 'small muted', text: ((Number(e.conversion) || 0) * 100).toFixed(2) + '% of clicks ordered; ' +
        money(e.commission_per_click, e.currency) + ' per click' }));
    return box;
  }

  async function openDetails(li, details) {
    const id = li.dataset.id;
    details.replaceChildren(el('p', { class: 'muted', text: 'Loading…' }));
    let link;
    try {
      ({ data: link } = await api('GET', '/api/links/' + encodeURIComponent(id)));
    } catch (e) {
      details.replaceChildren(el('p', { class: 'field-error', role: 'alert', text: e.message }));
      return;
    }
    updateRow(li, link);
    const daily = Array.isArray(link.daily) ? link.daily : [];
    const sum = (k) => daily.reduce((a, d) => a + (Number(d[k]) || 0), 0);
    const msg = el('p', { class: 'msg', role: 'status', hidden: true });
    const say = (text, kind) => {
      msg.textContent = text;
      msg.className = 'msg ' + kind;
      msg.hidden = false;
    };

    const input = el('input', {
      type: 'text',
      class: 'retarget-url',
      inputmode: 'url',
      spellcheck: 'false',
      'aria-label': 'New AliExpress URL for ' + id,
    });
    input.value = link.target;
    const actions = el('div', { class: 'actions' });
    const retargetForm = el('form', { class: 'retarget', autocomplete: 'off' },
      el('label', { text: 'Point this link to another AliExpress page' }),
      el('div', { class: 'row tight' }, input,
        el('button', { type: 'submit', class: 'retarget-btn', text: 'Retarget' })));
    retargetForm.querySelector('label').htmlFor = 'rt-' + id;
    input.id = 'rt-' + id;
    retargetForm.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const url = input.value.trim();
      if (!url) {
        say('Enter the AliExpress URL this link should lead to.', 'error');
        return;
      }
      actions.querySelector('.confirm')?.remove();
      actions.append(confirmBar(
        'Point ' + link.short_url + ' to ' + url + '? Everyone who follows it or scans its QR code will land there.',
        'Yes, retarget', false,
        async () => {
          try {
            const { data } = await api('PATCH', '/api/links/' + encodeURIComponent(id), { url });
            updateRow(li, data);
            input.value = data.target;
            say('Done: it now leads to ' + data.target + '.', 'ok');
          } catch (e) {
            say(e.message, 'error');
          }
        }));
    });

    const del = el('button', { type: 'button', class: 'danger delete-btn', text: 'Delete' });
    del.addEventListener('click', () => {
      actions.querySelector('.confirm')?.remove();
      actions.append(confirmBar(
        'Delete ' + link.short_url + '? Anyone who follows it or scans its printed QR code will get “not found”. This cannot be undone.',
        'Yes, delete', true,
        async () => {
          try {
            await api('DELETE', '/api/links/' + encodeURIComponent(id));
            state.links.delete(id);
            li.remove();
            applyFilter();
            showStatus('Deleted ' + link.short_url + '.', 'ok');
          } catch (e) {
            say(e.message, 'error');
          }
        }));
    });

    // The plan B: where clicks go while the product is gone (and, if ticked, while it earns nothing).
    const fbInput = el('input', {
      type: 'text', class: 'fallback-url', inputmode: 'url', spellcheck: 'false', id: 'fb-' + id,
      placeholder: 'none: the store or search page', 'aria-label': 'Plan B AliExpress URL for ' + id,
    });
    fbInput.value = link.fallback_url || '';
    const fbUntagged = el('input', { type: 'checkbox', class: 'fallback-untagged', id: 'fbw-' + id });
    fbUntagged.checked = link.fallback_when === 'untagged';
    const fallbackForm = el('form', { class: 'retarget fallback', autocomplete: 'off' },
      el('label', { for: 'fb-' + id, text: 'Plan B: where clicks go if this product disappears' }),
      el('div', { class: 'row tight' }, fbInput,
        el('button', { type: 'submit', class: 'fallback-btn', text: 'Save plan B' })),
      el('label', { for: 'fbw-' + id }, fbUntagged, ' also while it earns no commission'));
    fallbackForm.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const fallback_url = fbInput.value.trim();
      try {
        const { data } = await api('PATCH', '/api/links/' + encodeURIComponent(id),
          { fallback_url, fallback_when: fallback_url && fbUntagged.checked ? 'untagged' : '' });
        updateRow(li, data);
        fbInput.value = data.fallback_url || '';
        fbUntagged.checked = data.fallback_when === 'untagged';
        say(data.fallback_url ? 'Plan B saved: ' + data.fallback_url + '.' : 'Plan B cleared.', 'ok');
      } catch (e) {
        say(e.message, 'error');
      }
    });

    actions.prepend(retargetForm, fallbackForm, el('div', { class: 'row tight' }, del));
    details.replaceChildren(
      el('div', { class: 'detail-grid' },
        el('div', { class: 'stats' },
          el('h3', { text: 'Last 30 days' }),
          chart(daily),
          el('p', { class: 'legend small' },
            el('span', { class: 'entry' }, el('span', { class: 'key key-clicks' }), plural(sum('clicks'), 'click', 'clicks')),
            el('span', { class: 'entry' }, el('span', { class: 'key key-scans' }), sum('scans').toLocaleString() + ' of them by QR scan')),
          earningsBlock(link)),
        el('div', { class: 'qr-col' }, el('h3', { text: 'QR code' }), qrBlock(id, 160))),
      actions,
      msg);
  }

  // ---- start ----

  function start() {
    $('login-form').addEventListener('submit', onLogin);
    $('signout').addEventListener('click', onSignOut);
    $('shorten-form').addEventListener('submit', onShorten);
    $('search').addEventListener('input', applyFilter);
    $('health-filter').addEventListener('change', () => {
      loadLinks(true).catch(report);
    });
    $('refresh').addEventListener('click', () => {
      loadLinks(true).then(() => showStatus('Links refreshed.', 'ok'), report);
    });
    $('more').addEventListener('click', () => {
      loadLinks(false).catch(report);
    });
    if (!sessionStorage.getItem(TOKEN_KEY)) {
      askToken('');
      return;
    }
    showApp();
    loadLinks(true).catch(report);
  }

  start();
})();
