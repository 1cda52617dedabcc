// What the app checks before a record is kept for sending: the same rules as
// the server, so a worker hears of a mistake while still with the household.
// - Each field against the command's JSON Schema, as the server publishes it
//   (`GET /field/session` caches them): types, ranges, lengths, choices.
// - The rules the server's models and service add, with what the device
//   knows: the incident and its communes, the household's members, what is
//   owed. What only the server knows it still decides, and a refusal comes
//   back beside the field.
// An error is {field, code, params}; labels.js words it.

import { number, vnd } from "../format.js";

// Field devices' clocks drift: the server accepts a few minutes ahead of its own.
export const CLOCK_SKEW_MS = 5 * 60_000;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function stringError(spec, value) {
  if (typeof value !== "string") return { code: "string_type" };
  if (spec.enum && !spec.enum.includes(value)) return { code: "literal_error" };
  if (spec.minLength != null && value.trim().length < spec.minLength) return { code: "string_too_short" };
  if (spec.maxLength != null && value.length > spec.maxLength) return { code: "string_too_long", params: { max: spec.maxLength } };
  if (spec.pattern && !new RegExp(spec.pattern).test(value)) return { code: "string_pattern_mismatch" };
  if (spec.format === "date-time" && (!ISO_TIME.test(value) || Number.isNaN(Date.parse(value)))) return { code: "datetime_parsing" };
  if (spec.format === "uuid" && !UUID.test(value)) return { code: "uuid_parsing" };
  return null;
}

function integerError(spec, value) {
  if (!Number.isInteger(value)) return { code: "int_parsing" };
  if (spec.minimum != null && value < spec.minimum) return { code: "greater_than_equal", params: { min: spec.minimum } };
  if (spec.exclusiveMinimum != null && value <= spec.exclusiveMinimum) return { code: "greater_than", params: { min: spec.exclusiveMinimum } };
  if (spec.maximum != null && value > spec.maximum) return { code: "less_than_equal", params: { max: spec.maximum } };
  return null;
}

/** The first problem of `value` under a property's schema, or null. */
function valueError(property, value, field, errors) {
  const options = property.anyOf || [property];
  if (value === null) {
    if (!options.some((o) => o.type === "null")) errors.push({ field, code: "missing" });
    return;
  }
  const spec = options.find((o) => o.type !== "null");
  let problem = null;
  if (spec.type === "string") problem = stringError(spec, value);
  else if (spec.type === "integer") problem = integerError(spec, value);
  else if (spec.type === "boolean") problem = typeof value === "boolean" ? null : { code: "bool_type" };
  else if (spec.type === "array") {
    if (!Array.isArray(value)) problem = { code: "list_type" };
    else if (spec.maxItems != null && value.length > spec.maxItems) problem = { code: "too_long" };
    else value.forEach((item, i) => valueError(spec.items, item, `${field}.${i}`, errors));
  }
  if (problem) errors.push({ field, ...problem });
}

/** Each field of `body` against the command's JSON Schema. */
export function schemaErrors(schema, body) {
  const errors = [];
  for (const name of schema.required || []) {
    if (body[name] == null || body[name] === "") errors.push({ field: name, code: "missing" });
  }
  for (const [name, value] of Object.entries(body)) {
    const property = schema.properties[name];
    if (!property) errors.push({ field: name, code: "extra_forbidden" });
    else if (value !== undefined && !errors.some((e) => e.field === name)) valueError(property, value, name, errors);
  }
  return errors;
}

// ----- the rules beyond each field's own ---------------------------------------

function moment(body, field, incident, errors) {
  const at = Date.parse(body[field]);
  if (Number.isNaN(at)) return;
  if (at > Date.now() + CLOCK_SKEW_MS) errors.push({ field, code: "future_time" });
  else if (at < Date.parse(incident.started_at)) errors.push({ field, code: "before_incident" });
}

function open(incident, errors) {
  if (incident.closed_at) errors.push({ field: "incident_id", code: "incident_closed" });
}

function yours(body, incident, errors) {
  if (body.commune_code && !incident.communes.some((c) => c.commune_code === body.commune_code)) {
    errors.push({ field: "commune_code", code: "commune_not_yours" });
  }
}

const RULES = {
  register_household(body, { incident }, errors) {
    open(incident, errors);
    yours(body, incident, errors);
    if (new Set(body.flags || []).size !== (body.flags || []).length) errors.push({ field: "flags", code: "flags_repeat" });
  },
  assess_damage(body, { incident, household }, errors) {
    open(incident, errors);
    moment(body, "assessed_at", incident, errors);
    const members = household?.members;
    if (members == null) return;
    if ((body.persons_short_of_food ?? 0) > members) {
      errors.push({ field: "persons_short_of_food", code: "exceeds_members", params: { members } });
    }
    if ((body.dead ?? 0) + (body.missing ?? 0) > members) errors.push({ field: "dead", code: "exceeds_members", params: { members } });
  },
  record_disbursement(body, { incident, owed }, errors) {
    moment(body, "delivered_at", incident, errors);
    if (body.form === "cash" && body.amount_vnd == null) errors.push({ field: "amount_vnd", code: "missing" });
    if (body.form === "in_kind" && body.quantity == null) errors.push({ field: "quantity", code: "missing" });
    if (!owed) return;
    if (body.form === "cash" && body.amount_vnd > (owed.amount_vnd ?? Infinity)) {
      errors.push({ field: "amount_vnd", code: "exceeds_entitlement", params: { owed: vnd(owed.amount_vnd) } });
    }
    if (body.form === "in_kind" && body.quantity > (owed.quantity ?? Infinity)) {
      errors.push({ field: "quantity", code: "exceeds_entitlement", params: { owed: number(owed.quantity) } });
    }
  },
  confirm_receipt(body, { incident, confirmed }, errors) {
    moment(body, "confirmed_at", incident, errors);
    if (confirmed) errors.push({ field: "disbursement_id", code: "already_confirmed" });
  },
  file_request(body, { incident, household }, errors) {
    yours(body, incident, errors);
    moment(body, "filed_at", incident, errors);
    // The server names the household; the form shows the commune to change.
    if (household && body.commune_code && body.commune_code !== household.commune_code) {
      errors.push({ field: "commune_code", code: "household_not_in_commune" });
    }
  },
};

/**
 * Every problem of a record about to be kept. `context`: the incident (with
 * its communes), the household's details, what is still owed under the
 * chosen support, whether the disbursement's receipt is already confirmed.
 */
export function check(command, body, schemas, context) {
  const errors = schemaErrors(schemas[command], body);
  RULES[command](body, context, errors);
  return errors;
}
