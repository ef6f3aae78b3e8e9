/**
 * Events in storage (paths in ./paths.ts): the journal, tag histories, the queue of each endpoint
 * and its delivery state. Every file is written whole and once (putContent), so replicas on one
 * bucket never rewrite each other's files; only the replica delivering to an endpoint writes its
 * state.
 */
import type { Logger } from 'pino';
import { PathNotFoundError, type StorageDriver } from '../../storage-drivers/driver.js';
import { lastPart, listOrEmpty } from '../registry/listing.js';
import { isRepositoryDataFolder } from '../registry/layout.js';
import type { EventRecord } from './event.js';
import {
  DAY,
  EVENT_ID,
  JOURNAL,
  journalDay,
  journalPath,
  QUEUES,
  queueFolder,
  queuePath,
  statePath,
  SWEEPS,
  sweepPath,
  TAG_MARKER,
  tagEntryPath,
  tagFolder,
  TAGS,
} from './paths.js';

/** How delivery to one endpoint goes, kept across restarts and handed over between replicas. */
export interface DeliveryState {
  /** Failed attempts in a row. */
  failures: number;
  /** Not before this (ms since the epoch): the backoff. */
  nextAttemptAt: number;
  lastAttemptAt?: string;
  /** The last failure: an HTTP status, or why there was none. */
  lastStatus?: number;
  lastError?: string;
}

export const FRESH_STATE: DeliveryState = { failures: 0, nextAttemptAt: 0 };

/** How many storage operations run at once when many small files are read or deleted. */
const PARALLEL = 16;

/** Runs `work` over `items`, at most PARALLEL at a time; results in the items' order. */
export async function inBatches<T, R>(items: readonly T[], work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  for (let i = 0; i < items.length; i += PARALLEL) results.push(...(await Promise.all(items.slice(i, i + PARALLEL).map(work))));
  return results;
}

/** Where one event goes: the journal (and its tag's history), and the queues of these endpoints. */
export interface Placement {
  journal: boolean;
  endpoints: string[];
}

export class EventStore {
  constructor(
    readonly driver: StorageDriver,
    private readonly log: Logger,
  ) {}

  /** Writes events where they go, several files at once; resolves when every file is in storage. */
  async write(events: { event: EventRecord; placement: Placement }[]): Promise<void> {
    const files: { path: string; bytes: Buffer }[] = [];
    for (const { event, placement } of events) {
      const bytes = Buffer.from(JSON.stringify(event));
      if (placement.journal) {
        files.push({ path: journalPath(event.id), bytes });
        const { repository, tag } = event.target;
        if (repository && tag && (event.action === 'push' || event.action === 'delete')) files.push({ path: tagEntryPath(repository, tag, event.id), bytes });
      }
      for (const endpoint of placement.endpoints) files.push({ path: queuePath(endpoint, event.id), bytes });
    }
    await inBatches(files, (file) => this.driver.putContent(file.path, file.bytes));
  }

  /** An event file, or undefined when it is gone (delivered, pruned) or unreadable. */
  async read(path: string): Promise<EventRecord | undefined> {
    let bytes: Buffer;
    try {
      bytes = await this.driver.getContent(path);
    } catch (err) {
      if (err instanceof PathNotFoundError) return undefined;
      throw err;
    }
    try {
      return JSON.parse(bytes.toString('utf8')) as EventRecord;
    } catch {
      this.log.warn({ path }, 'unreadable event file skipped');
      return undefined;
    }
  }

  async deleteIfPresent(path: string): Promise<void> {
    try {
      await this.driver.delete(path);
    } catch (err) {
      if (!(err instanceof PathNotFoundError)) throw err;
    }
  }

  /** Event ids in a folder, oldest first (other names skipped). */
  async ids(folder: string): Promise<string[]> {
    return (await listOrEmpty(this.driver, folder)).map(lastPart).filter((name) => EVENT_ID.test(name)).sort();
  }

  /** Days the journal holds, oldest first. */
  async days(): Promise<string[]> {
    return (await listOrEmpty(this.driver, JOURNAL)).map(lastPart).filter((name) => DAY.test(name)).sort();
  }

  dayIds(day: string): Promise<string[]> {
    return this.ids(journalDay(day));
  }

  readJournal(id: string): Promise<EventRecord | undefined> {
    return this.read(journalPath(id));
  }

  tagIds(repository: string, tag: string): Promise<string[]> {
    return this.ids(tagFolder(repository, tag));
  }

  readTagEntry(repository: string, tag: string, id: string): Promise<EventRecord | undefined> {
    return this.read(tagEntryPath(repository, tag, id));
  }

  /** Every tag folder with a history: `[repository, tag, folder]`. */
  async tagFolders(): Promise<{ repository: string; tag: string; folder: string }[]> {
    const found: { repository: string; tag: string; folder: string }[] = [];
    const walk = async (dir: string, name: string): Promise<void> => {
      for (const child of await listOrEmpty(this.driver, dir)) {
        const part = lastPart(child);
        if (part === TAG_MARKER && name) {
          for (const tagDir of await listOrEmpty(this.driver, child)) found.push({ repository: name, tag: lastPart(tagDir), folder: tagDir });
        } else if (!isRepositoryDataFolder(part)) {
          await walk(child, name ? `${name}/${part}` : part);
        }
      }
    };
    await walk(TAGS, '');
    return found;
  }

  /** Endpoints that have a queue folder (configured or not any more). */
  async queuedEndpoints(): Promise<string[]> {
    return (await listOrEmpty(this.driver, QUEUES)).map(lastPart);
  }

  pending(endpoint: string): Promise<string[]> {
    return this.ids(queueFolder(endpoint));
  }

  readPending(endpoint: string, id: string): Promise<EventRecord | undefined> {
    return this.read(queuePath(endpoint, id));
  }

  removePending(endpoint: string, id: string): Promise<void> {
    return this.deleteIfPresent(queuePath(endpoint, id));
  }

  async readState(endpoint: string): Promise<DeliveryState> {
    try {
      const parsed = JSON.parse((await this.driver.getContent(statePath(endpoint))).toString('utf8')) as Partial<DeliveryState>;
      return { ...FRESH_STATE, ...parsed, failures: Number(parsed.failures) || 0, nextAttemptAt: Number(parsed.nextAttemptAt) || 0 };
    } catch (err) {
      if (err instanceof PathNotFoundError || err instanceof SyntaxError) return { ...FRESH_STATE };
      throw err;
    }
  }

  async writeState(endpoint: string, state: DeliveryState): Promise<void> {
    await this.driver.putContent(statePath(endpoint), Buffer.from(JSON.stringify(state)));
  }

  /** True for the one caller (across replicas) that prunes on `day`. */
  claimSweep(day: string, owner: string): Promise<boolean> {
    return this.driver.putContentIfAbsent(sweepPath(day), Buffer.from(JSON.stringify({ owner, at: new Date().toISOString() })));
  }

  async sweepDays(): Promise<string[]> {
    return (await listOrEmpty(this.driver, SWEEPS)).map(lastPart).filter((name) => DAY.test(name));
  }
}
