import { act, fireEvent, screen } from '@testing-library/react';
import { ApiError } from './api';
import { branches, journeyGraph } from './journeyGraph';
import { JourneyDetail } from './pages/Journeys';
import { renderPage } from './test-utils';

vi.mock('./components/Chart', () => ({ Chart: ({ label }: { label: string }) => <div role="img" aria-label={label} /> }));

const DEFINITION = {
  entry: { event: { name: 'Signed Up' } },
  start: 'welcome',
  nodes: {
    welcome: { type: 'send', template: 't1', channel: 'email', next: 'wait1' },
    wait1: { type: 'wait_event', event: 'Order Completed', timeout: '3d', on_event: 'done', on_timeout: 'vip' },
    vip: { type: 'branch', rule: 'traits.vip = true', yes: 'coupon', no: 'done' },
    coupon: { type: 'send', template: 't2', channel: 'sms', next: 'done', label: 'Coupon' },
    done: { type: 'exit' },
    orphan: { type: 'exit' },
  },
};

const stat = (node: string, entered: number) => ({ node, entered, waiting: 0, active: 0, exited: 0, done: 0, converted: 0 });

describe('journey graph', () => {
  it('places nodes by distance from the start and names each branch', () => {
    const { nodes, edges } = journeyGraph(DEFINITION, [stat('welcome', 12), stat('vip', 7)]);
    const at = Object.fromEntries(nodes.map((n) => [n.id, [n.column, n.row]]));
    expect(at).toEqual({ welcome: [0, 0], wait1: [1, 0], done: [2, 0], vip: [2, 1], coupon: [3, 0], orphan: [4, 0] });
    expect(nodes.find((n) => n.id === 'welcome')!.entered).toBe(12);
    expect(nodes.find((n) => n.id === 'coupon')!.label).toBe('Coupon');
    expect(edges).toContainEqual({ source: 'vip', target: 'coupon', label: 'yes' });
    expect(edges).toContainEqual({ source: 'wait1', target: 'vip', label: 'timeout 3d' });
    expect(edges).toHaveLength(6);
  });

  it('reads split and experiment arms', () => {
    expect(branches({ type: 'split', paths: [{ weight: 1, next: 'a' }, { weight: 3, next: 'b' }] })).toEqual([
      { target: 'a', label: '1' },
      { target: 'b', label: '3' },
    ]);
    expect(branches({ type: 'experiment', variants: [{ name: 'A', next: 'a' }], control: { next: 'c' } }).map((b) => b.label)).toEqual(['A', 'control']);
  });
});

describe('JourneyDetail', () => {
  it('shows per-step counts and pauses only after confirmation', async () => {
    let status = 'active';
    const calls: string[] = [];
    const client = vi.fn(async (query: string) => {
      calls.push(query);
      if (query.includes('pauseJourney')) {
        status = 'paused';
        return { pauseJourney: { id: 'j1', status } };
      }
      return {
        journey: {
          id: 'j1', name: 'Welcome', kind: 'journey', status, version: 1, draft: null,
          versions: [{ version: 1, definition: DEFINITION }],
          stats: [stat('welcome', 12), stat('coupon', 3)],
        },
      };
    });
    const changed = vi.fn();
    renderPage(<JourneyDetail id="j1" onChanged={changed} />, client as any);
    await screen.findByRole('img', { name: 'Journey graph' });
    expect(screen.getByTestId('journey-steps').querySelector('tr[data-node=coupon]')).toHaveTextContent('Coupon (send)');
    expect(screen.getByTestId('journey-steps').querySelector('tr[data-node=welcome] td:nth-child(2)')).toHaveTextContent('12');
    expect(screen.getByTestId('journey-steps').querySelector('tr[data-node=coupon] td:nth-child(2)')).toHaveTextContent('3');
    fireEvent.click(screen.getByRole('button', { name: 'Pause' }));
    expect(screen.getByRole('dialog')).toHaveTextContent('Pause the journey "Welcome"?');
    expect(calls.some((q) => q.includes('pauseJourney'))).toBe(false);
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Confirm' })));
    expect(calls.some((q) => q.includes('pauseJourney'))).toBe(true);
    await screen.findByRole('button', { name: 'Resume' });
    expect(changed).toHaveBeenCalled();
  });

  it("shows the API's refusal with its field", async () => {
    const client = vi.fn(async () => {
      throw new ApiError({ message: 'journey j1 is draft: publish it first', extensions: { code: 'CONFLICT', field: 'journey_id' } });
    });
    renderPage(<JourneyDetail id="j1" onChanged={() => {}} />, client as any);
    expect(await screen.findByRole('alert')).toHaveTextContent('journey_id: journey j1 is draft: publish it first');
  });
});
