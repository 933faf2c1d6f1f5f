import { useEffect, useState } from 'react';

/**
 * The client's routes live in the URL's hash (`#/s/<session id>`, `#/archived`), so a reload or a shared link
 * opens the same screen and the server needs no fallback route.
 */
export interface Route {
  sessionId: string | null;
  /** A message to show (a search hit): `#/s/<session>?m=<message>`. */
  messageId: string | null;
  archived: boolean;
  search: string | null;
  settings: boolean;
}

export function parseHash(hash: string): Route {
  const session = /^#\/s\/([0-9a-fA-F-]{36})(?:\?m=([0-9a-fA-F-]{36}))?/.exec(hash);
  const search = /^#\/search\?q=(.*)$/.exec(hash);
  return {
    sessionId: session ? session[1] : null,
    messageId: session?.[2] ?? null,
    archived: hash.startsWith('#/archived'),
    search: search ? decodeURIComponent(search[1]) : null,
    settings: hash.startsWith('#/settings'),
  };
}

export function navigate(hash: string, replace = false): void {
  if (location.hash === hash) return;
  if (replace) history.replaceState(null, '', hash);
  else history.pushState(null, '', hash);
  window.dispatchEvent(new HashChangeEvent('hashchange'));
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseHash(location.hash));
  useEffect(() => {
    const update = () => setRoute(parseHash(location.hash));
    window.addEventListener('hashchange', update);
    window.addEventListener('popstate', update);
    return () => {
      window.removeEventListener('hashchange', update);
      window.removeEventListener('popstate', update);
    };
  }, []);
  return route;
}
