/** `bulwark policy validate|show|schema`: check, inspect and export policies. */
import type { Command } from "commander";
import { stringify } from "yaml";
import { policyJsonSchema } from "../policy/json-schema.js";
import { loadPolicyOption } from "./policy-option.js";
import { stderr, writeOut } from "./output.js";

export function register(program: Command): void {
  const policy = program.command("policy").summary("validate, show and export guard policies").description("Validate, show and export guard policies.");

  policy
    .command("validate")
    .description("Check a policy file against the schema; every problem is listed with its line, what was expected and what was found.")
    .argument("<file...>", "policy files (YAML or JSON)")
    .action(async (files: string[]) => {
      for (const file of files) {
        const loaded = await loadPolicyOption(file);
        if (loaded) stderr(`ok: ${file} is a valid policy (${loaded.policy.name}, ${loaded.hash})`);
        else process.exitCode = 1;
      }
    });

  policy
    .command("show")
    .description("Print a policy with every default filled in, as the engine will use it.")
    .argument("[file]", "policy file; the built-in default otherwise")
    .option("--json", "print JSON instead of YAML")
    .action(async (file: string | undefined, options: { json?: boolean }) => {
      const loaded = await loadPolicyOption(file);
      if (!loaded) return;
      await writeOut(options.json ? JSON.stringify(loaded.policy, null, 2) + "\n" : `# ${loaded.source} (${loaded.hash})\n` + stringify(loaded.policy));
    });

  policy
    .command("schema")
    .description("Print the policy's JSON Schema (also shipped as schema/policy.schema.json), for editors and CI.")
    .action(async () => {
      await writeOut(JSON.stringify(policyJsonSchema(), null, 2) + "\n");
    });
}
