/**
 * One build's log while it runs: lines collect in memory and the whole log is written to
 * storage (putContent) at most once a second.
 *
 * Why whole rewrites and not driver writers with append: a writer's bytes are readable only
 * after commit (on S3 they sit in a multipart upload), so another replica could not show a log
 * that is still growing. A rewrite is atomic and readable everywhere at once; its cost is
 * bounded because the log is capped (`builds.logs.maxBytes`).
 *
 * The stored log only ever grows by appending (readers follow it by offset): past the cap, the
 * middle of the output is dropped and, when the build ends, a note and the last lines (where
 * the error usually is) are appended.
 */
import type { RecordStore } from './records.js';

const MAX_LINE = 16 * 1024;
const FLUSH_MS = 1000;

export class BuildLog {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  private dirty = false;
  private full = false;
  private omitted = 0;
  private tail: Buffer[] = [];
  private tailSize = 0;
  private readonly tailLimit: number;
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly store: RecordStore,
    private readonly id: string,
    private readonly maxBytes: number,
    earlier: Buffer = Buffer.alloc(0),
  ) {
    this.tailLimit = Math.min(64 * 1024, Math.floor(maxBytes / 4));
    if (earlier.length > 0) {
      this.chunks.push(earlier);
      this.size = earlier.length;
    }
  }

  /** Adds one line (a newline is added; longer lines are cut). */
  line(text: string): void {
    if (this.closed) return;
    let bytes = Buffer.from(`${text.replace(/\r?\n$/, '')}\n`);
    if (bytes.length > MAX_LINE) bytes = Buffer.concat([bytes.subarray(0, MAX_LINE - 16), Buffer.from(' [line cut]\n')]);
    if (!this.full && this.size + bytes.length <= this.maxBytes - this.tailLimit - 256) {
      this.chunks.push(bytes);
      this.size += bytes.length;
      this.dirty = true;
      this.schedule();
      return;
    }
    this.full = true;
    this.tail.push(bytes);
    this.tailSize += bytes.length;
    while (this.tailSize > this.tailLimit && this.tail.length > 1) {
      const dropped = this.tail.shift()!;
      this.tailSize -= dropped.length;
      this.omitted += dropped.length;
    }
  }

  /** Writes what is new now. */
  flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.writing = this.writing.then(async () => {
      if (!this.dirty) return;
      this.dirty = false;
      try {
        await this.store.writeLog(this.id, Buffer.concat(this.chunks));
      } catch (err) {
        this.dirty = true; // the next flush tries again
        throw err;
      }
    });
    // One failed write must not fail every later flush.
    const result = this.writing;
    this.writing = result.catch(() => {});
    return result;
  }

  /** Appends the kept tail (past the cap), writes the log a last time and stops taking lines. */
  async close(): Promise<void> {
    if (this.full) {
      const note = Buffer.from(`[... ${this.omitted} bytes of output omitted: the log is capped at ${this.maxBytes} bytes (builds.logs.maxBytes) ...]\n`);
      this.chunks.push(note, ...this.tail);
      this.size += note.length + this.tailSize;
      this.tail = [];
      this.tailSize = 0;
      this.dirty = true;
    }
    this.closed = true;
    await this.flush();
  }

  private schedule(): void {
    if (this.timer || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush().catch(() => {}); // still dirty: the next flush (at the latest close()) retries
    }, FLUSH_MS);
    this.timer.unref();
  }
}
