import { describe, expect, it } from 'vitest';
import { LruCache } from '../../src/util/lru.js';

describe('LruCache', () => {
  it('drops the least recently used entry past its capacity', () => {
    const cache = new LruCache<string, number>(2);
    cache.set('a', 1);
    cache.set('b', 2);
    expect(cache.get('a')).toBe(1);
    cache.set('c', 3);
    expect(cache.get('b')).toBeUndefined();
    expect([cache.get('a'), cache.get('c')]).toEqual([1, 3]);
  });

  it('counts weights, and skips what alone exceeds the capacity', () => {
    const cache = new LruCache<string, Buffer>(10, (b) => b.length);
    cache.set('a', Buffer.alloc(4));
    cache.set('b', Buffer.alloc(4));
    cache.set('a', Buffer.alloc(6)); // replaces a, now 10 in all
    expect(cache.get('b')?.length).toBe(4);
    cache.set('c', Buffer.alloc(3)); // 13 > 10: the oldest (a) goes
    expect(cache.get('a')).toBeUndefined();
    cache.set('huge', Buffer.alloc(11));
    expect(cache.get('huge')).toBeUndefined();
    expect(cache.get('c')?.length).toBe(3);
  });
});
