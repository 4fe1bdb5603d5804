import { act, fireEvent, screen } from '@testing-library/react';
import { BREAKDOWN_DEBOUNCE_MS, Overview } from './pages/Overview';
import { renderPage } from './test-utils';

// The chart's series names and data, readable in the DOM.
vi.mock('./components/Chart', () => ({
  Chart: ({ label, option }: { label: string; option: any }) => (
    <div role="img" aria-label={label} data-series={JSON.stringify(option.series.map((s: any) => [s.name, s.data]))} />
  ),
}));

const line = (event: string, math: string, breakdownValue: string | null, values: number[], total: number | null) => ({
  event, math, breakdownValue, values, total,
});

describe('Overview breakdown', () => {
  beforeEach(() => vi.useFakeTimers({ shouldAdvanceTime: true }));
  afterEach(() => vi.useRealTimers());

  it('draws a line per value once the property name settles, the headline staying the whole', async () => {
    const asked: any[] = [];
    const client = vi.fn(async (query: string, variables: any) => {
      if (!query.includes('query Overview')) throw new Error('not in this test');
      asked.push(variables);
      const now = { buckets: ['2026-12-03', '2026-12-04'], series: [{ values: [5, 6], total: null }, { values: [2, 3], total: 5 }, { values: [100, 150], total: 250 }] };
      const before = { buckets: [], series: [{ total: null }, { total: 4 }, { total: 200 }] };
      if (!variables.split) return { now, before };
      return {
        now,
        before,
        split: {
          buckets: now.buckets,
          series: [
            line('Product Viewed', 'persons', 'ios', [3, 4], null),
            line('Product Viewed', 'persons', 'android', [2, 3], null),
            line('Order Completed', 'total', 'ios', [2, 1], 3),
            line('Order Completed', 'total', '$other', [0, 2], 2),
            line('Order Completed', 'sum', 'ios', [100, 50], 150),
            line('Order Completed', 'sum', '$other', [0, 100], 100),
          ],
        },
      };
    });
    renderPage(<Overview />, client as any);
    await act(async () => vi.advanceTimersByTime(BREAKDOWN_DEBOUNCE_MS + 10));
    expect(asked).toHaveLength(1);
    expect(screen.getByTestId('metric-orders')).toHaveTextContent('5');

    fireEvent.change(screen.getByRole('combobox', { name: 'Breakdown' }), { target: { value: 'property' } });
    const name = screen.getByRole('textbox', { name: 'Property name' });
    for (const text of ['o', 'os']) {
      fireEvent.change(name, { target: { value: text } });
      await act(async () => vi.advanceTimersByTime(50));
    }
    await act(async () => vi.advanceTimersByTime(BREAKDOWN_DEBOUNCE_MS + 10));
    // One request for the settled name, not one per keystroke.
    expect(asked.map((v) => v.split?.breakdown ?? null)).toEqual([null, { property: 'os' }]);
    expect(asked[1].split.dateFrom).toBe(asked[1].now.dateFrom);

    expect(screen.getByTestId('metric-orders')).toHaveTextContent('5'); // the headline: the whole
    expect(screen.getByTestId('split-orders')).toHaveTextContent('ios 3 · Other 2');
    expect(screen.getByTestId('split-gmv')).toHaveTextContent('ios 150 · Other 100');
    expect(screen.queryByTestId('split-activeShoppers')).toBeNull(); // persons per value do not add up
    const shoppers = JSON.parse(screen.getByRole('img', { name: 'Active shoppers' }).getAttribute('data-series')!);
    expect(shoppers).toEqual([['ios', [3, 4]], ['android', [2, 3]]]);

    fireEvent.change(screen.getByRole('combobox', { name: 'Breakdown' }), { target: { value: 'none' } });
    await act(async () => vi.advanceTimersByTime(BREAKDOWN_DEBOUNCE_MS + 10));
    expect(asked.at(-1).split).toBeUndefined();
    expect(screen.queryByTestId('split-orders')).toBeNull();
  });
});
