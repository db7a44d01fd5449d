/**
 * The asynchronous, batched event writer. Requests hand their events over and
 * never wait for the database; the writer appends them in batches. The buffer is
 * bounded: while the store is down events wait (counted), and once the buffer is
 * full new events are dropped (counted), an alarm is raised, and a gap event
 * records the loss in the chain as soon as the store is back. Nothing is lost
 * silently.
 */
import { sortableId } from "../util/sortable-id.js";
import type { AuditEvent, EventStore, GapEvent } from "./types.js";

export interface WriterOptions {
  readonly bufferSize: number;
  readonly batchSize: number;
  readonly flushIntervalMs: number;
}

export interface WriterStats {
  /** Events waiting to be written. */
  readonly waiting: number;
  /** Events dropped because the buffer was full (since start). */
  readonly dropped: number;
  readonly written: number;
  readonly failedWrites: number;
  readonly storeUp: boolean;
  /** Age of the oldest waiting event, in milliseconds. */
  readonly lagMs: number;
  readonly lastError?: string;
}

export interface WriterHooks {
  /** The store failed or events were dropped; called on the change and then at most every 30 s while it lasts. */
  alarm?(message: string, stats: WriterStats): void;
  recovered?(stats: WriterStats): void;
  written?(count: number, durationMs: number): void;
}

const ALARM_REPEAT_MS = 30_000;
const MAX_BACKOFF_MS = 5_000;

export class EventWriter {
  private buffer: Array<{ event: AuditEvent; at: number }> = [];
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> | undefined;
  private failuresInARow = 0;
  private dropped = 0;
  private written = 0;
  private failedWrites = 0;
  private storeUp = true;
  private lastError: string | undefined;
  private lastAlarmAt = 0;
  private gap: { dropped: number; first: string; last: string } | undefined;
  private closed = false;
  private readonly listeners = new Set<(event: AuditEvent) => void>();

  constructor(
    private readonly store: EventStore,
    private readonly options: WriterOptions,
    private readonly hooks: WriterHooks = {},
  ) {}

  /**
   * Calls the listener with every event handed to enqueue (also those then dropped), synchronously and in
   * order, before it is written: how the monitor (incidents, alerts) sees what the gateway records without
   * polling the store. Listeners must be quick; one that throws is ignored. Returns the unsubscribe function.
   */
  observe(listener: (event: AuditEvent) => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  /** Queues an event; false when it had to be dropped (buffer full). */
  enqueue(event: AuditEvent): boolean {
    if (this.listeners.size > 0) {
      for (const listener of this.listeners) {
        try {
          listener(event);
        } catch {
          // A monitoring listener must never cost the audit trail an event.
        }
      }
    }
    if (this.buffer.length >= this.options.bufferSize) {
      this.dropped++;
      const now = new Date().toISOString();
      this.gap = this.gap ? { ...this.gap, dropped: this.gap.dropped + 1, last: now } : { dropped: 1, first: now, last: now };
      this.raiseAlarm(`event buffer full (${this.options.bufferSize}): events are being dropped`);
      return false;
    }
    this.buffer.push({ event, at: Date.now() });
    if (this.buffer.length >= this.options.batchSize && this.failuresInARow === 0) this.kick(0);
    else this.kick(this.options.flushIntervalMs);
    return true;
  }

  get full(): boolean {
    return this.buffer.length >= this.options.bufferSize;
  }

  stats(): WriterStats {
    return {
      waiting: this.buffer.length,
      dropped: this.dropped,
      written: this.written,
      failedWrites: this.failedWrites,
      storeUp: this.storeUp,
      lagMs: this.buffer.length > 0 ? Date.now() - this.buffer[0]!.at : 0,
      ...(this.lastError ? { lastError: this.lastError } : {}),
    };
  }

  /** Writes everything waiting, retrying until the deadline; true when the buffer ended empty. */
  async flush(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while ((this.buffer.length > 0 || this.gap) && Date.now() < deadline) {
      if (this.timer) {
        clearTimeout(this.timer);
        this.timer = undefined;
      }
      await (this.writing ?? this.writeBatch());
      if (this.failuresInARow > 0 && (this.buffer.length > 0 || this.gap)) await sleep(Math.min(this.backoffMs(), Math.max(0, deadline - Date.now())));
    }
    return this.buffer.length === 0 && !this.gap;
  }

  /** Flushes, then stops; events enqueued afterwards are dropped and counted. */
  async close(timeoutMs: number): Promise<boolean> {
    const flushed = await this.flush(timeoutMs);
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    return flushed;
  }

  private kick(delayMs: number): void {
    if (this.closed || this.writing) return;
    if (this.timer) {
      if (delayMs > 0) return;
      clearTimeout(this.timer);
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.writeBatch();
    }, delayMs);
    this.timer.unref();
  }

  private writeBatch(): Promise<void> {
    if (this.writing) return this.writing;
    if (this.buffer.length === 0 && !this.gap) return Promise.resolve();
    const taken = this.buffer.slice(0, this.options.batchSize);
    const gap = this.gap;
    const batch: AuditEvent[] = gap ? [gapEvent(gap), ...taken.map((entry) => entry.event)] : taken.map((entry) => entry.event);
    const started = performance.now();
    this.writing = this.store
      .append(batch)
      .then(
        () => {
          this.buffer.splice(0, taken.length);
          if (gap && this.gap) {
            const remaining = this.gap.dropped - gap.dropped;
            this.gap = remaining > 0 ? { ...this.gap, dropped: remaining } : undefined;
          }
          this.written += batch.length;
          this.failuresInARow = 0;
          this.hooks.written?.(batch.length, performance.now() - started);
          if (!this.storeUp) {
            this.storeUp = true;
            this.lastError = undefined;
            this.hooks.recovered?.(this.stats());
          }
        },
        (error: unknown) => {
          this.failedWrites++;
          this.failuresInARow++;
          this.storeUp = false;
          this.lastError = error instanceof Error ? error.message : String(error);
          this.raiseAlarm(`event store write failed: ${this.lastError}`);
        },
      )
      .finally(() => {
        this.writing = undefined;
        if (this.buffer.length > 0 || this.gap) this.kick(this.failuresInARow > 0 ? this.backoffMs() : this.buffer.length >= this.options.batchSize ? 0 : this.options.flushIntervalMs);
      });
    return this.writing;
  }

  private backoffMs(): number {
    return Math.min(MAX_BACKOFF_MS, 100 * 2 ** Math.min(this.failuresInARow, 10));
  }

  private raiseAlarm(message: string): void {
    const now = Date.now();
    if (now - this.lastAlarmAt < ALARM_REPEAT_MS) return;
    this.lastAlarmAt = now;
    this.hooks.alarm?.(message, this.stats());
  }
}

function gapEvent(gap: { dropped: number; first: string; last: string }): GapEvent {
  return { kind: "gap", id: sortableId(), time: new Date().toISOString(), dropped: gap.dropped, firstDroppedAt: gap.first, lastDroppedAt: gap.last };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
