import { useEffect, useState } from 'react';
import { ErrorBox } from '../components/ErrorBox';
import { useI18n, type Key } from '../i18n';
import { useWorkspace } from '../session';
import { formatNumber } from '../time';
import { change } from './Overview';

const AARRR = `query Aarrr($input: AarrrInput!) {
  aarrr(input: $input) {
    current { newPersons activated activationRate activePersons retained retentionRate orders gmv netRevenue payingPersons arppu referrers referrals }
    previous { newPersons activated activationRate activePersons retained retentionRate orders gmv netRevenue payingPersons arppu referrers referrals }
  }
}`;

type Period = Record<string, number>;

// Acquisition, activation, retention, revenue and referral; rates shown as percentages, money with cents.
export const AARRR_ROWS: { stage: Key; field: string; kind: 'count' | 'rate' | 'money' }[] = [
  { stage: 'acquisition', field: 'newPersons', kind: 'count' },
  { stage: 'activation', field: 'activated', kind: 'count' },
  { stage: 'activation', field: 'activationRate', kind: 'rate' },
  { stage: 'retention', field: 'retained', kind: 'count' },
  { stage: 'retention', field: 'retentionRate', kind: 'rate' },
  { stage: 'revenue_stage', field: 'gmv', kind: 'money' },
  { stage: 'revenue_stage', field: 'netRevenue', kind: 'money' },
  { stage: 'revenue_stage', field: 'arppu', kind: 'money' },
  { stage: 'referral', field: 'referrers', kind: 'count' },
  { stage: 'referral', field: 'referrals', kind: 'count' },
];

export function Aarrr({ dateFrom, dateTo }: { dateFrom: string; dateTo: string }) {
  const { client, timeZone } = useWorkspace();
  const { t, lang } = useI18n();
  const [data, setData] = useState<{ current: Period; previous: Period } | null>(null);
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    let live = true;
    setError(null);
    client<{ aarrr: { current: Period; previous: Period } }>(AARRR, { input: { dateFrom, dateTo, timezone: timeZone } })
      .then((d) => live && setData(d.aarrr))
      .catch((exc) => live && setError(exc));
    return () => {
      live = false;
    };
  }, [client, dateFrom, dateTo, timeZone]);

  const show = (value: number, kind: string) =>
    kind === 'rate' ? `${(value * 100).toFixed(1)}%` : formatNumber(value, lang, kind === 'money' ? 2 : 0);

  return (
    <div className="card">
      <h3>{t('aarrr')}</h3>
      <ErrorBox error={error} />
      {data ? (
        <table className="list" data-testid="aarrr">
          <thead>
            <tr>
              <th>{t('stage')}</th>
              <th>{t('metric')}</th>
              <th>{t('thisPeriod')}</th>
              <th>{t('previousPeriod')}</th>
              <th>{t('changeShort')}</th>
            </tr>
          </thead>
          <tbody>
            {AARRR_ROWS.map((row) => {
              const now = data.current[row.field] ?? 0;
              const before = data.previous[row.field] ?? 0;
              const moved = change(now, before);
              return (
                <tr key={row.field} data-field={row.field}>
                  <td>{t(row.stage)}</td>
                  <td>{t(`aarrr_${row.field}` as Key)}</td>
                  <td>{show(now, row.kind)}</td>
                  <td>{show(before, row.kind)}</td>
                  <td>{moved == null ? '—' : `${moved >= 0 ? '+' : ''}${moved.toFixed(1)}%`}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      ) : null}
    </div>
  );
}
