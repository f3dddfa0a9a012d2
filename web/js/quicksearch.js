// The header's quick search: patients (name, phone) and doctors (name), opened with the keyboard.
// An ARIA combobox: type, ArrowDown/ArrowUp through the results, Enter opens, Escape closes; "/"
// anywhere outside a field jumps to it.
import { useState, useEffect, useRef } from '../vendor/preact-htm/standalone.module.js';
import { api } from './api.js';
import { html, navigate, useDebounced } from './ui.js';
import { whenLeaving } from './form.js';

export function QuickSearch() {
  const [q, setQ] = useState('');
  const [open, setOpen] = useState(false);
  const [active, setActive] = useState(-1);
  const [results, setResults] = useState({ q: '', items: [], error: null });
  const query = useDebounced(q.trim(), 200);
  const input = useRef(null);
  const jumped = useRef(false); // the box was just focused by "/"

  useEffect(() => {
    if (!query) return setResults({ q: '', items: [], error: null });
    let live = true;
    Promise.all([
      api('GET', '/api/patients/', { query: { search: query, limit: 5, ordering: 'name' } }),
      api('GET', '/api/doctors/', { query: { search: query, limit: 5, ordering: 'name' } }),
    ]).then(
      ([p, d]) => {
        if (!live) return;
        const items = [
          ...(p.data || []).map((x) => ({ key: 'p' + x.id, href: `/patients/${x.id}`, name: x.name, kind: 'Patient', note: x.phone_number })),
          ...(d.data || []).map((x) => ({ key: 'd' + x.id, href: `/doctors/${x.id}/edit`, name: x.name, kind: 'Doctor', note: x.specialization })),
        ];
        setResults({ q: query, items, error: null });
        setActive(-1);
      },
      (error) => live && setResults({ q: query, items: [], error }),
    );
    return () => (live = false);
  }, [query]);

  // "/" focuses the search from anywhere that is not a field or a dialog.
  useEffect(() => {
    const onKey = (e) => {
      if (e.key !== '/' || e.ctrlKey || e.metaKey || e.altKey) return;
      const t = e.target;
      if (t && (t.closest('input, textarea, select, [contenteditable="true"]') || document.querySelector('dialog[open]'))) return;
      e.preventDefault();
      jumped.current = true;
      setTimeout(() => input.current?.focus(), 0); // after the key: the "/" itself never lands in the box
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, []);

  const items = results.items;
  const shown = open && q.trim() !== '';
  function go(item) {
    setQ('');
    setOpen(false);
    whenLeaving(() => navigate(item.href));
  }
  function onKeyDown(e) {
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      if (!items.length) return;
      e.preventDefault();
      setOpen(true);
      const n = items.length;
      setActive((i) => (e.key === 'ArrowDown' ? (i + 1) % n : i <= 0 ? n - 1 : i - 1));
    } else if (e.key === 'Enter') {
      e.preventDefault();
      if (results.q !== q.trim()) return; // still searching: the list on screen is for older text
      const item = items[active] || (items.length === 1 ? items[0] : null);
      if (item) go(item);
    } else if (e.key === 'Escape') {
      if (shown) e.preventDefault();
      setOpen(false);
      setActive(-1);
    }
  }
  const status = !shown
    ? ''
    : results.error
      ? results.error.message
      : results.q !== q.trim()
        ? 'Searching…'
        : items.length === 0
          ? `Nothing matches “${q.trim()}”.`
          : `${items.length} result${items.length === 1 ? '' : 's'}; use the arrow keys and Enter to open one.`;

  return html`<div class="quick-search" role="search">
    <label for="quick-search" class="visually-hidden">Search patients and doctors</label>
    <input id="quick-search" ref=${input} type="search" placeholder="Search patients, doctors… ( / )" autocomplete="off"
      role="combobox" aria-expanded=${shown && items.length > 0 ? 'true' : 'false'} aria-controls="quick-results" aria-autocomplete="list"
      aria-activedescendant=${shown && active >= 0 && items[active] ? `qs-${items[active].key}` : undefined} aria-describedby="quick-status"
      value=${q} onInput=${(e) => {
        // A busy browser may still deliver the "/" that focused the box as its first character.
        let v = e.currentTarget.value;
        if (jumped.current && v.startsWith('/')) v = e.currentTarget.value = v.slice(1);
        jumped.current = false;
        setQ(v);
        setOpen(true);
      }} onKeyDown=${onKeyDown}
      onFocus=${() => setOpen(true)} onBlur=${() => setTimeout(() => document.activeElement !== input.current && setOpen(false), 150)} />
    <ul id="quick-results" role="listbox" aria-label="Patients and doctors" class=${shown && items.length ? 'quick-results shown' : 'quick-results'}>
      ${shown
        ? items.map((it, i) => html`<li key=${it.key} id=${`qs-${it.key}`} role="option" aria-selected=${i === active ? 'true' : 'false'}
            class=${i === active ? 'active' : ''} onMouseDown=${(e) => { e.preventDefault(); go(it); }}>
            <span class="qs-name">${it.name}</span> <small class="muted">${it.kind} · ${it.note}</small>
          </li>`)
        : null}
    </ul>
    <span id="quick-status" class="visually-hidden" role="status" aria-live="polite">${status}</span>
  </div>`;
}
