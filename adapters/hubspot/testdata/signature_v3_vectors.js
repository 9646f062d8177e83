// Golden vectors for HubSpot's webhook signature v3, made by HubSpot's own Node SDK
// (@hubspot/api-client, Signature.getSignature and Signature.isValid). Regenerate with:
//   cd "$(mktemp -d)" && npm install @hubspot/api-client@13.5.0 &&
//   NODE_PATH=$PWD/node_modules node /path/to/signature_v3_vectors.js > /path/to/signature_v3_vectors.json
// The SDK hashes the URL exactly as given: the URL-decoding HubSpot's guide asks for
// (%3A → ':' and so on) is the receiver's to do before calling it, and the vectors
// with an encoded query show the decoded URL the signature covers.
const { Signature } = require('@hubspot/api-client/lib/src/utils/signature');
const pkg = require('@hubspot/api-client/package.json');

const secret = 'yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy';
const cases = [
  {name: 'reference deletion (hubspot.md §7)', method: 'POST', url: 'https://example.com/hubspot/webhooks',
   timestamp: 1700000000000,
   body: '[{"eventId":1,"subscriptionId":12345,"portalId":62515,"appId":54321,"occurredAt":1700000000000,"subscriptionType":"contact.deletion","attemptNumber":0,"objectId":123,"changeSource":"CRM"}]'},
  {name: 'batch of a merge and a property change', method: 'POST', url: 'https://hooks.example.com/hubspot/webhooks/acme',
   timestamp: 1764590400123,
   body: '[{"eventId":3816279340,"subscriptionId":25,"portalId":62515,"appId":1160452,"occurredAt":1764590399000,"subscriptionType":"contact.propertyChange","attemptNumber":0,"objectId":1246965,"propertyName":"phone","propertyValue":"+1 415 555 0100","changeSource":"CRM"},{"eventId":1,"subscriptionId":26,"portalId":62515,"appId":1160452,"occurredAt":1764590399500,"subscriptionType":"contact.merge","attemptNumber":0,"objectId":101,"primaryObjectId":101,"mergedObjectIds":[202],"newObjectId":101,"numberOfPropertiesMoved":4,"changeSource":"CRM"}]'},
  {name: 'non-ASCII body', method: 'POST', url: 'https://hooks.example.com/hubspot/webhooks/acme',
   timestamp: 1764590400999,
   body: '[{"eventId":7,"subscriptionId":27,"portalId":62515,"appId":1160452,"occurredAt":1764590400000,"subscriptionType":"contact.propertyChange","attemptNumber":2,"objectId":512,"propertyName":"firstname","propertyValue":"José Díaz","changeSource":"CRM"}]'},
  {name: 'decoded query string', method: 'POST', url: 'https://hooks.example.com/hubspot/webhooks/acme?from=hubspot:v3&x=a,b',
   timestamp: 1764590401000, body: '[]'},
];

const out = {sdk: `@hubspot/api-client ${pkg.version}`, client_secret: secret, vectors: []};
for (const c of cases) {
  const signature = Signature.getSignature(c.method, 'v3', {clientSecret: secret, requestBody: c.body, url: c.url, timestamp: c.timestamp});
  // isValid with a fresh timestamp proves the SDK accepts what getSignature made.
  const now = Date.now();
  const fresh = Signature.getSignature(c.method, 'v3', {clientSecret: secret, requestBody: c.body, url: c.url, timestamp: now});
  if (!Signature.isValid({signatureVersion: 'v3', signature: fresh, clientSecret: secret, requestBody: c.body, method: c.method, url: c.url, timestamp: now})) {
    throw new Error('isValid refused its own signature for ' + c.name);
  }
  out.vectors.push({name: c.name, method: c.method, url: c.url, body: c.body, timestamp: String(c.timestamp), signature});
}
process.stdout.write(JSON.stringify(out, null, 2) + '\n');
