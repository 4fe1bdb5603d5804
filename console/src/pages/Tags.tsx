import { useCallback, useEffect, useRef, useState } from 'react';
import { ConfirmButton } from '../components/ConfirmButton';
import { ErrorBox } from '../components/ErrorBox';
import { dictionaries, useI18n, type Key } from '../i18n';
import { conditionsToText, OPS, type Condition } from '../rules';
import { useWorkspace } from '../session';
import { formatDateTime, formatNumber } from '../time';

const DEFINITIONS = `{ tagDefinitions { name displayNameZh displayNameEn category source valueKind description rule } }`;
const DEFINE = `mutation Define($d: TagDefinitionInput!) { defineTag(definition: $d) { name rule } }`;
const SEGMENTS = `{ segments { id name size } }`;
const TAGS = `tags { name value source confidence assignedAt expiresAt }`;
const JOB_FIELDS = `id state total done tagged segmentId error`;
const ASSIGN = `mutation Assign($tags: [TagInput!]!, $personIds: [ID!], $segmentId: ID) {
  assignTags(tags: $tags, personIds: $personIds, segmentId: $segmentId) { persons { id ${TAGS} } job { ${JOB_FIELDS} } }
}`;
const JOB = `query Job($id: ID!) { tagJob(id: $id) { ${JOB_FIELDS} } }`;
const SAMPLE = `query Sample($id: ID!, $n: Int!) { segment(id: $id) { members(first: $n) { edges { node { id ${TAGS} } } } } }`;

export const JOB_POLL_MS = 500;
export const SAMPLE_SIZE = 10;
const CATEGORIES = ['value', 'lifecycle', 'preference', 'demographic', 'campaign', 'custom'];
const VALUE_KINDS = ['flag', 'enumerated', 'score'];
// What a definition's and an assignment's source may be set to (computed belongs to rules).
const DEFINITION_SOURCES = ['own', 'partner'];
const ASSIGN_SOURCES = ['own', 'template', 'partner'];
// The template library is what every new workspace starts with: marked template, or computed by its rule.
const LIBRARY_SOURCES = ['template', 'computed'];

export type TagDefinition = {
  name: string;
  displayNameZh: string;
  displayNameEn: string;
  category: string;
  source: string;
  valueKind: string;
  description: string;
  rule: string;
};
type ProfileTag = { name: string; value: string; source: string; confidence: number; assignedAt: string; expiresAt: string | null };
type Job = { id: string; state: string; total: number; done: number; tagged: number; segmentId: string | null; error: string | null };
type Segment = { id: string; name: string; size: number };
type Tagged = { id: string; tags: ProfileTag[] };

const EMPTY: TagDefinition = {
  name: '',
  displayNameZh: '',
  displayNameEn: '',
  category: 'custom',
  source: 'own',
  valueKind: 'flag',
  description: '',
  rule: '',
};

// The UTC instant of a wall-clock time ("YYYY-MM-DDTHH:mm", as <input type=datetime-local> gives it)
// in `timeZone`: the expiry is asked in the workspace's zone like every other date.
export function zonedToIso(local: string, timeZone: string): string {
  const [date, time = '00:00'] = local.split('T');
  const [y, m, d] = date.split('-').map(Number);
  const [h, mi] = time.split(':').map(Number);
  const wall = Date.UTC(y, m - 1, d, h, mi);
  const offset = (at: number) => {
    const parts = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    }).formatToParts(new Date(at));
    const get = (type: string) => Number(parts.find((p) => p.type === type)?.value);
    return Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second')) - at;
  };
  // Twice: the offset at the guess may differ from the offset at the answer across a DST change.
  let at = wall - offset(wall);
  at = wall - offset(at);
  return new Date(at).toISOString();
}

function TagTable({
  rows,
  testId,
  action,
}: {
  rows: TagDefinition[];
  testId: string;
  action: (d: TagDefinition) => React.ReactNode;
}) {
  const { t, lang } = useI18n();
  return (
    <table className="list" data-testid={testId}>
      <thead>
        <tr>
          <th>{t('tagName')}</th>
          <th>{t('category')}</th>
          <th>{t('valueKind')}</th>
          <th>{t('source')}</th>
          <th>{t('rule')}</th>
          <th />
        </tr>
      </thead>
      <tbody>
        {rows.map((d) => (
          <tr key={d.name} data-tag={d.name}>
            <td>
              {(lang === 'zh' ? d.displayNameZh : d.displayNameEn) ? (
                <>
                  <span className="tag">{lang === 'zh' ? d.displayNameZh : d.displayNameEn}</span>{' '}
                </>
              ) : null}
              <code>{d.name}</code>
              {d.description ? <div className="muted">{d.description}</div> : null}
            </td>
            <td>{label(t, 'cat_', d.category)}</td>
            <td>{label(t, 'kind_', d.valueKind)}</td>
            <td>{label(t, 'src_', d.source)}</td>
            <td>{d.rule ? <code>{d.rule}</code> : <span className="muted">{t('ruleByApi')}</span>}</td>
            <td>{action(d)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

// A code the dictionaries name (cat_value, src_partner…), else the code itself: the API may add codes.
function label(t: (key: Key) => string, prefix: string, code: string): string {
  const key = `${prefix}${code}`;
  return key in dictionaries.en ? t(key as Key) : code;
}

function TaggedList({ persons, tag }: { persons: Tagged[]; tag: string }) {
  const { t, lang } = useI18n();
  const { timeZone } = useWorkspace();
  return (
    <table className="list" data-testid="tagged">
      <thead>
        <tr>
          <th>{t('person')}</th>
          <th>{t('tagValue')}</th>
          <th>{t('source')}</th>
          <th>{t('confidence')}</th>
          <th>{t('assignedAt')}</th>
          <th>{t('expiresAt')}</th>
        </tr>
      </thead>
      <tbody>
        {persons.map((p) => {
          const found = p.tags.find((x) => x.name === tag);
          return (
            <tr key={p.id} data-person={p.id}>
              <td>
                <code>{p.id}</code>
              </td>
              <td>{found ? found.value : '—'}</td>
              <td>{found ? label(t, 'src_', found.source) : '—'}</td>
              <td>{found ? formatNumber(found.confidence, lang, 2) : '—'}</td>
              <td>{found ? formatDateTime(found.assignedAt, timeZone, lang) : '—'}</td>
              <td>{found ? (found.expiresAt ? formatDateTime(found.expiresAt, timeZone, lang) : t('noExpiry')) : '—'}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

function Editor({ definitions, editing, onSaved }: { definitions: TagDefinition[]; editing: TagDefinition; onSaved: () => void }) {
  const { client } = useWorkspace();
  const { t } = useI18n();
  const [draft, setDraft] = useState<TagDefinition>(editing);
  const [condition, setCondition] = useState<Condition>({ path: 'computed.order_count', op: '>=', value: '2' });
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState('');
  const [asking, setAsking] = useState(false);

  useEffect(() => setDraft(editing), [editing]);
  const set = (patch: Partial<TagDefinition>) => setDraft((d) => ({ ...d, ...patch }));
  const exists = definitions.some((d) => d.name === draft.name.trim());

  async function save() {
    setError(null);
    setNotice('');
    try {
      const data = await client<{ defineTag: { name: string } }>(DEFINE, {
        d: { ...draft, name: draft.name.trim(), rule: draft.rule.trim() },
      });
      setNotice(t('tagDefined', { name: data.defineTag.name }));
      onSaved();
    } catch (exc) {
      setError(exc);
    }
  }

  function submit(event: React.FormEvent) {
    event.preventDefault();
    // Changing a tag that exists re-derives it for every person: asked first.
    if (exists) setAsking(true);
    else save();
  }

  return (
    <form className="card" aria-label={t('defineTag')} data-testid="tag-editor" onSubmit={submit}>
      <h3>{t('defineTag')}</h3>
      <div className="toolbar">
        <input aria-label={t('tagName')} placeholder="repeat_buyer_2" value={draft.name} onChange={(e) => set({ name: e.target.value })} required />
        <input aria-label={t('displayNameZh')} placeholder={t('displayNameZh')} value={draft.displayNameZh} onChange={(e) => set({ displayNameZh: e.target.value })} />
        <input aria-label={t('displayNameEn')} placeholder={t('displayNameEn')} value={draft.displayNameEn} onChange={(e) => set({ displayNameEn: e.target.value })} />
      </div>
      <div className="toolbar">
        <label>
          {t('category')}{' '}
          <select aria-label={t('category')} value={draft.category} onChange={(e) => set({ category: e.target.value })}>
            {CATEGORIES.map((c) => (
              <option key={c} value={c}>
                {label(t, 'cat_', c)}
              </option>
            ))}
          </select>
        </label>
        <label>
          {t('valueKind')}{' '}
          <select aria-label={t('valueKind')} value={draft.valueKind} onChange={(e) => set({ valueKind: e.target.value })}>
            {VALUE_KINDS.map((k) => (
              <option key={k} value={k}>
                {label(t, 'kind_', k)}
              </option>
            ))}
          </select>
        </label>
        <label>
          {t('source')}{' '}
          <select aria-label={t('source')} value={draft.source} onChange={(e) => set({ source: e.target.value })}>
            {[...new Set([...DEFINITION_SOURCES, draft.source])].map((s) => (
              <option key={s} value={s}>
                {label(t, 'src_', s)}
              </option>
            ))}
          </select>
        </label>
      </div>
      <input
        aria-label={t('description')}
        placeholder={t('description')}
        value={draft.description}
        onChange={(e) => set({ description: e.target.value })}
        style={{ width: '100%', boxSizing: 'border-box' }}
      />
      <div className="condition">
        <input aria-label="condition path" value={condition.path} onChange={(e) => setCondition({ ...condition, path: e.target.value })} />
        <select aria-label="condition op" value={condition.op} onChange={(e) => setCondition({ ...condition, op: e.target.value })}>
          {OPS.map((op) => (
            <option key={op}>{op}</option>
          ))}
        </select>
        <input aria-label="condition value" value={condition.value} onChange={(e) => setCondition({ ...condition, value: e.target.value })} />
        <button type="button" className="add-condition" onClick={() => {
          const text = conditionsToText([condition]);
          if (text) set({ rule: draft.rule.trim() ? `${draft.rule.trim()} AND ${text}` : text });
        }}>
          + AND
        </button>
      </div>
      <label>
        {t('rule')}
        <textarea aria-label={t('rule')} rows={3} value={draft.rule} placeholder={t('ruleFlagHelp')} onChange={(e) => set({ rule: e.target.value })} />
      </label>
      <p className="muted">{t('ruleFlagHelp')}. {t('ruleByApi')}.</p>
      <div data-testid="define-error">
        <ErrorBox error={error} />
      </div>
      {notice ? <p role="status">{notice}</p> : null}
      <button type="submit">{t('save')}</button>
      {asking ? (
        <div role="dialog" aria-modal="true" aria-label={t('defineTag')} className="dialog">
          <p>{t('confirmRedefine', { name: draft.name.trim() })}</p>
          <button type="button" className="danger" onClick={() => { setAsking(false); save(); }}>
            {t('confirm')}
          </button>
          <button type="button" onClick={() => setAsking(false)}>
            {t('cancel')}
          </button>
        </div>
      ) : null}
    </form>
  );
}

function Bulk({ definitions }: { definitions: TagDefinition[] }) {
  const { client, timeZone } = useWorkspace();
  const { t, lang } = useI18n();
  // A tag with a rule is computed and cannot be assigned: only rule-less ones are offered.
  const assignable = definitions.filter((d) => !d.rule);
  const [tag, setTag] = useState('');
  const [value, setValue] = useState('');
  const [confidence, setConfidence] = useState('1');
  const [source, setSource] = useState('own');
  const [expires, setExpires] = useState('');
  const [target, setTarget] = useState<'segment' | 'persons'>('segment');
  const [segments, setSegments] = useState<Segment[]>([]);
  const [segmentId, setSegmentId] = useState('');
  const [personIds, setPersonIds] = useState('');
  const [job, setJob] = useState<Job | null>(null);
  const [tagged, setTagged] = useState<Tagged[] | null>(null);
  const [taggedTag, setTaggedTag] = useState('');
  const [error, setError] = useState<unknown>(null);
  const polling = useRef(0);

  useEffect(() => {
    client<{ segments: Segment[] }>(SEGMENTS).then((d) => setSegments(d.segments)).catch(setError);
  }, [client]);
  useEffect(() => () => void (polling.current += 1), []); // leaving the page stops the polling

  const chosen = assignable.find((d) => d.name === tag) ?? assignable[0];
  const segment = segments.find((s) => s.id === segmentId);
  const ids = personIds.split(/[\s,]+/).filter(Boolean);

  const sample = useCallback(
    async (id: string, name: string) => {
      const data = await client<{ segment: { members: { edges: { node: Tagged }[] } } }>(SAMPLE, { id, n: SAMPLE_SIZE });
      setTaggedTag(name);
      setTagged(data.segment.members.edges.map((e) => e.node));
    },
    [client],
  );

  async function follow(first: Job, name: string) {
    const ticket = ++polling.current;
    let current = first;
    setJob(current);
    while (current.state !== 'done' && current.state !== 'failed') {
      await new Promise((r) => setTimeout(r, JOB_POLL_MS));
      if (ticket !== polling.current) return;
      current = (await client<{ tagJob: Job }>(JOB, { id: current.id })).tagJob;
      if (ticket !== polling.current) return;
      setJob(current);
    }
    if (current.state === 'done' && current.segmentId) await sample(current.segmentId, name);
  }

  async function run() {
    if (!chosen) return;
    setError(null);
    setJob(null);
    setTagged(null);
    try {
      const input: Record<string, unknown> = { name: chosen.name, value: value.trim(), source };
      if (confidence.trim() !== '') input.confidence = Number(confidence);
      if (expires) input.expiresAt = zonedToIso(expires, timeZone);
      const variables = target === 'segment' ? { tags: [input], segmentId } : { tags: [input], personIds: ids };
      const data = await client<{ assignTags: { persons: Tagged[]; job: Job | null } }>(ASSIGN, variables);
      if (data.assignTags.job) await follow(data.assignTags.job, chosen.name);
      else {
        setTaggedTag(chosen.name);
        setTagged(data.assignTags.persons);
      }
    } catch (exc) {
      setError(exc);
    }
  }

  const ready = chosen && (target === 'segment' ? segmentId !== '' : ids.length > 0);
  const question =
    target === 'segment'
      ? t('confirmBulkSegment', { segment: segment?.name ?? '', n: formatNumber(segment?.size ?? 0, lang), tag: chosen?.name ?? '' })
      : t('confirmBulkPersons', { n: ids.length, tag: chosen?.name ?? '' });
  const percent = job && job.total > 0 ? Math.round((job.done / job.total) * 100) : job?.state === 'done' ? 100 : 0;

  return (
    <div className="card" data-testid="bulk">
      <h3>{t('bulkTagging')}</h3>
      {assignable.length === 0 ? <p className="muted">{t('noAssignableTag')}</p> : null}
      <div className="toolbar">
        <label>
          {t('tagToAssign')}{' '}
          <select aria-label={t('tagToAssign')} value={chosen?.name ?? ''} onChange={(e) => setTag(e.target.value)}>
            {assignable.map((d) => (
              <option key={d.name} value={d.name}>
                {d.name} ({label(t, 'kind_', d.valueKind)})
              </option>
            ))}
          </select>
        </label>
        {chosen && chosen.valueKind !== 'flag' ? (
          <input aria-label={t('tagValue')} placeholder={t('tagValue')} value={value} onChange={(e) => setValue(e.target.value)} />
        ) : null}
        <label>
          {t('confidence')}{' '}
          <input aria-label={t('confidence')} type="number" min="0" max="1" step="0.05" value={confidence} onChange={(e) => setConfidence(e.target.value)} />
        </label>
        <label>
          {t('source')}{' '}
          <select aria-label={t('source')} value={source} onChange={(e) => setSource(e.target.value)}>
            {ASSIGN_SOURCES.map((s) => (
              <option key={s} value={s}>
                {label(t, 'src_', s)}
              </option>
            ))}
          </select>
        </label>
        <label>
          {t('expiresAt')} ({timeZone}){' '}
          <input aria-label={t('expiresAt')} type="datetime-local" value={expires} onChange={(e) => setExpires(e.target.value)} />
        </label>
      </div>
      <div className="toolbar">
        <label>
          <input type="radio" name="target" checked={target === 'segment'} onChange={() => setTarget('segment')} /> {t('targetSegment')}
        </label>
        <label>
          <input type="radio" name="target" checked={target === 'persons'} onChange={() => setTarget('persons')} /> {t('targetPersons')}
        </label>
        {target === 'segment' ? (
          <select aria-label={t('targetSegment')} value={segmentId} onChange={(e) => setSegmentId(e.target.value)}>
            <option value="">{t('chooseSegment')}</option>
            {segments.map((s) => (
              <option key={s.id} value={s.id}>
                {s.name} ({formatNumber(s.size, lang)})
              </option>
            ))}
          </select>
        ) : null}
      </div>
      {target === 'persons' ? (
        <textarea aria-label={t('targetPersons')} rows={3} placeholder={t('personIdsHelp')} value={personIds} onChange={(e) => setPersonIds(e.target.value)} />
      ) : null}
      <ConfirmButton label={t('runTagging')} question={question} onConfirm={run} disabled={!ready} />
      <div data-testid="bulk-error">
        <ErrorBox error={error} />
      </div>
      {job ? (
        <div data-testid="tag-job" data-state={job.state} className="job">
          <progress max={100} value={percent} aria-label={t('bulkTagging')} />{' '}
          <strong className={`job-${job.state}`}>{label(t, 'job_', job.state)}</strong>{' '}
          <span data-testid="job-progress">{t('jobProgress', { done: job.done, total: job.total, tagged: job.tagged })}</span>
          {job.error ? <div role="alert" className="error">{job.error}</div> : null}
        </div>
      ) : null}
      {tagged && !job ? <p role="status">{t('taggedNow', { n: tagged.length })}</p> : null}
      {tagged ? (
        <>
          <h4>{job ? t('taggedSample', { n: SAMPLE_SIZE }) : t('members')}</h4>
          <TaggedList persons={tagged} tag={taggedTag} />
        </>
      ) : null}
    </div>
  );
}

export function Tags() {
  const { client } = useWorkspace();
  const { t } = useI18n();
  const [definitions, setDefinitions] = useState<TagDefinition[] | null>(null);
  const [editing, setEditing] = useState<TagDefinition>(EMPTY);
  const [error, setError] = useState<unknown>(null);

  const reload = useCallback(async () => {
    try {
      setDefinitions((await client<{ tagDefinitions: TagDefinition[] }>(DEFINITIONS)).tagDefinitions);
    } catch (exc) {
      setError(exc);
    }
  }, [client]);

  useEffect(() => {
    reload();
  }, [reload]);

  const all = definitions ?? [];
  const library = all.filter((d) => LIBRARY_SOURCES.includes(d.source));
  const own = all.filter((d) => !LIBRARY_SOURCES.includes(d.source));
  const edit = (d: TagDefinition) => {
    setEditing({ ...d });
    document.querySelector('[data-testid=tag-editor]')?.scrollIntoView?.();
  };

  return (
    <section>
      <h2>{t('tags')}</h2>
      <ErrorBox error={error} />
      <div className="builder">
        <Editor definitions={all} editing={editing} onSaved={reload} />
        <Bulk definitions={all} />
      </div>
      <h3>{t('ownTags')}</h3>
      {definitions && own.length === 0 ? <p className="muted">{t('none')}</p> : null}
      <TagTable
        rows={own}
        testId="own-tags"
        action={(d) => (
          <button type="button" className="edit" onClick={() => edit(d)}>
            {t('editTag')}
          </button>
        )}
      />
      <h3>{t('tagLibrary')}</h3>
      <TagTable
        rows={library}
        testId="tag-library"
        action={(d) => (
          <button
            type="button"
            className="use"
            onClick={() => edit({ ...d, name: `${d.name}_copy`, source: 'own' })}
          >
            {t('useTemplate')}
          </button>
        )}
      />
    </section>
  );
}
