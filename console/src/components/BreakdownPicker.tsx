import { useEffect, useState } from 'react';
import { useI18n } from '../i18n';
import { useWorkspace } from '../session';

export type Breakdown = { property?: string; trait?: string; segments?: string[] } | null;

type Kind = 'none' | 'property' | 'trait' | 'segments';

// A breakdown by one event property, one trait, or the saved segments a person is in now;
// the value handed up is BreakdownInput as the API takes it (null: none).
export function BreakdownPicker({ onChange }: { onChange: (value: Breakdown) => void }) {
  const { client } = useWorkspace();
  const { t } = useI18n();
  const [kind, setKind] = useState<Kind>('none');
  const [name, setName] = useState('');
  const [segments, setSegments] = useState<{ id: string; name: string }[]>([]);
  const [chosen, setChosen] = useState<string[]>([]);

  useEffect(() => {
    if (kind !== 'segments' || segments.length > 0) return;
    client<{ segments: { id: string; name: string }[] }>('{ segments { id name } }')
      .then((d) => setSegments(d.segments))
      .catch(() => setSegments([]));
  }, [client, kind, segments.length]);

  useEffect(() => {
    if (kind === 'none') onChange(null);
    else if (kind === 'segments') onChange(chosen.length > 0 ? { segments: chosen } : null);
    else onChange(name.trim() ? { [kind]: name.trim() } : null);
  }, [kind, name, chosen, onChange]);

  return (
    <span className="breakdown">
      <select aria-label={t('breakdown')} value={kind} onChange={(e) => setKind(e.target.value as Kind)}>
        <option value="none">{t('breakdownNone')}</option>
        <option value="property">{t('breakdownProperty')}</option>
        <option value="trait">{t('breakdownTrait')}</option>
        <option value="segments">{t('segments')}</option>
      </select>{' '}
      {kind === 'property' || kind === 'trait' ? (
        <input aria-label={t('breakdownName')} placeholder={t('breakdownName')} value={name} onChange={(e) => setName(e.target.value)} />
      ) : null}
      {kind === 'segments' ? (
        <select
          multiple
          aria-label={t('segments')}
          value={chosen}
          onChange={(e) => setChosen([...e.target.selectedOptions].map((o) => o.value))}
        >
          {segments.map((s) => (
            <option key={s.id} value={s.id}>
              {s.name}
            </option>
          ))}
        </select>
      ) : null}
    </span>
  );
}
