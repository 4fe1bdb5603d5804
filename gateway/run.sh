#!/usr/bin/env bash
# Run Hive Gateway on a supergraph file.
#   gateway/run.sh SUPERGRAPH_FILE PORT
# Serves GraphQL at http://127.0.0.1:PORT/graphql, readiness at /readiness.
# Binds to 127.0.0.1 unless GATEWAY_HOST is set (e.g. 0.0.0.0 in a container).
set -euo pipefail

if [ "$#" -ne 2 ]; then
  echo "usage: $0 SUPERGRAPH_FILE PORT" >&2
  exit 2
fi

supergraph="$1"
port="$2"
# Resolve the supergraph path before changing directory.
case "$supergraph" in
  /*) ;;
  *) supergraph="$(pwd)/$supergraph" ;;
esac
if [ ! -f "$supergraph" ]; then
  echo "run.sh: supergraph file not found: $supergraph" >&2
  exit 2
fi

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
bin="$here/node_modules/.bin/hive-gateway"
if [ ! -x "$bin" ]; then
  echo "run.sh: $bin missing; run 'npm ci' in $here first" >&2
  exit 2
fi

# The CLI also reads these from the environment; make sure a stray variable
# cannot switch on usage reporting / tracing / remote schema fetching.
unset OPENTELEMETRY OPENTELEMETRY_EXPORTER_TYPE HIVE_TARGET HIVE_ACCESS_TOKEN \
  HIVE_USAGE_TARGET HIVE_USAGE_ACCESS_TOKEN HIVE_TRACE_ACCESS_TOKEN HIVE_TRACE_ENDPOINT \
  HIVE_REGISTRY_TOKEN HIVE_CDN_ENDPOINT HIVE_CDN_KEY APOLLO_KEY APOLLO_GRAPH_REF \
  APOLLO_SCHEMA_CONFIG_DELIVERY_ENDPOINT CONFIG_PATH FORK HOST PORT || true

exec "$bin" supergraph "$supergraph" \
  --config-path "$here/gateway.config.ts" \
  --host "${GATEWAY_HOST:-127.0.0.1}" \
  --port "$port"
