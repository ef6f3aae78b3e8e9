/**
 * The Berth console: one page, one route per deep link (router.ts), data from the registry's JSON
 * API with the signed-in user's rights (api.ts). Text is always rendered as text (Preact escapes
 * it); no HTML from the server is ever inserted.
 */
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { loadSession, onAuthChange, type Session, signOut } from './api';
import { ErrorBox, Loading } from './components';
import { ActivityPage } from './pages/activity';
import { AdminPage } from './pages/admin';
import { BuildPage, BuildsPage } from './pages/builds';
import { ImagePage } from './pages/image';
import { RepositoriesPage } from './pages/repositories';
import { RepositoryPage } from './pages/repository';
import { SignInPage } from './pages/signin';
import { interceptLinks, navigate, type Route, useRoute } from './router';
import { ThemeToggle } from './theme';

function Page({ route, session }: { route: Route; session: Session }) {
  switch (route.page) {
    case 'repositories':
      return <RepositoriesPage q={route.q} session={session} />;
    case 'repository':
      return <RepositoryPage name={route.name} session={session} />;
    case 'image':
      return <ImagePage name={route.name} reference={route.reference} session={session} />;
    case 'builds':
      return <BuildsPage repository={route.repository} />;
    case 'build':
      return <BuildPage id={route.id} />;
    case 'activity':
      return <ActivityPage session={session} />;
    case 'admin':
      return <AdminPage session={session} />;
    case 'signin':
      return <SignInPage next={route.next} session={session} />;
    case 'not-found':
      return (
        <>
          <h1>Not found</h1>
          <p>
            No page here. <a href="/">All repositories</a>
          </p>
        </>
      );
  }
}

function Header({ session, route }: { session?: Session; route: Route }) {
  const here = (page: Route['page']): 'page' | undefined => (route.page === page ? 'page' : undefined);
  return (
    <header class="top">
      <a class="skip" href="#main">
        Skip to content
      </a>
      <a class="brand" href="/">
        Berth
      </a>
      <nav aria-label="Main">
        <a href="/" aria-current={here('repositories')}>
          Repositories
        </a>
        <a href="/builds" aria-current={here('builds')}>
          Builds
        </a>
        <a href="/activity" aria-current={here('activity')}>
          Activity
        </a>
        {session?.admin && (
          <a href="/admin" aria-current={here('admin')}>
            Admin
          </a>
        )}
      </nav>
      <div class="who">
        {session?.auth === 'token' &&
          (session.user ? (
            <>
              <span class="user" title="Signed in as">
                {session.user}
              </span>
              <button
                type="button"
                onClick={() => {
                  signOut();
                  navigate('/');
                }}
              >
                Sign out
              </button>
            </>
          ) : (
            route.page !== 'signin' && <a href={`/signin?next=${encodeURIComponent(location.pathname + location.search)}`}>Sign in</a>
          ))}
        {session?.auth === 'none' && <span class="muted">auth off</span>}
        <ThemeToggle />
      </div>
    </header>
  );
}

function App() {
  const route = useRoute();
  const [session, setSession] = useState<Session>();
  const [error, setError] = useState<Error>();
  const [generation, setGeneration] = useState(0);
  useEffect(() => onAuthChange(() => setGeneration((g) => g + 1)), []);
  useEffect(() => {
    loadSession().then(
      (s) => {
        setSession(s);
        setError(undefined);
      },
      (err: Error) => setError(err),
    );
  }, [generation]);
  return (
    <>
      <Header session={session} route={route} />
      <main id="main" tabIndex={-1}>
        {error ? <ErrorBox error={error} /> : session ? <Page key={`${generation}`} route={route} session={session} /> : <Loading />}
      </main>
    </>
  );
}

const root = document.getElementById('app')!;
interceptLinks(document.body);
render(<App />, root);
