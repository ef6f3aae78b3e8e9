/**
 * Probes for load balancers and Kubernetes, outside auth:
 * - `GET /healthz`: 200 while the process serves (liveness: restart me if this fails);
 * - `GET /readyz`: 200 when storage answers a cheap read (one GET of a small path that need not
 *   exist), 503 with the reason in JSON otherwise, or while the server shuts down (readiness:
 *   send me no traffic now). Concurrent probes share one storage read; it gives up after
 *   `timeoutMs` so that a hanging backend reads as not ready instead of holding probes open.
 */
import Router from '@koa/router';
import { PathNotFoundError, type StorageDriver } from '../../storage-drivers/driver.js';
import { type AppState, respondJson } from '../http/index.js';

/** A path that is read, never written: absent is a fine answer (storage replied). */
const PROBE_PATH = '/_berth/readyz';

export interface Readiness {
  ready: boolean;
  status: 'ready' | 'unavailable' | 'shutting down';
  checks: { storage: string };
}

export class Health {
  private draining = false;
  private inFlight?: Promise<Readiness>;

  constructor(
    private readonly driver: StorageDriver,
    private readonly timeoutMs = 5000,
  ) {}

  /** From now on /readyz answers 503 (the server is shutting down). */
  drain(): void {
    this.draining = true;
  }

  check(): Promise<Readiness> {
    if (this.draining) return Promise.resolve({ ready: false, status: 'shutting down', checks: { storage: 'not checked' } });
    this.inFlight ??= this.probe().finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  private async probe(): Promise<Readiness> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${this.timeoutMs} ms`)), this.timeoutMs);
    });
    try {
      await Promise.race([this.driver.getContent(PROBE_PATH).catch((err: unknown) => {
        if (!(err instanceof PathNotFoundError)) throw err;
      }), timeout]);
      return { ready: true, status: 'ready', checks: { storage: 'ok' } };
    } catch (err) {
      const reason = (err instanceof Error ? err.message : String(err)).slice(0, 300);
      return { ready: false, status: 'unavailable', checks: { storage: `${this.driver.name} storage unreachable: ${reason}` } };
    } finally {
      clearTimeout(timer);
    }
  }

  router(): Router<AppState> {
    const router = new Router<AppState>();
    router.get('/healthz', (ctx) => {
      ctx.set('Cache-Control', 'no-store');
      respondJson(ctx, { status: 'ok' });
    });
    router.get('/readyz', async (ctx) => {
      const { ready, ...body } = await this.check();
      ctx.set('Cache-Control', 'no-store');
      respondJson(ctx, body);
      ctx.status = ready ? 200 : 503;
    });
    return router;
  }
}
