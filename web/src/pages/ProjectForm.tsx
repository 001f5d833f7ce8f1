import { useId, useState } from 'preact/hooks';
import * as api from '../api';
import { Dialog } from '../components/Dialog';

interface ProjectFormProps {
  /** The project being updated; absent when creating. */
  project?: api.Project;
  onCreated: (project: api.Project, defaultToken?: api.CreatedToken) => void;
  onUpdated: (project: api.Project) => void;
  onCancel: () => void;
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export function ProjectForm({ project, onCreated, onUpdated, onCancel }: ProjectFormProps) {
  const [name, setName] = useState(project?.projectName ?? '');
  const [description, setDescription] = useState(project?.projectDescription ?? '');
  const [email, setEmail] = useState('');
  const [active, setActive] = useState(project?.projectActive ?? true);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const ids = {
    name: useId(),
    nameError: useId(),
    description: useId(),
    email: useId(),
    emailError: useId(),
    active: useId(),
  };
  const nameMissing = name.trim() === '';
  const emailBad = email.trim() !== '' && !EMAIL.test(email.trim());

  const submit = async (event: Event) => {
    event.preventDefault();
    if (nameMissing || emailBad) return;
    setBusy(true);
    setError('');
    try {
      if (project) {
        onUpdated(await api.updateProject(project.projectId, { name: name.trim(), description, active }));
      } else {
        const created = await api.createProject({
          name: name.trim(),
          description,
          administratorUserEmail: email.trim() || undefined,
        });
        onCreated(created, created.tokens?.[0]);
      }
    } catch (e) {
      setError(api.errorText(e));
      setBusy(false);
    }
  };

  return (
    <Dialog title="Project" onClose={onCancel}>
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
              Project Name is required.
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
        {!project && (
          <div class="field">
            <label for={ids.email}>Project administrator (User Email)</label>
            <input
              id={ids.email}
              type="email"
              value={email}
              autocomplete="off"
              aria-invalid={emailBad}
              aria-describedby={emailBad ? ids.emailError : undefined}
              onInput={(e) => setEmail(e.currentTarget.value)}
            />
            {emailBad && (
              <p id={ids.emailError} class="field-error">
                Enter a valid email address.
              </p>
            )}
          </div>
        )}
        {project && (
          <div class="field field-check">
            <input
              id={ids.active}
              type="checkbox"
              checked={active}
              onChange={(e) => setActive(e.currentTarget.checked)}
            />
            <label for={ids.active}>Active</label>
          </div>
        )}
        {error && (
          <p class="form-error" role="alert">
            {error}
          </p>
        )}
        <div class="dialog-actions">
          <button type="submit" class="btn-primary" disabled={nameMissing || emailBad || busy}>
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
