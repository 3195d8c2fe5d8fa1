/**
 * ETSI GS QKD 014 V1.1.1 (2019-02), the key delivery REST API between an SAE and its KME: the JSON
 * data formats, pure validation of request bodies and query parameters, and the encodings the API
 * prescribes (RFC 4648 base64 key material, UUID key IDs).
 *
 * Validation answers either a typed request or the exact 400 response to send. Where the standard
 * fixes a message (see {@link ETSI014_MESSAGES}) that message is used verbatim, because clients match
 * on it; everywhere else the message names the field and the limit so that the caller knows what to
 * change. No message ever carries key material (requests carry none; key IDs are not secret).
 *
 * Field names follow the standard exactly (`key_ID`, `additional_slave_SAE_IDs`, …), hence the
 * snake_case in these types.
 *
 * @module
 */

/** The Status data format (§ 6.1): what a master may ask of its KME about a slave. */
export interface Status {
  /** KME ID of this KME (the master's). */
  source_KME_ID: string;
  /** KME ID of the slave's KME. */
  target_KME_ID: string;
  master_SAE_ID: string;
  slave_SAE_ID: string;
  /** Default key size, bits. */
  key_size: number;
  /** Keys of `key_size` bits available now. */
  stored_key_count: number;
  /** Maximum number of stored keys of `key_size` bits. */
  max_key_count: number;
  /** Maximum `number` in one Get key request. */
  max_key_per_request: number;
  /** Maximum key size, bits. */
  max_key_size: number;
  /** Minimum key size, bits. */
  min_key_size: number;
  /** Maximum number of additional slave SAEs (0 when multicast is not supported). */
  max_SAE_ID_count: number;
  status_extension?: Record<string, unknown>;
}

/** The Key request data format (§ 6.2), as a client may send it: every field is optional. */
export interface KeyRequest {
  /** Number of keys, default 1. */
  number?: number;
  /** Key size in bits, default the KME's `key_size`. */
  size?: number;
  /** Further slaves that receive the same keys (multicast). */
  additional_slave_SAE_IDs?: string[];
  /** Extensions the KME must honour, or fail the request. */
  extension_mandatory?: Record<string, unknown>[];
  /** Extensions the KME may ignore. */
  extension_optional?: Record<string, unknown>[];
}

/** One key of a {@link KeyContainer}. */
export interface Key {
  /** A UUID. */
  key_ID: string;
  key_ID_extension?: Record<string, unknown>;
  /** The key material, base64 (RFC 4648 § 4, with padding). */
  key: string;
  key_extension?: Record<string, unknown>;
}

/** The Key container data format (§ 6.3): the answer to both Get key methods. */
export interface KeyContainer {
  keys: Key[];
  key_container_extension?: Record<string, unknown>;
}

/** One entry of {@link KeyIds}. */
export interface KeyIdEntry {
  key_ID: string;
  key_ID_extension?: Record<string, unknown>;
}

/** The Key IDs data format (§ 6.4): the body of Get key with key IDs. */
export interface KeyIds {
  key_IDs: KeyIdEntry[];
  key_IDs_extension?: Record<string, unknown>;
}

/** The Error data format (§ 6.5), the body of 400 and 503 responses. */
export interface ErrorBody {
  message: string;
  /** Further details, each an object of one name and its value. */
  details?: Record<string, unknown>[];
}

/** An answer to one API call. The standard allows only these four status codes. */
export type Etsi014Response<T> =
  | { status: 200; body: T }
  | { status: 400; body: ErrorBody }
  | { status: 401; body?: undefined }
  | { status: 503; body: ErrorBody };

/** A 400 answer. */
export interface BadRequestResponse {
  status: 400;
  body: ErrorBody;
}

/** The messages the standard fixes (all answered with 400). Clients match on them: never reword. */
export const ETSI014_MESSAGES = {
  sizeMultipleOf8: "size shall be a multiple of 8",
  extensionMandatoryUnsupported: "not all extension_mandatory parameters are supported",
  extensionMandatoryUnmet: "not all extension_mandatory request options could be met",
  extensionOptionalUnhandled: "not all extension_optional request options handled",
  keysNotFound: "one or more keys specified are not found on KME",
} as const;

/** A 400 answer with `message` and, if given, `details`. */
export function badRequest(message: string, details?: Record<string, unknown>[]): BadRequestResponse {
  return { status: 400, body: details && details.length > 0 ? { message, details } : { message } };
}

/** A 503 answer with `message`. */
export function serviceUnavailable(
  message: string,
  details?: Record<string, unknown>[],
): { status: 503; body: ErrorBody } {
  return { status: 503, body: details && details.length > 0 ? { message, details } : { message } };
}

/** The outcome of a validation: a typed value, or the 400 to answer. */
export type Validated<T> = { ok: true; value: T } | { ok: false; response: BadRequestResponse };

/** The limits a KME applies to Key requests; the Status fields of the same names report them. */
export interface RequestLimits {
  /** `key_size`: default key size, bits (a multiple of 8). */
  keySize: number;
  /** `min_key_size`, bits. */
  minKeySize: number;
  /** `max_key_size`, bits. */
  maxKeySize: number;
  /** `max_key_per_request`: the largest `number`, and the most key IDs in one Get key with key IDs. */
  maxKeyPerRequest: number;
  /** `max_SAE_ID_count`: the most `additional_slave_SAE_IDs` (0: no multicast). */
  maxSaeIdCount: number;
}

/** A Key request after validation, with the defaults applied. */
export interface ValidKeyRequest {
  /** Number of keys, 1 ≤ number ≤ max_key_per_request. */
  number: number;
  /** Key size, bits: a multiple of 8 within [min_key_size, max_key_size]. */
  sizeBits: number;
  /** Distinct, non-empty SAE IDs, at most max_SAE_ID_count. */
  additionalSlaveSaeIds: string[];
  /** The optional extensions as sent (qnet handles none of them and answers 200 regardless). */
  extensionOptional: Record<string, unknown>[];
}

const KEY_REQUEST_FIELDS = new Set([
  "number",
  "size",
  "additional_slave_SAE_IDs",
  "extension_mandatory",
  "extension_optional",
]);
const KEY_IDS_FIELDS = new Set(["key_IDs", "key_IDs_extension"]);
const KEY_ID_ENTRY_FIELDS = new Set(["key_ID", "key_ID_extension"]);

/** Longest string echoed back in an error message, so a huge field cannot bloat the answer. */
const ECHO_MAX = 64;

/** A value as it may appear in a message: strings quoted and truncated, other types named. */
function describe(value: unknown): string {
  if (typeof value === "string") {
    const cut = value.length > ECHO_MAX ? `${value.slice(0, ECHO_MAX)}…` : value;
    return JSON.stringify(cut);
  }
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  if (typeof value === "number") return Number.isFinite(value) ? String(value) : "a non-finite number";
  return `a ${typeof value}`;
}

/** True for a plain JSON object (not null, not an array). */
export function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function unknownFields(
  obj: Record<string, unknown>,
  known: Set<string>,
  where: string,
): BadRequestResponse | null {
  const extra = Object.keys(obj).filter((k) => !known.has(k));
  if (extra.length === 0) return null;
  const names = extra.slice(0, 5).map(describe).join(", ");
  return badRequest(
    `unknown field${extra.length > 1 ? "s" : ""} in ${where}: ${names}${extra.length > 5 ? ", …" : ""}; allowed: ${[...known].join(", ")}`,
  );
}

/** Checks an integer field against [min, max], naming the limit that is broken. */
function integerIn(
  value: unknown,
  field: string,
  min: number,
  minName: string,
  max: number,
  maxName: string,
): BadRequestResponse | null {
  if (typeof value !== "number" || !Number.isSafeInteger(value))
    return badRequest(`${field} must be an integer, got ${describe(value)}`);
  if (value < min)
    return badRequest(`${field} must be at least ${min} (${minName}), got ${value}`, [{ [minName]: min }]);
  if (value > max)
    return badRequest(`${field} must be at most ${max} (${maxName}), got ${value}`, [{ [maxName]: max }]);
  return null;
}

/** Validates an `extension_*` field: an array of JSON objects. */
function extensionArray(value: unknown, field: string): Validated<Record<string, unknown>[]> {
  if (value === undefined) return { ok: true, value: [] };
  if (!Array.isArray(value))
    return {
      ok: false,
      response: badRequest(`${field} must be an array of objects, got ${describe(value)}`),
    };
  for (let i = 0; i < value.length; i++)
    if (!isJsonObject(value[i]))
      return {
        ok: false,
        response: badRequest(`${field}[${i}] must be an object, got ${describe(value[i])}`),
      };
  return { ok: true, value: value as Record<string, unknown>[] };
}

/** Names of the parameters in an extension array (each object may carry several). */
function extensionNames(extensions: readonly Record<string, unknown>[]): string[] {
  return extensions.flatMap((e) => Object.keys(e));
}

/**
 * Validates a Key request body (POST enc_keys) against the KME's limits and applies the defaults.
 * qnet supports no mandatory extension: any named in `extension_mandatory` fails the request with the
 * standard's message; optional extensions are ignored and the request is served (§ 6.2 allows both).
 *
 * @param body the parsed JSON body (`{}` is valid)
 * @param supportedMandatory mandatory extension parameters this KME honours (none by default)
 */
export function validateKeyRequest(
  body: unknown,
  limits: RequestLimits,
  supportedMandatory: ReadonlySet<string> = new Set(),
): Validated<ValidKeyRequest> {
  const fail = (response: BadRequestResponse): Validated<ValidKeyRequest> => ({ ok: false, response });
  if (!isJsonObject(body))
    return fail(badRequest(`the Key request must be a JSON object, got ${describe(body)}`));
  const unknown = unknownFields(body, KEY_REQUEST_FIELDS, "Key request");
  if (unknown) return fail(unknown);

  const number = body.number === undefined ? 1 : body.number;
  const numberError = integerIn(
    number,
    "number",
    1,
    "minimum",
    limits.maxKeyPerRequest,
    "max_key_per_request",
  );
  if (numberError) return fail(numberError);

  const size = body.size === undefined ? limits.keySize : body.size;
  const sizeError = integerIn(
    size,
    "size",
    limits.minKeySize,
    "min_key_size",
    limits.maxKeySize,
    "max_key_size",
  );
  if (sizeError) return fail(sizeError);
  // Key material is delivered as whole bytes (base64), so qnet supports only multiples of 8 (§ 6.2).
  if ((size as number) % 8 !== 0) return fail(badRequest(ETSI014_MESSAGES.sizeMultipleOf8));

  const additional = body.additional_slave_SAE_IDs === undefined ? [] : body.additional_slave_SAE_IDs;
  if (!Array.isArray(additional))
    return fail(
      badRequest(`additional_slave_SAE_IDs must be an array of SAE IDs, got ${describe(additional)}`),
    );
  if (additional.length > limits.maxSaeIdCount)
    return fail(
      badRequest(
        limits.maxSaeIdCount === 0
          ? "additional_slave_SAE_IDs is not supported by this KME (max_SAE_ID_count is 0)"
          : `additional_slave_SAE_IDs has ${additional.length} entries; at most ${limits.maxSaeIdCount} are allowed (max_SAE_ID_count)`,
        [{ max_SAE_ID_count: limits.maxSaeIdCount }],
      ),
    );
  const seen = new Set<string>();
  for (let i = 0; i < additional.length; i++) {
    const id = additional[i];
    if (typeof id !== "string" || id.length === 0)
      return fail(
        badRequest(`additional_slave_SAE_IDs[${i}] must be a non-empty string, got ${describe(id)}`),
      );
    if (seen.has(id))
      return fail(badRequest(`additional_slave_SAE_IDs lists ${describe(id)} more than once`));
    seen.add(id);
  }

  const mandatory = extensionArray(body.extension_mandatory, "extension_mandatory");
  if (!mandatory.ok) return fail(mandatory.response);
  const optional = extensionArray(body.extension_optional, "extension_optional");
  if (!optional.ok) return fail(optional.response);
  const unsupported = extensionNames(mandatory.value).filter((n) => !supportedMandatory.has(n));
  if (unsupported.length > 0)
    return fail(
      badRequest(
        ETSI014_MESSAGES.extensionMandatoryUnsupported,
        unsupported.slice(0, 16).map((n) => ({ extension_mandatory_unsupported: n })),
      ),
    );

  return {
    ok: true,
    value: {
      number: number as number,
      sizeBits: size as number,
      additionalSlaveSaeIds: additional as string[],
      extensionOptional: optional.value,
    },
  };
}

/** Messages for bodies that are not JSON at all, shared by every adapter. */
export const BODY_MESSAGES = {
  notJson: "the body is not valid JSON",
  empty: "the body is empty; a JSON body is required (send {} for the Key request defaults)",
  forbiddenKey: 'the body is not acceptable JSON: the keys "__proto__" and "constructor" are refused',
} as const;

/**
 * Parses a request body as JSON for adapters that receive raw text. Refuses the keys `__proto__`
 * and `constructor` anywhere (prototype poisoning, should the value ever be merged into an object),
 * as fastify's parser does. The message never repeats the body.
 */
export function parseJsonBody(text: string): Validated<unknown> {
  if (text.trim().length === 0) return { ok: false, response: badRequest(BODY_MESSAGES.empty) };
  let poisoned = false;
  let value: unknown;
  try {
    value = JSON.parse(text, (key, v) => {
      if (key === "__proto__" || key === "constructor") poisoned = true;
      return v;
    });
  } catch {
    return { ok: false, response: badRequest(BODY_MESSAGES.notJson) };
  }
  if (poisoned) return { ok: false, response: badRequest(BODY_MESSAGES.forbiddenKey) };
  return { ok: true, value };
}

/** A query string as a web framework parses it: repeated parameters become arrays. */
export type QueryParameters = Record<string, string | string[] | undefined>;

/** A single query parameter's value, or the 400 when it is repeated. */
function single(query: QueryParameters, name: string): Validated<string | undefined> {
  const v = query[name];
  if (Array.isArray(v))
    return { ok: false, response: badRequest(`query parameter ${name} must be given at most once`) };
  return { ok: true, value: v };
}

function unknownQuery(query: QueryParameters, allowed: readonly string[]): BadRequestResponse | null {
  const extra = Object.keys(query).filter((k) => !allowed.includes(k));
  if (extra.length === 0) return null;
  return badRequest(
    `unknown query parameter${extra.length > 1 ? "s" : ""} ${extra.slice(0, 5).map(describe).join(", ")}; allowed: ${allowed.join(", ")}`,
  );
}

/**
 * Turns the query of GET enc_keys (only `number` and `size` are allowed, § 5.2) into the equivalent
 * Key request body, to be validated by {@link validateKeyRequest}.
 */
export function keyRequestFromQuery(query: QueryParameters): Validated<KeyRequest> {
  const unknown = unknownQuery(query, ["number", "size"]);
  if (unknown) return { ok: false, response: unknown };
  const out: KeyRequest = {};
  for (const name of ["number", "size"] as const) {
    const v = single(query, name);
    if (!v.ok) return v;
    if (v.value === undefined) continue;
    // Decimal digits only: "1e3", "0x10", " 5" and "" are refused rather than guessed at.
    if (!/^[0-9]{1,16}$/.test(v.value))
      return {
        ok: false,
        response: badRequest(`query parameter ${name} must be a decimal integer, got ${describe(v.value)}`),
      };
    out[name] = Number(v.value);
  }
  return { ok: true, value: out };
}

/** Turns the query of GET dec_keys (a single `key_ID`, § 5.3) into the equivalent Key IDs body. */
export function keyIdsFromQuery(query: QueryParameters): Validated<KeyIds> {
  const unknown = unknownQuery(query, ["key_ID"]);
  if (unknown) return { ok: false, response: unknown };
  const v = single(query, "key_ID");
  if (!v.ok) return v;
  if (v.value === undefined) return { ok: false, response: badRequest("query parameter key_ID is required") };
  return { ok: true, value: { key_IDs: [{ key_ID: v.value }] } };
}

/**
 * Validates a Key IDs body (POST dec_keys): a non-empty list of distinct key IDs, at most
 * `maxKeys` (max_key_per_request). Returns the IDs, lower-cased (UUIDs compare case-insensitively,
 * RFC 9562 § 4). A key ID that is a string but not a UUID cannot exist on this KME and is answered
 * with the standard's "not found" message, like any other unknown key.
 */
export function validateKeyIds(body: unknown, maxKeys: number): Validated<string[]> {
  const fail = (response: BadRequestResponse): Validated<string[]> => ({ ok: false, response });
  if (!isJsonObject(body))
    return fail(badRequest(`the Key IDs body must be a JSON object, got ${describe(body)}`));
  const unknown = unknownFields(body, KEY_IDS_FIELDS, "Key IDs");
  if (unknown) return fail(unknown);
  if (body.key_IDs_extension !== undefined && !isJsonObject(body.key_IDs_extension))
    return fail(badRequest(`key_IDs_extension must be an object, got ${describe(body.key_IDs_extension)}`));
  const list = body.key_IDs;
  if (list === undefined) return fail(badRequest("key_IDs is required"));
  if (!Array.isArray(list)) return fail(badRequest(`key_IDs must be an array, got ${describe(list)}`));
  if (list.length === 0) return fail(badRequest("key_IDs must name at least one key"));
  if (list.length > maxKeys)
    return fail(
      badRequest(`key_IDs has ${list.length} entries; at most ${maxKeys} are allowed (max_key_per_request)`, [
        { max_key_per_request: maxKeys },
      ]),
    );
  const ids: string[] = [];
  const notUuid: string[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < list.length; i++) {
    const entry = list[i];
    if (!isJsonObject(entry))
      return fail(badRequest(`key_IDs[${i}] must be an object, got ${describe(entry)}`));
    const extra = unknownFields(entry, KEY_ID_ENTRY_FIELDS, `key_IDs[${i}]`);
    if (extra) return fail(extra);
    if (entry.key_ID_extension !== undefined && !isJsonObject(entry.key_ID_extension))
      return fail(
        badRequest(
          `key_IDs[${i}].key_ID_extension must be an object, got ${describe(entry.key_ID_extension)}`,
        ),
      );
    const id = entry.key_ID;
    if (typeof id !== "string" || id.length === 0)
      return fail(badRequest(`key_IDs[${i}].key_ID must be a non-empty string, got ${describe(id)}`));
    const normal = isUuid(id) ? id.toLowerCase() : id;
    if (seen.has(normal)) return fail(badRequest(`key_IDs lists key_ID ${describe(id)} more than once`));
    seen.add(normal);
    if (!isUuid(id)) notUuid.push(id);
    ids.push(normal);
  }
  if (notUuid.length > 0) return fail(keysNotFound(notUuid));
  return { ok: true, value: ids };
}

/** The standard's 400 for unknown key IDs, naming (up to 16 of) them. */
export function keysNotFound(keyIds: readonly string[]): BadRequestResponse {
  return badRequest(
    ETSI014_MESSAGES.keysNotFound,
    keyIds.slice(0, 16).map((id) => ({ key_ID: id.length > ECHO_MAX ? `${id.slice(0, ECHO_MAX)}…` : id })),
  );
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** True for a UUID in its canonical 8-4-4-4-12 hexadecimal form (any version, any case). */
export function isUuid(s: string): boolean {
  return UUID_RE.test(s);
}

/**
 * A random (version 4) UUID, RFC 9562 § 5.4, from 16 random bytes.
 * @param random16 16 bytes from a cryptographically secure source (not modified)
 */
export function uuidV4(random16: Uint8Array): string {
  if (random16.length < 16) throw new RangeError(`uuidV4 needs 16 random bytes, got ${random16.length}`);
  const b = random16.slice(0, 16);
  b[6] = (b[6] & 0x0f) | 0x40; // version 4
  b[8] = (b[8] & 0x3f) | 0x80; // variant 10xx
  let hex = "";
  for (const x of b) hex += x.toString(16).padStart(2, "0");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/** Base64 with padding (RFC 4648 § 4), written out here because the core uses no Node `Buffer`. */
export function encodeBase64(bytes: Uint8Array): string {
  let out = "";
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out += B64[n >> 18] + B64[(n >> 12) & 63] + B64[(n >> 6) & 63] + B64[n & 63];
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = bytes[i] << 16;
    out += `${B64[n >> 18]}${B64[(n >> 12) & 63]}==`;
  } else if (rest === 2) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8);
    out += `${B64[n >> 18]}${B64[(n >> 12) & 63]}${B64[(n >> 6) & 63]}=`;
  }
  return out;
}

/**
 * Decodes padded base64 (RFC 4648 § 4). Strict: refuses other characters, missing padding and
 * non-zero pad bits, so that each byte string has exactly one encoding.
 * @throws RangeError on malformed input (the message never repeats the input)
 */
export function decodeBase64(text: string): Uint8Array {
  if (text.length % 4 !== 0) throw new RangeError("base64 length must be a multiple of 4");
  const pad = text.endsWith("==") ? 2 : text.endsWith("=") ? 1 : 0;
  const out = new Uint8Array((text.length / 4) * 3 - pad);
  let o = 0;
  for (let i = 0; i < text.length; i += 4) {
    const last = i + 4 === text.length;
    const v: number[] = [];
    for (let j = 0; j < 4; j++) {
      const c = text[i + j];
      if (c === "=" && last && j >= 4 - pad) {
        v.push(0);
        continue;
      }
      const d = B64.indexOf(c);
      if (d < 0) throw new RangeError("base64 text has a character outside the alphabet");
      v.push(d);
    }
    const n = (v[0] << 18) | (v[1] << 12) | (v[2] << 6) | v[3];
    const bytes = [(n >> 16) & 255, (n >> 8) & 255, n & 255];
    const keep = last ? 3 - pad : 3;
    if (last && pad > 0 && (n & ((1 << (8 * pad)) - 1)) !== 0)
      throw new RangeError("base64 text has non-zero pad bits");
    for (let j = 0; j < keep; j++) out[o++] = bytes[j];
  }
  return out;
}
