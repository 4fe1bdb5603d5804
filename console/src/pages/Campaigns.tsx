import { useCallback, useEffect, useState } from 'react';
import { ConfirmButton } from '../components/ConfirmButton';
import { ErrorBox } from '../components/ErrorBox';
import { dictionaries, useI18n, type Key, type Lang } from '../i18n';
import { useWorkspace } from '../session';
import { formatDateTime, formatNumber } from '../time';
import { ExperimentResults } from './Experiment';

export type CampaignStatus = {
  launchId: string;
  state: string;
  audience: number;
  handed: number;
  sent: number;
  skipped: number;
  failed: number;
  cancelled: number;
  pending: number;
  holdout: number;
  startedAt: string | null;
  finishedAt: string | null;
};

const STATUS_FIELDS = 'launchId state audience handed sent skipped failed cancelled pending holdout startedAt finishedAt';
const LIST = `{ journeys(kind: "campaign", limit: 100) { id name status version updatedAt campaign { ${STATUS_FIELDS} } } }`;
const OPTIONS = `{ segments { id name size } templates { id name channel } }`;
const CREATE = `mutation CreateCampaign($input: CampaignInput!) { createCampaign(input: $input) { id name } }`;
const START = `mutation Start($id: ID!) { publishJourney(id: $id) { version } }`;
const STATUS = `query CampaignStatus($id: ID!) { campaignStatus(id: $id) { ${STATUS_FIELDS} } }`;
const STATS = `query CampaignStats($campaignId: String) {
  messageStats(campaignId: $campaignId) { sent delivered opened clicked converted failed deliveryRate openRate clickRate conversionRate }
}`;
const CONTROL = {
  pause: `mutation Pause($id: ID!) { pauseCampaign(id: $id) { ${STATUS_FIELDS} } }`,
  resume: `mutation Resume($id: ID!) { resumeCampaign(id: $id) { ${STATUS_FIELDS} } }`,
  cancel: `mutation Cancel($id: ID!) { cancelCampaign(id: $id) { ${STATUS_FIELDS} } }`,
};
const POLL_MS = 1000;

type Campaign = { id: string; name: string; status: string; version: number; updatedAt: string; campaign: CampaignStatus | null };
type Segment = { id: string; name: string; size: number };
type Template = { id: string; name: string; channel: string };
type Stats = Record<'sent' | 'delivered' | 'opened' | 'clicked' | 'converted' | 'failed' | 'deliveryRate' | 'openRate' | 'clickRate' | 'conversionRate', number>;

// A launch's state in the interface's language (the raw state stays in the class name).
export function stateLabel(state: string, lang: Lang, t: (key: Key) => string): string {
  const key = `state_${state}`;
  return key in dictionaries[lang] ? t(key as Key) : state;
}

// Settled: everyone in the audience is accounted for as sent, skipped (the holdout among them),
// failed or cancelled, and nothing is still on its way.
export function accounted(s: CampaignStatus): number {
  return s.sent + s.skipped + s.failed + s.cancelled;
}
export function closed(s: CampaignStatus): boolean {
  return s.audience > 0 && s.pending === 0 && accounted(s) === s.audience && ['finished', 'cancelled'].includes(s.state);
}

// "YYYY-MM-DDTHH:MM" as a wall time in `timeZone`, as an instant (ISO, UTC).
export function zonedToInstant(local: string, timeZone: string): string {
  const [date, time = '00:00'] = local.split('T');
  const [y, mo, d] = date.split('-').map(Number);
  const [h, mi] = time.split(':').map(Number);
  const wall = Date.UTC(y, mo - 1, d, h, mi);
  const offsetAt = (instant: number) => {
    const parts = Object.fromEntries(
      new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' })
        .formatToParts(new Date(instant))
        .map((p) => [p.type, p.value]),
    );
    const seen = Date.UTC(Number(parts.year), Number(parts.month) - 1, Number(parts.day), Number(parts.hour), Number(parts.minute), Number(parts.second));
    return seen - instant;
  };
  // Twice: the first guess may sit across a DST change from the answer.
  let instant = wall - offsetAt(wall);
  instant = wall - offsetAt(instant);
  return new Date(instant).toISOString();
}

export function Campaigns() {
  const { client, timeZone } = useWorkspace();
  const { t, lang } = useI18n();
  const [campaigns, setCampaigns] = useState<Campaign[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [openId, setOpenId] = useState<string | null>(null);
  const load = useCallback(() => {
    client<{ journeys: Campaign[] }>(LIST)
      .then((d) => setCampaigns(d.journeys))
      .catch(setError);
  }, [client]);
  useEffect(load, [load]);
  return (
    <section>
      <h2>{t('campaigns')}</h2>
      <CampaignForm
        onCreated={(id) => {
          load();
          setOpenId(id);
        }}
      />
      <ErrorBox error={error} />
      {campaigns && campaigns.length === 0 ? <p className="muted">{t('none')}</p> : null}
      {campaigns && campaigns.length > 0 ? (
        <table className="list" data-testid="campaign-list">
          <thead>
            <tr>
              <th>{t('name')}</th>
              <th>{t('status')}</th>
              <th>{t('audience')}</th>
              <th>{t('sent')}</th>
              <th>{t('updatedAt')}</th>
            </tr>
          </thead>
          <tbody>
            {campaigns.map((c) => (
              <tr key={c.id} className={c.id === openId ? 'active' : ''}>
                <td>
                  <button type="button" className="link" onClick={() => setOpenId(c.id)}>
                    {c.name}
                  </button>
                </td>
                <td>
                  <span className={`status status-${c.campaign?.state ?? c.status}`}>{stateLabel(c.campaign?.state ?? c.status, lang, t)}</span>
                </td>
                <td>{formatNumber(c.campaign?.audience ?? 0, lang)}</td>
                <td>{formatNumber(c.campaign?.sent ?? 0, lang)}</td>
                <td>{formatDateTime(c.updatedAt, timeZone, lang)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {openId ? <CampaignDetail key={openId} id={openId} onChanged={load} /> : null}
    </section>
  );
}

// A send to a segment: now or at a time (a wall time in the workspace's zone), a holdout kept out,
// a send rate, the channel and template; created, then published, which starts it.
export function CampaignForm({ onCreated }: { onCreated: (id: string) => void }) {
  const { client, timeZone } = useWorkspace();
  const { t } = useI18n();
  const [segments, setSegments] = useState<Segment[]>([]);
  const [templates, setTemplates] = useState<Template[]>([]);
  const [name, setName] = useState('');
  const [segmentId, setSegmentId] = useState('');
  const [templateId, setTemplateId] = useState('');
  const [channel, setChannel] = useState('');
  const [when, setWhen] = useState<'now' | 'at'>('now');
  const [at, setAt] = useState('');
  const [holdoutPct, setHoldoutPct] = useState(0);
  const [rate, setRate] = useState(1000);
  const [goalEvent, setGoalEvent] = useState('Order Completed');
  const [every, setEvery] = useState('');
  const [localTime, setLocalTime] = useState('');
  // An A/B test of creatives: each variant a share of the treated and its own template.
  const [variants, setVariants] = useState<{ name: string; weight: number; templateId: string }[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    client<{ segments: Segment[]; templates: Template[] }>(OPTIONS)
      .then((d) => {
        setSegments(d.segments);
        setTemplates(d.templates);
      })
      .catch(setError);
  }, [client]);

  async function submit(e: React.FormEvent) {
    e.preventDefault();
    setError(null);
    setBusy(true);
    try {
      const input: Record<string, unknown> = {
        name: name.trim(),
        segmentId,
        templateId,
        channel: channel.trim(),
        holdoutPct,
        ratePerSecond: rate,
        goalEvent: goalEvent.trim() || null,
      };
      if (when === 'at') input.at = zonedToInstant(at, timeZone);
      if (every.trim()) input.every = every.trim();
      if (localTime) input.localTime = localTime;
      if (variants.length > 0) {
        input.variants = variants.map((v) => ({ name: v.name.trim(), weight: v.weight, templateId: v.templateId || null }));
      }
      const made = await client<{ createCampaign: { id: string } }>(CREATE, { input });
      const id = made.createCampaign.id;
      await client(START, { id });
      setName('');
      onCreated(id);
    } catch (exc) {
      setError(exc);
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className="card campaign-form" aria-label={t('newCampaign')} onSubmit={submit}>
      <h3>{t('newCampaign')}</h3>
      <div className="form-grid">
        <label>
          {t('name')}
          <input name="name" value={name} onChange={(e) => setName(e.target.value)} required />
        </label>
        <label>
          {t('segment')}
          <select name="segment" value={segmentId} onChange={(e) => setSegmentId(e.target.value)} required>
            <option value="">—</option>
            {segments.map((s) => (
              <option key={s.id} value={s.id}>
                {s.name} ({s.size})
              </option>
            ))}
          </select>
        </label>
        <label>
          {t('template')}
          <select
            name="template"
            value={templateId}
            onChange={(e) => setTemplateId(e.target.value)}
            required
          >
            <option value="">—</option>
            {templates.map((x) => (
              <option key={x.id} value={x.id}>
                {x.name} ({x.channel})
              </option>
            ))}
          </select>
        </label>
        <label>
          {t('channelName')}
          <input name="channel" value={channel} onChange={(e) => setChannel(e.target.value)} required />
        </label>
        <label>
          {t('when')}
          <select name="when" value={when} onChange={(e) => setWhen(e.target.value as 'now' | 'at')}>
            <option value="now">{t('sendNow')}</option>
            <option value="at">{t('sendAt')}</option>
          </select>
        </label>
        {when === 'at' ? (
          <label>
            {t('sendAtLocal', { zone: timeZone })}
            <input name="at" type="datetime-local" value={at} onChange={(e) => setAt(e.target.value)} required />
          </label>
        ) : null}
        <label>
          {t('holdoutPct')}
          <input name="holdoutPct" type="number" min={0} max={50} step={0.1} value={holdoutPct} onChange={(e) => setHoldoutPct(Number(e.target.value))} />
        </label>
        <label>
          {t('ratePerSecond')}
          <input name="ratePerSecond" type="number" min={1} max={100000} value={rate} onChange={(e) => setRate(Number(e.target.value))} />
        </label>
        <label>
          {t('goalEvent')}
          <input name="goalEvent" value={goalEvent} onChange={(e) => setGoalEvent(e.target.value)} />
        </label>
        <label>
          {t('repeatEvery')}
          <input name="every" placeholder="7d" value={every} onChange={(e) => setEvery(e.target.value)} />
        </label>
        <label>
          {t('personLocalTime')}
          <input name="localTime" type="time" value={localTime} onChange={(e) => setLocalTime(e.target.value)} />
        </label>
      </div>
      {variants.map((v, i) => {
        const change = (patch: Partial<typeof v>) => setVariants((all) => all.map((x, j) => (j === i ? { ...x, ...patch } : x)));
        return (
          <div className="toolbar" key={i} data-testid="variant">
            <input aria-label={t('variantName')} value={v.name} onChange={(e) => change({ name: e.target.value })} required />
            <input aria-label={t('variantWeight')} type="number" min={0.01} step={0.01} value={v.weight} onChange={(e) => change({ weight: Number(e.target.value) })} />
            <select aria-label={t('template')} value={v.templateId} onChange={(e) => change({ templateId: e.target.value })}>
              <option value="">{t('sameTemplate')}</option>
              {templates.map((x) => (
                <option key={x.id} value={x.id}>
                  {x.name} ({x.channel})
                </option>
              ))}
            </select>
            <button type="button" onClick={() => setVariants((all) => all.filter((_, j) => j !== i))}>
              {t('delete')}
            </button>
          </div>
        );
      })}
      <div className="toolbar">
        <button type="button" onClick={() => setVariants((all) => [...all, { name: String.fromCharCode(65 + all.length), weight: 1, templateId: '' }])}>
          {t('addVariant')}
        </button>
      </div>
      <button type="submit" disabled={busy}>
        {t('createCampaign')}
      </button>
      <ErrorBox error={error} />
    </form>
  );
}

// One campaign's accounting, followed while it sends: audience = sent + skipped + failed + cancelled
// once settled (the holdout is among the skipped), the messages' own stats beside it, and the controls.
export function CampaignDetail({ id, onChanged, pollMs = POLL_MS }: { id: string; onChanged: () => void; pollMs?: number }) {
  const { client, timeZone } = useWorkspace();
  const { t, lang } = useI18n();
  const [status, setStatus] = useState<CampaignStatus | null>(null);
  const [stats, setStats] = useState<Stats | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState('');
  const [tick, setTick] = useState(0);

  const refresh = useCallback(async () => {
    try {
      const s = (await client<{ campaignStatus: CampaignStatus }>(STATUS, { id })).campaignStatus;
      setStatus(s);
      if (s.launchId) {
        const m = await client<{ messageStats: Stats }>(STATS, { campaignId: s.launchId });
        setStats(m.messageStats);
      }
      return s;
    } catch (exc) {
      setError(exc);
      return null;
    }
  }, [client, id]);

  // Follow it until the accounting closes (and a little after, for late delivery receipts).
  useEffect(() => {
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let after = 3;
    const loop = async () => {
      const s = await refresh();
      if (!live) return;
      if (s && closed(s)) {
        after -= 1;
        if (after === 2) {
          setTick((n) => n + 1);
          onChanged();
        }
      }
      if (after > 0) timer = setTimeout(loop, s && ['scheduled', 'paused'].includes(s.state) ? pollMs * 5 : pollMs);
    };
    loop();
    return () => {
      live = false;
      if (timer) clearTimeout(timer);
    };
  }, [refresh, pollMs, onChanged]);

  async function control(action: keyof typeof CONTROL, done: string) {
    setError(null);
    setNotice('');
    try {
      const answer = await client<Record<string, CampaignStatus>>(CONTROL[action], { id });
      setStatus(Object.values(answer)[0]);
      setNotice(done);
      onChanged();
      refresh();
    } catch (exc) {
      setError(exc);
    }
  }

  const total = status ? accounted(status) : 0;
  const share = status && status.audience > 0 ? Math.min(1, total / status.audience) : 0;
  const isClosed = status ? closed(status) : false;
  return (
    <div className="card" data-testid="campaign">
      <ErrorBox error={error} />
      {notice ? <p role="status">{notice}</p> : null}
      {status ? (
        <>
          <h3>
            {t('accounting')} <span className={`status status-${status.state}`} data-testid="campaign-state">{stateLabel(status.state, lang, t)}</span>
          </h3>
          <div className="toolbar">
            {status.state === 'sending' ? <button onClick={() => control('pause', t('paused'))}>{t('pause')}</button> : null}
            {status.state === 'paused' ? <button onClick={() => control('resume', t('resumed'))}>{t('resume')}</button> : null}
            {['snapshotting', 'sending', 'paused'].includes(status.state) ? (
              <ConfirmButton label={t('cancelCampaign')} question={t('confirmCancelCampaign')} onConfirm={() => control('cancel', t('campaignCancelled'))} />
            ) : null}
            <span className="muted" data-testid="campaign-times">
              {t('startedAt')}: {formatDateTime(status.startedAt, timeZone, lang)} · {t('finishedAt')}: {formatDateTime(status.finishedAt, timeZone, lang)}
            </span>
          </div>
          <progress
            data-testid="campaign-progress"
            max={Math.max(1, status.audience)}
            value={Math.min(total, status.audience)}
            aria-label={t('progress')}
            style={{ width: '100%' }}
          />
          <p className="muted">{formatNumber(share * 100, lang, 1)}%</p>
          <table className="list" data-testid="campaign-accounting">
            <tbody>
              {(['audience', 'sent', 'skipped', 'failed', 'cancelled', 'pending', 'holdout'] as const).map((k) => (
                <tr key={k} data-field={k}>
                  <th>{t(k === 'skipped' ? 'skippedInclHoldout' : k === 'cancelled' ? 'cancelledCount' : k)}</th>
                  <td>{formatNumber(status[k], lang)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <p data-testid="accounting-check" data-closed={isClosed ? 'true' : 'false'} className={isClosed ? 'closed' : 'muted'}>
            {t('accountingSum', {
              sent: formatNumber(status.sent, lang),
              skipped: formatNumber(status.skipped, lang),
              failed: formatNumber(status.failed, lang),
              cancelled: formatNumber(status.cancelled, lang),
              total: formatNumber(total, lang),
              audience: formatNumber(status.audience, lang),
            })}{' '}
            {isClosed ? `✓ ${t('accountingClosed')}` : t('accountingOpen')}
          </p>
        </>
      ) : null}
      {stats ? (
        <table className="list" data-testid="campaign-message-stats">
          <thead>
            <tr>
              {(['sent', 'delivered', 'opened', 'clicked', 'converted', 'failed'] as const).map((k) => (
                <th key={k}>{t(k)}</th>
              ))}
              <th>{t('deliveryRate')}</th>
            </tr>
          </thead>
          <tbody>
            <tr>
              {(['sent', 'delivered', 'opened', 'clicked', 'converted', 'failed'] as const).map((k) => (
                <td key={k} data-field={k}>
                  {formatNumber(stats[k], lang)}
                </td>
              ))}
              <td data-field="deliveryRate">{formatNumber(stats.deliveryRate * 100, lang, 1)}%</td>
            </tr>
          </tbody>
        </table>
      ) : null}
      {status && status.launchId ? <ExperimentResults journeyId={id} refreshKey={tick} /> : null}
    </div>
  );
}
