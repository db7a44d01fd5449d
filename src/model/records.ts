/** Labelled JSONL for `bulwark train` and `bulwark eval`: one `{"text", "label", "role"?, "set"?}` per line. */
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { ROLES, type Role } from "../policy/schema.js";

export interface LabelledRecord {
  readonly text: string;
  readonly label: 0 | 1;
  readonly role: Role;
  readonly set: string;
}

const ATTACK_LABELS = new Set(["attack", "injection", "jailbreak", "malicious", "prompt_injection", "indirect_injection", "1", "true"]);
const BENIGN_LABELS = new Set(["benign", "safe", "0", "false"]);

/** Reads labelled JSONL; lines with other labels (e.g. harmful_request) are counted and skipped. */
export function readLabelled(path: string): { records: LabelledRecord[]; skipped: number } {
  const records: LabelledRecord[] = [];
  let skipped = 0;
  const set = basename(path).replace(/\.jsonl?$/, "");
  readFileSync(path, "utf8")
    .split("\n")
    .forEach((line, index) => {
      if (line.trim() === "") return;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch {
        throw new Error(`${path}:${index + 1}: not JSON`);
      }
      if (typeof value !== "object" || value === null) throw new Error(`${path}:${index + 1}: expected an object`);
      const row = value as Record<string, unknown>;
      if (typeof row.text !== "string") throw new Error(`${path}:${index + 1}: "text" must be a string`);
      const label = String(row.label).toLowerCase();
      const role = typeof row.role === "string" && (ROLES as readonly string[]).includes(row.role) ? (row.role as Role) : "user";
      if (ATTACK_LABELS.has(label)) records.push({ text: row.text, label: 1, role, set: typeof row.set === "string" ? row.set : set });
      else if (BENIGN_LABELS.has(label)) records.push({ text: row.text, label: 0, role, set: typeof row.set === "string" ? row.set : set });
      else skipped++;
    });
  return { records, skipped };
}
