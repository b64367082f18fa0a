import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A stand-in for Metabase (Metabase itself cannot run here): a local HTTP server that answers the
 * endpoints scripts/metabase-setup.ts uses as Metabase's API reference documents them
 * (https://www.metabase.com/docs/latest/api), validates what it is sent the way Metabase does,
 * and records every call, so tests can check the calls, their order and their payloads.
 * test/metabase-setup.test.ts tests the setup against it; test/compose-rehearsal.test.ts runs the
 * compose service `metabase-setup` against it.
 */

export type Call = { method: string; path: string; session: string | undefined; body: unknown };
export type Json = Record<string, unknown>;
export type Dashcard = { id: number; card_id: number | null; [key: string]: unknown };
export type Failure = { method: string; path: RegExp; status: number; body: string };

export const MASKED = '**MetabasePass**';

export class FakeMetabase {
  readonly calls: Call[] = [];
  readonly setupToken = randomUUID();
  users: { email: string; password: string }[] = [];
  sessions = new Set<string>();
  databases: Json[] = [];
  cards: Json[] = [];
  dashboards: (Json & { id: number; dashcards: Dashcard[] })[] = [];
  /** Answers 503 "initializing" to this many health checks first. */
  startingUp = 0;
  failure: Failure | undefined;
  private nextId = 1;
  private server: Server | undefined;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((error: Error) =>
        this.send(res, 500, { message: error.message }),
      );
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    await new Promise((resolve) => this.server?.close(resolve));
  }

  /** "METHOD /path" of every call, in order. */
  get log(): string[] {
    return this.calls.map((c) => `${c.method} ${c.path}`);
  }

  private send(res: ServerResponse, status: number, body: unknown, type = 'application/json') {
    res.writeHead(status, { 'content-type': type });
    res.end(typeof body === 'string' && type !== 'application/json' ? body : JSON.stringify(body));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let raw = '';
    for await (const chunk of req) raw += chunk;
    const url = new URL(req.url ?? '/', 'http://metabase');
    const body = raw ? (JSON.parse(raw) as Json) : undefined;
    const session = req.headers['x-metabase-session'] as string | undefined;
    const method = req.method ?? 'GET';
    this.calls.push({ method, path: `${url.pathname}${url.search}`, session, body });
    const f = this.failure;
    if (f && f.method === method && f.path.test(url.pathname)) {
      res.writeHead(f.status, { 'content-type': 'application/json' });
      res.end(f.body);
      return;
    }
    const route = `${method} ${url.pathname.replace(/\/\d+$/, '/:id')}`;
    const id = Number(url.pathname.match(/\/(\d+)$/)?.[1]);

    // Endpoints open without a session.
    if (route === 'GET /api/health') {
      if (this.startingUp > 0) {
        this.startingUp -= 1;
        return this.send(res, 503, { status: 'initializing', progress: 0.4 });
      }
      return this.send(res, 200, { status: 'ok' });
    }
    if (route === 'GET /api/session/properties')
      // Metabase keeps the token after setup; `has-user-setup` is what says it was used.
      return this.send(res, 200, {
        'setup-token': this.setupToken,
        'has-user-setup': this.users.length > 0,
        version: { tag: 'v0.50.0' },
      });
    if (route === 'POST /api/setup') {
      if (this.users.length > 0)
        return this.send(res, 403, {
          message:
            'The /api/setup route can only be used to create the first user, however a user currently exists.',
        });
      const user = (body?.user ?? {}) as Json;
      const prefs = (body?.prefs ?? {}) as Json;
      const errors: Json = {};
      if (body?.token !== this.setupToken) errors.token = 'Token does not match the setup token.';
      if (typeof user.email !== 'string' || !user.email.includes('@'))
        errors.email = 'value must be a valid email address.';
      if (typeof user.password !== 'string' || user.password.length < 6)
        errors.password = 'password is too common.';
      if (typeof prefs.site_name !== 'string' || prefs.site_name === '')
        errors.site_name = 'value must be a non-blank string.';
      if (Object.keys(errors).length > 0) return this.send(res, 400, { errors });
      this.users.push({ email: user.email as string, password: user.password as string });
      return this.send(res, 200, { id: this.newSession() });
    }
    if (route === 'POST /api/session') {
      const user = this.users.find((u) => u.email === body?.username);
      if (!user || user.password !== body?.password)
        return this.send(res, 401, { errors: { password: 'did not match stored password' } });
      return this.send(res, 200, { id: this.newSession() });
    }

    if (!session || !this.sessions.has(session))
      return this.send(res, 401, 'Unauthenticated', 'text/plain');

    switch (route) {
      case 'GET /api/database':
        return this.send(res, 200, {
          data: this.databases.map((d) => ({
            ...d,
            details: { ...(d.details as Json), password: MASKED },
          })),
          total: this.databases.length,
        });
      case 'POST /api/database': {
        const details = body?.details as Json | undefined;
        if (typeof body?.name !== 'string' || body.name === '')
          return this.send(res, 400, { errors: { name: 'value must be a non-blank string.' } });
        if (body.engine !== 'postgres')
          return this.send(res, 400, {
            errors: { engine: 'value must be a valid database engine.' },
          });
        if (!details || typeof details.host !== 'string' || typeof details.password !== 'string')
          return this.send(res, 400, { errors: { details: 'value must be a map.' } });
        const db = { id: this.newId(), name: body.name, engine: body.engine, details };
        this.databases.push(db);
        return this.send(res, 200, { ...db, details: { ...details, password: MASKED } });
      }
      case 'PUT /api/database/:id': {
        const db = this.databases.find((d) => d.id === id);
        if (!db) return this.send(res, 404, 'Not found.', 'text/plain');
        const details = { ...(body?.details as Json) };
        if (details.password === MASKED) details.password = (db.details as Json).password;
        Object.assign(db, { ...body, details });
        return this.send(res, 200, db);
      }
      case 'GET /api/card':
        return this.send(
          res,
          200,
          this.cards.filter((c) => !c.archived),
        );
      case 'POST /api/card':
      case 'PUT /api/card/:id': {
        const existing = this.cards.find((c) => c.id === id);
        if (route === 'PUT /api/card/:id' && !existing)
          return this.send(res, 404, 'Not found.', 'text/plain');
        const card = { ...(existing ?? { archived: false }), ...body } as Json;
        const q = card.dataset_query as Json | undefined;
        const native = q?.native as Json | undefined;
        if (typeof card.name !== 'string' || card.name === '')
          return this.send(res, 400, { errors: { name: 'value must be a non-blank string.' } });
        if (typeof card.display !== 'string')
          return this.send(res, 400, { errors: { display: 'value must be a non-blank string.' } });
        if (typeof card.visualization_settings !== 'object')
          return this.send(res, 400, {
            errors: { visualization_settings: 'Value must be a map.' },
          });
        if (q?.type !== 'native' || typeof native?.query !== 'string')
          return this.send(res, 400, { errors: { dataset_query: 'Value must be a map.' } });
        if (!this.databases.some((d) => d.id === q.database))
          return this.send(res, 400, { message: `Database ${String(q.database)} does not exist.` });
        if (!existing) {
          card.id = this.newId();
          this.cards.push(card);
        } else Object.assign(existing, card);
        return this.send(res, 200, card);
      }
      case 'GET /api/search': {
        const q = (url.searchParams.get('q') ?? '').toLowerCase();
        // Only dashboards exist in this stand-in, so `models=dashboard` filters nothing out.
        const data = this.dashboards
          .filter((d) => String(d.name).toLowerCase().includes(q))
          .map((d) => ({ id: d.id, name: d.name, model: 'dashboard', archived: false }));
        return this.send(res, 200, { data, total: data.length });
      }
      case 'POST /api/dashboard': {
        if (typeof body?.name !== 'string' || body.name === '')
          return this.send(res, 400, { errors: { name: 'value must be a non-blank string.' } });
        const dashboard = { ...body, id: this.newId(), dashcards: [] as Dashcard[] };
        this.dashboards.push(dashboard);
        return this.send(res, 200, dashboard);
      }
      case 'GET /api/dashboard/:id': {
        const dashboard = this.dashboards.find((d) => d.id === id);
        if (!dashboard) return this.send(res, 404, 'Not found.', 'text/plain');
        return this.send(res, 200, dashboard);
      }
      case 'PUT /api/dashboard/:id': {
        const dashboard = this.dashboards.find((d) => d.id === id);
        if (!dashboard) return this.send(res, 404, 'Not found.', 'text/plain');
        if (body?.dashcards !== undefined) {
          // The whole set: existing ids are kept, negative ids are new, the rest is deleted.
          const next: Dashcard[] = [];
          for (const d of body.dashcards as Dashcard[]) {
            const ok =
              Number.isInteger(d.id) &&
              [d.row, d.col].every((n) => Number.isInteger(n) && (n as number) >= 0) &&
              [d.size_x, d.size_y].every((n) => Number.isInteger(n) && (n as number) > 0) &&
              (d.card_id === null || this.cards.some((c) => c.id === d.card_id));
            if (!ok) return this.send(res, 400, { errors: { dashcards: 'invalid dashcard' } });
            if (d.id < 0) next.push({ ...d, id: this.newId() });
            else if (dashboard.dashcards.some((e) => e.id === d.id)) next.push(d);
            else
              return this.send(res, 400, { message: `Dashcard ${d.id} is not on this dashboard` });
          }
          dashboard.dashcards = next;
        }
        return this.send(res, 200, dashboard);
      }
      default:
        return this.send(res, 404, 'API endpoint does not exist.', 'text/plain');
    }
  }

  private newId(): number {
    this.nextId += 1;
    return this.nextId;
  }

  private newSession(): string {
    const id = randomUUID();
    this.sessions.add(id);
    return id;
  }
}
