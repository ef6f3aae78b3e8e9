/**
 * /metrics over several workers, the cluster primary's half (the workers' half:
 * cluster-worker.ts). The primary holds no metrics and loads neither prom-client nor the app: it
 * only relays, as IPC is between the primary and each worker, never between workers.
 *
 *   worker A (a scrape arrived)  --gather {id}-->  primary
 *   primary  --collect {id'}-->  every other serving worker B, C ...
 *   B, C ... --collected {id', metrics: JSON text of its registry}-->  primary
 *   primary  --gathered {id, parts: [B's, C's ...]}-->  A, which adds its own and aggregates
 *
 * Only workers that listen are asked: a replacement still starting has served nothing, and may
 * not answer yet. Several gathers may be in flight at once (each worker has at most one: it shares
 * it between concurrent scrapes); each has its own id, so their replies never mix.
 *
 * When a worker fails to answer:
 * - it died (or the primary stopped it) mid-gather: the gather goes on without it, and A gets a
 *   partial result. That is the truth from now on: a dead worker's counts died with it (the
 *   replacement starts from zero), so the next scrapes will not have them either, and Prometheus'
 *   `rate()` reads the drop as the counter reset it is.
 * - it is alive but silent for WORKER_ANSWER_MS (an event loop blocked): the whole gather fails,
 *   and A answers 503 naming the worker. A partial result here would be wrong: the worker's counts
 *   would vanish for one scrape and come back, which `rate()` would read as a reset followed by a
 *   huge jump. A failed scrape is only a gap.
 */
import type { Worker } from 'node:cluster';

/** How long the primary waits for every worker asked to answer. */
export const WORKER_ANSWER_MS = 5_000;

/** worker -> primary: a scrape arrived; send me every other worker's metrics. */
export interface GatherMessage {
  berth: 'metrics-gather';
  id: number;
}
/** primary -> worker: send me your registry's metrics. */
export interface CollectMessage {
  berth: 'metrics-collect';
  id: number;
}
/** worker -> primary: its registry as `getMetricsAsJSON` gives it, in JSON text; or why not. */
export interface CollectedMessage {
  berth: 'metrics-collected';
  id: number;
  metrics?: string;
  error?: string;
}
/** primary -> the worker that asked: the other workers' metrics; or why they could not be had. */
export interface GatheredMessage {
  berth: 'metrics-gathered';
  id: number;
  parts?: string[];
  error?: string;
}

interface Gather {
  asker: Worker;
  /** The asker's id for it (the primary numbers gathers itself: ids from different workers collide). */
  askerId: number;
  /** Workers asked that have not answered yet, with their slot (for error messages). */
  waiting: Map<Worker, number>;
  parts: string[];
  timer: NodeJS.Timeout;
}

export class MetricsGatherer {
  private nextId = 0;
  private readonly gathers = new Map<number, Gather>();

  /** `serving`: the workers that listen now, with their slots. */
  constructor(private readonly serving: () => Map<Worker, number>) {}

  /** Takes `message` from `worker` if it is part of a gather (and ignores it otherwise). */
  handle(worker: Worker, message: unknown): void {
    const m = message as Partial<GatherMessage | CollectedMessage> | null;
    if (typeof m?.id !== 'number') return;
    if (m.berth === 'metrics-gather') this.start(worker, m.id);
    else if (m.berth === 'metrics-collected') this.collected(worker, m as CollectedMessage);
  }

  /** A worker exited: gathers it asked for are dropped; gathers waiting for it go on without it. */
  gone(worker: Worker): void {
    for (const [id, gather] of this.gathers) {
      if (gather.asker === worker) this.finish(id);
      else if (gather.waiting.delete(worker)) this.settleIfDone(id, gather);
    }
  }

  private start(asker: Worker, askerId: number): void {
    const id = this.nextId++;
    const waiting = new Map([...this.serving()].filter(([worker]) => worker !== asker && worker.isConnected()));
    const timer = setTimeout(() => {
      const slots = [...waiting.values()].sort((a, b) => a - b).join(', ');
      this.finish(id, { error: `worker ${slots} did not answer within ${WORKER_ANSWER_MS / 1000} s` });
    }, WORKER_ANSWER_MS);
    const gather: Gather = { asker, askerId, waiting, parts: [], timer };
    this.gathers.set(id, gather);
    for (const worker of waiting.keys()) worker.send({ berth: 'metrics-collect', id } satisfies CollectMessage);
    this.settleIfDone(id, gather);
  }

  private collected(worker: Worker, message: CollectedMessage): void {
    const gather = this.gathers.get(message.id);
    // Late (after the timeout), or from a worker not asked: nothing waits for it.
    if (!gather || !gather.waiting.has(worker)) return;
    if (message.error !== undefined || typeof message.metrics !== 'string') {
      this.finish(message.id, { error: `worker ${gather.waiting.get(worker)}: ${message.error ?? 'no metrics'}` });
      return;
    }
    gather.waiting.delete(worker);
    gather.parts.push(message.metrics);
    this.settleIfDone(message.id, gather);
  }

  private settleIfDone(id: number, gather: Gather): void {
    if (gather.waiting.size === 0) this.finish(id, { parts: gather.parts });
  }

  /** Ends a gather, answering its asker (if it is still there to hear it). */
  private finish(id: number, answer?: Pick<GatheredMessage, 'parts' | 'error'>): void {
    const gather = this.gathers.get(id);
    if (!gather) return;
    this.gathers.delete(id);
    clearTimeout(gather.timer);
    if (answer && gather.asker.isConnected()) gather.asker.send({ berth: 'metrics-gathered', id: gather.askerId, ...answer } satisfies GatheredMessage);
  }
}
