import { act, fireEvent, screen, waitFor } from '@testing-library/react';
import { accounted, CampaignDetail, CampaignForm, closed, zonedToInstant, type CampaignStatus } from './pages/Campaigns';
import { ExperimentResults } from './pages/Experiment';
import { renderPage } from './test-utils';

const base: CampaignStatus = {
  launchId: 'j1:l1', state: 'sending', audience: 100, handed: 100, sent: 0, skipped: 0, failed: 0, cancelled: 0,
  pending: 100, holdout: 10, startedAt: '2026-06-18T02:00:00Z', finishedAt: null,
};

const field = (name: string) => screen.getByTestId('campaign-accounting').querySelector(`tr[data-field=${name}] td`)!.textContent;

describe('campaign accounting', () => {
  it('closes only when everyone is accounted for and nothing is pending', () => {
    const done = { ...base, state: 'finished', sent: 85, skipped: 12, failed: 3, pending: 0 };
    expect(accounted(done)).toBe(100);
    expect(closed(done)).toBe(true);
    expect(closed({ ...done, state: 'sending' })).toBe(false);
    expect(closed({ ...done, failed: 2, pending: 1 })).toBe(false);
    expect(closed({ ...base, state: 'cancelled', sent: 40, skipped: 5, cancelled: 55, pending: 0 })).toBe(true);
  });

  it('reads a wall time in the workspace zone', () => {
    expect(zonedToInstant('2026-06-18T20:00', 'Asia/Shanghai')).toBe('2026-06-18T12:00:00.000Z');
    expect(zonedToInstant('2026-03-29T03:30', 'Europe/Berlin')).toBe('2026-03-29T01:30:00.000Z'); // after the DST jump
    expect(zonedToInstant('2026-01-10T08:00', 'America/New_York')).toBe('2026-01-10T13:00:00.000Z');
  });
});

describe('CampaignForm', () => {
  it('creates the campaign with its holdout, rate and scheduled time in the workspace zone, then starts it', async () => {
    const calls: { query: string; variables: any }[] = [];
    const client = vi.fn(async (query: string, variables: any) => {
      calls.push({ query, variables });
      if (query.includes('segments')) {
        return { segments: [{ id: 's1', name: 'VIP', size: 120 }], templates: [{ id: 't1', name: 'Group buy', channel: 'webhook' }] };
      }
      if (query.includes('createCampaign')) return { createCampaign: { id: 'c1', name: variables.input.name } };
      return { publishJourney: { version: 1 } };
    });
    const created = vi.fn();
    renderPage(<CampaignForm onCreated={created} />, client as any);
    await screen.findByRole('option', { name: 'VIP (120)' });
    const form = screen.getByRole('form', { name: 'New campaign' });
    const set = (name: string, value: string) => fireEvent.change(form.querySelector(`[name=${name}]`)!, { target: { value } });
    set('name', '618 group buy');
    set('segment', 's1');
    set('template', 't1');
    set('channel', 'hook');
    set('holdoutPct', '10');
    set('ratePerSecond', '200');
    set('when', 'at');
    expect(screen.getByText('Send at (Asia/Shanghai)')).toBeInTheDocument();
    set('at', '2026-06-18T20:00');
    set('every', '7d');
    set('localTime', '10:00');
    fireEvent.click(screen.getByRole('button', { name: 'Add a variant' }));
    fireEvent.click(screen.getByRole('button', { name: 'Add a variant' }));
    const [, second] = screen.getAllByTestId('variant');
    fireEvent.change(second.querySelector('input[type=number]')!, { target: { value: '3' } });
    fireEvent.change(second.querySelector('select')!, { target: { value: 't1' } });
    await act(async () => fireEvent.submit(form));
    const create = calls.find((c) => c.query.includes('createCampaign'))!;
    expect(create.variables.input).toEqual({
      name: '618 group buy', segmentId: 's1', templateId: 't1', channel: 'hook', holdoutPct: 10, ratePerSecond: 200,
      goalEvent: 'Order Completed', at: '2026-06-18T12:00:00.000Z', every: '7d', localTime: '10:00',
      variants: [{ name: 'A', weight: 1, templateId: null }, { name: 'B', weight: 3, templateId: 't1' }],
    });
    // Created, then published: publishing is what starts a campaign.
    expect(calls.at(-1)!.query).toContain('publishJourney');
    expect(calls.at(-1)!.variables).toEqual({ id: 'c1' });
    expect(created).toHaveBeenCalledWith('c1');
  });
});

describe('CampaignDetail', () => {
  it('follows the accounting while sending until it closes, with the message stats beside it', async () => {
    const states: CampaignStatus[] = [
      base,
      { ...base, sent: 40, skipped: 10, pending: 50 },
      { ...base, state: 'finished', sent: 87, skipped: 10, failed: 3, pending: 0, finishedAt: '2026-06-18T02:01:00Z' },
    ];
    let polls = 0;
    const client = vi.fn(async (query: string, variables: any) => {
      if (query.includes('campaignStatus')) return { campaignStatus: states[Math.min(polls++, states.length - 1)] };
      if (query.includes('messageStats')) {
        expect(variables).toEqual({ campaignId: 'j1:l1' });
        const s = states[Math.min(polls - 1, states.length - 1)];
        return { messageStats: { sent: s.sent, delivered: s.sent, opened: 0, clicked: 0, converted: 0, failed: s.failed, deliveryRate: s.sent ? 1 : 0, openRate: 0, clickRate: 0, conversionRate: 0 } };
      }
      return { experimentResults: { journeyId: 'j1', node: null, arms: [], comparisons: [], holdout: null } };
    });
    const changed = vi.fn();
    renderPage(<CampaignDetail id="j1" onChanged={changed} pollMs={20} />, client as any);
    await screen.findByTestId('campaign-accounting');
    expect(screen.getByTestId('accounting-check')).toHaveAttribute('data-closed', 'false');
    await waitFor(() => expect(screen.getByTestId('accounting-check')).toHaveAttribute('data-closed', 'true'));
    expect(screen.getByTestId('accounting-check')).toHaveTextContent('sent 87 + skipped 10 + failed 3 + cancelled 0 = 100 of audience 100 ✓ accounting closed');
    expect(field('holdout')).toBe('10');
    expect(screen.getByTestId('campaign-progress')).toHaveAttribute('value', '100');
    await waitFor(() => expect(screen.getByTestId('campaign-message-stats').querySelector('td[data-field=sent]')).toHaveTextContent('87'));
    expect(screen.getByTestId('campaign-times')).toHaveTextContent('Finished: 18/06/2026, 10:01'); // Asia/Shanghai
    await waitFor(() => expect(changed).toHaveBeenCalled());
    // Stops following once closed (after two more looks, for late delivery receipts).
    await new Promise((r) => setTimeout(r, 150));
    const settled = polls;
    expect(settled).toBe(states.length + 2);
    await new Promise((r) => setTimeout(r, 150));
    expect(polls).toBe(settled);
  });

  it('pauses at once, cancels only after confirmation', async () => {
    let status = { ...base, sent: 20, skipped: 2, pending: 78 };
    const mutations: string[] = [];
    const client = vi.fn(async (query: string) => {
      for (const m of ['pauseCampaign', 'resumeCampaign', 'cancelCampaign']) {
        if (query.includes(m)) {
          mutations.push(m);
          status =
            m === 'pauseCampaign' ? { ...status, state: 'paused' }
            : m === 'resumeCampaign' ? { ...status, state: 'sending' }
            : { ...status, state: 'cancelled', cancelled: 78, pending: 0 };
          return { [m]: status };
        }
      }
      if (query.includes('campaignStatus')) return { campaignStatus: status };
      if (query.includes('messageStats')) return { messageStats: { sent: 20, delivered: 20, opened: 0, clicked: 0, converted: 0, failed: 0, deliveryRate: 1, openRate: 0, clickRate: 0, conversionRate: 0 } };
      return { experimentResults: { journeyId: 'j1', node: null, arms: [], comparisons: [], holdout: null } };
    });
    renderPage(<CampaignDetail id="j1" onChanged={() => {}} pollMs={5000} />, client as any);
    const pause = await screen.findByRole('button', { name: 'Pause' });
    await act(async () => fireEvent.click(pause));
    expect(mutations).toEqual(['pauseCampaign']);
    const resume = await screen.findByRole('button', { name: 'Resume' });
    await act(async () => fireEvent.click(resume));
    fireEvent.click(await screen.findByRole('button', { name: 'Cancel campaign' }));
    expect(screen.getByRole('dialog')).toHaveTextContent('Cancel this campaign?');
    expect(mutations).toEqual(['pauseCampaign', 'resumeCampaign']);
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Confirm' })));
    expect(mutations).toEqual(['pauseCampaign', 'resumeCampaign', 'cancelCampaign']);
    await waitFor(() => expect(screen.getByTestId('accounting-check')).toHaveAttribute('data-closed', 'true'));
    expect(field('cancelled')).toBe('78');
    expect(screen.queryByRole('button', { name: 'Cancel campaign' })).toBeNull();
  });
});

describe('ExperimentResults', () => {
  it('shows each arm, the lift with its interval and significance, and the winner', async () => {
    const client = vi.fn(async () => ({
      experimentResults: {
        journeyId: 'j1',
        node: 'experiment',
        arms: [
          { name: 'A', n: 500, conversions: 50, rate: 0.1, rateInterval: { low: 0.077, high: 0.129 }, revenuePerPerson: 3 },
          { name: 'B', n: 500, conversions: 80, rate: 0.16, rateInterval: { low: 0.13, high: 0.195 }, revenuePerPerson: 5 },
          { name: 'holdout', n: 100, conversions: 5, rate: 0.05, rateInterval: { low: 0.02, high: 0.11 }, revenuePerPerson: 1 },
        ],
        comparisons: [
          { arm: 'B', against: 'A', lift: 0.6, liftInterval: { low: 0.15, high: 1.1 }, pValue: 0.004, sequentialPValue: 0.02, significant: true, chanceToBeat: 0.99, sampleRatioMismatch: false },
        ],
        holdout: { arm: 'treated', against: 'holdout', lift: 1.6, liftInterval: { low: -0.1, high: 3.2 }, pValue: 0.08, sequentialPValue: 0.3, significant: false, chanceToBeat: 0.9, sampleRatioMismatch: false },
        winner: 'B',
      },
    }));
    renderPage(<ExperimentResults journeyId="j1" />, client as any);
    await screen.findByTestId('experiment-arms');
    const arm = (name: string) => screen.getByTestId('experiment-arms').querySelector(`tr[data-arm="${name}"]`);
    expect(arm('B')).toHaveTextContent('B5008016%[13%, 19.5%]');
    expect(arm('holdout')).toHaveTextContent('Holdout');
    const row = (name: string) => screen.getByTestId('experiment-comparisons').querySelector(`tr[data-arm="${name}"]`);
    expect(row('B')).toHaveTextContent('BA60%[15%, 110%]0.020Significant');
    expect(row('treated')).toHaveTextContent('TreatedHoldout160%[-10%, 320%]0.300Not significant');
    expect(screen.getByTestId('winner')).toHaveTextContent('Winner: B');
  });
});
