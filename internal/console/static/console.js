// The redirector's console: plain JavaScript over the admin API (/api/links).
//
// Rules kept throughout: every value that came from the server or the person is put on the page
// with textContent, Element.append(string) or setAttribute, never parsed as markup; the admin token
// lives in sessionStorage (and in localStorage only when the person asks to be remembered on this
// device) and travels only in the Authorization header, never in a URL; errors are told in words,
// never as raw JSON.
'use strict';

(() => {
  const TOKEN_KEY = 'redirector.adminToken';
  const PAGE_SIZE = 50;
  const MAX_URLS = 100;
  const PARALLEL = 4;
  const SEARCH_DELAY = 250; // ms of quiet typing before the search is sent
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

  // send makes one call of the admin API: token as the bearer, body (if any) as JSON, and neither
  // the HTTP cache, cookies nor redirects.
  function send(token, method, path, body, accept) {
    const init = { method, headers: { Authorization: 'Bearer ' + token, Accept: accept || 'application/json' }, cache: 'no-store', credentials: 'omit', redirect: 'error' };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    return fetch(path, init);
  }

  // jsonAPI makes the JSON API caller of a section of the console (pages.js, keys.js): it sends
  // the tab's token as the bearer, answers null for 204, the parsed body otherwise, and throws an
  // Error in the section's words (describe(status, the server's reason)); status 0: not reached.
  function jsonAPI(describe) {
    return async function call(method, path, body) {
      let res;
      try {
        res = await send(sessionStorage.getItem(TOKEN_KEY) || '', method, path, body);
      } catch {
        throw new Error(describe(0));
      }
      if (res.status === 204) return null;
      let data = null;
      try { data = await res.json(); } catch { data = null; }
      if (!res.ok) throw new Error(describe(res.status, data && typeof data.error === 'string' ? data.error : ''));
      return data;
    };
  }

  // What pages.js (the bio page editor) and keys.js (API keys), loaded after this file, build on.
  window.redirectorConsole = Object.freeze({ el, $, TOKEN_KEY, jsonAPI });

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

  // imageSrc returns url when it is an https image on AliExpress's image hosts (the only ones the
  // console's Content-Security-Policy lets it show), else null.
  function imageSrc(url) {
    try {
      const u = new URL(url);
      const h = u.hostname;
      return u.protocol === 'https:' && (h.endsWith('.alicdn.com') || h.endsWith('.aliexpress-media.com')) ? u.href : null;
    } catch {
      return null;
    }
  }

  // Ids are [A-Za-z0-9_-]; encodeURIComponent keeps a path safe whatever arrives.
  const idPath = (id) => '/' + encodeURIComponent(id);
  const apiLink = (id) => '/api/links/' + encodeURIComponent(id);
  const qrPNG = (id, size) => idPath(id) + '/qr.png?size=' + size;
  const qrSVG = (id) => idPath(id) + '/qr.svg';
  const qrPDF = (id, mm, title) => idPath(id) + '/qr.pdf?size_mm=' + mm + (title ? '&title=1' : '');

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

  function productID(target) {
    try {
      const m = new URL(target).pathname.match(/^\/(?:item|i)\/(\d+)(?:\.html)?$/);
      return m ? m[1] : '';
    } catch {
      return '';
    }
  }

  // isProductCode tells whether id is the product code of target's product (the product id in
  // base 62, padded to 8 digits, then a check character): such a link comes back when the product is
  // shortened again, and resolves from its id alone when no record says otherwise.
  function isProductCode(id, target) {
    const pid = productID(target);
    if (!pid || !/^[0-9A-Za-z]{9,12}$/.test(id)) return false;
    const digits = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
    let n = BigInt(pid);
    let s = '';
    while (n > 0n) {
      s = digits[Number(n % 62n)] + s;
      n /= 62n;
    }
    return id.slice(0, -1) === s.padStart(8, '0');
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

  // utcDay is the "2006-01-02" of the UTC day daysAgo days before today.
  function utcDay(daysAgo) {
    const d = new Date();
    d.setUTCDate(d.getUTCDate() - daysAgo);
    return d.toISOString().slice(0, 10);
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
        return detail ? 'Not allowed: ' + sentence(detail)
          : 'The admin API is turned off on this redirector: it must be started with ADMIN_TOKEN set.';
      case status === 404:
        return what === 'link' || !what
          ? 'That link does not exist any more: it may have been deleted.'
          : 'This redirector cannot do that yet: ' + what + ' is not available on it.';
      case status === 409:
        return detail && !/slug|taken/i.test(detail) ? sentence(detail.charAt(0).toUpperCase() + detail.slice(1))
          : 'That custom name is already taken: choose another one.';
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

  // ---- the token ----

  // token is the admin token of this tab. One remembered on this device (localStorage) is copied
  // into the tab's sessionStorage at start, where pages.js (and other parts) read it.
  const token = () => sessionStorage.getItem(TOKEN_KEY) || '';
  function saveToken(t, remember) {
    sessionStorage.setItem(TOKEN_KEY, t);
    if (remember) localStorage.setItem(TOKEN_KEY, t);
    else localStorage.removeItem(TOKEN_KEY);
  }
  function forgetToken() {
    sessionStorage.removeItem(TOKEN_KEY);
    localStorage.removeItem(TOKEN_KEY);
  }

  // request calls the admin API and returns the Response of a 2xx answer; it throws an APIError
  // whose message is a sentence. A 401 also sends the person back to the sign-in form.
  async function request(method, path, body, accept, what) {
    const t = token();
    if (!t) {
      askToken('');
      throw new APIError(401, 'Sign in with the admin token first.');
    }
    let res;
    try {
      res = await send(t, method, path, body, accept);
    } catch {
      throw new APIError(0, describe(0));
    }
    if (!res.ok) {
      let data = null;
      try {
        data = await res.json();
      } catch {
        data = null;
      }
      const detail = data && typeof data.error === 'string' ? data.error : '';
      if (res.status === 401) askToken(describe(401));
      throw new APIError(res.status, describe(res.status, detail, what));
    }
    return res;
  }

  // api calls the admin API for JSON and returns {status, data}.
  async function api(method, path, body) {
    const res = await request(method, path, body);
    if (res.status === 204) return { status: 204, data: null };
    let data = null;
    try {
      data = await res.json();
    } catch {
      data = null;
    }
    if (data === null || typeof data !== 'object') {
      throw new APIError(res.status, 'The redirector sent an answer this console cannot read. Try again.');
    }
    return { status: res.status, data };
  }

  // download fetches a file from the admin API (with the token, so not through a plain link) and
  // hands it to the browser as a download named name.
  async function download(method, path, body, name, what) {
    const res = await request(method, path, body, '*/*', what);
    const blob = await res.blob();
    const url = URL.createObjectURL(blob);
    const a = el('a', { href: url, download: name, class: 'offscreen' });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
    // What was last handed over, and its size: the browser test reads it (a headless browser shows no download).
    $('status').dataset.lastDownload = name + ' ' + blob.size;
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
      const ta = el('textarea', { class: 'offscreen', readonly: true, 'aria-hidden': 'true', tabindex: '-1' });
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

  function copyButton(text, label, name) {
    return el('button', {
      type: 'button',
      class: 'copy',
      text: label || 'Copy',
      'aria-label': name || 'Copy ' + text,
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
    forgetToken();
    $('app').hidden = true;
    $('foot').hidden = true;
    $('signout').hidden = true;
    $('nav').hidden = true;
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
    $('nav').hidden = false;
  }

  async function onLogin(ev) {
    ev.preventDefault();
    const t = $('token').value.trim();
    const err = $('login-error');
    if (!t) {
      err.textContent = 'Enter the admin token.';
      err.hidden = false;
      return;
    }
    saveToken(t, $('remember').checked);
    const button = ev.submitter || $('login-form').querySelector('button');
    button.disabled = true;
    try {
      await loadLinks(true);
      showApp();
      $('urls').focus();
    } catch (e) {
      if (e.status !== 401) {
        forgetToken();
        err.textContent = e.message;
        err.hidden = false;
      }
    } finally {
      button.disabled = false;
    }
  }

  function onSignOut() {
    forgetToken();
    state.links.clear();
    state.selected.clear();
    state.cursor = '';
    $('links').replaceChildren();
    $('results').replaceChildren();
    $('urls').value = '';
    updateBulk();
    askToken('');
  }

  // ---- reading what was pasted ----

  const ALI_HOST = /(^|\.)aliexpress\.(com|us|ru)$/i;
  const KNOWN_SHOPS = [
    [/(^|\.)amazon\.[a-z.]+$|(^|\.)amzn\.(to|eu|asia)$|(^|\.)a\.co$/i, 'an Amazon link'],
    [/(^|\.)ebay\.[a-z.]+$/i, 'an eBay link'],
    [/(^|\.)temu\.com$/i, 'a Temu link'],
    [/(^|\.)shein\.com$/i, 'a Shein link'],
    [/(^|\.)alibaba\.com$/i, 'an Alibaba link (AliExpress is its shop for single items)'],
  ];

  // readPaste pulls every URL out of prose, markdown or an app's share text. It returns the
  // AliExpress URLs (in order, once each) and, for each other thing that looked like a link, a
  // sentence saying what to do. A text without any link gives one problem: paste the link itself.
  function readPaste(text) {
    const found = [];
    const seen = new Set();
    const problems = [];
    // Markdown's [title](url) and <url> included: the URL ends at whitespace or a bracket.
    const re = /\b(?:https?:\/\/|www\.|(?:[a-z0-9-]+\.)*aliexpress\.(?:com|us|ru)\/)[^\s<>"'()[\]{}]+/gi;
    for (const m of text.matchAll(re)) {
      // Trailing punctuation from a sentence is not part of the URL.
      let raw = m[0].replace(/[.,;:!?…'"»”’。，、！？]+$/u, '');
      const href = /^https?:\/\//i.test(raw) ? raw : 'https://' + raw;
      let u;
      try {
        u = new URL(href);
      } catch {
        problems.push({ url: raw, message: 'Not a link: paste the link itself, as the address bar shows it.' });
        continue;
      }
      if (ALI_HOST.test(u.hostname)) {
        if (!seen.has(u.href)) {
          seen.add(u.href);
          found.push(raw === href ? raw : href);
        }
        continue;
      }
      const shop = KNOWN_SHOPS.find(([host]) => host.test(u.hostname));
      const what = shop ? 'this is ' + shop[1] : 'this is a link to ' + u.hostname.replace(/^www\./, '');
      problems.push({ url: raw, message: 'Not accepted: ' + what + '. Only AliExpress links can be shortened.' });
    }
    if (found.length === 0 && problems.length === 0 && text.trim()) {
      problems.push({
        url: text.trim().slice(0, 80),
        message: 'No link found in this text: paste the link itself (it starts with https://), or the whole share text from the AliExpress app.',
      });
    }
    return { urls: found, problems };
  }

  // checkSlug gives our own sentence for a custom name that cannot be one, or '' when it may be.
  function checkSlug(s) {
    if (!s) return '';
    if (/\s/.test(s)) return 'A custom name has no spaces: use - or _ between words, like summer-lamp.';
    if (s.length < 3 || s.length > 64) return 'A custom name is 3 to 64 characters long.';
    if (!/^[A-Za-z0-9_-]+$/.test(s)) return 'A custom name uses only letters a–z, digits, - and _ (no accents or other signs).';
    return '';
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
    return el('li', { class: 'result', dataset: { id: link.id, short: link.short_url } },
      qrBlock(link.id, 112),
      el('div', { class: 'result-info' },
        el('div', { class: 'short-row' },
          shortLink(link),
          copyButton(link.short_url),
          el('span', { class: isNew ? 'badge new' : 'badge', text: isNew ? 'New' : 'Already had one' })),
        el('div', { class: 'muted' }, 'Leads to ', targetLink(link.target))));
  }

  // updateCopyAll puts a "Copy all" under two or more results, of the short links still there.
  function updateCopyAll() {
    const results = $('results');
    results.querySelector('.result-all')?.remove();
    const shorts = [...results.querySelectorAll('.result[data-short]')].map((li) => li.dataset.short);
    if (shorts.length > 1) {
      results.append(el('li', { class: 'result-all' }, copyButton(shorts.join('\n'), 'Copy all ' + shorts.length + ' short links', 'Copy all ' + shorts.length + ' short links')));
    }
  }

  async function onShorten(ev) {
    ev.preventDefault();
    clearStatus();
    const { urls, problems } = readPaste($('urls').value);
    const slug = $('slug').value.trim();
    const slugError = checkSlug(slug);
    const slugMsg = $('slug-error');
    slugMsg.textContent = slugError;
    slugMsg.hidden = !slugError;
    $('slug').setAttribute('aria-invalid', String(!!slugError));
    if (slugError) {
      $('slug').focus();
      return;
    }
    if (urls.length === 0 && problems.length === 0) {
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
    for (const p of problems) results.append(resultError(p.url, p.message));
    const labels = parseLabels($('new-labels').value);
    await pool(jobs, PARALLEL, async (job) => {
      const body = { url: job.url };
      if (slug) body.slug = slug;
      if (labels.length) body.labels = labels;
      try {
        const { status, data } = await api('POST', '/api/links', body);
        job.li.replaceWith(resultCard(data, status === 201));
        job.ok = true;
      } catch (e) {
        job.li.replaceWith(resultError(job.url, e.message));
      }
    });
    button.disabled = false;
    button.textContent = 'Shorten';
    const failed = jobs.filter((j) => !j.ok).map((j) => j.url).concat(problems.map((p) => p.url));
    const done = jobs.length - jobs.filter((j) => !j.ok).length;
    // What failed stays in the box, to be fixed and sent again.
    $('urls').value = failed.join('\n');
    if (failed.length === 0) $('slug').value = '';
    updateCopyAll();
    if (failed.length && done) {
      showStatus(plural(done, 'link', 'links') + ' shortened; ' + failed.length + ' could not be: see below.', 'error');
    } else if (failed.length) {
      showStatus(failed.length === 1 ? 'That could not be shortened: see below.' : 'None of them could be shortened: see below.', 'error');
    } else {
      showStatus(done === 1 ? 'Short link ready.' : plural(done, 'short link', 'short links') + ' ready.', 'ok');
    }
    if (done && token()) {
      loadLinks(true).catch(report);
    }
  }

  // parseLabels reads "summer, tiktok" as ["summer", "tiktok"]: trimmed, once each.
  function parseLabels(s) {
    return [...new Set(String(s).split(',').map((x) => x.trim()).filter(Boolean))];
  }

  // ---- the list of links ----

  const state = {
    links: new Map(), // id → link, in the order shown
    selected: new Set(), // ids ticked for a bulk action
    cursor: '',
    total: null,
    seq: 0, // the number of the newest list request: an older answer that arrives late is dropped
  };

  function countText(n, one, many) {
    return typeof n === 'number' ? plural(n, one, many) : '–';
  }

  // healthBadge shows the link's health state (see docs/links.md#link-health); nothing before it is known.
  const HEALTH = {
    ok: ['earning', 'Earning: a current affiliate link'],
    untagged: ['not earning', 'Not promotable: clicks earn no commission'],
    gone: ['gone', 'Product gone: clicks go to the plan B, the store or a search'],
    unknown: ['not checked', 'Not checked yet'],
    page: ['page', 'Not a product page: only tagging is checked'],
  };
  function healthBadge(link) {
    const st = link.health && link.health.state;
    if (!st || !Object.prototype.hasOwnProperty.call(HEALTH, st)) return null;
    return el('span', { class: 'count health health-' + st, text: HEALTH[st][0], title: HEALTH[st][1], dataset: { state: st } });
  }

  // money formats cents of a currency ("mixed": several currencies, summed as they are).
  function money(cents, currency) {
    const v = (Number(cents) || 0) / 100;
    return v.toFixed(2) + (currency && currency !== 'mixed' ? ' ' + currency : '');
  }

  function price(p) {
    if (!p || !p.price) return '';
    return p.price + (p.currency ? ' ' + p.currency : '');
  }

  function thumb(link, size) {
    const src = imageSrc(link.product && link.product.image);
    if (!src) return el('div', { class: 'thumb thumb-none', 'aria-hidden': 'true', text: productID(link.target) ? '?' : '↗' });
    return el('img', {
      class: 'thumb', src, alt: '', width: size, height: size, loading: 'lazy', referrerpolicy: 'no-referrer',
      onerror: (e) => e.target.replaceWith(el('div', { class: 'thumb thumb-none', 'aria-hidden': 'true', text: '?' })),
    });
  }

  function labelChip(label) {
    return el('button', {
      type: 'button', class: 'chip label', text: label, title: 'Show the links labelled ' + label,
      'aria-label': 'Label ' + label + ': show the links with it',
      onclick: () => { $('label-filter').value = label; loadLinks(true).catch(report); },
    });
  }

  function linkRow(link) {
    const details = el('div', { class: 'details', hidden: true });
    const title = link.product && link.product.title ? link.product.title : productLabel(link.target);
    const toggle = el('button', {
      type: 'button',
      class: 'ghost toggle',
      text: 'Details',
      'aria-expanded': 'false',
      'aria-label': 'Details of ' + link.id,
    });
    const tick = el('input', { type: 'checkbox', class: 'pick', 'aria-label': 'Select ' + link.id });
    tick.checked = state.selected.has(link.id);
    tick.addEventListener('change', () => {
      if (tick.checked) state.selected.add(link.id);
      else state.selected.delete(link.id);
      updateBulk();
    });
    const e = link.earnings;
    const counts = el('div', { class: 'counts' },
      el('span', { class: 'count clicks' + (link.clicks ? '' : ' zero'), text: countText(link.clicks, 'click', 'clicks') }),
      typeof link.visitors === 'number' ? el('span', { class: 'count visitors' + (link.visitors ? '' : ' zero'), text: plural(link.visitors, 'visitor', 'visitors') }) : null,
      el('span', { class: 'count scans' + (link.scans ? '' : ' zero'), text: countText(link.scans, 'scan', 'scans') }),
      e && (Number(e.orders) || Number(e.estimated_commission)) ? el('span', { class: 'count earn', title: 'Orders and expected commission', text: plural(Number(e.orders) || 0, 'order', 'orders') + ' · ' + money(e.estimated_commission, e.currency) }) : null);
    const meta = el('div', { class: 'meta small' },
      healthBadge(link),
      link.channel ? el('span', { class: 'chip channel', title: 'Channel (tracking id)', text: link.channel }) : null,
      ...(Array.isArray(link.labels) ? link.labels.map(labelChip) : []),
      el('span', { class: 'muted' }, 'created ', formatDate(link.created_at)));
    const li = el('li', { class: 'link', dataset: { id: link.id } },
      el('div', { class: 'link-main' },
        tick,
        thumb(link, 48),
        el('div', { class: 'link-what' },
          el('div', { class: 'title-row' },
            el('span', { class: 'title', title, text: title }),
            price(link.product) ? el('span', { class: 'price', text: price(link.product) }) : null),
          el('div', { class: 'short-row' }, shortLink(link), copyButton(link.short_url, 'Copy', 'Copy ' + link.short_url)),
          meta),
        counts,
        toggle),
      details);
    toggle.addEventListener('click', () => toggleDetails(toggle.closest('li.link')));
    return li;
  }

  // toggleDetails opens or closes a row's details; opening loads them afresh.
  function toggleDetails(li) {
    const details = li.querySelector('.details');
    const open = details.hidden;
    details.hidden = !open;
    setToggle(li, open);
    if (open) openDetails(li, details);
  }

  // setToggle names a row's details button for its state: "Details of …" or "Close details of …".
  function setToggle(li, open) {
    const toggle = li.querySelector('.toggle');
    toggle.setAttribute('aria-expanded', String(open));
    toggle.textContent = open ? 'Close' : 'Details';
    toggle.setAttribute('aria-label', (open ? 'Close details of ' : 'Details of ') + li.dataset.id);
  }

  // replaceRow draws a link's row again from what the server said, keeping an open details panel.
  function replaceRow(li, link) {
    const cur = Object.assign(state.links.get(link.id) || {}, link);
    state.links.set(link.id, cur);
    const fresh = linkRow(cur);
    li.querySelector('.link-main').replaceWith(fresh.querySelector('.link-main'));
    setToggle(li, !li.querySelector('.details').hidden);
  }

  // listQuery is the query of GET /api/links for the search, sort and filters shown.
  function listQuery() {
    const q = new URLSearchParams({ limit: String(PAGE_SIZE) });
    const search = $('search').value.trim();
    if (search) q.set('q', search);
    const [sort, order] = $('sort').value.split(':');
    if (sort && sort !== 'created') q.set('sort', sort);
    if (order && !(sort === 'created' && order === 'desc')) q.set('order', order);
    for (const [id, param] of [['health-filter', 'health'], ['channel-filter', 'channel'], ['label-filter', 'label']]) {
      const v = $(id).value.trim();
      if (v) q.set(param, v);
    }
    return q;
  }

  async function loadLinks(reset) {
    const q = listQuery();
    if (!reset && state.cursor) q.set('cursor', state.cursor);
    const seq = ++state.seq;
    const more = $('more');
    more.disabled = true;
    $('links').setAttribute('aria-busy', 'true');
    try {
      const { data } = await api('GET', '/api/links?' + q.toString());
      if (seq !== state.seq) return; // a newer search has been sent
      const list = $('links');
      if (reset) {
        state.links.clear();
        list.replaceChildren();
      }
      for (const link of Array.isArray(data.links) ? data.links : []) {
        if (state.links.has(link.id)) continue;
        state.links.set(link.id, link);
        list.append(linkRow(link));
        offerFilters(link);
      }
      state.cursor = typeof data.next_cursor === 'string' ? data.next_cursor : '';
      state.total = typeof data.total === 'number' ? data.total : null;
      more.hidden = !state.cursor;
      updateListInfo();
      updateBulk();
    } finally {
      if (seq === state.seq) {
        more.disabled = false;
        $('links').removeAttribute('aria-busy');
      }
    }
  }

  // offerFilters offers the channels and labels seen so far in the filters' suggestion lists.
  const known = { channel: new Set(), label: new Set() };
  function offerFilters(link) {
    const add = (kind, v) => {
      if (!v || known[kind].has(v)) return;
      known[kind].add(v);
      $(kind + '-list').append(el('option', { value: v }));
    };
    add('channel', link.channel);
    for (const l of Array.isArray(link.labels) ? link.labels : []) add('label', l);
  }

  function filtered() {
    return !!($('search').value.trim() || $('health-filter').value || $('channel-filter').value.trim() || $('label-filter').value.trim());
  }

  function updateListInfo() {
    const n = state.links.size;
    const isFiltered = filtered();
    $('links-empty').hidden = n !== 0 || isFiltered;
    const nomatch = $('links-nomatch');
    nomatch.hidden = !(n === 0 && isFiltered);
    nomatch.textContent = 'No link matches this search and these filters.';
    const total = state.total !== null ? state.total : n;
    $('links-total').textContent = n === 0 ? '' : (isFiltered ? plural(total, 'link matches', 'links match') : plural(total, 'link', 'links')) +
      (total > n ? ', ' + n.toLocaleString() + ' shown' : '');
  }

  // ---- bulk actions ----

  function selectedIDs() {
    return [...state.selected];
  }

  function updateBulk() {
    for (const id of [...state.selected]) if (!state.links.has(id)) state.selected.delete(id);
    const n = state.selected.size;
    $('bulk').hidden = n === 0;
    $('bulk-count').textContent = plural(n, 'link selected', 'links selected');
    const all = $('select-all');
    const shown = state.links.size;
    all.checked = shown > 0 && n === shown;
    all.indeterminate = n > 0 && n < shown;
    for (const li of $('links').children) {
      const tick = li.querySelector('.pick');
      if (tick) tick.checked = state.selected.has(li.dataset.id);
    }
  }

  function bulkSay(text, kind) {
    const m = $('bulk-msg');
    m.textContent = text;
    m.className = 'msg ' + kind;
    m.hidden = false;
  }

  // eachSelected runs fn for every selected link, a few at a time, and tells how it went.
  async function eachSelected(what, fn) {
    const ids = selectedIDs();
    const failed = [];
    await pool(ids, PARALLEL, async (id) => {
      try {
        await fn(id);
      } catch (e) {
        if (e.status === 401) throw e;
        failed.push(id + ': ' + e.message);
      }
    });
    if (failed.length) bulkSay(plural(ids.length - failed.length, 'link', 'links') + ' ' + what + '; not done for ' + failed.join(' '), 'error');
    else bulkSay(plural(ids.length, 'link', 'links') + ' ' + what + '.', 'ok');
  }

  async function bulkLabel() {
    const labels = parseLabels($('bulk-label').value);
    if (!labels.length) {
      bulkSay('Type the label to add first.', 'error');
      $('bulk-label').focus();
      return;
    }
    await eachSelected('labelled ' + labels.join(', '), async (id) => {
      const cur = state.links.get(id);
      const set = [...new Set([...(cur && Array.isArray(cur.labels) ? cur.labels : []), ...labels])];
      const { data } = await api('PATCH', apiLink(id), { labels: set });
      const li = rowOf(id);
      if (li) replaceRow(li, data);
      offerFilters(data);
    });
  }

  // bulkChannel moves the selected links to a channel (one of ALIEXPRESS_TRACKING_IDS; empty: the
  // default one) from their next click; the server refuses a channel it does not know.
  async function bulkChannel() {
    const ch = $('bulk-channel').value.trim();
    await eachSelected(ch ? 'moved to channel ' + ch : 'moved to the default channel', async (id) => {
      const { data } = await api('PATCH', apiLink(id), { channel: ch || null });
      const li = rowOf(id);
      if (li) replaceRow(li, data);
      offerFilters(data);
    });
  }

  function bulkDelete() {
    const ids = selectedIDs();
    const box = $('bulk-confirm');
    box.replaceChildren(confirmBar(
      'Delete ' + plural(ids.length, 'link', 'links') + '? Their short links and printed QR codes will answer “not found”. ' +
      'A product link comes back if you shorten that product again; a random id or custom name is gone for good.',
      'Yes, delete ' + plural(ids.length, 'link', 'links'), true,
      async () => {
        await eachSelected('deleted', async (id) => {
          await api('DELETE', apiLink(id));
          removeLink(id);
        });
        updateBulk();
        updateListInfo();
      }));
  }

  function rowOf(id) {
    return [...$('links').children].find((li) => li.dataset.id === id) || null;
  }

  // removeLink takes a deleted link out of the list, the selection, and the results of shortening
  // (and so out of their "Copy all").
  function removeLink(id) {
    state.links.delete(id);
    state.selected.delete(id);
    if (state.total !== null) state.total = Math.max(0, state.total - 1);
    rowOf(id)?.remove();
    for (const r of $('results').querySelectorAll('.result[data-id]')) {
      if (r.dataset.id === id) r.remove();
    }
    updateCopyAll();
  }

  async function bulkExport() {
    const q = new URLSearchParams({ format: 'csv', ids: selectedIDs().join(',') });
    try {
      await download('GET', '/api/links?' + q.toString(), undefined, 'links.csv', 'the CSV export');
      bulkSay('links.csv downloaded.', 'ok');
    } catch (e) {
      if (e.status !== 401) bulkSay(e.message, 'error');
    }
  }

  async function bulkZip() {
    try {
      await download('POST', '/api/qr/zip', { ids: selectedIDs(), format: $('bulk-qr-format').value }, 'qr-codes.zip', 'the QR code zip');
      bulkSay('qr-codes.zip downloaded.', 'ok');
    } catch (e) {
      if (e.status !== 401) bulkSay(e.message, 'error');
    }
  }

  async function bulkSheet() {
    const body = {
      ids: selectedIDs(),
      paper: $('sheet-paper').value,
      size_mm: Number($('sheet-size').value),
      title: $('sheet-title').checked,
    };
    try {
      await download('POST', '/api/qr/sheet', body, 'qr-sheet.pdf', 'the print sheet');
      bulkSay('qr-sheet.pdf downloaded: print it at 100% (actual size).', 'ok');
    } catch (e) {
      if (e.status !== 401) bulkSay(e.message, 'error');
    }
  }

  // ---- the details of a link ----

  // chart draws the daily counts as bars: a bar's height is its clicks, its dark part the scans.
  // The bars are an SVG stretched to the width of the card; the labels are HTML beside it, so
  // that no text is ever stretched with it.
  function chart(daily) {
    const W = 300, H = 100;
    const n = Math.max(daily.length, 1);
    const step = W / n;
    const barW = Math.max(step * 0.7, 0.5);
    const most = Math.max(0, ...daily.map((d) => Number(d.clicks) || 0));
    const max = Math.max(1, most);
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
      el('div', { class: 'chart-max small muted', text: most === 0 ? 'No clicks in these days yet' : plural(most, 'click', 'clicks') + ' a day at most' }),
      root,
      el('div', { class: 'chart-days small muted' },
        el('span', { text: daily.length ? shortDay(daily[0].date) : '' }),
        el('span', { text: daily.length ? shortDay(daily[daily.length - 1].date) : '' })));
  }

  // confirmBar asks before a lasting change: the action runs on the second, explicit click.
  // Cancel, Escape or the end of the action gives the focus back to the button that asked (or, when
  // that is gone with a deleted link, to the search box).
  function confirmBar(question, yesLabel, danger, onYes) {
    const opener = document.activeElement;
    const bar = el('div', { class: 'confirm', role: 'alertdialog', 'aria-label': question });
    const yes = el('button', { type: 'button', class: danger ? 'danger yes' : 'primary yes', text: yesLabel });
    const no = el('button', { type: 'button', class: 'ghost no', text: 'Cancel' });
    bar.append(el('p', { text: question }), el('div', { class: 'row tight' }, yes, no));
    const close = () => {
      // A button disabled while focused leaves the focus on the body.
      const had = !document.activeElement || document.activeElement === document.body || bar.contains(document.activeElement);
      bar.remove();
      if (!had) return;
      if (opener && opener.isConnected && !opener.closest('[hidden]')) opener.focus();
      else $('search').focus();
    };
    no.addEventListener('click', close);
    bar.addEventListener('keydown', (ev) => { if (ev.key === 'Escape') close(); });
    yes.addEventListener('click', async () => {
      yes.disabled = true;
      no.disabled = true;
      try {
        await onYes();
      } finally {
        close();
      }
    });
    setTimeout(() => no.focus(), 0);
    return bar;
  }

  // earningsBlock shows what a link earned from the synced orders, and its channel.
  function earningsBlock(link) {
    const e = link.earnings;
    const box = el('div', { class: 'earnings' }, el('h3', { text: 'Earnings' }));
    if (link.channel) box.append(el('p', { class: 'small muted', text: 'Channel: ' + link.channel }));
    if (link.product && link.product.commission_rate) {
      box.append(el('p', { class: 'small muted', text: 'Commission rate: ' + link.product.commission_rate }));
    }
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

  const DIMENSIONS = [
    ['source', 'How they came'],
    ['country', 'Countries'],
    ['referrer', 'Referrers'],
    ['device', 'Devices'],
    ['os', 'Systems'],
    ['browser', 'Browsers'],
  ];
  const SOURCES = { link: 'the short link', qr: 'QR code scans', bio: 'bio page' };
  let regionNames = null;
  try {
    regionNames = new Intl.DisplayNames(undefined, { type: 'region' });
  } catch {
    regionNames = null;
  }
  function dimValue(dim, v) {
    if (!v) return 'unknown';
    if (dim === 'source') return SOURCES[v] || v;
    if (dim === 'country' && /^[A-Z]{2}$/.test(v) && regionNames) {
      try {
        return regionNames.of(v) || v;
      } catch {
        return v;
      }
    }
    return v;
  }

  // rankedBars lists a dimension's values, most clicks first, each with a bar as long as its share
  // of the top one (set through the CSSOM: the policy allows no style attributes).
  function rankedBars(dim, title, counts) {
    const list = (Array.isArray(counts) ? counts : []).slice(0, 8);
    const box = el('div', { class: 'dim', dataset: { dim } }, el('h4', { text: title }));
    if (!list.length) {
      box.append(el('p', { class: 'small muted', text: 'No clicks yet.' }));
      return box;
    }
    const max = Math.max(1, ...list.map((c) => Number(c.clicks) || 0));
    const ol = el('ol', { class: 'bars' });
    for (const c of list) {
      const n = Number(c.clicks) || 0;
      const bar = el('span', { class: 'bar', 'aria-hidden': 'true' });
      bar.style.width = Math.max(2, Math.round((n / max) * 100)) + '%';
      ol.append(el('li', {},
        el('span', { class: 'bar-label' }, el('span', { class: 'bar-name', text: dimValue(dim, c.value) }), el('span', { class: 'bar-n', text: n.toLocaleString() })),
        el('span', { class: 'bar-track' }, bar)));
    }
    box.append(ol);
    return box;
  }

  // loadStats fills into with the counts of the dates chosen. current tells whether this load is
  // still the latest one asked for: an answer that arrives after the dates changed again is dropped,
  // so a slow answer never overwrites a newer range or a refusal of the dates.
  async function loadStats(id, from, to, into, current) {
    into.replaceChildren(el('p', { class: 'muted small', text: 'Loading…' }));
    try {
      const q = new URLSearchParams({ from, to });
      const { data } = await api('GET', apiLink(id) + '/stats?' + q.toString());
      if (!current()) return;
      into.replaceChildren(
        el('p', { class: 'small range-totals' },
          plural(Number(data.clicks) || 0, 'click', 'clicks') + ' from ' + plural(Number(data.visitors) || 0, 'visitor', 'visitors') +
          ', ' + plural(Number(data.scans) || 0, 'scan', 'scans')),
        el('div', { class: 'dims' }, ...DIMENSIONS.map(([dim, title]) => rankedBars(dim, title, data[dim]))));
    } catch (e) {
      if (current()) into.replaceChildren(el('p', { class: 'field-error', role: 'alert', text: e.message }));
    }
  }

  // healthHistory lists the link's last changes of health state, newest first, in the badges' words.
  function healthHistory(changes) {
    if (!Array.isArray(changes) || !changes.length) return [];
    const word = (st) => (Object.prototype.hasOwnProperty.call(HEALTH, st) ? HEALTH[st][0] : String(st));
    return [el('h4', { text: 'History' }), el('ul', { class: 'health-history small' },
      ...changes.map((c) => el('li', { dataset: { from: c.from, to: c.to } },
        el('time', { class: 'muted', datetime: c.at, text: formatDate(c.at) }), ' ' + word(c.from) + ' → ' + word(c.to))))];
  }

  // healthBlock tells the link's state and, for a gone or untagged product, offers replacements:
  // one click points the link at one of them.
  function healthBlock(link, onRetarget) {
    const box = el('div', { class: 'health-box' }, el('h3', { text: 'Health' }));
    const h = link.health;
    if (!h || !h.state) {
      box.append(el('p', { class: 'small muted', text: 'Link health is not checked on this server.' }));
      return box;
    }
    box.append(el('p', { class: 'small' }, healthBadge(link), ' ', HEALTH[h.state] ? HEALTH[h.state][1] + '.' : '',
      h.seen_at ? el('span', { class: 'muted', text: ' As of ' + formatDate(h.seen_at) + '.' }) : null));
    box.append(...healthHistory(link.health_history));
    if (h.state !== 'gone' && h.state !== 'untagged') return box;
    const list = el('ul', { class: 'suggestions' }, el('li', { class: 'muted small', text: 'Looking for replacements…' }));
    box.append(el('h4', { text: 'Promote instead' }), list);
    api('GET', apiLink(link.id) + '/suggestions').then(({ data }) => {
      const ps = Array.isArray(data.suggestions) ? data.suggestions : [];
      if (!ps.length) {
        list.replaceChildren(el('li', { class: 'muted small', text: 'No replacement found yet.' }));
        return;
      }
      list.replaceChildren(...ps.map((p) => el('li', { class: 'suggestion' },
        thumb({ product: p, target: p.url }, 40),
        el('span', { class: 'grow small' }, el('span', { class: 'title', text: p.title || productLabel(p.url) }),
          el('span', { class: 'muted', text: [price(p), p.commission_rate ? p.commission_rate + ' commission' : ''].filter(Boolean).join(' · ') })),
        el('button', {
          type: 'button', class: 'use-suggestion', text: 'Retarget here',
          'aria-label': 'Retarget here: ' + link.id + ' to ' + (p.title || p.url),
          onclick: (ev) => { ev.currentTarget.disabled = true; onRetarget(p.url); },
        }))));
    }, (e) => {
      list.replaceChildren(el('li', { class: 'small muted', text: e.status === 409 ? 'Replacements come after the first health check.' : e.message }));
    });
    return box;
  }

  function deleteQuestion(link) {
    const base = 'Delete ' + link.short_url + '? From now on it answers “not found” to clicks and to scans of its printed QR codes.';
    if (isProductCode(link.id, link.target)) {
      return base + ' It is this product’s own code: shortening the same product again brings this link back, with its totals.';
    }
    if (/^[0-9A-Za-z]{8}$/.test(link.id)) return base + ' This cannot be undone: a random id is never given out again.';
    return base;
  }

  async function openDetails(li, details) {
    const id = li.dataset.id;
    details.replaceChildren(el('p', { class: 'muted', text: 'Loading…' }));
    let link;
    try {
      ({ data: link } = await api('GET', apiLink(id)));
    } catch (e) {
      details.replaceChildren(el('p', { class: 'field-error', role: 'alert', text: e.message }));
      return;
    }
    replaceRow(li, link);
    const daily = Array.isArray(link.daily) ? link.daily : [];
    const msg = el('p', { class: 'msg', role: 'status', hidden: true });
    const say = (text, kind) => {
      msg.textContent = text;
      msg.className = 'msg ' + kind;
      msg.hidden = false;
    };

    // The retarget field is a text area: on a phone a whole product URL stays readable.
    const input = el('textarea', {
      class: 'retarget-url',
      rows: 2,
      inputmode: 'url',
      spellcheck: 'false',
      id: 'rt-' + id,
    });
    input.value = link.target;
    const actions = el('div', { class: 'actions' });
    const retargetForm = el('form', { class: 'retarget', autocomplete: 'off', novalidate: true },
      el('label', { for: 'rt-' + id, text: 'Point this link to another AliExpress page' }),
      el('div', { class: 'row tight' }, input,
        el('button', { type: 'submit', class: 'retarget-btn', text: 'Retarget' })));
    input.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter') {
        ev.preventDefault();
        retargetForm.requestSubmit();
      }
    });
    const retarget = async (url) => {
      try {
        const { data } = await api('PATCH', apiLink(id), { url });
        replaceRow(li, data);
        input.value = data.target;
        say('Done: it now leads to ' + data.target + '.', 'ok');
      } catch (e) {
        say(e.message, 'error');
      }
    };
    retargetForm.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const { urls, problems } = readPaste(input.value);
      if (urls.length !== 1) {
        say(problems.length ? problems[0].message : 'Enter the one AliExpress URL this link should lead to.', 'error');
        return;
      }
      const url = urls[0];
      actions.querySelector('.confirm')?.remove();
      actions.append(confirmBar(
        'Point ' + link.short_url + ' to ' + url + '? Everyone who follows it or scans its QR code will land there.',
        'Yes, retarget', false, () => retarget(url)));
    });

    const del = el('button', { type: 'button', class: 'danger delete-btn', text: 'Delete' });
    del.addEventListener('click', () => {
      actions.querySelector('.confirm')?.remove();
      actions.append(confirmBar(deleteQuestion(link), 'Yes, delete', true,
        async () => {
          try {
            await api('DELETE', apiLink(id));
            removeLink(id);
            updateBulk();
            updateListInfo();
            showStatus('Deleted ' + link.short_url + '.', 'ok');
          } catch (e) {
            say(e.message, 'error');
          }
        }));
    });

    // The plan B: where clicks go while the product is gone (and, if ticked, while it earns nothing).
    const fbInput = el('input', {
      type: 'text', class: 'fallback-url', inputmode: 'url', spellcheck: 'false', id: 'fb-' + id,
      placeholder: 'none: the store or search page',
    });
    fbInput.value = link.fallback_url || '';
    const fbUntagged = el('input', { type: 'checkbox', class: 'fallback-untagged', id: 'fbw-' + id });
    fbUntagged.checked = link.fallback_when === 'untagged';
    const fallbackForm = el('form', { class: 'retarget fallback', autocomplete: 'off' },
      el('label', { for: 'fb-' + id, text: 'Plan B: where clicks go if this product disappears' }),
      el('div', { class: 'row tight' }, fbInput,
        el('button', { type: 'submit', class: 'fallback-btn', text: 'Save plan B' })),
      el('label', { for: 'fbw-' + id, class: 'check' }, fbUntagged, ' also while it earns no commission'));
    fallbackForm.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const fallback_url = fbInput.value.trim();
      try {
        const { data } = await api('PATCH', apiLink(id),
          { fallback_url, fallback_when: fallback_url && fbUntagged.checked ? 'untagged' : '' });
        replaceRow(li, data);
        fbInput.value = data.fallback_url || '';
        fbUntagged.checked = data.fallback_when === 'untagged';
        say(data.fallback_url ? 'Plan B saved: ' + data.fallback_url + '.' : 'Plan B cleared.', 'ok');
      } catch (e) {
        say(e.message, 'error');
      }
    });

    // Labels: the whole set, comma-separated.
    const lbInput = el('input', { type: 'text', class: 'labels-input', id: 'lb-' + id, spellcheck: 'false', placeholder: 'summer, tiktok' });
    lbInput.value = (Array.isArray(link.labels) ? link.labels : []).join(', ');
    const labelsForm = el('form', { class: 'retarget labels-form', autocomplete: 'off' },
      el('label', { for: 'lb-' + id, text: 'Labels (campaigns), separated by commas' }),
      el('div', { class: 'row tight' }, lbInput, el('button', { type: 'submit', class: 'labels-btn', text: 'Save labels' })));
    labelsForm.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      try {
        const { data } = await api('PATCH', apiLink(id), { labels: parseLabels(lbInput.value) });
        replaceRow(li, data);
        offerFilters(data);
        lbInput.value = (Array.isArray(data.labels) ? data.labels : []).join(', ');
        say(lbInput.value ? 'Labels saved: ' + lbInput.value + '.' : 'Labels cleared.', 'ok');
      } catch (e) {
        say(e.message, 'error');
      }
    });

    // Print: a PDF of the code at a chosen physical size, the short URL under it.
    const sizeSel = el('select', { class: 'print-size', id: 'ps-' + id },
      ...[25, 30, 40, 50, 60, 80, 100].map((mm) => el('option', { value: mm, selected: mm === 40, text: mm + ' mm' })));
    const withTitle = el('input', { type: 'checkbox', class: 'print-title', id: 'pt-' + id });
    const printLink = el('a', { class: 'button print-pdf', href: qrPDF(id, 40, false), target: '_blank', rel: 'noopener', text: 'Print PDF' });
    const updatePrint = () => printLink.setAttribute('href', qrPDF(id, Number(sizeSel.value), withTitle.checked));
    sizeSel.addEventListener('change', updatePrint);
    withTitle.addEventListener('change', updatePrint);
    const printBox = el('div', { class: 'print' },
      el('label', { for: 'ps-' + id, text: 'Print size' }),
      el('div', { class: 'row tight' }, sizeSel, el('label', { for: 'pt-' + id, class: 'check' }, withTitle, ' with title'), printLink));

    // The date range of the chart and the ranked dimensions.
    // Custom dates reach as far back as the stats are kept; the chart has the record's last 30 days.
    const range = el('select', { class: 'range', id: 'rg-' + id },
      el('option', { value: 7, text: 'Last 7 days' }), el('option', { value: 14, text: 'Last 14 days' }),
      el('option', { value: 30, text: 'Last 30 days', selected: true }), el('option', { value: 'custom', text: 'Custom dates…' }));
    const fromIn = el('input', { type: 'date', class: 'range-from', id: 'rf-' + id, max: utcDay(0) });
    const toIn = el('input', { type: 'date', class: 'range-to', id: 'rt2-' + id, max: utcDay(0) });
    fromIn.value = utcDay(29);
    toIn.value = utcDay(0);
    const custom = el('div', { class: 'row tight range-custom', hidden: true },
      el('label', { for: 'rf-' + id, class: 'inline', text: 'From' }), fromIn,
      el('label', { for: 'rt2-' + id, class: 'inline', text: 'to' }), toIn);
    const chartBox = el('div', { class: 'chart-slot' });
    const dimsBox = el('div', { class: 'dims-slot' });
    let drawn = 0; // counts the ranges drawn; a stats load writes only if no later one began
    const drawRange = () => {
      const mine = ++drawn;
      let from, to;
      custom.hidden = range.value !== 'custom';
      if (range.value === 'custom') {
        from = fromIn.value;
        to = toIn.value;
        if (!from || !to || from > to) {
          dimsBox.replaceChildren(el('p', { class: 'field-error', role: 'alert', text: 'Choose a start date on or before the end date.' }));
          return;
        }
      } else {
        from = utcDay(Number(range.value) - 1);
        to = utcDay(0);
      }
      const days = daily.filter((d) => d.date >= from && d.date <= to);
      const sum = (k) => days.reduce((a, d) => a + (Number(d[k]) || 0), 0);
      const older = daily.length > 0 && from < daily[0].date;
      chartBox.replaceChildren(...[chart(days),
        el('p', { class: 'legend small' },
          el('span', { class: 'entry' }, el('span', { class: 'key key-clicks' }), plural(sum('clicks'), 'click', 'clicks')),
          el('span', { class: 'entry' }, el('span', { class: 'key key-scans' }), sum('scans').toLocaleString() + ' of them by QR scan')),
        older ? el('p', { class: 'small muted', text: 'The chart shows the last 30 days; the counts below cover all the dates chosen.' }) : null].filter(Boolean));
      loadStats(id, from, to, dimsBox, () => mine === drawn);
    };
    range.addEventListener('change', drawRange);
    fromIn.addEventListener('change', drawRange);
    toIn.addEventListener('change', drawRange);
    drawRange();

    actions.prepend(retargetForm, fallbackForm, labelsForm, el('div', { class: 'row tight' }, del));
    details.replaceChildren(
      el('div', { class: 'detail-grid' },
        el('div', { class: 'stats' },
          el('div', { class: 'row tight range-row' }, el('label', { for: 'rg-' + id, class: 'inline', text: 'Clicks over' }), range, custom),
          chartBox,
          dimsBox),
        el('div', { class: 'qr-col' }, el('h3', { text: 'QR code' }), qrBlock(id, 160), printBox)),
      el('div', { class: 'detail-grid two' }, healthBlock(link, (url) => { input.value = url; retarget(url); }), earningsBlock(link)),
      actions,
      msg);
  }

  // ---- the bookmarklet ----

  // bookmarklet is a javascript: link for the bookmarks bar. It runs on the AliExpress page (not
  // here: this page's policy would refuse it) and only opens this console with that page's URL in
  // the address's fragment, which never reaches a server. Nothing is loaded from anywhere.
  function setupBookmarklet() {
    const target = location.origin + '/admin#new=';
    const code = 'javascript:void(window.open(' + JSON.stringify(target) + '+encodeURIComponent(location.href),"_blank","noopener"))';
    const a = $('bookmarklet');
    a.setAttribute('href', code);
    a.addEventListener('click', (ev) => {
      ev.preventDefault();
      showStatus('Drag “Shorten this AliExpress page” to your bookmarks bar, then click it on any AliExpress page.', 'info');
    });
    $('bookmarklet-copy').replaceWith(copyButton(code, 'Copy the bookmarklet', 'Copy the bookmarklet’s code, to paste as a bookmark’s address'));
  }

  // takeNewFromHash fills the URL box from #new=<url> (what the bookmarklet opens) and clears the
  // fragment, so a reload does not paste it again.
  function takeNewFromHash() {
    const m = location.hash.match(/^#new=(.*)$/s);
    if (!m) return;
    let url = '';
    try {
      url = decodeURIComponent(m[1]);
    } catch {
      url = '';
    }
    history.replaceState(null, '', location.pathname + location.search);
    if (!url) return;
    const box = $('urls');
    box.value = box.value.trim() ? box.value.trim() + '\n' + url : url;
    showStatus('The page’s URL is in the box: choose Shorten.', 'info');
  }

  // ---- navigation ----

  // buildNav links each section of the console from the header: its data-nav, else its heading. It
  // runs again when a section is added (the API keys section is built by keys.js).
  function buildNav() {
    const links = [];
    for (const sec of $('app').children) {
      if (sec.tagName !== 'SECTION') continue;
      const h = sec.querySelector('h2');
      if (!h) continue;
      if (!h.id) h.id = 'section-' + links.length;
      links.push(el('a', { href: '#' + h.id, text: sec.dataset.nav || h.textContent }));
    }
    $('nav').replaceChildren(...links);
  }

  // ---- start ----

  function start() {
    $('login-form').addEventListener('submit', onLogin);
    $('signout').addEventListener('click', onSignOut);
    $('shorten-form').addEventListener('submit', onShorten);
    // Ctrl+Enter (⌘+Enter on a Mac) sends the box, as in most editors.
    $('shorten-form').addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) {
        ev.preventDefault();
        $('shorten-form').requestSubmit();
      }
    });
    $('slug').addEventListener('input', () => {
      if (!$('slug-error').hidden && !checkSlug($('slug').value.trim())) {
        $('slug-error').hidden = true;
        $('slug').setAttribute('aria-invalid', 'false');
      }
    });
    let searchTimer = 0;
    $('search').addEventListener('input', () => {
      clearTimeout(searchTimer);
      searchTimer = setTimeout(() => loadLinks(true).catch(report), SEARCH_DELAY);
    });
    for (const id of ['sort', 'health-filter', 'channel-filter', 'label-filter']) {
      $(id).addEventListener('change', () => loadLinks(true).catch(report));
    }
    $('filters-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      clearTimeout(searchTimer);
      loadLinks(true).catch(report);
    });
    $('refresh').addEventListener('click', () => {
      loadLinks(true).then(() => showStatus('Links refreshed.', 'ok'), report);
    });
    $('more').addEventListener('click', () => {
      loadLinks(false).catch(report);
    });
    $('select-all').addEventListener('change', () => {
      if ($('select-all').checked) for (const id of state.links.keys()) state.selected.add(id);
      else state.selected.clear();
      updateBulk();
    });
    $('bulk-clear').addEventListener('click', () => { state.selected.clear(); updateBulk(); $('select-all').focus(); });
    $('bulk-label-btn').addEventListener('click', () => bulkLabel().catch(report));
    $('bulk-channel-btn').addEventListener('click', () => bulkChannel().catch(report));
    $('bulk-delete').addEventListener('click', bulkDelete);
    $('bulk-export').addEventListener('click', bulkExport);
    $('bulk-zip').addEventListener('click', bulkZip);
    $('bulk-sheet').addEventListener('click', bulkSheet);
    $('remember').addEventListener('change', () => { $('remember-warning').hidden = !$('remember').checked; });
    setupBookmarklet();
    buildNav();
    new MutationObserver(buildNav).observe($('app'), { childList: true });
    takeNewFromHash();
    window.addEventListener('hashchange', takeNewFromHash);
    // A token remembered on this device serves this tab too.
    if (!token() && localStorage.getItem(TOKEN_KEY)) sessionStorage.setItem(TOKEN_KEY, localStorage.getItem(TOKEN_KEY));
    if (!token()) {
      askToken('');
      return;
    }
    showApp();
    loadLinks(true).catch(report);
  }

  start();
})();
