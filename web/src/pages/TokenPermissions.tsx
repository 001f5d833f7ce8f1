import { useCallback, useEffect, useId, useState } from 'preact/hooks';
import * as api from '../api';
import { Field } from '../components/FormField';
import { useResource } from '../hooks';

/** The permission lists of a token as the form edits them (API.md §3). */
export interface PermissionsValue {
  allowedModels: string[] | null;
  allowedAssistants: string[] | null;
  allowedCidrs: string[] | null;
}

export function permissionsOf(token?: api.Token): PermissionsValue {
  return {
    allowedModels: token?.allowedModels ?? null,
    allowedAssistants: token?.allowedAssistants ?? null,
    allowedCidrs: token?.allowedCidrs ?? null,
  };
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

function isIpv6(text: string): boolean {
  if (!text.includes(':') || /[^0-9a-fA-F:.]/.test(text)) return false;
  try {
    // The URL parser implements the IPv6 address grammar (RFC 3986 / WHATWG).
    new URL(`http://[${text}]/`);
    return true;
  } catch {
    return false;
  }
}

/** True for an IPv4/IPv6 address or CIDR block the server accepts ("10.0.0.0/8", "::1"). */
export function isCidr(text: string): boolean {
  const [address, prefix, extra] = text.split('/');
  if (extra !== undefined || address === undefined) return false;
  const v4 = IPV4.test(address);
  if (!v4 && !isIpv6(address)) return false;
  if (prefix === undefined) return true;
  if (!/^\d{1,3}$/.test(prefix)) return false;
  return Number(prefix) <= (v4 ? 32 : 128);
}

/** The entries of a free-text list: one per line or comma-separated, trimmed, no empties. */
export function entriesOf(text: string): string[] {
  return text
    .split(/[\n,]/)
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
}

interface ChoiceListProps {
  legend: string;
  everythingLabel: string;
  options: string[];
  /** null = unrestricted. */
  value: string[] | null;
  /** Free-text entries beyond the options (patterns for models). */
  freeTextLabel?: string;
  onChange: (value: string[] | null) => void;
}

/** "All" or "only these": checkboxes for what exists plus, for models, free-text patterns. */
function ChoiceList({ legend, everythingLabel, options, value, freeTextLabel, onChange }: ChoiceListProps) {
  const ids = { mode: useId() };
  const restricted = value !== null;
  const chosen = new Set(value ?? []);
  const extra = (value ?? []).filter((entry) => !options.includes(entry));
  const [freeText, setFreeText] = useState(extra.join('\n'));

  const update = (checked: Set<string>, text: string) => {
    const picked = options.filter((option) => checked.has(option));
    const free = freeTextLabel ? entriesOf(text) : extra;
    onChange([...picked, ...free.filter((entry) => !picked.includes(entry))]);
  };

  return (
    <fieldset class="permission-list">
      <legend>{legend}</legend>
      <div class="field">
        <select
          id={ids.mode}
          aria-label={`${legend} restriction`}
          value={restricted ? 'some' : 'all'}
          onChange={(e) => onChange(e.currentTarget.value === 'all' ? null : [])}
        >
          <option value="all">{everythingLabel}</option>
          <option value="some">Only the ones selected</option>
        </select>
      </div>
      {restricted && (
        <div class="permission-choices">
          {options.length === 0 && <p class="hint">None available.</p>}
          {options.map((option) => (
            <label class="field-check" key={option}>
              <input
                type="checkbox"
                checked={chosen.has(option)}
                onChange={(e) => {
                  const next = new Set(chosen);
                  if (e.currentTarget.checked) next.add(option);
                  else next.delete(option);
                  update(next, freeText);
                }}
              />
              {option}
            </label>
          ))}
          {freeTextLabel && (
            <Field label={freeTextLabel}>
              {(control) => (
                <textarea
                  {...control}
                  rows={2}
                  value={freeText}
                  placeholder="openai/gpt-4o*"
                  onInput={(e) => {
                    setFreeText(e.currentTarget.value);
                    update(chosen, e.currentTarget.value);
                  }}
                />
              )}
            </Field>
          )}
        </div>
      )}
    </fieldset>
  );
}

interface TokenPermissionsProps {
  scope: api.TokenScope;
  projectId?: string | null;
  value: PermissionsValue;
  onChange: (value: PermissionsValue) => void;
  /** Reports whether the CIDR list is valid (the form cannot be confirmed otherwise). */
  onValidity: (valid: boolean) => void;
}

/** The Permissions section of the token form: models, assistants (project tokens) and networks. */
export function TokenPermissions({ scope, projectId, value, onChange, onValidity }: TokenPermissionsProps) {
  // The lists start from what exists; null until loaded (a failed listing leaves them empty).
  const modelList = useResource(
    useCallback(() => (scope === 'Project' ? api.listModelIds() : Promise.resolve([])), [scope]),
  );
  const assistantList = useResource(
    useCallback(
      () => (scope === 'Project' && projectId ? api.listAssistantNames(projectId) : Promise.resolve([])),
      [scope, projectId],
    ),
  );
  const models = modelList.loading ? null : (modelList.data ?? []);
  const assistants = assistantList.loading ? null : (assistantList.data ?? []);
  const [cidrText, setCidrText] = useState((value.allowedCidrs ?? []).join('\n'));
  const ids = { cidrMode: useId() };

  const badCidrs = value.allowedCidrs === null ? [] : entriesOf(cidrText).filter((entry) => !isCidr(entry));
  useEffect(() => {
    onValidity(badCidrs.length === 0);
  }, [badCidrs.length, onValidity]);

  return (
    <fieldset class="permissions">
      <legend>Permissions</legend>
      {scope === 'Project' && (models === null || assistants === null) && (
        <p class="hint">Loading models and assistants…</p>
      )}
      {scope === 'Project' && models !== null && assistants !== null && (
        <>
          <ChoiceList
            legend="Models"
            everythingLabel="All models"
            options={models}
            value={value.allowedModels}
            freeTextLabel="Model patterns (one per line; * matches anything)"
            onChange={(allowedModels) => onChange({ ...value, allowedModels })}
          />
          <ChoiceList
            legend="Assistants"
            everythingLabel="All assistants"
            options={assistants}
            value={value.allowedAssistants}
            onChange={(allowedAssistants) => onChange({ ...value, allowedAssistants })}
          />
        </>
      )}
      <fieldset class="permission-list">
        <legend>Networks</legend>
        <div class="field">
          <select
            id={ids.cidrMode}
            aria-label="Networks restriction"
            value={value.allowedCidrs === null ? 'all' : 'some'}
            onChange={(e) => {
              const anywhere = e.currentTarget.value === 'all';
              onChange({ ...value, allowedCidrs: anywhere ? null : entriesOf(cidrText) });
            }}
          >
            <option value="all">From anywhere</option>
            <option value="some">Only from these networks</option>
          </select>
        </div>
        {value.allowedCidrs !== null && (
          <Field
            label="CIDR blocks (one per line)"
            error={badCidrs.length > 0 && `Not a CIDR block: ${badCidrs.join(', ')}`}
          >
            {(control) => (
              <textarea
                {...control}
                rows={3}
                value={cidrText}
                placeholder="10.0.0.0/8"
                onInput={(e) => {
                  setCidrText(e.currentTarget.value);
                  onChange({ ...value, allowedCidrs: entriesOf(e.currentTarget.value) });
                }}
              />
            )}
          </Field>
        )}
      </fieldset>
    </fieldset>
  );
}

/** Badges for a token's restrictions, for the token list. */
export function PermissionBadges({ token }: { token: api.Token }) {
  const badges: { key: string; text: string; title: string }[] = [];
  const add = (key: string, label: string, list: string[] | null | undefined) => {
    if (list === null || list === undefined) return;
    badges.push({
      key,
      text: list.length === 0 ? `no ${label}` : `${label}: ${list.length}`,
      title: list.length === 0 ? `No ${label} allowed` : list.join(', '),
    });
  };
  add('models', 'models', token.allowedModels);
  add('assistants', 'assistants', token.allowedAssistants);
  add('cidrs', 'networks', token.allowedCidrs);
  if (badges.length === 0) return null;
  return (
    <span class="permission-badges">
      {badges.map((badge) => (
        <span key={badge.key} class={`badge badge-permission badge-permission-${badge.key}`} title={badge.title}>
          {badge.text}
        </span>
      ))}
    </span>
  );
}
