/**
 * Request validation with field-named errors: every zod issue becomes `{ field, message }` where
 * field is the dotted path into the request body (`recipe.optimizer.lr`), and unknown keys are
 * reported under their own name, so the form can put each message next to its input.
 */
import type { NextFunction, Request, Response } from 'express';
import { z } from 'zod';
import type { ErrorBody, FieldError } from '../schema/api.ts';

export function fieldErrors(issues: readonly z.core.$ZodIssue[], prefix: string[] = []): FieldError[] {
  const out: FieldError[] = [];
  for (const issue of issues) {
    const base = [...prefix, ...issue.path.map(String)];
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) out.push({ field: [...base, key].join('.'), message: 'unknown field' });
    } else {
      out.push({ field: base.join('.') || '(body)', message: issue.message });
    }
  }
  return out;
}

export function sendFieldErrors(res: Response, fields: FieldError[], status = 400): void {
  const body: ErrorBody = {
    error: `invalid request: ${fields.map((f) => `${f.field}: ${f.message}`).join('; ')}`,
    fields,
  };
  res.status(status).json(body);
}

/** Parse `input` with `schema`; on failure answer 400 with field errors and return undefined. */
export function validate<S extends z.ZodType>(
  schema: S,
  input: unknown,
  res: Response,
  prefix: string[] = [],
): z.infer<S> | undefined {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  sendFieldErrors(res, fieldErrors(result.error.issues, prefix));
  return undefined;
}

/** Ids the server hands out (`run-20250101-120000-ab12`, `cmp-...-train-bn`): a plain path component. */
export const IdSchema = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/, 'not a valid id');

/** Routes whose body is not JSON and that check it themselves: POST /runs/:id/predict takes an image (routes/predict.ts). */
function takesRawBody(method: string, urlPath: string): boolean {
  return method === 'POST' && /^\/runs\/[^/]+\/predict$/.test(urlPath);
}

/**
 * Express middleware: a request that carries a body must say it is JSON. Without this, express.json
 * skips a text/plain or form body and the route reports the resulting empty body as
 * "expected object, received undefined"; 415 says what is wrong. Bodiless POSTs pass.
 */
export function requireJsonBody(req: Request, res: Response, next: NextFunction): void {
  const length = req.headers['content-length'];
  const hasBody = req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
  if (!hasBody || req.is('application/json') || takesRawBody(req.method, req.path)) return next();
  const type = req.headers['content-type'] ?? 'none';
  res.status(415).json({ error: `request body must be JSON (Content-Type: application/json); got Content-Type: ${type}` });
}
