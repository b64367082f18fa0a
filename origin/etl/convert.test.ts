import { describe, expect, it } from 'vitest';
import {
  ConversionError,
  clip,
  compileDateFormat,
  toBoolean,
  toDate,
  toInteger,
  toNumber,
  toTimestamp,
} from './convert.js';

/** The ConversionError a call throws, so a test can assert on its message. */
function conversionErrorOf(call: () => unknown): ConversionError {
  try {
    call();
  } catch (error) {
    expect(error).toBeInstanceOf(ConversionError);
    return error as ConversionError;
  }
  throw new Error('expected a ConversionError, but the call returned');
}

describe('toNumber', () => {
  it.each([
    ['1.23E+06', 1_230_000],
    ['221900.0', 221_900],
    ['$1,250,000', 1_250_000],
    [' 42 ', 42],
    ['-3.5', -3.5],
    ['+7', 7],
    ['.5', 0.5],
    ['5.', 5],
    ['1,234.56', 1234.56],
    ['0', 0],
  ])('reads %j as %d', (input, expected) => {
    expect(toNumber(input)).toBe(expected);
  });

  it.each([
    ['1,2', 'a decimal comma is ambiguous'],
    ['12,34,567', 'misplaced thousands separators'],
    ['0x10', 'hex that Number() would read as 16'],
    ['abc', 'letters'],
    ['', 'the empty string that Number() would read as 0'],
    ['   ', 'blanks'],
    ['$', 'a lone currency sign'],
    ['1e', 'an exponent without digits'],
    ['Infinity', 'the word Infinity'],
    ['NaN', 'the word NaN'],
    ['1 000', 'a space as thousands separator'],
    ['12abc', 'trailing garbage'],
  ])('refuses %j (%s)', (input) => {
    const error = conversionErrorOf(() => toNumber(input));
    expect(error.message).toContain('is not a number');
    expect(error.code).toBe('CONVERSION');
  });

  it('refuses 1e999, which overflows to Infinity, as out of range', () => {
    expect(conversionErrorOf(() => toNumber('1e999')).message).toBe("'1e999' is out of range");
  });

  it('rejects a 65,536-digit field quickly instead of backtracking for seconds', () => {
    // The default maxFieldLength lets a field this long reach the converter; a backtracking
    // pattern took ~4 s per such field.
    const hostile = `${'1'.repeat(65_536)}x`;
    const started = performance.now();
    const error = conversionErrorOf(() => toNumber(hostile));
    expect(performance.now() - started).toBeLessThan(200);
    expect(error.message.length).toBeLessThan(120);
    expect(error.message).toContain('(65537 characters)');
  });
});

describe('toInteger', () => {
  it('accepts whole numbers, including 3.0 and exponent notation', () => {
    expect(toInteger('3')).toBe(3);
    expect(toInteger('3.0')).toBe(3);
    expect(toInteger('1.5E+03')).toBe(1500);
    expect(toInteger('-12')).toBe(-12);
  });

  it('refuses a fraction with a message saying it is not whole', () => {
    expect(conversionErrorOf(() => toInteger('2.5')).message).toBe("'2.5' is not a whole number");
  });

  it('refuses what toNumber refuses', () => {
    expect(conversionErrorOf(() => toInteger('three')).message).toContain('is not a number');
  });
});

describe('toBoolean', () => {
  it.each(['true', 'T', 'yes', 'Y', '1', ' TRUE '])('reads %j as true', (input) => {
    expect(toBoolean(input)).toBe(true);
  });

  it.each(['false', 'F', 'no', 'N', '0', ' No '])('reads %j as false', (input) => {
    expect(toBoolean(input)).toBe(false);
  });

  it.each(['maybe', '', '2', 'yess'])('refuses %j', (input) => {
    expect(conversionErrorOf(() => toBoolean(input)).message).toContain('is not a yes/no value');
  });
});

describe('toDate', () => {
  it.each([
    ['10/13/2014', '2014-10-13'],
    ['1/2/2015', '2015-01-02'],
    ['20141013T000000', '2014-10-13'],
    ['20150225', '2015-02-25'],
    ['2014-10-13', '2014-10-13'],
    ['2014-10-13T10:20:30Z', '2014-10-13'],
    ['2014-10-13 10:20', '2014-10-13'],
    ['  2/29/2016 ', '2016-02-29'],
  ])('reads %j as %s', (input, expected) => {
    expect(toDate(input)).toBe(expected);
  });

  it.each([
    ['2/30/2014', 'February has no 30th'],
    ['2/29/2015', '2015 is not a leap year'],
    ['13/1/2014', 'there is no 13th month'],
    ['0/10/2014', 'there is no month 0'],
    ['2014-02-30', 'ISO date of an impossible day'],
    ['2014-02-30T10:00:00Z', 'ISO date-time of an impossible day'],
    ['2014-01-01T24:00:00Z', 'hour 24'],
  ])('refuses %j as not a real date (%s)', (input) => {
    expect(conversionErrorOf(() => toDate(input)).message).toBe(`'${input}' is not a real date`);
  });

  it.each(['yesterday', '2014/10/13', '10-13-2014', '', '2014-1-1'])(
    'refuses %j and lists the formats it tried',
    (input) => {
      const message = conversionErrorOf(() => toDate(input)).message;
      expect(message).toContain(
        'is not a date in any of: YYYY-MM-DD, YYYYMMDD, YYYYMMDDTHHmmss, M/D/YYYY',
      );
    },
  );

  it('uses only the formats it is given', () => {
    expect(toDate('13.01.2014', ['DD.MM.YYYY'])).toBe('2014-01-13');
    expect(conversionErrorOf(() => toDate('10/13/2014', ['DD.MM.YYYY'])).message).toContain(
      'DD.MM.YYYY',
    );
  });

  it('goes on to the next format when a value fits a format only in shape', () => {
    // 13/1/2014 has the shape of M/D/YYYY but only D/M/YYYY reads it as a real date.
    expect(toDate('13/1/2014', ['M/D/YYYY', 'D/M/YYYY'])).toBe('2014-01-13');
    expect(toDate('1/13/2014', ['M/D/YYYY', 'D/M/YYYY'])).toBe('2014-01-13');
  });

  it('keeps the message short for a 10 MB string of garbage', () => {
    const huge = `x${'9'.repeat(10 * 1024 * 1024)}`;
    const message = conversionErrorOf(() => toDate(huge)).message;
    expect(message.length).toBeLessThan(200);
    expect(message).toContain(`(${huge.length} characters)`);
  });

  it('keeps the message short for a 10 MB string that starts like a date', () => {
    const huge = `2014-10-13${' '.repeat(10)}${'x'.repeat(10 * 1024 * 1024)}`;
    expect(conversionErrorOf(() => toDate(huge)).message.length).toBeLessThan(200);
  });
});

describe('toTimestamp', () => {
  it.each([
    ['20141013T101530', '2014-10-13T10:15:30.000Z'],
    ['10/13/2014', '2014-10-13T00:00:00.000Z'],
    ['2014-10-13T10:15:30Z', '2014-10-13T10:15:30.000Z'],
    ['2014-10-13T10:15:30', '2014-10-13T10:15:30.000Z'],
    ['2014-10-13 10:15', '2014-10-13T10:15:00.000Z'],
    ['2014-10-13T10:15:30+02:00', '2014-10-13T08:15:30.000Z'],
    ['2014-10-13T10:15:30.250-0500', '2014-10-13T15:15:30.250Z'],
  ])('reads %j as %s (zoneless means UTC)', (input, expected) => {
    expect(toTimestamp(input)).toBe(expected);
  });

  it.each(['20141013T251530', '20141013T106030', '2014-02-30T10:00:00', '2014-01-01T24:00:00Z'])(
    'refuses the impossible time %j instead of rolling it over',
    (input) => {
      expect(conversionErrorOf(() => toTimestamp(input)).message).toBe(
        `'${input}' is not a real date`,
      );
    },
  );

  it('refuses garbage and names ISO 8601 among the formats it tried', () => {
    expect(conversionErrorOf(() => toTimestamp('soon')).message).toBe(
      "'soon' is not a timestamp in any of: ISO 8601, YYYY-MM-DD, YYYYMMDD, YYYYMMDDTHHmmss, M/D/YYYY",
    );
  });
});

describe('compileDateFormat', () => {
  it('reads every token into its part', () => {
    expect(compileDateFormat('YYYY-MM-DD HH:mm:ss')('2014-10-13 07:08:09')).toEqual({
      year: 2014,
      month: 10,
      day: 13,
      hour: 7,
      minute: 8,
      second: 9,
    });
    expect(compileDateFormat('D.M.YYYY H')('3.4.2015 5')).toEqual({
      year: 2015,
      month: 4,
      day: 3,
      hour: 5,
      minute: 0,
      second: 0,
    });
  });

  it('treats regex metacharacters in a format as literal text', () => {
    const parse = compileDateFormat('YYYY.MM.DD');
    expect(parse('2014.10.13')).toMatchObject({ year: 2014, month: 10, day: 13 });
    expect(parse('2014x10x13')).toBeUndefined();
    expect(compileDateFormat('(YYYY)[MM]*DD+')('(2014)[10]*13+')).toMatchObject({
      month: 10,
      day: 13,
    });
  });

  it('matches the whole value, not a part of it', () => {
    const parse = compileDateFormat('M/D/YYYY');
    expect(parse('10/13/2014')).toBeDefined();
    expect(parse('10/13/2014 extra')).toBeUndefined();
    expect(parse('x10/13/2014')).toBeUndefined();
    expect(parse('100/13/2014')).toBeUndefined();
  });

  it('returns the same compiled matcher for the same format', () => {
    expect(compileDateFormat('YYYYMMDD')).toBe(compileDateFormat('YYYYMMDD'));
  });
});

describe('clip', () => {
  it('leaves a short value alone and shortens a long one, saying how long it was', () => {
    expect(clip('short')).toBe('short');
    const clipped = clip('a'.repeat(1000));
    expect(clipped).toBe(`${'a'.repeat(60)}… (1000 characters)`);
  });
});
