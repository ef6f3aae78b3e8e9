/** The `n`/`last` pagination of tag and catalog lists. */
export interface Page {
  items: string[];
  /** The `last` value of the next page, when there is one. */
  next?: string;
}

/** Entries of a sorted list after `last`, at most `n` of them (all when `n` is undefined). */
export function paginate(sorted: string[], n?: number, last?: string): Page {
  const after = last === undefined ? sorted : sorted.filter((item) => item > last);
  if (n === undefined || after.length <= n) return { items: after };
  const items = after.slice(0, n);
  return n === 0 ? { items } : { items, next: items[items.length - 1] };
}
