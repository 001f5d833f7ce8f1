import { Fragment } from 'preact';
import { useCallback, useId, useMemo, useState } from 'preact/hooks';
import * as api from '../api';
import { Dialog } from '../components/Dialog';
import { Pager, urlPaging } from '../components/Pager';
import { ProjectFilter } from '../components/ProjectFilter';
import { DataTable, isUnavailable } from '../components/TableState';
import { dayRange, formatCost, formatDateTime, formatLocalTime, formatNumber, localDay, TIME_ZONE } from '../format';
import { useResource } from '../hooks';
import { setQuery, useQueryText } from '../router';
import { useConsole } from '../state';

const FIRST_PAGE = { page: null };

/** What a failed call's HTTP status means (API.md §2, §3, §7, §8); the record keeps no message. */
function failureText(item: api.RequestItem): string {
  const status = item.httpStatus ?? 0;
  const meaning: Record<number, string> = {
    400: 'the provider refused the request',
    401: "the provider refused the gateway's credentials",
    403: 'not allowed for this ApiToken (model, assistant or address)',
    404: 'the provider does not know the model',
    429: 'quota exceeded or rate limit reached',
    499: 'the client closed the connection before the answer',
    500: 'internal server error',
    502: 'Bad Gateway: the provider failed or answered garbage',
    504: 'Provider Request Timeout',
  };
  const text = meaning[status] ?? (status >= 500 ? 'the provider or the server failed' : 'the request was refused');
  return status ? `HTTP ${String(status)}: ${text}` : text;
}

/**
 * The request log over GET /v1/organization/request/export (API.md §4). Its filters live in
 * the URL: `assistant`, `token`, `status`, `project`, `from`, `to` (local days), `page`, `size`.
 */
export function RequestsPage({ query }: { query: URLSearchParams }) {
  const { projects, toast } = useConsole();
  const [assistantInput, setAssistantInput] = useQueryText(query, 'assistant', 300, FIRST_PAGE);
  const [tokenInput, setTokenInput] = useQueryText(query, 'token', 300, FIRST_PAGE);
  const status = query.get('status') ?? '';
  const projectId = query.get('project') ?? '';
  const startDate = query.get('from') ?? '';
  const endDate = query.get('to') ?? '';
  const paging = urlPaging(query);
  const { page, pageSize } = paging;
  const [selected, setSelected] = useState<api.RequestItem | null>(null);
  const ids = {
    assistant: useId(),
    assistantMode: useId(),
    token: useId(),
    tokenMode: useId(),
    status: useId(),
    from: useId(),
    to: useId(),
  };

  const assistantName = (query.get('assistant') ?? '').trim();
  const apiTokenName = (query.get('token') ?? '').trim();
  const filters: api.RequestQuery = useMemo(
    () => ({
      assistantName: assistantName || undefined,
      apiToken: apiTokenName || undefined,
      status: status || undefined,
      projectId: projectId || undefined,
      // Whole days in the browser's time zone, as the date inputs show them.
      startDate: startDate ? dayRange(startDate, startDate).startDate : undefined,
      endDate: endDate ? dayRange(endDate, endDate).endDate : undefined,
    }),
    [assistantName, apiTokenName, status, projectId, startDate, endDate],
  );
  const filtered = Object.values(filters).some((value) => value !== undefined);

  // One extra row tells whether a next page exists; the export has no total count.
  const requests = useResource(
    useCallback(
      () => api.exportRequests({ ...filters, skip: (page - 1) * pageSize, count: pageSize + 1 }),
      [filters, page, pageSize],
    ),
  );

  const exportCsv = async () => {
    try {
      const blob = await api.exportRequestsCsv(filters);
      const url = URL.createObjectURL(blob);
      const link = document.createElement('a');
      link.href = url;
      link.download = `gatehouse-requests-${localDay(new Date())}.csv`;
      link.click();
      window.setTimeout(() => {
        URL.revokeObjectURL(url);
      }, 10000);
    } catch (e) {
      toast(`Export failed: ${api.errorText(e)}`, 'error');
    }
  };

  const unavailableText = 'The request log is not available on this server yet.';
  const projectNames = new Map(projects.map((p) => [p.projectId, p.projectName]));
  const items = (requests.data ?? []).slice(0, pageSize);
  const hasNext = (requests.data?.length ?? 0) > pageSize;

  return (
    <section class="page" aria-labelledby="requests-title">
      <h1 id="requests-title">Requests</h1>
      <div class="toolbar">
        <button
          type="button"
          class="btn-primary"
          disabled={isUnavailable(requests, unavailableText)}
          onClick={() => void exportCsv()}
        >
          EXPORT CSV
        </button>
      </div>
      <div class="filters" role="search" aria-label="Filter requests">
        <div class="filter">
          <label for={ids.assistant}>Assistant</label>
          <select id={ids.assistantMode} aria-label="Assistant match" disabled>
            <option>Equals</option>
          </select>
          <input
            id={ids.assistant}
            type="search"
            value={assistantInput}
            onInput={(e) => setAssistantInput(e.currentTarget.value)}
          />
        </div>
        <div class="filter">
          <label for={ids.token}>API token</label>
          <select id={ids.tokenMode} aria-label="API token match" disabled>
            <option>Equals</option>
          </select>
          <input
            id={ids.token}
            type="search"
            placeholder="name or id"
            value={tokenInput}
            onInput={(e) => setTokenInput(e.currentTarget.value)}
          />
        </div>
        <div class="filter">
          <label for={ids.status}>Status</label>
          <select
            id={ids.status}
            value={status}
            onChange={(e) => {
              setQuery({ status: e.currentTarget.value, page: null });
            }}
          >
            <option value="">All</option>
            <option value="succeeded">Succeeded</option>
            <option value="failed">Failed</option>
            <option value="pending">Pending</option>
          </select>
        </div>
        <ProjectFilter value={projectId} allLabel="All" />
        <div class="filter">
          <label for={ids.from}>From</label>
          <input
            id={ids.from}
            type="date"
            value={startDate}
            onInput={(e) => {
              setQuery({ from: e.currentTarget.value, page: null });
            }}
          />
        </div>
        <div class="filter">
          <label for={ids.to}>To</label>
          <input
            id={ids.to}
            type="date"
            value={endDate}
            onInput={(e) => {
              setQuery({ to: e.currentTarget.value, page: null });
            }}
          />
        </div>
      </div>

      <DataTable
        resource={requests}
        noun="requests"
        unavailableText={unavailableText}
        rows={items.length}
        filtered={filtered}
        emptyText="No requests yet."
        noMatchText="No requests match these filters."
      >
        <table class="data-table compact" aria-labelledby="requests-title">
          <thead>
            <tr>
              <th scope="col">Time ({TIME_ZONE})</th>
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
            {items.map((item) => {
              const project = projectNames.get(item.projectId) ?? item.projectId;
              return (
                <tr key={item.requestId} class={selected?.requestId === item.requestId ? 'selected' : undefined}>
                  <td class="nowrap">
                    <button
                      type="button"
                      class="link-button"
                      aria-haspopup="dialog"
                      title="Show request detail"
                      onClick={() => {
                        setSelected(item);
                      }}
                    >
                      {formatLocalTime(item.startTimestamp)}
                    </button>
                  </td>
                  <td class="cell-truncate" title={project}>
                    {project}
                  </td>
                  <td class="cell-truncate" title={item.assistant ?? undefined}>
                    {item.assistant ?? '—'}
                  </td>
                  <td class="cell-truncate" title={item.model ?? undefined}>
                    {item.model ?? '—'}
                  </td>
                  <td class="cell-truncate" title={item.apiToken}>
                    {item.apiToken}
                  </td>
                  <td>
                    <span class={`badge badge-${item.status}`}>{item.status}</span>
                  </td>
                  <td class="num">{formatNumber(item.elapsedTimeMs)}</td>
                  <td class="num">{formatCost(item.cost)}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </DataTable>
      {selected && (
        <RequestDetail
          item={selected}
          projectName={projectNames.get(selected.projectId) ?? selected.projectId}
          onClose={() => {
            setSelected(null);
          }}
        />
      )}
      {requests.data && (
        <Pager
          page={page}
          pages={0}
          pageSize={pageSize}
          hasNext={hasNext}
          onPage={paging.onPage}
          onPageSize={paging.onPageSize}
        />
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
    ['Status', `${item.status}${item.httpStatus ? ` (HTTP ${String(item.httpStatus)})` : ''}`],
    ...(item.status === 'failed' ? [['Error', failureText(item)] as [string, string]] : []),
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
            <dd class={label === 'Error' ? 'detail-error' : undefined}>{value}</dd>
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
