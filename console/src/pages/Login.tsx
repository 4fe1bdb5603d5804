import { useState } from 'react';
import type { Client } from '../api';
import { ErrorBox } from '../components/ErrorBox';
import { useI18n } from '../i18n';
import type { Session } from '../session';

const LOGIN = `mutation Login($email: String!, $password: String!, $workspace: String) {
  login(email: $email, password: $password, workspace: $workspace) { token email workspace role }
}`;

export function Login({ client, onSignedIn }: { client: Client; onSignedIn: (session: Session) => void }) {
  const { t } = useI18n();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [workspace, setWorkspace] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  async function submit(event: React.FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const data = await client<{ login: Session }>(LOGIN, { email, password, workspace: workspace.trim() || null });
      onSignedIn(data.login);
    } catch (exc) {
      setError(exc);
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className="login" onSubmit={submit} aria-label={t('signIn')}>
      <h1>{t('appTitle')}</h1>
      <label>
        {t('email')}
        <input name="email" type="email" value={email} onChange={(e) => setEmail(e.target.value)} required />
      </label>
      <label>
        {t('password')}
        <input name="password" type="password" value={password} onChange={(e) => setPassword(e.target.value)} required />
      </label>
      <label>
        {t('workspace')}
        <input name="workspace" value={workspace} onChange={(e) => setWorkspace(e.target.value)} placeholder="demo" />
      </label>
      <button type="submit" disabled={busy}>
        {busy ? t('signingIn') : t('signIn')}
      </button>
      <ErrorBox error={error} />
    </form>
  );
}
