import { useState } from 'react';
import { ErrorBox } from '../components/ErrorBox';
import { useI18n } from '../i18n';
import { useWorkspace } from '../session';
import { formatNumber } from '../time';

// Pairs are asked too, each an alias of segmentOverlap in the same document, up to this many
// segments (15 pairs); past it only the sizes, all and any are shown.
export const MAX_PAIRED = 6;

type Overlap = { intersection: number; union: number; sizes: number[] };

export function overlapQuery(count: number): string {
  const pairs: string[] = [];
  if (count > 2 && count <= MAX_PAIRED) {
    for (let a = 0; a < count; a++) {
      for (let b = a + 1; b < count; b++) pairs.push(`p${a}_${b}: segmentOverlap(ids: [$s${a}, $s${b}]) { intersection }`);
    }
  }
  const params = Array.from({ length: count }, (_, i) => `$s${i}: ID!`).join(', ');
  const all = Array.from({ length: count }, (_, i) => `$s${i}`).join(', ');
  return `query Overlap(${params}) { all: segmentOverlap(ids: [${all}]) { intersection union sizes } ${pairs.join(' ')} }`;
}

export function SegmentOverlap({ segments }: { segments: { id: string; name: string }[] }) {
  const { client } = useWorkspace();
  const { t, lang } = useI18n();
  const [chosen, setChosen] = useState<string[]>([]);
  const [answer, setAnswer] = useState<{ ids: string[]; all: Overlap; pairs: Record<string, number> } | null>(null);
  const [error, setError] = useState<unknown>(null);
  const name = (id: string) => segments.find((s) => s.id === id)?.name ?? id;

  async function compare(event: React.FormEvent) {
    event.preventDefault();
    setError(null);
    const ids = [...chosen];
    try {
      const variables = Object.fromEntries(ids.map((id, i) => [`s${i}`, id]));
      const data = await client<Record<string, any>>(overlapQuery(ids.length), variables);
      const pairs: Record<string, number> = {};
      for (const [key, value] of Object.entries(data)) if (key !== 'all') pairs[key] = value.intersection;
      setAnswer({ ids, all: data.all, pairs });
    } catch (exc) {
      setAnswer(null);
      setError(exc);
    }
  }

  const fmt = (n: number) => formatNumber(n, lang);
  return (
    <div className="card" data-testid="overlap">
      <h3>{t('overlap')}</h3>
      <form className="toolbar" onSubmit={compare}>
        <select
          multiple
          aria-label={t('overlapPick')}
          value={chosen}
          size={Math.min(6, Math.max(2, segments.length))}
          onChange={(e) => setChosen([...e.target.selectedOptions].map((o) => o.value))}
        >
          {segments.map((s) => (
            <option key={s.id} value={s.id}>
              {s.name}
            </option>
          ))}
        </select>
        <button type="submit" disabled={chosen.length < 2}>
          {t('compare')}
        </button>
        <span className="muted">{t('overlapHelp')}</span>
      </form>
      <ErrorBox error={error} />
      {answer ? (
        <>
          <table className="list" data-testid="overlap-sizes">
            <tbody>
              {answer.ids.map((id, i) => (
                <tr key={id}>
                  <th>{name(id)}</th>
                  <td data-testid={`overlap-size-${i}`}>{fmt(answer.all.sizes[i])}</td>
                </tr>
              ))}
              <tr>
                <th>{t('overlapAll')}</th>
                <td data-testid="overlap-intersection">{fmt(answer.all.intersection)}</td>
              </tr>
              <tr>
                <th>{t('overlapAny')}</th>
                <td data-testid="overlap-union">{fmt(answer.all.union)}</td>
              </tr>
            </tbody>
          </table>
          {answer.ids.length > 2 && Object.keys(answer.pairs).length > 0 ? (
            <table className="list" data-testid="overlap-pairs">
              <thead>
                <tr>
                  <th>{t('overlapPairs')}</th>
                  {answer.ids.map((id) => (
                    <th key={id}>{name(id)}</th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {answer.ids.map((a, i) => (
                  <tr key={a}>
                    <th>{name(a)}</th>
                    {answer.ids.map((b, j) => {
                      const n = i === j ? answer.all.sizes[i] : answer.pairs[`p${Math.min(i, j)}_${Math.max(i, j)}`];
                      return <td key={b}>{n == null ? '—' : fmt(n)}</td>;
                    })}
                  </tr>
                ))}
              </tbody>
            </table>
          ) : null}
        </>
      ) : null}
    </div>
  );
}
