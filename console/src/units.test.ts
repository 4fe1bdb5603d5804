import { ApiError, makeClient } from './api';
import { dictionaries, initialLang, translate } from './i18n';
import { conditionsToText, literal } from './rules';
import { dateRange, formatDateTime, localDate } from './time';

describe('i18n', () => {
  it('has every key in both languages, and fills placeholders', () => {
    expect(Object.keys(dictionaries.en).sort()).toEqual(Object.keys(dictionaries.zh).sort());
    expect(translate('zh', 'lastDays', { n: 7 })).toBe('最近 7 天');
    expect(translate('en', 'lastDays', { n: 7 })).toBe('Last 7 days');
  });

  it('starts in Chinese for the demo workspace and keeps an explicit choice', () => {
    expect(initialLang('demo', null, 'en-US')).toBe('zh');
    expect(initialLang('acme', null, 'en-US')).toBe('en');
    expect(initialLang('acme', null, 'zh-CN')).toBe('zh');
    expect(initialLang('demo', 'en', 'zh-CN')).toBe('en');
  });
});

describe('dates in the workspace time zone', () => {
  // 20:30 UTC on 4 December is already 5 December in Shanghai.
  const at = new Date('2026-12-04T20:30:00Z');

  it('takes today from the workspace zone, not the browser', () => {
    expect(localDate(at, 'Asia/Shanghai')).toBe('2026-12-05');
    expect(localDate(at, 'America/Los_Angeles')).toBe('2026-12-04');
    expect(dateRange(7, 'Asia/Shanghai', at)).toEqual({
      dateFrom: '2026-11-29',
      dateTo: '2026-12-05',
      previousFrom: '2026-11-22',
      previousTo: '2026-11-28',
    });
  });

  it('shows a timestamp at the workspace clock', () => {
    expect(formatDateTime('2026-12-04T20:30:00Z', 'Asia/Shanghai', 'en')).toContain('04:30');
    expect(formatDateTime('2026-12-04T20:30:00Z', 'UTC', 'en')).toContain('20:30');
    expect(formatDateTime(null, 'UTC', 'en')).toBe('—');
  });
});

describe('rule text from visual conditions', () => {
  it('quotes text, keeps numbers and booleans bare, skips empty rows', () => {
    expect(literal('25-34')).toBe('"25-34"');
    expect(literal('2')).toBe('2');
    expect(literal('true')).toBe('true');
    expect(
      conditionsToText([
        { path: 'traits.gender', op: '=', value: 'female' },
        { path: 'computed.order_count', op: '>=', value: '2' },
        { path: 'traits.', op: '=', value: '' },
      ]),
    ).toBe('traits.gender = "female" AND computed.order_count >= 2');
  });
});

describe('GraphQL client', () => {
  afterEach(() => vi.unstubAllGlobals());

  it('sends the bearer token and turns the first error into an ApiError with its field', async () => {
    const fetch = vi.fn(async () =>
      new Response(JSON.stringify({ errors: [{ message: 'unknown trait', extensions: { code: 'INVALID_INPUT', field: 'rule' } }] })),
    );
    vi.stubGlobal('fetch', fetch);
    const client = makeClient('http://gw/graphql', () => 'tok');
    const failure = await client('{ x }').catch((e) => e);
    expect(failure).toBeInstanceOf(ApiError);
    expect(failure.message).toBe('unknown trait');
    expect(failure.field).toBe('rule');
    expect(failure.code).toBe('INVALID_INPUT');
    const [, init] = fetch.mock.calls[0] as unknown as [string, RequestInit];
    expect((init.headers as Record<string, string>).authorization).toBe('Bearer tok');
  });

  it('signs out when a token is refused', async () => {
    vi.stubGlobal('fetch', async () => new Response(JSON.stringify({ errors: [{ message: 'expired', extensions: { code: 'UNAUTHENTICATED' } }] })));
    const onUnauthenticated = vi.fn();
    await makeClient('/graphql', () => 'tok', onUnauthenticated)('{ me { role } }').catch(() => null);
    expect(onUnauthenticated).toHaveBeenCalledOnce();
  });
});

describe('distribution counts', () => {
  it('asks one aliased previewSegment per value, within the gateway alias limit', async () => {
    const { countsQuery, RFM_GROUPS } = await import('./pages/Distributions');
    const query = countsQuery('rfm_group', RFM_GROUPS);
    expect(query.match(/previewSegment/g)).toHaveLength(8);
    expect(query).toContain('v0: previewSegment(rule: "computed.rfm_group = \\"important_value\\"") { count }');
    expect(RFM_GROUPS.length).toBeLessThanOrEqual(15);
  });
});
