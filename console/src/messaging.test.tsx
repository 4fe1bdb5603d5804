import { act, fireEvent, screen, waitFor, within } from '@testing-library/react';
import { ApiError } from './api';
import { Messaging } from './pages/Messaging';
import { MASK } from './pages/MessagingChannels';
import { RENDER_DEBOUNCE_MS } from './pages/MessagingTemplates';
import { renderPage } from './test-utils';

type Call = { query: string; variables: any };

function fakeClient(answer: (query: string, variables: any) => any) {
  const calls: Call[] = [];
  const client = vi.fn(async (query: string, variables: any = {}) => {
    calls.push({ query, variables });
    return answer(query, variables);
  });
  return { client: client as any, calls };
}

async function openTab(name: string) {
  await act(async () => fireEvent.click(screen.getByRole('tab', { name })));
}

describe('Messaging channels', () => {
  it('lists channels with secrets masked, never puts a secret in the page, and sends the mask back', async () => {
    const stored = { name: 'hook', type: 'webhook', config: { url: 'https://hooks.example.com/a', idempotent: false, api_key: MASK } };
    const { client, calls } = fakeClient((query, variables) => {
      if (query.includes('upsertChannel')) {
        const config = { ...variables.config, ...(variables.config.api_key ? { api_key: MASK } : {}) };
        return { upsertChannel: { name: variables.name, type: variables.type, config } };
      }
      return { channels: [stored] };
    });
    renderPage(<Messaging />, client);
    expect(calls).toHaveLength(0); // the stats tab asks nothing until asked
    await openTab('Channels');
    const row = screen.getByTestId('channel-list').querySelector('tr[data-channel=hook]')!;
    expect(row).toHaveTextContent(`api_key: ${MASK} (stored, not shown)`);

    // A new webhook with a secret: sent once, answered masked, never shown again.
    fireEvent.change(screen.getByLabelText('Name'), { target: { value: 'orders-hook' } });
    fireEvent.change(screen.getByLabelText('url *'), { target: { value: 'https://hooks.example.com/b' } });
    fireEvent.change(screen.getByLabelText('api_key'), { target: { value: 'wh-secret-1' } });
    await act(async () => fireEvent.submit(screen.getByRole('form', { name: 'Channel settings' })));
    const created = calls.filter((c) => c.query.includes('upsertChannel'));
    expect(created.map((c) => c.variables)).toEqual([
      { name: 'orders-hook', type: 'webhook', config: { url: 'https://hooks.example.com/b', api_key: 'wh-secret-1' } },
    ]);
    expect(screen.getByRole('status')).toHaveTextContent('Saved: orders-hook');
    expect(document.body.innerHTML).not.toContain('wh-secret-1');
    expect(screen.getByLabelText('api_key')).toHaveValue('');
    expect(screen.getByLabelText('api_key')).toHaveAttribute('placeholder', expect.stringContaining('stored secret is kept'));

    // Editing the listed one: its secret is not typed, so the mask goes back and the API keeps it.
    await act(async () => fireEvent.click(within(row as HTMLElement).getByRole('button', { name: 'Edit' })));
    expect(screen.getByLabelText('api_key')).toHaveValue('');
    fireEvent.click(screen.getByLabelText('idempotent'));
    // Typed then cleared: still the mask, not an empty secret.
    fireEvent.change(screen.getByLabelText('api_key'), { target: { value: 'x' } });
    fireEvent.change(screen.getByLabelText('api_key'), { target: { value: '' } });
    await act(async () => fireEvent.submit(screen.getByRole('form', { name: 'Channel settings' })));
    const again = calls.filter((c) => c.query.includes('upsertChannel')).at(-1)!;
    expect(again.variables).toEqual({
      name: 'hook',
      type: 'webhook',
      config: { url: 'https://hooks.example.com/a', idempotent: true, api_key: MASK },
    });
  });

  it("shows the API's refusal with the setting it names", async () => {
    const { client } = fakeClient((query) => {
      if (query.includes('upsertChannel')) {
        throw new ApiError({ message: 'config.url must be an http:// or https:// URL with a host', extensions: { code: 'BAD_USER_INPUT', field: 'config.url' } });
      }
      return { channels: [] };
    });
    renderPage(<Messaging />, client, { lang: 'zh' });
    await openTab('渠道');
    fireEvent.change(screen.getByLabelText('名称'), { target: { value: 'bad' } });
    fireEvent.change(screen.getByLabelText('url *'), { target: { value: 'ftp://x' } });
    await act(async () => fireEvent.submit(screen.getByRole('form', { name: '渠道配置' })));
    expect(screen.getByRole('alert')).toHaveTextContent('config.url: config.url must be');
  });
});

describe('Messaging templates', () => {
  beforeEach(() => vi.useFakeTimers({ shouldAdvanceTime: true }));
  afterEach(() => vi.useRealTimers());

  it('previews the template for a chosen person once typing pauses, the latest text only', async () => {
    const { client, calls } = fakeClient((query, variables) => {
      if (query.includes('templates')) return { templates: [] };
      if (query.includes('person(')) return { person: variables.value === 'u00007' ? { id: 'p7' } : null };
      if (query.includes('renderTemplate')) {
        const body = variables.content.body.replace('{{ traits.name }}', '顾客7');
        return { renderTemplate: { ...variables.content, body } };
      }
      if (query.includes('createTemplate')) return { createTemplate: { id: 't1', name: variables.input.name } };
      throw new Error(`unexpected ${query}`);
    });
    renderPage(<Messaging />, client);
    await openTab('Templates');
    fireEvent.change(screen.getByLabelText('Preview person identifier'), { target: { value: 'nobody' } });
    await act(async () => vi.advanceTimersByTime(RENDER_DEBOUNCE_MS + 10));
    expect(await screen.findByText('No person with this identifier')).toBeInTheDocument();
    fireEvent.change(screen.getByLabelText('Preview person identifier'), { target: { value: 'u00007' } });
    await act(async () => vi.advanceTimersByTime(RENDER_DEBOUNCE_MS + 10));
    expect(calls.filter((c) => c.query.includes('person(')).map((c) => c.variables)).toEqual([
      { type: 'user_id', value: 'nobody' },
      { type: 'user_id', value: 'u00007' },
    ]);

    const body = screen.getByLabelText('Body');
    for (const text of ['Hi', 'Hi {{', 'Hi {{ traits.name }}']) {
      fireEvent.change(body, { target: { value: text } });
      await act(async () => vi.advanceTimersByTime(50));
    }
    await act(async () => vi.advanceTimersByTime(RENDER_DEBOUNCE_MS));
    const renders = calls.filter((c) => c.query.includes('renderTemplate'));
    expect(renders.map((c) => [c.variables.personId, c.variables.content.body])).toEqual([['p7', 'Hi {{ traits.name }}']]);
    await waitFor(() => expect(screen.getByTestId('rendered')).toHaveTextContent('Hi 顾客7'));

    fireEvent.change(screen.getByLabelText('Name'), { target: { value: 'welcome' } });
    await act(async () => fireEvent.submit(screen.getByRole('form', { name: 'Template content' })));
    const created = calls.find((c) => c.query.includes('createTemplate'))!;
    expect(created.variables.input).toEqual({
      name: 'welcome',
      channel: 'push',
      content: { subject: '', title: '', body: 'Hi {{ traits.name }}', deepLink: '' },
    });
  });

  it('drops a slow render of older text and shows a render error', async () => {
    const pending: Record<string, (v: any) => void> = {};
    const client = vi.fn((query: string, variables: any = {}) => {
      if (query.includes('templates')) return Promise.resolve({ templates: [] });
      if (query.includes('person(')) return Promise.resolve({ person: { id: 'p1' } });
      if (variables.content.body === 'bad {{ traits.nope }}') {
        return Promise.reject(new ApiError({ message: "'traits.nope' is undefined", extensions: { field: 'content.body' } }));
      }
      return new Promise((resolve) => (pending[variables.content.body] = resolve));
    });
    renderPage(<Messaging />, client as any);
    await openTab('Templates');
    fireEvent.change(screen.getByLabelText('Preview person identifier'), { target: { value: 'u1' } });
    await act(async () => vi.advanceTimersByTime(RENDER_DEBOUNCE_MS + 10));
    const body = screen.getByLabelText('Body');
    fireEvent.change(body, { target: { value: 'old' } });
    await act(async () => vi.advanceTimersByTime(RENDER_DEBOUNCE_MS + 10));
    fireEvent.change(body, { target: { value: 'new' } });
    await act(async () => vi.advanceTimersByTime(RENDER_DEBOUNCE_MS + 10));
    await act(async () => pending.new({ renderTemplate: { subject: '', title: '', body: 'NEW', deepLink: '' } }));
    await act(async () => pending.old({ renderTemplate: { subject: '', title: '', body: 'OLD', deepLink: '' } }));
    expect(screen.getByTestId('rendered')).toHaveTextContent('NEW');
    fireEvent.change(body, { target: { value: 'bad {{ traits.nope }}' } });
    await act(async () => vi.advanceTimersByTime(RENDER_DEBOUNCE_MS + 10));
    expect(screen.getByRole('alert')).toHaveTextContent("content.body: 'traits.nope' is undefined");
  });

  it('edits a listed template and deletes one only after confirming', async () => {
    const tpl = { id: 't1', name: 'welcome', channel: 'email', updatedAt: '2026-12-04T16:30:00Z', content: { subject: 'S', title: '', body: 'B', deepLink: '', data: { sku: 'A1' } } };
    const { client, calls } = fakeClient((query) => {
      if (query.includes('updateTemplate')) return { updateTemplate: { id: 't1', name: 'welcome 2' } };
      if (query.includes('deleteTemplate')) return { deleteTemplate: true };
      return { templates: [tpl] };
    });
    renderPage(<Messaging />, client);
    await openTab('Templates');
    const list = screen.getByTestId('template-list');
    // The workspace's clock (Shanghai), not the browser's.
    expect(list).toHaveTextContent('05/12/2026, 00:30');
    await act(async () => fireEvent.click(within(list).getByRole('button', { name: 'Edit' })));
    expect(screen.getByLabelText('Subject')).toHaveValue('S');
    fireEvent.change(screen.getByLabelText('Name'), { target: { value: 'welcome 2' } });
    await act(async () => fireEvent.submit(screen.getByRole('form', { name: 'Template content' })));
    expect(calls.find((c) => c.query.includes('updateTemplate'))!.variables).toEqual({
      id: 't1',
      // data is not edited here, and not dropped either.
      input: { name: 'welcome 2', channel: 'email', content: { subject: 'S', title: '', body: 'B', deepLink: '', data: { sku: 'A1' } } },
    });

    fireEvent.click(within(list).getByRole('button', { name: 'Delete' }));
    expect(screen.getByRole('dialog')).toHaveTextContent('Delete the template "welcome"?');
    fireEvent.click(screen.getByRole('button', { name: 'Cancel' }));
    expect(calls.some((c) => c.query.includes('deleteTemplate'))).toBe(false);
    fireEvent.click(within(list).getByRole('button', { name: 'Delete' }));
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Confirm' })));
    expect(calls.filter((c) => c.query.includes('deleteTemplate')).map((c) => c.variables)).toEqual([{ id: 't1' }]);
  });
});

describe('Messaging caps and quiet hours', () => {
  it('saves the policy and shows a refused value at its field', async () => {
    const policy = { quietStart: '22:00', quietEnd: '08:00', defaultTimezone: 'Asia/Shanghai', conversionEvent: 'Order Completed', attributionHours: 72, caps: [] };
    const { client, calls } = fakeClient((query, variables) => {
      if (query.includes('setMessagingPolicy')) {
        if (!/^([01]\d|2[0-3]):[0-5]\d$/.test(variables.input.quietStart)) {
          throw new ApiError({ message: `quiet_start must be HH:MM (24-hour), got '${variables.input.quietStart}'`, extensions: { code: 'BAD_USER_INPUT', field: 'quiet_start' } });
        }
        if (variables.input.caps.some((c: any) => c.days > 31)) {
          throw new ApiError({ message: 'cap days must be between 1 and 31', extensions: { code: 'BAD_USER_INPUT', field: 'caps[0].days' } });
        }
        return { setMessagingPolicy: variables.input };
      }
      return { messagingPolicy: policy };
    });
    renderPage(<Messaging />, client, { lang: 'zh' });
    await openTab('频控与免打扰');
    const start = await screen.findByLabelText('免打扰开始 (HH:MM)');
    fireEvent.change(start, { target: { value: '25:00' } });
    await act(async () => fireEvent.submit(screen.getByRole('form', { name: '频控与免打扰' })));
    expect(start).toHaveAttribute('aria-invalid', 'true');
    expect(screen.getByTestId('error-quietStart')).toHaveTextContent("got '25:00'");
    expect(screen.getByRole('alert')).toHaveTextContent('quiet_start: quiet_start must be HH:MM');

    fireEvent.change(start, { target: { value: '21:30' } });
    fireEvent.click(screen.getByRole('button', { name: '添加上限' }));
    fireEvent.change(screen.getByLabelText('天数 1'), { target: { value: '40' } });
    await act(async () => fireEvent.submit(screen.getByRole('form', { name: '频控与免打扰' })));
    expect(start).not.toHaveAttribute('aria-invalid');
    expect(screen.getByLabelText('天数 1')).toHaveAttribute('aria-invalid', 'true');

    fireEvent.change(screen.getByLabelText('天数 1'), { target: { value: '7' } });
    fireEvent.change(screen.getByLabelText('最多条数 1'), { target: { value: '2' } });
    await act(async () => fireEvent.submit(screen.getByRole('form', { name: '频控与免打扰' })));
    expect(screen.getByRole('status')).toHaveTextContent('已保存');
    expect(screen.queryByRole('alert')).toBeNull();
    expect(calls.filter((c) => c.query.includes('setMessagingPolicy')).at(-1)!.variables.input).toEqual({
      ...policy,
      quietStart: '21:30',
      caps: [{ channel: '', category: 'marketing', limit: 2, days: 7 }],
    });
  });
});
