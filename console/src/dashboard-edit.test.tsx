import { act, fireEvent, screen, within } from '@testing-library/react';
import { Dashboards } from './pages/Dashboards';
import { tileQuery } from './pages/TileForm';
import { renderPage } from './test-utils';

vi.mock('./components/Chart', () => ({ Chart: ({ label }: { label: string }) => <div role="img" aria-label={label} /> }));

const ORDERS = { title: 'Orders', kind: 'trends', query: { series: [{ event: 'Order Completed' }], dateFrom: '2026-11-01', dateTo: '2026-11-30' } };
const result = (kind: string) =>
  kind === 'trends' ? { buckets: ['2026-12-04'], series: [{ event: 'x', values: [7], total: 7 }] } : { results: [{ entered: 3, steps: [{ event: 'A', count: 3 }] }] };

describe('Dashboard editing', () => {
  it('renames, adds a funnel tile, removes a tile and deletes after confirming', async () => {
    let board = { id: 'd1', name: 'Daily', tiles: [ORDERS] };
    const calls: { query: string; variables: any }[] = [];
    const client = vi.fn(async (query: string, variables: any = {}) => {
      calls.push({ query, variables });
      const shown = () => ({ ...board, tiles: board.tiles.map((t) => ({ ...t, result: result(t.kind) })) });
      if (query.includes('deleteDashboard')) return { deleteDashboard: true };
      if (query.includes('updateDashboard')) {
        board = { ...board, ...(variables.name ? { name: variables.name } : {}), ...(variables.tiles ? { tiles: variables.tiles } : {}) };
        return { updateDashboard: shown() };
      }
      if (query.includes('dashboards')) return { dashboards: [{ id: 'd1', name: board.name, updatedAt: '2026-12-04T01:00:00Z', tiles: board.tiles }] };
      return { dashboard: shown() };
    });
    renderPage(<Dashboards />, client as any);
    const name = await screen.findByRole('button', { name: 'Daily' });
    await act(async () => fireEvent.click(name));

    fireEvent.change(screen.getByRole('textbox', { name: 'Dashboard name' }), { target: { value: 'Daily KPIs' } });
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Rename' })));
    expect(calls.find((c) => c.query.includes('updateDashboard'))!.variables).toEqual({ id: 'd1', name: 'Daily KPIs' });
    expect(screen.getByTestId('dashboard')).toHaveTextContent('Daily KPIs');

    const form = screen.getByRole('form', { name: 'Add tile' });
    fireEvent.change(within(form).getByLabelText('Kind'), { target: { value: 'funnel' } });
    fireEvent.change(within(form).getByLabelText('Tile title'), { target: { value: 'Buy funnel' } });
    fireEvent.change(within(form).getByLabelText('Steps'), { target: { value: 'Product Viewed, , Order Completed' } });
    await act(async () => fireEvent.submit(form));
    const added = calls.filter((c) => c.query.includes('updateDashboard')).at(-1)!.variables;
    // The saved tile goes back as it was (its query, not its result), the new one after it.
    expect(added.tiles[0]).toEqual(ORDERS);
    expect(added.tiles[1]).toMatchObject({
      title: 'Buy funnel',
      kind: 'funnel',
      query: { steps: [{ event: 'Product Viewed' }, { event: 'Order Completed' }], timezone: 'Asia/Shanghai' },
    });
    expect(screen.getByTestId('tile-1')).toHaveTextContent('Buy funnel (funnel)3');

    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Remove tile 1' })));
    expect(calls.filter((c) => c.query.includes('updateDashboard')).at(-1)!.variables.tiles.map((t: any) => t.title)).toEqual(['Buy funnel']);
    expect(screen.queryByTestId('tile-1')).toBeNull();

    fireEvent.click(screen.getByRole('button', { name: 'Delete dashboard' }));
    expect(screen.getByRole('dialog')).toHaveTextContent('Delete the dashboard "Daily KPIs"?');
    fireEvent.click(screen.getByRole('button', { name: 'Cancel' }));
    expect(calls.some((c) => c.query.includes('deleteDashboard'))).toBe(false);
    fireEvent.click(screen.getByRole('button', { name: 'Delete dashboard' }));
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Confirm' })));
    expect(calls.filter((c) => c.query.includes('deleteDashboard')).map((c) => c.variables)).toEqual([{ id: 'd1' }]);
    expect(screen.queryByTestId('dashboard')).toBeNull();
  });

  it('creates a dashboard and opens it', async () => {
    const client = vi.fn(async (query: string, variables: any = {}) => {
      if (query.includes('createDashboard')) return { createDashboard: { id: 'd9', name: variables.name, tiles: variables.tiles } };
      return { dashboards: [] };
    });
    renderPage(<Dashboards />, client as any, { lang: 'zh' });
    fireEvent.change(await screen.findByRole('textbox', { name: '新看板名称' }), { target: { value: ' 周报 ' } });
    await act(async () => fireEvent.click(screen.getByRole('button', { name: '创建看板' })));
    expect(client).toHaveBeenCalledWith(expect.stringContaining('createDashboard'), { name: '周报', tiles: [] });
    expect(screen.getByTestId('dashboard')).toHaveTextContent('周报');
  });

  it("dates a new tile's range in the workspace zone", () => {
    // 2026-12-04 17:00 UTC is already the 5th in Shanghai.
    const q = tileQuery('retention', { event: '', math: 'total', steps: '', startEvent: 'A', returnEvent: 'B', period: 'week' }, 7, 'Asia/Shanghai', new Date('2026-12-04T17:00:00Z'));
    expect(q).toEqual({ dateFrom: '2026-11-29', dateTo: '2026-12-05', timezone: 'Asia/Shanghai', startEvent: 'A', returnEvent: 'B', period: 'week' });
  });
});
