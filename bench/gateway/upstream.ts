/**
 * The benchmark's upstream: an OpenAI-compatible server that answers at once
 * with a fixed completion (and a fixed stream), so that every millisecond
 * measured above it belongs to what sits in between.
 */
import { createServer } from "node:http";

const port = Number(process.argv[2] ?? 0);
const completion = JSON.stringify({
  id: "chatcmpl-bench",
  object: "chat.completion",
  created: 1_700_000_000,
  model: "bench-model",
  choices: [{ index: 0, message: { role: "assistant", content: "Paris is the capital of France. It is known for the Eiffel Tower, the Louvre and its cafés." }, finish_reason: "stop" }],
  usage: { prompt_tokens: 40, completion_tokens: 24, total_tokens: 64 },
});

const server = createServer((request, response) => {
  request.resume();
  request.on("end", () => {
    if (request.url?.endsWith("/models")) {
      response.writeHead(200, { "content-type": "application/json" });
      response.end('{"object":"list","data":[{"id":"bench-model","object":"model"}]}');
      return;
    }
    response.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(completion) });
    response.end(completion);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(port, "127.0.0.1", () => {
  const address = server.address();
  process.stdout.write(`listening ${typeof address === "object" && address ? address.port : port}\n`);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
