/**
 * A small least-recently-used map, for caches of immutable things (manifests by digest, verified
 * tokens). Capacity counts entries, or whatever `weigh` says an entry costs (bytes, say).
 */
export class LruCache<K, V> {
  private readonly entries = new Map<K, V>();
  private total = 0;

  constructor(
    private readonly capacity: number,
    private readonly weigh: (value: V) => number = () => 1,
  ) {}

  get(key: K): V | undefined {
    const value = this.entries.get(key);
    if (value !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, value);
    }
    return value;
  }

  set(key: K, value: V): void {
    this.delete(key);
    const weight = this.weigh(value);
    if (weight > this.capacity) return;
    this.entries.set(key, value);
    this.total += weight;
    while (this.total > this.capacity) this.delete(this.entries.keys().next().value as K);
  }

  delete(key: K): void {
    const old = this.entries.get(key);
    if (old === undefined) return;
    this.entries.delete(key);
    this.total -= this.weigh(old);
  }
}
