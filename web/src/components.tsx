/** Small pieces every page uses: loading and error states, copyable commands, bar charts, badges. */
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, getJson } from './api';
import { formatBytes } from './format';

/** Loads `load()` when `key` changes; aborts the previous load. */
export function useLoad<T>(load: (signal: AbortSignal) => Promise<T>, key: unknown[]): { data?: T; error?: Error; loading: boolean; reload: () => void } {
  const [state, setState] = useState<{ data?: T; error?: Error; loading: boolean }>({ loading: true });
  const [generation, setGeneration] = useState(0);
  useEffect(() => {
    const controller = new AbortController();
    setState((s) => ({ ...s, loading: true }));
    load(controller.signal).then(
      (data) => {
        if (!controller.signal.aborted) setState({ data, loading: false });
      },
      (error: Error) => {
        if (!controller.signal.aborted) setState({ error, loading: false });
      },
    );
    return () => controller.abort();
  }, [...key, generation]);
  return { ...state, reload: () => setGeneration((g) => g + 1) };
}

/**
 * A list read a page at a time: the first page whenever `key` changes, the next one on `more()`.
 * `path` gives a page's address (after the cursor `last`, or the first); `pick` its items.
 */
export function usePages<P extends { next?: string }, T>(path: (last?: string) => string, pick: (page: P) => T[], key: unknown[]) {
  const [rows, setRows] = useState<T[]>([]);
  const [next, setNext] = useState<string>();
  const [error, setError] = useState<Error>();
  const [loading, setLoading] = useState(true);
  useEffect(() => {
    const controller = new AbortController();
    setLoading(true);
    getJson<P>(path(), controller.signal).then(
      (page) => {
        setRows(pick(page));
        setNext(page.next);
        setError(undefined);
        setLoading(false);
      },
      (err: Error) => {
        if (controller.signal.aborted) return;
        setError(err);
        setLoading(false);
      },
    );
    return () => controller.abort();
  }, key);
  const more = async (): Promise<void> => {
    if (!next) return;
    try {
      const page = await getJson<P>(path(next));
      setRows((r) => [...r, ...pick(page)]);
      setNext(page.next);
    } catch (err) {
      setError(err as Error);
    }
  };
  return { rows, next, error, loading, more };
}

export function Loading() {
  return (
    <p class="muted" role="status">
      Loading…
    </p>
  );
}

export function ErrorBox({ error }: { error: Error }) {
  const status = error instanceof ApiError ? error.status : undefined;
  const hint = status === 401 ? ' Sign in to see more.' : status === 404 ? ' It does not exist, or you may not see it.' : '';
  return (
    <p class="error" role="alert">
      {error.message}
      {hint}
    </p>
  );
}

/** A command in a read-only field with a Copy button (the clipboard needs a secure context: else the text is selected). */
export function CopyField({ label, value }: { label: string; value: string }) {
  const input = useRef<HTMLInputElement>(null);
  const [copied, setCopied] = useState('');
  const copy = async (): Promise<void> => {
    try {
      await navigator.clipboard.writeText(value);
      setCopied('Copied');
    } catch {
      input.current?.select();
      setCopied('Selected: press Ctrl+C');
    }
    setTimeout(() => setCopied(''), 2000);
  };
  return (
    <div class="copy">
      <label>
        <span class="copy-label">{label}</span>
        <input ref={input} class="mono" readOnly value={value} onFocus={(e) => (e.currentTarget as HTMLInputElement).select()} />
      </label>
      <button type="button" onClick={copy}>
        Copy
      </button>
      <span class="muted" aria-live="polite">
        {copied}
      </span>
    </div>
  );
}

export interface Bar {
  key: string;
  label: ComponentChildren;
  value: number;
  /** A part of `value` drawn darker (e.g. the bytes only this repository holds). */
  part?: number;
  title?: string;
}

/** Horizontal bars, widths relative to the largest value; sizes in text beside each bar. */
export function BarChart({ bars, caption }: { bars: Bar[]; caption: string }) {
  const max = Math.max(1, ...bars.map((b) => b.value));
  return (
    <figure class="chart">
      <figcaption>{caption}</figcaption>
      <ol class="bars">
        {bars.map((bar) => (
          <li key={bar.key} title={bar.title}>
            <span class="bar-label">{bar.label}</span>
            <span class="bar-track" aria-hidden="true">
              <BarFill width={(bar.value / max) * 100} part={bar.part !== undefined && bar.value > 0 ? (bar.part / bar.value) * 100 : undefined} />
            </span>
            <span class="bar-value">{formatBytes(bar.value)}</span>
          </li>
        ))}
      </ol>
    </figure>
  );
}

/** The fill's width is set through the CSSOM (the CSP forbids style attributes in markup). */
function BarFill({ width, part }: { width: number; part?: number }) {
  const fill = useRef<HTMLSpanElement>(null);
  const inner = useRef<HTMLSpanElement>(null);
  useEffect(() => {
    fill.current?.style.setProperty('width', `${Math.max(0.5, width)}%`);
    inner.current?.style.setProperty('width', `${part ?? 0}%`);
  }, [width, part]);
  return (
    <span ref={fill} class="bar-fill">
      {part !== undefined && <span ref={inner} class="bar-part" />}
    </span>
  );
}

export function StateBadge({ state }: { state: string }) {
  return <span class={`badge state-${state.replace(/[^a-z]/g, '')}`}>{state}</span>;
}

export function Section({ title, children, actions }: { title: string; children: ComponentChildren; actions?: ComponentChildren }) {
  return (
    <section>
      <div class="section-head">
        <h2>{title}</h2>
        {actions}
      </div>
      {children}
    </section>
  );
}

/** A table that scrolls sideways on narrow screens instead of breaking the page. */
export function Table({ children, label }: { children: ComponentChildren; label: string }) {
  return (
    <div class="table-wrap" role="region" aria-label={label} tabIndex={0}>
      <table>{children}</table>
    </div>
  );
}
