/**
 * Checking streamed output before the client sees it. One `OutputStreamGuard`
 * per text channel (a choice's `content`, `reasoning_content`, ...): text goes
 * in as it arrives, checked text comes out.
 *
 * `HoldbackStreamGuard` keeps the last `holdbackChars` characters back until the
 * text after them has arrived, and runs the full output guard over the released
 * tail plus everything unreleased every `checkEveryChars` new characters. A value
 * up to `holdbackChars` long (a key, a card number, a canary) split across any
 * number of chunks is therefore always seen whole before its first character is
 * released. Redaction rewrites the held text in flight; a block ends the stream.
 *
 * The text released is the guard's version (normalised, redacted), so the next
 * check sees released context exactly as the client saw it.
 *
 * Two implementations: `CheckerStreamGuard` (the default) adapts the library's
 * streaming checker; `HoldbackStreamGuard` is the gateway's own, written before
 * that checker existed, kept as a second, simpler implementation of the same
 * contract (selectable with createGateway({ streamGuardFactory })).
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

export interface HoldbackOptions {
  readonly holdbackChars: number;
  readonly checkEveryChars: number;
}

export class HoldbackStreamGuard implements OutputStreamGuard {
  /** The last released characters (at most holdbackChars), as released. */
  private context = "";
  /** Text not yet released: the guard's version of what was checked, plus raw text since. */
  private pending = "";
  private sinceCheck = 0;
  readonly notable: Decision[] = [];
  lastDecision: Decision | undefined;

  constructor(
    private readonly guard: Guard,
    private readonly options: HoldbackOptions,
  ) {}

  async push(text: string): Promise<string> {
    if (text.length === 0) return "";
    this.pending += text;
    this.sinceCheck += text.length;
    if (this.sinceCheck < this.options.checkEveryChars || this.pending.length <= this.options.holdbackChars) return "";
    return this.step(false);
  }

  async end(): Promise<string> {
    if (this.pending.length === 0) return "";
    return this.step(true);
  }

  private async step(final: boolean): Promise<string> {
    this.sinceCheck = 0;
    const decision = await this.guard.check({ text: this.context + this.pending, role: "assistant", stage: "output" });
    this.lastDecision = decision;
    if (decision.action !== "allow") this.notable.push(decision);
    if (decision.action === "block") throw new StreamBlockedError(decision, "output blocked");
    // Released text cannot be taken back: a rewrite that reaches into it means something slipped through, so stop.
    if (!decision.text.startsWith(this.context)) throw new StreamBlockedError(decision, "a redaction reached text already released");
    const body = decision.text.slice(this.context.length);
    const cut = final ? body.length : codePointBoundary(body, body.length - this.options.holdbackChars);
    if (cut <= 0) {
      this.pending = body;
      return "";
    }
    const release = body.slice(0, cut);
    this.pending = body.slice(cut);
    const context = this.context + release;
    this.context = context.slice(codePointBoundary(context, context.length - this.options.holdbackChars));
    return release;
  }
}

/** `index` moved back by one if it would split a surrogate pair; 0 if negative. */
function codePointBoundary(text: string, index: number): number {
  if (index <= 0) return 0;
  if (index >= text.length) return text.length;
  const code = text.charCodeAt(index);
  return code >= 0xdc00 && code <= 0xdfff ? index - 1 : index;
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
