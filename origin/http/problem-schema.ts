import { z } from '@hono/zod-openapi';

/** RFC 9457 problem details as http/problem.ts writes them, for the OpenAPI document. */
export const problemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    request_id: z.string().optional(),
  })
  .openapi('Problem');

/** An error response in the docs; the body is written by the one onError, never by a handler. */
export function problemResponse(description: string) {
  return { description, content: { 'application/problem+json': { schema: problemSchema } } };
}
