/** The columns every store indexes an event by, besides its id, kind and time: one rule for the SQL and memory stores. */
import type { AuditEvent } from "./types.js";

export interface IndexedColumns {
  readonly principal: string | null;
  /** A decision's action. */
  readonly action: string | null;
  /** A signal's type. */
  readonly type: string | null;
}

export function indexedColumns(event: AuditEvent): IndexedColumns {
  switch (event.kind) {
    case "decision":
      return { principal: event.principal, action: event.action, type: null };
    case "admin":
      return { principal: event.principal, action: null, type: null };
    case "signal":
      return { principal: event.principal ?? null, action: null, type: event.type };
    case "gap":
      return { principal: null, action: null, type: null };
  }
}

/** Whether a signal type matches a query's `type`: exactly, or by a prefix that ends in a dot. */
export function typeMatches(type: string | null, wanted: string): boolean {
  return type !== null && (wanted.endsWith(".") ? type.startsWith(wanted) : type === wanted);
}
