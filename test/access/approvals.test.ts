/** The approval store: hold, decide once, expire, bounded. */
import { describe, expect, it } from "vitest";
import { ApprovalStore, type Approval } from "../../src/access/index.js";

const call = { id: "c1", name: "delete_file", arguments: '{"path":"/tmp/x"}' };

describe("approval store", () => {
  it("holds, lists newest first, and decides once", () => {
    const store = new ApprovalStore({ ttlMs: 60_000, maxPending: 10 });
    const first = store.hold({ principal: "app", call, reason: "needs approval" })!;
    const second = store.hold({ principal: "other", call, reason: "needs approval", requestId: "r2" })!;
    expect(first.id).toMatch(/^apv_[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(store.list().map((a) => a.id)).toEqual([second.id, first.id]);
    expect(store.list({ principal: "app" }).map((a) => a.id)).toEqual([first.id]);
    expect(store.decide(first.id, "approved", "root", "ok")).toMatchObject({ ok: true, approval: { status: "approved", decidedBy: "root", note: "ok" } });
    expect(store.decide(first.id, "rejected", "root")).toMatchObject({ ok: false, code: "not_pending", approval: { status: "approved" } });
    expect(store.decide("apv_missing", "approved", "root")).toEqual({ ok: false, code: "not_found" });
    expect(store.pending).toBe(1);
    expect(store.list({ status: "pending" }).map((a) => a.id)).toEqual([second.id]);
  });

  it("expires pending calls after the TTL, tells about each, and they can no longer be approved", () => {
    let now = 1_000_000;
    const expired: Approval[] = [];
    const store = new ApprovalStore({ ttlMs: 10_000, maxPending: 10, now: () => now, onExpire: (a) => expired.push(a) });
    const held = store.hold({ principal: "app", call, reason: "r" })!;
    expect(held.expiresAt).toBe(new Date(1_010_000).toISOString());
    now += 9_999;
    expect(store.get(held.id)!.status).toBe("pending");
    now += 1;
    expect(store.get(held.id)!.status).toBe("expired");
    expect(expired.map((a) => a.id)).toEqual([held.id]);
    expect(store.decide(held.id, "approved", "root")).toMatchObject({ ok: false, code: "not_pending" });
    expect(store.pending).toBe(0);
  });

  it("refuses to hold more than maxPending, and forgets the oldest decided ones beyond maxKept", () => {
    const store = new ApprovalStore({ ttlMs: 60_000, maxPending: 2, maxKept: 1 });
    const a = store.hold({ principal: "p", call, reason: "r" })!;
    const b = store.hold({ principal: "p", call, reason: "r" })!;
    expect(store.hold({ principal: "p", call, reason: "r" })).toBeNull();
    store.decide(a.id, "rejected", "root");
    store.decide(b.id, "rejected", "root");
    const c = store.hold({ principal: "p", call, reason: "r" })!;
    expect(c).not.toBeNull();
    expect(store.get(a.id)).toBeUndefined(); // oldest decided dropped
    expect(store.get(b.id)!.status).toBe("rejected");
  });
});
