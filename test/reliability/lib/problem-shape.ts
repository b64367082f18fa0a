/**
 * The one error shape on the wire (STYLE.md): `application/problem+json` whose body has a
 * non-empty `detail`. Every 4xx the suite provokes is held to it.
 */
export function isProblem(contentType: string | null | undefined, body: string): boolean {
  if (!contentType?.toLowerCase().startsWith('application/problem+json')) return false;
  try {
    const parsed = JSON.parse(body) as { detail?: unknown };
    return typeof parsed.detail === 'string' && parsed.detail.trim().length > 0;
  } catch {
    return false;
  }
}
