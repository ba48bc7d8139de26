//! A bare actix-web + actix-ws server that parks every websocket after one `hello` frame: the
//! memory floor per idle connection of the stack Starling is built on (benchmarks.md target 1).
//! Run it, then `idle-floor-client PID N`; compare with `starling-bench idle` against a node.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use futures_util::StreamExt;

async fn ws(req: HttpRequest, body: web::Payload) -> actix_web::Result<HttpResponse> {
    let (resp, mut session, mut stream) = actix_ws::handle(&req, body)?;
    actix_web::rt::spawn(async move {
        let _ = session.text("{\"event\":\"hello\"}").await;
        while let Some(Ok(_m)) = stream.next().await {}
    });
    Ok(resp)
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    HttpServer::new(|| App::new().route("/ws", web::get().to(ws)))
        .workers(2)
        .tcp_nodelay(true)
        .bind(("127.0.0.1", port()))?
        .run()
        .await
}

fn port() -> u16 {
    std::env::var("IDLE_FLOOR_PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(18999)
}
