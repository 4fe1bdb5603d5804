import { useEffect, useMemo, useState } from 'react';
import { Chart } from '../components/Chart';
import { ErrorBox } from '../components/ErrorBox';
import { useI18n } from '../i18n';
import { useWorkspace } from '../session';

// The computed-trait catalog's enumerations (proto/cdp/profile/v1/computed_traits.yaml).
export const LIFECYCLE_STAGES = ['new', 'growing', 'loyal', 'silent', 'churned'];
export const RFM_GROUPS = [
  'important_value',
  'important_develop',
  'important_keep',
  'important_retain',
  'general_value',
  'general_develop',
  'general_keep',
  'general_retain',
];

// How many people hold each value of a computed trait: one previewSegment per value, aliased,
// in one request (the gateway allows 15 aliases).
export function countsQuery(trait: string, values: string[]): string {
  const fields = values.map((v, i) => `v${i}: previewSegment(rule: ${JSON.stringify(`computed.${trait} = "${v}"`)}) { count }`);
  return `{ ${fields.join(' ')} }`;
}

const LIFECYCLE = `query Lifecycle($input: LifecycleInput!) { lifecycle(input: $input) { buckets new returning resurrecting dormant } }`;
const LTV = `{ ltvByChannel { channel persons revenue meanLtv } }`;

type Lifecycle = { buckets: string[]; new: number[]; returning: number[]; resurrecting: number[]; dormant: number[] };

function useQuery<T>(run: () => Promise<T>, deps: unknown[]): [T | null, unknown] {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    let live = true;
    setError(null);
    run()
      .then((d) => live && setData(d))
      .catch((e) => live && setError(e));
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);
  return [data, error];
}

const bar = (labels: string[], values: number[], horizontal = false) => ({
  animation: false,
  tooltip: { trigger: 'axis' },
  grid: { left: horizontal ? 130 : 50, right: 20, top: 16, bottom: 30 },
  xAxis: horizontal ? { type: 'value' } : { type: 'category', data: labels },
  yAxis: horizontal ? { type: 'category', data: labels } : { type: 'value' },
  series: [{ type: 'bar', data: values, label: { show: true, position: horizontal ? 'right' : 'top' } }],
});

// The overview's second row: new vs returning shoppers, lifecycle stages, RFM groups, LTV by channel.
export function Distributions({ dateFrom, dateTo }: { dateFrom: string; dateTo: string }) {
  const { client, timeZone } = useWorkspace();
  const { t } = useI18n();
  const [lifecycle, lifecycleError] = useQuery(
    () =>
      client<{ lifecycle: Lifecycle }>(LIFECYCLE, {
        input: { event: 'Product Viewed', dateFrom, dateTo, interval: 'week', timezone: timeZone },
      }),
    [client, dateFrom, dateTo, timeZone],
  );
  const [stages, stagesError] = useQuery(() => client<Record<string, { count: number }>>(countsQuery('lifecycle_stage', LIFECYCLE_STAGES)), [client]);
  const [rfm, rfmError] = useQuery(() => client<Record<string, { count: number }>>(countsQuery('rfm_group', RFM_GROUPS)), [client]);
  const [ltv, ltvError] = useQuery(
    () => client<{ ltvByChannel: { channel: string; persons: number; revenue: number; meanLtv: number }[] }>(LTV),
    [client],
  );

  const options = useMemo(
    () => ({
      lifecycle: lifecycle && {
        animation: false,
        tooltip: { trigger: 'axis' },
        legend: { top: 0 },
        grid: { left: 50, right: 20, top: 56, bottom: 30 },
        xAxis: { type: 'category', data: lifecycle.lifecycle.buckets.map((b) => b.slice(5, 10)) },
        yAxis: { type: 'value' },
        series: [
          { name: t('newShoppers'), type: 'bar', stack: 'a', data: lifecycle.lifecycle.new },
          { name: t('returningShoppers'), type: 'bar', stack: 'a', data: lifecycle.lifecycle.returning },
          { name: t('resurrecting'), type: 'bar', stack: 'a', data: lifecycle.lifecycle.resurrecting },
          { name: t('dormant'), type: 'bar', stack: 'a', data: lifecycle.lifecycle.dormant.map((v) => -Math.abs(v)) },
        ],
      },
      stages: stages && bar(LIFECYCLE_STAGES, LIFECYCLE_STAGES.map((_, i) => stages[`v${i}`].count)),
      rfm: rfm && bar(RFM_GROUPS, RFM_GROUPS.map((_, i) => rfm[`v${i}`].count), true),
      ltv:
        ltv &&
        bar(
          ltv.ltvByChannel.map((c) => c.channel),
          ltv.ltvByChannel.map((c) => Math.round(c.meanLtv * 100) / 100),
        ),
    }),
    [lifecycle, stages, rfm, ltv, t],
  );

  const tile = (key: 'newReturning' | 'lifecycleStages' | 'rfmGroups' | 'ltvByChannel', option: unknown, error: unknown) => (
    <div className="card" data-testid={`tile-${key}`}>
      <h3>{t(key)}</h3>
      <ErrorBox error={error} />
      {option ? <Chart option={option as Record<string, unknown>} label={t(key)} /> : error ? null : <p>{t('loading')}</p>}
    </div>
  );

  return (
    <div className="cards distributions">
      {tile('newReturning', options.lifecycle, lifecycleError)}
      {tile('lifecycleStages', options.stages, stagesError)}
      {tile('rfmGroups', options.rfm, rfmError)}
      {tile('ltvByChannel', options.ltv, ltvError)}
    </div>
  );
}
