// HTTP client for the Gatehouse API (docs: shared API.md). Every call goes to the same
// origin with the console session cookie; state-changing calls carry X-CSRF-Token.

export interface ApiErrorItem {
  id: number;
  description: string;
}

/** A non-2xx answer, with the server's error envelope when it sent one. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly errors: ApiErrorItem[],
  ) {
    super(errors.map((e) => e.description).join('; ') || `HTTP ${status}`);
  }
}

export interface Session {
  csrfToken: string;
  organizationId: string;
  organizationName: string;
  apiTokenId: string;
  apiTokenName: string;
}

export type TokenStatus = 'Active' | 'Blocked' | 'Revoked';
export type TokenScope = 'Organization' | 'Project';

export interface Token {
  id: string;
  name: string;
  description: string;
  status: TokenStatus;
  scope: TokenScope;
  projectId: string | null;
  projectName: string | null;
  organizationId: string;
  timestamp: string;
  lastUsedAt: string | null;
  expiresAt: string | null;
  secretPrefix: string;
  /** Calls allowed within a sliding minute; null = no limit (API.md §6). */
  rateLimitPerMinute?: number | null;
  /** API.md §3 permissions: null = no restriction, [] = nothing allowed. */
  allowedModels?: string[] | null;
  allowedAssistants?: string[] | null;
  allowedCidrs?: string[] | null;
}

export interface TokenPage {
  count: number;
  pages: number;
  startPage: number;
  pageSize: number;
  tokens: Token[];
}

export interface Project {
  projectId: string;
  projectName: string;
  projectDescription: string;
  projectActive: boolean;
  projectStatus: number;
  organizationId: string;
  organizationName: string;
  createdAt: string;
  updatedAt: string;
}

export interface RequestItem {
  requestId: string;
  projectId: string;
  apiToken: string;
  apiTokenId: string;
  assistant: string | null;
  intent: string | null;
  module: string | null;
  sessionId: string | null;
  model: string | null;
  status: string;
  httpStatus: number | null;
  timestamp: string;
  startTimestamp: string;
  endTimestamp: string | null;
  elapsedTimeMs: number | null;
  promptTokens: number | null;
  completionTokens: number | null;
  totalTokens: number | null;
  cost: number | null;
  prompt: string | null;
  inputText: string | null;
  output: string | null;
  feedback: unknown;
  ragSourcesConsulted: unknown;
}

export interface UsageLimit {
  id: string;
  subscriptionType: string;
  usageUnit: string;
  softLimit: number;
  hardLimit: number;
  renewalStatus: string;
  status: number;
  usedAmount: number;
  remainingUsage: number;
  relatedEntityName: string;
  validFrom: string;
  validUntil: string | null;
}

let csrfToken = '';

/** Dispatched on window when an API call answers 401: the session is no longer valid. */
export const SESSION_ENDED_EVENT = 'gatehouse:session-ended';

/** Sets the CSRF token sent with every non-GET request (from the session endpoint). */
export function setCsrfToken(token: string): void {
  csrfToken = token;
}

type Query = Record<string, string | number | undefined | null>;

/** `path` with `query` as its search string; empty, null and undefined values are left out. */
export function withQuery(path: string, query: Query = {}): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== '') params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

/** Sends a request; resolves with the raw Response when it is 2xx, else throws ApiError. */
export async function send(
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Response> {
  const allHeaders: Record<string, string> = { Accept: 'application/json', ...headers };
  if (method !== 'GET' && method !== 'HEAD' && csrfToken) allHeaders['X-CSRF-Token'] = csrfToken;
  if (body !== undefined) allHeaders['Content-Type'] = 'application/json';
  const response = await fetch(path, {
    method,
    headers: allHeaders,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
  });
  if (response.status === 401 && !path.startsWith('/v2/console/session')) {
    // The cookie expired or its token was blocked: the console returns to sign-in.
    window.dispatchEvent(new Event(SESSION_ENDED_EVENT));
  }
  if (!response.ok) {
    let errors: ApiErrorItem[] = [];
    try {
      const parsed = (await response.json()) as { errors?: ApiErrorItem[] };
      if (Array.isArray(parsed.errors)) errors = parsed.errors;
    } catch {
      // Not the JSON error envelope; the status alone describes the failure.
    }
    throw new ApiError(response.status, errors);
  }
  return response;
}

export async function call<T>(
  method: string,
  path: string,
  body?: unknown,
  headers?: Record<string, string>,
): Promise<T> {
  const response = await send(method, path, body, headers);
  const text = await response.text();
  return (text ? JSON.parse(text) : {}) as T;
}

/** True when the server has no such route (404 Bad Endpoint / 405), not when a row is missing. */
export function isNotAvailable(error: unknown): boolean {
  if (!(error instanceof ApiError) || (error.status !== 404 && error.status !== 405)) return false;
  const id = error.errors[0]?.id;
  return id === undefined || id === 404 || id === 405;
}

export function errorText(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  if (error instanceof Error) return error.message;
  return String(error);
}

// --- Console session (API.md §3) ---

export const getSession = () => call<Session>('GET', '/v2/console/session');
export const signIn = (apiToken: string) => call<Session>('POST', '/v2/console/session', { apiToken });
export const signOut = () => call<unknown>('DELETE', '/v2/console/session');

// --- Tokens (API.md §6) ---

export interface TokenSearch {
  scope: 'organization' | 'project';
  name?: string;
  /** One project's tokens, exactly (docs/api-decisions.md). */
  projectId?: string;
  projectName?: string;
  status?: 'all' | 'active' | 'blocked';
  orderKey?: string;
  orderDirection?: 'asc' | 'desc';
  startPage?: number;
  pageSize?: number;
}

export const searchTokens = (search: TokenSearch) => call<TokenPage>('GET', withQuery('/v2/tokens', { ...search }));

export interface TokenInput {
  name: string;
  description: string;
  status: 'Active' | 'Blocked';
  allowedModels?: string[] | null;
  allowedAssistants?: string[] | null;
  allowedCidrs?: string[] | null;
}

export type CreatedToken = Token & { secret: string };

export function createToken(scope: TokenScope, input: TokenInput, projectId?: string) {
  if (scope === 'Organization') return call<CreatedToken>('POST', '/v2/organization/tokens', input);
  return call<CreatedToken>('POST', '/v2/projects/tokens', input, { 'project-id': projectId ?? '' });
}

export function updateToken(token: Token, input: TokenInput) {
  const base = token.scope === 'Organization' ? '/v2/organization/tokens' : '/v2/projects/tokens';
  return call<Token>('PUT', `${base}/${encodeURIComponent(token.id)}`, input);
}

export const revealToken = (id: string) =>
  call<{ secret: string }>('POST', `/v2/tokens/${encodeURIComponent(id)}/reveal`);

// --- Token lifecycle (API.md §6): block, expiry, rate limit, revoke, rotate ---

/** The lifecycle fields of a PUT; an absent key keeps its value, null clears it. */
export interface TokenLifecycleChange {
  status?: 'Active' | 'Blocked';
  expiresAt?: string | null;
  rateLimitPerMinute?: number | null;
}

const tokenPath = (token: Token) =>
  `${token.scope === 'Organization' ? '/v2/organization/tokens' : '/v2/projects/tokens'}/${encodeURIComponent(token.id)}`;

export const changeToken = (token: Token, change: TokenLifecycleChange) => call<Token>('PUT', tokenPath(token), change);

/** DELETE: the token becomes Revoked and is rejected forever. */
export const revokeToken = (token: Token) => call<unknown>('DELETE', tokenPath(token));

/** A new secret; the old one keeps working for `graceSeconds` (0..86400). */
export const rotateToken = (id: string, graceSeconds: number) =>
  call<CreatedToken>('POST', `/v2/tokens/${encodeURIComponent(id)}/rotate`, { graceSeconds });

// --- What a project token may be allowed to run (API.md §3, §8) ---

export interface ProviderSummary {
  name: string;
  models: { name: string }[];
}

/** Every configured model as a `<provider>/<model>` id. */
export const listModelIds = () =>
  call<{ providers: ProviderSummary[] }>('GET', '/v2/llm/providers').then((r) =>
    r.providers.flatMap((p) => p.models.map((m) => `${p.name}/${m.name}`)),
  );

/** The names of a project's assistants. */
export const listAssistantNames = (projectId: string) =>
  call<{ assistants: { assistantName: string }[] }>(
    'GET',
    withQuery('/v1/organization/assistants', { projectId }),
  ).then((r) => r.assistants.map((a) => a.assistantName));

// --- Projects (API.md §4) ---

export const listProjects = () =>
  call<{ projects: Project[] }>('GET', '/v1/organization/projects?detail=full').then((r) => r.projects);

export interface ProjectInput {
  name: string;
  description: string;
  administratorUserEmail?: string;
}

export const createProject = (input: ProjectInput) =>
  call<Project & { tokens: CreatedToken[] }>('POST', '/v1/organization/project', input);

export const updateProject = (id: string, input: { name: string; description: string; active: boolean }) =>
  call<Project>('PUT', `/v1/organization/project/${encodeURIComponent(id)}`, input);

export const deleteProject = (id: string) =>
  call<unknown>('DELETE', `/v1/organization/project/${encodeURIComponent(id)}`);

// --- Request export (API.md §4) ---

export interface RequestQuery {
  assistantName?: string;
  apiToken?: string;
  status?: string;
  projectId?: string;
  startDate?: string;
  endDate?: string;
  skip?: number;
  count?: number;
}

export const exportRequests = (query: RequestQuery) =>
  call<{ items: RequestItem[] }>(
    'GET',
    withQuery('/v1/organization/request/export', { format: 'json', ...query }),
  ).then((r) => r.items);

export async function exportRequestsCsv(query: RequestQuery): Promise<Blob> {
  const response = await send('GET', withQuery('/v1/organization/request/export', { ...query, format: 'csv' }));
  return response.blob();
}

// --- Usage summary (API.md §8) ---

export interface UsageTotals {
  requests: number;
  failed: number;
  promptTokens: number;
  completionTokens: number;
  cost: number;
  elapsedMs: number;
}

export interface UsageGroup {
  key: {
    projectId?: string;
    projectName?: string;
    apiTokenId?: string;
    apiToken?: string;
    assistant?: string;
    model?: string;
  };
  totals: UsageTotals;
  series: (UsageTotals & { start: string })[];
}

export interface UsageSummaryQuery {
  startDate: string;
  endDate: string;
  projectId?: string;
  groupBy?: 'none' | 'project' | 'token' | 'assistant' | 'model';
  interval?: 'none' | 'hour' | 'day';
  timeZone?: string;
}

export const usageSummary = (query: UsageSummaryQuery) =>
  call<{ startDate: string; endDate: string; groups: UsageGroup[] }>(
    'GET',
    withQuery('/v2/usage/summary', { ...query }),
  ).then((r) => r.groups);

// --- Usage limits (API.md §7) ---

const limitsBase = (orgId: string) => `/v2/usageLimits/organizations/${encodeURIComponent(orgId)}`;

export const listOrganizationLimits = (orgId: string) =>
  call<{ limits: UsageLimit[] }>('GET', `${limitsBase(orgId)}/limits`).then((r) => r.limits);

export const listProjectLimits = (orgId: string, projectId: string) =>
  call<{ limits: UsageLimit[] }>('GET', `${limitsBase(orgId)}/projects/${encodeURIComponent(projectId)}/limits`).then(
    (r) => r.limits,
  );

export interface LimitInput {
  subscriptionType: string;
  usageUnit: string;
  softLimit: number;
  hardLimit: number;
  renewalStatus: string;
}

export function createLimit(orgId: string, input: LimitInput, projectId?: string) {
  const path = projectId
    ? `${limitsBase(orgId)}/projects/${encodeURIComponent(projectId)}/limits`
    : `${limitsBase(orgId)}/limits`;
  return call<UsageLimit>('POST', path, input);
}

export type LimitField = 'hardLimit' | 'softLimit' | 'renewalStatus';

/** PUT …/limits/{id}/hardLimit | softLimit | renewalStatus: one field at a time (API.md §7). */
export function changeLimit(
  orgId: string,
  limitId: string,
  field: LimitField,
  value: number | string,
  projectId?: string,
) {
  const base = projectId
    ? `${limitsBase(orgId)}/projects/${encodeURIComponent(projectId)}/limits/${encodeURIComponent(limitId)}`
    : `${limitsBase(orgId)}/limits/${encodeURIComponent(limitId)}`;
  return call<UsageLimit>('PUT', `${base}/${field}`, { [field]: value });
}

export function cancelLimit(orgId: string, limitId: string, projectId?: string) {
  const path = projectId
    ? `${limitsBase(orgId)}/projects/${encodeURIComponent(projectId)}/limits/${encodeURIComponent(limitId)}`
    : `${limitsBase(orgId)}/limits/${encodeURIComponent(limitId)}`;
  return call<unknown>('DELETE', path);
}

// --- Audit log (GET /v2/audit; see docs/console.md) ---

export interface AuditEvent {
  /** A store-assigned sequence number (a JSON number). */
  id: number | string;
  timestamp: string;
  /** e.g. token.create, token.update, token.revoke, token.reveal, token.rotate, project.create. */
  action: string;
  /** The acting token's name, or "(system)" for the CLI and the system administrator. */
  actor: string;
  actorTokenId: string;
  remoteAddress?: string;
  /** The target's name when known, else its id. */
  target: string;
  targetId: string;
  targetType?: string;
  /** The changed fields: {field: {from, to}}; other entries are notes. */
  details: Record<string, unknown> | string;
}

export interface AuditPage {
  count: number;
  pages: number;
  startPage: number;
  pageSize: number;
  events: AuditEvent[];
}

export const listAudit = (startPage: number, pageSize: number) =>
  call<AuditPage>('GET', withQuery('/v2/audit', { startPage, pageSize }));
