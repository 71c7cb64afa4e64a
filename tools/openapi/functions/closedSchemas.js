// Every object schema that lists its properties says that nothing else may appear
// (additionalProperties: false, or unevaluatedProperties: false where it is built with
// allOf), so the contract check fails on a field trmd sends that the contract does not name.
// The members of an allOf are closed by their parent, not by themselves; so is a component
// schema that is only ever used as a member of an allOf (a building block such as CaseFields).

// Whether every reference to this component schema is a member of an allOf.
function onlyInAllOf(doc, name) {
  const target = `#/components/schemas/${name}`;
  let used = 0;
  let elsewhere = 0;
  const walk = (node, parentKey) => {
    if (Array.isArray(node)) {
      for (const v of node) walk(v, parentKey);
    } else if (node && typeof node === "object") {
      if (node.$ref === target) {
        used++;
        if (parentKey !== "allOf") elsewhere++;
      }
      for (const [k, v] of Object.entries(node)) walk(v, k);
    }
  };
  walk(doc, null);
  return used > 0 && elsewhere === 0;
}

export default function closedSchemas(schema, _options, context) {
  if (schema === null || typeof schema !== "object") return [];
  const path = context.path;
  if (path[path.length - 2] === "allOf") return [];
  const composed = Array.isArray(schema.allOf);
  if (!composed && !schema.properties) return [];
  if (schema.additionalProperties === false || schema.unevaluatedProperties === false) return [];
  if (path.length === 3 && path[0] === "components" && path[1] === "schemas" &&
      onlyInAllOf(context.document.data, path[2])) return [];
  return [
    {
      message: composed
        ? "A schema built with allOf needs unevaluatedProperties: false."
        : "An object schema with properties needs additionalProperties: false.",
    },
  ];
}
