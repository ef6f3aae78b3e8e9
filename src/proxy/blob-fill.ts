/**
 * A cold blob fetched once and served to everyone who asks while it arrives.
 *
 *   upstream GET body --> tap --> registry.uploads.putWhole (hashes, verifies, stores, links)
 *                          |
 *                          +--> window: the last WINDOW_BYTES that went by, in memory
 *                                 ^        ^        ^
 *                              reader   reader   reader      (one per client request)
 *
 * The fill runs at the pace of the upstream and the storage, never of a client: readers take
 * bytes from the window as they can. A reader that falls behind the window (a client slower than
 * the upstream) waits for the fill to finish and reads on from storage, at the byte it had
 * reached. No reader gets the blob's last byte before the stored bytes have been verified
 * against the digest: when the upstream sends wrong or too few bytes, nothing is stored and
 * every reader's response ends short, so its client fails rather than taking bad bytes.
 *
 * One fill per digest in this process (`BlobFills`), whichever repository asked first; the
 * proxy links the blob into the others' repositories once they have been allowed to have it.
 */
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** Bytes of a fill kept in memory for readers (a reader further behind reads from storage). */
const WINDOW_BYTES = 8 * 1024 * 1024;

export interface FillSource {
  /** From the upstream's Content-Length. */
  size?: number;
  body: Readable;
}

export interface FillOptions {
  /** Stores the bytes read from `source` (verifying them); rejects when they are wrong. */
  store(source: Readable): Promise<unknown>;
  /** The stored blob from `offset`, for readers that fell behind. */
  readStored(offset: number): Promise<Readable>;
  /** Turns a failure of the upstream body (reset, stalled) into the error readers get. */
  bodyFailed(err: unknown): Error;
  /** Turns a failure to store (wrong digest, storage down) into the error readers get. */
  storeFailed(err: unknown): Error;
  /** Told of every piece that arrives. */
  onBytes?(bytes: number): void;
}

export class BlobFill {
  /** Settles once the blob is stored and verified, or the fill failed. */
  readonly done: Promise<void>;
  readonly size: number | undefined;
  private readonly chunks: Buffer[] = [];
  /** Offset of chunks[0] in the blob. */
  private windowStart = 0;
  private windowBytes = 0;
  private written = 0;
  private finished = false;
  private failure: Error | undefined;
  private waiting: (() => void)[] = [];

  constructor(
    source: FillSource,
    private readonly options: FillOptions,
  ) {
    this.size = source.size;
    const tap = new Transform({
      transform: (chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) => {
        this.keep(chunk);
        callback(null, chunk);
      },
    });
    // Whichever side fails first names the cause: an upstream that breaks off also fails the
    // store, and a store that fails (a wrong digest, storage down) also stops the download.
    let firstError: Error | undefined;
    const feeding = pipeline(source.body, tap).catch((err: unknown) => {
      firstError ??= options.bodyFailed(err);
    });
    const storing = options.store(tap).then(
      () => {},
      (err: unknown) => {
        firstError ??= options.storeFailed(err);
      },
    );
    this.done = Promise.all([feeding, storing]).then(() => {
      if (firstError) {
        this.failure = firstError;
        this.wake();
        throw firstError;
      }
      this.finished = true;
      this.wake();
    });
    this.done.catch(() => {});
  }

  /** Whether a reader starting now can still begin at byte 0 from memory. */
  get readableFromStart(): boolean {
    return this.windowStart === 0 && this.failure === undefined;
  }

  /** The blob from byte 0, as it arrives (see the module comment). */
  reader(): Readable {
    return Readable.from(this.read(), { objectMode: false });
  }

  private keep(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.windowBytes += chunk.length;
    this.written += chunk.length;
    while (this.windowBytes > WINDOW_BYTES && this.chunks.length > 1) {
      const dropped = this.chunks.shift()!;
      this.windowBytes -= dropped.length;
      this.windowStart += dropped.length;
    }
    this.options.onBytes?.(chunk.length);
    this.wake();
  }

  private wake(): void {
    const waiting = this.waiting;
    this.waiting = [];
    for (const resolve of waiting) resolve();
  }

  private changed(): Promise<void> {
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** Bytes from `position` up to `limit` from the window (one chunk's worth at most). */
  private slice(position: number, limit: number): Buffer {
    let start = this.windowStart;
    for (const chunk of this.chunks) {
      const end = start + chunk.length;
      if (position < end) return chunk.subarray(position - start, Math.min(end, limit) - start);
      start = end;
    }
    return Buffer.alloc(0);
  }

  private async *read(): AsyncGenerator<Buffer> {
    let position = 0;
    for (;;) {
      if (this.failure) throw this.failure;
      if (position < this.windowStart) {
        await this.done;
        for await (const chunk of await this.options.readStored(position)) yield chunk as Buffer;
        return;
      }
      // The last byte waits for the verdict on the whole.
      const limit = this.finished ? this.written : this.written - 1;
      if (position < limit) {
        const piece = this.slice(position, limit);
        position += piece.length;
        yield piece;
        continue;
      }
      if (this.finished) return;
      await this.changed();
    }
  }
}

export interface RunningFill {
  fill: BlobFill;
  /** The repository that started it (and into which putWhole links the blob). */
  repository: string;
}

/**
 * The fills under way in this process, by digest: from the moment the first request asks the
 * upstream (so twenty requests at once make one upstream request) until the blob is stored or
 * the fill failed.
 */
export class BlobFills {
  private readonly running = new Map<string, Promise<RunningFill>>();

  get(digest: string): Promise<RunningFill> | undefined {
    return this.running.get(digest);
  }

  /** Starts a fill: `open` asks the upstream (its failure is every waiting caller's failure). */
  start(digest: string, repository: string, open: () => Promise<FillSource>, options: FillOptions): Promise<RunningFill> {
    const forget = (): void => {
      if (this.running.get(digest) === starting) this.running.delete(digest);
    };
    const starting = open().then((source) => {
      const fill = new BlobFill(source, options);
      fill.done.then(forget, forget);
      return { fill, repository };
    });
    starting.catch(forget);
    this.running.set(digest, starting);
    return starting;
  }
}
