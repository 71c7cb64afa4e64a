// The API contract, enforced: every response the integration tests received (recorded by
// tests/integration/harness.c as responses-*.jsonl, one JSON object a line: method, path,
// status, headers, body) is checked against docs/openapi.yaml for its route and status.
//
//   node validate-responses.js OPENAPI.yaml DIR
//
// A response fails when its status is not documented for its operation, its Content-Type is
// not one documented for that status, its body does not validate against the documented
// schema (JSON Schema 2020-12, as OpenAPI 3.1 uses it; a missing required field or a field
// the schema does not allow fails), or a header the status documents as required is absent.
// Answers of the request core that come before any route (404 for an unknown path, 405 for a
// method the path does not have) must be the components' E404 and E405 problems. The web
// console's files (GET /, /index.html, /assets/...) are not part of the API and are skipped.
// Prints one line per distinct failure with how often it happened and one example, then
// "contract: N responses, M failed"; exits 1 when any failed.
import fs from "node:fs";
import path from "node:path";
import YAML from "yaml";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

const [specPath, dir] = process.argv.slice(2);
if (!specPath || !dir) {
  console.error("usage: node validate-responses.js OPENAPI.yaml DIR");
  process.exit(2);
}
const spec = YAML.parse(fs.readFileSync(specPath, "utf8"), { uniqueKeys: true });

// Component schemas get ids of their own; every reference to them is rewritten to that id.
const SCHEMA_PREFIX = "#/components/schemas/";
const rewrite = (node) => {
  if (Array.isArray(node)) return node.map(rewrite);
  if (node && typeof node === "object") {
    const out = {};
    for (const [k, v] of Object.entries(node)) {
      if (k === "$ref" && typeof v === "string" && v.startsWith(SCHEMA_PREFIX)) {
        const [name, ...rest] = v.slice(SCHEMA_PREFIX.length).split("/");
        out[k] = `trm:schemas/${name}` + (rest.length ? `#/${rest.join("/")}` : "");
      } else {
        out[k] = rewrite(v);
      }
    }
    return out;
  }
  return node;
};

const ajv = new Ajv2020({ strict: true, strictTypes: false, allErrors: true, allowUnionTypes: true });
addFormats(ajv);
// OpenAPI's own keywords inside schemas: annotations only.
ajv.addVocabulary(["example", "discriminator", "xml", "externalDocs"]);
for (const [name, schema] of Object.entries(spec.components?.schemas ?? {})) {
  ajv.addSchema({ ...rewrite(schema), $id: `trm:schemas/${name}` });
}

// Follows a local $ref (responses, parameters) to the object it names.
const deref = (obj) => {
  let seen = 0;
  while (obj && obj.$ref && seen++ < 10) {
    const parts = obj.$ref.replace(/^#\//, "").split("/");
    obj = parts.reduce((o, p) => o?.[p.replace(/~1/g, "/").replace(/~0/g, "~")], spec);
  }
  return obj;
};

// Route templates, most literal segments first (/v1/cases/search before /v1/cases/{id}).
const routes = Object.keys(spec.paths).map((template) => {
  const segs = template.split("/");
  return {
    template,
    segs,
    literal: segs.filter((s) => !s.startsWith("{")).length,
  };
});
routes.sort((a, b) => b.literal - a.literal);
const findRoute = (p) =>
  routes.find(
    (r) =>
      r.segs.length === p.split("/").length &&
      r.segs.every((s, i) => s.startsWith("{") || s === p.split("/")[i]),
  );

const validators = new Map();
const validatorFor = (key, schema) => {
  if (!validators.has(key)) validators.set(key, ajv.compile(rewrite(schema)));
  return validators.get(key);
};

const mediaType = (ct) => (ct ?? "").split(";")[0].trim().toLowerCase();
const isConsoleFile = (r) =>
  (r.method === "GET" || r.method === "HEAD") &&
  (r.path === "/" || r.path === "/index.html" || r.path.startsWith("/assets/"));

// The answers of the request core, documented once for every request (x-trm-request-core).
const core = spec["x-trm-request-core"] ?? {};
const coreAnswer = (r, why) =>
  core[String(r.status)]
    ? { key: `request core ${r.status}`, response: deref(core[String(r.status)]) }
    : { why };

// The documented response of an operation (or of the request core) for this record, or why
// there is none.
function documented(r) {
  const route = findRoute(r.path);
  if (!route) return coreAnswer(r, `no route for ${r.path}, answered ${r.status}`);
  const item = spec.paths[route.template];
  const method = r.method === "HEAD" ? "get" : r.method.toLowerCase();
  const op = item[method];
  if (!op) return coreAnswer(r, `${route.template} has no ${r.method}, answered ${r.status}`);
  const name = `${r.method} ${route.template}`;
  const response = op.responses?.[String(r.status)];
  if (!response) return coreAnswer(r, `${name}: status ${r.status} is not documented`);
  return { key: `${name} ${r.status}`, response: deref(response) };
}

// trmd serves the contract it was built with: the same document as the one checked against.
const specText = fs.readFileSync(specPath, "utf8");
const isDeepStrictEqual = (a, b) => JSON.stringify(a) === JSON.stringify(b);
function servedContract(r) {
  if (r.method !== "GET" || r.status !== 200) return null;
  if (r.path === "/v1/openapi.yaml" && r.body !== specText)
    return "GET /v1/openapi.yaml: not the docs/openapi.yaml checked here";
  if (r.path === "/v1/openapi.json" && !isDeepStrictEqual(JSON.parse(r.body), spec))
    return "GET /v1/openapi.json: not the JSON of the docs/openapi.yaml checked here";
  return null;
}

function check(r) {
  if (isConsoleFile(r)) return null;
  const d = documented(r);
  if (d.why) return d.why;
  const served = servedContract(r);
  if (served) return served;
  const { key, response } = d;
  for (const [h, hspec] of Object.entries(response.headers ?? {})) {
    const value = r.headers[h.toLowerCase()];
    const d = deref(hspec);
    if (value === undefined) {
      if (d?.required) return `${key}: header ${h} missing`;
      continue;
    }
    if (d?.schema?.type === "integer" && !/^[0-9]+$/.test(value))
      return `${key}: header ${h} is not an integer`;
  }
  const content = response.content;
  const body = r.body ?? "";
  if (!content) {
    if (body.length > 0 && r.method !== "HEAD") return `${key}: a body where none is documented`;
    return null;
  }
  const ct = mediaType(r.headers["content-type"]);
  const media = Object.entries(content).find(([t]) => mediaType(t) === ct);
  if (!media) return `${key}: Content-Type ${ct || "(none)"} is not documented`;
  if (r.method === "HEAD" || !media[1].schema) return null;
  let value = body;
  if (ct === "application/json" || ct.endsWith("+json")) {
    try {
      value = JSON.parse(body);
    } catch {
      return `${key}: the body is not JSON`;
    }
  }
  const validate = validatorFor(`${key} ${ct}`, media[1].schema);
  if (validate(value)) return null;
  const e = validate.errors[0];
  const detail = e.keyword === "additionalProperties" ? ` (${e.params.additionalProperty})` : "";
  const unevaluated =
    e.keyword === "unevaluatedProperties" ? ` (${e.params.unevaluatedProperty})` : "";
  return `${key}: body ${e.instancePath || "/"} ${e.message}${detail}${unevaluated}`;
}

const files = fs.readdirSync(dir).filter((f) => /^responses-\d+\.jsonl$/.test(f));
let total = 0;
let failed = 0;
const failures = new Map();
for (const f of files) {
  for (const line of fs.readFileSync(path.join(dir, f), "utf8").split("\n")) {
    if (!line) continue;
    const r = JSON.parse(line);
    total++;
    const why = check(r);
    if (!why) continue;
    failed++;
    const entry = failures.get(why) ?? { n: 0, example: `${r.method} ${r.path}` };
    entry.n++;
    failures.set(why, entry);
  }
}
for (const [why, { n, example }] of [...failures].sort()) {
  console.log(`${why}  [${n}x, e.g. ${example}]`);
}
console.log(`contract: ${total} responses from ${files.length} test processes checked against ${path.basename(specPath)}, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
