//! The plugin's configuration: the `[config]` table of its manifest, as strings.

use crate::imports::config as host;

/// Key/value configuration handed to [`Plugin::init`](crate::Plugin::init).
///
/// Keys and values are strings, in the order the host gives them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    entries: Vec<(String, String)>,
}

impl Config {
    /// Wraps a list of key/value pairs, in host order.
    pub fn new(entries: Vec<(String, String)>) -> Self {
        Config { entries }
    }

    /// Reads the whole configuration from the host (the `config.get-all` import).
    pub fn from_host() -> Self {
        Config::new(host::get_all())
    }

    /// The value of `key`, if set. If a key repeats, the first value wins.
    pub fn get(&self, key: &str) -> Option<String> {
        self.get_str(key).map(str::to_owned)
    }

    /// The value of `key`, borrowed, if set.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// The value of `key`, or `default` if it is not set.
    pub fn get_or(&self, key: &str, default: &str) -> String {
        self.get_str(key).unwrap_or(default).to_owned()
    }

    /// All keys and values, in host order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl From<Vec<(String, String)>> for Config {
    fn from(entries: Vec<(String, String)>) -> Self {
        Config::new(entries)
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Config {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Config::new(iter.into_iter().map(|(k, v)| (k.into(), v.into())).collect())
    }
}

impl From<Config> for Vec<(String, String)> {
    fn from(config: Config) -> Self {
        config.entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups() {
        let config: Config = [("level", "debug"), ("prefix", "x"), ("level", "info")].into_iter().collect();
        assert_eq!(config.get("level").as_deref(), Some("debug"));
        assert_eq!(config.get("missing"), None);
        assert_eq!(config.get_or("missing", "dflt"), "dflt");
        assert_eq!(config.get_or("prefix", "dflt"), "x");
        assert_eq!(config.len(), 3);
        assert!(!config.is_empty());
        assert!(Config::default().is_empty());
        let keys: Vec<_> = config.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["level", "prefix", "level"]);
    }
}
