import { useCallback, useState } from 'react';
import { BreakdownPicker, type Breakdown } from '../components/BreakdownPicker';
import { ErrorBox } from '../components/ErrorBox';
import { useI18n, type Key } from '../i18n';
import { RangeSelect } from '../components/RangeSelect';
import { useWorkspace } from '../session';
import { dateRange, formatNumber } from '../time';

const RETENTION = `query Retention($input: RetentionInput!) {
  retentionMatrix(input: $input) { period rows { cohort breakdownValue size counts shares } }
}`;
const SAVE = `mutation SaveRetentionCell($retention: RetentionInput!, $cohort: Date!, $period: Int!, $name: String!) {
  saveRetentionCell(retention: $retention, cohort: $cohort, period: $period, name: $name) { segmentId persons }
}`;

type Row = { cohort: string; breakdownValue: string | null; size: number; counts: number[]; shares: number[] };

const PERIOD_UNITS: Record<string, Key> = { day: 'periodDay', week: 'periodWeek', month: 'periodMonth' };

// The heat: a cell's share of its cohort as the strength of one colour, text kept readable.
export function heat(share: number): React.CSSProperties {
  const alpha = Math.max(0, Math.min(1, share));
  return { background: `rgba(37, 99, 235, ${alpha.toFixed(2)})`, color: alpha > 0.5 ? '#fff' : 'inherit' };
}

export function Retention() {
  const { client, timeZone } = useWorkspace();
  const { t, lang } = useI18n();
  const [startEvent, setStartEvent] = useState('Product Viewed');
  const [returnEvent, setReturnEvent] = useState('Product Viewed');
  const [kind, setKind] = useState('first_time');
  const [period, setPeriod] = useState('week');
  const [days, setDays] = useState(90);
  const [input, setInput] = useState<Record<string, unknown> | null>(null);
  const [rows, setRows] = useState<Row[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState('');
  const [segmentName, setSegmentName] = useState('');
  const [breakdown, setBreakdown] = useState<Breakdown>(null);
  const onBreakdown = useCallback((b: Breakdown) => setBreakdown(b), []);

  async function run(event: React.FormEvent) {
    event.preventDefault();
    const range = dateRange(days, timeZone);
    const periods = period === 'day' ? 8 : period === 'week' ? Math.max(2, Math.ceil(days / 7)) : Math.max(2, Math.ceil(days / 30));
    const asked = {
      startEvent: startEvent.trim(),
      returnEvent: returnEvent.trim(),
      kind,
      period,
      periods: Math.min(periods, 13),
      dateFrom: range.dateFrom,
      dateTo: range.dateTo,
      timezone: timeZone,
      ...(breakdown ? { breakdown } : {}),
    };
    setError(null);
    setNotice('');
    try {
      const data = await client<{ retentionMatrix: { rows: Row[] } }>(RETENTION, { input: asked });
      setInput(asked);
      setRows(data.retentionMatrix.rows);
    } catch (exc) {
      setError(exc);
    }
  }

  // period -1: the whole cohort.
  async function saveCell(cohort: string, at: number) {
    // A cell of a broken-down table is one value's people; the API saves the whole cohort's.
    if (!input || input.breakdown) return;
    setError(null);
    setNotice('');
    const name = segmentName.trim() || `${t('retention')} ${cohort} ${at < 0 ? t('cohort') : t('periodN', { n: at, unit: t(PERIOD_UNITS[period]) })}`;
    try {
      const data = await client<{ saveRetentionCell: { persons: number } }>(SAVE, { retention: input, cohort, period: at, name });
      setNotice(`${t('savedSegment', { n: data.saveRetentionCell.persons })} (${name})`);
    } catch (exc) {
      setError(exc);
    }
  }

  const width = rows ? Math.max(0, ...rows.map((r) => r.counts.length)) : 0;
  const unit = t(PERIOD_UNITS[period]);
  return (
    <section>
      <h2>{t('retention')}</h2>
      <form onSubmit={run} className="card">
        <label>
          {t('startEvent')} <input aria-label={t('startEvent')} value={startEvent} onChange={(e) => setStartEvent(e.target.value)} />
        </label>{' '}
        <label>
          {t('returnEvent')} <input aria-label={t('returnEvent')} value={returnEvent} onChange={(e) => setReturnEvent(e.target.value)} />
        </label>{' '}
        <select aria-label={t('retentionKind')} value={kind} onChange={(e) => setKind(e.target.value)}>
          <option value="first_time">{t('firstTime')}</option>
          <option value="recurring">{t('recurring')}</option>
        </select>{' '}
        <select aria-label={t('period')} value={period} onChange={(e) => setPeriod(e.target.value)}>
          {Object.entries(PERIOD_UNITS).map(([value, key]) => (
            <option key={value} value={value}>
              {t(key)}
            </option>
          ))}
        </select>{' '}
        <RangeSelect days={days} onChange={setDays} />{' '}
        <BreakdownPicker onChange={onBreakdown} />{' '}
        <button type="submit">{t('run')}</button>
      </form>
      <ErrorBox error={error} />
      {notice ? <p role="status">{notice}</p> : null}
      {rows ? (
        <>
          <p className="muted">{input?.breakdown ? t('saveCellNeedsNoBreakdown') : t('saveCellHint')}</p>
          <input aria-label={t('name')} placeholder={t('name')} value={segmentName} onChange={(e) => setSegmentName(e.target.value)} />
          <table className="list heatmap" data-testid="retention">
            <thead>
              <tr>
                <th>{t('cohort')}</th>
                <th>{t('cohortSize')}</th>
                {Array.from({ length: width }, (_, i) => (
                  <th key={i}>{t('periodN', { n: i, unit })}</th>
                ))}
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr key={`${r.cohort}/${r.breakdownValue ?? ''}`}>
                  <td>
                    {r.cohort}
                    {r.breakdownValue ? ` · ${r.breakdownValue}` : ''}
                  </td>
                  <td>
                    <button type="button" className="cell" data-period={-1} onClick={() => saveCell(r.cohort, -1)}>
                      {formatNumber(r.size, lang)}
                    </button>
                  </td>
                  {r.shares.map((share, i) => (
                    <td key={i} style={heat(share)}>
                      <button
                        type="button"
                        className="cell"
                        data-period={i}
                        title={`${formatNumber(r.counts[i], lang)} / ${formatNumber(r.size, lang)}`}
                        onClick={() => saveCell(r.cohort, i)}
                      >
                        {(share * 100).toFixed(1)}%
                      </button>
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </>
      ) : null}
    </section>
  );
}
