import { useCallback, useId, useState } from 'preact/hooks';
import * as api from '../api';
import { Dialog } from '../components/Dialog';
import { FormError, NumberField, SelectField } from '../components/FormField';
import { DataTable, isUnavailable } from '../components/TableState';
import { formatDateTime, formatDay, formatNumber, TIME_ZONE } from '../format';
import { useResource } from '../hooks';
import { setQuery } from '../router';
import { useConsole } from '../state';

const RENEWALS = ['Renewable', 'NonRenewable'];
const STATUS_NAMES: Record<number, string> = { 1: 'Active', 2: 'Expired', 3: 'Empty', 4: 'Cancelled' };

/** Usage limits of the organization or of one project (API.md §7); `project` in the URL picks the project. */
export function LimitsPage({ query }: { query: URLSearchParams }) {
  const { session, projects, toast } = useConsole();
  const target = query.get('project') ?? '';
  const [creating, setCreating] = useState(false);
  const [editing, setEditing] = useState<api.UsageLimit | null>(null);
  const targetId = useId();

  const limits = useResource(
    useCallback(
      () =>
        target
          ? api.listProjectLimits(session.organizationId, target)
          : api.listOrganizationLimits(session.organizationId),
      [session.organizationId, target],
    ),
  );
  const rows = limits.data ?? [];
  const unavailableText = 'Usage limits are not available on this server yet.';
  const targetName = projects.find((p) => p.projectId === target)?.projectName;

  const cancel = async (limit: api.UsageLimit) => {
    try {
      await api.cancelLimit(session.organizationId, limit.id, target || undefined);
      toast('Usage limit cancelled.');
      limits.reload();
    } catch (e) {
      toast(`Could not cancel the limit: ${api.errorText(e)}`, 'error');
    }
  };

  return (
    <section class="page" aria-labelledby="limits-title">
      <h1 id="limits-title">Usage Limits</h1>
      <div class="toolbar">
        <div class="filter">
          <label for={targetId}>Limits of</label>
          <select
            id={targetId}
            value={target}
            onChange={(e) => {
              setQuery({ project: e.currentTarget.value });
            }}
          >
            <option value="" selected={target === ''}>
              Organization {session.organizationName}
            </option>
            {projects.map((p) => (
              <option value={p.projectId} key={p.projectId} selected={p.projectId === target}>
                Project {p.projectName}
              </option>
            ))}
          </select>
        </div>
        <button
          type="button"
          class="btn-primary"
          disabled={isUnavailable(limits, unavailableText)}
          onClick={() => {
            setCreating(true);
          }}
        >
          CREATE NEW
        </button>
      </div>
      {limits.data && (
        <CurrentLimit
          limit={limits.data.find(isCurrent)}
          onEdit={setEditing}
          onCancel={(limit) => void cancel(limit)}
        />
      )}
      <DataTable
        resource={limits}
        noun="usage limits"
        unavailableText={unavailableText}
        rows={rows.length}
        filtered={false}
        emptyText={targetName ? `No usage limits for project ${targetName} yet.` : 'No usage limits yet.'}
      >
        <table class="data-table" aria-labelledby="limits-title">
          <thead>
            <tr>
              <th scope="col">Type</th>
              <th scope="col">Unit</th>
              <th scope="col" class="num">
                Soft limit
              </th>
              <th scope="col" class="num">
                Hard limit
              </th>
              <th scope="col" class="num">
                Used
              </th>
              <th scope="col">Usage</th>
              <th scope="col">Renewal</th>
              <th scope="col">Status</th>
              <th scope="col">Valid ({TIME_ZONE})</th>
              <th scope="col">
                <span class="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {rows.map((limit) => {
              const share = limit.hardLimit > 0 ? Math.min(1, limit.usedAmount / limit.hardLimit) : 0;
              const status = STATUS_NAMES[limit.status] ?? String(limit.status);
              return (
                <tr key={limit.id}>
                  <td>{limit.subscriptionType}</td>
                  <td>{limit.usageUnit}</td>
                  <td class="num">{formatNumber(limit.softLimit, 4)}</td>
                  <td class="num">{formatNumber(limit.hardLimit, 4)}</td>
                  <td class="num">{formatNumber(limit.usedAmount, 4)}</td>
                  <td>
                    <meter
                      class="usage-meter"
                      min={0}
                      max={1}
                      low={limit.hardLimit ? limit.softLimit / limit.hardLimit : 0.8}
                      high={0.95}
                      optimum={0}
                      value={share}
                      aria-label="Share of hard limit used"
                    />
                  </td>
                  <td>{limit.renewalStatus}</td>
                  <td>
                    <span class={`badge badge-${status.toLowerCase()}`}>{status}</span>
                  </td>
                  <td
                    class="nowrap"
                    title={`${formatDateTime(limit.validFrom)} – ${limit.validUntil ? formatDateTime(limit.validUntil) : 'open'}`}
                  >
                    {formatDay(limit.validFrom)} – {limit.validUntil ? formatDay(limit.validUntil) : 'open'}
                  </td>
                  <td class="cell-actions">
                    {isCurrent(limit) && (
                      <>
                        <button
                          type="button"
                          class="btn-small"
                          onClick={() => {
                            setEditing(limit);
                          }}
                        >
                          EDIT
                        </button>
                        <button type="button" class="btn-small btn-danger" onClick={() => void cancel(limit)}>
                          CANCEL
                        </button>
                      </>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </DataTable>
      {editing && (
        <EditLimitForm
          limit={editing}
          projectId={target || undefined}
          onSaved={() => {
            setEditing(null);
            toast('Usage limit updated.');
            limits.reload();
          }}
          onCancel={() => setEditing(null)}
        />
      )}
      {creating && (
        <LimitForm
          projectId={target || undefined}
          onSaved={() => {
            setCreating(false);
            limits.reload();
          }}
          onCancel={() => setCreating(false)}
        />
      )}
    </section>
  );
}

/** Active (1) or Empty (3, hard limit reached): the limit that governs now. */
const isCurrent = (limit: api.UsageLimit) => limit.status === 1 || limit.status === 3;

/** The current limit with its used / remaining bar. */
function CurrentLimit({
  limit,
  onEdit,
  onCancel,
}: {
  limit?: api.UsageLimit;
  onEdit: (l: api.UsageLimit) => void;
  onCancel: (l: api.UsageLimit) => void;
}) {
  if (!limit) return <p class="limit-summary">No active usage limit.</p>;
  const share = limit.hardLimit > 0 ? Math.min(1, limit.usedAmount / limit.hardLimit) : 1;
  const unit = limit.usageUnit === 'Cost' ? ' USD' : ' requests';
  const digits = limit.usageUnit === 'Cost' ? 4 : 0;
  return (
    <section class="limit-summary" aria-label="Active usage limit">
      <h2>
        Active limit: {limit.subscriptionType}, {limit.usageUnit} ({STATUS_NAMES[limit.status]})
      </h2>
      <meter
        class="usage-meter usage-meter-wide"
        min={0}
        max={1}
        low={limit.hardLimit ? limit.softLimit / limit.hardLimit : 0.8}
        high={0.95}
        optimum={0}
        value={share}
        aria-label="Used share of the hard limit"
      />
      <p>
        <span data-testid="limit-used">
          Used {formatNumber(limit.usedAmount, digits)}
          {unit}
        </span>{' '}
        ·{' '}
        <span data-testid="limit-remaining">
          Remaining {formatNumber(limit.remainingUsage, digits)}
          {unit}
        </span>{' '}
        · Soft {formatNumber(limit.softLimit, digits)} · Hard {formatNumber(limit.hardLimit, digits)} ·{' '}
        {limit.renewalStatus} · until {limit.validUntil ? formatDateTime(limit.validUntil) : 'no end'}
      </p>
      <div class="toolbar">
        <button type="button" onClick={() => onEdit(limit)}>
          CHANGE
        </button>
        <button type="button" class="btn-danger" onClick={() => onCancel(limit)}>
          CANCEL LIMIT
        </button>
      </div>
    </section>
  );
}

/** Changes the soft limit, hard limit and renewal of a current limit, one PUT per changed field. */
function EditLimitForm({
  limit,
  projectId,
  onSaved,
  onCancel,
}: {
  limit: api.UsageLimit;
  projectId?: string;
  onSaved: () => void;
  onCancel: () => void;
}) {
  const { session } = useConsole();
  const [soft, setSoft] = useState(limit.softLimit);
  const [hard, setHard] = useState(limit.hardLimit);
  const [renewal, setRenewal] = useState(limit.renewalStatus);
  const [error, setError] = useState('');
  const invalid = !(hard >= 0) || !(soft >= 0) || soft > hard;

  const submit = async (event: Event) => {
    event.preventDefault();
    const put = (field: api.LimitField, value: number | string) =>
      api.changeLimit(session.organizationId, limit.id, field, value, projectId);
    try {
      // The soft limit never exceeds the hard one, also between the two PUTs.
      const hardFirst = hard >= limit.softLimit;
      if (hardFirst && hard !== limit.hardLimit) await put('hardLimit', hard);
      if (soft !== limit.softLimit) await put('softLimit', soft);
      if (!hardFirst && hard !== limit.hardLimit) await put('hardLimit', hard);
      if (renewal !== limit.renewalStatus) await put('renewalStatus', renewal);
      onSaved();
    } catch (e) {
      setError(api.errorText(e));
    }
  };

  return (
    <Dialog title="Change Usage Limit" onClose={onCancel}>
      <form class="form" onSubmit={(e) => void submit(e)} noValidate>
        <NumberField
          label="Soft limit"
          value={soft}
          onValue={setSoft}
          error={invalid && 'The soft limit may not exceed the hard limit.'}
        />
        <NumberField label="Hard limit" value={hard} onValue={setHard} />
        <SelectField label="Renewal status" value={renewal} onValue={setRenewal} options={RENEWALS} />
        <FormError text={error} />
        <div class="dialog-actions">
          <button type="submit" class="btn-primary" disabled={invalid}>
            CONFIRM
          </button>
          <button type="button" onClick={onCancel}>
            CANCEL
          </button>
        </div>
      </form>
    </Dialog>
  );
}

function LimitForm({
  projectId,
  onSaved,
  onCancel,
}: {
  projectId?: string;
  onSaved: () => void;
  onCancel: () => void;
}) {
  const { session } = useConsole();
  const [input, setInput] = useState<api.LimitInput>({
    subscriptionType: 'Monthly',
    usageUnit: 'Requests',
    softLimit: 1000,
    hardLimit: 2000,
    renewalStatus: 'Renewable',
  });
  const [error, setError] = useState('');
  const invalid = !(input.hardLimit > 0) || !(input.softLimit >= 0) || input.softLimit > input.hardLimit;
  const set = <K extends keyof api.LimitInput>(key: K, value: api.LimitInput[K]) =>
    setInput({ ...input, [key]: value });

  const submit = async (event: Event) => {
    event.preventDefault();
    try {
      await api.createLimit(session.organizationId, input, projectId);
      onSaved();
    } catch (e) {
      setError(api.errorText(e));
    }
  };

  return (
    <Dialog title="Usage Limit" onClose={onCancel}>
      <form class="form" onSubmit={(e) => void submit(e)} noValidate>
        <SelectField
          label="Subscription type"
          value={input.subscriptionType}
          onValue={(v) => {
            set('subscriptionType', v);
          }}
          options={['Freemium', 'Daily', 'Weekly', 'Monthly']}
        />
        <SelectField
          label="Usage unit"
          value={input.usageUnit}
          onValue={(v) => {
            set('usageUnit', v);
          }}
          options={['Requests', 'Cost']}
        />
        <NumberField
          label="Soft limit"
          value={input.softLimit}
          onValue={(v) => {
            set('softLimit', v);
          }}
        />
        <NumberField
          label="Hard limit"
          value={input.hardLimit}
          onValue={(v) => {
            set('hardLimit', v);
          }}
          error={invalid && 'The hard limit must be positive and not below the soft limit.'}
        />
        <SelectField
          label="Renewal status"
          value={input.renewalStatus}
          onValue={(v) => {
            set('renewalStatus', v);
          }}
          options={RENEWALS}
        />
        <FormError text={error} />
        <div class="dialog-actions">
          <button type="submit" class="btn-primary" disabled={invalid}>
            CONFIRM
          </button>
          <button type="button" onClick={onCancel}>
            CANCEL
          </button>
        </div>
      </form>
    </Dialog>
  );
}
