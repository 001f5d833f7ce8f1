import { useCallback } from 'preact/hooks';
import * as api from '../api';
import { Pager, urlPaging } from '../components/Pager';
import { DataTable } from '../components/TableState';
import { formatDateTime } from '../format';
import { useResource } from '../hooks';

/** "field: from → to; …" for an event's details. */
function describeDetails(details: api.AuditEvent['details']): string {
  if (!details) return '';
  if (typeof details === 'string') return details;
  const show = (value: unknown) =>
    value === null || value === undefined ? '∅' : typeof value === 'string' ? value : JSON.stringify(value);
  return Object.entries(details)
    .map(([field, change]) => {
      if (change && typeof change === 'object' && 'to' in change) {
        const { from, to } = change as { from: unknown; to: unknown };
        return `${field}: ${show(from)} → ${show(to)}`;
      }
      return `${field}: ${show(change)}`;
    })
    .join('; ');
}

/** The organization's audit trail (token reveals, blocks, project changes, soft-limit crossings); `page` and `size` in the URL. */
export function AuditPage({ query }: { query: URLSearchParams }) {
  const paging = urlPaging(query);
  const { page, pageSize } = paging;
  const audit = useResource(useCallback(() => api.listAudit(page, pageSize), [page, pageSize]));
  const events = audit.data?.events ?? [];

  return (
    <section class="page" aria-labelledby="audit-title">
      <h1 id="audit-title">Audit</h1>
      <DataTable
        resource={audit}
        noun="the audit log"
        unavailableText="The audit log is not available on this server yet."
        rows={events.length}
        filtered={false}
        emptyText="No audit events yet."
      >
        <table class="data-table" aria-labelledby="audit-title">
          <thead>
            <tr>
              <th scope="col">Time</th>
              <th scope="col">Action</th>
              <th scope="col">Actor</th>
              <th scope="col">Target</th>
              <th scope="col">Details</th>
            </tr>
          </thead>
          <tbody>
            {events.map((event) => (
              <tr key={event.id}>
                <td class="nowrap">{formatDateTime(event.timestamp)}</td>
                <td>{event.action}</td>
                <td
                  class="cell-truncate"
                  title={[event.actor || '(system)', event.actorTokenId].filter(Boolean).join(' · ')}
                >
                  {event.actor || '(system)'}
                </td>
                <td
                  class="cell-truncate"
                  title={
                    [event.target, event.targetId !== event.target ? event.targetId : ''].filter(Boolean).join(' · ') ||
                    undefined
                  }
                >
                  {event.target || '—'}
                </td>
                <td class="cell-description">{describeDetails(event.details) || '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </DataTable>
      {audit.data && (
        <Pager
          page={page}
          pages={audit.data.pages}
          count={audit.data.count}
          pageSize={pageSize}
          onPage={paging.onPage}
          onPageSize={paging.onPageSize}
        />
      )}
    </section>
  );
}
