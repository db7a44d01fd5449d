/** Loading the policy named by a --policy option, with errors printed the way people can act on. */
import { defaultPolicy, loadPolicyFile, PolicyError, type LoadedPolicy } from "../policy/load.js";
import { stderr } from "./output.js";

/** Resolves to null (and sets exit code 2) when the policy is invalid; the message lists every problem. */
export async function loadPolicyOption(path: string | undefined): Promise<LoadedPolicy | null> {
  if (!path) return defaultPolicy();
  try {
    return await loadPolicyFile(path);
  } catch (error) {
    if (!(error instanceof PolicyError)) throw error;
    stderr(error.message);
    stderr(`Fix the problems above (the reference is docs/policy.md), or check the file with: bulwark policy validate ${path}`);
    process.exitCode = 2;
    return null;
  }
}
