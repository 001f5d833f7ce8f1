import type { ComponentChildren } from 'preact';
import * as api from '../api';
import type { Resource } from '../hooks';
import { Notice } from './Notice';

interface LoadStateProps {
  resource: Resource<unknown>;
  /** What is loading, for the messages: "Api Tokens", "usage". */
  noun: string;
  /** Shown instead of the error when the server has no such route (404/405). */
  unavailableText?: string;
}

/** True when the resource failed because the server has no such endpoint yet. */
export function isUnavailable(resource: Resource<unknown>, unavailableText?: string): boolean {
  return unavailableText !== undefined && resource.error !== undefined && api.isNotAvailable(resource.error);
}

/**
 * The busy indicator and the failure notice of a loading resource: a polite status line
 * ("Loading Api Tokens…") while a load runs, and on failure an alert with the server's reason
 * and a RETRY button that loads again.
 */
export function LoadState({ resource, noun, unavailableText }: LoadStateProps) {
  const unavailable = isUnavailable(resource, unavailableText);
  return (
    <>
      {/* Always present, so screen readers announce when it starts and stops loading. */}
      <p class="load-status" role="status">
        {resource.loading && <span class="busy-indicator">Loading {noun}…</span>}
      </p>
      {unavailable && <Notice kind="unavailable">{unavailableText}</Notice>}
      {resource.error !== undefined && !unavailable && (
        <Notice kind="error">
          Could not load {noun}: {api.errorText(resource.error)}{' '}
          <button type="button" class="btn-small" onClick={resource.reload}>
            RETRY
          </button>
        </Notice>
      )}
    </>
  );
}

interface DataTableProps extends LoadStateProps {
  /** Rows on screen. */
  rows: number;
  /** Whether any filter is set: an empty answer then says "nothing matches", else "nothing yet". */
  filtered: boolean;
  emptyText: string;
  noMatchText?: string;
  /** The <table>; its rows come from resource.data, so they disappear when a load fails. */
  children: ComponentChildren;
}

/**
 * A data table with its states: busy while loading (the last rows stay, dimmed, until the new
 * page arrives), the error with RETRY, "not available", and an empty state that tells an empty
 * list ("No Api Tokens yet.") from filters that match nothing.
 */
export function DataTable(props: DataTableProps) {
  const { resource, rows, filtered, emptyText, noMatchText, children } = props;
  const unavailable = isUnavailable(resource, props.unavailableText);
  const stale = resource.loading && resource.data !== undefined;
  const empty = !resource.loading && resource.error === undefined && rows === 0;
  return (
    <div
      class="table-state"
      data-state={resource.loading ? 'loading' : resource.error !== undefined ? 'error' : 'ready'}
    >
      <LoadState resource={resource} noun={props.noun} unavailableText={props.unavailableText} />
      {!unavailable && (
        <div class={stale ? 'table-wrap stale' : 'table-wrap'} aria-busy={resource.loading}>
          {children}
          {empty && <Notice kind="empty">{filtered && noMatchText ? noMatchText : emptyText}</Notice>}
        </div>
      )}
    </div>
  );
}
