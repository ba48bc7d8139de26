//! Peers' questions for extensions ([`Request::Extension`](starling_protocol::message::Request)):
//! an extension registers the actor that answers questions under its name; the gossip port
//! hands each question to it and sends the answer back. The table is shared, not an actor's
//! state, so it survives restarts of the actors around it.
//!
//! Bounds: a question waits at most [`ANSWER_TIMEOUT`] for its answer (it holds up the link it
//! came on meanwhile); a question for a name nobody registered is answered with an error.

use actix::prelude::*;
use starling_protocol::NodeId;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// How long a question may wait for its extension's answer.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(2);

/// A peer's question for an extension on this node.
#[derive(Debug, Message)]
#[rtype(result = "Result<Vec<u8>, String>")]
pub struct ExtensionQuestion {
    /// The asking node.
    pub from: NodeId,
    /// The question, in the extension's own format.
    pub payload: Vec<u8>,
}

/// Who answers peers' questions, by extension name.
#[derive(Clone, Default)]
pub struct Answerers(Arc<RwLock<HashMap<String, Recipient<ExtensionQuestion>>>>);

impl Answerers {
    /// `answerer` answers the questions for `extension` from now on (replacing any before it).
    pub fn register(&self, extension: &str, answerer: Recipient<ExtensionQuestion>) {
        if let Ok(mut m) = self.0.write() {
            m.insert(extension.to_owned(), answerer);
        }
    }

    /// Ask the answerer for `extension`: its answer, or why there is none.
    pub async fn ask(&self, extension: &str, question: ExtensionQuestion) -> Result<Vec<u8>, String> {
        let answerer = self.0.read().ok().and_then(|m| m.get(extension).cloned());
        let Some(answerer) = answerer else { return Err(format!("no extension {extension:?} here")) };
        match tokio::time::timeout(ANSWER_TIMEOUT, answerer.send(question)).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => Err(format!("extension {extension:?} is not running")),
            Err(_) => Err(format!("extension {extension:?} did not answer in time")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Echo;
    impl Actor for Echo {
        type Context = Context<Self>;
    }
    impl Handler<ExtensionQuestion> for Echo {
        type Result = Result<Vec<u8>, String>;
        fn handle(&mut self, q: ExtensionQuestion, _: &mut Context<Self>) -> Self::Result {
            if q.payload.is_empty() {
                return Err("empty".into());
            }
            Ok(q.payload.iter().rev().copied().collect())
        }
    }

    #[actix::test]
    async fn questions_reach_the_registered_answerer_only() {
        let a = Answerers::default();
        let q = |p: &[u8]| ExtensionQuestion { from: NodeId("n1".into()), payload: p.to_vec() };
        assert!(a.ask("echo", q(b"ab")).await.unwrap_err().contains("no extension"));
        a.register("echo", Echo.start().recipient());
        assert_eq!(a.ask("echo", q(b"ab")).await.unwrap(), b"ba");
        assert_eq!(a.ask("echo", q(b"")).await.unwrap_err(), "empty");
        assert!(a.ask("other", q(b"x")).await.is_err());
    }
}
