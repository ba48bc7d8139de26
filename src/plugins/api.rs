//! The plugin API: what a plugin may ask of the node (`docs/plugins.md` lists the methods). Each
//! call names data by id and acts as the plugin, within the node's own rules: a post is made
//! through the same write path as the API's (hooks, counters, events to every node) and only by
//! a member of the channel; key-value calls reach the plugin's own keys only; websocket events are
//! named `custom_<plugin id>_<event>`. Nothing else of the node (its config, its secrets, other
//! plugins' keys) is reachable.

use super::process::{HostApi, RpcError};
use crate::api::AppState;
use crate::store::plugin_kv::{MAX_KEY_CHARS, MAX_VALUE_BYTES};
use actix_web::web;
use base64::Engine;
use futures_util::future::LocalBoxFuture;
use serde_json::{json, Value};
use starling_protocol::Broadcast;

pub struct NodeApi {
    pub state: web::Data<AppState>,
}

fn text<'a>(p: &'a Value, key: &str) -> Result<&'a str, RpcError> {
    p.get(key).and_then(Value::as_str).ok_or_else(|| RpcError::invalid(format!("{key} is required")))
}

fn opt_text<'a>(p: &'a Value, key: &str) -> &'a str {
    p.get(key).and_then(Value::as_str).unwrap_or("")
}

fn id(p: &Value, key: &str) -> Result<String, RpcError> {
    let v = text(p, key)?;
    if v.len() != 26 || !v.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(RpcError::invalid(format!("{key} is not an id")));
    }
    Ok(v.to_owned())
}

fn key(p: &Value) -> Result<String, RpcError> {
    let k = text(p, "key")?;
    if k.is_empty() || k.chars().count() > MAX_KEY_CHARS || k.contains('\0') {
        return Err(RpcError::invalid(format!("key must be 1 to {MAX_KEY_CHARS} characters")));
    }
    Ok(k.to_owned())
}

/// A value: base64 text, or null (none).
fn value(p: &Value, name: &str) -> Result<Option<Vec<u8>>, RpcError> {
    match p.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(s)
                .map_err(|_| RpcError::invalid(format!("{name} must be base64")))?;
            if bytes.len() > MAX_VALUE_BYTES {
                return Err(RpcError::invalid(format!("{name} is over {MAX_VALUE_BYTES} bytes")));
            }
            Ok(Some(bytes))
        }
        Some(_) => Err(RpcError::invalid(format!("{name} must be base64 text or null"))),
    }
}

fn encode(bytes: &[u8]) -> Value {
    Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
}

fn store_failed(e: impl std::fmt::Display, log: &slog::Logger) -> RpcError {
    slog::warn!(log, "plugin API call failed"; "error" => %e);
    RpcError::failed("the node could not do it now")
}

impl HostApi for NodeApi {
    fn call(&self, plugin: String, method: String, params: Value) -> LocalBoxFuture<'static, Result<Value, RpcError>> {
        let state = self.state.clone();
        Box::pin(async move { dispatch(&state, &plugin, &method, &params).await })
    }
}

async fn dispatch(state: &AppState, plugin: &str, method: &str, p: &Value) -> Result<Value, RpcError> {
    let log = &state.log;
    let fail = |e: crate::store::StoreError| store_failed(e, log);
    match method {
        "get_user" => {
            let user = state.store.user(&id(p, "user_id")?).await.map_err(fail)?;
            user.map(|u| json!(u)).ok_or_else(|| RpcError::new(404, "no such user"))
        }
        "get_user_by_username" => {
            let user = state.store.user_by_username(text(p, "username")?).await.map_err(fail)?;
            user.map(|u| json!(u)).ok_or_else(|| RpcError::new(404, "no such user"))
        }
        "get_channel" => {
            let channel = state.store.channel(&id(p, "channel_id")?).await.map_err(fail)?;
            channel.map(|c| json!(c)).ok_or_else(|| RpcError::new(404, "no such channel"))
        }
        "get_post" => {
            let post = state.store.post(&id(p, "post_id")?).await.map_err(fail)?;
            post.filter(|p| p.delete_at == 0).map(|p| json!(p)).ok_or_else(|| RpcError::new(404, "no such post"))
        }
        "create_post" => {
            let post = p.get("post").unwrap_or(p);
            let user_id = id(post, "user_id")?;
            let channel_id = id(post, "channel_id")?;
            let message = text(post, "message")?;
            let props = post.get("props").cloned().unwrap_or_else(|| json!({}));
            let made =
                crate::api::create_post_as(state, &user_id, &channel_id, opt_text(post, "root_id"), message, props)
                    .await
                    .map_err(|e| RpcError::new(e.status.as_u16() as i64, e.message))?;
            Ok(json!(made))
        }
        "publish_websocket_event" => {
            let event = text(p, "event")?;
            if event.is_empty()
                || event.len() > 64
                || !event.chars().all(|c| c.is_ascii_alphanumeric() || "_-".contains(c))
            {
                return Err(RpcError::invalid("event must be 1 to 64 letters, digits, '_' or '-'"));
            }
            let data = p.get("data").cloned().unwrap_or_else(|| json!({}));
            if !data.is_object() || data.to_string().len() > 64 * 1024 {
                return Err(RpcError::invalid("data must be a JSON object of at most 64 KiB"));
            }
            let b = p.get("broadcast").cloned().unwrap_or_else(|| json!({}));
            let broadcast = Broadcast {
                user_id: opt_text(&b, "user_id").to_owned(),
                channel_id: opt_text(&b, "channel_id").to_owned(),
                team_id: opt_text(&b, "team_id").to_owned(),
                ..Default::default()
            };
            state.events.plugin_event(plugin, event, data, broadcast);
            Ok(Value::Null)
        }
        "kv_set" => {
            let k = key(p)?;
            let expire = p.get("expire_in_seconds").and_then(Value::as_i64).unwrap_or(0);
            match value(p, "value")? {
                Some(v) => state.store.plugin_kv_set(plugin, &k, &v, expire).await.map_err(fail)?,
                None => {
                    state.store.plugin_kv_delete(plugin, &k).await.map_err(fail)?;
                }
            }
            Ok(Value::Null)
        }
        "kv_get" => {
            let v = state.store.plugin_kv_get(plugin, &key(p)?).await.map_err(fail)?;
            Ok(json!({ "value": v.map(|v| encode(&v)) }))
        }
        "kv_delete" => {
            let deleted = state.store.plugin_kv_delete(plugin, &key(p)?).await.map_err(fail)?;
            Ok(json!({ "deleted": deleted }))
        }
        "kv_delete_all" => {
            let n = state.store.plugin_kv_delete_all(plugin).await.map_err(fail)?;
            Ok(json!({ "deleted": n }))
        }
        "kv_compare_and_set" => {
            let k = key(p)?;
            let (old, new) = (value(p, "old_value")?, value(p, "new_value")?);
            let expire = p.get("expire_in_seconds").and_then(Value::as_i64).unwrap_or(0);
            let ok = state
                .store
                .plugin_kv_compare_and_set(plugin, &k, old.as_deref(), new.as_deref(), expire)
                .await
                .map_err(fail)?;
            Ok(json!({ "ok": ok }))
        }
        "kv_list" => {
            let page = p.get("page").and_then(Value::as_i64).unwrap_or(0);
            let per_page = p.get("per_page").and_then(Value::as_i64).unwrap_or(100);
            let keys = state.store.plugin_kv_list(plugin, page, per_page).await.map_err(fail)?;
            Ok(json!({ "keys": keys }))
        }
        _ => Err(RpcError::no_method(method)),
    }
}
