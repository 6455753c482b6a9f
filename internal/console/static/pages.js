// The console's bio page editor: plain JavaScript over /api/pages. It keeps the console's rules
// (see console.js): values reach the page as text only, the admin token only travels in the
// Authorization header, errors are told in words.
'use strict';

(() => {
  // The element builder and the token's storage key are console.js's (loaded first, both deferred).
  const { el, $, TOKEN_KEY, jsonAPI } = window.redirectorConsole;

  function describe(status, detail) {
    if (status === 0) return 'Could not reach the redirector. Check the connection and try again.';
    if (status === 400) return 'Not accepted: ' + (detail || 'the page is not valid') + '.';
    if (status === 401) return 'The admin token was not accepted. Sign in again.';
    if (status === 404) return 'That page does not exist any more.';
    if (status === 409) return 'That handle is taken (handles are the same in any case): choose another one.';
    if (status === 413) return 'That page is too large.';
    if (status === 503) return "The redirector's store is not answering. Try again in a moment.";
    return 'The redirector gave an unexpected answer (status ' + status + ').';
  }

  const api = jsonAPI(describe);

  let current = null; // the page being edited, as the API last answered; null: a new page

  // itemRow is the editor's row of one item; kind is 'heading' or 'link' (from the item when absent).
  function itemRow(item, kind) {
    const heading = (kind || (item.heading ? 'heading' : 'link')) === 'heading';
    const li = el('li', { class: 'page-item' + (heading ? ' heading' : '') });
    li.dataset.kind = heading ? 'heading' : 'link';
    const value = el('input', { type: 'text', class: 'item-value', spellcheck: 'false', 'aria-label': heading ? 'Heading' : 'Short link id or AliExpress URL', placeholder: heading ? 'Section heading' : 'Short link id or AliExpress URL' });
    value.value = heading ? item.heading || '' : (item.id || item.url || '');
    li.append(el('span', { class: 'kind', text: heading ? 'Heading' : 'Link' }), value);
    if (!heading) {
      const caption = el('input', { type: 'text', class: 'item-caption', maxlength: '100', placeholder: 'Caption (optional)', 'aria-label': 'Caption' });
      caption.value = item.caption || '';
      li.append(caption);
    }
    const move = (d) => () => {
      const sib = d < 0 ? li.previousElementSibling : li.nextElementSibling;
      if (sib) (d < 0 ? sib.before(li) : sib.after(li));
      preview();
    };
    li.append(
      el('button', { type: 'button', class: 'ghost up', title: 'Move up', 'aria-label': 'Move up', text: '↑', onclick: move(-1) }),
      el('button', { type: 'button', class: 'ghost down', title: 'Move down', 'aria-label': 'Move down', text: '↓', onclick: move(1) }),
      el('button', { type: 'button', class: 'ghost remove', title: 'Remove', 'aria-label': 'Remove', text: '✕', onclick: () => { li.remove(); preview(); } }));
    li.addEventListener('input', preview);
    return li;
  }

  function items() {
    return [...$('page-items').children].map((li) => {
      const v = li.querySelector('.item-value').value.trim();
      if (li.dataset.kind === 'heading') return { heading: v };
      const caption = li.querySelector('.item-caption').value.trim();
      const it = /^https?:\/\//i.test(v) ? { url: v } : { id: v };
      if (caption) it.caption = caption;
      return it;
    });
  }

  function initials(title, avatar) {
    if (avatar && !/^https?:/i.test(avatar)) return avatar.toUpperCase();
    return title.split(/\s+/).filter(Boolean).slice(0, 2).map((w) => w[0].toUpperCase()).join('') || '@';
  }

  // preview draws the page as it will look, from the form (product titles and pictures are filled
  // in by the server; here a link shows its caption or its id).
  function preview() {
    const title = $('page-title').value.trim() || 'Title';
    const box = $('page-preview');
    const head = el('div', { class: 'pv-head' },
      el('span', { class: 'pv-av', text: initials(title, $('page-avatar').value.trim()) }),
      el('div', { class: 'pv-title', text: title }),
      el('div', { class: 'pv-text', text: $('page-text').value }));
    const list = el('div', { class: 'pv-items' });
    for (const it of items()) {
      if ('heading' in it) list.append(el('div', { class: 'pv-h', text: it.heading }));
      else list.append(el('div', { class: 'pv-item', text: it.caption || it.id || it.url || '…' }));
    }
    box.replaceChildren(head, list);
  }

  function fill(page) {
    current = page;
    $('page-handle').value = page ? page.handle : '';
    $('page-handle').readOnly = !!page;
    $('page-title').value = page ? page.title : '';
    $('page-text').value = page ? page.text || '' : '';
    $('page-avatar').value = page ? page.avatar || '' : '';
    $('page-items').replaceChildren(...(page ? page.items : []).map((it) => itemRow(it)));
    $('page-open').hidden = !page;
    $('page-delete').hidden = !page;
    if (page) $('page-open').href = '/@' + encodeURIComponent(page.handle);
    $('page-error').hidden = true;
    preview();
  }

  function say(message) {
    const e = $('page-error');
    e.textContent = message;
    e.hidden = !message;
  }

  async function loadPages(select) {
    const data = await api('GET', '/api/pages');
    const pick = $('page-pick');
    pick.replaceChildren(el('option', { value: '', text: 'New page…' }));
    for (const p of Array.isArray(data.pages) ? data.pages : []) {
      pick.append(el('option', { value: p.handle, text: '@' + p.handle }));
    }
    pick.value = select || '';
  }

  async function onPick() {
    const h = $('page-pick').value;
    if (!h) { fill(null); return; }
    try {
      fill(await api('GET', '/api/pages/' + encodeURIComponent(h)));
    } catch (e) {
      say(e.message);
    }
  }

  async function onSave(ev) {
    ev.preventDefault();
    const body = { title: $('page-title').value.trim(), text: $('page-text').value.trim(), avatar: $('page-avatar').value.trim(), items: items() };
    const button = $('page-save');
    button.disabled = true;
    try {
      let page;
      if (current) {
        page = await api('PATCH', '/api/pages/' + encodeURIComponent(current.handle), body);
      } else {
        body.handle = $('page-handle').value.trim();
        page = await api('POST', '/api/pages', body);
      }
      fill(page);
      await loadPages(page.handle);
      say('');
      $('page-save').textContent = 'Saved';
      setTimeout(() => { $('page-save').textContent = 'Save page'; }, 1500);
    } catch (e) {
      say(e.message);
    } finally {
      button.disabled = false;
    }
  }

  async function onDelete() {
    if (!current || !window.confirm('Delete the page @' + current.handle + '? Its address will answer “not found”.')) return;
    try {
      await api('DELETE', '/api/pages/' + encodeURIComponent(current.handle));
      fill(null);
      await loadPages('');
    } catch (e) {
      say(e.message);
    }
  }

  function start() {
    if (!$('pages')) return;
    $('page-form').addEventListener('submit', onSave);
    $('page-form').addEventListener('input', preview);
    $('page-pick').addEventListener('change', onPick);
    $('page-add-link').addEventListener('click', () => { $('page-items').append(itemRow({}, 'link')); preview(); });
    $('page-add-heading').addEventListener('click', () => { $('page-items').append(itemRow({}, 'heading')); preview(); });
    $('page-delete').addEventListener('click', onDelete);
    fill(null);
    // The list loads once the console is signed in (console.js shows #app then).
    const app = $('app');
    const load = () => { if (!app.hidden && sessionStorage.getItem(TOKEN_KEY)) loadPages(current ? current.handle : '').catch((e) => say(e.message)); };
    new MutationObserver(load).observe(app, { attributes: true, attributeFilter: ['hidden'] });
    load();
  }

  start();
})();
