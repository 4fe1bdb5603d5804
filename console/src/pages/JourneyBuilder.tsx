import { useCallback, useEffect, useMemo, useState } from 'react';
import { ConfirmButton } from '../components/ConfirmButton';
import { ErrorBox } from '../components/ErrorBox';
import { journeyGraph } from '../journeyGraph';
import { dictionaries, useI18n, type Key } from '../i18n';
import { useWorkspace } from '../session';
import { formatDateTime, formatNumber } from '../time';
import { JourneyGraphChart } from './Journeys';

const LOAD = `query Draft($id: ID!) {
  journey(id: $id) { id name kind status version draft versions { version definition } }
}`;
const CREATE = `mutation Create($name: String!, $definition: JSON) {
  createJourney(name: $name, definition: $definition) { id name status version draft }
}`;
const SAVE = `mutation Save($id: ID!, $definition: JSON, $name: String) {
  saveJourneyDraft(id: $id, definition: $definition, name: $name) { id name status version draft }
}`;
const PUBLISH = `mutation Publish($id: ID!, $mode: String!, $nodeMap: JSON, $dryRun: Boolean!) {
  publishJourney(id: $id, mode: $mode, nodeMap: $nodeMap, dryRun: $dryRun) { version dryRun moves moved }
}`;
const ARCHIVE = `mutation Archive($id: ID!) { archiveJourney(id: $id) { id status } }`;
const PERSON = `query Who($type: String!, $value: String!) { person(identity: { type: $type, value: $value }) { id } }`;
const PREVIEW = `query Preview($personId: ID!, $definition: JSON, $horizonDays: Int!) {
  previewJourney(personId: $personId, definition: $definition, horizonDays: $horizonDays) { at node kind detail }
}`;

// What a new journey starts from: an event entry, one message, a wait for an order, the end.
export const STARTER = {
  entry: { event: { name: 'Signed Up' } },
  start: 'welcome',
  nodes: {
    welcome: { type: 'send', template: 'TEMPLATE_ID', channel: 'email', next: 'wait_order', label: 'Welcome' },
    wait_order: { type: 'wait_event', event: 'Order Completed', timeout: '3d', on_event: 'done', on_timeout: 'done' },
    done: { type: 'exit' },
  },
};

type Loaded = { id: string; name: string; kind: string; status: string; version: number; draft: any; versions: { version: number; definition: any }[] };
type PreviewStep = { at: string; node: string; kind: string; detail: Record<string, unknown> };
type Moves = Record<string, number>;

// The JSON text as a definition, or why it is not one (the graph keeps the last good one meanwhile).
export function parseDefinition(text: string): { value: any } | { problem: string } {
  try {
    const value = JSON.parse(text);
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return { problem: 'not a JSON object' };
    return { value };
  } catch (exc) {
    return { problem: (exc as Error).message };
  }
}

function detailText(step: PreviewStep): string {
  const d = step.detail ?? {};
  const parts = Object.entries(d)
    .filter(([, v]) => v !== null && v !== undefined && v !== '' && !(Array.isArray(v) && v.length === 0))
    .map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`);
  return parts.join(' · ');
}

// Create a journey or edit its draft: the JSON on the left, its graph on the right redrawn as it is
// typed; save (the API validates and names the JSON path of what is wrong), publish (with the
// migration choice when people are in flight on the live version), archive, and a person's preview.
export function JourneyBuilder({ id: givenId, onChanged }: { id: string | null; onChanged: (id: string) => void }) {
  const { client, timeZone } = useWorkspace();
  const { t, lang } = useI18n();
  const [id, setId] = useState<string | null>(givenId);
  const [journey, setJourney] = useState<Loaded | null>(null);
  const [name, setName] = useState('');
  const [text, setText] = useState(givenId ? '' : JSON.stringify(STARTER, null, 2));
  const [savedText, setSavedText] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState('');
  const [busy, setBusy] = useState(false);
  // Publishing with people in flight: the dry run's counts and the operator's choice.
  const [moves, setMoves] = useState<Moves | null>(null);
  const [mode, setMode] = useState<'finish' | 'move'>('finish');
  const [nodeMapText, setNodeMapText] = useState('{}');

  const load = useCallback(() => {
    if (!id) return;
    client<{ journey: Loaded | null }>(LOAD, { id })
      .then((d) => {
        const j = d.journey;
        setJourney(j);
        if (!j) return;
        setName((n) => n || j.name);
        const live = j.versions.find((v) => v.version === j.version)?.definition;
        const shown = JSON.stringify(j.draft ?? live ?? STARTER, null, 2);
        setText((current) => current || shown);
        setSavedText((s) => s ?? shown);
      })
      .catch(setError);
  }, [client, id]);
  useEffect(load, [load]);

  const parsed = useMemo(() => parseDefinition(text), [text]);
  const [lastGood, setLastGood] = useState<any>(null);
  useEffect(() => {
    if ('value' in parsed) setLastGood(parsed.value);
  }, [parsed]);
  const graph = useMemo(() => journeyGraph(lastGood, []), [lastGood]);

  async function run<T>(work: () => Promise<T>): Promise<T | undefined> {
    setBusy(true);
    setError(null);
    setNotice('');
    try {
      return await work();
    } catch (exc) {
      setError(exc);
      return undefined;
    } finally {
      setBusy(false);
    }
  }

  // Saves the draft when the text changed since the last save (or creates the journey); false when refused.
  async function save(): Promise<string | null> {
    if (!('value' in parsed)) {
      setError(new Error(`${t('invalidJson')}: ${parsed.problem}`));
      return null;
    }
    if (!id) {
      const made = await client<{ createJourney: { id: string } }>(CREATE, { name: name.trim(), definition: parsed.value });
      const newId = made.createJourney.id;
      setId(newId);
      setSavedText(text);
      onChanged(newId);
      return newId;
    }
    if (text !== savedText || (journey && name.trim() !== journey.name)) {
      await client(SAVE, { id, definition: parsed.value, name: name.trim() || null });
      setSavedText(text);
      onChanged(id);
    }
    return id;
  }

  const onSave = () =>
    run(async () => {
      if (await save()) setNotice(t('draftSaved'));
      load();
    });

  async function publish(choice: 'finish' | 'move', confirmed: boolean) {
    await run(async () => {
      const target = await save();
      if (!target) return;
      let nodeMap: unknown = null;
      if (choice === 'move') {
        const m = parseDefinition(nodeMapText);
        if (!('value' in m)) throw new Error(`${t('nodeMap')}: ${t('invalidJson')}: ${m.problem}`);
        nodeMap = m.value;
      }
      // People in flight on a live version: count where they would go before anything moves.
      if (!confirmed && journey && journey.version > 0) {
        const dry = await client<{ publishJourney: { moves: Moves } }>(PUBLISH, { id: target, mode: choice, nodeMap, dryRun: true });
        const inFlight = Object.values(dry.publishJourney.moves ?? {}).reduce((a, b) => a + b, 0);
        if (inFlight > 0) {
          setMoves(dry.publishJourney.moves);
          return;
        }
      }
      const done = await client<{ publishJourney: { version: number; moved: number } }>(PUBLISH, { id: target, mode: choice, nodeMap, dryRun: false });
      setMoves(null);
      setNotice(t('publishedVersion', { version: done.publishJourney.version, moved: done.publishJourney.moved }));
      onChanged(target);
      load();
    });
  }

  async function recount(choice: 'finish' | 'move', mapText: string) {
    if (!id) return;
    const m = parseDefinition(mapText);
    // Moving needs a map: nothing to count until one names a node.
    if (choice === 'move' && !('value' in m && Object.keys(m.value).length > 0)) return;
    await run(async () => {
      const dry = await client<{ publishJourney: { moves: Moves } }>(PUBLISH, {
        id,
        mode: choice,
        nodeMap: choice === 'move' && 'value' in m ? m.value : null,
        dryRun: true,
      });
      setMoves(dry.publishJourney.moves);
    });
  }

  const archive = () =>
    run(async () => {
      if (!id) return;
      await client(ARCHIVE, { id });
      setNotice(t('archived'));
      onChanged(id);
      load();
    });

  return (
    <div className="card" data-testid="journey-builder">
      <h3>{id ? t('editDraft') : t('newJourney')}</h3>
      <div className="toolbar">
        <input aria-label={t('name')} placeholder={t('name')} value={name} onChange={(e) => setName(e.target.value)} />
        {journey ? (
          <span className="muted">
            <span className={`status status-${journey.status}`}>{journey.status}</span> · {t('version')} {journey.version}
          </span>
        ) : null}
        <button type="button" onClick={onSave} disabled={busy || !name.trim()}>
          {id ? t('saveDraft') : t('create')}
        </button>
        {id ? (
          <button type="button" onClick={() => publish(mode, false)} disabled={busy || journey?.status === 'archived'}>
            {t('publish')}
          </button>
        ) : null}
        {id && journey && journey.status !== 'archived' ? (
          <ConfirmButton label={t('archive')} question={t('confirmArchive', { name: journey.name })} onConfirm={archive} />
        ) : null}
      </div>
      <ErrorBox error={error} />
      {error && (error as { field?: string | null }).field ? (
        <p className="muted" data-testid="error-path">
          {t('jsonPath')}: <code>{(error as { field: string }).field}</code>
        </p>
      ) : null}
      {notice ? <p role="status">{notice}</p> : null}
      {moves ? (
        <div className="card" data-testid="migration">
          <h4>{t('inFlight')}</h4>
          <div className="toolbar">
            <label>
              <input
                type="radio"
                name="mode"
                checked={mode === 'finish'}
                onChange={() => {
                  setMode('finish');
                  recount('finish', nodeMapText);
                }}
              />{' '}
              {t('modeFinish')}
            </label>
            <label>
              <input
                type="radio"
                name="mode"
                checked={mode === 'move'}
                onChange={() => {
                  setMode('move');
                  recount('move', nodeMapText);
                }}
              />{' '}
              {t('modeMove')}
            </label>
          </div>
          {mode === 'move' ? (
            <label>
              {t('nodeMap')}
              <textarea aria-label={t('nodeMap')} rows={3} value={nodeMapText} onChange={(e) => setNodeMapText(e.target.value)} onBlur={() => recount('move', nodeMapText)} />
            </label>
          ) : null}
          <table className="list" data-testid="moves">
            <thead>
              <tr>
                <th>{t('goesTo')}</th>
                <th>{t('people')}</th>
              </tr>
            </thead>
            <tbody>
              {Object.entries(moves).map(([node, n]) => (
                <tr key={node} data-node={node}>
                  <td>{node === 'stay' ? t('staysOnVersion') : node}</td>
                  <td>{formatNumber(n, lang)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <button type="button" onClick={() => publish(mode, true)} disabled={busy}>
            {t('publishNow')}
          </button>{' '}
          <button type="button" onClick={() => setMoves(null)}>
            {t('cancel')}
          </button>
        </div>
      ) : null}
      <div className="builder">
        <label>
          {t('definitionJson')}
          <textarea
            aria-label={t('definitionJson')}
            data-testid="definition"
            rows={24}
            spellCheck={false}
            value={text}
            onChange={(e) => setText(e.target.value)}
          />
          {'problem' in parsed ? (
            <span className="error" data-testid="json-problem">
              {t('invalidJson')}: {parsed.problem}
            </span>
          ) : null}
        </label>
        <div data-testid="builder-graph" data-nodes={graph.nodes.map((n) => n.id).join(',')}>
          <JourneyGraphChart graph={graph} />
        </div>
      </div>
      <PreviewPanel definition={'value' in parsed ? parsed.value : lastGood} timeZone={timeZone} />
    </div>
  );
}

// One person's path through the definition being edited, on the simulated clock (nothing is sent).
function PreviewPanel({ definition, timeZone }: { definition: any; timeZone: string }) {
  const { client } = useWorkspace();
  const { t, lang } = useI18n();
  const [type, setType] = useState('user_id');
  const [value, setValue] = useState('');
  const [days, setDays] = useState(30);
  const [steps, setSteps] = useState<PreviewStep[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [missing, setMissing] = useState(false);

  async function preview(e: React.FormEvent) {
    e.preventDefault();
    setError(null);
    setMissing(false);
    setSteps(null);
    try {
      const found = await client<{ person: { id: string } | null }>(PERSON, { type, value: value.trim() });
      if (!found.person) {
        setMissing(true);
        return;
      }
      const d = await client<{ previewJourney: PreviewStep[] }>(PREVIEW, { personId: found.person.id, definition, horizonDays: days });
      setSteps(d.previewJourney);
    } catch (exc) {
      setError(exc);
    }
  }

  return (
    <div data-testid="preview">
      <h4>{t('previewPath')}</h4>
      <form className="toolbar" aria-label={t('previewPath')} onSubmit={preview}>
        <select aria-label={t('identifierType')} value={type} onChange={(e) => setType(e.target.value)}>
          <option value="user_id">user_id</option>
          <option value="email">email</option>
          <option value="phone">phone</option>
          <option value="anonymous_id">anonymous_id</option>
        </select>
        <input aria-label={t('identifierValue')} value={value} onChange={(e) => setValue(e.target.value)} required />
        <label>
          {t('horizonDays')}{' '}
          <input type="number" min={1} max={365} style={{ width: 70 }} value={days} onChange={(e) => setDays(Number(e.target.value) || 30)} />
        </label>
        <button type="submit" disabled={!definition}>
          {t('preview')}
        </button>
      </form>
      <ErrorBox error={error} />
      {missing ? <p className="muted">{t('noPerson')}</p> : null}
      {steps ? (
        <table className="list" data-testid="preview-steps">
          <thead>
            <tr>
              <th>{t('simulatedAt')}</th>
              <th>{t('step')}</th>
              <th>{t('kind')}</th>
              <th>{t('details')}</th>
            </tr>
          </thead>
          <tbody>
            {steps.map((s, i) => (
              <tr key={i} data-kind={s.kind} data-node={s.node} className={s.kind === 'send' ? 'message' : ''}>
                <td>{formatDateTime(s.at, timeZone, lang)}</td>
                <td>{s.node}</td>
                <td>{`preview_${s.kind}` in dictionaries[lang] ? t(`preview_${s.kind}` as Key) : s.kind}</td>
                <td>{detailText(s)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </div>
  );
}
