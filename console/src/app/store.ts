import { useEffect, useState } from "preact/hooks";

/** A value shared outside the component tree (locale, theme, route, workspace). */
export interface Store<T> {
  get(): T;
  set(value: T): void;
  subscribe(listener: (value: T) => void): () => void;
  /** The value; the calling component re-renders when it changes. */
  use(): T;
}

export function store<T>(initial: T): Store<T> {
  let value = initial;
  const listeners = new Set<(value: T) => void>();
  const subscribe = (listener: (value: T) => void) => {
    listeners.add(listener);
    return () => void listeners.delete(listener);
  };
  return {
    get: () => value,
    set(next) {
      if (Object.is(next, value)) return;
      value = next;
      listeners.forEach((listener) => listener(next));
    },
    subscribe,
    use() {
      const [seen, set] = useState(() => value);
      useEffect(() => {
        // The value may have changed between render and subscription.
        set(() => value);
        return subscribe((next) => set(() => next));
      }, []);
      return seen;
    },
  };
}
