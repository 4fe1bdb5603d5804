import { Fragment, useEffect, useState } from 'react';
import { ApiError } from '../api';
import { ErrorBox } from '../components/ErrorBox';
import { useI18n, type Key } from '../i18n';
import { useWorkspace } from '../session';

const FIELDS = `quietStart quietEnd defaultTimezone conversionEvent attributionHours caps { channel category limit days }`;
const READ = `{ messagingPolicy { ${FIELDS} } }`;
const SET = `mutation Set($input: MessagingPolicyInput!) { setMessagingPolicy(input: $input) { ${FIELDS} } }`;

type Cap = { channel: string; category: string; limit: number; days: number };
type Policy = {
  quietStart: string;
  quietEnd: string;
  defaultTimezone: string;
  conversionEvent: string;
  attributionHours: number;
  caps: Cap[];
};

// The service names fields as its Python does (quiet_start, caps[0].limit); the form's are camelCase.
export function formField(apiField: string): string {
  return apiField.replace(/_(\w)/g, (_, c: string) => c.toUpperCase());
}

const TEXT: { key: keyof Policy; label: Key; placeholder?: string }[] = [
  { key: 'quietStart', label: 'quietStart', placeholder: 'HH:MM' },
  { key: 'quietEnd', label: 'quietEnd', placeholder: 'HH:MM' },
  { key: 'defaultTimezone', label: 'defaultTimezone', placeholder: 'Asia/Shanghai' },
  { key: 'conversionEvent', label: 'conversionEvent' },
];

export function PolicyForm() {
  const { client } = useWorkspace();
  const { t } = useI18n();
  const [policy, setPolicy] = useState<Policy | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState('');

  useEffect(() => {
    client<{ messagingPolicy: Policy }>(READ)
      .then((d) => setPolicy(d.messagingPolicy))
      .catch(setError);
  }, [client]);

  if (!policy) return <ErrorBox error={error} />;

  const bad = error instanceof ApiError && error.field ? formField(error.field) : null;
  const invalid = (name: string) => (bad === name ? { 'aria-invalid': true, className: 'invalid' } : {});
  const fieldError = (name: string) =>
    bad === name ? (
      <span className="field-error wide" data-testid={`error-${name}`}>
        {(error as Error).message}
      </span>
    ) : null;
  const setCap = (i: number, patch: Partial<Cap>) =>
    setPolicy({ ...policy, caps: policy.caps.map((c, j) => (i === j ? { ...c, ...patch } : c)) });

  async function save(event: React.FormEvent) {
    event.preventDefault();
    setError(null);
    setNotice('');
    try {
      const d = await client<{ setMessagingPolicy: Policy }>(SET, { input: policy });
      setPolicy(d.setMessagingPolicy);
      setNotice(t('saved'));
    } catch (exc) {
      setError(exc);
    }
  }

  return (
    <form className="form card" onSubmit={save} aria-label={t('policy')} data-testid="policy">
      {TEXT.map(({ key, label, placeholder }) => (
        <Fragment key={key}>
          <label htmlFor={`policy-${key}`}>{t(label)}</label>
          <input
            id={`policy-${key}`}
            value={String(policy[key])}
            placeholder={placeholder}
            onChange={(e) => setPolicy({ ...policy, [key]: e.target.value })}
            {...invalid(key)}
          />
          {fieldError(key)}
        </Fragment>
      ))}
      <label htmlFor="policy-attributionHours">{t('attributionHours')}</label>
      <input
        id="policy-attributionHours"
        type="number"
        value={policy.attributionHours}
        onChange={(e) => setPolicy({ ...policy, attributionHours: Number(e.target.value) })}
        {...invalid('attributionHours')}
      />
      {fieldError('attributionHours')}
      <p className="muted wide">{t('quietHelp')}</p>

      <h4 className="wide">{t('caps')}</h4>
      <table className="list wide" data-testid="caps">
        <thead>
          <tr>
            <th>{t('capChannel')}</th>
            <th>{t('capCategory')}</th>
            <th>{t('capLimit')}</th>
            <th>{t('capDays')}</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {policy.caps.map((cap, i) => (
            <tr key={i}>
              <td>
                <input aria-label={`${t('capChannel')} ${i + 1}`} value={cap.channel} placeholder={t('anyChannel')} onChange={(e) => setCap(i, { channel: e.target.value })} />
              </td>
              <td>
                <select aria-label={`${t('capCategory')} ${i + 1}`} value={cap.category} onChange={(e) => setCap(i, { category: e.target.value })} {...invalid(`caps[${i}].category`)}>
                  <option value="">{t('anyCategory')}</option>
                  <option value="marketing">{t('categoryMarketing')}</option>
                  <option value="transactional">{t('categoryTransactional')}</option>
                </select>
              </td>
              <td>
                <input
                  aria-label={`${t('capLimit')} ${i + 1}`}
                  type="number"
                  value={cap.limit}
                  onChange={(e) => setCap(i, { limit: Number(e.target.value) })}
                  {...invalid(`caps[${i}].limit`)}
                />
              </td>
              <td>
                <input
                  aria-label={`${t('capDays')} ${i + 1}`}
                  type="number"
                  value={cap.days}
                  onChange={(e) => setCap(i, { days: Number(e.target.value) })}
                  {...invalid(`caps[${i}].days`)}
                />
              </td>
              <td>
                <button type="button" onClick={() => setPolicy({ ...policy, caps: policy.caps.filter((_, j) => j !== i) })}>
                  {t('remove')}
                </button>
                {fieldError(`caps[${i}].limit`)}
                {fieldError(`caps[${i}].days`)}
                {fieldError(`caps[${i}].category`)}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <div className="wide toolbar">
        <button type="button" onClick={() => setPolicy({ ...policy, caps: [...policy.caps, { channel: '', category: 'marketing', limit: 1, days: 1 }] })}>
          {t('addCap')}
        </button>
        <button type="submit">{t('save')}</button>
      </div>
      <div className="wide">
        {notice ? <p role="status">{notice}</p> : null}
        <ErrorBox error={error} />
      </div>
    </form>
  );
}
