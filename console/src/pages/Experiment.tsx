import { useEffect, useState } from 'react';
import { ErrorBox } from '../components/ErrorBox';
import { useI18n } from '../i18n';
import { useWorkspace } from '../session';
import { formatNumber } from '../time';

const RESULTS = `query Results($id: ID!) { experimentResults(journeyId: $id) }`;

type Interval = { low: number; high: number } | null;
type Arm = { name: string; n: number; conversions: number; rate: number; rateInterval: Interval; revenuePerPerson: number };
type Comparison = {
  arm: string;
  against: string;
  lift: number | null;
  liftInterval: Interval;
  pValue: number | null;
  sequentialPValue: number | null;
  significant: boolean;
  chanceToBeat: number | null;
  sampleRatioMismatch: boolean;
};
export type Results = { journeyId: string; node: string | null; arms: Arm[]; comparisons: Comparison[]; holdout: Comparison | null; winner?: string | null };

// Whether a definition has something to compare: an experiment step, or a holdout.
export function hasExperiment(definition: any): boolean {
  if (!definition || typeof definition !== 'object') return false;
  if (Number(definition.holdout_pct) > 0) return true;
  return Object.values(definition.nodes ?? {}).some((n: any) => n && n.type === 'experiment');
}

const ARM_KEYS: Record<string, 'holdout' | 'control' | 'treated'> = { holdout: 'holdout', control: 'control', treated: 'treated' };

const pct = (v: number | null | undefined, lang: string) => (v === null || v === undefined || Number.isNaN(v) ? '—' : `${formatNumber(v * 100, lang, 1)}%`);
const span = (i: Interval, lang: string) => (i ? `[${pct(i.low, lang)}, ${pct(i.high, lang)}]` : '—');
const p = (v: number | null | undefined) => (v === null || v === undefined ? '—' : v < 0.001 ? '<0.001' : v.toFixed(3));

// Per arm (variants, control, holdout) its conversions and rate; per comparison the lift with its
// interval and whether it is significant (the always-valid sequential p-value); the winner if any.
export function ExperimentResults({ journeyId, refreshKey }: { journeyId: string; refreshKey?: unknown }) {
  const { client } = useWorkspace();
  const { t, lang } = useI18n();
  const [results, setResults] = useState<Results | null>(null);
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    let live = true;
    client<{ experimentResults: Results }>(RESULTS, { id: journeyId })
      .then((d) => live && setResults(d.experimentResults ?? null))
      .catch((e) => live && setError(e));
    return () => {
      live = false;
    };
  }, [client, journeyId, refreshKey]);

  const comparisons = results ? [...results.comparisons, ...(results.holdout ? [results.holdout] : [])] : [];
  return (
    <div className="card" data-testid="experiment">
      <h4>{t('experimentResults')}</h4>
      <ErrorBox error={error} />
      {results && results.arms.length === 0 ? <p className="muted">{t('noExposure')}</p> : null}
      {results && results.arms.length > 0 ? (
        <>
          <table className="list" data-testid="experiment-arms">
            <thead>
              <tr>
                <th>{t('arm')}</th>
                <th>{t('exposed')}</th>
                <th>{t('conversions')}</th>
                <th>{t('conversionRate')}</th>
                <th>{t('interval95')}</th>
              </tr>
            </thead>
            <tbody>
              {results.arms.map((a) => (
                <tr key={a.name} data-arm={a.name}>
                  <td>{ARM_KEYS[a.name] ? t(ARM_KEYS[a.name]) : a.name}</td>
                  <td>{formatNumber(a.n, lang)}</td>
                  <td>{formatNumber(a.conversions, lang)}</td>
                  <td>{pct(a.rate, lang)}</td>
                  <td>{span(a.rateInterval, lang)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {comparisons.length > 0 ? (
            <table className="list" data-testid="experiment-comparisons">
              <thead>
                <tr>
                  <th>{t('arm')}</th>
                  <th>{t('against')}</th>
                  <th>{t('lift')}</th>
                  <th>{t('interval95')}</th>
                  <th>{t('pValue')}</th>
                  <th>{t('significance')}</th>
                </tr>
              </thead>
              <tbody>
                {comparisons.map((c) => (
                  <tr key={`${c.arm}:${c.against}`} data-arm={c.arm}>
                    <td>{ARM_KEYS[c.arm] ? t(ARM_KEYS[c.arm]) : c.arm}</td>
                    <td>{ARM_KEYS[c.against] ? t(ARM_KEYS[c.against]) : c.against}</td>
                    <td>{pct(c.lift, lang)}</td>
                    <td>{span(c.liftInterval, lang)}</td>
                    <td>{p(c.sequentialPValue ?? c.pValue)}</td>
                    <td className={c.significant ? 'significant' : ''}>
                      {c.significant ? t('significant') : t('notSignificant')}
                      {c.sampleRatioMismatch ? ` · ${t('sampleRatioMismatch')}` : ''}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : null}
          {results.node ? (
            <p data-testid="winner">{results.winner ? t('winnerIs', { arm: results.winner }) : t('noWinner')}</p>
          ) : null}
        </>
      ) : null}
    </div>
  );
}
