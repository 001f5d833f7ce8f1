import { useEffect, useState } from 'preact/hooks';
import * as api from '../api';
import { Notice } from '../components/Notice';
import { Pager } from '../components/Pager';
import { formatDateTime } from '../format';

type Load =
  | { kind: 'loading' }
  | { kind: 'unavailable' }
  | { kind: 'error'; text: string }
  | { kind: 'ready'; count: number; pages: number; events: api.AuditEvent[] };

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

/** The organization's audit trail (token reveals, blocks, project changes, soft-limit crossings). */
export function AuditPage() {
  const [page, setPage] = useState(1);
  const [pageSize, setPageSize] = useState(20);
  const [load, setLoad] = useState<Load>({ kind: 'loading' });

  useEffect(() => {
    let current = true;
    api.listAudit(page, pageSize).then(
      (r) => current && setLoad({ kind: 'ready', count: r.count, pages: r.pages, events: r.events ?? [] }),
      (e) =>
        current && setLoad(api.isNotAvailable(e) ? { kind: 'unavailable' } : { kind: 'error', text: api.errorText(e) }),
    );
    return () => {
      current = false;
    };
  }, [page, pageSize]);

  return (
    <section class="page" aria-labelledby="audit-title">
      <h1 id="audit-title">Audit</h1>
      {load.kind === 'unavailable' && (
        <Notice kind="unavailable">The audit log is not available on this server yet.</Notice>
      )}
      {load.kind === 'error' && <Notice kind="error">Could not load the audit log: {load.text}</Notice>}
      {load.kind === 'ready' && (
        <>
          <div class="table-wrap">
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
                {load.events.map((event) => (
                  <tr key={event.id}>
                    <td>{formatDateTime(event.timestamp)}</td>
                    <td>{event.action}</td>
                    <td title={event.actorTokenId || undefined}>{event.actor || '(system)'}</td>
                    <td title={event.targetId && event.targetId !== event.target ? event.targetId : undefined}>
                      {event.target || '—'}
                    </td>
                    <td class="cell-description">{describeDetails(event.details) || '—'}</td>
                  </tr>
                ))}
              </tbody>
            </table>
            {load.events.length === 0 && <Notice kind="empty">No audit events yet.</Notice>}
          </div>
          <Pager
            page={page}
            pages={load.pages}
            count={load.count}
            pageSize={pageSize}
            onPage={setPage}
            onPageSize={setPageSize}
          />
        </>
      )}
    </section>
  );
}
