import { useState } from 'preact/hooks';
import * as api from '../api';
import { Dialog } from '../components/Dialog';
import { CheckboxField, FormError, TextAreaField, TextField } from '../components/FormField';

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
        <TextField
          label="Name *"
          value={name}
          onValue={setName}
          maxLength={100}
          autocomplete="off"
          required
          error={nameMissing && 'Project Name is required.'}
          autofocus
        />
        <TextAreaField label="Description" value={description} onValue={setDescription} maxLength={1000} />
        {!project && (
          <TextField
            label="Project administrator (User Email)"
            email
            value={email}
            onValue={setEmail}
            autocomplete="off"
            error={emailBad && 'Enter a valid email address.'}
          />
        )}
        {project && <CheckboxField label="Active" checked={active} onValue={setActive} />}
        <FormError text={error} />
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
