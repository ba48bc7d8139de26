import type { Post } from '@mattermost/types/posts';
import { useStore, update } from '../store';
import { PostItem } from './PostItem';

/** A list of posts beside the channel (a search's matches, pinned or saved posts), newest first;
 * each opens its thread. */
export function SearchResults(props: { title: string; label: string; results: Post[] | null; onClose: () => void }) {
  const channels = useStore((s) => s.channels);
  return (
    <aside class="thread-pane" aria-label={props.label} data-testid="search-results">
      <header class="thread-pane__header">
        <h2>{props.title}</h2>
        <button type="button" class="btn btn--link" aria-label={`Close ${props.label.toLowerCase()}`} onClick={props.onClose}>
          ×
        </button>
      </header>
      <div class="thread-pane__posts">
        {props.results === null ? <p>Loading…</p> : null}
        {props.results?.length === 0 ? <p>Nothing here.</p> : null}
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
