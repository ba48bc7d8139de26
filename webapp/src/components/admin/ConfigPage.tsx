import { useEffect, useState } from 'preact/hooks';
import { CONFIG_SECTIONS, getConfig, isReadOnly, patchConfig, type Config } from '../../actions/admin';
import { errorText } from '../../actions/errors';

type Value = string | number | boolean | null | unknown[] | Record<string, unknown>;

/** One config section: each key with an input of its type; read-only while the cluster says so. */
export function ConfigPage(props: { section: string }) {
  const [config, setConfig] = useState<Config | null>(null);
  const [draft, setDraft] = useState<Record<string, Value>>({});
  const [message, setMessage] = useState('');
  const [error, setError] = useState('');
  const title = CONFIG_SECTIONS.find((s) => s.key === props.section)?.title ?? props.section;
  useEffect(() => {
    setMessage('');
    getConfig().then(
      (c) => {
        setConfig(c);
        setDraft({ ...(c[props.section] as Record<string, Value>) });
      },
      (e) => setError(errorText(e)),
    );
  }, [props.section]);
  const readOnly = isReadOnly(config);
  const save = async (e: Event) => {
    e.preventDefault();
    setError('');
    try {
      const c = await patchConfig({ [props.section]: draft });
      setConfig(c);
      setDraft({ ...(c[props.section] as Record<string, Value>) });
      setMessage('Saved.');
    } catch (err) {
      setError(errorText(err));
    }
  };
  const set = (k: string, v: Value) => setDraft({ ...draft, [k]: v });
  return (
    <section aria-labelledby="config-title">
      <h2 id="config-title">{title}</h2>
      {readOnly ? (
        <p class="notice" role="note">
          These settings are read-only: ClusterSettings.ReadOnlyConfig is on in this cluster. Change them in the config source
          (file or database) instead.
        </p>
      ) : null}
      {error ? <p class="form-error" role="alert">{error}</p> : null}
      {config ? (
        <form class="config-form" onSubmit={save}>
          <fieldset disabled={readOnly}>
            <legend class="visually-hidden">{title}</legend>
            {Object.entries(draft).map(([k, v]) => (
              <label key={k} class={typeof v === 'boolean' ? 'checkbox' : ''}>
                {typeof v === 'boolean' ? (
                  <>
                    <input type="checkbox" name={k} checked={v} onChange={(e) => set(k, e.currentTarget.checked)} /> {k}
                  </>
                ) : (
                  <>
                    {k}
                    {typeof v === 'number' ? (
                      <input type="number" name={k} value={v} onInput={(e) => set(k, Number(e.currentTarget.value))} />
                    ) : typeof v === 'string' || v === null ? (
                      <input name={k} value={v ?? ''} onInput={(e) => set(k, e.currentTarget.value)} />
                    ) : (
                      <textarea
                        name={k}
                        value={JSON.stringify(v)}
                        onChange={(e) => {
                          try {
                            set(k, JSON.parse(e.currentTarget.value) as Value);
                          } catch {
                            setError(`${k}: not valid JSON`);
                          }
                        }}
                      />
                    )}
                  </>
                )}
              </label>
            ))}
            <button type="submit" class="btn btn--primary">
              Save
            </button>
            {message ? <span role="status"> {message}</span> : null}
          </fieldset>
        </form>
      ) : (
        <p>Loading…</p>
      )}
    </section>
  );
}
