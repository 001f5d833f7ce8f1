import { Fragment } from 'preact';
import { useEffect, useId, useMemo, useState } from 'preact/hooks';
import * as api from '../api';
import { Dialog } from '../components/Dialog';
import { Notice } from '../components/Notice';
import { Pager } from '../components/Pager';
import { formatCost, formatDateTime, formatNumber } from '../format';
import { useDebounced } from '../hooks';
import { useConsole } from '../state';

type Load =
  | { kind: 'loading' }
  | { kind: 'unavailable' }
  | { kind: 'error'; text: string }
  | { kind: 'ready'; items: api.RequestItem[] };

/** The request log over GET /v1/organization/request/export (API.md §4). */
export function RequestsPage() {
  const { projects, toast } = useConsole();
  const [assistant, setAssistant] = useState('');
  const [apiToken, setApiToken] = useState('');
  const [status, setStatus] = useState('');
  const [projectId, setProjectId] = useState('');
  const [startDate, setStartDate] = useState('');
  const [endDate, setEndDate] = useState('');
  const [page, setPage] = useState(1);
  const [pageSize, setPageSize] = useState(20);
  const [load, setLoad] = useState<Load>({ kind: 'loading' });
  const [selected, setSelected] = useState<api.RequestItem | null>(null);
  const ids = { assistant: useId(), token: useId(), status: useId(), project: useId(), from: useId(), to: useId() };

  const assistantName = useDebounced(assistant.trim(), 300);
  const apiTokenName = useDebounced(apiToken.trim(), 300);
  const filters: api.RequestQuery = useMemo(
    () => ({
      assistantName: assistantName || undefined,
      apiToken: apiTokenName || undefined,
      status: status || undefined,
      projectId: projectId || undefined,
      startDate: startDate || undefined,
      endDate: endDate || undefined,
    }),
    [assistantName, apiTokenName, status, projectId, startDate, endDate],
  );

  useEffect(() => {
    setPage(1);
  }, [filters, pageSize]);

  useEffect(() => {
    let current = true;
    // One extra row tells whether a next page exists; the export has no total count.
    api.exportRequests({ ...filters, skip: (page - 1) * pageSize, count: pageSize + 1 }).then(
      (items) => current && setLoad({ kind: 'ready', items }),
      (e) =>
        current && setLoad(api.isNotAvailable(e) ? { kind: 'unavailable' } : { kind: 'error', text: api.errorText(e) }),
    );
    return () => {
      current = false;
    };
  }, [filters, page, pageSize]);

  const exportCsv = async () => {
    try {
      const blob = await api.exportRequestsCsv(filters);
      const url = URL.createObjectURL(blob);
      const link = document.createElement('a');
      link.href = url;
      link.download = `gatehouse-requests-${new Date().toISOString().slice(0, 10)}.csv`;
      link.click();
      window.setTimeout(() => URL.revokeObjectURL(url), 10000);
    } catch (e) {
      toast(`Export failed: ${api.errorText(e)}`, 'error');
    }
  };

  const projectNames = new Map(projects.map((p) => [p.projectId, p.projectName]));
  const items = load.kind === 'ready' ? load.items.slice(0, pageSize) : [];
  const hasNext = load.kind === 'ready' && load.items.length > pageSize;

  return (
    <section class="page" aria-labelledby="requests-title">
      <h1 id="requests-title">Requests</h1>
      <div class="toolbar">
        <button
          type="button"
          class="btn-primary"
          disabled={load.kind === 'unavailable'}
          onClick={() => void exportCsv()}
        >
          EXPORT CSV
        </button>
      </div>
      <div class="filters" role="search" aria-label="Filter requests">
        <div class="filter">
          <label for={ids.assistant}>Assistant</label>
          <input
            id={ids.assistant}
            type="search"
            value={assistant}
            onInput={(e) => setAssistant(e.currentTarget.value)}
          />
        </div>
        <div class="filter">
          <label for={ids.token}>API token</label>
          <input id={ids.token} type="search" value={apiToken} onInput={(e) => setApiToken(e.currentTarget.value)} />
        </div>
        <div class="filter">
          <label for={ids.status}>Status</label>
          <select id={ids.status} value={status} onChange={(e) => setStatus(e.currentTarget.value)}>
            <option value="">All</option>
            <option value="succeeded">Succeeded</option>
            <option value="failed">Failed</option>
            <option value="pending">Pending</option>
          </select>
        </div>
        <div class="filter">
          <label for={ids.project}>Project</label>
          <select id={ids.project} value={projectId} onChange={(e) => setProjectId(e.currentTarget.value)}>
            <option value="">All</option>
            {projects.map((p) => (
              <option value={p.projectId} key={p.projectId}>
                {p.projectName}
              </option>
            ))}
          </select>
        </div>
        <div class="filter">
          <label for={ids.from}>From</label>
          <input id={ids.from} type="date" value={startDate} onInput={(e) => setStartDate(e.currentTarget.value)} />
        </div>
        <div class="filter">
          <label for={ids.to}>To</label>
          <input id={ids.to} type="date" value={endDate} onInput={(e) => setEndDate(e.currentTarget.value)} />
        </div>
      </div>

      {load.kind === 'unavailable' && (
        <Notice kind="unavailable">The request log is not available on this server yet.</Notice>
      )}
      {load.kind === 'error' && <Notice kind="error">Could not load requests: {load.text}</Notice>}
      {load.kind === 'ready' && (
        <div>
          <div class="table-wrap">
            <table class="data-table compact" aria-labelledby="requests-title">
              <thead>
                <tr>
                  <th scope="col">Time (UTC)</th>
                  <th scope="col">Project</th>
                  <th scope="col">Assistant</th>
                  <th scope="col">Model</th>
                  <th scope="col">API token</th>
                  <th scope="col">Status</th>
                  <th scope="col" class="num">
                    Time (ms)
                  </th>
                  <th scope="col" class="num">
                    Cost
                  </th>
                </tr>
              </thead>
              <tbody>
                {items.map((item) => (
                  <tr key={item.requestId} class={selected?.requestId === item.requestId ? 'selected' : undefined}>
                    <td class="nowrap">
                      <button
                        type="button"
                        class="link-button"
                        aria-haspopup="dialog"
                        title="Show request detail"
                        onClick={() => setSelected(item)}
                      >
                        {formatDateTime(item.startTimestamp ?? item.timestamp).replace(' UTC', '')}
                      </button>
                    </td>
                    <td>{projectNames.get(item.projectId) ?? item.projectId}</td>
                    <td>{item.assistant ?? '—'}</td>
                    <td>{item.model ?? '—'}</td>
                    <td>{item.apiToken}</td>
                    <td>
                      <span class={`badge badge-${item.status}`}>{item.status}</span>
                    </td>
                    <td class="num">{formatNumber(item.elapsedTimeMs)}</td>
                    <td class="num">{formatCost(item.cost)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
            {items.length === 0 && <Notice kind="empty">No requests match these filters.</Notice>}
          </div>
          {selected && (
            <RequestDetail
              item={selected}
              projectName={projectNames.get(selected.projectId) ?? selected.projectId}
              onClose={() => setSelected(null)}
            />
          )}
        </div>
      )}
      {load.kind === 'ready' && (
        <Pager page={page} pages={0} pageSize={pageSize} hasNext={hasNext} onPage={setPage} onPageSize={setPageSize} />
      )}
    </section>
  );
}

function RequestDetail({
  item,
  projectName,
  onClose,
}: {
  item: api.RequestItem;
  projectName: string;
  onClose: () => void;
}) {
  const rows: [string, string][] = [
    ['Request', item.requestId],
    ['Project', projectName],
    ['Status', `${item.status}${item.httpStatus ? ` (HTTP ${item.httpStatus})` : ''}`],
    ['Model', item.model ?? '—'],
    ['Assistant', [item.assistant, item.intent].filter(Boolean).join(' / ') || '—'],
    ['API token', item.apiToken],
    ['Session', item.sessionId ?? '—'],
    ['Started', formatDateTime(item.startTimestamp)],
    ['Ended', formatDateTime(item.endTimestamp)],
    ['Elapsed', item.elapsedTimeMs === null ? '—' : `${formatNumber(item.elapsedTimeMs)} ms`],
    [
      'Tokens',
      `${formatNumber(item.promptTokens)} prompt + ${formatNumber(item.completionTokens)} completion = ${formatNumber(item.totalTokens)}`,
    ],
    ['Cost', formatCost(item.cost)],
  ];
  return (
    <Dialog title="Request detail" onClose={onClose} wide>
      <dl class="detail-list">
        {rows.map(([label, value]) => (
          <Fragment key={label}>
            <dt>{label}</dt>
            <dd>{value}</dd>
          </Fragment>
        ))}
      </dl>
      <h3>Input</h3>
      <pre class="text-block">{item.inputText ?? '(not logged)'}</pre>
      <h3>Output</h3>
      <pre class="text-block">{item.output ?? '(not logged)'}</pre>
      <h3>System prompt</h3>
      <pre class="text-block">{item.prompt ?? '(not logged)'}</pre>
      <div class="dialog-actions">
        <button type="button" onClick={onClose} autofocus>
          CLOSE
        </button>
      </div>
    </Dialog>
  );
}
