import { useMemo, useState } from 'react';
import { Chart } from '../components/Chart';
import { ErrorBox } from '../components/ErrorBox';
import { useI18n } from '../i18n';
import { RangeSelect } from '../components/RangeSelect';
import { useWorkspace } from '../session';
import { dateRange, formatNumber } from '../time';

const PATHS = `query Paths($input: PathsInput!) {
  paths(input: $input) { totalPersons hiddenPaths hiddenPersons hiddenShare paths { steps persons share } }
}`;

type Path = { steps: string[]; persons: number; share: number };
type Result = { totalPersons: number; hiddenPaths: number; hiddenPersons: number; hiddenShare: number; paths: Path[] };

// Paths as a Sankey: a node is an event at a position, so a path that comes back to an event
// makes no cycle (ECharts' Sankey refuses cycles).
export function sankey(paths: Path[]) {
  const nodes = new Map<string, number>();
  const links = new Map<string, { source: string; target: string; value: number }>();
  for (const path of paths) {
    path.steps.forEach((event, i) => {
      const name = `${i + 1}. ${event}`;
      nodes.set(name, i);
      if (i === 0) return;
      const source = `${i}. ${path.steps[i - 1]}`;
      const key = `${source}\u0000${name}`;
      const link = links.get(key) ?? { source, target: name, value: 0 };
      link.value += path.persons;
      links.set(key, link);
    });
  }
  return { nodes: [...nodes.keys()].map((name) => ({ name })), links: [...links.values()] };
}

export function Paths() {
  const { client, timeZone } = useWorkspace();
  const { t, lang } = useI18n();
  const [startEvent, setStartEvent] = useState('Product Viewed');
  const [endEvent, setEndEvent] = useState('');
  const [depth, setDepth] = useState(4);
  const [days, setDays] = useState(90);
  const [result, setResult] = useState<Result | null>(null);
  const [error, setError] = useState<unknown>(null);

  async function run(event: React.FormEvent) {
    event.preventDefault();
    const range = dateRange(days, timeZone);
    const input = {
      startEvent: startEvent.trim() || null,
      endEvent: endEvent.trim() || null,
      depth,
      dateFrom: range.dateFrom,
      dateTo: range.dateTo,
      timezone: timeZone,
    };
    setError(null);
    try {
      const data = await client<{ paths: Result }>(PATHS, { input });
      setResult(data.paths);
    } catch (exc) {
      setError(exc);
    }
  }

  const option = useMemo(() => {
    if (!result) return null;
    const { nodes, links } = sankey(result.paths);
    return {
      animation: false,
      tooltip: { trigger: 'item' },
      series: [{ type: 'sankey', data: nodes, links, emphasis: { focus: 'adjacency' }, nodeGap: 10, left: 8, right: 140 }],
    };
  }, [result]);

  return (
    <section>
      <h2>{t('paths')}</h2>
      <form onSubmit={run} className="card">
        <label>
          {t('startEvent')} <input aria-label={t('startEvent')} value={startEvent} onChange={(e) => setStartEvent(e.target.value)} />
        </label>{' '}
        <label>
          {t('endEvent')} <input aria-label={t('endEvent')} value={endEvent} onChange={(e) => setEndEvent(e.target.value)} />
        </label>{' '}
        <label>
          {t('depth')}{' '}
          <input
            aria-label={t('depth')}
            type="number"
            min={2}
            max={10}
            value={depth}
            onChange={(e) => setDepth(Number(e.target.value))}
          />
        </label>{' '}
        <RangeSelect days={days} onChange={setDays} />{' '}
        <button type="submit">{t('run')}</button>
      </form>
      <ErrorBox error={error} />
      {result && option ? (
        <>
          <p data-testid="paths-total">{t('totalPersons', { n: formatNumber(result.totalPersons, lang) })}</p>
          <Chart option={option} height={360} label={t('paths')} />
          <table className="list" data-testid="paths">
            <thead>
              <tr>
                <th>{t('paths')}</th>
                <th>{t('pathPersons')}</th>
                <th>{t('share')}</th>
              </tr>
            </thead>
            <tbody>
              {result.paths.map((p, i) => (
                <tr key={i}>
                  <td>{p.steps.join(' → ')}</td>
                  <td>{formatNumber(p.persons, lang)}</td>
                  <td>{(p.share * 100).toFixed(1)}%</td>
                </tr>
              ))}
            </tbody>
          </table>
          {result.hiddenPaths > 0 ? (
            <p className="muted">
              {t('hiddenPaths', { n: result.hiddenPaths, persons: formatNumber(result.hiddenPersons, lang) })}
            </p>
          ) : null}
        </>
      ) : null}
    </section>
  );
}
