import { createContext, useContext } from 'react';
import type { Client } from './api';

export type Session = { token: string; email: string; workspace: string | null; role: string | null };

export type Workspace = {
  client: Client;
  session: Session;
  timeZone: string;
};

export const WorkspaceContext = createContext<Workspace | null>(null);

export function useWorkspace(): Workspace {
  const found = useContext(WorkspaceContext);
  if (!found) throw new Error('useWorkspace outside a signed-in console');
  return found;
}

const KEY = 'cdp.console.session';

// The token lives for the tab (sessionStorage): closing the tab signs out.
export function savedSession(): Session | null {
  try {
    const raw = window.sessionStorage.getItem(KEY);
    return raw ? (JSON.parse(raw) as Session) : null;
  } catch {
    return null;
  }
}

export function saveSession(session: Session | null): void {
  if (session) window.sessionStorage.setItem(KEY, JSON.stringify(session));
  else window.sessionStorage.removeItem(KEY);
}
