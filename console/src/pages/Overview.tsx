import { RangeSelect } from '../components/RangeSelect';
import { useCallback, useEffect, useMemo, useState } from 'react';
import { BreakdownPicker, type Breakdown } from '../components/BreakdownPicker';
import { Aarrr } from './Aarrr';
import { Chart } from '../components/Chart';
import { Distributions } from './Distributions';
import { ErrorBox } from '../components/ErrorBox';
import { useI18n, type Key } from '../i18n';
import { useDebounced } from '../debounce';
import { useWorkspace } from '../session';
import { dateRange, formatNumber } from '../time';

// Active shoppers: persons who viewed a product (the shop's most common event); orders and GMV
// from "Order Completed" (GMV sums its revenue).
export const OVERVIEW_SERIES = [
  { event: 'Product Viewed', math: 'persons' },
  { event: 'Order Completed', math: 'total' },
  { event: 'Order Completed', math: 'sum', property: 'revenue' },
];
const LABELS: Key[] = ['activeShoppers', 'orders', 'gmv'];
export const BREAKDOWN_DEBOUNCE_MS = 400;

const TRENDS = `query Overview($now: TrendsInput!, $before: TrendsInput!) {
  now: trends(input: $now) { buckets series { values total } }
  before: trends(input: $before) { buckets series { total } }
}`;

// Broken down, each metric's chart draws a line per value; the headline figures and their change
// stay the unbroken totals (unique persons per value do not add up to the whole).
const TRENDS_SPLIT = `query Overview($now: TrendsInput!, $before: TrendsInput!, $split: TrendsInput!) {
  now: trends(input: $now) { buckets series { values total } }
  before: trends(input: $before) { buckets series { total } }
  split: trends(input: $split) { buckets series { event math breakdownValue values total } }
}`;

type Line = { values: number[]; total: number | null; event?: string; math?: string; breakdownValue?: string | null };
type Trends = { buckets: string[]; series: Line[] };

// The lines of one overview series in a broken-down answer ($other: the values past the top ones).
export function splitLines(split: Trends, i: number, otherLabel: string) {
  const { event, math } = OVERVIEW_SERIES[i];
  return split.series
    .filter((line) => line.event === event && line.math === math)
    .map((line) => ({
      name: line.breakdownValue === '$other' ? otherLabel : (line.breakdownValue ?? ''),
      values: line.values,
      total: line.total,
    }));
}


export function change(now: number, before: number): number | null {
  if (!before) return null;
  return ((now - before) / before) * 100;
}

export function Overview() {
  const { client, timeZone } = useWorkspace();
  const { t, lang } = useI18n();
  const [days, setDays] = useState(30);
  const [data, setData] = useState<{ now: Trends; before: Trends; split?: Trends } | null>(null);
  const [breakdown, setBreakdown] = useState<Breakdown>(null);
  const onBreakdown = useCallback((b: Breakdown) => setBreakdown(b), []);
  // A property name is typed: the charts are asked again once it stops changing, and only when it did.
  const settledBreakdown = useDebounced(JSON.stringify(breakdown), BREAKDOWN_DEBOUNCE_MS);
  const [error, setError] = useState<unknown>(null);
  const range = useMemo(() => dateRange(days, timeZone), [days, timeZone]);

  useEffect(() => {
    let live = true;
    const input = (dateFrom: string, dateTo: string) => ({
      series: OVERVIEW_SERIES,
      dateFrom,
      dateTo,
      interval: 'day',
      timezone: timeZone,
    });
    setError(null);
    const now = input(range.dateFrom, range.dateTo);
    const before = input(range.previousFrom, range.previousTo);
    const split = JSON.parse(settledBreakdown) as Breakdown;
    const asked = split
      ? client<{ now: Trends; before: Trends; split: Trends }>(TRENDS_SPLIT, { now, before, split: { ...now, breakdown: split } })
      : client<{ now: Trends; before: Trends }>(TRENDS, { now, before });
    asked
      .then((found) => live && setData(found))
      .catch((exc) => live && setError(exc));
    return () => {
      live = false;
    };
  }, [client, range, timeZone, settledBreakdown]);

  const charts = useMemo(() => {
    if (!data) return [];
    return LABELS.map((label, i) => {
      const values = data.now.series[i]?.values ?? [];
      const total = data.now.series[i]?.total ?? values.reduce((a, b) => a + b, 0);
      const before = data.before.series[i]?.total ?? 0;
      const lines = data.split ? splitLines(data.split, i, t('otherValues')) : null;
      // Per value totals where they add up (orders, GMV); persons per value are only drawn.
      const split = lines && lines.every((l) => l.total != null)
        ? lines.map((l) => `${l.name} ${formatNumber(l.total!, lang, i === 2 ? 2 : 0)}`).join(' · ')
        : null;
      return {
        label,
        total,
        values: split,
        change: change(total, before),
        option: {
          // Drawn at once: a range change replaces the series rather than morphing the old one.
          animation: false,
          tooltip: { trigger: 'axis' },
          grid: { left: 50, right: 16, top: lines ? 40 : 16, bottom: 30 },
          xAxis: { type: 'category', data: data.now.buckets.map((b) => b.slice(5, 10)) },
          yAxis: { type: 'value' },
          ...(lines
            ? {
                legend: { type: 'scroll', top: 0 },
                series: lines.map((line) => ({ type: 'line', data: line.values, name: line.name, stack: i === 2 ? 'gmv' : undefined })),
              }
            : { series: [{ type: i === 2 ? 'bar' : 'line', data: values, name: t(label) }] }),
        },
      };
    });
  }, [data, t, lang]);

  return (
    <section>
      <h2>{t('overview')}</h2>
      <div className="toolbar">
        <label>
          {t('range')}{' '}
          <RangeSelect days={days} onChange={setDays} />
        </label>
        <BreakdownPicker onChange={onBreakdown} />
        <span className="muted">
          {t('timeZone')}: {timeZone}
        </span>
      </div>
      <ErrorBox error={error} />
      {!data && !error ? <p>{t('loading')}</p> : null}
      <div className="cards">
        {charts.map((c) => (
          <div className="card" key={c.label} data-testid={`metric-${c.label}`}>
            <h3>{t(c.label)}</h3>
            <div className="big">{formatNumber(c.total, lang, c.label === 'gmv' ? 2 : 0)}</div>
            {c.values ? <div className="muted" data-testid={`split-${c.label}`}>{c.values}</div> : null}
            <div className="muted">
              {t('previousPeriod')}: {c.change == null ? '—' : `${c.change >= 0 ? '+' : ''}${c.change.toFixed(1)}%`}
            </div>
            <Chart option={c.option} height={180} label={t(c.label)} />
          </div>
        ))}
      </div>
      <Aarrr dateFrom={range.dateFrom} dateTo={range.dateTo} />
      <Distributions dateFrom={range.dateFrom} dateTo={range.dateTo} />
    </section>
  );
}
