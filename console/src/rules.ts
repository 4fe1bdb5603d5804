// The visual conditions' text form: what the segment service parses (README: the rule language).
export type Condition = { path: string; op: string; value: string };

export const OPS = ['=', '!=', '>', '>=', '<', '<='];

// A value as a literal of the rule language: numbers and true/false bare, anything else quoted.
export function literal(value: string): string {
  const v = value.trim();
  if (v === 'true' || v === 'false' || /^-?\d+(\.\d+)?$/.test(v)) return v;
  return JSON.stringify(v);
}

export function conditionsToText(conditions: Condition[]): string {
  return conditions
    .filter((c) => c.path.trim() !== '' && c.value.trim() !== '')
    .map((c) => `${c.path.trim()} ${c.op} ${literal(c.value)}`)
    .join(' AND ');
}

// The text form back to rows, when it is one: `path op value` conditions joined by AND and
// nothing else (OR, NOT, parentheses, BETWEEN, IN, DID... stay text-only: null). Tokens as the
// segment service's text_form.py reads them (its [^\W\d] and \w take letters beyond ASCII too).
const TOKEN = /\s+|("(?:[^"\\]|\\.)*")|(-?\d+(?:\.\d+)?)|(!=|<=|>=|=|<|>|\(|\)|\[|\]|,)|([\p{L}_][\p{L}\p{N}_]*(?:\.[\p{L}_][\p{L}\p{N}_]*)*)/uy;
const KEYWORDS = new Set(['AND', 'OR', 'NOT', 'IN', 'BETWEEN', 'EXISTS', 'CONTAINS', 'DID', 'WHERE', 'AT', 'LEAST', 'TIMES', 'LAST', 'DAYS']);

type Token = { kind: 'string' | 'number' | 'op' | 'path'; text: string };

function tokens(text: string): Token[] | null {
  const out: Token[] = [];
  // A fresh sticky copy: lastIndex is per scan.
  const re = new RegExp(TOKEN.source, 'uy');
  let pos = 0;
  while (pos < text.length) {
    re.lastIndex = pos;
    const m = re.exec(text);
    if (!m) return null;
    if (m[1] !== undefined) out.push({ kind: 'string', text: m[1] });
    else if (m[2] !== undefined) out.push({ kind: 'number', text: m[2] });
    else if (m[3] !== undefined) out.push({ kind: 'op', text: m[3] });
    else if (m[4] !== undefined) out.push({ kind: 'path', text: m[4] });
    pos = re.lastIndex;
  }
  return out;
}

export function textToConditions(text: string): Condition[] | null {
  const toks = tokens(text);
  if (!toks || toks.length === 0) return null;
  const rows: Condition[] = [];
  let i = 0;
  for (;;) {
    const [path, op, value] = [toks[i], toks[i + 1], toks[i + 2]];
    if (!path || path.kind !== 'path' || !path.text.includes('.') || KEYWORDS.has(path.text.toUpperCase())) return null;
    if (!op || op.kind !== 'op' || !OPS.includes(op.text)) return null;
    if (!value) return null;
    let shown: string;
    if (value.kind === 'number') shown = value.text;
    else if (value.kind === 'path' && (value.text === 'true' || value.text === 'false')) shown = value.text;
    else if (value.kind === 'string') {
      shown = value.text.slice(1, -1).replace(/\\(.)/g, '$1');
      // A row writes its value back through literal(): "30" would come back as 30, " a" as "a".
      if (literal(shown) !== JSON.stringify(shown)) return null;
    } else return null;
    rows.push({ path: path.text, op: op.text, value: shown });
    i += 3;
    if (i === toks.length) return rows;
    if (toks[i].kind !== 'path' || toks[i].text.toUpperCase() !== 'AND') return null;
    i += 1;
  }
}
