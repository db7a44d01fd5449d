/** `bulwark init`: write a commented starter policy to begin from. */
import { copyFile, constants } from "node:fs/promises";
import type { Command } from "commander";
import { packagePath } from "../util/paths.js";
import { stderr } from "./output.js";

export const STARTER_POLICY = packagePath("data", "policies", "starter.yaml");

export function register(program: Command): void {
  program
    .command("init")
    .summary("write a commented starter policy")
    .description("Write a commented starter policy (the built-in default, every option shown) to FILE.")
    .argument("[file]", "where to write it", "bulwark.policy.yaml")
    .option("--force", "overwrite FILE if it exists")
    .addHelpText("after", "\nThen edit it, check it with `bulwark policy validate FILE`, and use it with `bulwark check --policy FILE`.")
    .action(async (file: string, options: { force?: boolean }) => {
      try {
        await copyFile(STARTER_POLICY, file, options.force ? 0 : constants.COPYFILE_EXCL);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "EEXIST") {
          stderr(`bulwark init: ${file} already exists; choose another name or pass --force to overwrite it`);
          process.exitCode = 2;
          return;
        }
        throw error;
      }
      stderr(`wrote ${file}: the default policy with every option commented. Check it with: bulwark policy validate ${file}`);
    });
}
