import type { FileInfo } from '@mattermost/types/files';
import { client, clientId } from '../client';
import { update } from '../store';

/** Upload files for a post in a channel; returns their infos (previewed before the post is sent). */
export async function uploadFiles(channelId: string, files: File[]): Promise<FileInfo[]> {
  const form = new FormData();
  form.append('channel_id', channelId);
  for (const f of files) {
    form.append('files', f, f.name);
    form.append('client_ids', clientId());
  }
  const res = (await client.uploadFile(form)) as { file_infos: FileInfo[] };
  update((s) => {
    const next = { ...s.files };
    for (const f of res.file_infos) next[f.id] = f;
    return { files: next };
  });
  return res.file_infos;
}
