import { useEffect, useState } from 'preact/hooks';

/** The part of location.hash after "#": a path like "/tokens/project" and its query. */
export interface Route {
  path: string;
  query: URLSearchParams;
}

function parseHash(): Route {
  const raw = window.location.hash.replace(/^#/, '') || '/tokens';
  const [path, search = ''] = raw.split('?', 2);
  return { path: path || '/tokens', query: new URLSearchParams(search) };
}

/** Current hash route, re-rendering on every hashchange. */
export function useRoute(): Route {
  const [route, setRoute] = useState(parseHash);
  useEffect(() => {
    const onChange = () => setRoute(parseHash());
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return route;
}

export function navigate(path: string): void {
  window.location.hash = `#${path}`;
}
