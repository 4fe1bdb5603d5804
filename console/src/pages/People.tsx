import { useState } from 'react';
import { ConfirmButton } from '../components/ConfirmButton';
import { ErrorBox } from '../components/ErrorBox';
import { ID_TYPES } from '../identifiers';
import { useI18n } from '../i18n';
import { useWorkspace } from '../session';
import { formatDateTime } from '../time';
import { PersonMerges } from './PersonMerges';

const PERSON = `query Person($type: String!, $value: String!) {
  person(identity: {type: $type, value: $value}) {
    id uid createdAt
    identities { type value }
    traits
    tags { name value source confidence expiresAt }
    computed { orderCount revenue ltv averageOrderValue lastOrderAt lastActiveAt rfmGroup lifecycleStage acquisitionChannel categories }
    segments { id name }
    journeys(limit: 10) { id journeyId status node enteredAt }
    messages(limit: 10) { id channel status createdAt content { title subject } }
    events(first: 10) { nodes { event type timestamp } }
    mergeHistory(limit: 5) { id winnerId loserId reason at undone }
  }
}`;

const FORGET = `mutation Forget($id: ID!) { forgetPerson(personId: $id) { personId identifiersRemoved } }`;

type Person = {
  id: string;
  uid: number;
  identities: { type: string; value: string }[];
  traits: Record<string, unknown>;
  tags: { name: string; value: string; source: string; confidence: number; expiresAt: string | null }[];
  computed: Record<string, unknown>;
  segments: { id: string; name: string }[];
  journeys: { id: string; journeyId: string; status: string; node: string; enteredAt: string }[];
  messages: { id: string; channel: string; status: string; createdAt: string | null; content: { title: string; subject: string } }[];
  events: { nodes: { event: string | null; type: string; timestamp: string }[] };
  mergeHistory: { id: string; winnerId: string; loserId: string; reason: string; at: string | null; undone: boolean }[];
};

function List<T>({ items, render, empty }: { items: T[]; render: (item: T) => React.ReactNode; empty: string }) {
  if (items.length === 0) return <p className="muted">{empty}</p>;
  return <ul>{items.map(render)}</ul>;
}

export function People() {
  const { client, timeZone } = useWorkspace();
  const { t, lang } = useI18n();
  const [idType, setIdType] = useState('user_id');
  const [value, setValue] = useState('');
  const [person, setPerson] = useState<Person | null | undefined>(undefined);
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState('');
  const when = (v: string | null | undefined) => formatDateTime(v, timeZone, lang);

  async function search(event: React.FormEvent) {
    event.preventDefault();
    setError(null);
    setNotice('');
    await reload();
  }

  // After a merge or unmerge the person is read again by the identifier searched (their id may change).
  async function reload() {
    try {
      const data = await client<{ person: Person | null }>(PERSON, { type: idType, value: value.trim() });
      setPerson(data.person);
    } catch (exc) {
      setError(exc);
    }
  }

  async function forget() {
    if (!person) return;
    setError(null);
    try {
      const data = await client<{ forgetPerson: { identifiersRemoved: number } }>(FORGET, { id: person.id });
      setNotice(t('forgotten', { n: data.forgetPerson.identifiersRemoved }));
      setPerson(null);
    } catch (exc) {
      setError(exc);
    }
  }

  return (
    <section>
      <h2>{t('people')}</h2>
      <form className="toolbar" onSubmit={search} role="search">
        <select aria-label={t('identifierType')} value={idType} onChange={(e) => setIdType(e.target.value)}>
          {ID_TYPES.map((type) => (
            <option key={type}>{type}</option>
          ))}
        </select>
        <input aria-label={t('identifierValue')} value={value} onChange={(e) => setValue(e.target.value)} required />
        <button type="submit">{t('search')}</button>
      </form>
      <ErrorBox error={error} />
      {notice ? <p role="status">{notice}</p> : null}
      {person === null && !notice ? <p>{t('noPerson')}</p> : null}
      {person ? (
        <div className="person" data-testid="person">
          <h3>
            {String(person.traits.name ?? person.id)} <span className="muted">#{person.uid} · {person.id}</span>
          </h3>
          <div className="grid">
            <div className="card">
              <h4>{t('identities')}</h4>
              <List
                items={person.identities}
                empty={t('none')}
                render={(i) => (
                  <li key={`${i.type}:${i.value}`}>
                    <code>{i.type}</code> {i.value}
                  </li>
                )}
              />
              <PersonMerges personId={person.id} history={person.mergeHistory} onChanged={reload} />
            </div>
            <div className="card">
              <h4>{t('traits')}</h4>
              <table>
                <tbody>
                  {Object.entries(person.traits).map(([k, v]) => (
                    <tr key={k}>
                      <th>{k}</th>
                      <td>{typeof v === 'object' ? JSON.stringify(v) : String(v)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            <div className="card">
              <h4>{t('computed')}</h4>
              <table>
                <tbody>
                  {Object.entries(person.computed).map(([k, v]) => (
                    <tr key={k}>
                      <th>{k}</th>
                      <td>{/At$/.test(k) ? when(v as string | null) : Array.isArray(v) ? v.join(', ') : String(v ?? '—')}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            <div className="card">
              <h4>{t('tags')}</h4>
              <List
                items={person.tags}
                empty={t('none')}
                render={(tag) => (
                  <li key={tag.name}>
                    <span className="tag">{tag.value ? `${tag.name}=${tag.value}` : tag.name}</span> {tag.source} ·{' '}
                    {tag.confidence.toFixed(2)} · {when(tag.expiresAt)}
                  </li>
                )}
              />
              <h4>{t('segments')}</h4>
              <List items={person.segments} empty={t('none')} render={(s) => <li key={s.id}>{s.name}</li>} />
            </div>
            <div className="card">
              <h4>{t('journeyRuns')}</h4>
              <List
                items={person.journeys}
                empty={t('none')}
                render={(r) => (
                  <li key={r.id}>
                    {r.journeyId} · {r.status} · {r.node} · {when(r.enteredAt)}
                  </li>
                )}
              />
              <h4>{t('messages')}</h4>
              <List
                items={person.messages}
                empty={t('none')}
                render={(m) => (
                  <li key={m.id}>
                    {m.channel} · <strong>{m.status}</strong> · {m.content.title || m.content.subject} · {when(m.createdAt)}
                  </li>
                )}
              />
            </div>
            <div className="card">
              <h4>{t('timeline')}</h4>
              <List
                items={person.events.nodes}
                empty={t('none')}
                render={(e) => (
                  <li key={`${e.timestamp}-${e.event}`}>
                    {when(e.timestamp)} · {e.event ?? e.type}
                  </li>
                )}
              />
            </div>
          </div>
          <ConfirmButton label={t('forget')} question={t('confirmForget')} onConfirm={forget} />
        </div>
      ) : null}
    </section>
  );
}
