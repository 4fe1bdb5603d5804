import { useCallback, useEffect, useRef, useState } from 'react';
import { ConfirmButton } from '../components/ConfirmButton';
import { ErrorBox } from '../components/ErrorBox';
import { useDebounced } from '../debounce';
import { useI18n } from '../i18n';
import { conditionsToText, OPS, textToConditions, type Condition } from '../rules';
import { SegmentOverlap } from './SegmentOverlap';
import { useWorkspace } from '../session';
import { formatDateTime, formatNumber } from '../time';

const PREVIEW = `query Preview($rule: String!) { previewSegment(rule: $rule) { count elapsedMs } }`;
const LIST = `{ segments { id name rule size updatedAt } }`;
const CREATE = `mutation Create($name: String!, $rule: String!) { createSegment(name: $name, rule: $rule) { id name size } }`;
const DELETE = `mutation Delete($id: ID!) { deleteSegment(id: $id) }`;
const MEMBERS = `query Members($id: ID!) {
  segment(id: $id) { size members(first: 20) { edges { node { id uid traits } } } }
}`;

export const PREVIEW_DEBOUNCE_MS = 150;
// Sizes follow profile changes as they happen: the list asks again this often while open.
export const SIZE_REFRESH_MS = 10000;

type Segment = { id: string; name: string; rule: string; size: number; updatedAt: string | null };
type Member = { id: string; uid: number; traits: Record<string, unknown> };

function Members({ id }: { id: string }) {
  const { client } = useWorkspace();
  const { t } = useI18n();
  const [members, setMembers] = useState<Member[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    client<{ segment: { members: { edges: { node: Member }[] } } }>(MEMBERS, { id })
      .then((d) => setMembers(d.segment.members.edges.map((e) => e.node)))
      .catch(setError);
  }, [client, id]);
  return (
    <div className="card" data-testid="members">
      <h4>{t('members')}</h4>
      <ErrorBox error={error} />
      {members && members.length === 0 ? <p className="muted">{t('none')}</p> : null}
      <ul>
        {(members ?? []).map((m) => (
          <li key={m.id}>
            #{m.uid} {String(m.traits.name ?? m.id)}
          </li>
        ))}
      </ul>
    </div>
  );
}

export function Segments() {
  const { client, timeZone } = useWorkspace();
  const { t, lang } = useI18n();
  const [rule, setRule] = useState('');
  const [conditions, setConditions] = useState<Condition[]>([{ path: 'traits.vip', op: '=', value: 'true' }]);
  // The text says more than rows can (OR, NOT, BETWEEN...): rows are shown but locked.
  const [textOnly, setTextOnly] = useState(false);
  const [name, setName] = useState('');
  const [preview, setPreview] = useState<{ rule: string; count: number; elapsedMs: number } | null>(null);
  const [previewError, setPreviewError] = useState<unknown>(null);
  const [counting, setCounting] = useState(false);
  const [segments, setSegments] = useState<Segment[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState('');
  const [open, setOpen] = useState<string | null>(null);
  const settled = useDebounced(rule, PREVIEW_DEBOUNCE_MS);
  const latest = useRef(0);

  const reload = useCallback(async () => {
    try {
      setSegments((await client<{ segments: Segment[] }>(LIST)).segments);
    } catch (exc) {
      setError(exc);
    }
  }, [client]);

  useEffect(() => {
    reload();
    const timer = setInterval(reload, SIZE_REFRESH_MS);
    return () => clearInterval(timer);
  }, [reload]);

  // Only the answer to the latest rule is shown: a slow answer to an older one is dropped.
  useEffect(() => {
    const text = settled.trim();
    const ticket = ++latest.current;
    if (text === '') {
      setCounting(false);
      setPreview(null);
      setPreviewError(null);
      return;
    }
    setCounting(true);
    client<{ previewSegment: { count: number; elapsedMs: number } }>(PREVIEW, { rule: text })
      .then((data) => {
        if (ticket !== latest.current) return;
        setPreview({ rule: text, ...data.previewSegment });
        setPreviewError(null);
      })
      .catch((exc) => {
        if (ticket !== latest.current) return;
        setPreview(null);
        setPreviewError(exc);
      })
      .finally(() => ticket === latest.current && setCounting(false));
  }, [settled, client]);

  function updateCondition(i: number, patch: Partial<Condition>) {
    const next = conditions.map((c, j) => (i === j ? { ...c, ...patch } : c));
    setConditions(next);
    setRule(conditionsToText(next));
  }

  // Typed text redraws the rows when rows can say it; the text itself is left as typed.
  function editText(text: string) {
    setRule(text);
    if (text.trim() === '') {
      setTextOnly(false);
      setConditions([{ path: 'traits.', op: '=', value: '' }]);
      return;
    }
    const rows = textToConditions(text);
    setTextOnly(rows === null);
    if (rows) setConditions(rows);
  }

  async function save(event: React.FormEvent) {
    event.preventDefault();
    setError(null);
    setNotice('');
    try {
      const data = await client<{ createSegment: Segment }>(CREATE, { name: name.trim(), rule: rule.trim() });
      setNotice(`${t('saved')}: ${data.createSegment.name}`);
      setName('');
      await reload();
    } catch (exc) {
      setError(exc);
    }
  }

  async function remove(segment: Segment) {
    setError(null);
    try {
      await client(DELETE, { id: segment.id });
      await reload();
    } catch (exc) {
      setError(exc);
    }
  }

  return (
    <section>
      <h2>{t('segments')}</h2>
      <div className="builder">
        <fieldset className="card" disabled={textOnly} data-testid="condition-rows">
          {textOnly ? (
            <p className="muted" role="note">
              {t('textOnlyRule')}
            </p>
          ) : null}
          {conditions.map((c, i) => (
            <div className="condition" key={i}>
              <input aria-label={`path ${i + 1}`} value={c.path} onChange={(e) => updateCondition(i, { path: e.target.value })} />
              <select aria-label={`op ${i + 1}`} value={c.op} onChange={(e) => updateCondition(i, { op: e.target.value })}>
                {OPS.map((op) => (
                  <option key={op}>{op}</option>
                ))}
              </select>
              <input aria-label={`value ${i + 1}`} value={c.value} onChange={(e) => updateCondition(i, { value: e.target.value })} />
            </div>
          ))}
          <button type="button" onClick={() => setConditions([...conditions, { path: 'traits.', op: '=', value: '' }])}>
            + AND
          </button>
        </fieldset>
        <div className="card">
          <label>
            {t('rule')}
            <textarea
              aria-label={t('rule')}
              value={rule}
              rows={4}
              placeholder={t('ruleHelp')}
              onChange={(e) => editText(e.target.value)}
            />
          </label>
          <div className="count" aria-live="polite">
            {t('count')}:{' '}
            <strong data-testid="preview-count" data-rule={preview?.rule ?? ''}>
              {preview ? formatNumber(preview.count, lang) : '—'}
            </strong>
            {preview ? <span className="muted"> ({preview.elapsedMs.toFixed(1)} ms)</span> : null}
            {counting ? <span className="muted"> {t('counting')}</span> : null}
          </div>
          <ErrorBox error={previewError} />
        </div>
      </div>
      <form className="toolbar" onSubmit={save}>
        <input aria-label={t('name')} placeholder={t('name')} value={name} onChange={(e) => setName(e.target.value)} required />
        <button type="submit" disabled={rule.trim() === ''}>
          {t('save')}
        </button>
      </form>
      {notice ? <p role="status">{notice}</p> : null}
      <ErrorBox error={error} />
      <table className="list" data-testid="segment-list">
        <thead>
          <tr>
            <th>{t('name')}</th>
            <th>{t('rule')}</th>
            <th>{t('size')}</th>
            <th>{t('updatedAt')}</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {segments.map((s) => (
            <tr key={s.id}>
              <td>{s.name}</td>
              <td>
                <code>{s.rule}</code>
              </td>
              <td>{formatNumber(s.size, lang)}</td>
              <td>{formatDateTime(s.updatedAt, timeZone, lang)}</td>
              <td>
                <button type="button" className="members" onClick={() => setOpen(open === s.id ? null : s.id)}>
                  {t('members')}
                </button>{' '}
                <ConfirmButton label={t('delete')} question={t('confirmDelete', { name: s.name })} onConfirm={() => remove(s)} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {open ? <Members key={open} id={open} /> : null}
      <SegmentOverlap segments={segments} />
    </section>
  );
}
