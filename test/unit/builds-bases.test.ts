import { describe, expect, it } from 'vitest';
import { parseDockerfile } from '../../src/builds/dockerfile/parser.js';
import { berthRepository, imageReferences, platformArgs } from '../../src/builds/dockerfile/bases.js';

const AMD64 = platformArgs({ os: 'linux', architecture: 'amd64' });
const references = (text: string, buildArgs: Record<string, string> = {}) => imageReferences(parseDockerfile(text), buildArgs, AMD64).map((r) => r.reference);

describe('images a Dockerfile names', () => {
  it('lists FROM images with ARGs substituted, without scratch or earlier stages', () => {
    const text = 'ARG BASE=berth.test/base/busybox\nARG V\nFROM --platform=linux/amd64 ${BASE}:${V:-1} AS build\nFROM scratch\nFROM build\nFROM $OTHER\nFROM alpine:3\n';
    expect(references(text)).toEqual(['berth.test/base/busybox:1', 'alpine:3']);
    // OTHER is not declared with ARG: as in Docker, a build argument alone does not reach FROM.
    expect(references(text, { V: '2', OTHER: 'x/y' })).toEqual(['berth.test/base/busybox:2', 'alpine:3']);
  });

  it('reads references as the builder does: quotes, escapes, the escape directive, platform args', () => {
    expect(references('FROM "secret/app:v1"\n')).toEqual(['secret/app:v1']);
    expect(references("FROM 'secret/app:v1'\n")).toEqual(['secret/app:v1']);
    expect(references('FROM sec\\ret/app:v1\n')).toEqual(['secret/app:v1']);
    expect(references('# escape=`\nFROM sec`ret/app:v1\n')).toEqual(['secret/app:v1']);
    expect(references('ARG A=sec\nARG B="${A}ret"\nFROM $B/app\n')).toEqual(['secret/app']);
    expect(references('FROM base-${TARGETARCH}:1\n')).toEqual(['base-amd64:1']);
  });

  it('lists COPY --from images, not stages, and leaves out what only the build can know', () => {
    const text = 'FROM scratch AS one\nCOPY --from=secret/app:v1 /a /a\nCOPY --from="other/img" /b /b\nFROM scratch\nCOPY --from=one /c /c\nCOPY --from=0 /d /d\nCOPY --from=$IMG /e /e\nADD --from=sec\\ret/x /f /f\n';
    expect(imageReferences(parseDockerfile(text), {}, AMD64)).toEqual([
      { reference: 'secret/app:v1', instruction: 'COPY', line: 2 },
      { reference: 'other/img', instruction: 'COPY', line: 3 },
      { reference: 'secret/x', instruction: 'ADD', line: 8 },
    ]);
  });

  it("names Berth's repository only for Berth's hosts", () => {
    const hosts = ['127.0.0.1:5000', 'berth.test'];
    expect(berthRepository('berth.test/base/busybox:1', hosts)).toBe('base/busybox');
    expect(berthRepository('127.0.0.1:5000/a/b@sha256:abc', hosts)).toBe('a/b');
    expect(berthRepository('docker.io/library/alpine', hosts)).toBeUndefined();
    expect(berthRepository('alpine', hosts)).toBeUndefined();
  });
});
