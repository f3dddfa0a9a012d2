// The list screens' common parts: state kept in the URL hash (search, filter, ordering, page),
// sortable column headers, the search box.
import { useState, useEffect } from '../vendor/preact-htm/standalone.module.js';
import { html, navigate, withQuery, useDebounced } from './ui.js';

export const PAGE_SIZES = [20, 50, 100];

/** Read list parameters from the route; setters write them back (replacing the history entry). */
export function useListParams(route, base, filterName) {
  const q = route.query;
  const params = {
    search: q.get('search') || '',
    ordering: q.get('ordering') || '',
    offset: Math.max(0, parseInt(q.get('offset') || '0', 10) || 0),
    limit: PAGE_SIZES.includes(Number(q.get('limit'))) ? Number(q.get('limit')) : PAGE_SIZES[0],
    filter: filterName ? q.get(filterName) || '' : '',
  };
  const go = (changes, replace = true) => {
    const p = { ...params, ...changes };
    const out = { search: p.search, ordering: p.ordering, offset: p.offset, limit: p.limit === PAGE_SIZES[0] ? '' : p.limit };
    if (filterName) out[filterName] = p.filter;
    navigate(withQuery(base, out), { replace });
  };
  return { params, go };
}

/** The search box: typing updates the URL after a short pause, and the list reloads. */
export function SearchBox({ id, label, placeholder, value, onSearch }) {
  const [text, setText] = useState(value);
  const debounced = useDebounced(text, 300);
  useEffect(() => setText(value), [value]);
  useEffect(() => {
    if (debounced !== value) onSearch(debounced);
  }, [debounced]);
  return html`<div class="field search-field">
    <label for=${id}>${label}</label>
    <input id=${id} type="search" value=${text} placeholder=${placeholder} autocomplete="off"
      onInput=${(e) => setText(e.currentTarget.value)}
      onKeyDown=${(e) => e.key === 'Enter' && (e.preventDefault(), onSearch(text))} />
  </div>`;
}

/** A column header that sorts by `field`; aria-sort tells screen readers the current order. */
export function SortHeader({ field, label, ordering, onSort, className }) {
  const asc = ordering === field;
  const desc = ordering === '-' + field;
  const sort = asc ? 'ascending' : desc ? 'descending' : 'none';
  const next = asc ? '-' + field : desc ? '' : field;
  const arrow = asc ? '▲' : desc ? '▼' : '↕';
  return html`<th scope="col" aria-sort=${sort} class=${className}>
    <button type="button" class="sort" onClick=${() => onSort(next)}>
      ${label} <span aria-hidden="true" class="arrow">${arrow}</span>
      <span class="visually-hidden">${asc ? ', sorted A to Z; activate to sort Z to A' : desc ? ', sorted Z to A; activate to clear sorting' : ', activate to sort'}</span>
    </button>
  </th>`;
}

export function PageSize({ id, value, onChange }) {
  return html`<div class="field page-size">
    <label for=${id}>Rows per page</label>
    <select id=${id} value=${String(value)} onChange=${(e) => onChange(Number(e.currentTarget.value))}>
      ${PAGE_SIZES.map((n) => html`<option value=${String(n)}>${n}</option>`)}
    </select>
  </div>`;
}

/** On phones the table headers are hidden, so sorting is a select there (hidden on wider screens). */
export function SortSelect({ id, options, value, onChange }) {
  return html`<div class="field sort-field">
    <label for=${id}>Sort by</label>
    <select id=${id} value=${value} onChange=${(e) => onChange(e.currentTarget.value)}>
      <option value="">Order added</option>
      ${options.map(([v, l]) => html`<option value=${v}>${l}</option>`)}
    </select>
  </div>`;
}
