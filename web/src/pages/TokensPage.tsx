import { useCallback, useEffect, useId, useState } from 'preact/hooks';
import * as api from '../api';
import { Pager, urlPaging } from '../components/Pager';
import { ProjectFilter } from '../components/ProjectFilter';
import { SecretDialog } from '../components/SecretDialog';
import { SortHeader, type SortDirection } from '../components/SortHeader';
import { DataTable } from '../components/TableState';
import { copyFetchedText } from '../clipboard';
import { formatDateTime } from '../format';
import { useResource } from '../hooks';
import { choiceParam, setQuery, useQueryText, withQuery } from '../router';
import { useConsole } from '../state';
import { TokenForm } from './TokenForm';
import {
  LifecycleCells,
  LifecycleHeaders,
  TokenActionsMenu,
  TokenLifecycleDialog,
  RateLimitBadge,
  type LifecycleAction,
} from './TokenLifecycle';
import { PermissionBadges } from './TokenPermissions';

type View = 'organization' | 'project';
type Editing = { kind: 'none' } | { kind: 'create' } | { kind: 'update'; token: api.Token };

const TITLES: Record<View, string> = {
  organization: 'Organization Api Tokens',
  project: 'Project Api Tokens',
};
const STATUSES = ['all', 'active', 'blocked'] as const;
// The token search's order keys (API.md §6), including the lifecycle columns' timestamp and lastUsedAt.
const ORDER_KEYS = ['name', 'description', 'status', 'projectName', 'timestamp', 'lastUsedAt'] as const;
/** A filter change starts again at page 1. */
const FIRST_PAGE = { page: null };

/**
 * The reference console's API Tokens page: one view per scope, server-side filter/sort/paging,
 * all kept in the URL: `name`, `projectName`, `status`, `order` (key.direction), `page`, `size`,
 * and in the project view `project` (the header's project; absent = every project).
 */
export function TokensPage({ view, query }: { view: View; query: URLSearchParams }) {
  const { projects, selectedProject, toast } = useConsole();
  const [nameInput, setNameInput] = useQueryText(query, 'name', 250, FIRST_PAGE);
  const [projectInput, setProjectInput] = useQueryText(query, 'projectName', 250, FIRST_PAGE);
  const status = choiceParam(query, 'status', STATUSES);
  const [orderText = '', directionText = ''] = (query.get('order') ?? '').split('.');
  const orderKey = ORDER_KEYS.find((key) => key === orderText) ?? 'name';
  const orderDirection: SortDirection = directionText === 'desc' ? 'desc' : 'asc';
  const paging = urlPaging(query);
  const { page, pageSize } = paging;
  const projectId = view === 'project' ? (query.get('project') ?? '') : '';
  const filterProject = projectId ? (projects.find((p) => p.projectId === projectId) ?? null) : null;
  const [editing, setEditing] = useState<Editing>({ kind: 'none' });
  const [created, setCreated] = useState<{ name: string; secret: string } | null>(null);
  const [copying, setCopying] = useState('');
  const [lifecycle, setLifecycle] = useState<LifecycleAction | null>(null);
  const ids = {
    name: useId(),
    nameMode: useId(),
    projectName: useId(),
    projectMode: useId(),
    status: useId(),
  };

  const name = (query.get('name') ?? '').trim();
  // A project chosen in the header is asked for by id (exact); otherwise the Project Name
  // filter applies (contains).
  const searchProjectId = filterProject ? projectId : '';
  const projectName = view === 'project' && !filterProject ? (query.get('projectName') ?? '').trim() : '';
  const scope: api.TokenScope = view === 'organization' ? 'Organization' : 'Project';
  const filtered = name !== '' || projectName !== '' || searchProjectId !== '' || status !== 'all';

  const tokens = useResource(
    useCallback(
      () =>
        api.searchTokens({
          scope: view,
          name,
          projectId: searchProjectId || undefined,
          projectName: projectName || undefined,
          status,
          orderKey,
          orderDirection,
          startPage: page,
          pageSize,
        }),
      [view, name, searchProjectId, projectName, status, orderKey, orderDirection, page, pageSize],
    ),
  );

  // A page past the end (fewer tokens than when the link was made) shows the last page.
  const pages = tokens.data?.pages ?? 0;
  useEffect(() => {
    if (pages > 0 && page > pages) setQuery({ page: pages });
  }, [page, pages]);

  const sort = (key: string, direction: SortDirection) => {
    setQuery({ order: key === 'name' && direction === 'asc' ? null : `${key}.${direction}` });
  };

  const copy = async (token: api.Token) => {
    setCopying(token.id);
    try {
      await copyFetchedText(() => api.revealToken(token.id).then((r) => r.secret));
      toast(`Secret of ${token.name} copied to clipboard.`);
    } catch (e) {
      toast(`Could not copy the secret of ${token.name}: ${api.errorText(e)}`, 'error');
    } finally {
      setCopying('');
    }
  };

  const saved = (token: api.Token, secret?: string) => {
    setEditing({ kind: 'none' });
    if (secret) setCreated({ name: token.name, secret });
    else toast(`Api Token ${token.name} updated.`);
    tokens.reload();
  };

  const canCreate = view === 'organization' || selectedProject !== null;
  const rows = tokens.data?.tokens ?? [];

  return (
    <section class="page" aria-labelledby="tokens-title">
      <nav class="tabs" aria-label="Api Token views">
        <a
          href={`#${withQuery('/tokens', { project: query.get('project') })}`}
          class={view === 'organization' ? 'tab active' : 'tab'}
          aria-current={view === 'organization' ? 'page' : undefined}
        >
          Organization Api Tokens
        </a>
        <a
          href={`#${withQuery('/tokens/project', { project: query.get('project') })}`}
          class={view === 'project' ? 'tab active' : 'tab'}
          aria-current={view === 'project' ? 'page' : undefined}
        >
          Project Api Tokens
        </a>
      </nav>
      <h1 id="tokens-title">{TITLES[view]}</h1>

      <div class="toolbar">
        <button
          type="button"
          class="btn-primary"
          disabled={!canCreate}
          onClick={() => {
            setEditing({ kind: 'create' });
          }}
        >
          CREATE NEW
        </button>
        {!canCreate && (
          <span class="form-hint">
            Create a project first; new project tokens go to the project chosen in the header.
          </span>
        )}
        {view === 'project' && selectedProject && (
          <span class="form-hint">New tokens go to project {selectedProject.projectName}.</span>
        )}
      </div>

      <div class="filters" role="search" aria-label="Filter Api Tokens">
        <div class="filter">
          <label for={ids.name}>Name</label>
          <select id={ids.nameMode} aria-label="Name match" disabled>
            <option>Contains</option>
          </select>
          <input id={ids.name} type="search" value={nameInput} onInput={(e) => setNameInput(e.currentTarget.value)} />
        </div>
        {view === 'project' && <ProjectFilter value={projectId} allLabel="All projects" />}
        {view === 'project' && (
          <div class="filter">
            <label for={ids.projectName}>Project Name</label>
            <select id={ids.projectMode} aria-label="Project Name match" disabled>
              <option>Contains</option>
            </select>
            <input
              id={ids.projectName}
              type="search"
              value={filterProject ? '' : projectInput}
              disabled={filterProject !== null}
              title={filterProject ? `Showing project ${filterProject.projectName} only` : undefined}
              onInput={(e) => setProjectInput(e.currentTarget.value)}
            />
          </div>
        )}
        <div class="filter">
          <label for={ids.status}>Status</label>
          <select
            id={ids.status}
            value={status}
            onChange={(e) => {
              setQuery({ status: e.currentTarget.value === 'all' ? null : e.currentTarget.value, page: null });
            }}
          >
            <option value="all">All</option>
            <option value="active">Active</option>
            <option value="blocked">Blocked</option>
          </select>
        </div>
      </div>

      <DataTable
        resource={tokens}
        noun="Api Tokens"
        rows={rows.length}
        filtered={filtered}
        emptyText={filterProject ? `Project ${filterProject.projectName} has no Api Tokens yet.` : 'No Api Tokens yet.'}
        noMatchText="No Api Tokens match these filters."
      >
        <table class="data-table token-table" aria-labelledby="tokens-title">
          <thead>
            <tr>
              <SortHeader label="Name" sortKey="name" activeKey={orderKey} direction={orderDirection} onSort={sort} />
              <SortHeader
                label="Description"
                sortKey="description"
                activeKey={orderKey}
                direction={orderDirection}
                onSort={sort}
              />
              <SortHeader
                label="Status"
                sortKey="status"
                activeKey={orderKey}
                direction={orderDirection}
                onSort={sort}
              />
              {view === 'project' && (
                <SortHeader
                  label="Project"
                  sortKey="projectName"
                  activeKey={orderKey}
                  direction={orderDirection}
                  onSort={sort}
                />
              )}
              <LifecycleHeaders orderKey={orderKey} direction={orderDirection} onSort={sort} />
              <th scope="col">
                <span class="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {rows.map((token) => (
              <tr key={token.id} data-token-id={token.id}>
                <td
                  class="cell-name"
                  title={`${token.name} · ${token.secretPrefix}… · created ${formatDateTime(token.timestamp)} · last used ${formatDateTime(token.lastUsedAt)}`}
                >
                  {token.name}
                </td>
                <td class="cell-description" data-label="Description" title={token.description || undefined}>
                  {token.description}
                </td>
                <td data-label="Status">
                  <span class={`badge badge-${token.status.toLowerCase()}`}>{token.status}</span>
                  <RateLimitBadge token={token} />
                  <PermissionBadges token={token} />
                </td>
                {view === 'project' && (
                  <td class="cell-name cell-project" data-label="Project" title={token.projectName ?? undefined}>
                    {token.projectName}
                  </td>
                )}
                <LifecycleCells token={token} />
                <td class="cell-actions">
                  {/* The visible labels are the reference console's; screen readers also hear whose row it is. */}
                  <button
                    type="button"
                    class="btn-small"
                    aria-label={`Update token ${token.name}`}
                    onClick={() => {
                      setEditing({ kind: 'update', token });
                    }}
                  >
                    UPDATE
                  </button>
                  <button
                    type="button"
                    class="btn-small"
                    aria-label={`Copy secret of token ${token.name}`}
                    disabled={copying === token.id}
                    onClick={() => void copy(token)}
                  >
                    COPY
                  </button>
                  <TokenActionsMenu token={token} onChoose={setLifecycle} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </DataTable>

      {tokens.data && (
        <Pager
          page={tokens.data.startPage || page}
          pages={tokens.data.pages}
          count={tokens.data.count}
          pageSize={pageSize}
          onPage={paging.onPage}
          onPageSize={paging.onPageSize}
        />
      )}

      {editing.kind !== 'none' && (
        <TokenForm
          scope={editing.kind === 'update' ? editing.token.scope : scope}
          token={editing.kind === 'update' ? editing.token : undefined}
          project={selectedProject}
          onSaved={saved}
          onCancel={() => {
            setEditing({ kind: 'none' });
          }}
        />
      )}
      {lifecycle && (
        <TokenLifecycleDialog action={lifecycle} onClose={() => setLifecycle(null)} onChanged={tokens.reload} />
      )}
      {created && (
        <SecretDialog
          title="Api Token created"
          tokenName={created.name}
          secret={created.secret}
          onClose={() => {
            setCreated(null);
          }}
        />
      )}
    </section>
  );
}
