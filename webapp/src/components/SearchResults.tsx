import type { Post } from '@mattermost/types/posts';
import { useStore, update } from '../store';
import { PostItem } from './PostItem';

/** Posts that matched a search, newest first; each opens its thread. */
export function SearchResults(props: { terms: string; results: Post[] | null; onClose: () => void }) {
  const channels = useStore((s) => s.channels);
  return (
    <aside class="thread-pane" aria-label="Search results" data-testid="search-results">
      <header class="thread-pane__header">
        <h2>Search: {props.terms}</h2>
        <button type="button" class="btn btn--link" aria-label="Close search results" onClick={props.onClose}>
          ×
        </button>
      </header>
      <div class="thread-pane__posts">
        {props.results === null ? <p>Searching…</p> : null}
        {props.results?.length === 0 ? <p>No results.</p> : null}
        {props.results?.map((p) => (
          <div key={p.id} class="search-result">
            <p class="hint">~{channels[p.channel_id]?.display_name ?? ''}</p>
            <PostItem post={p} inThread />
            <button type="button" class="btn btn--link" onClick={() => update(() => ({ openThreadId: p.root_id || p.id }))}>
              Open thread
            </button>
          </div>
        ))}
      </div>
    </aside>
  );
}
