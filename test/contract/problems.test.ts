import { describe, expect, it } from 'vitest';
import { problemCodes, problems, problemTypes } from '../../contract/problems.js';

/** Issue 13: one error model, from one closed list of codes both ends import. */
describe('the shared problem codes', () => {
  it('give each code an error status, a title and a type; our own types are distinct URNs', () => {
    for (const code of problemCodes) {
      const { status, title, type } = problems[code];
      expect(status, code).toBeGreaterThanOrEqual(400);
      expect(status, code).toBeLessThan(600);
      expect(title.length, code).toBeGreaterThan(0);
      expect(type === 'about:blank' || type.startsWith('urn:estate-edge:problem:'), code).toBe(
        true,
      );
    }
    const urns = problemCodes.map((c) => problems[c].type).filter((t) => t !== 'about:blank');
    expect(new Set(urns).size).toBe(urns.length);
  });

  it('name every URN the edge answers with', () => {
    const types = new Set(problemCodes.map((c) => problems[c].type));
    for (const type of Object.values(problemTypes)) expect(types.has(type), type).toBe(true);
  });
});
