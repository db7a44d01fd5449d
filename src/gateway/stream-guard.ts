/**
 * Checking streamed output before the client sees it. One `OutputStreamGuard`
 * per text channel (a choice's `content`, `reasoning_content`, ...): text goes
 * in as it arrives, checked text comes out.
 *
 * The work is done by the library's streaming checker (src/guard/stream.ts): it
 * holds text back until a secret, PII value or canary that starts in it can no
 * longer be completing, rewrites redactions in flight, and ends the stream on a
 * block. `CheckerStreamGuard` adapts it to the gateway's per-channel interface
 * and records its decisions for the audit trail; createGateway's
 * `streamGuardFactory` option can substitute another implementation.
 */
import type { Guard } from "../guard/engine.js";
import { StreamChecker, type StreamCheckOptions, type StreamEvent, type StreamGuard } from "../guard/stream.js";
import type { Decision } from "../guard/types.js";

export interface OutputStreamGuard {
  /** Adds upstream text; resolves to the text that is safe to release now (often ""). Rejects with StreamBlockedError. */
  push(text: string): Promise<string>;
  /** The stream ended normally: checks and releases everything held. */
  end(): Promise<string>;
  /** Decisions that were not `allow`, and the last one made (for the audit trail). */
  readonly notable: readonly Decision[];
  readonly lastDecision: Decision | undefined;
}

export class StreamBlockedError extends Error {
  constructor(
    readonly decision: Decision,
    reason: string,
  ) {
    super(reason);
    this.name = "StreamBlockedError";
  }
}

/**
 * The library's streaming checker (`StreamChecker`, src/guard/stream.ts) as the
 * gateway's stream guard: the default. Every check it makes goes through a
 * recording guard, so the decisions reach the audit trail.
 */
export class CheckerStreamGuard implements OutputStreamGuard {
  private readonly checker: StreamChecker;
  readonly notable: Decision[] = [];
  lastDecision: Decision | undefined;

  constructor(guard: Guard, options: Omit<StreamCheckOptions, "role"> = {}) {
    const recording: StreamGuard = {
      policy: guard.policy,
      check: async (request) => {
        const decision = await guard.check(request);
        this.lastDecision = decision;
        if (decision.action !== "allow") this.notable.push(decision);
        return decision;
      },
    };
    this.checker = new StreamChecker(recording, { ...options, role: "assistant" });
  }

  async push(text: string): Promise<string> {
    return this.released(await this.checker.push(text));
  }

  async end(): Promise<string> {
    return this.released(await this.checker.end());
  }

  private released(events: readonly StreamEvent[]): string {
    let text = "";
    for (const event of events) {
      if (event.type === "text") text += event.text;
      else if (event.type === "error") {
        const decision = (event.decisionId ? this.notable.find((candidate) => candidate.id === event.decisionId) : undefined) ?? this.lastDecision;
        // A guard failure fails closed like a block; with no decision at all it ends the stream as an error.
        if (decision && (event.code === "blocked" || event.code === "guard_error")) throw new StreamBlockedError(decision.action === "block" ? decision : { ...decision, action: "block" }, event.message);
        throw new Error(event.message);
      }
    }
    return text;
  }
}
