import { FeedError } from './errors.js';

/**
 * Credentials in feed locations (issue 13, finding 7). A location is shown to `etl:read`
 * analysts, stored with every run and quoted in errors and logs, so it never holds a secret:
 * it names one, `${FEED_<NAME>}`, and the origin's environment supplies the value when the feed
 * is opened. Only `FEED_` variables can be named, so a location cannot pull the origin's own
 * secrets (`${EDGE_ASSERTION_SECRET}`) into a URL.
 */
const reference = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;
const FEED_VARIABLE = /^FEED_[A-Z0-9_]+$/;

/** Query parameters whose value is a credential by their name (S3/GCS signatures included). */
const secretParameter =
  /(^|[-_.])(token|key|apikey|api_key|secret|password|passwd|pwd|pass|auth|authorization|credential|credentials|sig|signature|session|access_token|x-amz-signature|x-amz-credential|x-amz-security-token|x-goog-signature)$/i;

const onlyReferences = (value: string) => value.replace(reference, '') === '';

/**
 * Why a location may not be stored, or undefined: a literal password (or a user alone) in the URL, or a
 * credential-named query parameter whose value is not a `${FEED_…}` reference; a reference to a
 * variable outside `FEED_`.
 */
export function literalCredential(location: string): string | undefined {
  for (const [, name] of location.matchAll(reference)) {
    if (!FEED_VARIABLE.test(name as string))
      return `\${${name}} is not a feed variable: only FEED_<NAME> variables can be referenced`;
  }
  if (!/^https?:\/\//i.test(location)) return undefined;
  let url: URL;
  try {
    url = new URL(location);
  } catch {
    return undefined;
  }
  const hint = `put the secret in a FEED_<NAME> variable and write \${FEED_<NAME>} (docs/etl.md)`;
  const user = decodeURIComponent(url.username);
  const password = decodeURIComponent(url.password);
  // A user beside a referenced password is a name; a user alone is often the token itself.
  if (password ? !onlyReferences(password) : user && !onlyReferences(user))
    return `the URL carries a literal ${password ? 'password' : 'user (a token?)'}: ${hint}`;
  for (const [name, value] of url.searchParams) {
    if (secretParameter.test(name) && value !== '' && !onlyReferences(value))
      return `the query parameter '${name}' carries a literal credential: ${hint}`;
  }
  return undefined;
}

/**
 * The location with every `${FEED_…}` replaced from the environment, for opening the feed only:
 * the result is never stored, shown or logged.
 */
export function expandLocation(
  location: string,
  env: Record<string, string | undefined> = process.env,
): string {
  return location.replace(reference, (_whole, name: string) => {
    if (!FEED_VARIABLE.test(name)) throw new FeedError(`\${${name}} is not a feed variable`);
    const value = env[name];
    if (value === undefined || value === '')
      throw new FeedError(
        `\${${name}} is referenced by the location but not set in the environment`,
      );
    return encodeURIComponent(value);
  });
}

/**
 * A location as it may be shown: references kept (they are names), any literal user, password
 * or credential-named query value (a definition stored before this rule, a redirect's target)
 * replaced by `***`.
 */
export function redactLocation(location: string): string {
  if (!/^https?:\/\//i.test(location)) return location;
  let url: URL;
  try {
    url = new URL(location);
  } catch {
    return location.replace(/\/\/[^/@]*@/, '//***@');
  }
  const keep = (part: string) => onlyReferences(decodeURIComponent(part));
  const secretPassword = url.password !== '' && !keep(url.password);
  if (url.username && !keep(url.username) && (secretPassword || !url.password))
    url.username = '***';
  if (secretPassword) url.password = '***';
  const params = [...url.searchParams];
  let changed = false;
  for (const [name, value] of params) {
    if (secretParameter.test(name) && value !== '' && !onlyReferences(value)) changed = true;
  }
  if (changed) {
    url.search = params
      .map(([name, value]) => {
        const shown = secretParameter.test(name) && !onlyReferences(value) ? '***' : value;
        return `${encodeURIComponent(name)}=${shown === '***' ? shown : encodeURIComponent(shown)}`;
      })
      .join('&');
  }
  // URL encodes `${` and `}`; decode them back so a reference reads as the operator wrote it.
  return url
    .toString()
    .replace(/(?:%24|\$)%7B([A-Za-z0-9_]+)%7D/gi, (_whole, name: string) => `\${${name}}`);
}
