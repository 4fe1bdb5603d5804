import { act, fireEvent, screen, waitFor, within } from '@testing-library/react';
import { ApiError } from './api';
import { dictionaries } from './i18n';
import { Settings } from './pages/Settings';
import { Tags, zonedToIso, type TagDefinition } from './pages/Tags';
import { renderPage } from './test-utils';

function fakeClient(answer: (query: string, variables: any) => any) {
  const calls: { query: string; variables: any }[] = [];
  const client = vi.fn(async (query: string, variables: any = {}) => {
    calls.push({ query, variables });
    return answer(query, variables);
  });
  return { client: client as any, calls };
}

const refusal = (message: string, code: string, field: string) => new ApiError({ message, extensions: { code, field } });

const def = (name: string, patch: Partial<TagDefinition> = {}): TagDefinition => ({
  name,
  displayNameZh: '',
  displayNameEn: '',
  category: 'custom',
  source: 'own',
  valueKind: 'flag',
  description: '',
  rule: '',
  ...patch,
});

const LIBRARY = [
  def('repeat_buyer', { displayNameZh: '复购用户', displayNameEn: 'Repeat buyer', category: 'value', source: 'computed', rule: 'computed.order_count >= 2' }),
  def('smart_shopper', { displayNameZh: '精明购', displayNameEn: 'Price-sensitive smart shopper', category: 'preference', source: 'template' }),
];

describe('Tags page', () => {
  it('lists the template library apart from the workspace’s own tags, in Chinese', async () => {
    const { client } = fakeClient((q) =>
      q.includes('tagDefinitions')
        ? { tagDefinitions: [...LIBRARY, def('gift', { source: 'partner', category: 'campaign' })] }
        : { segments: [] },
    );
    renderPage(<Tags />, client, { lang: 'zh' });
    const own = await screen.findByTestId('own-tags');
    await within(own).findByText('gift');
    expect(within(own).queryByText('repeat_buyer')).toBeNull();
    expect(own).toHaveTextContent('合作方'); // source
    expect(own).toHaveTextContent('营销活动'); // category
    const library = screen.getByTestId('tag-library');
    expect(within(library).getByText('复购用户')).toBeInTheDocument();
    expect(library).toHaveTextContent('computed.order_count >= 2');
    expect(library).toHaveTextContent('规则计算');
    // Only a tag without a rule can be assigned.
    const options = within(screen.getByTestId('bulk')).getAllByRole('option').map((o) => o.getAttribute('value'));
    expect(options).toContain('smart_shopper');
    expect(options).toContain('gift');
    expect(options).not.toContain('repeat_buyer');
  });

  it("defines a tag: the API's refusal with its field, then saved; changing an existing one is confirmed", async () => {
    let defined: TagDefinition[] = [...LIBRARY];
    const { client, calls } = fakeClient((q, v) => {
      if (q.includes('tagDefinitions')) return { tagDefinitions: defined };
      if (q.includes('defineTag')) {
        if (v.d.rule.includes('>>')) throw refusal("unexpected '>' at column 23", 'BAD_USER_INPUT', 'rule');
        defined = [...defined, v.d];
        return { defineTag: { name: v.d.name, rule: v.d.rule } };
      }
      return { segments: [] };
    });
    renderPage(<Tags />, client);
    const editor = await screen.findByTestId('tag-editor');
    fireEvent.change(within(editor).getByRole('textbox', { name: 'Tag name' }), { target: { value: 'loyal_two' } });
    fireEvent.change(within(editor).getByRole('textbox', { name: 'Rule' }), { target: { value: 'computed.order_count >> 2' } });
    await act(async () => fireEvent.click(within(editor).getByRole('button', { name: 'Save' })));
    expect(within(screen.getByTestId('define-error')).getByRole('alert')).toHaveTextContent(
      "rule: unexpected '>' at column 23 (BAD_USER_INPUT)",
    );

    // The condition row writes the rule's text.
    fireEvent.change(within(editor).getByRole('textbox', { name: 'Rule' }), { target: { value: '' } });
    fireEvent.change(within(editor).getByRole('textbox', { name: 'condition value' }), { target: { value: '3' } });
    fireEvent.click(within(editor).getByRole('button', { name: '+ AND' }));
    expect(within(editor).getByRole('textbox', { name: 'Rule' })).toHaveValue('computed.order_count >= 3');
    await act(async () => fireEvent.click(within(editor).getByRole('button', { name: 'Save' })));
    expect(screen.getByRole('status')).toHaveTextContent('Tag "loyal_two" saved');
    expect(within(screen.getByTestId('define-error')).queryByRole('alert')).toBeNull();
    const sent = calls.filter((c) => c.query.includes('defineTag')).map((c) => c.variables.d);
    expect(sent[1]).toMatchObject({ name: 'loyal_two', rule: 'computed.order_count >= 3', valueKind: 'flag', source: 'own' });
    await within(screen.getByTestId('own-tags')).findByText('loyal_two');

    // The same name again is a change of an existing tag: nothing is sent until confirmed.
    const before = calls.filter((c) => c.query.includes('defineTag')).length;
    await act(async () => fireEvent.click(within(editor).getByRole('button', { name: 'Save' })));
    expect(screen.getByRole('dialog')).toHaveTextContent('The tag "loyal_two" exists');
    expect(calls.filter((c) => c.query.includes('defineTag')).length).toBe(before);
    fireEvent.click(within(screen.getByRole('dialog')).getByRole('button', { name: 'Cancel' }));
    expect(calls.filter((c) => c.query.includes('defineTag')).length).toBe(before);
    await act(async () => fireEvent.click(within(editor).getByRole('button', { name: 'Save' })));
    await act(async () => fireEvent.click(within(screen.getByRole('dialog')).getByRole('button', { name: 'Confirm' })));
    expect(calls.filter((c) => c.query.includes('defineTag')).length).toBe(before + 1);
  });

  it('tags a segment as a job after confirming, follows its progress to done and shows who got it', async () => {
    const states = [
      { state: 'running', total: 4, done: 2, tagged: 2 },
      { state: 'done', total: 4, done: 4, tagged: 4 },
    ];
    const { client, calls } = fakeClient((q) => {
      if (q.includes('tagDefinitions')) return { tagDefinitions: LIBRARY };
      if (q.includes('segments')) return { segments: [{ id: 's1', name: 'VIPs', size: 4 }] };
      if (q.includes('assignTags'))
        return { assignTags: { persons: [], job: { id: 'j1', state: 'collecting', total: 0, done: 0, tagged: 0, segmentId: 's1', error: null } } };
      if (q.includes('tagJob')) return { tagJob: { id: 'j1', segmentId: 's1', error: null, ...states.shift()! } };
      if (q.includes('members'))
        return {
          segment: {
            members: {
              edges: [
                {
                  node: {
                    id: 'p1',
                    tags: [{ name: 'smart_shopper', value: 'true', source: 'partner', confidence: 0.8, assignedAt: '2026-12-04T10:00:00Z', expiresAt: '2026-12-31T16:30:00Z' }],
                  },
                },
              ],
            },
          },
        };
      throw new Error(`not in this test: ${q}`);
    });
    renderPage(<Tags />, client, { timeZone: 'Asia/Shanghai' });
    const bulk = await screen.findByTestId('bulk');
    await within(bulk).findByRole('option', { name: 'VIPs (4)' });
    const run = within(bulk).getByRole('button', { name: 'Tag' });
    expect(run).toBeDisabled(); // no segment chosen yet
    fireEvent.change(within(bulk).getByRole('combobox', { name: 'Segment' }), { target: { value: 's1' } });
    fireEvent.change(within(bulk).getByRole('spinbutton', { name: 'Confidence' }), { target: { value: '0.8' } });
    fireEvent.change(within(bulk).getByRole('combobox', { name: 'Source' }), { target: { value: 'partner' } });
    fireEvent.change(within(bulk).getByLabelText('Expires'), { target: { value: '2027-01-01T00:30' } });
    fireEvent.click(run);
    expect(screen.getByRole('dialog')).toHaveTextContent('Tag every member of the segment "VIPs" (about 4 people) with "smart_shopper"?');
    expect(calls.some((c) => c.query.includes('assignTags'))).toBe(false);
    await act(async () => fireEvent.click(within(screen.getByRole('dialog')).getByRole('button', { name: 'Confirm' })));

    const assign = calls.find((c) => c.query.includes('assignTags'))!;
    // The expiry was asked in the workspace's zone (Shanghai, UTC+8).
    expect(assign.variables).toEqual({
      segmentId: 's1',
      tags: [{ name: 'smart_shopper', value: '', source: 'partner', confidence: 0.8, expiresAt: '2026-12-31T16:30:00.000Z' }],
    });
    await waitFor(() => expect(screen.getByTestId('tag-job')).toHaveAttribute('data-state', 'running'), { timeout: 2000 });
    expect(screen.getByTestId('job-progress')).toHaveTextContent('2 of 4 done, 2 tagged');
    expect(within(screen.getByTestId('tag-job')).getByRole('progressbar')).toHaveAttribute('value', '50');
    await waitFor(() => expect(screen.getByTestId('tag-job')).toHaveAttribute('data-state', 'done'), { timeout: 2000 });
    expect(within(screen.getByTestId('tag-job')).getByRole('progressbar')).toHaveAttribute('value', '100');
    const tagged = await screen.findByTestId('tagged');
    const row = within(tagged).getByText('p1').closest('tr')!;
    expect(row).toHaveTextContent('Partner');
    expect(row).toHaveTextContent('0.8');
    expect(row).toHaveTextContent('01/01/2027, 00:30'); // shown back in Shanghai time
  });

  it('tags a few people by id at once, and shows a refusal with its field', async () => {
    const { client, calls } = fakeClient((q, v) => {
      if (q.includes('tagDefinitions')) return { tagDefinitions: [def('vip_level', { valueKind: 'enumerated', source: 'template' })] };
      if (q.includes('segments')) return { segments: [] };
      if (q.includes('assignTags')) {
        if (!v.tags[0].value) throw refusal("tag 'vip_level' needs a value of 1-128 characters", 'BAD_USER_INPUT', 'tags[0].value');
        return {
          assignTags: {
            job: null,
            persons: v.personIds.map((id: string) => ({
              id,
              tags: [{ name: 'vip_level', value: v.tags[0].value, source: 'own', confidence: 1, assignedAt: '2026-12-04T10:00:00Z', expiresAt: null }],
            })),
          },
        };
      }
      throw new Error(q);
    });
    renderPage(<Tags />, client);
    const bulk = await screen.findByTestId('bulk');
    await within(bulk).findByRole('option', { name: 'vip_level (Enumerated)' });
    fireEvent.click(within(bulk).getByRole('radio', { name: 'Person ids' }));
    fireEvent.change(within(bulk).getByRole('textbox', { name: 'Person ids' }), { target: { value: 'p1\np2, p3' } });
    fireEvent.click(within(bulk).getByRole('button', { name: 'Tag' }));
    expect(screen.getByRole('dialog')).toHaveTextContent('Tag 3 people with "vip_level"?');
    await act(async () => fireEvent.click(within(screen.getByRole('dialog')).getByRole('button', { name: 'Confirm' })));
    expect(within(screen.getByTestId('bulk-error')).getByRole('alert')).toHaveTextContent(
      "tags[0].value: tag 'vip_level' needs a value of 1-128 characters (BAD_USER_INPUT)",
    );
    fireEvent.change(within(bulk).getByRole('textbox', { name: 'Value' }), { target: { value: 'gold' } });
    fireEvent.click(within(bulk).getByRole('button', { name: 'Tag' }));
    await act(async () => fireEvent.click(within(screen.getByRole('dialog')).getByRole('button', { name: 'Confirm' })));
    expect(calls.filter((c) => c.query.includes('assignTags')).pop()!.variables.personIds).toEqual(['p1', 'p2', 'p3']);
    expect(screen.getByRole('status')).toHaveTextContent('3 people tagged');
    expect(within(screen.getByTestId('tagged')).getAllByText('gold')).toHaveLength(3);
    expect(screen.getByTestId('tagged')).toHaveTextContent('Never');
    expect(screen.queryByTestId('tag-job')).toBeNull();
  });

  it('turns a wall-clock time of the workspace zone into the instant', () => {
    expect(zonedToIso('2027-01-01T00:30', 'Asia/Shanghai')).toBe('2026-12-31T16:30:00.000Z');
    expect(zonedToIso('2026-07-01T12:00', 'America/New_York')).toBe('2026-07-01T16:00:00.000Z'); // EDT
    expect(zonedToIso('2026-12-01T12:00', 'America/New_York')).toBe('2026-12-01T17:00:00.000Z'); // EST
    expect(zonedToIso('2026-03-08T03:30', 'America/New_York')).toBe('2026-03-08T07:30:00.000Z'); // just after the change
  });
});

describe('Settings: operators and the audit log', () => {
  function settingsApi(admin = true) {
    let operators = [
      { id: 'o1', email: 'admin@x.test', role: 'admin', createdAt: '2026-12-01T00:00:00Z' },
      { id: 'o2', email: 'ann@x.test', role: 'viewer', createdAt: '2026-12-02T00:00:00Z' },
    ];
    const audit = Array.from({ length: 60 }, (_, i) => ({
      who: 'operator:o1',
      action: i % 2 ? 'operator.add' : 'api_key.create',
      target: `operator:x${i}`,
      outcome: 'ok',
      at: '2026-12-03T23:30:00Z',
      detail: { role: 'viewer' },
    }));
    const forbidden = () => refusal("this credential lacks the 'admin' scope", 'FORBIDDEN', 'authorization');
    return fakeClient((q, v) => {
      if (q.includes('me {')) return { me: { subject: 'operator:o1', workspace: 'w', scopes: ['read'], role: admin ? 'admin' : 'viewer' } };
      if (!admin) throw forbidden();
      if (q.includes('apiKeys')) return { apiKeys: [] };
      if (q.includes('operators')) return { operators };
      if (q.includes('addOperator')) {
        const made = { id: 'o3', email: v.email, role: v.role, createdAt: '2026-12-04T00:00:00Z' };
        operators = [...operators, made];
        return { addOperator: made };
      }
      if (q.includes('setOperatorRole')) {
        operators = operators.map((o) => (o.email === v.email ? { ...o, role: v.role } : o));
        return { setOperatorRole: operators.find((o) => o.email === v.email) };
      }
      if (q.includes('removeOperator')) {
        operators = operators.filter((o) => o.email !== v.email);
        return { removeOperator: { id: 'o2', email: v.email, role: null } };
      }
      if (q.includes('auditLog'))
        return { auditLog: audit.filter((r) => !v.action || r.action === v.action).slice(0, v.limit) };
      throw new Error(q);
    });
  }

  it('adds an operator with a role, changes the role, removes after confirming; the audit log follows', async () => {
    const { client, calls } = settingsApi();
    renderPage(<Settings />, client);
    const list = await screen.findByTestId('operators');
    expect(within(list).getByText('ann@x.test').closest('tr')).toHaveTextContent('Viewer');

    const form = screen.getByTestId('add-operator');
    fireEvent.change(within(form).getByRole('textbox', { name: 'Email' }), { target: { value: 'bob@x.test' } });
    fireEvent.change(within(form).getByLabelText('Password'), { target: { value: 'a long password' } });
    fireEvent.change(within(form).getByRole('combobox', { name: 'Role' }), { target: { value: 'marketer' } });
    const auditCalls = () => calls.filter((c) => c.query.includes('auditLog')).length;
    const auditBefore = auditCalls();
    await act(async () => fireEvent.submit(form));
    expect(calls.find((c) => c.query.includes('addOperator'))!.variables).toEqual({ email: 'bob@x.test', password: 'a long password', role: 'marketer' });
    expect(screen.getByRole('status')).toHaveTextContent('Operator bob@x.test added (Marketer)');
    await within(list).findByText('bob@x.test');
    await waitFor(() => expect(auditCalls()).toBeGreaterThan(auditBefore)); // asked again after the change

    const bob = within(list).getByText('bob@x.test').closest('tr')!;
    const change = within(bob).getByRole('button', { name: 'Change role' });
    expect(change).toBeDisabled(); // the role it has
    fireEvent.change(within(bob).getByRole('combobox'), { target: { value: 'analyst' } });
    await act(async () => fireEvent.click(change));
    expect(calls.find((c) => c.query.includes('setOperatorRole'))!.variables).toEqual({ email: 'bob@x.test', role: 'analyst' });
    expect(screen.getByRole('status')).toHaveTextContent('bob@x.test is now Analyst');
    expect(within(list).getByText('bob@x.test').closest('tr')).toHaveTextContent('Analyst');

    const ann = within(list).getByText('ann@x.test').closest('tr')!;
    fireEvent.click(within(ann).getByRole('button', { name: 'Remove' }));
    expect(screen.getByRole('dialog')).toHaveTextContent('Remove ann@x.test from this workspace?');
    expect(calls.some((c) => c.query.includes('removeOperator'))).toBe(false);
    await act(async () => fireEvent.click(within(screen.getByRole('dialog')).getByRole('button', { name: 'Confirm' })));
    expect(calls.find((c) => c.query.includes('removeOperator'))!.variables).toEqual({ email: 'ann@x.test' });
    await waitFor(() => expect(within(list).queryByText('ann@x.test')).toBeNull());
  });

  it('pages the audit log by asking for more, filters it by action, dates in the workspace zone', async () => {
    const { client, calls } = settingsApi();
    renderPage(<Settings />, client, { timeZone: 'Asia/Shanghai' });
    const log = await screen.findByTestId('audit-log');
    await waitFor(() => expect(within(log).getAllByRole('row')).toHaveLength(51)); // a header and the first 50
    expect(within(log).getAllByRole('row')[1]).toHaveTextContent('04/12/2026, 07:30'); // 23:30 UTC in Shanghai
    expect(within(log).getAllByRole('row')[1]).toHaveTextContent('{"role":"viewer"}');
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Load more' })));
    await waitFor(() => expect(within(screen.getByTestId('audit-log')).getAllByRole('row')).toHaveLength(61));
    expect(calls.filter((c) => c.query.includes('auditLog')).pop()!.variables).toEqual({ limit: 100, action: null });
    expect(screen.queryByRole('button', { name: 'Load more' })).toBeNull(); // fewer than asked: the end

    await act(async () => fireEvent.change(screen.getByRole('combobox', { name: 'Action' }), { target: { value: 'operator.add' } }));
    expect(calls.filter((c) => c.query.includes('auditLog')).pop()!.variables).toEqual({ limit: 50, action: 'operator.add' });
    await waitFor(() => expect(within(screen.getByTestId('audit-log')).getAllByRole('row')).toHaveLength(31));
  });

  it("a non-admin sees the API's FORBIDDEN message when adding an operator", async () => {
    const { client } = settingsApi(false);
    renderPage(<Settings />, client, { lang: 'zh' });
    const form = await screen.findByTestId('add-operator');
    fireEvent.change(within(form).getByRole('textbox', { name: '邮箱' }), { target: { value: 'eve@x.test' } });
    fireEvent.change(within(form).getByLabelText('密码'), { target: { value: 'a long password' } });
    await act(async () => fireEvent.submit(form));
    expect(within(screen.getByTestId('operators-error')).getByRole('alert')).toHaveTextContent(
      "authorization: this credential lacks the 'admin' scope (FORBIDDEN)",
    );
    expect(screen.queryByTestId('operators')).toBeNull();
  });
});

describe('tags & settings strings', () => {
  it('every key has a Chinese and an English text', () => {
    for (const key of Object.keys(dictionaries.en)) {
      expect(dictionaries.zh[key as keyof typeof dictionaries.zh], key).toBeTruthy();
      expect(dictionaries.en[key as keyof typeof dictionaries.en], key).toBeTruthy();
    }
  });
});
