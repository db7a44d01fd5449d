/**
 * Builds a tiny text classifier as a Hugging Face model directory (config.json,
 * tokenizer.json, tokenizer_config.json, model.onnx), written here byte by byte,
 * so that the local-model layer's loading code is tested on a real ONNX file
 * without downloading one.
 *
 * The model: a WordPiece tokenizer over a small vocabulary; each token id picks
 * a row of two logits (Gather), the rows are averaged over the sequence
 * (ReduceMean) and a bias is added: logits for SAFE and INJECTION. Words such as
 * "ignore" and "instructions" weigh toward INJECTION.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** A protocol-buffers message writer: just the wire types ONNX's ModelProto needs. */
class Message {
  private readonly bytes: number[] = [];

  int(field: number, value: number): this {
    this.key(field, 0);
    this.varint(value);
    return this;
  }

  ints(field: number, values: readonly number[]): this {
    for (const value of values) this.int(field, value);
    return this;
  }

  string(field: number, value: string): this {
    return this.raw(field, new TextEncoder().encode(value));
  }

  strings(field: number, values: readonly string[]): this {
    for (const value of values) this.string(field, value);
    return this;
  }

  message(field: number, value: Message): this {
    return this.raw(field, value.finish());
  }

  raw(field: number, value: Uint8Array): this {
    this.key(field, 2);
    this.varint(value.length);
    for (const byte of value) this.bytes.push(byte);
    return this;
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.bytes);
  }

  private key(field: number, wireType: number): void {
    this.varint(field * 8 + wireType);
  }

  private varint(value: number): void {
    let rest = value;
    while (rest >= 0x80) {
      this.bytes.push((rest % 0x80) | 0x80);
      rest = Math.floor(rest / 0x80);
    }
    this.bytes.push(rest);
  }
}

// ONNX enums (onnx.proto): TensorProto.DataType and AttributeProto.AttributeType.
const FLOAT = 1;
const INT64 = 7;
const ATTRIBUTE_INT = 2;
const ATTRIBUTE_INTS = 7;

function tensorType(elementType: number, dims: ReadonlyArray<string | number>): Message {
  const shape = new Message();
  for (const dim of dims) shape.message(1, typeof dim === "number" ? new Message().int(1, dim) : new Message().string(2, dim));
  return new Message().message(1, new Message().int(1, elementType).message(2, shape));
}

function valueInfo(name: string, elementType: number, dims: ReadonlyArray<string | number>): Message {
  return new Message().string(1, name).message(2, tensorType(elementType, dims));
}

function floatTensor(name: string, dims: readonly number[], values: readonly number[]): Message {
  return new Message().ints(1, dims).int(2, FLOAT).string(8, name).raw(9, new Uint8Array(Float32Array.from(values).buffer));
}

function node(opType: string, inputs: readonly string[], outputs: readonly string[], attributes: Message[] = []): Message {
  const message = new Message().strings(1, inputs).strings(2, outputs).string(3, `${opType.toLowerCase()}_0`).string(4, opType);
  for (const attribute of attributes) message.message(5, attribute);
  return message;
}

const SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"] as const;
/** Words and the logit each adds to [SAFE, INJECTION]. */
const WORDS: ReadonlyArray<readonly [string, number, number]> = [
  ["ignore", 0, 12],
  ["disregard", 0, 12],
  ["previous", 0, 6],
  ["instructions", 0, 8],
  ["system", 0, 4],
  ["prompt", 0, 4],
  ["reveal", 0, 6],
  ["all", 0, 0],
  ["your", 0, 0],
  ["the", 1, 0],
  ["what", 2, 0],
  ["is", 1, 0],
  ["capital", 3, 0],
  ["of", 1, 0],
  ["france", 3, 0],
  ["weather", 3, 0],
  ["recipe", 3, 0],
  ["##s", 0, 0],
];

export const TINY_LABELS = ["SAFE", "INJECTION"] as const;

/** Writes the model directory and returns its path. `modelFile` places the ONNX file (Optimum exports use onnx/model.onnx). */
export function writeTinyModel(dir: string, options: { modelFile?: string } = {}): string {
  const vocab = [...SPECIAL, ...WORDS.map(([word]) => word)];
  const rows = [...SPECIAL.map((token) => (token === "[UNK]" ? [0.5, 0] : [0, 0])), ...WORDS.map(([, safe, injection]) => [safe, injection])];

  const graph = new Message()
    .message(1, node("Gather", ["embedding", "input_ids"], ["embedded"]))
    .message(1, node("ReduceMean", ["embedded"], ["pooled"], [new Message().string(1, "axes").int(20, ATTRIBUTE_INTS).ints(8, [1]), new Message().string(1, "keepdims").int(20, ATTRIBUTE_INT).int(3, 0)]))
    .message(1, node("Add", ["pooled", "bias"], ["logits"]))
    .string(2, "tiny-injection-classifier")
    .message(5, floatTensor("embedding", [vocab.length, 2], rows.flat()))
    .message(5, floatTensor("bias", [2], [0.5, -0.5]))
    .message(11, valueInfo("input_ids", INT64, ["batch", "sequence"]))
    .message(11, valueInfo("attention_mask", INT64, ["batch", "sequence"]))
    .message(12, valueInfo("logits", FLOAT, ["batch", 2]));
  const model = new Message()
    .int(1, 7) // ir_version
    .string(2, "bulwark-test")
    .message(7, graph)
    .message(8, new Message().string(1, "").int(2, 13)); // opset_import: the default domain, opset 13

  const tokenizer = {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: SPECIAL.map((content, id) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: { type: "BertNormalizer", clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
    pre_tokenizer: { type: "BertPreTokenizer" },
    post_processor: {
      type: "TemplateProcessing",
      single: [{ SpecialToken: { id: "[CLS]", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }, { SpecialToken: { id: "[SEP]", type_id: 0 } }],
      pair: [{ SpecialToken: { id: "[CLS]", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }, { SpecialToken: { id: "[SEP]", type_id: 0 } }, { Sequence: { id: "B", type_id: 1 } }, { SpecialToken: { id: "[SEP]", type_id: 1 } }],
      special_tokens: { "[CLS]": { id: "[CLS]", ids: [2], tokens: ["[CLS]"] }, "[SEP]": { id: "[SEP]", ids: [3], tokens: ["[SEP]"] } },
    },
    decoder: { type: "WordPiece", prefix: "##", cleanup: true },
    model: { type: "WordPiece", unk_token: "[UNK]", continuing_subword_prefix: "##", max_input_chars_per_word: 100, vocab: Object.fromEntries(vocab.map((token, id) => [token, id])) },
  };

  mkdirSync(dir, { recursive: true });
  const modelPath = join(dir, options.modelFile ?? "model.onnx");
  mkdirSync(join(modelPath, ".."), { recursive: true });
  writeFileSync(modelPath, model.finish());
  writeFileSync(join(dir, "tokenizer.json"), JSON.stringify(tokenizer));
  writeFileSync(
    join(dir, "tokenizer_config.json"),
    JSON.stringify({ tokenizer_class: "BertTokenizer", do_lower_case: true, model_max_length: 512, cls_token: "[CLS]", sep_token: "[SEP]", pad_token: "[PAD]", unk_token: "[UNK]" }),
  );
  writeFileSync(join(dir, "config.json"), JSON.stringify({ architectures: ["TinyForSequenceClassification"], id2label: { 0: TINY_LABELS[0], 1: TINY_LABELS[1] }, label2id: { [TINY_LABELS[0]]: 0, [TINY_LABELS[1]]: 1 } }));
  return dir;
}
