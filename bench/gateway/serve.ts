// `bulwark serve` from the TypeScript sources, for the benchmark (no build step needed).
import { main } from "../../src/cli/main.js";

process.exitCode = await main(process.argv);
