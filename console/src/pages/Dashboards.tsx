import { useCallback, useEffect, useState } from 'react';
import { Chart } from '../components/Chart';
import { ConfirmButton } from '../components/ConfirmButton';
import { ErrorBox } from '../components/ErrorBox';
import { useI18n } from '../i18n';
import { useWorkspace } from '../session';
import { formatDateTime, formatNumber } from '../time';
import { tileHeadline, tileOption, type Tile } from '../tiles';
import { TileForm, type TileInput } from './TileForm';

const LIST = `{ dashboards { id name updatedAt tiles { title kind } } }`;
const FIELDS = `id name tiles { title kind query result }`;
const ONE = `query Dashboard($id: ID!) { dashboard(id: $id) { ${FIELDS} } }`;
const CREATE = `mutation Create($name: String!, $tiles: [DashboardTileInput!]!) { createDashboard(name: $name, tiles: $tiles) { ${FIELDS} } }`;
const UPDATE = `mutation Update($id: ID!, $name: String, $tiles: [DashboardTileInput!]) {
  updateDashboard(id: $id, name: $name, tiles: $tiles) { ${FIELDS} }
}`;
const DELETE = `mutation Delete($id: ID!) { deleteDashboard(id: $id) }`;

type Opened = { id: string; name: string; tiles: Tile[] };

// A tile as updateDashboard takes it back: the saved query, not its computed result.
const asInput = (tile: Tile): TileInput => ({ title: tile.title, kind: tile.kind, query: tile.query });

type Listed = { id: string; name: string; updatedAt: string; tiles: { title: string; kind: string }[] };

export function Dashboards() {
  const { client, timeZone } = useWorkspace();
  const { t, lang } = useI18n();
  const [list, setList] = useState<Listed[] | null>(null);
  const [open, setOpen] = useState<Opened | null>(null);
  const [loadedMs, setLoadedMs] = useState<number | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [rename, setRename] = useState('');
  const [newName, setNewName] = useState('');
  const [notice, setNotice] = useState('');

  const reload = useCallback(() => {
    client<{ dashboards: Listed[] }>(LIST)
      .then((d) => setList(d.dashboards))
      .catch(setError);
  }, [client]);

  useEffect(reload, [reload]);

  // Every edit is one call answering the whole dashboard, computed again.
  async function edit(call: () => Promise<Opened>, done: string) {
    setError(null);
    setNotice('');
    try {
      const saved = await call();
      setOpen(saved);
      setRename(saved.name);
      setNotice(done);
      reload();
    } catch (exc) {
      setError(exc);
    }
  }

  const update = (id: string, vars: { name?: string; tiles?: TileInput[] }) => async () =>
    (await client<{ updateDashboard: Opened }>(UPDATE, { id, ...vars })).updateDashboard;

  async function remove(id: string) {
    setError(null);
    setNotice('');
    try {
      await client(DELETE, { id });
      setOpen(null);
      reload();
    } catch (exc) {
      setError(exc);
    }
  }

  async function show(id: string) {
    setError(null);
    setOpen(null);
    const started = performance.now();
    try {
      const d = await client<{ dashboard: { id: string; name: string; tiles: Tile[] } }>(ONE, { id });
      setOpen(d.dashboard);
      setRename(d.dashboard.name);
      setLoadedMs(Math.round(performance.now() - started));
    } catch (exc) {
      setError(exc);
    }
  }

  return (
    <section>
      <h2>{t('dashboards')}</h2>
      <form
        className="toolbar"
        onSubmit={(e) => {
          e.preventDefault();
          edit(async () => (await client<{ createDashboard: Opened }>(CREATE, { name: newName.trim(), tiles: [] })).createDashboard, t('saved'));
          setNewName('');
        }}
      >
        <input aria-label={t('newDashboard')} placeholder={t('newDashboard')} value={newName} onChange={(e) => setNewName(e.target.value)} required />
        <button type="submit">{t('createDashboard')}</button>
      </form>
      {notice ? <p role="status">{notice}</p> : null}
      <ErrorBox error={error} />
      {list && list.length === 0 ? <p className="muted">{t('none')}</p> : null}
      {list && list.length > 0 ? (
        <table className="list" data-testid="dashboard-list">
          <thead>
            <tr>
              <th>{t('name')}</th>
              <th>{t('tiles')}</th>
              <th>{t('updatedAt')}</th>
            </tr>
          </thead>
          <tbody>
            {list.map((d) => (
              <tr key={d.id} className={open?.id === d.id ? 'active' : ''}>
                <td>
                  <button type="button" className="link" onClick={() => show(d.id)}>
                    {d.name}
                  </button>
                </td>
                <td>{d.tiles.length}</td>
                <td>{formatDateTime(d.updatedAt, timeZone, lang)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {open ? (
        <div data-testid="dashboard">
          <h3>{open.name}</h3>
          {loadedMs != null ? <p className="muted">{t('loadedIn', { ms: loadedMs })}</p> : null}
          <div className="toolbar">
            <form
              className="toolbar"
              onSubmit={(e) => {
                e.preventDefault();
                edit(update(open.id, { name: rename.trim() }), t('saved'));
              }}
            >
              <input aria-label={t('dashboardName')} value={rename} onChange={(e) => setRename(e.target.value)} required />
              <button type="submit" disabled={rename.trim() === open.name}>
                {t('renameDashboard')}
              </button>
            </form>
            {/* Outside the form: its button would otherwise submit the rename. */}
            <ConfirmButton
              label={t('deleteDashboard')}
              question={t('confirmDeleteDashboard', { name: open.name })}
              onConfirm={() => remove(open.id)}
            />
          </div>
          <div className="cards">
            {open.tiles.map((tile, i) => {
              const headline = tileHeadline(tile);
              const option = tileOption(tile);
              return (
                <div className="card" key={i} data-testid={`tile-${i}`}>
                  <h4>
                    {tile.title || tile.kind} <span className="muted">({tile.kind})</span>
                  </h4>
                  {headline != null ? <div className="big">{formatNumber(headline, lang, 2)}</div> : null}
                  {option ? (
                    <Chart option={option} height={200} label={tile.title || tile.kind} />
                  ) : (
                    <pre className="json">{JSON.stringify(tile.result, null, 2).slice(0, 2000)}</pre>
                  )}
                  <button
                    type="button"
                    aria-label={`${t('removeTile')} ${i + 1}`}
                    onClick={() => edit(update(open.id, { tiles: open.tiles.filter((_, j) => j !== i).map(asInput) }), t('saved'))}
                  >
                    {t('removeTile')}
                  </button>
                </div>
              );
            })}
          </div>
          <TileForm onAdd={(tile) => edit(update(open.id, { tiles: [...open.tiles.map(asInput), tile] }), t('saved'))} />
        </div>
      ) : null}
    </section>
  );
}
