// A31 (UI side): the login page follows `?next=` only to same-origin admin
// pages, whatever spelling a link uses. Run by .ci/run: node --test <this file>.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';

// Loaded as source so that no package.json is needed to read it as a module.
const src = await readFile(new URL('../../assets/admin/safe-next.js', import.meta.url), 'utf8');
const { safeNext } = await import('data:text/javascript,' + encodeURIComponent(src));

const ORIGIN = 'https://img.example.com';

test('a31_next_redirects_stay_on_the_admin_ui', () => {
  const hostile = [
    '//evil.example',
    '//evil.example/admin/',
    '/\\evil.example',
    '/\\/evil.example',
    '\\\\evil.example',
    '/\t/evil.example',
    '/\n/evil.example',
    '/\r\n/evil.example',
    ' //evil.example',
    'https:evil.example',
    'https://evil.example/admin/',
    'javascript:alert(1)',
    'data:text/html,x',
    '/api/delete/0b6f1c2e-8f8e-4c1a-9d5e-2f1a3b4c5d6e?token=x',
    '/administrator',
    '',
    null,
    undefined,
    42,
  ];
  for (const next of hostile) {
    assert.equal(safeNext(next, ORIGIN), null, JSON.stringify(next));
  }
  const fine = [
    ['/admin', '/admin'],
    ['/admin/', '/admin/'],
    ['/admin/library?q=cat&page=2', '/admin/library?q=cat&page=2'],
    ['/admin/images/7#stats', '/admin/images/7#stats'],
    ['/admin/../admin/keys', '/admin/keys'],
  ];
  for (const [next, want] of fine) {
    assert.equal(safeNext(next, ORIGIN), want, next);
  }
});
