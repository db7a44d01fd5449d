/**
 * The audit hash chain: each event's hash covers the previous event's hash and
 * the event's canonical JSON, so changing, removing or reordering any stored
 * event breaks every hash after it. Verification recomputes the chain from the
 * first event.
 */
import { createHash } from "node:crypto";
import type { AuditEvent } from "./types.js";

export const GENESIS_HASH = "0".repeat(64);

/**
 * The exact text that is hashed and stored for an event. Verification hashes the
 * stored text itself, never a re-serialisation, so plain JSON.stringify (several
 * times faster than a key-sorting canonical form) is as tamper-evident.
 */
export function eventPayload(event: AuditEvent): string {
  return JSON.stringify(event);
}

export function chainHash(prevHash: string, seq: number, payload: string): string {
  return createHash("sha256").update(`${prevHash}\n${seq}\n${payload}`).digest("hex");
}

export interface ChainLink {
  readonly seq: number;
  readonly payload: string;
  readonly prevHash: string;
  readonly hash: string;
}

/**
 * Links events onto a chain whose head is (headSeq, headHash). `payloads`, when given, are the
 * events' payloads already made (eventPayload of each, in order), e.g. on the thread that had the events.
 */
export function link(events: readonly AuditEvent[], headSeq: number, headHash: string, payloads?: readonly string[]): ChainLink[] {
  const links: ChainLink[] = [];
  let prevHash = headHash;
  let seq = headSeq;
  for (let i = 0; i < events.length; i++) {
    seq++;
    const payload = payloads ? payloads[i]! : eventPayload(events[i]!);
    const hash = chainHash(prevHash, seq, payload);
    links.push({ seq, payload, prevHash, hash });
    prevHash = hash;
  }
  return links;
}

/** Checks links in order; carries state between pages so that a whole chain can be verified in pieces. */
export class ChainVerifier {
  private expectedSeq = 1;
  private prevHash = GENESIS_HASH;
  count = 0;
  firstBadSeq: number | undefined;
  reason: string | undefined;

  /** Returns false once the chain is broken (later links are not checked). */
  next(link: ChainLink, columns?: { id: string; kind: string }): boolean {
    if (this.reason) return false;
    const fail = (reason: string): boolean => {
      this.firstBadSeq = link.seq;
      this.reason = reason;
      return false;
    };
    if (link.seq !== this.expectedSeq) return fail(`expected event ${this.expectedSeq}, found ${link.seq} (an event was removed or inserted)`);
    if (link.prevHash !== this.prevHash) return fail("its previous-hash does not match the event before it");
    if (chainHash(link.prevHash, link.seq, link.payload) !== link.hash) return fail("its hash does not match its content (the event was changed)");
    if (columns) {
      let parsed: { id?: unknown; kind?: unknown };
      try {
        parsed = JSON.parse(link.payload) as { id?: unknown; kind?: unknown };
      } catch {
        return fail("its payload is not JSON");
      }
      if (parsed.id !== columns.id || parsed.kind !== columns.kind) return fail("its indexed columns do not match its payload");
    }
    this.count++;
    this.expectedSeq = link.seq + 1;
    this.prevHash = link.hash;
    return true;
  }

  /** The head recorded separately must be where the chain ends (catches removal of the newest events). */
  finish(headSeq: number, headHash: string): { ok: boolean; firstBadSeq?: number; reason?: string } {
    if (!this.reason && (headSeq !== this.expectedSeq - 1 || headHash !== this.prevHash)) {
      this.firstBadSeq = this.expectedSeq;
      this.reason = `the chain ends at event ${this.expectedSeq - 1} but its recorded head is event ${headSeq} (events were removed from the end)`;
    }
    return this.reason ? { ok: false, firstBadSeq: this.firstBadSeq!, reason: this.reason } : { ok: true };
  }
}
