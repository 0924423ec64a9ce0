import { render } from "preact";
// Theme and locale apply themselves to <html> on import, before the first paint.
import "./app/theme";
import "./i18n";
import "./styles/theme.css";
import "./styles/app.css";
import { App } from "./app/App";
import { interceptLinks } from "./app/router";

interceptLinks();
render(<App />, document.getElementById("app")!);
