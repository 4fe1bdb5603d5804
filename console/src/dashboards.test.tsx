import { act, fireEvent, screen } from '@testing-library/react';
import { ApiError } from './api';
import { Aarrr } from './pages/Aarrr';
import { Dashboards } from './pages/Dashboards';
import { renderPage } from './test-utils';
import { tileHeadline, tileOption } from './tiles';

vi.mock('./components/Chart', () => ({ Chart: ({ label }: { label: string }) => <div role="img" aria-label={label} /> }));

const period = (n: number) => ({
  newPersons: n, activated: n / 2, activationRate: 0.5, activePersons: 2 * n, retained: 3, retentionRate: 0.25,
  orders: 4, gmv: 1234.5, netRevenue: 1200, payingPersons: 2, arppu: 617.25, referrers: 1, referrals: 0,
});

describe('AARRR', () => {
  it('shows each stage now and before, with the change, for the range in the workspace zone', async () => {
    const calls: any[] = [];
    const client = vi.fn(async (_q: string, variables: any) => {
      calls.push(variables);
      return { aarrr: { current: period(40), previous: period(32) } };
    });
    renderPage(<Aarrr dateFrom="2026-11-05" dateTo="2026-12-04" />, client as any);
    const row = await screen.findByText('New people');
    expect(row.closest('tr')).toHaveTextContent('Acquisition' + 'New people' + '40' + '32' + '+25.0%');
    expect(screen.getByTestId('aarrr').querySelector('tr[data-field=activationRate]')).toHaveTextContent('50.0%');
    expect(screen.getByTestId('aarrr').querySelector('tr[data-field=gmv]')).toHaveTextContent('1,234.5');
    expect(calls[0].input).toEqual({ dateFrom: '2026-11-05', dateTo: '2026-12-04', timezone: 'Asia/Shanghai' });
  });

  it("shows the API's error with its field", async () => {
    const client = vi.fn(async () => {
      throw new ApiError({ message: 'dateFrom after dateTo', extensions: { code: 'BAD_USER_INPUT', field: 'dateFrom' } });
    });
    renderPage(<Aarrr dateFrom="2026-12-05" dateTo="2026-12-04" />, client as any, { lang: 'zh' });
    expect(await screen.findByRole('alert')).toHaveTextContent('dateFrom: dateFrom after dateTo');
  });
});

describe('Dashboards', () => {
  it('lists dashboards and draws the opened one with a headline per tile', async () => {
    const client = vi.fn(async (query: string, variables: any) => {
      if (query.includes('dashboards')) {
        return { dashboards: [{ id: 'd1', name: 'Daily', updatedAt: '2026-12-04T01:00:00Z', tiles: [{ title: 'Orders', kind: 'trends' }, { title: '', kind: 'lifecycle' }] }] };
      }
      expect(variables).toEqual({ id: 'd1' });
      return {
        dashboard: {
          id: 'd1',
          name: 'Daily',
          tiles: [
            { title: 'Orders', kind: 'trends', query: {}, result: { buckets: ['2026-12-03', '2026-12-04'], series: [{ event: 'Order Completed', values: [3, 4], total: 7 }] } },
            { title: '', kind: 'lifecycle', query: {}, result: { buckets: ['2026-12-04'], new: [2] } },
          ],
        },
      };
    });
    renderPage(<Dashboards />, client as any);
    const name = await screen.findByRole('button', { name: 'Daily' });
    expect(screen.getByTestId('dashboard-list')).toHaveTextContent('Daily2');
    await act(async () => fireEvent.click(name));
    expect(screen.getByTestId('tile-0')).toHaveTextContent('Orders (trends)7');
    expect(screen.getByRole('img', { name: 'Orders' })).toBeInTheDocument();
    // A kind without a chart here: its JSON, not nothing.
    expect(screen.getByTestId('tile-1')).toHaveTextContent('"new"');
  });
});

describe('tiles', () => {
  it('reads headlines and charts from each kind of result', () => {
    expect(tileHeadline({ title: '', kind: 'funnel', query: {}, result: { results: [{ entered: 9, steps: [{ event: 'A', count: 9 }] }] } })).toBe(9);
    expect(tileHeadline({ title: '', kind: 'retention', query: {}, result: { rows: [{ size: 2, shares: [1] }, { size: 3, shares: [1] }] } })).toBe(5);
    expect(tileHeadline({ title: '', kind: 'trends', query: {}, result: { series: [{ values: [1, 2], total: null }] } })).toBe(3);
    const retention = tileOption({ title: '', kind: 'retention', query: {}, result: { rows: [{ size: 2, shares: [1, 0.5] }, { size: 3, shares: [1] }] } }) as any;
    expect(retention.series[0].data).toEqual([100, 50]);
    expect(tileOption({ title: '', kind: 'interval', query: {}, result: {} })).toBeNull();
  });
});
