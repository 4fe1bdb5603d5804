import { conditionsToText, textToConditions } from './rules';

describe('textToConditions', () => {
  it('reads AND-joined conditions back into rows, as the rows would write them', () => {
    const text = 'traits.vip = true AND computed.order_count >= 2 and traits.city != "上海" AND traits.score < -1.5';
    const rows = textToConditions(text);
    expect(rows).toEqual([
      { path: 'traits.vip', op: '=', value: 'true' },
      { path: 'computed.order_count', op: '>=', value: '2' },
      { path: 'traits.city', op: '!=', value: '上海' },
      { path: 'traits.score', op: '<', value: '-1.5' },
    ]);
    expect(conditionsToText(rows!)).toBe('traits.vip = true AND computed.order_count >= 2 AND traits.city != "上海" AND traits.score < -1.5');
  });

  it('reads spacing and escapes as the service does', () => {
    expect(textToConditions('  traits.gender="female"AND traits.age<=34 ')).toEqual([
      { path: 'traits.gender', op: '=', value: 'female' },
      { path: 'traits.age', op: '<=', value: '34' },
    ]);
    expect(textToConditions('traits.note = "say \\"hi\\""')).toEqual([{ path: 'traits.note', op: '=', value: 'say "hi"' }]);
  });

  it.each([
    ['traits.vip = true OR traits.age > 30'],
    ['NOT traits.vip = true'],
    ['(traits.vip = true)'],
    ['traits.age BETWEEN 25 AND 34'],
    ['traits.city IN ["a", "b"]'],
    ['traits.email EXISTS'],
    ['DID "Order Completed" IN LAST 30 DAYS'],
    ['IN SEGMENT "VIP"'],
    ['tags.fitness WITH CONFIDENCE >= 0.8'],
    // Rows write "30" back as the number 30, " a" as "a": not the same rule.
    ['traits.zip = "30"'],
    ['traits.flag = "true"'],
    ['traits.name = " padded"'],
    ['traits.vip = yes'],
    ['traits.vip ='],
    ['traits.vip = true AND'],
    ['traits.vip = true traits.age = 3'],
    ['vip = true'],
    ['traits.vip = true ; drop'],
  ])('leaves %s text-only', (text) => {
    expect(textToConditions(text)).toBeNull();
  });
});
