import { act, fireEvent, screen, within } from '@testing-library/react';
import { ApiError } from './api';
import { overlapQuery, SegmentOverlap } from './pages/SegmentOverlap';
import { Segments } from './pages/Segments';
import { renderPage } from './test-utils';

const SEGMENTS = [
  { id: 's1', name: 'VIP', rule: 'traits.vip = true', size: 40, updatedAt: null },
  { id: 's2', name: 'Shanghai', rule: 'traits.city = "上海"', size: 25, updatedAt: null },
  { id: 's3', name: 'Buyers', rule: 'computed.order_count >= 1', size: 30, updatedAt: null },
];

function pick(ids: string[]) {
  const select = screen.getByRole('listbox', { name: 'Segments to compare' }) as HTMLSelectElement;
  for (const option of select.options) option.selected = ids.includes(option.value);
  fireEvent.change(select);
}

describe('Segment overlap', () => {
  it('asks for two segments and shows their sizes, both and either', async () => {
    const calls: any[] = [];
    const client = vi.fn(async (query: string, variables: any) => {
      calls.push({ query, variables });
      return { all: { intersection: 12, union: 53, sizes: [40, 25] } };
    });
    renderPage(<SegmentOverlap segments={SEGMENTS} />, client as any);
    const compare = screen.getByRole('button', { name: 'Compare' });
    pick(['s1']);
    expect(compare).toBeDisabled(); // one segment overlaps nothing
    pick(['s1', 's2']);
    await act(async () => fireEvent.click(compare));
    expect(calls).toHaveLength(1);
    expect(calls[0].variables).toEqual({ s0: 's1', s1: 's2' });
    expect(calls[0].query).not.toContain('p0_1'); // two segments: "all" is the pair
    expect(screen.getByTestId('overlap-sizes')).toHaveTextContent('VIP40Shanghai25In all of them12In any of them53');
    expect(screen.queryByTestId('overlap-pairs')).toBeNull();
  });

  it('shows every pair of three segments from one document, in Chinese', async () => {
    const client = vi.fn(async () => ({
      all: { intersection: 5, union: 70, sizes: [40, 25, 30] },
      p0_1: { intersection: 12 },
      p0_2: { intersection: 20 },
      p1_2: { intersection: 8 },
    }));
    renderPage(<SegmentOverlap segments={SEGMENTS} />, client as any, { lang: 'zh' });
    const select = screen.getByRole('listbox', { name: '选择要比较的人群' }) as HTMLSelectElement;
    for (const option of select.options) option.selected = true;
    fireEvent.change(select);
    await act(async () => fireEvent.click(screen.getByRole('button', { name: '比较' })));
    expect(client).toHaveBeenCalledOnce();
    expect(screen.getByTestId('overlap-intersection')).toHaveTextContent('5');
    const rows = within(screen.getByTestId('overlap-pairs')).getAllByRole('row');
    expect(rows.map((r) => r.textContent)).toEqual([
      '两两交集VIPShanghaiBuyers',
      'VIP401220',
      'Shanghai12258',
      'Buyers20830',
    ]);
  });

  it("shows the API's refusal with its field", async () => {
    const client = vi.fn(async () => {
      throw new ApiError({ message: "unknown segment 's9'", extensions: { code: 'NOT_FOUND', field: 'ids' } });
    });
    renderPage(<SegmentOverlap segments={SEGMENTS} />, client as any);
    pick(['s1', 's2']);
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Compare' })));
    expect(screen.getByRole('alert')).toHaveTextContent("ids: unknown segment 's9'");
  });

  it('writes one alias per pair with the ids as variables', () => {
    const q = overlapQuery(3);
    expect(q).toContain('query Overlap($s0: ID!, $s1: ID!, $s2: ID!)');
    expect(q).toContain('all: segmentOverlap(ids: [$s0, $s1, $s2])');
    expect(q.match(/segmentOverlap/g)).toHaveLength(4);
    expect(overlapQuery(7).match(/segmentOverlap/g)).toHaveLength(1);
  });
});

describe('Segments text to rows', () => {
  it('redraws the rows from typed text, and locks them when the text says more than rows can', async () => {
    const client = vi.fn(async (query: string) =>
      query.includes('previewSegment') ? { previewSegment: { count: 1, elapsedMs: 1 } } : { segments: SEGMENTS },
    );
    await act(async () => renderPage(<Segments />, client as any));
    const box = screen.getByRole('textbox', { name: 'Rule' });
    fireEvent.change(box, { target: { value: 'traits.city = "上海" AND computed.order_count >= 2' } });
    expect(screen.getByRole('textbox', { name: 'path 1' })).toHaveValue('traits.city');
    expect(screen.getByRole('textbox', { name: 'value 1' })).toHaveValue('上海');
    expect(screen.getByRole('combobox', { name: 'op 2' })).toHaveValue('>=');
    expect(screen.getByRole('textbox', { name: 'value 2' })).toHaveValue('2');
    expect(screen.queryByRole('note')).toBeNull();

    fireEvent.change(box, { target: { value: 'traits.city = "上海" OR computed.order_count >= 2' } });
    expect(screen.getByRole('note')).toHaveTextContent('can only be edited as text');
    expect(screen.getByTestId('condition-rows')).toBeDisabled();
    expect(box).toHaveValue('traits.city = "上海" OR computed.order_count >= 2'); // the text stays as typed

    // Back to rows: editing a row writes the text again.
    fireEvent.change(box, { target: { value: 'traits.vip = true' } });
    expect(screen.getByTestId('condition-rows')).not.toBeDisabled();
    fireEvent.change(screen.getByRole('textbox', { name: 'value 1' }), { target: { value: 'false' } });
    expect(box).toHaveValue('traits.vip = false');
  });
});
