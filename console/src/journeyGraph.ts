// A journey definition's nodes and branches as a graph to draw: each node placed by its distance
// from the start (columns) and its order in that column (rows); each edge named by the branch
// it is (yes/no, event/timeout, a split's weight, an experiment's arm).

export type StepStats = { node: string; entered: number; waiting: number; active: number; exited: number; done: number; converted: number };
export type GraphNode = { id: string; type: string; label: string; column: number; row: number; entered: number };
export type GraphEdge = { source: string; target: string; label: string };

type RawNode = Record<string, any>;

export function branches(node: RawNode): { target: string; label: string }[] {
  const out: { target: string; label: string }[] = [];
  const add = (target: unknown, label: string) => {
    if (typeof target === 'string' && target) out.push({ target, label });
  };
  switch (node.type) {
    case 'branch':
      add(node.yes, 'yes');
      add(node.no, 'no');
      break;
    case 'wait_event':
      add(node.on_event, node.event ? String(node.event) : 'event');
      add(node.on_timeout, `timeout ${node.timeout ?? ''}`.trim());
      break;
    case 'split':
      for (const p of node.paths ?? []) add(p.next, `${p.weight}`);
      break;
    case 'experiment':
      for (const v of node.variants ?? []) add(v.next, String(v.name ?? ''));
      if (node.control) add(node.control.next, 'control');
      break;
    default:
      add(node.next, '');
  }
  return out;
}

export function journeyGraph(definition: any, stats: StepStats[]): { nodes: GraphNode[]; edges: GraphEdge[] } {
  const raw: Record<string, RawNode> = definition?.nodes ?? {};
  const entered = new Map(stats.map((s) => [s.node, s.entered]));
  const column = new Map<string, number>();
  const order: string[] = [];
  const start = typeof definition?.start === 'string' ? definition.start : Object.keys(raw)[0];
  // Breadth first from the start: a node's column is its shortest distance; loops back keep the first.
  const queue = start && raw[start] ? [start] : [];
  if (queue.length) column.set(start, 0);
  while (queue.length) {
    const id = queue.shift()!;
    order.push(id);
    for (const { target } of branches(raw[id])) {
      if (raw[target] && !column.has(target)) {
        column.set(target, column.get(id)! + 1);
        queue.push(target);
      }
    }
  }
  // Nodes the start does not reach (a draft being edited) go in a last column of their own.
  const last = Math.max(-1, ...column.values()) + 1;
  for (const id of Object.keys(raw)) {
    if (!column.has(id)) {
      column.set(id, last);
      order.push(id);
    }
  }
  const rows = new Map<number, number>();
  const nodes = order.map((id) => {
    const c = column.get(id)!;
    const row = rows.get(c) ?? 0;
    rows.set(c, row + 1);
    const node = raw[id];
    return { id, type: String(node.type ?? ''), label: String(node.label ?? id), column: c, row, entered: entered.get(id) ?? 0 };
  });
  const edges = order.flatMap((id) =>
    branches(raw[id])
      .filter((b) => raw[b.target])
      .map((b) => ({ source: id, target: b.target, label: b.label })),
  );
  return { nodes, edges };
}
