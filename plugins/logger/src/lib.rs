//! Example plugin: logs `METHOD URI` for each request and `METHOD URI -> STATUS`
//! for each response, at the level set by config `level` (default `info`), and
//! lets both through unchanged.

use warden_pdk::log::{Level, log};
use warden_pdk::prelude::*;

/// Logs requests and responses at a configured level.
pub struct Logger {
    level: Level,
}

impl Plugin for Logger {
    fn init(config: &Config) -> Result<Self, PluginError> {
        let name = config.get_or("level", "info");
        let level = parse_level(&name).ok_or_else(|| {
            PluginError::new("bad-config", format!("level `{name}` is not one of trace, debug, info, warn, error"))
        })?;
        Ok(Logger { level })
    }
}

impl HttpFilter for Logger {
    fn on_request(&mut self, _ctx: &CallContext, req: &Request) -> Result<RequestAction, PluginError> {
        log(self.level, &request_line(&req.method(), &req.uri()));
        Ok(RequestAction::Continue)
    }

    fn on_response(
        &mut self,
        _ctx: &CallContext,
        req: &Request,
        resp: &Response,
    ) -> Result<ResponseAction, PluginError> {
        log(self.level, &response_line(&req.method(), &req.uri(), resp.status()));
        Ok(ResponseAction::Continue)
    }
}

/// Parses a level name, ignoring ASCII case.
pub fn parse_level(name: &str) -> Option<Level> {
    Some(match name.to_ascii_lowercase().as_str() {
        "trace" => Level::Trace,
        "debug" => Level::Debug,
        "info" => Level::Info,
        "warn" | "warning" => Level::Warn,
        "error" => Level::Error,
        _ => return None,
    })
}

/// The logged request line, e.g. `GET /hello`.
pub fn request_line(method: &str, uri: &str) -> String {
    format!("{method} {uri}")
}

/// The logged response line, e.g. `GET /hello -> 200`.
pub fn response_line(method: &str, uri: &str, status: u16) -> String {
    format!("{method} {uri} -> {status}")
}

warden_pdk::export!(Logger: http_filter);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels() {
        assert_eq!(parse_level("INFO"), Some(Level::Info));
        assert_eq!(parse_level("warn"), Some(Level::Warn));
        assert_eq!(parse_level("loud"), None);
    }

    #[test]
    fn lines() {
        assert_eq!(request_line("GET", "/hello"), "GET /hello");
        assert_eq!(response_line("GET", "/hello", 200), "GET /hello -> 200");
    }

    #[test]
    fn init_reads_level() {
        let config: Config = [("level", "debug")].into_iter().collect();
        assert_eq!(Logger::init(&config).unwrap().level, Level::Debug);
        assert_eq!(Logger::init(&Config::default()).unwrap().level, Level::Info);
        let bad: Config = [("level", "loud")].into_iter().collect();
        assert_eq!(Logger::init(&bad).err().unwrap().code, "bad-config");
    }

    /// Both hooks natively, their log records read back from the PDK's mock host.
    #[test]
    fn hooks_log_at_the_configured_level() {
        use warden_pdk::testing::{LogRecord, MockHost};

        let host = MockHost::new().config("level", "warn");
        let mut logger = Logger::init(&Config::from_host()).unwrap();
        let (ctx, req) = (CallContext::new("req-1"), Request::new("GET", "/hello?x=1"));
        assert_eq!(logger.on_request(&ctx, &req).unwrap(), RequestAction::Continue);
        let resp = Response::new(404, "");
        assert_eq!(logger.on_response(&ctx, &req, &resp).unwrap(), ResponseAction::Continue);
        assert_eq!(
            host.logs(),
            [
                LogRecord { level: Level::Warn, message: "GET /hello?x=1".into() },
                LogRecord { level: Level::Warn, message: "GET /hello?x=1 -> 404".into() },
            ]
        );
    }
}
