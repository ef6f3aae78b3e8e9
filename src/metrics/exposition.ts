/** What /metrics serves, on either listener, and the one failure it explains to the scraper. */

export interface Exposition {
  contentType: string;
  body: string;
}

/** The metrics could not be had for a reason worth telling the scraper (answered 503 with it). */
export class MetricsUnavailableError extends Error {
  override name = 'MetricsUnavailableError';
}
