import { describe, expect, it } from 'vitest';
import { toCsv } from './csv.ts';

describe('toCsv', () => {
  it('quotes fields with commas, quotes and line breaks; empties null and non-finite numbers', () => {
    const text = toCsv(['a', 'b,c'], [[1, 'say "hi"'], [null, 'two\nlines'], [Number.NaN, true]]);
    expect(text).toBe('a,"b,c"\r\n1,"say ""hi"""\r\n,"two\nlines"\r\n,true\r\n');
  });
});
