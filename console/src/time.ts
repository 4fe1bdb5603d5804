// Dates as the workspace sees them: every date shown or sent is a local date in its time zone.

// YYYY-MM-DD of `at` in `timeZone`.
export function localDate(at: Date, timeZone: string): string {
  // en-CA formats as YYYY-MM-DD.
  return new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(at);
}

// The last `days` local days up to today, inclusive, and the same length just before them.
export function dateRange(days: number, timeZone: string, now: Date = new Date()) {
  const today = localDate(now, timeZone);
  const to = new Date(`${today}T00:00:00Z`);
  const shift = (d: Date, n: number) => new Date(d.getTime() + n * 86400000).toISOString().slice(0, 10);
  return {
    dateFrom: shift(to, -(days - 1)),
    dateTo: today,
    previousFrom: shift(to, -(2 * days - 1)),
    previousTo: shift(to, -days),
  };
}

// A timestamp shown in the workspace's zone, in the interface's language.
export function formatDateTime(value: string | null | undefined, timeZone: string, lang: string): string {
  if (!value) return '—';
  const at = new Date(value);
  if (Number.isNaN(at.getTime())) return value;
  return new Intl.DateTimeFormat(lang === 'zh' ? 'zh-CN' : 'en-GB', {
    timeZone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    hour12: false,
  }).format(at);
}

export function formatNumber(value: number, lang: string, digits = 0): string {
  return new Intl.NumberFormat(lang === 'zh' ? 'zh-CN' : 'en-US', { maximumFractionDigits: digits }).format(value);
}
