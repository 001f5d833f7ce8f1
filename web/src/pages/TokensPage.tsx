import { useEffect, useId, useState } from 'preact/hooks';
import * as api from '../api';
import { Notice } from '../components/Notice';
import { Pager } from '../components/Pager';
import { SecretDialog } from '../components/SecretDialog';
import { SortHeader, type SortDirection } from '../components/SortHeader';
import { copyFetchedText } from '../clipboard';
import { formatDateTime } from '../format';
import { useDebounced } from '../hooks';
import { useConsole } from '../state';
import { TokenForm } from './TokenForm';
import { PermissionBadges } from './TokenPermissions';

type View = 'organization' | 'project';
type StatusFilter = 'all' | 'active' | 'blocked';
type Editing = { kind: 'none' } | { kind: 'create' } | { kind: 'update'; token: api.Token };

const TITLES: Record<View, string> = {
  organization: 'Organization Api Tokens',
  project: 'Project Api Tokens',
};

/** The reference console's API Tokens page: one view per scope, server-side filter/sort/paging. */
export function TokensPage({ view }: { view: View }) {
  const { selectedProject, toast } = useConsole();
  const [nameFilter, setNameFilter] = useState('');
  const [projectFilter, setProjectFilter] = useState('');
  const [status, setStatus] = useState<StatusFilter>('all');
  const [orderKey, setOrderKey] = useState('name');
  const [orderDirection, setOrderDirection] = useState<SortDirection>('asc');
  const [page, setPage] = useState(1);
  const [pageSize, setPageSize] = useState(20);
  const [result, setResult] = useState<api.TokenPage | null>(null);
  const [loadError, setLoadError] = useState('');
  const [reload, setReload] = useState(0);
  const [editing, setEditing] = useState<Editing>({ kind: 'none' });
  const [created, setCreated] = useState<{ name: string; secret: string } | null>(null);
  const [copying, setCopying] = useState('');
  const ids = { name: useId(), nameMode: useId(), project: useId(), projectMode: useId(), status: useId() };

  const name = useDebounced(nameFilter.trim(), 250);
  const projectName = useDebounced(projectFilter.trim(), 250);
  const scope: api.TokenScope = view === 'organization' ? 'Organization' : 'Project';

  useEffect(() => setPage(1), [name, projectName, status, pageSize]);

  useEffect(() => {
    let current = true;
    api
      .searchTokens({
        scope: view,
        name,
        projectName: view === 'project' ? projectName : undefined,
        status,
        orderKey,
        orderDirection,
        startPage: page,
        pageSize,
      })
      .then(
        (r) => {
          if (!current) return;
          setResult(r);
          setLoadError('');
          if (r.pages > 0 && page > r.pages) setPage(r.pages);
        },
        (e) => current && setLoadError(api.errorText(e)),
      );
    return () => {
      current = false;
    };
  }, [view, name, projectName, status, orderKey, orderDirection, page, pageSize, reload]);

  const sort = (key: string, direction: SortDirection) => {
    setOrderKey(key);
    setOrderDirection(direction);
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
    setReload((n) => n + 1);
  };

  const canCreate = view === 'organization' || selectedProject !== null;
  const tokens = result?.tokens ?? [];

  return (
    <section class="page" aria-labelledby="tokens-title">
      <nav class="tabs" aria-label="Api Token views">
        <a
          href="#/tokens"
          class={view === 'organization' ? 'tab active' : 'tab'}
          aria-current={view === 'organization' ? 'page' : undefined}
        >
          Organization Api Tokens
        </a>
        <a
          href="#/tokens/project"
          class={view === 'project' ? 'tab active' : 'tab'}
          aria-current={view === 'project' ? 'page' : undefined}
        >
          Project Api Tokens
        </a>
      </nav>
      <h1 id="tokens-title">{TITLES[view]}</h1>

      <div class="toolbar">
        <button type="button" class="btn-primary" disabled={!canCreate} onClick={() => setEditing({ kind: 'create' })}>
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
          <input id={ids.name} type="search" value={nameFilter} onInput={(e) => setNameFilter(e.currentTarget.value)} />
        </div>
        {view === 'project' && (
          <div class="filter">
            <label for={ids.project}>Project Name</label>
            <select id={ids.projectMode} aria-label="Project Name match" disabled>
              <option>Contains</option>
            </select>
            <input
              id={ids.project}
              type="search"
              value={projectFilter}
              onInput={(e) => setProjectFilter(e.currentTarget.value)}
            />
          </div>
        )}
        <div class="filter">
          <label for={ids.status}>Status</label>
          <select id={ids.status} value={status} onChange={(e) => setStatus(e.currentTarget.value as StatusFilter)}>
            <option value="all">All</option>
            <option value="active">Active</option>
            <option value="blocked">Blocked</option>
          </select>
        </div>
      </div>

      {loadError && <Notice kind="error">Could not load Api Tokens: {loadError}</Notice>}

      <div class="table-wrap">
        <table class="data-table" aria-labelledby="tokens-title" aria-busy={result === null}>
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
              <th scope="col">
                <span class="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {tokens.map((token) => (
              <tr key={token.id} data-token-id={token.id}>
                <td
                  class="cell-name"
                  title={`${token.secretPrefix}… · created ${formatDateTime(token.timestamp)} · last used ${formatDateTime(token.lastUsedAt)}`}
                >
                  {token.name}
                </td>
                <td class="cell-description">{token.description}</td>
                <td>
                  <span class={`badge badge-${token.status.toLowerCase()}`}>{token.status}</span>
                  <PermissionBadges token={token} />
                </td>
                {view === 'project' && <td>{token.projectName}</td>}
                <td class="cell-actions">
                  {/* The visible labels are the reference console's; screen readers also hear whose row it is. */}
                  <button
                    type="button"
                    class="btn-small"
                    aria-label={`Update token ${token.name}`}
                    onClick={() => setEditing({ kind: 'update', token })}
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
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {result && tokens.length === 0 && <Notice kind="empty">No Api Tokens match these filters.</Notice>}
      </div>

      {result && (
        <Pager
          page={result.startPage || page}
          pages={result.pages}
          count={result.count}
          pageSize={pageSize}
          onPage={setPage}
          onPageSize={setPageSize}
        />
      )}

      {editing.kind !== 'none' && (
        <TokenForm
          scope={editing.kind === 'update' ? editing.token.scope : scope}
          token={editing.kind === 'update' ? editing.token : undefined}
          project={selectedProject}
          onSaved={saved}
          onCancel={() => setEditing({ kind: 'none' })}
        />
      )}
      {created && (
        <SecretDialog
          title="Api Token created"
          tokenName={created.name}
          secret={created.secret}
          onClose={() => setCreated(null)}
        />
      )}
    </section>
  );
}
