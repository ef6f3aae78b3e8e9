/**
 * Which replica delivers to an endpoint: a lease in storage, taken in numbered terms. Taking a
 * term is a putContentIfAbsent of its file, so of the replicas that try, exactly one gets it.
 * The holder renews its term (rewrites its file with the time) every third of the lease; another
 * replica takes the next term only when the newest one is released (a clean shutdown) or has not
 * been renewed for the whole lease (its replica is gone). A holder learns it lost by finding a
 * later term: it looks before every delivery and every renewal.
 *
 * Compromise: a holder that was only slow (not gone) for a whole lease may still be posting one
 * event when the next holder starts; that event may then arrive twice. Delivery is at least once
 * anyway (receivers dedupe by event id). Replicas' clocks must agree to well within a lease.
 */
import { PathNotFoundError, type StorageDriver } from '../../storage-drivers/driver.js';
import { lastPart, listOrEmpty } from '../registry/listing.js';
import { leaseFolder, leasePath } from './paths.js';

export interface LeaseRecord {
  owner: string;
  /** ms since the epoch. */
  renewedAt: number;
  released?: boolean;
}

async function readTerm(driver: StorageDriver, endpoint: string, term: number): Promise<LeaseRecord | undefined> {
  try {
    const parsed = JSON.parse((await driver.getContent(leasePath(endpoint, term))).toString('utf8')) as LeaseRecord;
    return typeof parsed.renewedAt === 'number' ? parsed : undefined;
  } catch (err) {
    if (err instanceof PathNotFoundError || err instanceof SyntaxError) return undefined;
    throw err;
  }
}

async function terms(driver: StorageDriver, endpoint: string): Promise<number[]> {
  return (await listOrEmpty(driver, leaseFolder(endpoint))).map((path) => Number(lastPart(path))).filter((n) => Number.isSafeInteger(n) && n > 0);
}

/** The newest term of an endpoint's lease, for people (`berth events status`). */
export async function currentLease(driver: StorageDriver, endpoint: string): Promise<LeaseRecord | undefined> {
  const taken = await terms(driver, endpoint);
  return taken.length > 0 ? readTerm(driver, endpoint, Math.max(...taken)) : undefined;
}

export class Lease {
  /** The term this replica holds; 0: none. */
  private term = 0;

  constructor(
    private readonly driver: StorageDriver,
    private readonly endpoint: string,
    readonly owner: string,
    private readonly leaseMs: number,
  ) {}

  get held(): boolean {
    return this.term > 0;
  }

  /** Takes the lease when nobody holds it; true when this replica holds it now. */
  async acquire(now = Date.now()): Promise<boolean> {
    if (this.term > 0) return true;
    const taken = await terms(this.driver, this.endpoint);
    const newest = taken.length > 0 ? Math.max(...taken) : 0;
    if (newest > 0) {
      const record = await readTerm(this.driver, this.endpoint, newest);
      if (record && !record.released && now - record.renewedAt < this.leaseMs) return false;
    }
    if (!(await this.driver.putContentIfAbsent(leasePath(this.endpoint, newest + 1), this.record(now)))) return false;
    this.term = newest + 1;
    // Terms before the previous one are history (a slow holder of the previous term still needs
    // to find this one, which it does: only older ones go).
    for (const term of taken) if (term < newest) await this.driver.delete(leasePath(this.endpoint, term)).catch(() => {});
    return true;
  }

  /** Whether this replica still holds the lease (nobody took a later term). */
  async check(): Promise<boolean> {
    if (this.term === 0) return false;
    try {
      await this.driver.getContent(leasePath(this.endpoint, this.term + 1));
    } catch (err) {
      if (err instanceof PathNotFoundError) return true;
      throw err;
    }
    this.term = 0;
    return false;
  }

  /** Renews the term; false when it was lost. */
  async renew(now = Date.now()): Promise<boolean> {
    if (!(await this.check())) return false;
    await this.driver.putContent(leasePath(this.endpoint, this.term), this.record(now));
    return true;
  }

  /** Gives the lease up at once (another replica may take it without waiting). */
  async release(): Promise<void> {
    if (!(await this.check().catch(() => false))) return;
    const term = this.term;
    this.term = 0;
    await this.driver.putContent(leasePath(this.endpoint, term), this.record(Date.now(), true));
  }

  private record(now: number, released = false): Buffer {
    const record: LeaseRecord = { owner: this.owner, renewedAt: now, ...(released ? { released } : {}) };
    return Buffer.from(JSON.stringify(record));
  }
}
