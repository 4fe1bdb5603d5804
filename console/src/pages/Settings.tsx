import { useCallback, useEffect, useRef, useState } from 'react';
import { ConfirmButton } from '../components/ConfirmButton';
import { ErrorBox } from '../components/ErrorBox';
import { useI18n, type Key as TKey } from '../i18n';
import { useWorkspace } from '../session';
import { formatDateTime } from '../time';

const ME = `{ me { subject workspace scopes role } }`;
const KEYS = `{ apiKeys { id name scopes createdAt revokedAt lastUsedAt } }`;
const CREATE = `mutation Create($name: String!, $scopes: [String!]!) { createApiKey(name: $name, scopes: $scopes) { secret key { id name } } }`;
const REVOKE = `mutation Revoke($id: ID!) { revokeApiKey(id: $id) { id revokedAt } }`;

const OPERATORS = `{ operators { id email role createdAt } }`;
const ADD_OPERATOR = `mutation Add($email: String!, $password: String!, $role: String!) { addOperator(email: $email, password: $password, role: $role) { id email role } }`;
const SET_ROLE = `mutation SetRole($email: String!, $role: String!) { setOperatorRole(email: $email, role: $role) { id email role } }`;
const REMOVE_OPERATOR = `mutation Remove($email: String!) { removeOperator(email: $email) { id email role } }`;
const AUDIT = `query Audit($limit: Int!, $action: String) { auditLog(limit: $limit, action: $action) { who action target outcome at detail } }`;

export const ROLES = ['admin', 'marketer', 'analyst', 'viewer'];
// The admin operations identity and the other services record (auditLog filters by one exactly).
export const AUDIT_ACTIONS = [
  'operator.add',
  'operator.role',
  'operator.remove',
  'api_key.create',
  'api_key.revoke',
  'person.forget',
  'person.merge',
  'person.unmerge',
  'identifier.allow',
  'profile.settings',
];
export const AUDIT_PAGE = 50;
const AUDIT_MAX = 500; // the API's most per call

type Operator = { id: string; email: string; role: string | null; createdAt: string | null };
type AuditRecord = { who: string; action: string; target: string; outcome: string; at: string; detail: unknown };

function roleName(t: (key: TKey) => string, role: string | null): string {
  return role && ROLES.includes(role) ? t(`role_${role}` as TKey) : (role ?? '—');
}

function Operators({ onChanged }: { onChanged: () => void }) {
  const { client, timeZone } = useWorkspace();
  const { t, lang } = useI18n();
  const [operators, setOperators] = useState<Operator[] | null>(null);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState('');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [role, setRole] = useState('viewer');
  const [roles, setRoles] = useState<Record<string, string>>({});

  const reload = useCallback(async () => {
    try {
      setOperators((await client<{ operators: Operator[] }>(OPERATORS)).operators);
      setLoadError(null);
    } catch (exc) {
      setLoadError(exc); // a non-admin sees the API's refusal
    }
  }, [client]);

  useEffect(() => {
    reload();
  }, [reload]);

  async function act(work: () => Promise<string>) {
    setError(null);
    setNotice('');
    try {
      setNotice(await work());
      await reload();
    } catch (exc) {
      setError(exc);
    }
    onChanged(); // a refusal is audited too
  }

  function add(event: React.FormEvent) {
    event.preventDefault();
    act(async () => {
      const data = await client<{ addOperator: Operator }>(ADD_OPERATOR, { email: email.trim(), password, role });
      setEmail('');
      setPassword('');
      return t('operatorAdded', { email: data.addOperator.email, role: roleName(t, data.addOperator.role) });
    });
  }

  const changeRole = (op: Operator) =>
    act(async () => {
      const data = await client<{ setOperatorRole: Operator }>(SET_ROLE, { email: op.email, role: roles[op.email] ?? op.role });
      return t('roleChanged', { email: data.setOperatorRole.email, role: roleName(t, data.setOperatorRole.role) });
    });

  const remove = (op: Operator) =>
    act(async () => {
      await client(REMOVE_OPERATOR, { email: op.email });
      return t('operatorRemoved', { email: op.email });
    });

  return (
    <div data-testid="operators-section">
      <h3>{t('operators')}</h3>
      <form className="toolbar" aria-label={t('addOperator')} data-testid="add-operator" onSubmit={add}>
        <input aria-label={t('email')} placeholder={t('email')} type="email" value={email} onChange={(e) => setEmail(e.target.value)} required />
        <input
          aria-label={t('password')}
          placeholder={t('password')}
          type="password"
          autoComplete="new-password"
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          required
        />
        <select aria-label={t('role')} value={role} onChange={(e) => setRole(e.target.value)}>
          {ROLES.map((r) => (
            <option key={r} value={r}>
              {roleName(t, r)}
            </option>
          ))}
        </select>
        <button type="submit">{t('addOperator')}</button>
      </form>
      <div data-testid="operators-error">
        <ErrorBox error={error} />
      </div>
      {notice ? <p role="status">{notice}</p> : null}
      <ErrorBox error={loadError} />
      {operators ? (
        <table className="list" data-testid="operators">
          <thead>
            <tr>
              <th>{t('email')}</th>
              <th>{t('role')}</th>
              <th>{t('createdAt')}</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {operators.map((op) => (
              <tr key={op.id} data-email={op.email}>
                <td>{op.email}</td>
                <td className="role">{roleName(t, op.role)}</td>
                <td>{formatDateTime(op.createdAt, timeZone, lang)}</td>
                <td>
                  <select
                    aria-label={`${t('role')} ${op.email}`}
                    value={roles[op.email] ?? op.role ?? ''}
                    onChange={(e) => setRoles({ ...roles, [op.email]: e.target.value })}
                  >
                    {ROLES.map((r) => (
                      <option key={r} value={r}>
                        {roleName(t, r)}
                      </option>
                    ))}
                  </select>{' '}
                  <button
                    type="button"
                    className="set-role"
                    disabled={(roles[op.email] ?? op.role) === op.role}
                    onClick={() => changeRole(op)}
                  >
                    {t('changeRole')}
                  </button>{' '}
                  <ConfirmButton
                    label={t('removeOperator')}
                    question={t('confirmRemoveOperator', { email: op.email })}
                    onConfirm={() => remove(op)}
                  />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </div>
  );
}

function AuditLog({ version }: { version: number }) {
  const { client, timeZone } = useWorkspace();
  const { t, lang } = useI18n();
  const [action, setAction] = useState('');
  const [limit, setLimit] = useState(AUDIT_PAGE);
  const [records, setRecords] = useState<AuditRecord[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const latest = useRef(0);

  const load = useCallback(async () => {
    const ticket = ++latest.current;
    try {
      const data = await client<{ auditLog: AuditRecord[] }>(AUDIT, { limit, action: action || null });
      if (ticket !== latest.current) return;
      setRecords(data.auditLog);
      setError(null);
    } catch (exc) {
      if (ticket === latest.current) setError(exc);
    }
  }, [client, limit, action]);

  useEffect(() => {
    load();
  }, [load, version]);

  return (
    <div data-testid="audit-section">
      <h3>{t('auditLog')}</h3>
      <div className="toolbar">
        <label>
          {t('auditAction')}{' '}
          <select
            aria-label={t('auditAction')}
            value={action}
            onChange={(e) => {
              setAction(e.target.value);
              setLimit(AUDIT_PAGE);
            }}
          >
            <option value="">{t('allActions')}</option>
            {AUDIT_ACTIONS.map((a) => (
              <option key={a} value={a}>
                {a}
              </option>
            ))}
          </select>
        </label>
        <button type="button" onClick={load}>
          {t('refresh')}
        </button>
        {records ? <span className="muted">{t('shownRecords', { n: records.length })}</span> : null}
      </div>
      <ErrorBox error={error} />
      {records ? (
        <table className="list" data-testid="audit-log">
          <thead>
            <tr>
              <th>{t('at')}</th>
              <th>{t('who')}</th>
              <th>{t('action')}</th>
              <th>{t('target')}</th>
              <th>{t('outcome')}</th>
              <th>{t('detail')}</th>
            </tr>
          </thead>
          <tbody>
            {records.map((r, i) => (
              <tr key={`${r.at}-${i}`} data-action={r.action} data-outcome={r.outcome}>
                <td>{formatDateTime(r.at, timeZone, lang)}</td>
                <td>{r.who}</td>
                <td>
                  <code>{r.action}</code>
                </td>
                <td>{r.target}</td>
                <td className={`outcome-${r.outcome}`}>
                  {['ok', 'refused', 'failed'].includes(r.outcome) ? t(`outcome_${r.outcome}` as TKey) : r.outcome}
                </td>
                <td>{r.detail ? <code>{JSON.stringify(r.detail)}</code> : ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {records && records.length === limit && limit < AUDIT_MAX ? (
        <button type="button" className="load-more" onClick={() => setLimit(Math.min(limit + AUDIT_PAGE, AUDIT_MAX))}>
          {t('loadMore')}
        </button>
      ) : null}
    </div>
  );
}

type Key = { id: string; name: string; scopes: string[]; createdAt: string | null; revokedAt: string | null; lastUsedAt: string | null };

export function Settings() {
  const { client, timeZone } = useWorkspace();
  const { t, lang } = useI18n();
  const [me, setMe] = useState<{ subject: string; workspace: string; scopes: string[]; role: string | null } | null>(null);
  const [keys, setKeys] = useState<Key[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [name, setName] = useState('');
  const [secret, setSecret] = useState('');
  const [auditVersion, setAuditVersion] = useState(0);

  const reload = useCallback(async () => {
    try {
      setKeys((await client<{ apiKeys: Key[] }>(KEYS)).apiKeys);
    } catch (exc) {
      setError(exc); // a non-admin sees the API's refusal
    }
  }, [client]);

  useEffect(() => {
    client<{ me: typeof me }>(ME).then((d) => setMe(d.me)).catch(setError);
    reload();
  }, [client, reload]);

  async function create(event: React.FormEvent) {
    event.preventDefault();
    setError(null);
    try {
      const data = await client<{ createApiKey: { secret: string } }>(CREATE, { name: name.trim(), scopes: ['read'] });
      // Shown this once: it is not kept in any state that outlives this page.
      setSecret(data.createApiKey.secret);
      setName('');
      await reload();
      setAuditVersion((v) => v + 1);
    } catch (exc) {
      setError(exc);
    }
  }

  async function revoke(key: Key) {
    setError(null);
    try {
      await client(REVOKE, { id: key.id });
      await reload();
      setAuditVersion((v) => v + 1);
    } catch (exc) {
      setError(exc);
    }
  }

  return (
    <section>
      <h2>{t('settings')}</h2>
      {me ? (
        <p>
          {t('me')}: {me.subject} · {t('workspace')}: {me.workspace} · {t('role')}: {me.role ?? '—'} · {t('scopes')}:{' '}
          {me.scopes.join(', ')}
        </p>
      ) : null}
      <ErrorBox error={error} />
      <h3>{t('apiKeys')}</h3>
      <form className="toolbar" onSubmit={create}>
        <input aria-label={t('name')} placeholder={t('name')} value={name} onChange={(e) => setName(e.target.value)} required />
        <button type="submit">{t('createKey')}</button>
      </form>
      {secret ? (
        <p className="secret" role="status">
          {t('shownOnce')} <code>{secret}</code>
        </p>
      ) : null}
      {keys ? (
        <table className="list" data-testid="api-keys">
          <thead>
            <tr>
              <th>{t('name')}</th>
              <th>{t('scopes')}</th>
              <th>{t('createdAt')}</th>
              <th>{t('status')}</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {keys.map((k) => (
              <tr key={k.id}>
                <td>{k.name}</td>
                <td>{k.scopes.join(', ')}</td>
                <td>{formatDateTime(k.createdAt, timeZone, lang)}</td>
                <td>{k.revokedAt ? `${t('revoked')} ${formatDateTime(k.revokedAt, timeZone, lang)}` : t('active')}</td>
                <td>
                  {k.revokedAt ? null : (
                    <ConfirmButton label={t('revoke')} question={t('confirmRevoke', { name: k.name })} onConfirm={() => revoke(k)} />
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      <Operators onChanged={() => setAuditVersion((v) => v + 1)} />
      <AuditLog version={auditVersion} />
    </section>
  );
}
