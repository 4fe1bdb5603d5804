import { useCallback, useMemo, useState } from 'react';
import { BreakdownPicker, type Breakdown } from '../components/BreakdownPicker';
import { Chart } from '../components/Chart';
import { ErrorBox } from '../components/ErrorBox';
import { useI18n } from '../i18n';
import { RangeSelect } from '../components/RangeSelect';
import { useWorkspace } from '../session';
import { dateRange, formatNumber } from '../time';

const FUNNEL = `query Funnel($input: FunnelInput!) {
  funnel(input: $input) { breakdownValue entered steps { event count conversion fromPrevious } }
}`;
const SAVE = `mutation SaveDropOff($funnel: FunnelInput!, $step: Int!, $name: String!) {
  saveFunnelDropOffs(funnel: $funnel, step: $step, name: $name) { segmentId persons }
}`;

export const DEFAULT_STEPS = ['Product Viewed', 'Product Added', 'Checkout Started', 'Order Completed'];

type Result = { breakdownValue?: string | null; entered: number; steps: { event: string; count: number; conversion: number; fromPrevious: number }[] };

export function Funnels() {
  const { client, timeZone } = useWorkspace();
  const { t, lang } = useI18n();
  const [steps, setSteps] = useState<string[]>(DEFAULT_STEPS);
  const [days, setDays] = useState(90);
  const [input, setInput] = useState<Record<string, unknown> | null>(null);
  const [results, setResults] = useState<Result[]>([]);
  const [shown, setShown] = useState(0);
  const [breakdown, setBreakdown] = useState<Breakdown>(null);
  const onBreakdown = useCallback((b: Breakdown) => setBreakdown(b), []);
  const result: Result | null = results[shown] ?? null;
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState('');
  const [segmentName, setSegmentName] = useState('');

  async function run(event: React.FormEvent) {
    event.preventDefault();
    const range = dateRange(days, timeZone);
    const asked = {
      steps: steps.filter((s) => s.trim() !== '').map((s) => ({ event: s.trim() })),
      dateFrom: range.dateFrom,
      dateTo: range.dateTo,
      timezone: timeZone,
      ...(breakdown ? { breakdown } : {}),
    };
    setError(null);
    setNotice('');
    try {
      const data = await client<{ funnel: Result[] }>(FUNNEL, { input: asked });
      setInput(asked);
      setResults(data.funnel);
      setShown(0);
    } catch (exc) {
      setError(exc);
    }
  }

  async function saveDropOff(step: number) {
    if (!input) return;
    setError(null);
    setNotice('');
    const name = segmentName.trim() || `${t('dropOff')}: ${steps[step - 1]} → ${steps[step]}`;
    try {
      const data = await client<{ saveFunnelDropOffs: { segmentId: string; persons: number } }>(SAVE, {
        funnel: input,
        step,
        name,
      });
      setNotice(`${t('savedSegment', { n: data.saveFunnelDropOffs.persons })} (${name})`);
    } catch (exc) {
      setError(exc);
    }
  }

  const option = useMemo(() => {
    if (!result) return null;
    return {
      animation: false,
      tooltip: { trigger: 'axis' },
      grid: { left: 60, right: 16, top: 16, bottom: 40 },
      xAxis: { type: 'category', data: result.steps.map((s) => s.event) },
      yAxis: { type: 'value' },
      series: [{ type: 'bar', data: result.steps.map((s) => s.count), label: { show: true, position: 'top' } }],
    };
  }, [result]);

  return (
    <section>
      <h2>{t('funnels')}</h2>
      <form onSubmit={run} className="card">
        <h4>{t('steps')}</h4>
        {steps.map((s, i) => (
          <div key={i} className="condition">
            <span>{i + 1}.</span>
            <input
              aria-label={`step ${i + 1}`}
              value={s}
              onChange={(e) => setSteps(steps.map((x, j) => (i === j ? e.target.value : x)))}
            />
            {steps.length > 2 ? (
              <button type="button" onClick={() => setSteps(steps.filter((_, j) => j !== i))}>
                ×
              </button>
            ) : null}
          </div>
        ))}
        <button type="button" onClick={() => setSteps([...steps, ''])}>
          {t('addStep')}
        </button>{' '}
        <RangeSelect days={days} onChange={setDays} />{' '}
        <BreakdownPicker onChange={onBreakdown} />{' '}
        <button type="submit">{t('run')}</button>
      </form>
      <ErrorBox error={error} />
      {notice ? <p role="status">{notice}</p> : null}
      {input?.breakdown && results.length > 0 ? (
        <table className="list" data-testid="funnel-breakdown">
          <thead>
            <tr>
              <th>{t('breakdownValue')}</th>
              <th>{t('entered')}</th>
              <th>{t('conversion')}</th>
            </tr>
          </thead>
          <tbody>
            {results.map((r, i) => (
              <tr key={i} className={i === shown ? 'active' : ''}>
                <td>
                  <button type="button" onClick={() => setShown(i)}>
                    {r.breakdownValue ?? '—'}
                  </button>
                </td>
                <td>{formatNumber(r.entered, lang)}</td>
                <td>{r.steps.length > 0 ? `${(r.steps[r.steps.length - 1].conversion * 100).toFixed(1)}%` : '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {input?.breakdown && results.length > 0 ? <p className="muted">{t('saveNeedsOneValue')}</p> : null}
      {result && option ? (
        <>
          <Chart option={option} label={t('funnels')} />
          <input
            aria-label={t('name')}
            placeholder={t('name')}
            value={segmentName}
            onChange={(e) => setSegmentName(e.target.value)}
          />
          <table className="list" data-testid="funnel-steps">
            <thead>
              <tr>
                <th>{t('event')}</th>
                <th>{t('entered')}</th>
                <th>{t('conversion')}</th>
                <th>{t('dropOff')}</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {result.steps.map((s, i) => (
                <tr key={i}>
                  <td>{s.event}</td>
                  <td>{formatNumber(s.count, lang)}</td>
                  <td>{(s.conversion * 100).toFixed(1)}%</td>
                  <td>{i === 0 ? '—' : formatNumber(result.steps[i - 1].count - s.count, lang)}</td>
                  <td>
                    {i > 0 && !input?.breakdown ? (
                      <button type="button" onClick={() => saveDropOff(i)}>
                        {t('saveDropOff')}
                      </button>
                    ) : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      ) : null}
    </section>
  );
}
