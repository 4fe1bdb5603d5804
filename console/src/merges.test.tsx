import { act, fireEvent, screen } from '@testing-library/react';
import { People } from './pages/People';
import { renderPage } from './test-utils';

function fakeClient(answer: (query: string, variables: any) => any) {
  const calls: { query: string; variables: any }[] = [];
  const client = vi.fn(async (query: string, variables: any = {}) => {
    calls.push({ query, variables });
    return answer(query, variables);
  });
  return { client: client as any, calls };
}

const PERSON = {
  id: 'p1', uid: 7, identities: [{ type: 'user_id', value: 'u1' }], traits: {}, tags: [], computed: {}, segments: [],
  journeys: [], messages: [], events: { nodes: [] },
  mergeHistory: [
    { id: 'mg1', winnerId: 'p1', loserId: 'p9', reason: 'same phone', at: '2026-12-01T02:00:00Z', undone: false },
    { id: 'mg0', winnerId: 'p1', loserId: 'p8', reason: 'old', at: '2026-11-01T02:00:00Z', undone: true },
  ],
};

function answers(query: string, variables: any) {
  if (query.includes('unmergePersons')) return { unmergePersons: { id: 'mg1', undone: true } };
  if (query.includes('mergePersons')) return { mergePersons: { id: 'mg2', winnerId: 'p1', loserId: 'p2' } };
  if (query.includes('query Find')) return { person: variables.value === 'u2' ? { id: 'p2' } : null };
  return { person: PERSON };
}

async function open(role = 'admin') {
  const fake = fakeClient(answers);
  renderPage(<People />, fake.client, { role });
  fireEvent.change(screen.getByRole('textbox', { name: 'Identifier' }), { target: { value: 'u1' } });
  await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Search' })));
  await screen.findByTestId('merges');
  return fake;
}

describe('a person’s merges', () => {
  it('undoes a live merge with a reason, once confirmed, and reads the person again', async () => {
    const { calls } = await open();
    // One unmerge button: the undone merge has none. It waits for a reason.
    const unmerge = screen.getByRole('button', { name: 'Unmerge' });
    expect(unmerge).toBeDisabled();
    fireEvent.change(screen.getByRole('textbox', { name: 'Reason (goes to the merge log)' }), {
      target: { value: ' wrong phone ' },
    });
    fireEvent.click(unmerge);
    expect(calls.some((c) => c.query.includes('unmergePersons'))).toBe(false);
    const reads = calls.filter((c) => c.query.includes('query Person')).length;
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Confirm' })));
    const sent = calls.filter((c) => c.query.includes('unmergePersons'));
    expect(sent.map((c) => c.variables)).toEqual([{ id: 'mg1', reason: 'wrong phone' }]);
    expect(calls.filter((c) => c.query.includes('query Person')).length).toBe(reads + 1);
    expect(await screen.findByRole('status')).toHaveTextContent('Merge undone');
  });

  it('merges with a person found by an identifier, and says when there is none', async () => {
    const { calls } = await open();
    fireEvent.change(screen.getByRole('textbox', { name: 'Reason (goes to the merge log)' }), {
      target: { value: 'same person' },
    });
    fireEvent.change(screen.getByRole('textbox', { name: "Other person's identifier" }), { target: { value: 'nobody' } });
    fireEvent.click(screen.getByRole('button', { name: 'Merge' }));
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Confirm' })));
    expect(calls.some((c) => c.query.includes('mergePersons'))).toBe(false);
    expect(await screen.findByRole('alert')).toHaveTextContent('No person');

    fireEvent.change(screen.getByRole('textbox', { name: "Other person's identifier" }), { target: { value: 'u2' } });
    fireEvent.click(screen.getByRole('button', { name: 'Merge' }));
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Confirm' })));
    const merged = calls.filter((c) => c.query.includes('mergePersons'));
    expect(merged.map((c) => c.variables)).toEqual([{ a: 'p1', b: 'p2', reason: 'same person' }]);
    expect(await screen.findByRole('status')).toHaveTextContent('the person kept: p1');
  });

  it('offers no merge or unmerge to a viewer', async () => {
    await open('viewer');
    expect(screen.getByTestId('merges')).toHaveTextContent('same phone');
    expect(screen.queryByRole('button', { name: 'Unmerge' })).toBeNull();
    expect(screen.queryByRole('button', { name: 'Merge' })).toBeNull();
  });
});
