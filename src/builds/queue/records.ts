/**
 * Build records and logs in storage (paths in ./paths.ts), so every replica on one bucket sees
 * the same builds. A record is rewritten whole (putContent is atomic); claims decide, once
 * across replicas, who runs an attempt.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { InvalidOffsetError, PathNotFoundError, type StorageDriver } from '../../../storage-drivers/driver.js';
import {
  ACTIVE,
  activePath,
  BUILD_ID,
  BUILDS,
  buildDir,
  cancelPath,
  claimPath,
  DELIVERIES,
  deliveryPath,
  logPath,
  recordPath,
  recoverClaimPath,
} from './paths.js';
import type { PrincipalRef } from '../../auth/permissions.js';
import type { SourceRef } from '../github/index.js';

export type BuildState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

export function isFinished(state: BuildState): boolean {
  return state === 'succeeded' || state === 'failed' || state === 'cancelled';
}

/** What to build: fixed when the build is queued, so a queued build runs as planned after a restart. */
export interface BuildPlan {
  /** owner/repo on GitHub. */
  github: string;
  /** The Berth repository it pushes to. */
  image: string;
  rule: string;
  ref: SourceRef;
  sha: string;
  commitMessage: string;
  tags: string[];
  /** Build context in the repository ('' for its root) and the Dockerfile relative to it. */
  context: string;
  dockerfile: string;
  buildArgs: Record<string, string>;
  /**
   * Who started it. A build started by hand keeps its caller (`principal`): it may pull only what
   * that caller may, and the caller's rights are asked again when it runs.
   */
  trigger: { kind: 'webhook'; delivery: string } | { kind: 'manual'; user?: string; principal?: PrincipalRef };
}

export interface BuildRecord extends BuildPlan {
  id: string;
  state: BuildState;
  /** 1 for the first run; a build interrupted by a shutdown or a lost replica runs again. */
  attempt: number;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  /** Written by the running replica every few seconds: a stale one means the replica is gone. */
  heartbeatAt?: string;
  /** The replica running it. */
  runner?: string;
  builder?: 'native' | 'buildah';
  /** The pushed manifest's digest. */
  digest?: string;
  /** Why it failed or was cancelled, in one line. */
  error?: string;
  /** `build`: the source or Dockerfile failed; `system`: Berth, GitHub or a timeout did. */
  failure?: 'build' | 'system';
}

export interface DeliveryRecord {
  receivedAt: string;
  event: string;
  builds?: string[];
}

function isMissing(err: unknown): boolean {
  return err instanceof PathNotFoundError;
}

export class RecordStore {
  /** `record:<id>` and `log:<id>` fire when this process wrote them (followers wake up early). */
  readonly events = new EventEmitter();

  constructor(
    readonly driver: StorageDriver,
    private readonly log: Logger,
  ) {
    this.events.setMaxListeners(0);
  }

  async get(id: string): Promise<BuildRecord | undefined> {
    if (!BUILD_ID.test(id)) return undefined;
    let bytes: Buffer;
    try {
      bytes = await this.driver.getContent(recordPath(id));
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
    try {
      return JSON.parse(bytes.toString('utf8')) as BuildRecord;
    } catch {
      this.log.warn({ build: id }, 'unreadable build record');
      return undefined;
    }
  }

  async save(record: BuildRecord): Promise<void> {
    await this.driver.putContent(recordPath(record.id), Buffer.from(JSON.stringify(record)));
    this.events.emit(`record:${record.id}`, record);
  }

  /** A new queued build: the index entry first, so a crash in between leaves an entry without a record (skipped), never a queued record nobody sees. */
  async create(record: BuildRecord): Promise<void> {
    await this.driver.putContent(activePath(record.id), Buffer.from(record.createdAt));
    await this.save(record);
  }

  /** Build ids, newest first. */
  async ids(): Promise<string[]> {
    return (await this.listNames(BUILDS)).filter((name) => BUILD_ID.test(name)).sort().reverse();
  }

  /** Ids of queued and running builds (the index), oldest first. */
  async activeIds(): Promise<string[]> {
    return (await this.listNames(ACTIVE)).filter((name) => BUILD_ID.test(name)).sort();
  }

  async markActive(id: string): Promise<void> {
    await this.driver.putContent(activePath(id), Buffer.from(new Date().toISOString()));
  }

  async unmarkActive(id: string): Promise<void> {
    await this.ignoreMissing(this.driver.delete(activePath(id)));
  }

  /** True for exactly one caller per attempt: the one that runs it (or cancels it while queued). */
  async claim(id: string, attempt: number, owner: string): Promise<boolean> {
    return this.driver.putContentIfAbsent(claimPath(id, attempt), Buffer.from(JSON.stringify({ owner, at: new Date().toISOString() })));
  }

  async claimRecovery(id: string, attempt: number, owner: string): Promise<boolean> {
    return this.driver.putContentIfAbsent(recoverClaimPath(id, attempt), Buffer.from(JSON.stringify({ owner, at: new Date().toISOString() })));
  }

  async requestCancel(id: string, by: string | undefined): Promise<void> {
    await this.driver.putContent(cancelPath(id), Buffer.from(JSON.stringify({ by: by ?? null, at: new Date().toISOString() })));
  }

  async cancelRequested(id: string): Promise<boolean> {
    try {
      await this.driver.stat(cancelPath(id));
      return true;
    } catch (err) {
      if (isMissing(err)) return false;
      throw err;
    }
  }

  /** The log from `offset` on (empty when there is none yet, or nothing new). */
  async readLog(id: string, offset = 0): Promise<Buffer> {
    try {
      if (offset === 0) return await this.driver.getContent(logPath(id));
      const chunks: Buffer[] = [];
      for await (const chunk of await this.driver.reader(logPath(id), offset)) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    } catch (err) {
      if (isMissing(err) || err instanceof InvalidOffsetError) return Buffer.alloc(0);
      throw err;
    }
  }

  async writeLog(id: string, bytes: Uint8Array): Promise<void> {
    await this.driver.putContent(logPath(id), bytes);
    this.events.emit(`log:${id}`);
  }

  async deleteBuild(id: string): Promise<void> {
    await this.ignoreMissing(this.driver.delete(buildDir(id)));
    await this.unmarkActive(id);
  }

  /** Claims a GitHub delivery id: false when it was seen before. */
  async claimDelivery(delivery: string, record: DeliveryRecord): Promise<boolean> {
    return this.driver.putContentIfAbsent(deliveryPath(delivery), Buffer.from(JSON.stringify(record)));
  }

  async getDelivery(delivery: string): Promise<DeliveryRecord | undefined> {
    try {
      return JSON.parse((await this.driver.getContent(deliveryPath(delivery))).toString('utf8')) as DeliveryRecord;
    } catch (err) {
      if (isMissing(err) || err instanceof SyntaxError) return undefined;
      throw err;
    }
  }

  async putDelivery(delivery: string, record: DeliveryRecord): Promise<void> {
    await this.driver.putContent(deliveryPath(delivery), Buffer.from(JSON.stringify(record)));
  }

  async deleteDelivery(delivery: string): Promise<void> {
    await this.ignoreMissing(this.driver.delete(deliveryPath(delivery)));
  }

  /** Deliveries with their last-modified time, for the retention sweep. */
  async deliveries(): Promise<{ id: string; modified: Date }[]> {
    const names = await this.listNames(DELIVERIES);
    const found = await Promise.all(
      names.map(async (id) => {
        try {
          return { id, modified: (await this.driver.stat(deliveryPath(id))).modified };
        } catch (err) {
          if (isMissing(err)) return undefined;
          throw err;
        }
      }),
    );
    return found.filter((d): d is { id: string; modified: Date } => d !== undefined);
  }

  private async listNames(path: string): Promise<string[]> {
    try {
      return (await this.driver.list(path)).map((full) => full.slice(full.lastIndexOf('/') + 1));
    } catch (err) {
      if (isMissing(err)) return [];
      throw err;
    }
  }

  private async ignoreMissing(promise: Promise<void>): Promise<void> {
    try {
      await promise;
    } catch (err) {
      if (!isMissing(err)) throw err;
    }
  }
}
