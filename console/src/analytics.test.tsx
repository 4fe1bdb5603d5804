import { act, fireEvent, screen } from '@testing-library/react';
import { ApiError } from './api';
import { Funnels } from './pages/Funnels';
import { sankey } from './pages/Paths';
import { heat, Retention } from './pages/Retention';
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

const MATRIX = {
  retentionMatrix: {
    period: 'week',
    rows: [
      { cohort: '2026-11-02', breakdownValue: null, size: 10, counts: [10, 4, 1], shares: [1, 0.4, 0.1] },
      { cohort: '2026-11-09', breakdownValue: null, size: 5, counts: [5, 2], shares: [1, 0.4] },
    ],
  },
};

describe('Retention', () => {
  it('draws the cohorts as a heat map and saves the clicked cell with the query that drew it', async () => {
    const { client, calls } = fakeClient((query) =>
      query.includes('saveRetentionCell') ? { saveRetentionCell: { segmentId: 's1', persons: 4 } } : MATRIX,
    );
    renderPage(<Retention />, client);
    fireEvent.change(screen.getByRole('combobox', { name: 'Retention kind' }), { target: { value: 'recurring' } });
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Run' })));
    const table = screen.getByTestId('retention');
    expect(table).toHaveTextContent('week 2');
    const cell = screen.getAllByRole('button', { name: '40.0%' })[0];
    expect(cell.closest('td')!.getAttribute('style')).toContain('rgba(37, 99, 235, 0.4)');
    const asked = calls[0].variables.input;
    expect(asked).toMatchObject({ kind: 'recurring', period: 'week', timezone: 'Asia/Shanghai' });

    await act(async () => fireEvent.click(screen.getAllByRole('button', { name: '40.0%' })[0]));
    const save = calls.find((c) => c.query.includes('saveRetentionCell'))!;
    expect(save.variables).toMatchObject({ retention: asked, cohort: '2026-11-02', period: 1 });
    expect(screen.getByRole('status')).toHaveTextContent('Segment saved, 4 people');

    // The cohort's size saves the whole cohort: period -1.
    await act(async () => fireEvent.click(screen.getByRole('button', { name: '5' })));
    expect(calls.at(-1)!.variables).toMatchObject({ cohort: '2026-11-09', period: -1 });
  });

  it('breaks cohorts down by a property and then saves no cell', async () => {
    const { client, calls } = fakeClient(() => ({
      retentionMatrix: { period: 'week', rows: [{ cohort: '2026-11-02', breakdownValue: 'wechat', size: 3, counts: [3, 1], shares: [1, 1 / 3] }] },
    }));
    renderPage(<Retention />, client);
    fireEvent.change(screen.getByRole('combobox', { name: 'Breakdown' }), { target: { value: 'property' } });
    fireEvent.change(screen.getByRole('textbox', { name: 'Property name' }), { target: { value: 'channel' } });
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Run' })));
    expect(calls[0].variables.input.breakdown).toEqual({ property: 'channel' });
    expect(screen.getByTestId('retention')).toHaveTextContent('2026-11-02 · wechat');
    await act(async () => fireEvent.click(screen.getByRole('button', { name: '33.3%' })));
    expect(calls).toHaveLength(1);
    expect(screen.getByText('Cells are saved without a breakdown; clear it first')).toBeInTheDocument();
  });

  it("shows the API's error with its field", async () => {
    const { client } = fakeClient(() => {
      throw new ApiError({ message: 'unknown period', extensions: { code: 'BAD_USER_INPUT', field: 'period' } });
    });
    renderPage(<Retention />, client, { lang: 'zh' });
    await act(async () => fireEvent.click(screen.getByRole('button', { name: '查询' })));
    expect(screen.getByRole('alert')).toHaveTextContent('period: unknown period');
  });

  it('colours a share by its size, clamped', () => {
    expect(heat(0).background).toBe('rgba(37, 99, 235, 0.00)');
    expect(heat(1.5).background).toBe('rgba(37, 99, 235, 1.00)');
    expect(heat(0.8).color).toBe('#fff');
  });
});

describe('Paths as a Sankey', () => {
  it('adds up people per step and keeps a returning event from making a cycle', () => {
    const { nodes, links } = sankey([
      { steps: ['View', 'Add', 'View'], persons: 3, share: 0.3 },
      { steps: ['View', 'Add', 'Order'], persons: 2, share: 0.2 },
      { steps: ['View', 'Order'], persons: 1, share: 0.1 },
    ]);
    expect(nodes.map((n) => n.name)).toEqual(['1. View', '2. Add', '3. View', '3. Order', '2. Order']);
    expect(links).toContainEqual({ source: '1. View', target: '2. Add', value: 5 });
    expect(links).toContainEqual({ source: '2. Add', target: '3. View', value: 3 });
    expect(links).toContainEqual({ source: '1. View', target: '2. Order', value: 1 });
    expect(links.every((l) => l.source !== l.target)).toBe(true);
  });
});

describe('Funnels breakdown', () => {
  const step = (event: string, count: number, conversion: number) => ({ event, count, conversion, fromPrevious: conversion });
  const answer = (query: string, variables: any) => {
    if (query.includes('segments {')) return { segments: [{ id: 'seg-a', name: 'VIP' }, { id: 'seg-b', name: 'New' }] };
    if (!variables.input.breakdown) return { funnel: [{ breakdownValue: null, entered: 9, steps: [step('A', 9, 1), step('B', 3, 1 / 3)] }] };
    return {
      funnel: [
        { breakdownValue: 'VIP', entered: 4, steps: [step('A', 4, 1), step('B', 2, 0.5)] },
        { breakdownValue: 'New', entered: 5, steps: [step('A', 5, 1), step('B', 1, 0.2)] },
      ],
    };
  };

  it('asks by the chosen segments, lists each value and shows the one picked', async () => {
    const { client, calls } = fakeClient(answer);
    renderPage(<Funnels />, client);
    fireEvent.change(screen.getByRole('combobox', { name: 'Breakdown' }), { target: { value: 'segments' } });
    const list = await screen.findByRole('listbox', { name: 'Segments' });
    await screen.findByRole('option', { name: 'New' });
    for (const option of list.querySelectorAll('option')) (option as HTMLOptionElement).selected = true;
    fireEvent.change(list);
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Run' })));
    const funnel = calls.find((c) => c.query.includes('funnel('))!;
    expect(funnel.variables.input.breakdown).toEqual({ segments: ['seg-a', 'seg-b'] });
    const table = screen.getByTestId('funnel-breakdown');
    expect(table).toHaveTextContent('VIP450.0%');
    expect(table).toHaveTextContent('New520.0%');
    // Drop-offs are saved for the whole funnel only.
    expect(screen.queryByRole('button', { name: 'Save drop-off as a segment' })).toBeNull();
    fireEvent.click(screen.getByRole('button', { name: 'New' }));
    expect(screen.getByTestId('funnel-steps')).toHaveTextContent('B120.0%4');
  });

  it('asks by a trait by name, and without a breakdown keeps saving drop-offs', async () => {
    const { client, calls } = fakeClient(answer);
    renderPage(<Funnels />, client);
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Run' })));
    expect(calls.at(-1)!.variables.input.breakdown).toBeUndefined();
    expect(screen.getAllByRole('button', { name: 'Save drop-off as a segment' })).toHaveLength(1);
    fireEvent.change(screen.getByRole('combobox', { name: 'Breakdown' }), { target: { value: 'trait' } });
    fireEvent.change(screen.getByRole('textbox', { name: 'Property name' }), { target: { value: 'city' } });
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Run' })));
    expect(calls.at(-1)!.variables.input.breakdown).toEqual({ trait: 'city' });
  });
});
