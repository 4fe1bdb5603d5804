// Hive Gateway configuration.
//
// Auto-loaded by the `hive-gateway` CLI from its working directory (run.sh
// cd's into gateway/ and also passes it explicitly with --config-path; the
// docker-compose service mounts it into the official image's /gateway).
//
// Deliberately imports nothing (not even `defineConfig`, which is an identity
// function), so it loads the same way from the npm install here and from the
// container image. TypeScript is transpiled on the fly by the CLI.

// Client request headers forwarded verbatim to every subgraph request.
// Lower-case names; WHATWG Headers.get() is case-insensitive.
const PROPAGATED_HEADERS = ['x-workspace-id', 'authorization'];

export const gatewayConfig = {
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
  //   POST/GET /graphql      GraphQL (GET with Accept: text/html serves GraphiQL)
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
