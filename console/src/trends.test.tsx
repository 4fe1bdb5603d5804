import { act, fireEvent, screen } from '@testing-library/react';
import { ApiError } from './api';
import { Trends, lineName, seriesInput } from './pages/Trends';
import { renderPage } from './test-utils';

// ECharts needs a canvas jsdom does not have: the chart stands as its labelled box.
vi.mock('./components/Chart', () => ({ Chart: ({ label }: { label: string }) => <div role="img" aria-label={label} /> }));

function fakeClient(answer: (query: string, variables: any) => any) {
  const calls: { query: string; variables: any }[] = [];
  const client = vi.fn(async (query: string, variables: any = {}) => {
    calls.push({ query, variables });
    return answer(query, variables);
  });
  return { client: client as any, calls };
}

const RESULT = {
  trends: {
    buckets: ['2026-11-30', '2026-12-07'],
    series: [
      { event: 'Order Completed', math: 'total', breakdownValue: null, values: [3, 5], total: 8 },
      { event: 'Product Viewed', math: 'persons', breakdownValue: null, values: [10, 20], total: 25 },
      { event: 'A / B', math: 'formula', breakdownValue: null, values: [0.3, 0.25], total: null },
    ],
  },
};

describe('Trends', () => {
  it('asks for every series, the formula and the interval, and saves the query as a dashboard tile', async () => {
    const { client, calls } = fakeClient((query) => (query.includes('createDashboard') ? { createDashboard: { id: 'd1' } } : RESULT));
    renderPage(<Trends />, client);
    fireEvent.click(screen.getByRole('button', { name: 'Add a series' }));
    fireEvent.change(screen.getByRole('textbox', { name: 'Event B' }), { target: { value: ' Product Viewed ' } });
    fireEvent.change(screen.getByRole('combobox', { name: 'Measure B' }), { target: { value: 'persons' } });
    fireEvent.change(screen.getByRole('textbox', { name: 'Formula' }), { target: { value: 'A / B' } });
    fireEvent.change(screen.getByRole('combobox', { name: 'Interval' }), { target: { value: 'week' } });
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Run' })));
    const input = calls[0].variables.input;
    expect(input.series).toEqual([
      { event: 'Order Completed', math: 'total' },
      { event: 'Product Viewed', math: 'persons' },
    ]);
    expect(input).toMatchObject({ interval: 'week', formulas: ['A / B'], timezone: 'Asia/Shanghai' });
    const totals = screen.getByTestId('trend-totals');
    expect(totals).toHaveTextContent('A · Order Completed · total8');
    expect(totals).toHaveTextContent('B · Product Viewed · persons25');
    expect(totals).toHaveTextContent('A / B—');

    fireEvent.change(screen.getByRole('textbox', { name: 'Tile name' }), { target: { value: 'Orders per viewer' } });
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Save as a dashboard' })));
    const saved = calls.find((c) => c.query.includes('createDashboard'))!;
    expect(saved.variables).toEqual({
      name: 'Orders per viewer',
      tiles: [{ kind: 'trends', title: 'Orders per viewer', query: input }],
    });
    expect(screen.getByRole('status')).toHaveTextContent('Orders per viewer');
  });

  it('shows the API refusal with its field', async () => {
    const { client } = fakeClient(() => {
      throw new ApiError({ message: 'formula uses B, and there is 1 series', extensions: { code: 'BAD_USER_INPUT', field: 'formulas[0]' } });
    });
    renderPage(<Trends />, client);
    fireEvent.change(screen.getByRole('textbox', { name: 'Formula' }), { target: { value: 'B / A' } });
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Run' })));
    expect(screen.getByRole('alert')).toHaveTextContent('formula uses B');
    expect(screen.getByRole('alert')).toHaveTextContent('formulas[0]');
  });
});

describe('trend helpers', () => {
  it('send a property only with sum and avg, and drop empty series', () => {
    expect(
      seriesInput([
        { event: 'Order Completed', math: 'sum', property: ' revenue ' },
        { event: 'X', math: 'total', property: 'ignored' },
        { event: ' ', math: 'total', property: '' },
      ]),
    ).toEqual([{ event: 'Order Completed', math: 'sum', property: 'revenue' }, { event: 'X', math: 'total' }]);
  });

  it('name broken-down lines with their value and formulas by their text', () => {
    expect(lineName({ event: 'Order Completed', math: 'total', breakdownValue: 'ios', values: [], total: 1 }, 0, 1)).toBe(
      'A · Order Completed · total · ios',
    );
    expect(lineName({ event: 'A / B', math: 'formula', breakdownValue: null, values: [], total: null }, 2, 2)).toBe('A / B');
  });
});
