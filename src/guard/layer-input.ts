/**
 * What a layer is given, built the way the engine builds it: trust follows the
 * role, and without a transform layer the detection view is the lower-cased
 * text. The engine uses these pieces; `layerInputFor` also lets anyone who
 * writes a layer call it directly, outside a guard (tests, benchmarks).
 */
import { utf8Length } from "./intake.js";
import type { GuardSession } from "./session.js";
import type { Intake, LayerInput, Role, Stage, TextViews, Trust } from "./types.js";

/** Only the application's own instructions are trusted; everything a person or a tool wrote is not. */
export const TRUST: Readonly<Record<Role, Trust>> = { system: "trusted", user: "untrusted", assistant: "untrusted", document: "untrusted", tool: "untrusted" };

/**
 * Detection views when no transform layer provides them (normalisation switched off). The lower-cased
 * copy is made on first read: the engine starts every check with these views, and with normalisation on
 * (the default) its transform layer replaces them before any layer reads them.
 */
export function defaultViews(text: string): TextViews {
  let folded: string | undefined;
  return {
    get folded(): string {
      return (folded ??= text.toLowerCase());
    },
    foldedToText: null,
    hidden: [],
  };
}

export interface LayerInputOptions {
  /** Defaults to `input`. */
  readonly stage?: Stage;
  /** Defaults to `user` for input and `assistant` for output. */
  readonly role?: Role;
  /** The text as received, when `text` is already normalised; defaults to `text`. */
  readonly original?: string;
  readonly views?: Partial<TextViews>;
  readonly intake?: Partial<Intake>;
  readonly session?: GuardSession;
  readonly signal?: AbortSignal;
}

/** A layer's input for `text`, as the engine would give it (the text is not repaired or normalised). */
export function layerInputFor(text: string, options: LayerInputOptions = {}): LayerInput {
  const stage = options.stage ?? "input";
  const role = options.role ?? (stage === "output" ? "assistant" : "user");
  return {
    text,
    original: options.original ?? text,
    views: { ...defaultViews(text), ...options.views },
    role,
    trust: TRUST[role],
    stage,
    intake: { bytes: utf8Length(options.original ?? text), invalidUtf8: 0, loneSurrogates: 0, ...options.intake },
    signal: options.signal ?? new AbortController().signal,
    ...(options.session ? { session: options.session } : {}),
  };
}
