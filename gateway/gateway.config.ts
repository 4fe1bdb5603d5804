// Hive Gateway configuration.
//
// Auto-loaded by the `hive-gateway` CLI from its working directory (run.sh
// cd's into gateway/ and also passes it explicitly with --config-path).
// TypeScript is transpiled on the fly by the CLI.
//
// Layout: the edge's policy in named pieces (mode, CORS, query limits), then
// `gatewayConfig`, whose `plugins` list is where further edge plugins
// (authentication, signed upstream requests) are added, each built from its
// own section here.
//
// The limit plugins are GraphQL Armor's, imported directly (pinned in
// package.json) rather than through the gateway's `maxDepth`/`maxTokens`
// shortcuts, so every refusal can be given one stable code (see `refusal`).

import { randomUUID } from 'node:crypto';

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
// Client request headers forwarded verbatim to every subgraph request.
// Lower-case names; WHATWG Headers.get() is case-insensitive.
const PROPAGATED_HEADERS = ['x-workspace-id', 'authorization'];

export const gatewayConfig = {
  plugins: () => [...queryLimitPlugins()],
  cors: corsFor,
  graphiql: DEV_MODE,
  landingPage: DEV_MODE,
  disableIntrospection: DEV_MODE ? undefined : {},
  blockFieldSuggestions: !DEV_MODE,
  maskedErrors: { maskError: maskUnexpected },
  propagateHeaders: {
    fromClientToSubgraphs({ request }: { request: Request; subgraphName: string }) {
      const headers: Record<string, string> = {};
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
