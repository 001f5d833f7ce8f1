import { useCallback, useEffect, useState } from 'preact/hooks';

/** The value, updated only after it has stopped changing for `delayMs`. */
export function useDebounced<T>(value: T, delayMs: number): T {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const timer = window.setTimeout(() => {
      setSettled(value);
    }, delayMs);
    return () => {
      window.clearTimeout(timer);
    };
  }, [value, delayMs]);
  return settled;
}

/** What a page knows about data it loads: see useResource. */
export interface Resource<T> {
  /** The last value loaded; kept (stale) while a new load runs, cleared when a load fails. */
  data: T | undefined;
  /** A load is in flight. */
  loading: boolean;
  /** Why the last load failed; undefined after a success and while retrying. */
  error: unknown;
  /** Loads again with the same arguments (the Retry button, or after a change). */
  reload: () => void;
}

interface ResourceState<T> {
  data: T | undefined;
  loading: boolean;
  error: unknown;
}

/**
 * Loads data for a page: runs `load` on mount and whenever it changes (wrap it in useCallback
 * with the query's inputs as dependencies), and only the answer of the newest call is kept,
 * so a slow, older response never overwrites a newer one.
 */
export function useResource<T>(load: () => Promise<T>): Resource<T> {
  const [state, setState] = useState<ResourceState<T>>({ data: undefined, loading: true, error: undefined });
  const [attempt, setAttempt] = useState(0);

  useEffect(() => {
    let current = true;
    setState((previous) => ({ data: previous.data, loading: true, error: undefined }));
    load().then(
      (data) => {
        if (current) setState({ data, loading: false, error: undefined });
      },
      (error: unknown) => {
        if (current) setState({ data: undefined, loading: false, error: error ?? new Error('failed') });
      },
    );
    return () => {
      current = false;
    };
  }, [load, attempt]);

  const reload = useCallback(() => {
    setAttempt((n) => n + 1);
  }, []);
  return { ...state, reload };
}
