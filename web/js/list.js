// The list screens' common parts: state kept in the URL hash (search, filter, ordering, page),
// the page of rows it asks for, the results table with its states, pagination and delete dialog,
// sortable column headers, the search box.
import { useState, useEffect } from '../vendor/preact-htm/standalone.module.js';
import { api } from './api.js';
import { html, navigate, withQuery, useDebounced, useLoad, Loading, ErrorState, Empty, Pagination } from './ui.js';

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

/**
 * One list screen's data: the URL parameters and the page of rows they select from `url`.
 * `filter` names both the hash parameter and the API query parameter; refresh() reloads (after a delete).
 */
export function useResourceList(route, { base, url, filter }) {
  const { params, go } = useListParams(route, base, filter);
  const [version, setVersion] = useState(0);
  const load = useLoad(
    () =>
      api('GET', url, {
        query: { search: params.search, [filter]: params.filter, ordering: params.ordering, limit: params.limit, offset: params.offset },
      }),
    [params.search, params.filter, params.ordering, params.limit, params.offset, version],
  );
  const rows = load.value ? load.value.data || [] : [];
  const total = load.value ? load.value.total : null;
  const filtered = params.search || params.filter;
  // Nothing to search yet: the empty state alone says what to do first.
  const nothingYet = load.value && !load.error && rows.length === 0 && !filtered && params.offset === 0;

  // A page past the end (after deletes): step back to the last page that has rows.
  useEffect(() => {
    if (!load.loading && !load.error && rows.length === 0 && params.offset > 0) go({ offset: Math.max(0, params.offset - params.limit) });
  }, [load.loading, rows.length]);

  return { base, params, go, load, rows, total, filtered, nothingYet, version, refresh: () => setVersion((v) => v + 1) };
}

/**
 * A list's results: error, loading and empty states, the table (the screen gives its header cells
 * and row cells; the Edit/Delete actions column is added here), pagination, and the delete dialog,
 * which returns focus to the page heading when cancelled. `noun` is plural lower case ("doctors").
 */
export function ResourceTable({ list, id, caption, noun, empty, head, cells, deleteDialog }) {
  const { base, params, go, load, rows, total, filtered } = list;
  const [toDelete, setToDelete] = useState(null);
  // After a delete, once the list has loaded again, focus goes to the row that took the deleted
  // row's place (or the one before it, or the page's Add button when none is left), not to <body>.
  const [refocus, setRefocus] = useState(null); // {index, after: the load.value before the delete}
  useEffect(() => {
    if (!refocus || load.loading || load.value === refocus.after) return;
    setRefocus(null);
    const trs = document.querySelectorAll(`#${id} tbody tr`);
    const tr = trs[Math.min(refocus.index, trs.length - 1)];
    const el = (tr && tr.querySelector('a, button')) || document.querySelector('#main .page-head [role="button"]') || document.getElementById('page-title');
    if (el) el.focus();
  }, [refocus, load.loading, load.value]);
  const pagesLabel = `${noun[0].toUpperCase()}${noun.slice(1)} pages`;
  return html`<div class="results" aria-busy=${load.loading ? 'true' : 'false'}>
      ${load.error
        ? html`<${ErrorState} error=${load.error} onRetry=${load.reload} />`
        : load.loading && !load.value
          ? html`<${Loading} label=${`Loading ${noun}…`} />`
          : rows.length === 0 && !load.loading
            ? filtered
              ? html`<${Empty} title=${`No ${noun} match`}>
                  <p>Nothing matches ${params.search ? html`“${params.search}”` : 'this filter'}. Try another spelling, or clear the search.</p>
                  <button type="button" class="secondary" onClick=${() => go({ search: '', filter: '', offset: 0 })}>Clear search</button>
                </${Empty}>`
              : empty
            : html`<table class="data-table" id=${id}>
                <caption class="visually-hidden">${caption}${total !== null ? `, ${total} in all` : ''}</caption>
                <thead><tr>
                  ${head}
                  <th scope="col" class="actions-col"><span class="visually-hidden">Actions</span></th>
                </tr></thead>
                <tbody>
                  ${rows.map(
                    (r) => html`<tr key=${r.id}>
                      ${cells(r)}
                      <td class="actions">
                        <a href=${`#${base}/${r.id}/edit`} class="secondary" aria-label=${`Edit ${r.name}`}>Edit</a>
                        <button type="button" class="link danger-link" aria-label=${`Delete ${r.name}`} onClick=${() => setToDelete(r)}>Delete</button>
                      </td>
                    </tr>`,
                  )}
                </tbody>
              </table>
              <${Pagination} label=${pagesLabel} offset=${params.offset} limit=${params.limit} count=${rows.length} total=${total}
                hasNext=${load.value && load.value.next} onPage=${(o) => go({ offset: o }, false)} />`}
    </div>
    ${toDelete
      ? deleteDialog(toDelete, (deleted) => {
          setToDelete(null);
          if (deleted) {
            setRefocus({ index: Math.max(0, rows.findIndex((r) => r.id === toDelete.id)), after: load.value });
            list.refresh();
          }
          else requestAnimationFrame(() => document.getElementById('page-title')?.focus());
        })
      : null}`;
}
