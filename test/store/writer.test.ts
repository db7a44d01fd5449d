import { describe, expect, it } from "vitest";
import { MemoryEventStore } from "../../src/store/memory.js";
import type { GapEvent } from "../../src/store/types.js";
import { EventWriter, type WriterStats } from "../../src/store/writer.js";
import { decision } from "./fixtures.js";

describe("event writer", () => {
  it("writes queued events in batches without the caller waiting, and flushes on demand", async () => {
    const store = new MemoryEventStore();
    const batches: number[] = [];
    const writer = new EventWriter(store, { bufferSize: 1000, batchSize: 50, flushIntervalMs: 5 }, { written: (count) => batches.push(count) });
    for (let i = 0; i < 120; i++) expect(writer.enqueue(decision())).toBe(true);
    expect(store.rows.length).toBe(0); // nothing written synchronously
    expect(await writer.flush(2_000)).toBe(true);
    expect(store.rows.length).toBe(120);
    expect(Math.max(...batches)).toBeLessThanOrEqual(50);
    expect(writer.stats()).toMatchObject({ waiting: 0, dropped: 0, written: 120, storeUp: true });
    expect((await store.verify()).ok).toBe(true);
  });

  it("keeps events while the store is down, drops and counts beyond the buffer, raises the alarm, and records the gap once the store is back", async () => {
    const store = new MemoryEventStore();
    const alarms: Array<{ message: string; stats: WriterStats }> = [];
    let recovered = 0;
    const writer = new EventWriter(store, { bufferSize: 20, batchSize: 10, flushIntervalMs: 1 }, { alarm: (message, stats) => alarms.push({ message, stats }), recovered: () => recovered++ });
    store.failing = new Error("connection refused");
    const accepted = Array.from({ length: 25 }, () => writer.enqueue(decision()));
    expect(accepted.filter(Boolean).length).toBe(20);
    expect(writer.full).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(writer.stats()).toMatchObject({ waiting: 20, dropped: 5, storeUp: false, lastError: "connection refused" });
    expect(alarms.length).toBeGreaterThan(0);
    expect(alarms[0]!.message).toMatch(/dropped|failed/);

    store.failing = null;
    expect(await writer.flush(5_000)).toBe(true);
    expect(recovered).toBe(1);
    const gaps = store.rows.filter((row) => row.kind === "gap").map((row) => JSON.parse(row.payload) as GapEvent);
    expect(gaps).toHaveLength(1);
    expect(gaps[0]!.dropped).toBe(5);
    expect(store.rows.length).toBe(21); // 20 kept + the gap record
    expect((await store.verify()).ok).toBe(true);
  });

  it("reports an unflushed buffer when the store stays down past the deadline", async () => {
    const store = new MemoryEventStore();
    store.failing = new Error("down");
    const writer = new EventWriter(store, { bufferSize: 100, batchSize: 10, flushIntervalMs: 1 });
    writer.enqueue(decision());
    expect(await writer.close(300)).toBe(false);
    expect(writer.stats().waiting).toBe(1);
  });
});
