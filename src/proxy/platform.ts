/** Platforms as `os/arch[/variant]`, and which of an index's children match one. */

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

const PART = /^[a-z0-9][a-z0-9._-]{0,31}$/;

export function parsePlatform(text: string): Platform | undefined {
  const parts = text.split('/');
  if (parts.length < 2 || parts.length > 3 || !parts.every((part) => PART.test(part))) return undefined;
  const [os, architecture, variant] = parts as [string, string, string?];
  return variant ? { os, architecture, variant } : { os, architecture };
}

export function platformString(platform: Platform): string {
  return `${platform.os}/${platform.architecture}${platform.variant ? `/${platform.variant}` : ''}`;
}

/** Whether an index entry's `platform` is `wanted` (a wanted platform without variant takes any). */
export function matchesPlatform(candidate: unknown, wanted: Platform): boolean {
  if (typeof candidate !== 'object' || candidate === null) return false;
  const { os, architecture, variant } = candidate as Record<string, unknown>;
  if (os !== wanted.os || architecture !== wanted.architecture) return false;
  return !wanted.variant || variant === undefined || variant === wanted.variant;
}

/** This machine's platform, as Go names it (what `berth mirror` copies from an index by default). */
export function hostPlatform(): Platform {
  const architectures: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
  return { os: 'linux', architecture: architectures[process.arch] ?? process.arch };
}
