import { useCallback, useMemo, useState } from 'react';
import { BreakdownPicker, type Breakdown } from '../components/BreakdownPicker';
import { Chart } from '../components/Chart';
import { ErrorBox } from '../components/ErrorBox';
import { RangeSelect } from '../components/RangeSelect';
import { useI18n } from '../i18n';
import { useWorkspace } from '../session';
import { dateRange, formatNumber } from '../time';

const TRENDS = `query Trends($input: TrendsInput!) {
  trends(input: $input) { buckets series { event math breakdownValue values total } }
}`;
const SAVE = `mutation SaveTrend($name: String!, $tiles: [DashboardTileInput!]!) {
  createDashboard(name: $name, tiles: $tiles) { id }
}`;

export const MATHS = { total: 'mathTotal', persons: 'mathPersons', sum: 'mathSum', avg: 'mathAvg' } as const;
export const INTERVALS = { hour: 'intervalHour', day: 'intervalDay', week: 'intervalWeek', month: 'intervalMonth' } as const;
// A letter per series, as formulas name them ("B / A").
export const LETTERS = 'ABCDEFGHIJ';

export type Series = { event: string; math: string; property: string };
type Line = { event: string; math: string; breakdownValue: string | null; values: number[]; total: number | null };

// The series as TrendsInput takes them: a property only where the math reads one.
export function seriesInput(series: Series[]) {
  return series
    .filter((s) => s.event.trim() !== '')
    .map((s) => ({
      event: s.event.trim(),
      math: s.math,
      ...(s.math === 'sum' || s.math === 'avg' ? { property: s.property.trim() } : {}),
    }));
}

// What a line is called in the legend and the table: its letter (or formula), event, math and value.
export function lineName(line: Line, index: number, seriesCount: number): string {
  const head = line.math === 'formula' ? line.event : `${LETTERS[index % seriesCount] ?? '?'} · ${line.event} · ${line.math}`;
  return line.breakdownValue != null ? `${head} · ${line.breakdownValue}` : head;
}

// Trends of any events: count, unique people, or the sum/average of a property per hour, day, week
// or month in the workspace's time zone, formulas over the series by letter, a breakdown, and the
// query saved as a dashboard tile.
export function Trends() {
  const { client, timeZone } = useWorkspace();
  const { t, lang } = useI18n();
  const [series, setSeries] = useState<Series[]>([{ event: 'Order Completed', math: 'total', property: '' }]);
  const [formula, setFormula] = useState('');
  const [grain, setGrain] = useState('day');
  const [days, setDays] = useState(30);
  const [breakdown, setBreakdown] = useState<Breakdown>(null);
  const onBreakdown = useCallback((b: Breakdown) => setBreakdown(b), []);
  const [asked, setAsked] = useState<Record<string, unknown> | null>(null);
  const [result, setResult] = useState<{ buckets: string[]; series: Line[] } | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState('');
  const [tileName, setTileName] = useState('');

  function change(i: number, patch: Partial<Series>) {
    setSeries(series.map((s, j) => (i === j ? { ...s, ...patch } : s)));
  }

  async function run(event: React.FormEvent) {
    event.preventDefault();
    const range = dateRange(days, timeZone);
    const input = {
      series: seriesInput(series),
      dateFrom: range.dateFrom,
      dateTo: range.dateTo,
      interval: grain,
      timezone: timeZone,
      ...(breakdown ? { breakdown } : {}),
      ...(formula.trim() ? { formulas: [formula.trim()] } : {}),
    };
    setError(null);
    setNotice('');
    try {
      const data = await client<{ trends: { buckets: string[]; series: Line[] } }>(TRENDS, { input });
      setAsked(input);
      setResult(data.trends);
    } catch (exc) {
      setError(exc);
    }
  }

  async function save() {
    if (!asked) return;
    const name = tileName.trim() || t('trends');
    setError(null);
    try {
      await client(SAVE, { name, tiles: [{ kind: 'trends', title: name, query: asked }] });
      setNotice(t('savedAsDashboard', { name }));
    } catch (exc) {
      setError(exc);
    }
  }

  const count = asked ? (asked.series as unknown[]).length : 1;
  const option = useMemo(() => {
    if (!result) return null;
    return {
      animation: false,
      tooltip: { trigger: 'axis' },
      legend: { type: 'scroll', bottom: 0 },
      grid: { left: 60, right: 16, top: 16, bottom: 56 },
      xAxis: { type: 'category', data: result.buckets },
      yAxis: { type: 'value' },
      series: result.series.map((line, i) => ({ type: 'line', name: lineName(line, i, count), data: line.values })),
    };
  }, [result, count]);

  return (
    <section>
      <h2>{t('trends')}</h2>
      <form onSubmit={run} className="card">
        {series.map((s, i) => (
          <div key={i} className="condition" data-testid={`series-${i}`}>
            <strong>{LETTERS[i]}</strong>
            <input
              aria-label={`${t('event')} ${LETTERS[i]}`}
              value={s.event}
              onChange={(e) => change(i, { event: e.target.value })}
            />
            <select aria-label={`${t('math')} ${LETTERS[i]}`} value={s.math} onChange={(e) => change(i, { math: e.target.value })}>
              {Object.entries(MATHS).map(([m, key]) => (
                <option key={m} value={m}>
                  {t(key)}
                </option>
              ))}
            </select>
            {s.math === 'sum' || s.math === 'avg' ? (
              <input
                aria-label={`${t('property')} ${LETTERS[i]}`}
                placeholder="revenue"
                value={s.property}
                onChange={(e) => change(i, { property: e.target.value })}
              />
            ) : null}
            {series.length > 1 ? (
              <button type="button" onClick={() => setSeries(series.filter((_, j) => j !== i))}>
                ×
              </button>
            ) : null}
          </div>
        ))}
        {series.length < LETTERS.length ? (
          <button type="button" onClick={() => setSeries([...series, { event: '', math: 'total', property: '' }])}>
            {t('addSeries')}
          </button>
        ) : null}{' '}
        <input
          aria-label={t('formula')}
          placeholder={t('formulaHint')}
          value={formula}
          onChange={(e) => setFormula(e.target.value)}
        />{' '}
        <select aria-label={t('interval')} value={grain} onChange={(e) => setGrain(e.target.value)}>
          {Object.entries(INTERVALS).map(([v, key]) => (
            <option key={v} value={v}>
              {t(key)}
            </option>
          ))}
        </select>{' '}
        <RangeSelect days={days} onChange={setDays} /> <BreakdownPicker onChange={onBreakdown} />{' '}
        <button type="submit">{t('run')}</button>
      </form>
      <ErrorBox error={error} />
      {notice ? <p role="status">{notice}</p> : null}
      {result && option ? (
        <>
          <Chart option={option} label={t('trends')} />
          <table className="list" data-testid="trend-totals">
            <thead>
              <tr>
                <th>{t('series')}</th>
                <th>{t('total')}</th>
              </tr>
            </thead>
            <tbody>
              {result.series.map((line, i) => (
                <tr key={i}>
                  <td>{lineName(line, i, count)}</td>
                  <td>{line.total == null ? '—' : formatNumber(line.total, lang, line.math === 'total' || line.math === 'persons' ? 0 : 2)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <div className="toolbar">
            <input aria-label={t('tileName')} placeholder={t('tileName')} value={tileName} onChange={(e) => setTileName(e.target.value)} />
            <button type="button" onClick={save}>
              {t('saveAsDashboard')}
            </button>
          </div>
        </>
      ) : null}
    </section>
  );
}
