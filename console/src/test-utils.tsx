import { render } from '@testing-library/react';
import type { Client } from './api';
import { I18nContext, translate, type Key, type Lang } from './i18n';
import { WorkspaceContext } from './session';

// A page rendered signed in, with `client` standing in for the gateway.
export function renderPage(
  ui: React.ReactNode,
  client: Client,
  { lang = 'en' as Lang, timeZone = 'Asia/Shanghai', role = 'admin' } = {},
) {
  const i18n = { lang, t: (key: Key, vars?: Record<string, string | number>) => translate(lang, key, vars) };
  const session = { token: 't', email: 'op@x.test', workspace: 'w', role };
  return render(
    <I18nContext.Provider value={i18n}>
      <WorkspaceContext.Provider value={{ client, session, timeZone }}>{ui}</WorkspaceContext.Provider>
    </I18nContext.Provider>,
  );
}
