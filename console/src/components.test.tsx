import { act, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { ApiError } from './api';
import { ConfirmButton } from './components/ConfirmButton';
import { ErrorBox } from './components/ErrorBox';
import { Messaging } from './pages/Messaging';
import { People } from './pages/People';
import { PREVIEW_DEBOUNCE_MS, Segments } from './pages/Segments';
import { renderPage } from './test-utils';

// ECharts needs a canvas jsdom does not have; the pages under test here draw none.

function fakeClient(answer: (query: string, variables: any) => any) {
  const calls: { query: string; variables: any }[] = [];
  const client = vi.fn(async (query: string, variables: any = {}) => {
    calls.push({ query, variables });
    return answer(query, variables);
  });
  return { client: client as any, calls };
}

describe('ConfirmButton', () => {
  it('runs the action only once confirmed', async () => {
    const action = vi.fn();
    render(<ConfirmButton label="Delete" question="Sure?" onConfirm={action} />);
    fireEvent.click(screen.getByRole('button', { name: 'Delete' }));
    expect(screen.getByRole('dialog')).toHaveTextContent('Sure?');
    fireEvent.click(screen.getByRole('button', { name: '取消' }));
    expect(action).not.toHaveBeenCalled();
    expect(screen.queryByRole('dialog')).toBeNull();
    fireEvent.click(screen.getByRole('button', { name: 'Delete' }));
    await act(async () => fireEvent.click(screen.getByRole('button', { name: '确定' })));
    expect(action).toHaveBeenCalledOnce();
  });
});

describe('ErrorBox', () => {
  it("shows the API's message and the field it names", () => {
    render(<ErrorBox error={new ApiError({ message: 'expected a value', extensions: { code: 'INVALID_INPUT', field: 'rule' } })} />);
    expect(screen.getByRole('alert')).toHaveTextContent('rule: expected a value (INVALID_INPUT)');
  });
});

describe('Segments rule builder', () => {
  beforeEach(() => vi.useFakeTimers({ shouldAdvanceTime: true }));
  afterEach(() => vi.useRealTimers());

  it('counts the rule once typing pauses, not on every keystroke', async () => {
    const { client, calls } = fakeClient((query, variables) =>
      query.includes('previewSegment')
        ? { previewSegment: { count: variables.rule.length, elapsedMs: 1.5 } }
        : { segments: [] },
    );
    renderPage(<Segments />, client);
    const box = screen.getByRole('textbox', { name: 'Rule' });
    for (const text of ['t', 'tr', 'traits.vip = true']) {
      fireEvent.change(box, { target: { value: text } });
      await act(async () => vi.advanceTimersByTime(50));
    }
    await act(async () => vi.advanceTimersByTime(PREVIEW_DEBOUNCE_MS));
    const previews = calls.filter((c) => c.query.includes('previewSegment'));
    expect(previews.map((c) => c.variables.rule)).toEqual(['traits.vip = true']);
    await waitFor(() => expect(screen.getByTestId('preview-count')).toHaveTextContent('17'));
    expect(screen.getByTestId('preview-count')).toHaveAttribute('data-rule', 'traits.vip = true');
  });

  it('drops a slow answer to an older rule', async () => {
    const pending: Record<string, (v: any) => void> = {};
    const client = vi.fn((query: string, variables: any = {}) =>
      query.includes('previewSegment')
        ? new Promise((resolve) => (pending[variables.rule] = resolve))
        : Promise.resolve({ segments: [] }),
    );
    renderPage(<Segments />, client as any);
    const box = screen.getByRole('textbox', { name: 'Rule' });
    fireEvent.change(box, { target: { value: 'traits.vip = true' } });
    await act(async () => vi.advanceTimersByTime(PREVIEW_DEBOUNCE_MS + 10));
    fireEvent.change(box, { target: { value: 'traits.vip = false' } });
    await act(async () => vi.advanceTimersByTime(PREVIEW_DEBOUNCE_MS + 10));
    await act(async () => pending['traits.vip = false']({ previewSegment: { count: 5, elapsedMs: 1 } }));
    await act(async () => pending['traits.vip = true']({ previewSegment: { count: 99, elapsedMs: 1 } }));
    expect(screen.getByTestId('preview-count')).toHaveTextContent('5');
  });

  it('shows no count once the rule is cleared, even when an older answer arrives late', async () => {
    const pending: ((v: any) => void)[] = [];
    const client = vi.fn((query: string) =>
      query.includes('previewSegment') ? new Promise((resolve) => pending.push(resolve)) : Promise.resolve({ segments: [] }),
    );
    renderPage(<Segments />, client as any);
    const box = screen.getByRole('textbox', { name: 'Rule' });
    fireEvent.change(box, { target: { value: 'traits.vip = true' } });
    await act(async () => vi.advanceTimersByTime(PREVIEW_DEBOUNCE_MS + 10));
    fireEvent.change(box, { target: { value: '' } });
    await act(async () => vi.advanceTimersByTime(PREVIEW_DEBOUNCE_MS + 10));
    await act(async () => pending[0]({ previewSegment: { count: 42, elapsedMs: 1 } }));
    expect(screen.getByTestId('preview-count')).toHaveTextContent('—');
    expect(screen.queryByText('Counting…')).toBeNull();
  });

  it('shows the message of a rule the API refuses', async () => {
    const { client } = fakeClient((query) => {
      if (query.includes('previewSegment')) throw new ApiError({ message: "unknown field 'traits.nope'", extensions: { field: 'rule' } });
      return { segments: [] };
    });
    renderPage(<Segments />, client);
    fireEvent.change(screen.getByRole('textbox', { name: 'Rule' }), { target: { value: 'traits.nope = 1' } });
    await act(async () => vi.advanceTimersByTime(PREVIEW_DEBOUNCE_MS + 10));
    await waitFor(() => expect(screen.getByRole('alert')).toHaveTextContent("rule: unknown field 'traits.nope'"));
  });

  it('builds the text form from the visual conditions', async () => {
    const { client } = fakeClient(() => ({ segments: [] }));
    await act(async () => renderPage(<Segments />, client));
    fireEvent.change(screen.getByRole('textbox', { name: 'value 1' }), { target: { value: 'false' } });
    expect(screen.getByRole('textbox', { name: 'Rule' })).toHaveValue('traits.vip = false');
  });
});

describe('People', () => {
  it("shows a person's 360 and asks before forgetting", async () => {
    const { client, calls } = fakeClient((query) =>
      query.includes('forgetPerson')
        ? { forgetPerson: { personId: 'p1', identifiersRemoved: 2 } }
        : {
            person: {
              id: 'p1',
              uid: 7,
              identities: [{ type: 'user_id', value: 'u00001' }],
              traits: { name: '顾客000001', city: '上海' },
              tags: [{ name: 'vip', value: '', source: 'own', confidence: 1, expiresAt: null }],
              computed: { orderCount: 3, lastOrderAt: '2026-12-04T20:30:00Z' },
              segments: [{ id: 's1', name: 'VIP women 25-34' }],
              journeys: [],
              messages: [{ id: 'm1', channel: 'push', status: 'delivered', createdAt: null, content: { title: '618', subject: '' } }],
              events: { nodes: [] },
              mergeHistory: [],
            },
          },
    );
    renderPage(<People />, client);
    fireEvent.change(screen.getByRole('textbox', { name: 'Identifier' }), { target: { value: 'u00001' } });
    fireEvent.click(screen.getByRole('button', { name: 'Search' }));
    const person = await screen.findByTestId('person');
    expect(person).toHaveTextContent('顾客000001');
    expect(person).toHaveTextContent('VIP women 25-34');
    expect(person).toHaveTextContent('delivered');
    // The workspace's clock (Shanghai), not the browser's.
    expect(person).toHaveTextContent('05/12/2026, 04:30');
    fireEvent.click(screen.getByRole('button', { name: 'Forget this person' }));
    expect(calls.some((c) => c.query.includes('forgetPerson'))).toBe(false);
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Confirm' })));
    expect(calls.filter((c) => c.query.includes('forgetPerson'))).toHaveLength(1);
    expect(await screen.findByRole('status')).toHaveTextContent('2 identifiers removed');
  });
});

describe('Messaging', () => {
  it('shows the four rates of a campaign or a template as percentages', async () => {
    const { client, calls } = fakeClient(() => ({
      messageStats: {
        sent: 200, delivered: 180, opened: 90, clicked: 27, converted: 10, failed: 20, revenue: 1234.5,
        deliveryRate: 0.9, openRate: 0.5, clickRate: 0.15, conversionRate: 0.05,
      },
    }));
    renderPage(<Messaging />, client, { lang: 'zh' });
    expect(calls).toHaveLength(0); // nothing to count before a campaign or template is named
    fireEvent.change(screen.getByRole('textbox'), { target: { value: ' cmp_618 ' } });
    await act(async () => fireEvent.submit(screen.getByRole('textbox').closest('form')!));
    expect(await screen.findByTestId('rate-deliveryRate')).toHaveTextContent('送达率90.0%');
    expect(screen.getByTestId('rate-openRate')).toHaveTextContent('打开率50.0%');
    expect(screen.getByTestId('rate-clickRate')).toHaveTextContent('点击率15.0%');
    expect(screen.getByTestId('rate-conversionRate')).toHaveTextContent('转化率5.0%');
    fireEvent.change(screen.getByRole('combobox'), { target: { value: 'templateId' } });
    fireEvent.change(screen.getByRole('textbox'), { target: { value: 'tpl_1' } });
    await act(async () => fireEvent.submit(screen.getByRole('textbox').closest('form')!));
    expect(calls.map((c) => c.variables)).toEqual([{ campaignId: 'cmp_618' }, { templateId: 'tpl_1' }]);
  });
});
