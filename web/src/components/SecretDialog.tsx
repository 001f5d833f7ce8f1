import { useState } from 'preact/hooks';
import { copyText } from '../clipboard';
import { Dialog } from './Dialog';

interface SecretDialogProps {
  title: string;
  tokenName: string;
  secret: string;
  onClose: () => void;
}

/** Shows a freshly created secret once, with a copy button. */
export function SecretDialog({ title, tokenName, secret, onClose }: SecretDialogProps) {
  const [copied, setCopied] = useState<string>('');
  const copy = async () => {
    try {
      await copyText(secret);
      setCopied('Copied to clipboard.');
    } catch {
      setCopied('Copy failed: select the secret and copy it by hand.');
    }
  };
  return (
    <Dialog title={title} onClose={onClose}>
      <p>
        The secret of <strong>{tokenName}</strong> is shown only this once. Copy it now and keep it somewhere safe.
      </p>
      <code class="secret" data-testid="new-secret">
        {secret}
      </code>
      <p class="form-hint" role="status">
        {copied}
      </p>
      <div class="dialog-actions">
        <button type="button" class="btn-primary" onClick={() => void copy()}>
          COPY
        </button>
        <button type="button" onClick={onClose}>
          CLOSE
        </button>
      </div>
    </Dialog>
  );
}
