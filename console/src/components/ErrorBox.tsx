import { ApiError } from '../api';

// The API's own message, with the field it names.
export function ErrorBox({ error }: { error: unknown }) {
  if (!error) return null;
  const message = error instanceof Error ? error.message : String(error);
  const field = error instanceof ApiError ? error.field : null;
  const code = error instanceof ApiError ? error.code : '';
  return (
    <div role="alert" className="error">
      {field ? <strong>{field}: </strong> : null}
      {message}
      {code ? <span className="code"> ({code})</span> : null}
    </div>
  );
}
