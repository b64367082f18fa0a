import { describe, expect, it } from 'vitest';
import { checkDatabaseName, databaseName, pgTarget, withDatabase } from './connection.js';
import { BackupConfigError } from './errors.js';

describe('pgTarget', () => {
  it('keeps the password off the command line, in PGPASSWORD', () => {
    const target = pgTarget(
      'postgres://backup:p%40ss%3Aword@db.internal:6543/estate?sslmode=require',
    );
    expect(target.dbnameArg).toBe(
      '--dbname=postgres://backup@db.internal:6543/estate?sslmode=require',
    );
    expect(target.dbnameArg).not.toContain('p%40ss');
    expect(target.env).toEqual({ PGPASSWORD: 'p@ss:word' });
    expect(target.database).toBe('estate');
  });

  it('sets no PGPASSWORD without a password (trust, .pgpass or a certificate)', () => {
    expect(pgTarget('postgres://postgres@127.0.0.1:5432/estate').env).toEqual({});
  });

  it('refuses what is not a postgres URL without echoing it', () => {
    expect(() => pgTarget('mysql://root:hunter2@x/y')).toThrow(BackupConfigError);
    expect(() => pgTarget('mysql://root:hunter2@x/y')).not.toThrow(/hunter2/);
    expect(() => databaseName('postgres://x@y/')).toThrow('names no database');
  });
});

describe('withDatabase', () => {
  it('swaps the database and keeps the rest', () => {
    expect(withDatabase('postgres://u:p@h:1/estate?sslmode=require', 'postgres')).toBe(
      'postgres://u:p@h:1/postgres?sslmode=require',
    );
  });
});

describe('checkDatabaseName', () => {
  it.each([['estate_restored'], ['estate-2024-05-01'], ['_x'], ['a'.repeat(63)]])(
    'accepts %s',
    (name) => {
      expect(checkDatabaseName(name)).toBe(name);
    },
  );

  it.each([
    ['an empty name', ''],
    ['quotes and a statement', 'x"; DROP DATABASE estate; --'],
    ['a space', 'my db'],
    ['a leading digit', '1estate'],
    ['64 characters, which PostgreSQL would truncate', 'a'.repeat(64)],
    ['a system database', 'postgres'],
    ['a template', 'template1'],
    ['non-ASCII letters', 'estaté'],
  ])('refuses %s', (_case, name) => {
    expect(() => checkDatabaseName(name, 'the target database')).toThrow(BackupConfigError);
  });
});
