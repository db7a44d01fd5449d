/**
 * access/: enforcement for agents. Tool authorisation against the policy's
 * `access` section (tools.ts: roles, argument schemas, allowlists in
 * constraints.ts, approval), provenance of untrusted content in a conversation
 * (provenance.ts), spotlighting of untrusted content (spotlight.ts), tool calls
 * in OpenAI completions and how a decided call is removed, replaced or held
 * (completion.ts), and the stores of calls held for approval: in memory
 * (approvals.ts) or shared by replicas through Redis (approvals-redis.ts).
 * The checks are pure functions of policy, messages and roles, usable without
 * the gateway. May import policy/ and util/ (and ioredis); never the guard,
 * the gateway, the CLI or the store.
 */
export { AccessControl, authorizeToolCalls, createAccessControl, EFFECT_RANK } from "./tools.js";
export type { AuthorizationRequest, AuthorizationResult, ToolCall, ToolCallOutcome, ToolCallReason, ToolCallVerdict } from "./tools.js";
export { analyzeConversation, conversationTexts, provenanceOf } from "./provenance.js";
export type { ConversationMessage, ConversationProvenance, ConversationText, ProvenanceOptions } from "./provenance.js";
export { spotlight, spotlightInstruction, type SpotlightOptions, type SpotlightResult } from "./spotlight.js";
export { completionCalls, messageCalls, reviewCompletion, rewriteMessage } from "./completion.js";
export type { BulwarkToolReport, CallResolution, DeniedEntry, OnDeny, PendingEntry, ProposedCall, ReviewOptions, ReviewResult } from "./completion.js";
export { ApprovalStore, MemoryApprovals, type Approval, type ApprovalBackend, type ApprovalCall, type ApprovalStatus, type ApprovalStoreOptions, type DecideResult, type HoldRequest } from "./approvals.js";
export { RedisApprovals, type RedisApprovalsOptions } from "./approvals-redis.js";
export { canonicalDomain, valuesAt } from "./constraints.js";
