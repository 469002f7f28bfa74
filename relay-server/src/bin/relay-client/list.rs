//! `relay-client list`: the server's track list.

use crate::net::http_get;

pub(crate) async fn list(server: &str) -> anyhow::Result<()> {
    println!("{}", http_get(server, "/api/tracks").await?);
    Ok(())
}
