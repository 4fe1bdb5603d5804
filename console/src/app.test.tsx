import { act, fireEvent, render, screen, within } from '@testing-library/react';
import { App } from './App';

// The gateway as the browser sees it: fetch answers by what the document asks.
function gateway(answer: (query: string, variables: any) => any) {
  const seen: { query: string; authorization?: string }[] = [];
  vi.stubGlobal('fetch', async (_url: string, init: RequestInit) => {
    const { query, variables } = JSON.parse(String(init.body));
    seen.push({ query, authorization: (init.headers as Record<string, string>).authorization });
    return new Response(JSON.stringify(answer(query, variables)));
  });
  return seen;
}

async function signIn(password = 'right password') {
  fireEvent.change(document.querySelector('input[name=email]')!, { target: { value: 'admin@demo.local' } });
  fireEvent.change(document.querySelector('input[name=password]')!, { target: { value: password } });
  await act(async () => fireEvent.submit(document.querySelector('form')!));
}

describe('App', () => {
  beforeEach(() => {
    window.sessionStorage.clear();
    window.localStorage.clear();
    window.location.hash = '';
  });
  afterEach(() => vi.unstubAllGlobals());

  it('signs in, opens the demo workspace in Chinese, switches to English and remembers it', async () => {
    const seen = gateway((query, variables) => {
      if (query.includes('login')) {
        return variables.password === 'right password'
          ? { data: { login: { token: 'tok-1', email: 'admin@demo.local', workspace: 'demo', role: 'admin' } } }
          : { errors: [{ message: 'wrong email or password', extensions: { code: 'UNAUTHENTICATED' } }] };
      }
      if (query.includes('journeySettings')) return { data: { journeySettings: { timezone: 'Asia/Shanghai' } } };
      return { errors: [{ message: 'not in this test', extensions: { code: 'INTERNAL' } }] };
    });
    render(<App graphqlUrl="http://gw/graphql" />);
    await signIn('wrong password');
    expect(screen.getByRole('alert')).toHaveTextContent('wrong email or password');

    await signIn();
    const nav = await screen.findByRole('navigation');
    expect(nav).toHaveTextContent('概览');
    expect(document.documentElement.lang).toBe('zh-CN');
    // The token from login goes on every later request, and only there.
    expect(seen.filter((r) => r.query.includes('login')).every((r) => r.authorization === undefined)).toBe(true);
    expect(seen.find((r) => r.query.includes('journeySettings'))?.authorization).toBe('Bearer tok-1');

    await act(async () => fireEvent.click(within(nav).getByRole('button', { name: 'English' })));
    expect(nav).toHaveTextContent('Overview');
    expect(window.localStorage.getItem('cdp.console.lang')).toBe('en');
  });

  it('goes back to sign-in when the token is refused', async () => {
    window.sessionStorage.setItem(
      'cdp.console.session',
      JSON.stringify({ token: 'expired', email: 'a@b.c', workspace: 'demo', role: 'admin' }),
    );
    gateway(() => ({ errors: [{ message: 'token expired', extensions: { code: 'UNAUTHENTICATED' } }] }));
    await act(async () => render(<App graphqlUrl="http://gw/graphql" />));
    await screen.findByRole('form');
    expect(screen.queryByRole('navigation')).toBeNull();
    expect(window.sessionStorage.getItem('cdp.console.session')).toBeNull();
  });
});
