// The forms: which fields each command's form shows, how they read back into
// the body `POST /sync` carries, and errors shown beside their fields (the
// app's own checks, or the server's refusal of a record sent).

import { el } from "../dom.js";
import { fromLocalInput, localInputValue } from "../format.js";
import { labelOr, t } from "../i18n.js";
import { communeLabel, errorText } from "./labels.js";

const cash = (body) => body.form === "cash";
const inKind = (body) => body.form === "in_kind";

// Per command, in order: `name` (the command's field), `type`, where its
// choices' labels live (`labels`, default the field's name) and when it shows.
export const FORMS = {
  register_household: [
    { name: "commune_code", type: "commune" },
    { name: "head_name", type: "text" },
    { name: "members", type: "int" },
    { name: "flags", type: "flags", labels: "flag" },
  ],
  assess_damage: [
    { name: "assessed_at", type: "time" },
    { name: "house_damage", type: "choice" },
    { name: "house_class", type: "choice" },
    ...["dead", "missing", "injured", "seriously_injured", "persons_short_of_food", "food_months",
      "orphaned_children"]
      .map((name) => ({ name, type: "int" })),
    ...["relocation_ordered", "evacuated", "livelihood_lost"].map((name) => ({ name, type: "bool" })),
    { name: "notes", type: "textarea" },
  ],
  record_disbursement: [
    { name: "support_type", type: "choice", labels: "support" },
    { name: "form", type: "choice" },
    { name: "amount_vnd", type: "int", when: cash },
    { name: "quantity", type: "int", when: inKind },
    { name: "unit", type: "text", when: inKind },
    { name: "channel", type: "choice" },
    { name: "funding_source", type: "choice" },
    { name: "delivered_at", type: "time" },
    { name: "delivered_by", type: "text" },
  ],
  confirm_receipt: [
    { name: "confirmed_at", type: "time" },
    { name: "confirmed_by", type: "text" },
    { name: "method", type: "choice" },
  ],
  file_request: [
    { name: "commune_code", type: "commune" },
    { name: "village", type: "text" },
    { name: "phone", type: "text" },
    { name: "kind", type: "choice", labels: "request_kind" },
    { name: "description", type: "textarea" },
    { name: "filed_at", type: "time" },
  ],
};

// The ids a form does not show: they come from where the form was opened.
export const FIXED = {
  register_household: ["incident_id"],
  assess_damage: ["household_id"],
  record_disbursement: ["household_id"],
  confirm_receipt: ["household_id", "disbursement_id"],
  file_request: ["incident_id", "household_id"],  // a household's: opened from its screen
};

/** A field's schema, with `null` allowed or not, whatever pydantic's shape of it. */
function spec(schema, name) {
  const property = schema.properties[name];
  const options = property.anyOf || [property];
  const found = options.find((o) => o.type !== "null");
  return { ...found, nullable: options.length > 1, default: property.default, required: (schema.required || []).includes(name) };
}

/** The values of a new record: the schema's defaults, and now for its times. */
export function defaults(command, schema) {
  const values = {};
  for (const field of FORMS[command]) {
    const s = spec(schema, field.name);
    if (field.type === "time") values[field.name] = new Date().toISOString();
    else if (s.default !== undefined && s.default !== null) values[field.name] = s.default;
  }
  return values;
}

/** `tag` with the label `key` names, which the language button relabels (i18n.apply); `fallback` where there is none. */
function labelled(tag, props, key, fallback = key) {
  const known = labelOr(key, null) !== null;
  return el(tag, known ? { ...props, dataset: { i18n: key } } : props, known ? t(key) : fallback);
}

function choiceOptions(field, s, choices) {
  const values = choices?.[field.name] || s.enum;
  const options = values.map((v) => labelled("option", { value: v }, `${field.labels || field.name}.${v}`, v));
  return s.nullable || !s.required && s.default == null ? [labelled("option", { value: "" }, "form.none"), ...options] : options;
}

function input(field, s, { communes, choices }) {
  const id = `f-${field.name}`;
  switch (field.type) {
    case "commune":
      return el("select", { id, name: field.name },
        el("option", { value: "" }, "—"),
        ...communes.map((c) => el("option", { value: c.commune_code, dataset: { commune: c.commune_code } }, communeLabel(c))));
    case "choice":
      return el("select", { id, name: field.name }, ...choiceOptions(field, s, choices));
    case "int":
      return el("input", { id, name: field.name, type: "text", inputMode: "numeric", autocomplete: "off" });
    case "time":
      return el("input", { id, name: field.name, type: "datetime-local", step: 60 });
    case "textarea":
      return el("textarea", { id, name: field.name, rows: 3, maxLength: s.maxLength ?? 2000 });
    case "bool":
      return el("input", { id, name: field.name, type: "checkbox" });
    case "flags":
      return el("div", { id, className: "flags" }, ...s.items.enum.map((v) => el("label", { className: "check" },
        el("input", { type: "checkbox", name: field.name, value: v }), labelled("span", {}, `${field.labels}.${v}`, v))));
    default:
      return el("input", { id, name: field.name, type: "text", maxLength: s.maxLength ?? 500, autocomplete: "off" });
  }
}

function setValue(field, node, value) {
  if (field.type === "bool") node.checked = Boolean(value);
  else if (field.type === "flags") for (const box of node.querySelectorAll("input")) box.checked = (value || []).includes(box.value);
  else if (field.type === "time") node.value = value ? localInputValue(value) : "";
  // A choice with no value yet keeps its first option.
  else if (value != null || node.tagName !== "SELECT") node.value = value ?? "";
}

function getValue(field, node) {
  if (field.type === "bool") return node.checked;
  if (field.type === "flags") return [...node.querySelectorAll("input:checked")].map((box) => box.value);
  const text = node.value.trim();
  if (!text) return field.type === "choice" ? null : undefined;
  if (field.type === "time") return fromLocalInput(text);
  // What is not a whole number is kept as typed, for the check to name it.
  if (field.type === "int") return /^-?\d+$/.test(text) ? Number(text) : text;
  return text;
}

/** The server names an item's field `items.3.body.dead`, a list entry `flags.1`: the form's field is `dead`, `flags`. */
export function formField(path) {
  return (path || "").replace(/^items\.\d+\.body\.?/, "").split(".")[0];
}

/**
 * Build a command's form in `container` with `values`. `communes`: the
 * incident's communes of the team; `choices`: narrower choices for a field
 * (the supports a household is entitled to). Returns {read, show, relabel}.
 */
export function buildForm(container, command, schema, values, { communes = [], choices = {} } = {}) {
  const rows = FORMS[command].map((field) => {
    const s = spec(schema, field.name);
    const node = input(field, s, { communes, choices });
    setValue(field, node, values[field.name]);
    const label = field.type === "bool"
      ? el("label", { className: "check", htmlFor: node.id }, node, labelled("span", {}, `f.${field.name}`))
      : labelled("label", { htmlFor: node.id }, `f.${field.name}`);
    const hint = field.type === "time" ? labelled("p", { className: "hint" }, "form.hint.clock") : null;
    const error = el("p", { className: "field-error", dataset: { for: field.name }, role: "alert" });
    const row = el("div", { className: `field field-${field.type}`, dataset: { field: field.name } },
      label, field.type === "bool" ? null : node, hint, error);
    return { field, node, row, error };
  });
  container.replaceChildren(...rows.map((r) => r.row));
  const read = () => {
    const body = {};
    for (const { field, node } of rows) body[field.name] = getValue(field, node);
    for (const { field } of rows) if (field.when && !field.when(body)) delete body[field.name];
    for (const [name, value] of Object.entries(body)) if (value === undefined) delete body[name];
    return body;
  };
  const showWhen = () => {
    const body = read();
    for (const { field, row } of rows) if (field.when) row.hidden = !field.when(body);
  };
  container.addEventListener("change", showWhen);
  showWhen();
  /** Errors beside their fields; those of fields the form does not show are returned. */
  const show = (errors) => {
    for (const { row, error } of rows) {
      row.classList.remove("invalid");
      error.replaceChildren();
    }
    const elsewhere = [];
    for (const problem of errors) {
      const row = rows.find((r) => r.field.name === formField(problem.field) && !r.row.hidden);
      if (!row) {
        elsewhere.push(problem);
        continue;
      }
      row.row.classList.add("invalid");
      row.error.append(el("span", { className: "says" }, errorText(problem)));
      if (problem.message) row.error.append(el("span", { className: "server" }, t("form.server", { message: problem.message })));
    }
    return elsewhere;
  };
  /** After the language changed, the communes (i18n.apply relabelled the rest; errors are shown again). */
  const relabel = () => {
    for (const option of container.querySelectorAll("option[data-commune]")) {
      option.textContent = communeLabel(communes.find((c) => c.commune_code === option.dataset.commune));
    }
  };
  return { read, show, relabel };
}
