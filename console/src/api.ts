// The console's only way out: POST GraphQL documents to the gateway's public endpoint.
// The operator's token from `login` goes as `Authorization: Bearer <token>`.

export type GraphQLErrorItem = {
  message: string;
  path?: (string | number)[];
  extensions?: { code?: string; field?: string; [k: string]: unknown };
};

// One error to show: the API's own message, and the field it names when it names one.
export class ApiError extends Error {
  code: string;
  field: string | null;
  constructor(item: GraphQLErrorItem) {
    super(item.message);
    this.name = 'ApiError';
    this.code = String(item.extensions?.code ?? '');
    const field = item.extensions?.field;
    this.field = typeof field === 'string' && field !== '' ? field : null;
  }
}

export type Client = <T = any>(query: string, variables?: Record<string, unknown>) => Promise<T>;

export function makeClient(url: string, token: () => string | null, onUnauthenticated?: () => void): Client {
  return async (query, variables = {}) => {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    const bearer = token();
    if (bearer) headers.authorization = `Bearer ${bearer}`;
    let resp: Response;
    try {
      resp = await fetch(url, { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
    } catch (exc) {
      throw new ApiError({ message: `${url}: ${(exc as Error).message}`, extensions: { code: 'NETWORK' } });
    }
    let body: { data?: any; errors?: GraphQLErrorItem[] };
    try {
      body = await resp.json();
    } catch {
      throw new ApiError({ message: `${url} answered ${resp.status}`, extensions: { code: 'HTTP' } });
    }
    if (body.errors && body.errors.length > 0) {
      const error = new ApiError(body.errors[0]);
      // An expired or revoked token: back to the login page rather than a page of errors.
      if (error.code === 'UNAUTHENTICATED' && bearer && onUnauthenticated) onUnauthenticated();
      throw error;
    }
    return body.data;
  };
}
