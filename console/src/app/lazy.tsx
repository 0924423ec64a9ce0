import type { ComponentType } from "preact";
import { useEffect, useState } from "preact/hooks";
import { ErrorBanner, Loading } from "../components/Feedback";

/**
 * A component whose code is fetched on first use: hunting (CodeMirror) and workbooks (ECharts)
 * are most of the bundle, and the incident queue should not wait for them.
 */
export function lazy<P extends object>(load: () => Promise<ComponentType<P>>): ComponentType<P> {
  let loaded: ComponentType<P> | undefined;
  let pending: Promise<ComponentType<P>> | undefined;
  return function Lazy(props: P) {
    const [component, setComponent] = useState(() => loaded);
    const [error, setError] = useState<unknown>(null);
    useEffect(() => {
      if (component) return;
      pending ??= load().then((found) => (loaded = found));
      pending.then(
        (found) => setComponent(() => found),
        (failure) => {
          pending = undefined;
          setError(failure);
        },
      );
    }, []);
    if (error) return <ErrorBanner error={error} />;
    if (!component) return <Loading />;
    const Component = component;
    return <Component {...props} />;
  };
}
