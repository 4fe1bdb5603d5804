import { lazy, Suspense, useCallback, useEffect, useMemo, useState } from 'react';
import { makeClient } from './api';
import { I18nContext, initialLang, translate, type Key, type Lang } from './i18n';
import { Login } from './pages/Login';
import { saveSession, savedSession, WorkspaceContext, type Session } from './session';

// Pages load on first visit: the sign-in page needs neither ECharts nor the other pages.
const Overview = lazy(() => import('./pages/Overview').then((m) => ({ default: m.Overview })));
const People = lazy(() => import('./pages/People').then((m) => ({ default: m.People })));
const Segments = lazy(() => import('./pages/Segments').then((m) => ({ default: m.Segments })));
const Trends = lazy(() => import('./pages/Trends').then((m) => ({ default: m.Trends })));
const Funnels = lazy(() => import('./pages/Funnels').then((m) => ({ default: m.Funnels })));
const Retention = lazy(() => import('./pages/Retention').then((m) => ({ default: m.Retention })));
const Paths = lazy(() => import('./pages/Paths').then((m) => ({ default: m.Paths })));
const Dashboards = lazy(() => import('./pages/Dashboards').then((m) => ({ default: m.Dashboards })));
const Messaging = lazy(() => import('./pages/Messaging').then((m) => ({ default: m.Messaging })));
const Journeys = lazy(() => import('./pages/Journeys').then((m) => ({ default: m.Journeys })));
const Campaigns = lazy(() => import('./pages/Campaigns').then((m) => ({ default: m.Campaigns })));
const Tags = lazy(() => import('./pages/Tags').then((m) => ({ default: m.Tags })));
const Settings = lazy(() => import('./pages/Settings').then((m) => ({ default: m.Settings })));

const PAGES: { path: string; key: Key; render: () => React.ReactNode }[] = [
  { path: 'overview', key: 'overview', render: () => <Overview /> },
  { path: 'people', key: 'people', render: () => <People /> },
  { path: 'segments', key: 'segments', render: () => <Segments /> },
  { path: 'trends', key: 'trends', render: () => <Trends /> },
  { path: 'funnels', key: 'funnels', render: () => <Funnels /> },
  { path: 'retention', key: 'retention', render: () => <Retention /> },
  { path: 'paths', key: 'paths', render: () => <Paths /> },
  { path: 'dashboards', key: 'dashboards', render: () => <Dashboards /> },
  { path: 'journeys', key: 'journeys', render: () => <Journeys /> },
  { path: 'campaigns', key: 'campaigns', render: () => <Campaigns /> },
  { path: 'messaging', key: 'messaging', render: () => <Messaging /> },
  { path: 'tags', key: 'tags', render: () => <Tags /> },
  { path: 'settings', key: 'settings', render: () => <Settings /> },
];

const LANG_KEY = 'cdp.console.lang';
const FALLBACK_ZONE = 'UTC';

function currentPage(): string {
  const path = window.location.hash.replace(/^#\/?/, '');
  return PAGES.some((p) => p.path === path) ? path : 'overview';
}

export function App({ graphqlUrl }: { graphqlUrl: string }) {
  const [session, setSession] = useState<Session | null>(savedSession);
  const [stored, setStored] = useState<string | null>(() => window.localStorage.getItem(LANG_KEY));
  const lang: Lang = initialLang(session?.workspace ?? null, stored, navigator.language || '');
  const [page, setPage] = useState(currentPage);
  const [timeZone, setTimeZone] = useState<string | null>(null);

  const signOut = useCallback(() => {
    saveSession(null);
    setSession(null);
    setTimeZone(null);
  }, []);

  const client = useMemo(
    () => makeClient(graphqlUrl, () => session?.token ?? null, signOut),
    [graphqlUrl, session, signOut],
  );

  useEffect(() => {
    const onHash = () => setPage(currentPage());
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);

  // The workspace's time zone (journey settings): every date on every page is shown and asked in it.
  useEffect(() => {
    if (!session) return;
    client<{ journeySettings: { timezone: string } }>('{ journeySettings { timezone } }')
      .then((d) => setTimeZone(d.journeySettings.timezone || FALLBACK_ZONE))
      .catch(() => setTimeZone(FALLBACK_ZONE));
  }, [client, session]);

  useEffect(() => {
    document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
  }, [lang]);

  const i18n = useMemo(() => ({ lang, t: (key: Key, vars?: Record<string, string | number>) => translate(lang, key, vars) }), [lang]);
  const toggleLang = () => {
    const next = lang === 'zh' ? 'en' : 'zh';
    window.localStorage.setItem(LANG_KEY, next);
    setStored(next);
  };

  const langButton = (
    <button type="button" className="lang" onClick={toggleLang}>
      {i18n.t('language')}
    </button>
  );

  if (!session) {
    return (
      <I18nContext.Provider value={i18n}>
        <div className="login-page">
          {langButton}
          <Login
            client={client}
            onSignedIn={(s) => {
              saveSession(s);
              setSession(s);
              window.location.hash = '#/overview';
            }}
          />
        </div>
      </I18nContext.Provider>
    );
  }

  const active = PAGES.find((p) => p.path === page) ?? PAGES[0];
  return (
    <I18nContext.Provider value={i18n}>
      <div className="shell">
        <nav>
          <strong>{i18n.t('appTitle')}</strong>
          {PAGES.map((p) => (
            <a key={p.path} href={`#/${p.path}`} className={p.path === active.path ? 'active' : ''}>
              {i18n.t(p.key)}
            </a>
          ))}
          <span className="spacer" />
          <span className="muted">
            {session.email} · {session.workspace} · {session.role}
          </span>
          {langButton}
          <button type="button" onClick={signOut}>
            {i18n.t('signOut')}
          </button>
        </nav>
        <main>
          {timeZone ? (
            <WorkspaceContext.Provider value={{ client, session, timeZone }}>
              <Suspense fallback={<p>{i18n.t('loading')}</p>}>{active.render()}</Suspense>
            </WorkspaceContext.Provider>
          ) : (
            <p>{i18n.t('loading')}</p>
          )}
        </main>
      </div>
    </I18nContext.Provider>
  );
}
