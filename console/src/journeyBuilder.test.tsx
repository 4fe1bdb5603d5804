import { act, fireEvent, screen, within } from '@testing-library/react';
import { ApiError } from './api';
import { JourneyBuilder, parseDefinition } from './pages/JourneyBuilder';
import { renderPage } from './test-utils';

vi.mock('./components/Chart', () => ({ Chart: ({ label }: { label: string }) => <div role="img" aria-label={label} /> }));

const GOOD = {
  entry: { event: { name: 'Signed Up' } },
  start: 'hello',
  nodes: {
    hello: { type: 'send', template: 't1', channel: 'hook', next: 'wait' },
    wait: { type: 'wait', duration: '1d', next: 'bye' },
    bye: { type: 'exit' },
  },
};

const graphNodes = () => screen.getByTestId('builder-graph').getAttribute('data-nodes');
const typeJson = (value: unknown) => fireEvent.change(screen.getByTestId('definition'), { target: { value: typeof value === 'string' ? value : JSON.stringify(value) } });

describe('parseDefinition', () => {
  it('takes JSON objects only and says why not', () => {
    expect(parseDefinition('{"a": 1}')).toEqual({ value: { a: 1 } });
    expect(parseDefinition('[1]')).toEqual({ problem: 'not a JSON object' });
    expect('problem' in parseDefinition('{"a": ')).toBe(true);
  });
});

describe('JourneyBuilder', () => {
  it('redraws the graph as the JSON changes, keeps the last good graph while it is broken', async () => {
    const client = vi.fn(async () => ({}));
    renderPage(<JourneyBuilder id={null} onChanged={() => {}} />, client as any);
    expect(graphNodes()).toBe('welcome,wait_order,done');
    typeJson(GOOD);
    expect(graphNodes()).toBe('hello,wait,bye');
    typeJson('{"start": "hello", "nodes": {');
    expect(screen.getByTestId('json-problem')).toHaveTextContent('Invalid JSON');
    expect(graphNodes()).toBe('hello,wait,bye');
    typeJson({ ...GOOD, nodes: { ...GOOD.nodes, extra: { type: 'exit' } } });
    expect(graphNodes()).toBe('hello,wait,bye,extra');
    expect(client).not.toHaveBeenCalled(); // nothing saved while typing
  });

  it("shows the API's refusal with the JSON path it names, then creates once fixed", async () => {
    const calls: { query: string; variables: any }[] = [];
    const client = vi.fn(async (query: string, variables: any) => {
      calls.push({ query, variables });
      if (query.includes('createJourney')) {
        if (variables.definition.nodes.wait.duration === 'soon') {
          throw new ApiError({ message: 'nodes.wait.duration: expected a duration such as "24h"', extensions: { code: 'INVALID_INPUT', field: 'nodes.wait.duration' } });
        }
        return { createJourney: { id: 'j9', name: 'Hi', status: 'draft', version: 0, draft: variables.definition } };
      }
      return { journey: { id: 'j9', name: 'Hi', kind: 'journey', status: 'draft', version: 0, draft: GOOD, versions: [] } };
    });
    const changed = vi.fn();
    renderPage(<JourneyBuilder id={null} onChanged={changed} />, client as any);
    fireEvent.change(screen.getByRole('textbox', { name: 'Name' }), { target: { value: 'Hi' } });
    typeJson({ ...GOOD, nodes: { ...GOOD.nodes, wait: { type: 'wait', duration: 'soon', next: 'bye' } } });
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Create' })));
    expect(screen.getByRole('alert')).toHaveTextContent('nodes.wait.duration: expected a duration');
    expect(screen.getByTestId('error-path')).toHaveTextContent('JSON path: nodes.wait.duration');
    expect(changed).not.toHaveBeenCalled();
    typeJson(GOOD);
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Create' })));
    expect(screen.queryByRole('alert')).toBeNull();
    expect(changed).toHaveBeenCalledWith('j9');
    expect(calls.filter((c) => c.query.includes('createJourney')).at(-1)!.variables).toEqual({ name: 'Hi', definition: GOOD });
    expect(await screen.findByRole('button', { name: 'Publish' })).toBeInTheDocument();
  });

  it('with people in flight, shows the dry run counts and publishes only with the chosen mode', async () => {
    const published: any[] = [];
    const client = vi.fn(async (query: string, variables: any) => {
      if (query.includes('publishJourney')) {
        if (variables.dryRun) {
          return { publishJourney: { version: 3, dryRun: true, moves: variables.mode === 'move' ? { bye: 4, stay: 1 } : { stay: 5 }, moved: 0 } };
        }
        published.push(variables);
        return { publishJourney: { version: 3, dryRun: false, moves: { bye: 4 }, moved: 4 } };
      }
      return { journey: { id: 'j1', name: 'Live', kind: 'journey', status: 'active', version: 2, draft: GOOD, versions: [{ version: 2, definition: GOOD }] } };
    });
    renderPage(<JourneyBuilder id="j1" onChanged={() => {}} />, client as any);
    await screen.findByText('Version 2', { exact: false });
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Publish' })));
    const migration = screen.getByTestId('migration');
    expect(within(migration).getByTestId('moves').querySelector('tr[data-node=stay]')).toHaveTextContent('Stays on its version5');
    expect(published).toEqual([]);
    const asked = client.mock.calls.length;
    await act(async () => fireEvent.click(within(migration).getByLabelText('Move to the new version by a node map')));
    expect(client.mock.calls.length).toBe(asked); // no dry run of an empty map
    fireEvent.change(within(migration).getByRole('textbox', { name: 'Node map {old node: new node}' }), { target: { value: '{"wait": "bye"}' } });
    await act(async () => fireEvent.blur(within(migration).getByRole('textbox', { name: 'Node map {old node: new node}' })));
    expect(screen.getByTestId('moves').querySelector('tr[data-node=bye]')).toHaveTextContent('4');
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Publish this way' })));
    expect(published).toEqual([{ id: 'j1', mode: 'move', nodeMap: { wait: 'bye' }, dryRun: false }]);
    expect(screen.getByRole('status')).toHaveTextContent('Published version 3 (4 people moved)');
  });

  it('archives only after confirmation', async () => {
    let archived = false;
    const client = vi.fn(async (query: string) => {
      if (query.includes('archiveJourney')) {
        archived = true;
        return { archiveJourney: { id: 'j1', status: 'archived' } };
      }
      return { journey: { id: 'j1', name: 'Live', kind: 'journey', status: archived ? 'archived' : 'active', version: 1, draft: null, versions: [{ version: 1, definition: GOOD }] } };
    });
    renderPage(<JourneyBuilder id="j1" onChanged={() => {}} />, client as any);
    fireEvent.click(await screen.findByRole('button', { name: 'Archive' }));
    expect(screen.getByRole('dialog')).toHaveTextContent('Archive the journey "Live"?');
    expect(archived).toBe(false);
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Confirm' })));
    expect(archived).toBe(true);
    expect(await screen.findByRole('status')).toHaveTextContent('Archived');
  });

  it("previews a person's path on the simulated clock in the workspace zone, in Chinese", async () => {
    const asked: any[] = [];
    const client = vi.fn(async (query: string, variables: any) => {
      asked.push(variables);
      if (query.includes('person(')) return { person: { id: 'p1' } };
      return {
        previewJourney: [
          { at: '2026-06-18T02:00:00+00:00', node: 'hello', kind: 'entered', detail: { key: '', properties: {} } },
          { at: '2026-06-18T02:00:00+00:00', node: 'hello', kind: 'send', detail: { template: 't1', channel: 'hook', fallback: [] } },
          { at: '2026-06-19T02:00:00+00:00', node: 'wait', kind: 'timer', detail: { waited_until: '2026-06-19T02:00:00+00:00' } },
          { at: '2026-06-19T02:00:00+00:00', node: 'bye', kind: 'exit', detail: { reason: 'exit' } },
        ],
      };
    });
    renderPage(<JourneyBuilder id={null} onChanged={() => {}} />, client as any, { lang: 'zh' });
    typeJson(GOOD);
    fireEvent.change(within(screen.getByTestId('preview')).getByRole('textbox', { name: '标识值' }), { target: { value: 'u00001' } });
    await act(async () => fireEvent.click(screen.getByRole('button', { name: '预览' })));
    const rows = screen.getByTestId('preview-steps').querySelectorAll('tbody tr');
    expect(rows).toHaveLength(4);
    expect(rows[1]).toHaveTextContent('发送消息');
    expect(rows[1]).toHaveTextContent('template: t1 · channel: hook');
    expect(rows[0].querySelector('td')!.textContent).toBe('2026/06/18 10:00'); // Asia/Shanghai
    expect(rows[2].querySelector('td')!.textContent).toBe('2026/06/19 10:00');
    expect(asked[0]).toEqual({ type: 'user_id', value: 'u00001' });
    expect(asked[1]).toEqual({ personId: 'p1', definition: GOOD, horizonDays: 30 });
  });
});
