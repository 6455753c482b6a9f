// The console's API keys: create (the key shown once, with a copy button), list and revoke, over
// /api/keys. It keeps the console's rules (see console.js): values reach the page as text only,
// the admin token only travels in the Authorization header, errors are told in words. It builds
// its own section at the end of the console (#app), so index.html only loads this file.
'use strict';

(() => {
  const { el, $, TOKEN_KEY, jsonAPI } = window.redirectorConsole;
  const SCOPES = [
    ['links:read', 'Read links, their health, the export and bio pages'],
    ['links:write', 'Create, change and delete links'],
    ['stats:read', 'Statistics and earnings'],
    ['pages:write', 'Create, change and delete bio pages'],
    ['keys:admin', 'Manage API keys (as strong as the admin token)'],
  ];

  function describe(status, detail) {
    if (status === 0) return 'Could not reach the redirector. Check the connection and try again.';
    if (status === 400) return 'Not accepted: ' + (detail || 'the key is not valid') + '.';
    if (status === 401) return 'The admin token was not accepted. Sign in again.';
    if (status === 403) return 'This token cannot manage API keys: ' + (detail || 'it lacks the scope keys:admin') + '.';
    if (status === 404) return 'That key does not exist any more.';
    if (status === 409) return 'Another key has that name (names are the same in any case): choose another one.';
    if (status === 503) return "The redirector's store is not answering. Try again in a moment.";
    return 'The redirector gave an unexpected answer (status ' + status + ').';
  }

  const api = jsonAPI(describe);

  const when = (iso) => (iso ? new Date(iso).toLocaleString() : 'never');

  function say(message) {
    $('key-error').textContent = message;
    $('key-error').hidden = !message;
  }

  async function copy(text, button) {
    let ok = false;
    if (navigator.clipboard && window.isSecureContext) {
      try { await navigator.clipboard.writeText(text); ok = true; } catch { ok = false; }
    }
    if (!ok) {
      const field = $('key-new-value');
      field.focus();
      field.select();
      try { ok = document.execCommand('copy'); } catch { ok = false; }
    }
    button.textContent = ok ? 'Copied' : 'Select and copy by hand';
  }

  function section() {
    const boxes = SCOPES.map(([scope, label]) => el('label', { class: 'key-scope' },
      el('input', { type: 'checkbox', name: 'scope', value: scope }), ' ', el('code', { text: scope }), ' ', el('span', { class: 'muted small', text: label })));
    return el('section', { class: 'card', id: 'keys', 'aria-labelledby': 'keys-title' },
      el('h2', { id: 'keys-title', text: 'API keys' }),
      el('p', { class: 'muted small', text: 'Keys for the tools you connect (a WordPress plugin, a spreadsheet, an automation), each with only the scopes it needs. A key is shown once, when it is made; revoking it stops it everywhere at once.' }),
      el('form', { id: 'key-form', autocomplete: 'off' },
        el('label', { for: 'key-name', text: 'Name' }),
        el('input', { id: 'key-name', type: 'text', spellcheck: 'false', maxlength: '64', pattern: '[A-Za-z0-9._\\-]{1,64}', placeholder: 'wordpress', required: true }),
        el('fieldset', { class: 'key-scopes' }, el('legend', { text: 'Scopes' }), ...boxes),
        el('button', { type: 'submit', id: 'key-create', class: 'primary', text: 'Create key' })),
      el('p', { id: 'key-error', class: 'field-error', role: 'alert', hidden: true }),
      el('div', { id: 'key-new', class: 'notice ok', hidden: true },
        el('p', { id: 'key-new-warning', text: 'Copy this key now: it will not be shown again. Anyone who has it can use the API within its scopes.' }),
        el('div', { class: 'row tight' },
          el('input', { id: 'key-new-value', type: 'text', readonly: true, spellcheck: 'false', 'aria-label': 'The new key' }),
          el('button', { type: 'button', id: 'key-copy', class: 'copy', text: 'Copy', onclick: (ev) => copy($('key-new-value').value, ev.currentTarget) }))),
      el('p', { id: 'keys-empty', class: 'muted', text: 'No API keys yet.', hidden: true }),
      el('ul', { id: 'key-list', class: 'key-list' }));
  }

  function row(k) {
    const li = el('li', { class: 'api-key', dataset: { id: k.id } },
      el('strong', { class: 'key-name', text: k.name }), ' ',
      el('span', { class: 'key-scopes-list', text: k.scopes.join(', ') }), ' ',
      el('span', { class: 'muted small', text: 'made ' + when(k.created_at) + ' · last used ' + when(k.last_used_at) }), ' ');
    li.append(el('button', { type: 'button', class: 'danger revoke', text: 'Revoke', onclick: () => confirmRevoke(li, k) }));
    return li;
  }

  function confirmRevoke(li, k) {
    if (li.querySelector('.confirm')) return;
    li.append(el('span', { class: 'confirm' },
      el('span', { text: 'Revoke “' + k.name + '”? Tools using it stop working at once. ' }),
      el('button', { type: 'button', class: 'danger yes', text: 'Revoke it', onclick: () => revoke(k) }),
      el('button', { type: 'button', class: 'ghost no', text: 'Keep it', onclick: (ev) => ev.currentTarget.parentElement.remove() })));
  }

  async function revoke(k) {
    try {
      await api('DELETE', '/api/keys/' + encodeURIComponent(k.id));
      say('');
      await load();
    } catch (e) {
      say(e.message);
    }
  }

  async function load() {
    const data = await api('GET', '/api/keys');
    const list = $('key-list');
    list.replaceChildren(...data.keys.map(row));
    $('keys-empty').hidden = data.keys.length > 0;
  }

  async function onCreate(ev) {
    ev.preventDefault();
    const scopes = [...document.querySelectorAll('#key-form input[name=scope]:checked')].map((b) => b.value);
    if (scopes.length === 0) {
      say('Choose at least one scope.');
      return;
    }
    const button = $('key-create');
    button.disabled = true;
    try {
      const k = await api('POST', '/api/keys', { name: $('key-name').value.trim(), scopes });
      $('key-new-value').value = k.key;
      $('key-copy').textContent = 'Copy';
      $('key-new').hidden = false;
      $('key-form').reset();
      say('');
      await load();
    } catch (e) {
      say(e.message);
    } finally {
      button.disabled = false;
    }
  }

  function start() {
    const app = $('app');
    if (!app) return;
    app.append(section());
    $('key-form').addEventListener('submit', onCreate);
    // The list loads once the console is signed in (console.js shows #app then); signing out
    // forgets a key still shown.
    const refresh = () => {
      if (app.hidden || !sessionStorage.getItem(TOKEN_KEY)) {
        $('key-new').hidden = true;
        $('key-new-value').value = '';
        return;
      }
      load().catch((e) => say(e.message));
    };
    new MutationObserver(refresh).observe(app, { attributes: true, attributeFilter: ['hidden'] });
    refresh();
  }

  start();
})();
