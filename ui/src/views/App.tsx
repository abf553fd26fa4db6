import { useState } from "preact/hooks";
import { navigate, onLinkClick, useRoute } from "../router";
import { SearchPage } from "./SearchPage";
import { TracePage } from "./TracePage";

export function App() {
  const route = useRoute();
  return (
    <div class="app">
      <Header />
      <main>
        {route.page === "search" && <SearchPage params={route.params} />}
        {route.page === "trace" && <TracePage key={route.id} id={route.id} />}
        {route.page === "missing" && (
          <p class="notice">
            No page here. <a href="/search" onClick={(e) => onLinkClick(e, "/search")}>Search traces</a>
          </p>
        )}
      </main>
    </div>
  );
}

function Header() {
  const [id, setId] = useState("");
  const [bad, setBad] = useState(false);
  const submit = (e: Event) => {
    e.preventDefault();
    const clean = id.trim().toLowerCase();
    if (!/^[0-9a-f]{1,32}$/.test(clean)) {
      setBad(true);
      return;
    }
    setBad(false);
    setId("");
    navigate(`/trace/${clean}`);
  };
  return (
    <header class="topbar">
      <a class="brand" href="/search" onClick={(e) => onLinkClick(e, "/search")}>
        Clew
      </a>
      <nav>
        <a href="/search" onClick={(e) => onLinkClick(e, "/search")}>
          Search
        </a>
      </nav>
      <form class="lookup" onSubmit={submit} role="search">
        <input
          name="trace-id"
          aria-label="Trace ID"
          placeholder="Trace ID…"
          value={id}
          class={bad ? "invalid" : ""}
          title={bad ? "A trace id is 1 to 32 hex digits" : ""}
          onInput={(e) => setId((e.target as HTMLInputElement).value)}
        />
      </form>
    </header>
  );
}
