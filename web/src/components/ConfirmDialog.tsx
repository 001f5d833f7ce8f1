import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import * as api from '../api';
import { Dialog } from './Dialog';

interface ConfirmDialogProps {
  title: string;
  /** The confirming button's visible text (BLOCK, REVOKE, SAVE…). */
  confirmLabel: string;
  /** Styles the confirming button as destructive and focuses CANCEL first. */
  danger?: boolean;
  /** Disables the confirming button (e.g. while a field is invalid). */
  confirmDisabled?: boolean;
  /** Runs the change; a rejection's API error is shown in the dialog, which stays open. */
  onConfirm: () => Promise<void>;
  onCancel: () => void;
  children: ComponentChildren;
}

/** A modal that asks before a change and shows the API's refusal (e.g. 409 id 9003) in place. */
export function ConfirmDialog(props: ConfirmDialogProps) {
  const { title, confirmLabel, danger, confirmDisabled, onConfirm, onCancel, children } = props;
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);

  // The submit handler itself is synchronous: it stops the form's navigation at once, then runs
  // the change; a refusal (or any failure) lands in the dialog, a success is the caller's to show.
  const confirm = (event: Event) => {
    event.preventDefault();
    if (busy || confirmDisabled) return;
    setBusy(true);
    setError('');
    Promise.resolve()
      .then(onConfirm)
      .catch((e: unknown) => {
        setError(api.errorText(e));
        setBusy(false);
      });
  };

  return (
    <Dialog title={title} onClose={onCancel}>
      <form class="form" onSubmit={confirm} noValidate>
        {children}
        {error && (
          <p class="form-error" role="alert">
            {error}
          </p>
        )}
        <div class="dialog-actions">
          <button type="submit" class={danger ? 'btn-danger' : 'btn-primary'} disabled={busy || confirmDisabled}>
            {confirmLabel}
          </button>
          <button type="button" onClick={onCancel} autofocus={danger}>
            CANCEL
          </button>
        </div>
      </form>
    </Dialog>
  );
}
