import { useEffect, useState } from 'react';
import { ErrorBox } from '../components/ErrorBox';
import { useI18n, type Key } from '../i18n';
import { useWorkspace } from '../session';
import { formatNumber } from '../time';
import { Channels } from './MessagingChannels';
import { PolicyForm } from './MessagingPolicy';
import { Templates } from './MessagingTemplates';

// The API counts one campaign or one template at a time.
const STATS = `query Stats($campaignId: String, $templateId: String) {
  messageStats(campaignId: $campaignId, templateId: $templateId) {
    sent delivered opened clicked converted failed revenue deliveryRate openRate clickRate conversionRate
  }
}`;

type Stats = Record<'sent' | 'delivered' | 'opened' | 'clicked' | 'converted' | 'failed' | 'revenue', number> &
  Record<'deliveryRate' | 'openRate' | 'clickRate' | 'conversionRate', number>;

const COUNTS: Key[] = ['sent', 'delivered', 'opened', 'clicked', 'converted', 'failed'];
// 送达率 delivered/sent, 打开率 and 点击率 over delivered, 转化率 over sent (the API's definitions).
const RATES: Key[] = ['deliveryRate', 'openRate', 'clickRate', 'conversionRate'];

function Stats() {
  const { client } = useWorkspace();
  const { t, lang } = useI18n();
  const [kind, setKind] = useState<'campaignId' | 'templateId'>('campaignId');
  const [id, setId] = useState('');
  const [asked, setAsked] = useState<Record<string, string> | null>(null);
  const [stats, setStats] = useState<Stats | null>(null);
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    if (!asked) return;
    let live = true;
    setError(null);
    client<{ messageStats: Stats }>(STATS, asked)
      .then((d) => live && setStats(d.messageStats))
      .catch((e) => live && setError(e));
    return () => {
      live = false;
    };
  }, [client, asked]);

  return (
    <>
      <form
        className="toolbar"
        onSubmit={(e) => {
          e.preventDefault();
          setAsked({ [kind]: id.trim() });
        }}
      >
        <select aria-label={t('kind')} value={kind} onChange={(e) => setKind(e.target.value as typeof kind)}>
          <option value="campaignId">{t('campaignId')}</option>
          <option value="templateId">{t('templateId')}</option>
        </select>
        <input aria-label={t('identifierValue')} value={id} onChange={(e) => setId(e.target.value)} required />
        <button type="submit">{t('run')}</button>
      </form>
      <ErrorBox error={error} />
      {stats ? (
        <div className="cards" data-testid="message-stats">
          {RATES.map((key) => (
            <div className="card" key={key} data-testid={`rate-${key}`}>
              <h3>{t(key)}</h3>
              <div className="big">{(stats[key as keyof Stats] * 100).toFixed(1)}%</div>
            </div>
          ))}
          <div className="card">
            <table>
              <tbody>
                {COUNTS.map((key) => (
                  <tr key={key}>
                    <th>{t(key)}</th>
                    <td>{formatNumber(stats[key as keyof Stats], lang)}</td>
                  </tr>
                ))}
                <tr>
                  <th>{t('revenue')}</th>
                  <td>{formatNumber(stats.revenue, lang, 2)}</td>
                </tr>
              </tbody>
            </table>
          </div>
        </div>
      ) : null}
    </>
  );
}

const TABS: { id: string; key: Key; render: () => React.ReactNode }[] = [
  { id: 'stats', key: 'messageStatsTab', render: () => <Stats /> },
  { id: 'channels', key: 'channels', render: () => <Channels /> },
  { id: 'templates', key: 'templates', render: () => <Templates /> },
  { id: 'policy', key: 'policy', render: () => <PolicyForm /> },
];

// One tab at a time: a tab asks the API only once it is opened.
export function Messaging() {
  const { t } = useI18n();
  const [tab, setTab] = useState('stats');
  const active = TABS.find((x) => x.id === tab) ?? TABS[0];
  return (
    <section>
      <h2>{t('messaging')}</h2>
      <div className="tabs" role="tablist">
        {TABS.map((x) => (
          <button key={x.id} type="button" role="tab" aria-selected={x.id === tab} onClick={() => setTab(x.id)}>
            {t(x.key)}
          </button>
        ))}
      </div>
      <div role="tabpanel" aria-label={t(active.key)}>
        {active.render()}
      </div>
    </section>
  );
}
