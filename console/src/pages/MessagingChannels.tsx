import { useCallback, useEffect, useState } from 'react';
import { ErrorBox } from '../components/ErrorBox';
import { useI18n } from '../i18n';
import { useWorkspace } from '../session';

const LIST = `{ channels { name type config } }`;
const UPSERT = `mutation Upsert($name: String!, $type: String!, $config: JSON!) {
  upsertChannel(name: $name, type: $type, config: $config) { name type config }
}`;

// What the API answers in place of a stored credential; sent back, it keeps the stored value.
export const MASK = '********';

type Setting = { key: string; kind: 'text' | 'secret' | 'number' | 'flag'; required?: boolean };
type Channel = { name: string; type: string; config: Record<string, unknown> };

// Each type's own settings (services/messaging/channel_types); others a channel has (rate, burst,
// max_attempts) are kept as they are when it is saved again.
export const CHANNEL_TYPES: Record<string, Setting[]> = {
  webhook: [
    { key: 'url', kind: 'text', required: true },
    { key: 'api_key', kind: 'secret' },
    { key: 'idempotent', kind: 'flag' },
  ],
  sms: [
    { key: 'endpoint', kind: 'text', required: true },
    { key: 'api_key', kind: 'secret' },
    { key: 'sender', kind: 'text' },
    { key: 'idempotent', kind: 'flag' },
  ],
  push: [
    { key: 'endpoint', kind: 'text', required: true },
    { key: 'api_key', kind: 'secret' },
    { key: 'idempotent', kind: 'flag' },
  ],
  email: [
    { key: 'host', kind: 'text', required: true },
    { key: 'port', kind: 'number' },
    { key: 'from', kind: 'text', required: true },
    { key: 'username', kind: 'text' },
    { key: 'password', kind: 'secret' },
    { key: 'starttls', kind: 'flag' },
    { key: 'tracking_base', kind: 'text' },
  ],
  wechat: [
    { key: 'endpoint', kind: 'text', required: true },
    { key: 'access_token', kind: 'secret' },
    { key: 'template_id', kind: 'text', required: true },
    { key: 'idempotent', kind: 'flag' },
  ],
  inapp: [],
};

// The config to send: blanks left out, numbers as numbers; a secret never typed stays the mask.
export function configToSend(type: string, config: Record<string, unknown>): Record<string, unknown> {
  const kinds = Object.fromEntries((CHANNEL_TYPES[type] ?? []).map((s) => [s.key, s.kind]));
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config)) {
    if (value === '' || value == null) continue;
    if (kinds[key] === 'number') {
      const n = Number(value);
      out[key] = Number.isFinite(n) && String(value).trim() !== '' ? n : value;
    } else out[key] = value;
  }
  return out;
}

type Form = { name: string; type: string; config: Record<string, unknown>; original: Record<string, unknown>; existing: boolean };

const blank = (): Form => ({ name: '', type: 'webhook', config: {}, original: {}, existing: false });
const opened = (c: Channel): Form => ({ ...c, original: c.config, existing: true });

export function Channels() {
  const { client } = useWorkspace();
  const { t } = useI18n();
  const [channels, setChannels] = useState<Channel[] | null>(null);
  const [form, setForm] = useState<Form>(blank);
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState('');

  const reload = useCallback(async () => {
    try {
      setChannels((await client<{ channels: Channel[] }>(LIST)).channels);
    } catch (exc) {
      setError(exc);
    }
  }, [client]);

  useEffect(() => {
    reload();
  }, [reload]);

  const set = (key: string, value: unknown) => setForm((f) => ({ ...f, config: { ...f.config, [key]: value } }));

  async function save(event: React.FormEvent) {
    event.preventDefault();
    setError(null);
    setNotice('');
    try {
      const data = await client<{ upsertChannel: Channel }>(UPSERT, {
        name: form.name.trim(),
        type: form.type,
        config: configToSend(form.type, form.config),
      });
      setNotice(`${t('saved')}: ${data.upsertChannel.name}`);
      // The answer, secrets masked: what a later save sends back.
      setForm(opened(data.upsertChannel));
      await reload();
    } catch (exc) {
      setError(exc);
    }
  }

  return (
    <div data-testid="channels">
      <table className="list" data-testid="channel-list">
        <thead>
          <tr>
            <th>{t('name')}</th>
            <th>{t('kind')}</th>
            <th>{t('channelConfig')}</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {(channels ?? []).map((c) => (
            <tr key={c.name} data-channel={c.name}>
              <td>{c.name}</td>
              <td>{c.type}</td>
              <td>
                {Object.entries(c.config).map(([k, v]) => (
                  <span key={k} className="tag" style={{ marginRight: 6 }}>
                    {k}: {v === MASK ? `${MASK} (${t('secretStored')})` : String(v)}
                  </span>
                ))}
              </td>
              <td>
                <button type="button" onClick={() => setForm(opened(c))}>
                  {t('edit')}
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {channels && channels.length === 0 ? <p className="muted">{t('none')}</p> : null}

      <h3>{form.existing ? `${t('editChannel')}: ${form.name}` : t('newChannel')}</h3>
      <form className="form card" onSubmit={save} aria-label={t('channelForm')}>
        <label htmlFor="channel-name">{t('name')}</label>
        <input
          id="channel-name"
          value={form.name}
          readOnly={form.existing}
          onChange={(e) => setForm((f) => ({ ...f, name: e.target.value }))}
          required
        />
        <label htmlFor="channel-type">{t('kind')}</label>
        <select
          id="channel-type"
          value={form.type}
          disabled={form.existing}
          onChange={(e) => setForm((f) => ({ ...f, type: e.target.value, config: {} }))}
        >
          {Object.keys(CHANNEL_TYPES).map((type) => (
            <option key={type}>{type}</option>
          ))}
        </select>
        {(CHANNEL_TYPES[form.type] ?? []).map((s) => {
          const id = `channel-${s.key}`;
          const value = form.config[s.key];
          if (s.kind === 'flag') {
            return [
              <label key="l" htmlFor={id}>
                {s.key}
              </label>,
              <input key="i" id={id} type="checkbox" checked={value === true} onChange={(e) => set(s.key, e.target.checked)} />,
            ];
          }
          if (s.kind === 'secret') {
            // The stored credential is never in the page: the field is empty and says one is kept.
            const stored = value === MASK;
            return [
              <label key="l" htmlFor={id}>
                {s.key}
              </label>,
              <input
                key="i"
                id={id}
                type="password"
                autoComplete="new-password"
                value={stored ? '' : String(value ?? '')}
                placeholder={stored ? t('secretKept') : ''}
                // Cleared: back to what was answered (the mask keeps the stored one).
                onChange={(e) => set(s.key, e.target.value === '' ? (form.original[s.key] ?? '') : e.target.value)}
              />,
            ];
          }
          return [
            <label key="l" htmlFor={id}>
              {s.key}
              {s.required ? ' *' : ''}
            </label>,
            <input
              key="i"
              id={id}
              type={s.kind === 'number' ? 'number' : 'text'}
              value={String(value ?? '')}
              onChange={(e) => set(s.key, e.target.value)}
            />,
          ];
        })}
        <div className="wide toolbar">
          <button type="submit">{t('save')}</button>
          {form.existing ? (
            <button type="button" onClick={() => setForm(blank())}>
              {t('newChannel')}
            </button>
          ) : null}
        </div>
      </form>
      {notice ? <p role="status">{notice}</p> : null}
      <ErrorBox error={error} />
    </div>
  );
}
