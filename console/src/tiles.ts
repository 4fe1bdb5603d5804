// A saved dashboard tile's result (the model's own answer, camelCase keys) as a chart and one
// headline figure; a kind this does not know is shown as its JSON.

export type Tile = { title: string; kind: string; query: any; result: any };

const sum = (xs: number[]) => xs.reduce((a, b) => a + (Number(b) || 0), 0);

export function tileHeadline(tile: Tile): number | null {
  const r = tile.result ?? {};
  switch (tile.kind) {
    case 'trends': {
      const first = r.series?.[0];
      return first ? (first.total ?? sum(first.values ?? [])) : null;
    }
    case 'funnel':
      return r.results?.[0]?.entered ?? null;
    case 'retention':
      return r.rows ? sum(r.rows.map((row: any) => row.size)) : null;
    case 'paths':
      return r.totalPersons ?? null;
    case 'stickiness':
      return r.persons ? sum(r.persons) : null;
    default:
      return null;
  }
}

const base = { animation: false, tooltip: { trigger: 'axis' }, grid: { left: 50, right: 16, top: 16, bottom: 30 } };

export function tileOption(tile: Tile): Record<string, unknown> | null {
  const r = tile.result ?? {};
  switch (tile.kind) {
    case 'trends':
      if (!r.buckets || !r.series) return null;
      return {
        ...base,
        xAxis: { type: 'category', data: r.buckets.map((b: string) => String(b).slice(5, 10)) },
        yAxis: { type: 'value' },
        series: r.series.map((s: any) => ({ type: 'line', name: s.breakdownValue ?? s.event, data: s.values })),
      };
    case 'funnel': {
      const steps = r.results?.[0]?.steps;
      if (!steps) return null;
      return {
        ...base,
        xAxis: { type: 'category', data: steps.map((s: any) => s.event) },
        yAxis: { type: 'value' },
        series: [{ type: 'bar', data: steps.map((s: any) => s.count), label: { show: true, position: 'top' } }],
      };
    }
    case 'stickiness':
      if (!r.persons) return null;
      return {
        ...base,
        xAxis: { type: 'category', data: r.persons.map((_: number, i: number) => String(i + 1)) },
        yAxis: { type: 'value' },
        series: [{ type: 'bar', data: r.persons }],
      };
    case 'retention': {
      if (!r.rows || r.rows.length === 0) return null;
      // The mean share per period over cohorts that reached it.
      const width = Math.max(...r.rows.map((row: any) => row.shares.length));
      const means = Array.from({ length: width }, (_, i) => {
        const reached = r.rows.filter((row: any) => row.shares.length > i).map((row: any) => row.shares[i]);
        return reached.length ? Math.round((sum(reached) / reached.length) * 1000) / 10 : 0;
      });
      return {
        ...base,
        xAxis: { type: 'category', data: means.map((_, i) => String(i)) },
        yAxis: { type: 'value', axisLabel: { formatter: '{value}%' } },
        series: [{ type: 'line', data: means }],
      };
    }
    default:
      return null;
  }
}
