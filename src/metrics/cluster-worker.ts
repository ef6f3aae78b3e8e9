/**
 * /metrics over several workers, a worker's half (the protocol and what happens when a worker
 * does not answer: cluster-primary.ts). A worker that gets a scrape asks the primary for every
 * other worker's registry, adds its own and aggregates them with prom-client's
 * `AggregatorRegistry.aggregate`, by each metric's declared `aggregator` (sum unless it says
 * otherwise), so /metrics is the whole server's whichever worker answers, or on the separate
 * metrics listener that only one worker runs. The aggregating is done here and not in the
 * primary, which deals out every connection and so stays light.
 *
 * Concurrent scrapes in one worker share one gather (as /readyz shares its probe): at most one
 * per worker is in flight, so scrapes cannot pile work onto the other workers. (A scrape that
 * joins a gather already under way gets numbers from a few milliseconds before it arrived.)
 */
import { AggregatorRegistry, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import { type CollectedMessage, type CollectMessage, type GatheredMessage, type GatherMessage, WORKER_ANSWER_MS } from './cluster-primary.js';
import { type Exposition, MetricsUnavailableError } from './exposition.js';
import type { Metrics } from './index.js';

type MetricsJson = MetricObjectWithValues<MetricValue<string>>[];

/** Longer than the primary's own wait: it answers (with an error at worst) before this. */
const PRIMARY_ANSWER_MS = WORKER_ANSWER_MS * 2;

/**
 * IPC messages are JSON, which has no NaN or Infinity (a gauge may hold them): sample values
 * travel as strings then. Only `value` keys are touched; label values are strings already.
 */
function encode(metrics: MetricsJson): string {
  return JSON.stringify(metrics, (key, value: unknown) => (key === 'value' && typeof value === 'number' && !Number.isFinite(value) ? String(value) : value));
}

function decode(text: string): MetricsJson {
  return JSON.parse(text, (key, value: unknown) => (key === 'value' && typeof value === 'string' ? Number(value) : value)) as MetricsJson;
}

/** Makes this worker's /metrics report every worker, and answers the primary's requests for its own. */
export function joinCluster(metrics: Metrics): void {
  const send = (message: GatherMessage | CollectedMessage): void => {
    if (process.connected) process.send!(message);
  };
  const waiting = new Map<number, { resolve: (parts: string[]) => void; reject: (err: Error) => void }>();
  let nextId = 0;

  process.on('message', (message: Partial<CollectMessage | GatheredMessage> | null) => {
    if (message?.berth === 'metrics-collect') {
      const { id } = message as CollectMessage;
      metrics.registry.getMetricsAsJSON().then(
        (json) => send({ berth: 'metrics-collected', id, metrics: encode(json) }),
        (err: unknown) => send({ berth: 'metrics-collected', id, error: err instanceof Error ? err.message : String(err) }),
      );
    } else if (message?.berth === 'metrics-gathered') {
      const { id, parts, error } = message as GatheredMessage;
      const pending = waiting.get(id);
      if (!pending) return;
      if (parts) pending.resolve(parts);
      else pending.reject(new MetricsUnavailableError(error ?? 'no answer from the other workers'));
    }
  });
  process.on('disconnect', () => {
    for (const pending of waiting.values()) pending.reject(new MetricsUnavailableError('the cluster primary is gone'));
  });

  /** The other workers' metrics, through the primary. */
  const others = (): Promise<string[]> => {
    if (!process.connected) return Promise.reject(new MetricsUnavailableError('the cluster primary is gone'));
    const id = nextId++;
    let timer: NodeJS.Timeout | undefined;
    return new Promise<string[]>((resolve, reject) => {
      waiting.set(id, { resolve, reject });
      timer = setTimeout(() => reject(new MetricsUnavailableError(`the cluster primary did not answer within ${PRIMARY_ANSWER_MS / 1000} s`)), PRIMARY_ANSWER_MS);
      send({ berth: 'metrics-gather', id });
    }).finally(() => {
      clearTimeout(timer);
      waiting.delete(id);
    });
  };

  const gather = async (): Promise<Exposition> => {
    const [own, parts] = await Promise.all([metrics.registry.getMetricsAsJSON(), others()]);
    const aggregate = AggregatorRegistry.aggregate([own, ...parts.map(decode)]);
    return { contentType: aggregate.contentType, body: await aggregate.metrics() };
  };

  let inFlight: Promise<Exposition> | undefined;
  metrics.render = () => (inFlight ??= gather().finally(() => (inFlight = undefined)));
}
