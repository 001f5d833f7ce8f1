import { useState } from 'preact/hooks';
import * as api from '../api';
import { Dialog } from '../components/Dialog';
import { FormError, SelectField, TextAreaField, TextField } from '../components/FormField';
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
        <TextField
          label="Name *"
          value={name}
          onValue={setName}
          maxLength={100}
          autocomplete="off"
          required
          error={nameMissing && 'Api Token Name is required.'}
          autofocus
        />
        <TextAreaField label="Description" value={description} onValue={setDescription} maxLength={1000} />
        <SelectField label="Scope" value={scope} options={['Organization', 'Project'] as const} disabled />
        {scope === 'Project' && <TextField label="Project" value={projectName} onValue={() => undefined} disabled />}
        <SelectField label="Status" value={status} onValue={setStatus} options={['Active', 'Blocked'] as const} />
        <TokenPermissions
          scope={scope}
          projectId={token?.projectId ?? project?.projectId}
          value={permissions}
          onChange={setPermissions}
          onValidity={setPermissionsValid}
        />
        <FormError text={error} />
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
