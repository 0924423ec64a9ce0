import { useEffect } from "preact/hooks";
import { requireSignIn } from "../api";
import { isSignedIn } from "../auth";
import { Empty } from "../components/Feedback";
import { ConnectorsPage } from "../connectors/ConnectorsPage";
import { t, useLocale } from "../i18n";
import { IncidentPage } from "../incidents/IncidentPage";
import { IncidentsPage } from "../incidents/IncidentsPage";
import { LoginCallback } from "../login/LoginCallback";
import { LoginPage } from "../login/LoginPage";
import { AutomationPage } from "../rules/AutomationPage";
import { RuleEditorPage } from "../rules/RuleEditorPage";
import { RulesPage } from "../rules/RulesPage";
import { SettingsPage } from "../settings/SettingsPage";
import { HuntingPage, WatchlistPage, WatchlistsPage, WorkbookPage, WorkbooksPage } from "./pages";
import { navigate, useRoute, type Route } from "./router";
import { Shell } from "./Shell";

function Redirect({ to }: { to: string }) {
  useEffect(() => navigate(to, { replace: true }), [to]);
  return null;
}

function SignInFirst() {
  useEffect(requireSignIn, []);
  return null;
}

function Page({ route }: { route: Route }) {
  const { id = "", name = "", alias = "" } = route.params;
  switch (route.pattern) {
    case "/incidents":
      return <IncidentsPage />;
    case "/incidents/:id":
      return <IncidentPage key={id} id={id} />;
    case "/hunting":
      return <HuntingPage />;
    case "/workbooks":
      return <WorkbooksPage />;
    case "/workbooks/:name":
      return <WorkbookPage key={name} name={name} />;
    case "/rules":
      return <RulesPage />;
    case "/rules/:id":
      return <RuleEditorPage key={id} id={id} />;
    case "/automation":
      return <AutomationPage />;
    case "/watchlists":
      return <WatchlistsPage />;
    case "/watchlists/:alias":
      return <WatchlistPage key={alias} alias={alias} />;
    case "/connectors":
      return <ConnectorsPage />;
    case "/settings":
      return <SettingsPage />;
    default:
      return (
        <div class="page">
          <Empty>{t("shell.notFound")}</Empty>
        </div>
      );
  }
}

export function App() {
  // Every string comes from t(): re-rendering from the root is how a locale switch reaches them.
  useLocale();
  const route = useRoute();
  if (route.pattern === "/login") return <LoginPage />;
  if (route.pattern === "/login/callback") return <LoginCallback />;
  if (!isSignedIn()) return <SignInFirst />;
  if (route.path === "/" || route.path === "") return <Redirect to="/incidents" />;
  return (
    <Shell>
      <Page route={route} />
    </Shell>
  );
}
