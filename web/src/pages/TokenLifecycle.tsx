// The token lifecycle on the API Tokens page (API.md §6): the Last used / Created / Expires
// columns, and a per-row menu to block, unblock, revoke, rotate, set an expiry or a rate limit.
import { useId, useState } from 'preact/hooks';
import * as api from '../api';
import { ConfirmDialog } from '../components/ConfirmDialog';
import { RelativeTime, useNow } from '../components/RelativeTime';
import { RowMenu, type RowMenuItem } from '../components/RowMenu';
import { SecretDialog } from '../components/SecretDialog';
import { SortHeader, type SortDirection } from '../components/SortHeader';
import { formatDateTime, formatUtc } from '../format';
import { useConsole } from '../state';
import '../lifecycle.css';

export type LifecycleKind = 'block' | 'unblock' | 'revoke' | 'rotate' | 'expiry' | 'rateLimit';
export interface LifecycleAction {
  kind: LifecycleKind;
  token: api.Token;
}

const MAX_GRACE_SECONDS = 86400;
const DEFAULT_GRACE_SECONDS = 3600;

interface HeaderProps {
  orderKey: string;
  direction: SortDirection;
  onSort: (key: string, direction: SortDirection) => void;
}

/** Last used and Created sort on the server (orderKey lastUsedAt, timestamp); Expires does not. */
export function LifecycleHeaders({ orderKey, direction, onSort }: HeaderProps) {
  return (
    <>
      <SortHeader label="Last used" sortKey="lastUsedAt" activeKey={orderKey} direction={direction} onSort={onSort} />
      <SortHeader label="Created" sortKey="timestamp" activeKey={orderKey} direction={direction} onSort={onSort} />
      <th scope="col">Expires</th>
    </>
  );
}

export function isExpired(token: api.Token, now: number): boolean {
  return token.expiresAt !== null && new Date(token.expiresAt).getTime() <= now;
}

/** "120/min" beside the status when the token has a rate limit. */
export function RateLimitBadge({ token }: { token: api.Token }) {
  const limit = token.rateLimitPerMinute;
  if (!limit) return null;
  return (
    <span class="badge badge-rate" title={`Rate limit: at most ${limit} calls per minute`}>
      {limit}/min
    </span>
  );
}

export function LifecycleCells({ token }: { token: api.Token }) {
  const now = useNow();
  return (
    <>
      <td class="cell-time" data-label="Last used">
        <RelativeTime value={token.lastUsedAt} empty="never" />
      </td>
      <td class="cell-time" data-label="Created">
        <RelativeTime value={token.timestamp} />
      </td>
      <td class="cell-time" data-label="Expires">
        {isExpired(token, now) && <span class="badge badge-expired">expired</span>}{' '}
        <RelativeTime value={token.expiresAt} empty="never" />
      </td>
    </>
  );
}

/** The row's "MORE" menu; `onChoose` opens the chosen action's dialog. */
export function TokenActionsMenu({ token, onChoose }: { token: api.Token; onChoose: (a: LifecycleAction) => void }) {
  const item = (kind: LifecycleKind, label: string, ariaLabel: string, danger = false): RowMenuItem => ({
    label,
    ariaLabel: `${ariaLabel} ${token.name}`,
    danger,
    onSelect: () => onChoose({ kind, token }),
  });
  const items = [
    token.status === 'Blocked' ? item('unblock', 'Unblock', 'Unblock token') : item('block', 'Block', 'Block token'),
    item('rotate', 'Rotate secret', 'Rotate secret of token'),
    item('expiry', 'Set expiry', 'Set expiry of token'),
    item('rateLimit', 'Rate limit', 'Set rate limit of token'),
    item('revoke', 'Revoke', 'Revoke token', true),
  ];
  return <RowMenu label="MORE" ariaLabel={`More actions for token ${token.name}`} items={items} />;
}

const OWN_TOKEN_WARNING: Record<LifecycleKind, string> = {
  block: 'Blocking it ends your session at once.',
  unblock: '',
  revoke: 'Revoking it ends your session for good.',
  rotate: 'Your session ends when the grace period is over; sign in again with the new secret.',
  expiry: 'Your session ends when the token expires.',
  rateLimit: "The console's own calls count against this limit.",
};

function TokenIdentity({ token }: { token: api.Token }) {
  return (
    <span class="token-identity">
      {token.scope}
      {token.projectName ? ` · ${token.projectName}` : ''} · {token.secretPrefix}…
    </span>
  );
}

interface LifecycleDialogProps {
  action: LifecycleAction;
  onClose: () => void;
  /** Called after a change the list must show (status, expiry, limit, a revoked row). */
  onChanged: () => void;
}

/** The confirmation or form of one lifecycle action, then the rotated secret shown once. */
export function TokenLifecycleDialog({ action, onClose, onChanged }: LifecycleDialogProps) {
  const { session, toast } = useConsole();
  const { kind, token } = action;
  const [rotated, setRotated] = useState<string | null>(null);
  const [grace, setGrace] = useState(String(DEFAULT_GRACE_SECONDS));
  const [expiresAt, setExpiresAt] = useState(token.expiresAt ? token.expiresAt.slice(0, 16) : '');
  const [rateLimit, setRateLimit] = useState(token.rateLimitPerMinute ? String(token.rateLimitPerMinute) : '');
  const ids = { grace: useId(), graceError: useId(), expiry: useId(), rate: useId(), rateError: useId() };
  const now = useNow();
  const own = token.id === session.apiTokenId;

  if (rotated !== null) {
    return <SecretDialog title="Api Token rotated" tokenName={token.name} secret={rotated} onClose={onClose} />;
  }

  const finish = (message: string) => {
    toast(message);
    onChanged();
    onClose();
  };

  const warning = own && OWN_TOKEN_WARNING[kind] && (
    <p class="own-token-warning" role="note" data-testid="own-token-warning">
      <strong>This is the token you are signed in with.</strong> {OWN_TOKEN_WARNING[kind]}
    </p>
  );
  const named = (before: string, after = '?') => (
    <p>
      {before} <strong>{token.name}</strong>
      {after}
      <br />
      <TokenIdentity token={token} />
    </p>
  );

  if (kind === 'block' || kind === 'unblock') {
    const block = kind === 'block';
    return (
      <ConfirmDialog
        title={block ? 'Block token' : 'Unblock token'}
        confirmLabel={block ? 'BLOCK' : 'UNBLOCK'}
        danger={block}
        onCancel={onClose}
        onConfirm={async () => {
          await api.changeToken(token, { status: block ? 'Blocked' : 'Active' });
          finish(`Api Token ${token.name} ${block ? 'blocked' : 'unblocked'}.`);
        }}
      >
        {named(block ? 'Block token' : 'Unblock token')}
        <p class="form-hint">
          {block
            ? 'Calls with its secret are refused until it is unblocked.'
            : 'Calls with its secret are accepted again.'}
        </p>
        {warning}
      </ConfirmDialog>
    );
  }

  if (kind === 'revoke') {
    return (
      <ConfirmDialog
        title="Revoke token"
        confirmLabel="REVOKE"
        danger
        onCancel={onClose}
        onConfirm={async () => {
          await api.revokeToken(token);
          finish(`Api Token ${token.name} revoked.`);
        }}
      >
        {named('Revoke token')}
        <p class="form-hint">Its secret is refused forever; this cannot be undone.</p>
        {warning}
      </ConfirmDialog>
    );
  }

  if (kind === 'rotate') {
    const seconds = Number(grace);
    const graceValid =
      /^\s*\d+\s*$/.test(grace) && Number.isInteger(seconds) && seconds >= 0 && seconds <= MAX_GRACE_SECONDS;
    return (
      <ConfirmDialog
        title="Rotate secret"
        confirmLabel="ROTATE"
        danger
        confirmDisabled={!graceValid}
        onCancel={onClose}
        onConfirm={async () => {
          const result = await api.rotateToken(token.id, seconds);
          const until = new Date(Date.now() + seconds * 1000).toISOString();
          toast(
            seconds > 0
              ? `The old secret of ${token.name} works until ${formatDateTime(until)}.`
              : `The old secret of ${token.name} no longer works.`,
          );
          onChanged();
          setRotated(result.secret);
        }}
      >
        {named('Rotate the secret of token')}
        <p class="form-hint">A new secret is issued and shown once.</p>
        <div class="field">
          <label for={ids.grace}>Grace period (seconds)</label>
          <input
            id={ids.grace}
            inputMode="numeric"
            autocomplete="off"
            value={grace}
            aria-invalid={!graceValid}
            aria-describedby={ids.graceError}
            onInput={(e) => setGrace(e.currentTarget.value)}
          />
          <p id={ids.graceError} class={graceValid ? 'form-hint' : 'field-error'}>
            {graceValid
              ? 'The old secret keeps working this long (0 = stops at once).'
              : `Enter whole seconds from 0 to ${MAX_GRACE_SECONDS}.`}
          </p>
        </div>
        {warning}
      </ConfirmDialog>
    );
  }

  if (kind === 'expiry') {
    const when = expiresAt ? new Date(`${expiresAt}Z`) : null;
    const valid = when === null || !Number.isNaN(when.getTime());
    const past = when !== null && valid && when.getTime() <= now;
    return (
      <ConfirmDialog
        title="Set expiry"
        confirmLabel="SAVE"
        confirmDisabled={!valid}
        onCancel={onClose}
        onConfirm={async () => {
          await api.changeToken(token, { expiresAt: when ? when.toISOString() : null });
          finish(
            when
              ? `Api Token ${token.name} expires ${formatUtc(when.toISOString())}.`
              : `Api Token ${token.name} never expires.`,
          );
        }}
      >
        {named('Choose when token', ' expires.')}
        <div class="field">
          <label for={ids.expiry}>Expires at (UTC)</label>
          <div class="field-inline">
            <input
              id={ids.expiry}
              type="datetime-local"
              value={expiresAt}
              onInput={(e) => setExpiresAt(e.currentTarget.value)}
              autofocus
            />
            <button type="button" class="btn-small" onClick={() => setExpiresAt('')}>
              NEVER
            </button>
          </div>
          <p class={past ? 'field-error' : 'form-hint'}>
            {expiresAt === ''
              ? 'Empty: the token never expires.'
              : past
                ? 'This time is past: the token stops working at once.'
                : 'After this time its secret is refused like a blocked one.'}
          </p>
        </div>
        {warning}
      </ConfirmDialog>
    );
  }

  const limit = Number(rateLimit);
  const limitValid = rateLimit.trim() === '' || (/^\s*\d+\s*$/.test(rateLimit) && limit >= 1);
  return (
    <ConfirmDialog
      title="Rate limit"
      confirmLabel="SAVE"
      confirmDisabled={!limitValid}
      onCancel={onClose}
      onConfirm={async () => {
        const value = rateLimit.trim() === '' ? null : limit;
        await api.changeToken(token, { rateLimitPerMinute: value });
        finish(
          value === null
            ? `Api Token ${token.name} has no rate limit.`
            : `Api Token ${token.name} is limited to ${value} calls per minute.`,
        );
      }}
    >
      {named('Limit the calls of token', ' per minute.')}
      <div class="field">
        <label for={ids.rate}>Calls per minute</label>
        <input
          id={ids.rate}
          inputMode="numeric"
          autocomplete="off"
          value={rateLimit}
          aria-invalid={!limitValid}
          aria-describedby={ids.rateError}
          onInput={(e) => setRateLimit(e.currentTarget.value)}
          autofocus
        />
        <p id={ids.rateError} class={limitValid ? 'form-hint' : 'field-error'}>
          {limitValid
            ? 'Empty: no limit. Calls beyond it within a minute get 429.'
            : 'Enter a whole number of at least 1, or leave it empty for no limit.'}
        </p>
      </div>
      {warning}
    </ConfirmDialog>
  );
}
