import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { decodePageToken, encodePageToken } from '../../src/store/page-token.js';

void describe('page tokens', () => {
  void test('a position survives the round trip and the token is URL-safe', () => {
    const position = ['fn-é/?+', 42];
    const token = encodePageToken(position);
    assert.match(token, /^[A-Za-z0-9_-]+$/);
    assert.deepEqual(decodePageToken(token), position);
    assert.deepEqual(decodePageToken(encodePageToken({ k: 1.5, id: 'x' })), { k: 1.5, id: 'x' });
  });

  void test('anything that is not base64url JSON decodes to undefined', () => {
    assert.equal(decodePageToken(''), undefined);
    assert.equal(decodePageToken('not a token'), undefined);
    assert.equal(decodePageToken(Buffer.from('{"k":').toString('base64url')), undefined);
  });
});
