import { useCallback, useEffect, useRef, useState } from 'react';
import { ConfirmButton } from '../components/ConfirmButton';
import { ErrorBox } from '../components/ErrorBox';
import { useDebounced } from '../debounce';
import { useI18n } from '../i18n';
import { useWorkspace } from '../session';
import { formatDateTime } from '../time';
import { CHANNEL_TYPES } from './MessagingChannels';

const LIST = `{ templates { id name channel updatedAt content { subject title body deepLink data } } }`;
const CREATE = `mutation Create($input: TemplateInput!) { createTemplate(input: $input) { id name } }`;
const UPDATE = `mutation Update($id: ID!, $input: TemplateInput!) { updateTemplate(id: $id, input: $input) { id name } }`;
const DELETE = `mutation Delete($id: ID!) { deleteTemplate(id: $id) }`;
const PERSON = `query Person($type: String!, $value: String!) { person(identity: { type: $type, value: $value }) { id } }`;
const RENDER = `query Render($personId: ID, $content: ContentInput!) {
  renderTemplate(personId: $personId, content: $content) { subject title body deepLink }
}`;

// The preview follows the text this long after the last keystroke.
export const RENDER_DEBOUNCE_MS = 250;
const IDENTIFIER_TYPES = ['user_id', 'email', 'phone', 'device_id'];

// `data` is not edited here but goes back as it was, so an update does not drop it.
type Content = { subject: string; title: string; body: string; deepLink: string; data?: Record<string, unknown> | null };
type Template = { id: string; name: string; channel: string; updatedAt: string | null; content: Content };

const empty = (): { id: string | null; name: string; channel: string; content: Content } => ({
  id: null,
  name: '',
  channel: 'push',
  content: { subject: '', title: '', body: '', deepLink: '' },
});

function Preview({ content }: { content: Content }) {
  const { client } = useWorkspace();
  const { t } = useI18n();
  const [idType, setIdType] = useState('user_id');
  const [idValue, setIdValue] = useState('');
  const [person, setPerson] = useState<{ id: string } | null | 'missing'>(null);
  const [rendered, setRendered] = useState<Content | null>(null);
  const [error, setError] = useState<unknown>(null);
  const identifier = useDebounced(idValue.trim(), RENDER_DEBOUNCE_MS);
  const settled = useDebounced(content, RENDER_DEBOUNCE_MS);
  const latest = useRef(0);

  useEffect(() => {
    if (identifier === '') {
      setPerson(null);
      return;
    }
    let live = true;
    client<{ person: { id: string } | null }>(PERSON, { type: idType, value: identifier })
      .then((d) => live && setPerson(d.person ?? 'missing'))
      .catch((exc) => live && setError(exc));
    return () => {
      live = false;
    };
  }, [client, idType, identifier]);

  // Only the answer to the latest text is shown: an older, slower render is dropped.
  useEffect(() => {
    const ticket = ++latest.current;
    const blank = !settled.subject && !settled.title && !settled.body && !settled.deepLink;
    if (blank || person == null || person === 'missing') {
      setRendered(null);
      setError(null);
      return;
    }
    client<{ renderTemplate: Content }>(RENDER, { personId: person.id, content: settled })
      .then((d) => {
        if (ticket !== latest.current) return;
        setRendered(d.renderTemplate);
        setError(null);
      })
      .catch((exc) => {
        if (ticket !== latest.current) return;
        setRendered(null);
        setError(exc);
      });
  }, [client, settled, person]);

  return (
    <div className="card" data-testid="template-preview">
      <h4>{t('livePreview')}</h4>
      <div className="toolbar">
        <select aria-label={t('previewIdentifierType')} value={idType} onChange={(e) => setIdType(e.target.value)}>
          {IDENTIFIER_TYPES.map((type) => (
            <option key={type}>{type}</option>
          ))}
        </select>
        <input
          aria-label={t('previewPerson')}
          placeholder={t('previewPerson')}
          value={idValue}
          onChange={(e) => setIdValue(e.target.value)}
        />
      </div>
      {person === 'missing' ? <p className="muted">{t('noPerson')}</p> : null}
      {person == null ? <p className="muted">{t('previewPickPerson')}</p> : null}
      <ErrorBox error={error} />
      {rendered ? (
        <dl data-testid="rendered">
          {(['subject', 'title', 'body', 'deepLink'] as const)
            .filter((k) => rendered[k])
            .map((k) => (
              <div key={k}>
                <dt className="muted">{t(`field_${k}`)}</dt>
                <dd className="preview" data-field={k}>
                  {rendered[k]}
                </dd>
              </div>
            ))}
        </dl>
      ) : null}
    </div>
  );
}

export function Templates() {
  const { client, timeZone } = useWorkspace();
  const { t, lang } = useI18n();
  const [templates, setTemplates] = useState<Template[] | null>(null);
  const [form, setForm] = useState(empty);
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState('');

  const reload = useCallback(async () => {
    try {
      setTemplates((await client<{ templates: Template[] }>(LIST)).templates);
    } catch (exc) {
      setError(exc);
    }
  }, [client]);

  useEffect(() => {
    reload();
  }, [reload]);

  const setContent = (key: Exclude<keyof Content, 'data'>, value: string) => setForm((f) => ({ ...f, content: { ...f.content, [key]: value } }));

  async function save(event: React.FormEvent) {
    event.preventDefault();
    setError(null);
    setNotice('');
    const input = { name: form.name.trim(), channel: form.channel, content: form.content };
    try {
      if (form.id) {
        await client(UPDATE, { id: form.id, input });
      } else {
        const made = await client<{ createTemplate: { id: string } }>(CREATE, { input });
        setForm((f) => ({ ...f, id: made.createTemplate.id }));
      }
      setNotice(`${t('saved')}: ${input.name}`);
      await reload();
    } catch (exc) {
      setError(exc);
    }
  }

  async function remove(template: Template) {
    setError(null);
    setNotice('');
    try {
      await client(DELETE, { id: template.id });
      if (form.id === template.id) setForm(empty());
      await reload();
    } catch (exc) {
      setError(exc);
    }
  }

  return (
    <div data-testid="templates">
      <table className="list" data-testid="template-list">
        <thead>
          <tr>
            <th>{t('name')}</th>
            <th>{t('kind')}</th>
            <th>{t('updatedAt')}</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {(templates ?? []).map((tpl) => (
            <tr key={tpl.id} className={form.id === tpl.id ? 'active' : ''}>
              <td>{tpl.name}</td>
              <td>{tpl.channel}</td>
              <td>{formatDateTime(tpl.updatedAt, timeZone, lang)}</td>
              <td>
                <button type="button" onClick={() => setForm({ id: tpl.id, name: tpl.name, channel: tpl.channel, content: { ...tpl.content } })}>
                  {t('edit')}
                </button>{' '}
                <ConfirmButton label={t('delete')} question={t('confirmDeleteTemplate', { name: tpl.name })} onConfirm={() => remove(tpl)} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {templates && templates.length === 0 ? <p className="muted">{t('none')}</p> : null}

      <h3>{form.id ? `${t('editTemplate')}: ${form.name}` : t('newTemplate')}</h3>
      <div className="builder">
        <form className="form card" onSubmit={save} aria-label={t('templateForm')}>
          <label htmlFor="template-name">{t('name')}</label>
          <input id="template-name" value={form.name} onChange={(e) => setForm((f) => ({ ...f, name: e.target.value }))} required />
          <label htmlFor="template-channel">{t('kind')}</label>
          <select id="template-channel" value={form.channel} onChange={(e) => setForm((f) => ({ ...f, channel: e.target.value }))}>
            {Object.keys(CHANNEL_TYPES).map((type) => (
              <option key={type}>{type}</option>
            ))}
          </select>
          {(['subject', 'title', 'deepLink'] as const).map((k) => [
            <label key="l" htmlFor={`template-${k}`}>
              {t(`field_${k}`)}
            </label>,
            <input key="i" id={`template-${k}`} value={form.content[k]} onChange={(e) => setContent(k, e.target.value)} />,
          ])}
          <label htmlFor="template-body">{t('field_body')}</label>
          <textarea id="template-body" rows={5} value={form.content.body} onChange={(e) => setContent('body', e.target.value)} />
          <p className="muted wide">{t('templateHelp')}</p>
          <div className="wide toolbar">
            <button type="submit">{t('save')}</button>
            {form.id ? (
              <button type="button" onClick={() => setForm(empty())}>
                {t('newTemplate')}
              </button>
            ) : null}
          </div>
        </form>
        <Preview content={form.content} />
      </div>
      {notice ? <p role="status">{notice}</p> : null}
      <ErrorBox error={error} />
    </div>
  );
}
