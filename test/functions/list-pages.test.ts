import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeAliasMarker, decodeVersionMarker, encodeAliasMarker, encodeVersionMarker } from '../../src/functions/list-pages.js';
import { encodePageToken } from '../../src/store/page-token.js';
import { rejectsAwsError } from '../helpers/aws-error.js';

const BAD = 'The Marker is not valid. Pass the NextMarker of the previous page unchanged.';

void describe('list markers', () => {
  void test('a version marker gives back its position, optionally only for its function', async () => {
    const m = encodeVersionMarker('f', 3);
    assert.deepEqual(decodeVersionMarker(m), { name: 'f', num: 3 });
    assert.deepEqual(decodeVersionMarker(m, 'f'), { name: 'f', num: 3 });
    await rejectsAwsError(() => decodeVersionMarker(m, 'g'), 'invalidParameter', BAD);
  });

  void test('an alias marker gives back its alias', () => {
    assert.equal(decodeAliasMarker(encodeAliasMarker('live')), 'live');
  });

  void test("another listing's marker, or a made-up one, is refused", async () => {
    for (const m of ['garbage!', encodeAliasMarker('live'), encodePageToken(['f', 1.5]), encodePageToken({ name: 'f', num: 1 })]) {
      await rejectsAwsError(() => decodeVersionMarker(m), 'invalidParameter', BAD);
    }
    for (const m of ['garbage!', encodeVersionMarker('alias', 1), encodePageToken(['alias', 7])]) {
      await rejectsAwsError(() => decodeAliasMarker(m), 'invalidParameter', BAD);
    }
  });
});
