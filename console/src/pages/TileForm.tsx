import { useState } from 'react';
import { RangeSelect } from '../components/RangeSelect';
import { useI18n } from '../i18n';
import { useWorkspace } from '../session';
import { dateRange } from '../time';

// DashboardTileInput: the model's own input (TrendsInput, FunnelInput, RetentionInput) as its query.
export type TileInput = { title: string; kind: string; query: Record<string, unknown> };

export const TILE_KINDS = ['trends', 'funnel', 'retention'] as const;
type Kind = (typeof TILE_KINDS)[number];

export function tileQuery(
  kind: Kind,
  fields: { event: string; math: string; steps: string; startEvent: string; returnEvent: string; period: string },
  days: number,
  timeZone: string,
  now: Date = new Date(),
): Record<string, unknown> {
  // Dates are the range counted back from today in the workspace's zone, fixed when the tile is saved.
  const { dateFrom, dateTo } = dateRange(days, timeZone, now);
  const span = { dateFrom, dateTo, timezone: timeZone };
  switch (kind) {
    case 'trends':
      return { ...span, series: [{ event: fields.event.trim(), math: fields.math }], interval: 'day' };
    case 'funnel':
      return {
        ...span,
        steps: fields.steps
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)
          .map((event) => ({ event })),
      };
    case 'retention':
      return { ...span, startEvent: fields.startEvent.trim(), returnEvent: fields.returnEvent.trim(), period: fields.period };
  }
}

export function TileForm({ onAdd }: { onAdd: (tile: TileInput) => void }) {
  const { timeZone } = useWorkspace();
  const { t } = useI18n();
  const [kind, setKind] = useState<Kind>('trends');
  const [title, setTitle] = useState('');
  const [days, setDays] = useState(30);
  const [fields, setFields] = useState({
    event: 'Order Completed',
    math: 'total',
    steps: 'Product Viewed, Order Completed',
    startEvent: 'Product Viewed',
    returnEvent: 'Order Completed',
    period: 'week',
  });
  const set = (key: keyof typeof fields) => (e: React.ChangeEvent<HTMLInputElement | HTMLSelectElement>) =>
    setFields({ ...fields, [key]: e.target.value });

  return (
    <form
      className="form card spaced"
      aria-label={t('addTile')}
      data-testid="add-tile"
      onSubmit={(e) => {
        e.preventDefault();
        onAdd({ title: title.trim(), kind, query: tileQuery(kind, fields, days, timeZone) });
      }}
    >
      <h4 className="wide">{t('addTile')}</h4>
      <label htmlFor="tile-kind">{t('kind')}</label>
      <select id="tile-kind" value={kind} onChange={(e) => setKind(e.target.value as Kind)}>
        {TILE_KINDS.map((k) => (
          <option key={k}>{k}</option>
        ))}
      </select>
      <label htmlFor="tile-title">{t('tileTitle')}</label>
      <input id="tile-title" value={title} onChange={(e) => setTitle(e.target.value)} />
      <label>{t('range')}</label>
      <RangeSelect days={days} onChange={setDays} />
      {kind === 'trends' ? (
        <>
          <label htmlFor="tile-event">{t('event')}</label>
          <input id="tile-event" value={fields.event} onChange={set('event')} required />
          <label htmlFor="tile-math">{t('tileMath')}</label>
          <select id="tile-math" value={fields.math} onChange={set('math')}>
            <option value="total">{t('mathTotal')}</option>
            <option value="persons">{t('mathPersons')}</option>
          </select>
        </>
      ) : null}
      {kind === 'funnel' ? (
        <>
          <label htmlFor="tile-steps">{t('steps')}</label>
          <input id="tile-steps" value={fields.steps} onChange={set('steps')} placeholder={t('tileStepsHelp')} required />
        </>
      ) : null}
      {kind === 'retention' ? (
        <>
          <label htmlFor="tile-start">{t('startEvent')}</label>
          <input id="tile-start" value={fields.startEvent} onChange={set('startEvent')} required />
          <label htmlFor="tile-return">{t('returnEvent')}</label>
          <input id="tile-return" value={fields.returnEvent} onChange={set('returnEvent')} required />
          <label htmlFor="tile-period">{t('period')}</label>
          <select id="tile-period" value={fields.period} onChange={set('period')}>
            <option value="day">{t('periodDay')}</option>
            <option value="week">{t('periodWeek')}</option>
            <option value="month">{t('periodMonth')}</option>
          </select>
        </>
      ) : null}
      <div className="wide">
        <button type="submit">{t('addTile')}</button>
      </div>
    </form>
  );
}
