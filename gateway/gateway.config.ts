// Hive Gateway configuration.
//
// Auto-loaded by the `hive-gateway` CLI from its working directory (run.sh
// cd's into gateway/ and also passes it explicitly with --config-path).
// TypeScript is transpiled on the fly by the CLI.
//
// Layout: the edge's policy in named pieces (mode, CORS, query limits,
// authentication), then `gatewayConfig`, whose `plugins` list holds the edge
// plugins, each built from its own section here.
//
// The limit plugins are GraphQL Armor's, imported directly (pinned in
// package.json) rather than through the gateway's `maxDepth`/`maxTokens`
// shortcuts, so every refusal can be given one stable code (see `refusal`).

import { createHash, createHmac, randomUUID } from 'node:crypto';

import { costLimitPlugin } from '@escape.tech/graphql-armor-cost-limit';
import { maxAliasesPlugin } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthPlugin } from '@escape.tech/graphql-armor-max-depth';
import { maxTokensPlugin } from '@escape.tech/graphql-armor-max-tokens';
import { GraphQLError } from 'graphql';

// -- mode ----------------------------------------------------------------------
// CDP_DEV_MODE=1: GraphiQL, landing page, introspection and field suggestions on
// (`./suite start` sets it). Anything else is production: all four off, so the
// schema is learnt from the repository, not from the running edge.
const DEV_MODE = process.env.CDP_DEV_MODE === '1';

// -- CORS ----------------------------------------------------------------------
// CDP_CORS_ORIGINS: comma-separated exact origins (scheme://host[:port]) that
// browsers may call from, with credentials. Empty or unset: no CORS headers at
// all, so no cross-origin page can read a response.
const CORS_ORIGINS = new Set(
  (process.env.CDP_CORS_ORIGINS || '')
    .split(',')
    .map((origin) => origin.trim())
    .filter((origin) => origin !== ''),
);

// Per request, so an unlisted origin gets no Access-Control-* header at all
// (a static origin list would answer it with `null` or the first listed origin).
function corsFor(request: Request) {
  const origin = request.headers.get('origin');
  if (origin == null || !CORS_ORIGINS.has(origin)) return false as const;
  return {
    origin: [origin],
    credentials: true,
    methods: ['GET', 'POST'],
    allowedHeaders: ['content-type', 'authorization', 'x-workspace-id'],
    maxAge: 600,
  };
}

// -- query limits ----------------------------------------------------------------
// Measured on every GraphQL document in tests/, bench/, tools/ and the README: at
// most depth 5, 83 tokens, no aliases, cost 139 (what the whole test suite sends
// through the gateway: depth 5, 65 tokens, cost 70); a console-style page of 100
// members with their traits,
// computed values and segments costs 8,711 at depth 6. The review's findings
// measure: a 22-level query depth 22 / cost 24,935; 50 aliases; the
// Segment.members -> Person.segments cycle nested twice depth 10.
export const LIMITS = {
  maxDepth: 8,
  maxTokens: 1000,
  maxAliases: 15,
  maxCost: 20000,
} as const;

// Every refusal carries this code whatever plugin refused, so clients test one value.
export const REFUSAL_CODE = 'QUERY_TOO_COMPLEX';

// GraphQL Armor reports a refusal as a GraphQLError whose message starts with a
// misleading "Syntax Error: " and carries no code; this rewrites it in place
// (before it is thrown) with the stable code and the limit's name and value.
function refusal(limit: keyof typeof LIMITS) {
  return (_context: unknown, error: Error & { extensions?: Record<string, unknown> }) => {
    error.message = `${error.message.replace(/^Syntax Error: /, '')} (${limit} ${LIMITS[limit]})`;
    error.extensions = { ...error.extensions, code: REFUSAL_CODE, limit, max: LIMITS[limit] };
  };
}

function queryLimitPlugins() {
  return [
    maxTokensPlugin({ n: LIMITS.maxTokens, onReject: [refusal('maxTokens')] }),
    maxDepthPlugin({ n: LIMITS.maxDepth, onReject: [refusal('maxDepth')] }),
    maxAliasesPlugin({ n: LIMITS.maxAliases, onReject: [refusal('maxAliases')] }),
    costLimitPlugin({ maxCost: LIMITS.maxCost, onReject: [refusal('maxCost')] }),
  ];
}

// -- authentication ----------------------------------------------------------------
// The caller's `Authorization: Bearer <credential>` (a secret API key, an operator
// token, or a claims token) is turned into claims by identity's
// /internal/authenticate, asked with this gateway's own service credential. The
// subgraphs then receive `Authorization: Bearer <claims>`: a token signed with the
// internal keyring (CDP_INTERNAL_KEYS, shared with every service) naming the
// subject, the one workspace and the scopes; they accept nothing else. The
// client's own credential goes no further than identity. A request without a
// credential reaches the subgraphs without claims, so every field but `login`
// answers UNAUTHENTICATED there; a refused credential is answered here.
// Claims are cached by the credential's hash and the workspace named, until 30 s
// before they expire (so a revoked key stops within 30 s); refusals for 5 s.
const IDENTITY_HTTP = process.env.CDP_IDENTITY_HTTP || 'http://127.0.0.1:4001';
const DEV_INTERNAL_SECRET = 'dev-only-internal-secret-change-me';
const SERVICE_TOKEN_TTL = 3600;
const CACHE_SIZE = 10000;
const REFUSAL_CACHE_SECONDS = 5;

// Same format as services/kit/signing.py: `kid:secret,...` (the first signs) or a bare secret (`k1`).
function signingKey(): { kid: string; secret: string } {
  const spec = (process.env.CDP_INTERNAL_KEYS || '').trim();
  if (spec === '') {
    if (!DEV_MODE) throw new Error('CDP_INTERNAL_KEYS must be set outside dev mode (CDP_DEV_MODE=1)');
    return { kid: 'k1', secret: DEV_INTERNAL_SECRET };
  }
  const first = spec.split(',')[0];
  const at = first.indexOf(':');
  const key = at < 0 ? { kid: 'k1', secret: first } : { kid: first.slice(0, at), secret: first.slice(at + 1) };
  if (!DEV_MODE && key.secret.length < 32) throw new Error('CDP_INTERNAL_KEYS secrets must be at least 32 characters');
  return key;
}

const SIGNING_KEY = signingKey();

function b64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

function sign(payload: Record<string, unknown>, ttlSeconds: number): string {
  const body = { ...payload, kid: SIGNING_KEY.kid, exp: Math.floor(Date.now() / 1000 + ttlSeconds) };
  const text = b64url(JSON.stringify(body));
  return `${text}.${b64url(createHmac('sha256', SIGNING_KEY.secret).update(text).digest())}`;
}

let serviceToken = { token: '', renewAt: 0 };
function gatewayCredential(): string {
  const now = Date.now() / 1000;
  if (now >= serviceToken.renewAt) {
    const payload = { typ: 'claims', sub: 'service:gateway', ws: '*', scopes: ['admin', 'read', 'write'] };
    serviceToken = { token: sign(payload, SERVICE_TOKEN_TTL), renewAt: now + SERVICE_TOKEN_TTL / 2 };
  }
  return serviceToken.token;
}

type Verdict = { claims: string } | { code: string; message: string; status: number };
const verdicts = new Map<string, { until: number; verdict: Verdict }>();

function remember(key: string, until: number, verdict: Verdict): void {
  verdicts.delete(key);
  verdicts.set(key, { until, verdict });
  while (verdicts.size > CACHE_SIZE) verdicts.delete(verdicts.keys().next().value as string);
}

async function verdictFor(credential: string, workspace: string | null): Promise<Verdict> {
  const key = `${createHash('sha256').update(credential).digest('hex')}\n${workspace ?? ''}`;
  const now = Date.now() / 1000;
  const hit = verdicts.get(key);
  if (hit && hit.until > now) return hit.verdict;
  const resp = await fetch(`${IDENTITY_HTTP}/internal/authenticate`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${gatewayCredential()}` },
    body: JSON.stringify({ token: credential, workspace }),
  });
  const body = (await resp.json()) as Record<string, unknown>;
  if (resp.ok) {
    const verdict = { claims: String(body.claims) };
    remember(key, now + Math.max(0, Number(body.expires_in) - 30), verdict);
    return verdict;
  }
  if ([400, 401, 403].includes(resp.status)) {
    const verdict = { code: String(body.code), message: String(body.message), status: resp.status };
    remember(key, now + REFUSAL_CACHE_SECONDS, verdict);
    return verdict;
  }
  throw new Error(`identity answered ${resp.status} to /internal/authenticate`);
}

function authenticationPlugin() {
  return {
    async onContextBuilding({ context, extendContext }: { context: any; extendContext: (e: object) => void }) {
      const request: Request = context.request;
      const header = request.headers.get('authorization');
      if (header == null || header.trim() === '') return; // the subgraphs answer UNAUTHENTICATED (or `login`)
      const [scheme, credential] = header.trim().split(/\s+/, 2);
      if (scheme.toLowerCase() !== 'bearer' || !credential) {
        throw new GraphQLError("the Authorization header must be 'Bearer <API key or token>'", {
          extensions: { code: 'UNAUTHENTICATED', http: { status: 401 } },
        });
      }
      const workspace = request.headers.get('x-workspace-id')?.trim() || null;
      const verdict = await verdictFor(credential, workspace);
      if ('code' in verdict) {
        throw new GraphQLError(verdict.message, { extensions: { code: verdict.code, http: { status: verdict.status } } });
      }
      extendContext({ cdpClaims: verdict.claims });
    },
  };
}

// -- rate limits -------------------------------------------------------------------
// Per credential (the Authorization header's hash) and, for requests without one,
// per client address: a GCRA bucket each, in this gateway's memory (every replica
// limits on its own; 10,000 buckets at most, the least recently used forgotten).
// Over the limit: 429 with Retry-After and code RATE_LIMITED, before anything runs.
// CDP_RATE_PER_CREDENTIAL / CDP_RATE_PER_ADDRESS: `rate/s:burst`.
function rateSetting(name: string, fallback: string): { rate: number; burst: number } {
  const [rate, burst] = (process.env[name] || fallback).split(':').map(Number);
  if (!(rate > 0) || !(burst >= 1)) throw new Error(`${name} must be "<requests per second>:<burst>"`);
  return { rate, burst };
}

export const RATES = {
  credential: rateSetting('CDP_RATE_PER_CREDENTIAL', '200:400'),
  address: rateSetting('CDP_RATE_PER_ADDRESS', '30:100'),
};
const buckets = new Map<string, number>(); // key -> theoretical arrival time (ms)

// The seconds to wait, or 0 when the request may go now.
function admit(key: string, limit: { rate: number; burst: number }): number {
  const now = Date.now();
  const interval = 1000 / limit.rate;
  const tat = Math.max(buckets.get(key) ?? now, now);
  if (tat - now > interval * (limit.burst - 1)) return Math.ceil((tat - now - interval * (limit.burst - 1)) / 1000);
  buckets.delete(key);
  buckets.set(key, tat + interval);
  while (buckets.size > 10000) buckets.delete(buckets.keys().next().value as string);
  return 0;
}

function rateLimitPlugin() {
  return {
    onRequest({ request, serverContext, endResponse }: any) {
      const header = request.headers.get('authorization');
      const address = serverContext?.req?.socket?.remoteAddress ?? 'unknown';
      const [key, limit] = header
        ? [`c:${createHash('sha256').update(header).digest('hex')}`, RATES.credential]
        : [`a:${address}`, RATES.address];
      const wait = admit(key, limit);
      if (wait > 0) {
        const body = { errors: [{ message: `rate limit exceeded: retry in ${wait} s`, extensions: { code: 'RATE_LIMITED', retryAfter: wait } }] };
        endResponse(
          new Response(JSON.stringify(body), {
            status: 429,
            headers: { 'content-type': 'application/json', 'retry-after': String(wait) },
          }),
        );
      }
    },
  };
}

// -- unexpected errors ------------------------------------------------------------
// What the gateway itself did not anticipate (a subgraph unreachable, a bug) is
// answered like the subgraphs answer theirs: code INTERNAL and a correlation id,
// no exception text; the log line with the same id holds the detail. Errors that
// are GraphQL errors all the way down (refusals, a subgraph's own coded errors,
// including a subgraph's INTERNAL) pass through unchanged.
type MaybeGraphQLError = Error & { originalError?: unknown; extensions?: Record<string, unknown> };

function isGraphQLError(error: unknown): error is GraphQLError {
  // By name, not instanceof: the gateway and this file may load different copies of graphql.
  return error instanceof Error && error.name === 'GraphQLError';
}

function isExpected(error: unknown): boolean {
  if (!isGraphQLError(error)) return false;
  const original = (error as MaybeGraphQLError).originalError;
  return original == null || isExpected(original);
}

function maskUnexpected(error: unknown): Error {
  if (isExpected(error)) return error as Error;
  const correlationId = randomUUID().replaceAll('-', '');
  const detail = isGraphQLError(error) ? (error.originalError ?? error) : error;
  console.error(
    JSON.stringify({
      level: 'error',
      msg: 'unexpected error in the gateway',
      correlation_id: correlationId,
      graphql_path: isGraphQLError(error) ? error.path : undefined,
      exc: detail instanceof Error ? detail.stack : String(detail),
    }),
  );
  const http = isGraphQLError(error) ? error.extensions?.http : undefined;
  return new GraphQLError(`internal error (correlation id ${correlationId})`, {
    ...(isGraphQLError(error) ? { nodes: error.nodes, source: error.source, positions: error.positions, path: error.path } : {}),
    extensions: { code: 'INTERNAL', correlationId, ...(http ? { http } : {}) },
  });
}

// -- headers to subgraphs --------------------------------------------------------
// The claims (authentication above) and the workspace named; never the client's
// own credential. Lower-case names; WHATWG Headers.get() is case-insensitive.
const PROPAGATED_HEADERS = ['x-workspace-id'];

export const gatewayConfig = {
  plugins: () => [rateLimitPlugin(), ...queryLimitPlugins(), authenticationPlugin()],
  cors: corsFor,
  graphiql: DEV_MODE,
  landingPage: DEV_MODE,
  disableIntrospection: DEV_MODE ? undefined : {},
  blockFieldSuggestions: !DEV_MODE,
  maskedErrors: { maskError: maskUnexpected },
  propagateHeaders: {
    fromClientToSubgraphs({ request, context }: { request: Request; context?: any; subgraphName: string }) {
      const headers: Record<string, string> = {};
      if (context?.cdpClaims) headers.authorization = `Bearer ${context.cdpClaims}`;
      for (const name of PROPAGATED_HEADERS) {
        const value = request.headers.get(name);
        if (value != null) headers[name] = value;
      }
      return headers;
    },
  },
  // Endpoints (these are the defaults, spelled out so callers can rely on them):
  //   POST/GET /graphql      GraphQL (in dev mode GET with Accept: text/html serves GraphiQL)
  //   GET      /healthcheck  liveness: 200 as soon as the HTTP server is up
  //   GET      /readiness    200 once the supergraph is loaded and valid
  graphqlEndpoint: '/graphql',
  healthCheckEndpoint: '/healthcheck',
  readinessCheckEndpoint: '/readiness',
  // No usage reporting / tracing: `reporting` and `openTelemetry` are left
  // unset and no Hive/Apollo tokens are configured, so nothing is sent
  // anywhere (run.sh also unsets the CLI's env equivalents).
  // GATEWAY_LOG_LEVEL: debug | info | warn | error (DEBUG=1 also enables debug).
  logging: (process.env.GATEWAY_LOG_LEVEL || 'info') as 'debug' | 'info' | 'warn' | 'error',
};
