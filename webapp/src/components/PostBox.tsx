import type { FileInfo } from '@mattermost/types/files';
import { isCommand, runCommand } from '../actions/commands';
import { useEffect, useRef, useState } from 'preact/hooks';
import { sendPost } from '../actions/posts';
import { uploadFiles } from '../actions/files';
import { resetTyping, userTyping, typingKey } from '../actions/websocket';
import { suggestionsFor, wordAtCaret, type Suggestion } from '../actions/autocomplete';
import { errorText, toast } from '../actions/errors';
import { useStore } from '../store';
import { Icon } from './Icon';
import { typingNames } from '../selectors';

/** Where a message is written: Enter sends, Shift+Enter breaks the line, @ and ~ suggest. */
export function PostBox(props: { channelId: string; rootId?: string; teamId: string; placeholder: string }) {
  const rootId = props.rootId ?? '';
  const draftKey = `${props.channelId}:${rootId}`;
  const [text, setText] = useState('');
  const [files, setFiles] = useState<FileInfo[]>([]);
  const [uploading, setUploading] = useState(false);
  const [suggestions, setSuggestions] = useState<Suggestion[]>([]);
  const [selected, setSelected] = useState(0);
  const ref = useRef<HTMLTextAreaElement>(null);
  const fileRef = useRef<HTMLInputElement>(null);
  const suggestionSeq = useRef(0);
  const typing = useStore((s) => typingNames(s, typingKey(props.channelId, rootId)).join(','));

  useEffect(() => {
    setText(sessionStorage.getItem(`draft:${draftKey}`) ?? '');
    setFiles([]);
    setSuggestions([]);
  }, [draftKey]);

  const change = (value: string) => {
    setText(value);
    sessionStorage.setItem(`draft:${draftKey}`, value);
    if (value.trim()) userTyping(props.channelId, rootId);
    const at = wordAtCaret(value, ref.current?.selectionStart ?? value.length);
    if (at && at.word.length >= 1) {
      const asked = ++suggestionSeq.current;
      void suggestionsFor(at.word, props.teamId, props.channelId).then((s) => {
        // Answers can overtake each other: only the latest question's is shown.
        if (asked !== suggestionSeq.current) return;
        setSuggestions(s);
        setSelected(0);
      });
    } else {
      suggestionSeq.current++;
      setSuggestions([]);
    }
  };

  const complete = (s: Suggestion) => {
    const caret = ref.current?.selectionStart ?? text.length;
    const at = wordAtCaret(text, caret);
    if (!at) return;
    const next = text.slice(0, at.start) + s.complete + text.slice(caret);
    setText(next);
    setSuggestions([]);
    requestAnimationFrame(() => {
      const pos = at.start + s.complete.length;
      ref.current?.setSelectionRange(pos, pos);
      ref.current?.focus();
    });
  };

  const submit = () => {
    const message = text.trim();
    if (!message && files.length === 0) return;
    if (isCommand(message) && files.length === 0) void runCommand(props.channelId, rootId, message);
    else sendPost(props.channelId, rootId, message, files.map((f) => f.id));
    resetTyping(props.channelId, rootId);
    setText('');
    setFiles([]);
    sessionStorage.removeItem(`draft:${draftKey}`);
  };

  const onKeyDown = (e: KeyboardEvent) => {
    if (suggestions.length > 0) {
      if (e.key === 'ArrowDown') {
        e.preventDefault();
        setSelected((selected + 1) % suggestions.length);
        return;
      }
      if (e.key === 'ArrowUp') {
        e.preventDefault();
        setSelected((selected - 1 + suggestions.length) % suggestions.length);
        return;
      }
      if (e.key === 'Enter' || e.key === 'Tab') {
        e.preventDefault();
        complete(suggestions[selected]);
        return;
      }
      if (e.key === 'Escape') {
        setSuggestions([]);
        return;
      }
    }
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      submit();
    }
  };

  const attach = async (list: FileList | null) => {
    if (!list || list.length === 0) return;
    setUploading(true);
    try {
      const infos = await uploadFiles(props.channelId, [...list]);
      setFiles((f) => [...f, ...infos]);
    } catch (e) {
      toast(`Upload failed: ${errorText(e)}`);
    } finally {
      setUploading(false);
      if (fileRef.current) fileRef.current.value = '';
    }
  };

  const inputId = `post-box-${rootId ? 'reply' : 'channel'}`;
  const listId = `${inputId}-suggestions`;
  return (
    <div class="post-box">
      {suggestions.length > 0 ? (
        <ul class="suggestions" role="listbox" id={listId} aria-label="Suggestions">
          {suggestions.map((s, i) => (
            <li
              key={s.label}
              role="option"
              id={`${listId}-${i}`}
              aria-selected={i === selected}
              class={i === selected ? 'suggestion suggestion--selected' : 'suggestion'}
              onMouseDown={(e) => {
                e.preventDefault();
                complete(s);
              }}
            >
              <strong>{s.label}</strong> <span class="hint">{s.hint}</span>
            </li>
          ))}
        </ul>
      ) : null}
      {files.length > 0 ? (
        <ul class="post-box__files" aria-label="Files to send">
          {files.map((f) => (
            <li key={f.id}>
              {f.mime_type?.startsWith('image/') ? <img src={`/api/v4/files/${f.id}`} alt="" class="post-box__thumb" /> : <Icon name="attach" size={14} />} {f.name}
              <button type="button" class="btn btn--link" aria-label={`Remove ${f.name}`} onClick={() => setFiles(files.filter((x) => x.id !== f.id))}>
                ×
              </button>
            </li>
          ))}
        </ul>
      ) : null}
      <div class="post-box__row">
        <button type="button" class="post-box__attach" aria-label="Attach files" title="Attach files" disabled={uploading} onClick={() => fileRef.current?.click()}>
          <Icon name="attach" />
        </button>
        <input ref={fileRef} type="file" multiple class="visually-hidden" tabIndex={-1} aria-hidden="true" onChange={(e) => void attach(e.currentTarget.files)} />
        <label class="visually-hidden" for={inputId}>
          {props.placeholder}
        </label>
        <textarea
          id={inputId}
          ref={ref}
          rows={1}
          placeholder={props.placeholder}
          value={text}
          onInput={(e) => change(e.currentTarget.value)}
          onKeyDown={onKeyDown}
          onPaste={(e) => {
            if (e.clipboardData?.files.length) {
              e.preventDefault();
              void attach(e.clipboardData.files);
            }
          }}
          aria-autocomplete="list"
          aria-controls={suggestions.length ? listId : undefined}
          aria-activedescendant={suggestions.length ? `${listId}-${selected}` : undefined}
          data-testid={rootId ? 'reply-box' : 'post-box'}
        />
        <button type="button" class="btn btn--primary post-box__send" onClick={submit} disabled={uploading}>
          Send
        </button>
      </div>
      <div class="typing" aria-live="polite" data-testid="typing">
        {typing ? `${typing.split(',').join(', ')} ${typing.includes(',') ? 'are' : 'is'} typing…` : '\u00a0'}
      </div>
    </div>
  );
}
