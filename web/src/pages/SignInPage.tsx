import { useState } from 'preact/hooks';
import * as api from '../api';
import { TextField } from '../components/FormField';

export function SignInPage({ onSignedIn }: { onSignedIn: (session: api.Session) => void }) {
  const [secret, setSecret] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError('');
    try {
      onSignedIn(await api.signIn(secret.trim()));
    } catch (e) {
      setError(
        e instanceof api.ApiError && e.status === 401
          ? 'That token was not accepted. Use an active organization API token.'
          : e instanceof api.ApiError && e.status === 403
            ? 'Only organization API tokens can sign in to the console.'
            : `Sign-in failed: ${api.errorText(e)}`,
      );
    } finally {
      setBusy(false);
    }
  };

  return (
    <main class="signin">
      <form class="signin-card form" onSubmit={(e) => void submit(e)}>
        <h1>Gatehouse console</h1>
        <p>Sign in with an organization API token.</p>
        <TextField
          label="Organization API token"
          secret
          autocomplete="off"
          value={secret}
          onValue={setSecret}
          error={error}
          alert
          autofocus
        />
        <button type="submit" class="btn-primary" disabled={busy || secret.trim() === ''}>
          SIGN IN
        </button>
      </form>
    </main>
  );
}
