//! `tlsrptd alerts test CHANNEL --config FILE`: a test notification through one channel.
//!
//! In: the configuration file and a channel name. Out: the channel's answer, and exit 0
//! when it accepted the notice, 1 when it did not, 2 when the file or the name is wrong.

use crate::config::AlertsCommand;
use crate::watch::alerts::{config, send};

pub async fn run(command: AlertsCommand) -> i32 {
    let AlertsCommand::Test {
        channel,
        config: path,
    } = command;
    let config = match config::load(&path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("tlsrptd alerts test: {e}");
            return 2;
        }
    };
    let Some(target) = config.channel(&channel) else {
        let names: Vec<&str> = config.channels.iter().map(|c| c.name.as_str()).collect();
        eprintln!(
            "tlsrptd alerts test: {}: no channel named {channel:?} (the file names: {})",
            path.display(),
            if names.is_empty() {
                "none".to_owned()
            } else {
                names.join(", ")
            }
        );
        return 2;
    };
    let client = match crate::watch::alerts::http_client() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("tlsrptd alerts test: {e}");
            return 2;
        }
    };
    let notice = send::test_notice(&channel, chrono::Utc::now());
    let link = config.dashboard_url.as_deref().map_or_else(
        || "/alerts".to_owned(),
        |u| format!("{}/alerts", u.trim_end_matches('/')),
    );
    match send::deliver(&client, target, &notice, &link).await {
        Ok(()) => {
            println!("{channel}: the test notification was accepted");
            0
        }
        Err(e) => {
            println!("{channel}: not delivered: {e}");
            1
        }
    }
}
