// Golden vectors for switchboard's Twilio signature check, produced by Twilio's own
// helper library. Run by hand, never by `make test` (README.md, "Connecting each platform"):
//
//   npm install && node make_vectors.js
//
// For every request below it signs what Twilio signed (getExpectedTwilioSignature),
// then asks twilio-node's webhook middleware — the code Twilio ships to verify its
// webhooks — whether the request as it reached the service is valid. vectors.json
// records the request, the signature and that verdict; adapters/twilio's Go test
// must reach the same verdict on every one.
"use strict";

const crypto = require("crypto");
const fs = require("fs");
const path = require("path");
const querystring = require("querystring");
const twilio = require("twilio");
const webhooks = require("twilio/lib/webhooks/webhooks");

const version = require("twilio/package.json").version;

const AUTH_TOKEN = "12345";
const SHARED_KEY_ID = "webhooks_sharedkey_0123456789abcdef0123456789abcdef";
const SHARED_KEY_SECRET = "shared-key-secret-for-tests";
const SVC = "https://hooks.example.com/webhooks/acme-sms";

// A realistic inbound SMS from an alphanumeric sender with Twilio's empty geo fields:
// FromCity, FromState, FromZip sort before FromVERIFY by name+value but after From by
// name.
const verifySMS = [
  ["ToCountry", "US"], ["ToState", "CA"], ["SmsMessageSid", "SM0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e"],
  ["NumMedia", "0"], ["ToCity", "SAN FRANCISCO"], ["FromZip", ""], ["SmsSid", "SM0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e"],
  ["FromState", ""], ["SmsStatus", "received"], ["FromCity", ""], ["Body", "Your code is 123456"],
  ["FromCountry", ""], ["To", "+14155550100"], ["ToZip", "94105"], ["NumSegments", "1"],
  ["MessageSid", "SM0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e"], ["AccountSid", "AC0123456789abcdef0123456789abcdef"],
  ["From", "VERIFY"], ["ApiVersion", "2010-04-01"],
];
const published = [
  ["CallSid", "CA1234567890ABCDE"], ["Caller", "+12349013030"], ["Digits", "1234"],
  ["From", "+12349013030"], ["To", "+18005551212"],
];
const whatsapp = [
  ["SmsMessageSid", "SMa1b2c3d4e5f60718293a4b5c6d7e8f90"], ["NumMedia", "0"], ["ProfileName", "Zoë Ørsted 🦊"],
  ["MessageType", "text"], ["SmsSid", "SMa1b2c3d4e5f60718293a4b5c6d7e8f90"], ["WaId", "4915123456789"],
  ["SmsStatus", "received"], ["Body", "Grüße — ¿qué tal? 你好 👋🏽"], ["To", "whatsapp:+14155238886"],
  ["NumSegments", "1"], ["ReferralNumMedia", "0"], ["MessageSid", "SMa1b2c3d4e5f60718293a4b5c6d7e8f90"],
  ["AccountSid", "AC0123456789abcdef0123456789abcdef"], ["From", "whatsapp:+4915123456789"],
  ["ApiVersion", "2010-04-01"],
];

const form = (pairs) => pairs.map(([k, v]) => querystring.escape(k) + "=" + querystring.escape(v)).join("&");
// What express.urlencoded({extended: false}) hands the middleware: querystring.parse.
const params = (body) => ({ ...querystring.parse(body) });
const sha256hex = (s) => crypto.createHash("sha256").update(Buffer.from(s, "utf-8")).digest("hex");
const settings = (alg) => `key=${SHARED_KEY_ID},algorithm=${alg}`;

// twilio-go's order (name+value strings sorted), which Twilio's own signer does not use.
function signNameValueOrder(key, url, body) {
  const p = querystring.parse(body);
  const pairs = [];
  for (const k of Object.keys(p)) for (const v of [].concat(p[k])) pairs.push(k + v);
  pairs.sort();
  return crypto.createHmac("sha1", key).update(Buffer.from(url + pairs.join(""), "utf-8")).digest("base64");
}

const jsonBody = JSON.stringify({ MessageSid: "SM0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e", From: "+14155552671", Body: "hi" });
const jsonURL = `${SVC}?bodySHA256=${sha256hex(jsonBody)}`;

// Each case: what Twilio signed (signed_url, signed_body, key, algorithm) and what
// reached the service (url, body, headers). signature overrides the computed one.
const cases = [
  { name: "published example (channels.md §1.3)", signed_url: "https://mycompany.com/myapp.php?foo=1&bar=2", body: form(published) },
  { name: "published example received with :443", signed_url: "https://mycompany.com/myapp.php?foo=1&bar=2", url: "https://mycompany.com:443/myapp.php?foo=1&bar=2", body: form(published) },
  { name: "signed with :443, received without", signed_url: "https://mycompany.com:443/myapp.php?foo=1&bar=2", url: "https://mycompany.com/myapp.php?foo=1&bar=2", body: form(published) },
  { name: "signed with :80 on http, received without", signed_url: "http://hooks.example.com:80/webhooks/acme-sms", url: "http://hooks.example.com/webhooks/acme-sms", body: form(published) },
  { name: "non-default port kept", signed_url: "https://hooks.example.com:8443/webhooks/acme-sms", body: form(published) },
  { name: "non-default port dropped is another URL", signed_url: "https://hooks.example.com:8443/webhooks/acme-sms", url: SVC, body: form(published) },
  { name: "issue 16 case 1: SMS from VERIFY with empty FromCity/FromState/FromZip (sorted by name)", signed_url: SVC, body: form(verifySMS) },
  { name: "issue 16 case 1 refused: the same request signed in name+value order (twilio-go)", signed_url: SVC, body: form(verifySMS), signature: signNameValueOrder(AUTH_TOKEN, SVC, form(verifySMS)) },
  { name: "prefix names: MediaUrl1 and MediaUrl10", signed_url: SVC, body: "MediaUrl10=https%3A%2F%2Fa%2F10&MediaUrl1=https%3A%2F%2Fz%2F1&NumMedia=11" },
  { name: "issue 16 case 2: a key repeated with identical values is signed once", signed_url: SVC, body: "Tag=same&Tag=same&Body=hi" },
  { name: "issue 16 case 2 refused: identical values signed twice", signed_url: SVC, body: "Tag=same&Tag=same&Body=hi",
    signature: crypto.createHmac("sha1", AUTH_TOKEN).update(SVC + "BodyhiTagsameTagsame").digest("base64") },
  { name: "repeated key, values signed sorted whatever the arrival order", signed_url: SVC, body: "MediaUrl0=z&MediaUrl0=a&MediaUrl0=m" },
  { name: "repeated key, values sort by UTF-16 code unit (U+1F600 before U+FF5E)", signed_url: SVC, body: form([["Tag", "\uFF5E"], ["Tag", "😀"], ["Tag", "a"]]) },
  { name: "names sort by UTF-16 code unit", signed_url: SVC, body: form([["\uFF5E", "1"], ["😀", "2"], ["Body", "x"]]) },
  { name: "issue 16 case 3: O'Brien received, O%27Brien signed", signed_url: `${SVC}?name=O%27Brien`, url: `${SVC}?name=O'Brien`, body: form(published) },
  { name: "issue 16 case 3: O%27Brien received, O'Brien signed", signed_url: `${SVC}?name=O'Brien`, url: `${SVC}?name=O%27Brien`, body: form(published) },
  { name: "O'Brien received and signed as is", signed_url: `${SVC}?name=O'Brien`, body: form(published) },
  { name: "query with + received, %20 signed (legacy querystring)", signed_url: `${SVC}?name=Jane%20Doe`, url: `${SVC}?name=Jane+Doe`, body: form(published) },
  { name: "query with %20 received, + signed is not a form twilio-node tries", signed_url: `${SVC}?name=Jane+Doe`, url: `${SVC}?name=Jane%20Doe`, body: form(published) },
  { name: "legacy querystring puts array-index keys first", signed_url: `${SVC}?2=x&b=O'B`, url: `${SVC}?b=O%27B&2=x`, body: form(published) },
  { name: "raw non-ASCII path received, percent-encoded signed", signed_url: "https://hooks.example.com/webhooks/caf%C3%A9", url: "https://hooks.example.com/webhooks/café", body: form(published) },
  { name: "upper-case host received, lower-case signed", signed_url: SVC, url: "https://HOOKS.example.com/webhooks/acme-sms", body: form(published) },
  { name: "dot segments received, resolved path signed", signed_url: SVC, url: "https://hooks.example.com/webhooks/x/../acme-sms", body: form(published) },
  { name: "lower-case percent escapes received, upper-case signed (legacy querystring re-encodes)", signed_url: `${SVC}?a=%C3%A9`, url: `${SVC}?a=%c3%a9`, body: form(published) },
  { name: "WhatsApp through Twilio with non-ASCII profile and body", signed_url: "https://hooks.example.com/webhooks/acme-wa-twilio", body: form(whatsapp) },
  { name: "empty body (no parameters)", signed_url: SVC, body: "" },
  { name: "parameter without =", signed_url: SVC, body: "Body=hi&Flag" },
  { name: "HMAC-SHA256 with a SharedKey", signed_url: SVC, body: form(verifySMS), algorithm: "HMAC_SHA256", headers: { "X-Twilio-Webhooks-Signature-Settings": settings("HMAC_SHA256") } },
  { name: "HMAC-SHA256 with a SharedKey, O'Brien received, O%27Brien signed", signed_url: `${SVC}?name=O%27Brien`, url: `${SVC}?name=O'Brien`, body: form(whatsapp), algorithm: "HMAC_SHA256", headers: { "X-Twilio-Webhooks-Signature-Settings": settings("HMAC_SHA256") } },
  { name: "algorithm name is case-insensitive", signed_url: SVC, body: form(published), algorithm: "HMAC_SHA256", headers: { "X-Twilio-Webhooks-Signature-Settings": `algorithm=hmac_sha256 , key=${SHARED_KEY_ID}` } },
  { name: "HMAC-SHA1 with a SharedKey", signed_url: SVC, body: form(published), key: SHARED_KEY_SECRET, headers: { "X-Twilio-Webhooks-Signature-Settings": settings("HMAC_SHA1") } },
  { name: "settings header without algorithm means HMAC-SHA1 with the SharedKey", signed_url: SVC, body: form(published), key: SHARED_KEY_SECRET, headers: { "X-Twilio-Webhooks-Signature-Settings": `key=${SHARED_KEY_ID}` } },
  { name: "refused: SharedKey settings header, signed with the Auth Token", signed_url: SVC, body: form(published), algorithm: "HMAC_SHA256", key: AUTH_TOKEN, headers: { "X-Twilio-Webhooks-Signature-Settings": settings("HMAC_SHA256") } },
  { name: "refused: HMAC-SHA256 signature without the settings header", signed_url: SVC, body: form(published), algorithm: "HMAC_SHA256", key: AUTH_TOKEN },
  { name: "refused: unsupported algorithm", signed_url: SVC, body: form(published), key: SHARED_KEY_SECRET, headers: { "X-Twilio-Webhooks-Signature-Settings": settings("HMAC_SHA512") }, signature: "AAAA" },
  { name: "refused: SharedKey signature but no SharedKey secret configured", signed_url: SVC, body: form(published), algorithm: "HMAC_SHA256", headers: { "X-Twilio-Webhooks-Signature-Settings": settings("HMAC_SHA256") }, shared_key_secret: "" },
  { name: "JSON body with bodySHA256", signed_url: jsonURL, body: jsonBody, json: true },
  { name: "JSON body with bodySHA256, HMAC-SHA256 SharedKey", signed_url: jsonURL, body: jsonBody, json: true, algorithm: "HMAC_SHA256", headers: { "X-Twilio-Webhooks-Signature-Settings": settings("HMAC_SHA256") } },
  { name: "refused: JSON body changed after hashing", signed_url: jsonURL, body: jsonBody.replace("hi", "ho"), json: true },
  { name: "refused: JSON body, bodySHA256 changed in the URL", signed_url: `${SVC}?bodySHA256=${sha256hex("{}")}`, body: jsonBody, json: true },
  { name: "refused: wrong Auth Token", signed_url: SVC, body: form(verifySMS), key: "54321" },
  { name: "refused: a parameter changed", signed_url: SVC, signed_body: form(published), body: form(published).replace("Digits=1234", "Digits=1235") },
  { name: "refused: a parameter added", signed_url: SVC, signed_body: form(published), body: form(published) + "&Extra=1" },
  { name: "refused: signed for another host", signed_url: "https://attacker.example.net/webhooks/acme-sms", url: SVC, body: form(verifySMS) },
  { name: "refused: signed for http, received on https", signed_url: "http://hooks.example.com/webhooks/acme-sms", url: SVC, body: form(published) },
  { name: "refused: another query", signed_url: "https://mycompany.com/myapp.php?foo=1&bar=3", url: "https://mycompany.com/myapp.php?foo=1&bar=2", body: form(published) },
  { name: "refused: empty signature", signed_url: SVC, body: form(published), signature: "" },
  { name: "refused: signature in lower case", signed_url: SVC, body: form(published), lower: true },
];

// A fake Express request/response pair, enough for twilio.webhook() to run.
function runMiddleware(mw, { url, body, json, headers }) {
  const u = new URL(url);
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  const req = {
    protocol: u.protocol.replace(":", ""),
    headers: { host: u.host, ...lower },
    originalUrl: url.slice(url.indexOf("/", url.indexOf("//") + 2)),
    header: (name) => lower[name.toLowerCase()],
    body: json ? JSON.parse(body) : params(body),
    rawBody: body,
  };
  let status = 200;
  const res = { type() { return res; }, status(s) { status = s; return res; }, send() { return res; } };
  let passed = false;
  const warn = console.warn;
  const error = console.error;
  console.warn = () => {};
  console.error = () => {};
  try {
    mw(req, res, () => { passed = true; });
  } finally {
    console.warn = warn;
    console.error = error;
  }
  return { valid: passed, status: passed ? 200 : status };
}

const vectors = cases.map((c) => {
  const algorithm = c.algorithm || "HMAC_SHA1";
  const sharedKeySecret = c.shared_key_secret !== undefined ? c.shared_key_secret : SHARED_KEY_SECRET;
  const key = c.key || (algorithm === "HMAC_SHA256" || c.headers ? SHARED_KEY_SECRET : AUTH_TOKEN);
  const signedBody = c.signed_body !== undefined ? c.signed_body : c.body;
  let signature = c.signature;
  if (signature === undefined) {
    signature = webhooks.getExpectedTwilioSignature(key, c.signed_url, c.json ? {} : params(signedBody), algorithm);
  }
  if (c.lower) signature = signature.toLowerCase();
  const url = c.url || c.signed_url;
  const headers = { "X-Twilio-Signature": signature, ...(c.headers || {}) };
  // The middleware with both secrets configured, given the URL the service resolved.
  const mw = twilio.webhook(AUTH_TOKEN, { url, sharedKeySecret: sharedKeySecret || undefined });
  const verdict = runMiddleware(mw, { url, body: c.body, json: c.json, headers });
  return {
    name: c.name,
    url,
    signed_url: c.signed_url,
    content_type: c.json ? "application/json" : "application/x-www-form-urlencoded",
    body: c.body,
    headers,
    auth_token: AUTH_TOKEN,
    shared_key_secret: sharedKeySecret,
    valid: verdict.valid,
    middleware_status: verdict.status,
  };
});

// How Node rewrites URLs for the fallback forms validateRequest tries.
const urlForms = [
  `${SVC}?name=O'Brien`, `${SVC}?name=O%27Brien&x=a+b`, "HTTPS://Hooks.Example.COM:0443/a/./b/../c?q=1",
  "https://hooks.example.com/p a/%7e?q=%7E&s=a b&e=é", "http://hooks.example.com:80/p?b=1&2=x&a&=z&&c=%zz",
  "https://hooks.example.com/a^b|c{d}e`f'g/%2e/x/%2E%2e/y?q=^|{}`\"<>", "http://0x7f.1/x", "http://[0:0:0:0:0:ffff:1.2.3.4]:8080/",
  "http://[1:0:0:2:0:0:0:3]/", "https://hooks.example.com", "https://hooks.example.com?", "http://hooks.example.com\\a\\b",
  "https:///hooks.example.com/a", "http://user:@hooks.example.com/", "http://hooks.example.com:/a", "http://1.256/",
  "https://hooks.example.com/?k=%E2%82&j=%C3%A9%FF&%=1", "https://hooks.example.com/?01=a&1=b&4294967295=c&4294967294=d&-1=e&0=f",
].map((u) => {
  let normalized = null;
  try { normalized = new URL(u).toString(); } catch (e) { normalized = null; }
  const q = normalized ? normalized.indexOf("?") : -1;
  const legacy = q === -1 || q === normalized.length - 1 ? normalized
    : normalized.slice(0, q) + "?" + querystring.stringify(querystring.parse(normalized.slice(q + 1)));
  return { url: u, normalized, legacy };
});

const out = {
  generator: `twilio-node ${version}: lib/webhooks/webhooks.js getExpectedTwilioSignature signs; webhook() middleware (validateRequest / validateRequestWithBody) decides "valid"`,
  regenerate: "cd adapters/twilio/testdata/signatures && npm install && node make_vectors.js",
  vectors,
  url_forms: urlForms,
};
fs.writeFileSync(path.join(__dirname, "vectors.json"), JSON.stringify(out, null, 2) + "\n");
console.log(`wrote ${vectors.length} vectors (${vectors.filter((v) => v.valid).length} valid) and ${urlForms.length} URL forms with twilio-node ${version}`);
