/**
 * Light and dark: the system's choice by default (prefers-color-scheme in style.css), or the one
 * picked here, kept in localStorage and set as `data-theme` on <html>.
 */
import { useState } from 'preact/hooks';

type Theme = 'auto' | 'light' | 'dark';
const KEY = 'berth.theme';
const NEXT: Record<Theme, Theme> = { auto: 'light', light: 'dark', dark: 'auto' };

function stored(): Theme {
  try {
    const value = localStorage.getItem(KEY);
    return value === 'light' || value === 'dark' ? value : 'auto';
  } catch {
    return 'auto';
  }
}

function apply(theme: Theme): void {
  if (theme === 'auto') document.documentElement.removeAttribute('data-theme');
  else document.documentElement.setAttribute('data-theme', theme);
}

apply(stored());

export function ThemeToggle() {
  const [theme, setTheme] = useState<Theme>(stored);
  const change = (): void => {
    const next = NEXT[theme];
    setTheme(next);
    apply(next);
    try {
      if (next === 'auto') localStorage.removeItem(KEY);
      else localStorage.setItem(KEY, next);
    } catch {
      // storage disabled: the choice lasts until the page is left
    }
  };
  return (
    <button type="button" class="theme" onClick={change} aria-label={`Theme: ${theme}. Change it`} title="Theme: system, light or dark">
      {theme === 'auto' ? 'Theme: system' : theme === 'light' ? 'Theme: light' : 'Theme: dark'}
    </button>
  );
}
