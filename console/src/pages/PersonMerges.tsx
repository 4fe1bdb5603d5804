import { useState } from 'react';
import { ConfirmButton } from '../components/ConfirmButton';
import { ErrorBox } from '../components/ErrorBox';
import { ID_TYPES } from '../identifiers';
import { useI18n } from '../i18n';
import { useWorkspace } from '../session';
import { formatDateTime } from '../time';

const FIND = `query Find($type: String!, $value: String!) { person(identity: {type: $type, value: $value}) { id } }`;
const MERGE = `mutation Merge($a: ID!, $b: ID!, $reason: String!) {
  mergePersons(personIdA: $a, personIdB: $b, reason: $reason) { id winnerId loserId }
}`;
const UNMERGE = `mutation Unmerge($id: ID!, $reason: String!) {
  unmergePersons(mergeId: $id, reason: $reason) { id undone }
}`;

export type MergeEntry = { id: string; winnerId: string; loserId: string; reason: string; at: string | null; undone: boolean };

// A person's merge history with an unmerge per live merge, and a merge with another person found by an
// identifier. Both need a reason (it goes to the merge log) and a confirmation; both are admin actions,
// so they are offered to admins only (the API refuses anyone else all the same).
export function PersonMerges({
  personId,
  history,
  onChanged,
}: {
  personId: string;
  history: MergeEntry[];
  onChanged: () => void | Promise<void>;
}) {
  const { client, session, timeZone } = useWorkspace();
  const { t, lang } = useI18n();
  const [reason, setReason] = useState('');
  const [otherType, setOtherType] = useState('user_id');
  const [otherValue, setOtherValue] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState('');
  const admin = session.role === 'admin';

  async function run(work: () => Promise<string>) {
    setError(null);
    setNotice('');
    try {
      setNotice(await work());
      await onChanged();
    } catch (exc) {
      setError(exc);
    }
  }

  const unmerge = (id: string) =>
    run(async () => {
      await client(UNMERGE, { id, reason: reason.trim() });
      return t('unmerged');
    });

  const merge = () =>
    run(async () => {
      const found = await client<{ person: { id: string } | null }>(FIND, { type: otherType, value: otherValue.trim() });
      if (!found.person) throw new Error(t('noPerson'));
      const done = await client<{ mergePersons: { winnerId: string } }>(MERGE, {
        a: personId,
        b: found.person.id,
        reason: reason.trim(),
      });
      return t('merged', { id: done.mergePersons.winnerId });
    });

  return (
    <div data-testid="merges">
      <h4>{t('mergeHistory')}</h4>
      {history.length === 0 ? <p className="muted">{t('none')}</p> : null}
      <ul>
        {history.map((m) => (
          <li key={m.id}>
            {m.loserId} → {m.winnerId} ({m.reason || '—'}) {formatDateTime(m.at, timeZone, lang)} {m.undone ? '↺' : ''}
            {admin && !m.undone ? (
              <ConfirmButton
                label={t('unmerge')}
                question={t('confirmUnmerge')}
                disabled={!reason.trim()}
                onConfirm={() => unmerge(m.id)}
              />
            ) : null}
          </li>
        ))}
      </ul>
      {admin ? (
        <div className="toolbar">
          <input
            aria-label={t('mergeReason')}
            placeholder={t('mergeReason')}
            value={reason}
            onChange={(e) => setReason(e.target.value)}
          />
          <select aria-label={t('mergeWithType')} value={otherType} onChange={(e) => setOtherType(e.target.value)}>
            {ID_TYPES.map((type) => (
              <option key={type}>{type}</option>
            ))}
          </select>
          <input
            aria-label={t('mergeWithValue')}
            placeholder={t('mergeWithValue')}
            value={otherValue}
            onChange={(e) => setOtherValue(e.target.value)}
          />
          <ConfirmButton
            label={t('mergeWith')}
            question={t('confirmMerge')}
            disabled={!reason.trim() || !otherValue.trim()}
            onConfirm={merge}
          />
        </div>
      ) : null}
      <ErrorBox error={error} />
      {notice ? <p role="status">{notice}</p> : null}
    </div>
  );
}
