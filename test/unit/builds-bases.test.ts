import { describe, expect, it } from 'vitest';
import { parseDockerfile } from '../../src/builds/dockerfile/parser.js';
import { baseImages, berthRepository } from '../../src/builds/dockerfile/bases.js';

describe('Dockerfile base images', () => {
  it('lists FROM images with ARGs substituted, without scratch or earlier stages', () => {
    const text = 'ARG BASE=berth.test/base/busybox\nARG V\nFROM --platform=linux/amd64 ${BASE}:${V:-1} AS build\nFROM scratch\nFROM build\nFROM $OTHER\nFROM alpine:3\n';
    const { instructions } = parseDockerfile(text);
    expect(baseImages(instructions, {})).toEqual(['berth.test/base/busybox:1', 'alpine:3']);
    // OTHER is not declared with ARG: as in Docker, a build argument alone does not reach FROM.
    expect(baseImages(instructions, { V: '2', OTHER: 'x/y' })).toEqual(['berth.test/base/busybox:2', 'alpine:3']);
  });

  it("names Berth's repository only for Berth's hosts", () => {
    const hosts = ['127.0.0.1:5000', 'berth.test'];
    expect(berthRepository('berth.test/base/busybox:1', hosts)).toBe('base/busybox');
    expect(berthRepository('127.0.0.1:5000/a/b@sha256:abc', hosts)).toBe('a/b');
    expect(berthRepository('docker.io/library/alpine', hosts)).toBeUndefined();
    expect(berthRepository('alpine', hosts)).toBeUndefined();
  });
});
