import { useEffect, useRef, useState } from 'preact/hooks';
import { withQuery } from './api';

/**
 * The part of location.hash after "#": a path like "/tokens/project" and its query, which holds
 * the page's state (filters, sort, page, page size, date range, project) so that a reload or a
 * shared link shows the same view, e.g. `#/tokens/project?name=ci&order=name.desc&page=3`.
 */
export interface Route {
  path: string;
  query: URLSearchParams;
}

/** Dispatched on window when setQuery rewrites the hash (replaceState fires no hashchange). */
const ROUTE_CHANGED_EVENT = 'gatehouse:route-changed';

function parseHash(): Route {
  const raw = window.location.hash.replace(/^#/, '') || '/tokens';
  const [path, search = ''] = raw.split('?', 2);
  return { path: path || '/tokens', query: new URLSearchParams(search) };
}

/** Current hash route, re-rendering on every change. */
export function useRoute(): Route {
  const [route, setRoute] = useState(parseHash);
  useEffect(() => {
    const onChange = () => {
      setRoute(parseHash());
    };
    window.addEventListener('hashchange', onChange);
    window.addEventListener(ROUTE_CHANGED_EVENT, onChange);
    return () => {
      window.removeEventListener('hashchange', onChange);
      window.removeEventListener(ROUTE_CHANGED_EVENT, onChange);
    };
  }, []);
  return route;
}

/** Goes to a console path ("/tokens?status=blocked"); `replace` leaves no Back step. */
export function navigate(path: string, options: { replace?: boolean } = {}): void {
  if (options.replace) window.location.replace(`#${path}`);
  else window.location.hash = `#${path}`;
}

/** The current hash without "#" ("/requests?status=failed"); empty for a bare URL. */
export function currentLocation(): string {
  return window.location.hash.replace(/^#/, '');
}

export type QueryChanges = Record<string, string | number | null | undefined>;

// Links and the hash use the same query builder as API calls.
export { withQuery };

/**
 * Changes some parameters of the current route's query (empty, null or undefined removes one),
 * replacing the history entry: typing in a filter does not add a Back step per keystroke.
 */
export function setQuery(changes: QueryChanges): void {
  const { path, query } = parseHash();
  for (const [key, value] of Object.entries(changes)) {
    if (value === undefined || value === null || value === '') query.delete(key);
    else query.set(key, String(value));
  }
  const target = `#${withQuery(path, Object.fromEntries(query.entries()))}`;
  if (target === window.location.hash) return;
  window.history.replaceState(window.history.state, '', target);
  window.dispatchEvent(new Event(ROUTE_CHANGED_EVENT));
}

/** A positive integer query parameter, or `fallback`. */
export function intParam(query: URLSearchParams, key: string, fallback: number, allowed?: number[]): number {
  const value = Number(query.get(key));
  if (!Number.isInteger(value) || value < 1) return fallback;
  if (allowed && !allowed.includes(value)) return fallback;
  return value;
}

/** A query parameter that must be one of `allowed`, or the first of them. */
export function choiceParam<T extends string>(query: URLSearchParams, key: string, allowed: readonly T[]): T {
  const value = (query.get(key) ?? '').toLowerCase();
  return allowed.find((choice) => choice === value) ?? allowed[0];
}

/**
 * A text filter kept in the query parameter `key`: returns what the input shows and its
 * onInput setter. Typing is written to the URL after `delayMs` without typing (with `reset`,
 * e.g. `{page: null}`); a change of the URL from elsewhere (Back, a link) shows up in the input.
 */
export function useQueryText(
  query: URLSearchParams,
  key: string,
  delayMs: number,
  reset: QueryChanges = {},
): [string, (text: string) => void] {
  const committed = query.get(key) ?? '';
  // null: not being edited, the input shows the URL's value.
  const [draft, setDraft] = useState<string | null>(null);
  // What was typed last, at once: the effect that replaces the timer of an earlier draft runs
  // only after the next paint, and that timer may fall due before it.
  const typedRef = useRef<string | null>(null);
  const resetKey = JSON.stringify(reset);
  useEffect(() => {
    if (draft === null) return;
    const timer = window.setTimeout(() => {
      // Typing went on since this draft: the newer one's own timer writes it.
      if (typedRef.current !== draft) return;
      setQuery({ ...(JSON.parse(resetKey) as QueryChanges), [key]: draft });
      typedRef.current = null;
      setDraft(null);
    }, delayMs);
    return () => {
      window.clearTimeout(timer);
    };
  }, [draft, key, delayMs, resetKey]);
  const type = (text: string) => {
    typedRef.current = text;
    setDraft(text);
  };
  return [draft ?? committed, type];
}
