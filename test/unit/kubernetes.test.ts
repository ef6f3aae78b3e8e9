/**
 * deploy/kubernetes/ is checked against the code: every config key it sets exists (the ConfigMap's
 * file and the BERTH_* variables load without error), every path it names is mounted, the probes
 * and ports it uses are served, and the pieces (Deployment, Service, PDB) select the same pods.
 */
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { type Config, loadConfig, parseListen } from '../../src/config.js';
import { Client } from '../helpers/http.js';
import { filesystemConfig, startTestServer, type TestServer } from '../helpers/server.js';
import { tempDir } from '../helpers/tmp.js';

const DIR = resolve(import.meta.dirname, '../../deploy/kubernetes');

/** `any`: Kubernetes objects are checked field by field below. */
type K8s = any;

describe('deploy/kubernetes', () => {
  let objects: K8s[];
  const byKind = (kind: string): K8s => {
    const found = objects.filter((o) => o.kind === kind);
    expect(found, kind).toHaveLength(1);
    return found[0];
  };

  beforeAll(async () => {
    objects = [];
    for (const file of (await readdir(DIR)).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')) {
      for (const doc of parseAllDocuments(await readFile(join(DIR, file), 'utf8'))) {
        expect(doc.errors, file).toEqual([]);
        objects.push(doc.toJS());
      }
    }
  });

  it('has a Deployment of several replicas, a Service, a ConfigMap, a Secret and a PodDisruptionBudget, all in the kustomization', async () => {
    expect(objects.map((o) => o.kind).sort()).toEqual(['ConfigMap', 'Deployment', 'PodDisruptionBudget', 'Secret', 'Service']);
    expect(byKind('Deployment').spec.replicas).toBeGreaterThan(1);
    const kustomization = parseAllDocuments(await readFile(join(DIR, 'kustomization.yaml'), 'utf8'))[0]!.toJS();
    expect([...kustomization.resources].sort()).toEqual((await readdir(DIR)).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml').sort());
  });

  describe('against the code', () => {
    let work: { path: string; remove: () => Promise<void> };
    let config: Config;
    let container: K8s;
    let pod: K8s;

    /** The file a container path comes from, through the pod's volumes (ConfigMap and Secret keys written to `work`). */
    async function materialise(): Promise<Record<string, string>> {
      const files: Record<string, string> = {};
      for (const mount of container.volumeMounts) {
        const volume = pod.volumes.find((v: K8s) => v.name === mount.name);
        expect(volume, `volume ${mount.name}`).toBeDefined();
        const source = volume.configMap
          ? byKind('ConfigMap').data
          : volume.secret
            ? byKind('Secret').stringData
            : undefined;
        if (!source) continue; // emptyDir
        const items: Array<{ key: string; path: string }> = volume.secret?.items ?? Object.keys(source).map((key) => ({ key, path: key }));
        for (const { key, path } of items) {
          expect(source[key], `${mount.name} key ${key}`).toBeDefined();
          const inContainer = mount.subPath ? (mount.subPath === path ? mount.mountPath : undefined) : join(mount.mountPath, path);
          if (inContainer) files[inContainer] = source[key];
        }
      }
      return files;
    }

    beforeAll(async () => {
      work = await tempDir('berth-k8s-');
      pod = byKind('Deployment').spec.template.spec;
      container = pod.containers[0];
      const files = await materialise();
      // The container's files, re-rooted under the temp folder.
      for (const [path, content] of Object.entries(files)) {
        await mkdir(dirname(join(work.path, path)), { recursive: true });
        await writeFile(join(work.path, path), content);
      }
      const args: string[] = container.args;
      expect(args.slice(0, 2)).toEqual(['serve', '--config']);
      const configPath = args[2]!;
      expect(Object.keys(files)).toContain(configPath);
      const env: Record<string, string> = {};
      for (const from of container.envFrom ?? []) {
        expect(from.secretRef.name).toBe(byKind('Secret').metadata.name);
        Object.assign(env, byKind('Secret').stringData);
      }
      for (const { name, value } of container.env ?? []) env[name] = value;
      const berthEnv = Object.fromEntries(Object.entries(env).filter(([k]) => k.startsWith('BERTH_')));
      // Unknown keys in the file or unknown BERTH_* variables throw here, naming them.
      config = loadConfig({ file: join(work.path, configPath), env: berthEnv });
    });
    afterAll(() => work?.remove());

    it('every path the config names is mounted in the container', async () => {
      const files = await materialise();
      // Absolute paths in the file stay as they are: the container's own.
      expect(Object.keys(files)).toContain(config.auth.usersFile);
      const writable = container.volumeMounts.filter((m: K8s) => pod.volumes.find((v: K8s) => v.name === m.name)?.emptyDir).map((m: K8s) => m.mountPath);
      // The root filesystem is read-only: builds' work folder must be on a writable mount.
      expect(container.securityContext.readOnlyRootFilesystem).toBe(true);
      expect(writable.some((path: string) => config.builds.workDir.startsWith(`${path}/`))).toBe(true);
    });

    it('runs several replicas on shared storage, as the non-root user of the image', () => {
      expect(config.storage.driver).toBe('s3');
      expect(pod.securityContext.runAsUser).toBe(1000);
      expect(pod.securityContext.runAsNonRoot).toBe(true);
    });

    it('ports and probes match what the config listens on and what Berth serves', async () => {
      const ports = Object.fromEntries(container.ports.map((p: K8s) => [p.name, p.containerPort]));
      expect(ports.http).toBe(parseListen(config.listen).port);
      expect(ports.metrics).toBe(parseListen(config.metrics.listen).port);
      const probePaths = ['livenessProbe', 'readinessProbe', 'startupProbe'].map((p) => container[p].httpGet);
      for (const probe of probePaths) expect(probe.port).toBe('http');
      expect(probePaths.map((p) => p.path)).toEqual(['/healthz', '/readyz', '/healthz']);
      const annotations = byKind('Deployment').spec.template.metadata.annotations;
      expect(Number(annotations['prometheus.io/port'])).toBe(ports.metrics);

      // The paths are served (a local server with this config's probes and metrics layout).
      const made = await filesystemConfig((c) => (c.metrics.listen = '127.0.0.1:0'));
      let server: TestServer | undefined;
      try {
        server = await startTestServer(made.config);
        const client = new Client(server.url);
        for (const probe of probePaths) expect((await client.get(probe.path)).status).toBe(200);
        expect(new URL(server.metricsUrl!).pathname).toBe(annotations['prometheus.io/path']);
        expect((await fetch(server.metricsUrl!)).status).toBe(200);
      } finally {
        await server?.close();
        await made.cleanup();
      }
    });

    it('the Service and the PodDisruptionBudget select the Deployment\'s pods, on its named ports', () => {
      const labels = byKind('Deployment').spec.template.metadata.labels;
      expect(byKind('Deployment').spec.selector.matchLabels).toEqual(labels);
      expect(byKind('Service').spec.selector).toEqual(labels);
      expect(byKind('PodDisruptionBudget').spec.selector.matchLabels).toEqual(labels);
      const names = container.ports.map((p: K8s) => p.name);
      for (const port of byKind('Service').spec.ports) expect(names).toContain(port.targetPort);
      expect(byKind('Deployment').spec.template.spec.terminationGracePeriodSeconds).toBeGreaterThan(10);
    });
  });
});
