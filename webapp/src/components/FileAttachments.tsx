import type { Post } from '@mattermost/types/posts';
import type { FileInfo } from '@mattermost/types/files';
import { Icon } from './Icon';
import { useStore } from '../store';

function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

export function fileUrl(id: string): string {
  return `/api/v4/files/${id}`;
}

/** A post's files: images as previews, other files as download links. */
export function FileAttachments(props: { post: Post }) {
  const files = useStore((s) => s.files);
  const ids = props.post.file_ids ?? [];
  if (ids.length === 0) return null;
  const infos = ids.map((id) => files[id]).filter((f): f is FileInfo => !!f);
  return (
    <ul class="files" aria-label="Attachments">
      {infos.map((f) => (
        <li key={f.id} class="file">
          {f.mime_type?.startsWith('image/') ? (
            <a href={fileUrl(f.id)} target="_blank" rel="noopener noreferrer">
              <img class="file__preview" src={fileUrl(f.id)} alt={f.name} loading="lazy" width={f.width || undefined} height={f.height || undefined} />
            </a>
          ) : (
            <a class="file__link" href={`${fileUrl(f.id)}?download=1`} download={f.name}>
              <Icon name="attach" size={14} /> {f.name} <span class="hint">({size(f.size)})</span>
            </a>
          )}
        </li>
      ))}
    </ul>
  );
}
