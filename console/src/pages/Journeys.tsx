import { useCallback, useEffect, useMemo, useState } from 'react';
import { Chart } from '../components/Chart';
import { ConfirmButton } from '../components/ConfirmButton';
import { ErrorBox } from '../components/ErrorBox';
import { journeyGraph, type StepStats } from '../journeyGraph';
import { useI18n } from '../i18n';
import { useWorkspace } from '../session';
import { formatDateTime, formatNumber } from '../time';
import { ExperimentResults, hasExperiment } from './Experiment';
import { JourneyBuilder } from './JourneyBuilder';

const JOURNEYS = `{ journeys(limit: 100) { id name kind status version updatedAt campaign { state audience sent } } }`;

const DETAIL = `query Journey($id: ID!) {
  journey(id: $id) {
    id name kind status version draft
    versions { version definition }
    stats { node entered waiting active exited done converted }
  }
}`;
const PAUSE = `mutation Pause($id: ID!) { pauseJourney(id: $id) { id status } }`;
const RESUME = `mutation Resume($id: ID!) { resumeJourney(id: $id) { id status } }`;

type Detail = {
  id: string;
  name: string;
  kind: string;
  status: string;
  version: number;
  draft: any;
  versions: { version: number; definition: any }[];
  stats: StepStats[];
};

type Journey = {
  id: string;
  name: string;
  kind: string;
  status: string;
  version: number;
  updatedAt: string;
  campaign: { state: string; audience: number; sent: number } | null;
};

export function Journeys() {
  const { client, timeZone } = useWorkspace();
  const { t, lang } = useI18n();
  const [journeys, setJourneys] = useState<Journey[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [openId, setOpenId] = useState<string | null>(null);
  // The builder: 'new' for a journey not created yet, else the id whose draft is edited.
  const [building, setBuilding] = useState<string | null>(null);
  const [tick, setTick] = useState(0);
  const load = useCallback(() => {
    client<{ journeys: Journey[] }>(JOURNEYS)
      .then((d) => setJourneys(d.journeys))
      .catch(setError);
  }, [client]);
  useEffect(load, [load]);
  return (
    <section>
      <h2>{t('journeys')}</h2>
      <div className="toolbar">
        <button type="button" onClick={() => setBuilding('new')}>
          {t('newJourney')}
        </button>
      </div>
      <ErrorBox error={error} />
      {journeys && journeys.length === 0 ? <p className="muted">{t('none')}</p> : null}
      {journeys && journeys.length > 0 ? (
        <table className="list" data-testid="journey-list">
          <thead>
            <tr>
              <th>{t('name')}</th>
              <th>{t('kind')}</th>
              <th>{t('status')}</th>
              <th>{t('version')}</th>
              <th>{t('updatedAt')}</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {journeys.map((j) => (
              <tr key={j.id} className={j.id === openId ? 'active' : ''}>
                <td>
                  <button type="button" className="link" onClick={() => setOpenId(j.id)}>
                    {j.name}
                  </button>
                </td>
                <td>{j.kind}</td>
                <td>
                  <span className={`status status-${j.status}`}>{j.status}</span>
                  {j.campaign ? ` · ${j.campaign.state} ${j.campaign.sent}/${j.campaign.audience}` : ''}
                </td>
                <td>{j.version}</td>
                <td>{formatDateTime(j.updatedAt, timeZone, lang)}</td>
                <td>
                  {j.kind === 'journey' && j.status !== 'archived' ? (
                    <button type="button" className="edit" onClick={() => setBuilding(j.id)}>
                      {t('editDraft')}
                    </button>
                  ) : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {building ? (
        <JourneyBuilder
          key={building}
          id={building === 'new' ? null : building}
          onChanged={(id) => {
            load();
            setOpenId(id);
            setTick((n) => n + 1);
          }}
        />
      ) : null}
      {openId ? <JourneyDetail key={`${openId}:${tick}`} id={openId} onChanged={load} /> : null}
    </section>
  );
}

// One journey: its live definition (the draft before the first publish) as a graph with how many
// entered each step, the counts per step, and pause/resume after confirmation.
export function JourneyDetail({ id, onChanged }: { id: string; onChanged: () => void }) {
  const { client } = useWorkspace();
  const { t, lang } = useI18n();
  const [detail, setDetail] = useState<Detail | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState('');

  const load = useCallback(() => {
    client<{ journey: Detail | null }>(DETAIL, { id })
      .then((d) => setDetail(d.journey))
      .catch(setError);
  }, [client, id]);
  useEffect(load, [load]);

  const definition = detail ? (detail.versions.find((v) => v.version === detail.version)?.definition ?? detail.draft) : null;
  const graph = useMemo(() => (detail ? journeyGraph(definition, detail.stats) : null), [detail, definition]);

  async function setStatus(mutation: string, done: string) {
    setError(null);
    setNotice('');
    try {
      await client(mutation, { id });
      setNotice(done);
      load();
      onChanged();
    } catch (exc) {
      setError(exc);
    }
  }

  return (
    <div className="card" data-testid="journey">
      <ErrorBox error={error} />
      {notice ? <p role="status">{notice}</p> : null}
      {detail ? (
        <>
          <h3>
            {detail.name} <span className={`status status-${detail.status}`}>{detail.status}</span>
          </h3>
          {detail.status === 'active' ? (
            <ConfirmButton
              label={t('pause')}
              question={t('confirmPause', { name: detail.name })}
              onConfirm={() => setStatus(PAUSE, t('paused'))}
            />
          ) : null}
          {detail.status === 'paused' ? (
            <ConfirmButton
              label={t('resume')}
              question={t('confirmResume', { name: detail.name })}
              onConfirm={() => setStatus(RESUME, t('resumed'))}
            />
          ) : null}
          {graph ? <JourneyGraphChart graph={graph} /> : null}
          {detail.version > 0 && hasExperiment(definition) ? <ExperimentResults journeyId={detail.id} /> : null}
          <table className="list" data-testid="journey-steps">
            <thead>
              <tr>
                <th>{t('step')}</th>
                <th>{t('entered')}</th>
                <th>{t('waiting')}</th>
                <th>{t('activeNow')}</th>
                <th>{t('exitedStep')}</th>
                <th>{t('doneStep')}</th>
                <th>{t('converted')}</th>
              </tr>
            </thead>
            <tbody>
              {(graph?.nodes ?? []).map((n) => {
                const s = detail.stats.find((x) => x.node === n.id);
                return (
                  <tr key={n.id} data-node={n.id}>
                    <td>
                      {n.label} <span className="muted">({n.type})</span>
                    </td>
                    <td>{formatNumber(s?.entered ?? 0, lang)}</td>
                    <td>{formatNumber(s?.waiting ?? 0, lang)}</td>
                    <td>{formatNumber(s?.active ?? 0, lang)}</td>
                    <td>{formatNumber(s?.exited ?? 0, lang)}</td>
                    <td>{formatNumber(s?.done ?? 0, lang)}</td>
                    <td>{formatNumber(s?.converted ?? 0, lang)}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </>
      ) : null}
    </div>
  );
}

// A journey graph drawn with ECharts: one box per step (with how many entered it), one arrow per branch.
export function JourneyGraphChart({ graph }: { graph: ReturnType<typeof journeyGraph> }) {
  const { t, lang } = useI18n();
  const option = useMemo(
    () => ({
      animation: false,
      tooltip: {},
      series: [
        {
          type: 'graph',
          layout: 'none',
          roam: true,
          symbol: 'roundRect',
          symbolSize: [190, 46],
          edgeSymbol: ['none', 'arrow'],
          label: { show: true, formatter: '{b}' },
          edgeLabel: { show: true, formatter: (p: { data: { label: string } }) => p.data.label },
          data: graph.nodes.map((n) => ({
            name: n.id,
            x: n.column * 200,
            y: n.row * 80,
            value: n.entered,
            label: { formatter: `${n.label} (${n.type})\n${t('entered')}: ${formatNumber(n.entered, lang)}` },
          })),
          // Two branches to the same step (an event and its timeout to one exit) bend apart to stay readable.
          links: graph.edges.map((e, i) => {
            const twins = graph.edges.filter((x) => x.source === e.source && x.target === e.target);
            const nth = twins.indexOf(graph.edges[i]);
            return { source: e.source, target: e.target, label: e.label, lineStyle: { curveness: twins.length > 1 ? (nth - (twins.length - 1) / 2) * 0.3 : 0 } };
          }),
        },
      ],
    }),
    [graph, t, lang],
  );
  if (graph.nodes.length === 0) return null;
  return <Chart option={option} height={Math.max(260, 90 * Math.max(...graph.nodes.map((n) => n.row + 1)))} label={t('journeyGraph')} />;
}
