// Where the GraphQL endpoint is: config.json beside index.html (written by the console server),
// else the same origin's /graphql.
export type ConsoleConfig = { graphqlUrl: string };

export async function loadConfig(): Promise<ConsoleConfig> {
  try {
    const resp = await fetch('/config.json', { cache: 'no-store' });
    if (resp.ok) {
      const body = await resp.json();
      if (typeof body.graphqlUrl === 'string' && body.graphqlUrl !== '') return { graphqlUrl: body.graphqlUrl };
    }
  } catch {
    // no config.json: same origin
  }
  return { graphqlUrl: `${window.location.origin}/graphql` };
}
