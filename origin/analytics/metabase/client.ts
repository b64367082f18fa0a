/**
 * A small client for Metabase's HTTP API: JSON in and out, the session header, and errors that
 * say which step failed, with Metabase's status and message. Only what the provisioning needs.
 * Reference: https://www.metabase.com/docs/latest/api (the API is not versioned; each instance
 * serves its own at /api/docs).
 */

/** A step of the provisioning failed: `step` says which, `status` is Metabase's answer (none when unreachable). */
export class MetabaseError extends Error {
  readonly code = 'METABASE_ERROR';
  constructor(
    readonly step: string,
    readonly status: number | undefined,
    message: string,
  ) {
    super(message);
    this.name = 'MetabaseError';
  }
}

export type MetabaseClientOptions = {
  /** Metabase's base URL, e.g. `http://metabase:3000`. */
  url: string;
  /** Values that must never appear in an error (passwords): replaced by `[redacted]`. */
  secrets?: string[];
  /** Per request. Metabase answers quickly except when it tests a database connection. */
  timeoutMs?: number;
};

type Method = 'GET' | 'POST' | 'PUT';

export class MetabaseClient {
  readonly url: string;
  private session: string | undefined;
  private readonly secrets: string[];
  private readonly timeoutMs: number;

  constructor(options: MetabaseClientOptions) {
    this.url = options.url.replace(/\/+$/, '');
    // Short values would redact ordinary words out of messages; real passwords are longer.
    this.secrets = (options.secrets ?? []).filter((s) => s.length >= 4);
    this.timeoutMs = options.timeoutMs ?? 60_000;
  }

  /** Use this session id (from POST /api/setup or /api/session) on every later request. */
  useSession(id: string): void {
    this.session = id;
  }

  get<T>(step: string, path: string): Promise<T> {
    return this.request<T>(step, 'GET', path);
  }

  post<T>(step: string, path: string, body: unknown): Promise<T> {
    return this.request<T>(step, 'POST', path, body);
  }

  put<T>(step: string, path: string, body: unknown): Promise<T> {
    return this.request<T>(step, 'PUT', path, body);
  }

  async request<T>(step: string, method: Method, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.session) headers['x-metabase-session'] = this.session;
    let response: Response;
    try {
      response = await fetch(`${this.url}${path}`, {
        method,
        headers,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(this.timeoutMs),
        redirect: 'error',
      });
    } catch (error) {
      const cause = (error as Error & { cause?: Error }).cause?.message;
      const reason =
        (error as Error).name === 'TimeoutError'
          ? `no answer within ${this.timeoutMs} ms`
          : (cause ?? (error as Error).message);
      throw new MetabaseError(
        step,
        undefined,
        this.redact(`${step}: cannot reach Metabase at ${this.url} (${method} ${path}): ${reason}`),
      );
    }
    const text = await response.text();
    if (!response.ok) {
      throw new MetabaseError(
        step,
        response.status,
        this.redact(
          `${step}: ${method} ${path} answered ${response.status}: ${metabaseMessage(text)}`,
        ),
      );
    }
    if (text === '') return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new MetabaseError(
        step,
        response.status,
        this.redact(
          `${step}: ${method} ${path} answered ${response.status} with something other than JSON: ${clip(text)}`,
        ),
      );
    }
  }

  private redact(message: string): string {
    let out = message;
    for (const secret of this.secrets) out = out.replaceAll(secret, '[redacted]');
    return out;
  }
}

/**
 * What Metabase says went wrong. Its errors come as `{ "message": … }`, as
 * `{ "errors": { field: why } }` (validation), as a bare JSON string ("Unauthenticated"), or as
 * HTML from a proxy in front of it.
 */
export function metabaseMessage(text: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return clip(text.trim()) || '(empty body)';
  }
  if (typeof parsed === 'string') return clip(parsed);
  if (parsed && typeof parsed === 'object') {
    const body = parsed as { message?: unknown; errors?: unknown };
    const parts: string[] = [];
    if (typeof body.message === 'string') parts.push(body.message);
    if (body.errors && typeof body.errors === 'object') {
      for (const [field, why] of Object.entries(body.errors as Record<string, unknown>))
        parts.push(`${field}: ${typeof why === 'string' ? why : JSON.stringify(why)}`);
    }
    if (parts.length > 0) return clip(parts.join('; '));
  }
  return clip(text.trim());
}

function clip(text: string): string {
  return text.length > 500 ? `${text.slice(0, 500)}…` : text;
}
