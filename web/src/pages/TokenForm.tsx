import { useId, useState } from 'preact/hooks';
import * as api from '../api';
import { Dialog } from '../components/Dialog';
import { permissionsOf, TokenPermissions } from './TokenPermissions';

interface TokenFormProps {
  scope: api.TokenScope;
  /** The token being updated; absent when creating. */
  token?: api.Token;
  /** Project a new project token goes to (create in the project view). */
  project?: api.Project | null;
  onSaved: (token: api.Token, secret?: string) => void;
  onCancel: () => void;
}

/** The "Api Token" form of the reference console, for create and update. */
export function TokenForm({ scope, token, project, onSaved, onCancel }: TokenFormProps) {
  const [name, setName] = useState(token?.name ?? '');
  const [description, setDescription] = useState(token?.description ?? '');
  const [status, setStatus] = useState<'Active' | 'Blocked'>(token?.status === 'Blocked' ? 'Blocked' : 'Active');
  const [permissions, setPermissions] = useState(permissionsOf(token));
  const [permissionsValid, setPermissionsValid] = useState(true);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const ids = {
    name: useId(),
    nameError: useId(),
    description: useId(),
    scope: useId(),
    project: useId(),
    status: useId(),
  };
  const nameMissing = name.trim() === '';

  const submit = async (event: Event) => {
    event.preventDefault();
    if (nameMissing || !permissionsValid) return;
    setBusy(true);
    setError('');
    const input: api.TokenInput = { name: name.trim(), description, status, allowedCidrs: permissions.allowedCidrs };
    if (scope === 'Project') {
      input.allowedModels = permissions.allowedModels;
      input.allowedAssistants = permissions.allowedAssistants;
    }
    try {
      if (token) {
        onSaved(await api.updateToken(token, input));
      } else {
        const created = await api.createToken(scope, input, project?.projectId);
        onSaved(created, created.secret);
      }
    } catch (e) {
      setError(api.errorText(e));
      setBusy(false);
    }
  };

  const projectName = token?.projectName ?? project?.projectName ?? '';

  return (
    <Dialog title="Api Token" onClose={onCancel}>
      <form class="form" onSubmit={(e) => void submit(e)} noValidate>
        <div class="field">
          <label for={ids.name}>Name *</label>
          <input
            id={ids.name}
            value={name}
            maxLength={100}
            autocomplete="off"
            aria-required="true"
            aria-invalid={nameMissing}
            aria-describedby={nameMissing ? ids.nameError : undefined}
            onInput={(e) => setName(e.currentTarget.value)}
            autofocus
          />
          {nameMissing && (
            <p id={ids.nameError} class="field-error">
              Api Token Name is required.
            </p>
          )}
        </div>
        <div class="field">
          <label for={ids.description}>Description</label>
          <textarea
            id={ids.description}
            rows={3}
            maxLength={1000}
            value={description}
            onInput={(e) => setDescription(e.currentTarget.value)}
          />
        </div>
        <div class="field">
          <label for={ids.scope}>Scope</label>
          <select id={ids.scope} value={scope} disabled>
            <option value="Organization">Organization</option>
            <option value="Project">Project</option>
          </select>
        </div>
        {scope === 'Project' && (
          <div class="field">
            <label for={ids.project}>Project</label>
            <input id={ids.project} value={projectName} disabled />
          </div>
        )}
        <div class="field">
          <label for={ids.status}>Status</label>
          <select
            id={ids.status}
            value={status}
            onChange={(e) => setStatus(e.currentTarget.value as 'Active' | 'Blocked')}
          >
            <option value="Active">Active</option>
            <option value="Blocked">Blocked</option>
          </select>
        </div>
        <TokenPermissions
          scope={scope}
          projectId={token?.projectId ?? project?.projectId}
          value={permissions}
          onChange={setPermissions}
          onValidity={setPermissionsValid}
        />
        {error && (
          <p class="form-error" role="alert">
            {error}
          </p>
        )}
        <div class="dialog-actions">
          <button type="submit" class="btn-primary" disabled={nameMissing || !permissionsValid || busy}>
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
