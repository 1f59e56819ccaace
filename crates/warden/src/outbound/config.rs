//! [`OutboundHttp`]: the operator's settings for the outbound HTTP capability.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::address::AddressRange;

/// Turns on outbound HTTP (`warden:plugin/outbound-http`) for a
/// [`Runtime`](crate::Runtime), via
/// [`RuntimeBuilder::outbound_http`](crate::RuntimeBuilder::outbound_http).
///
/// Without it every `fetch` fails with code `unavailable`. With it, a
/// plugin reaches only the `scheme://host[:port]` destinations its
/// manifest lists in `[permissions] network`, and only addresses outside
/// the loopback, private, link-local (cloud metadata), multicast and other
/// special-purpose ranges, unless the operator allows a range here.
///
/// ```
/// use std::time::Duration;
/// use warden::{OutboundHttp, Runtime};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let outbound = OutboundHttp::new()
///     .allow_addresses("10.20.0.0/16".parse()?) // an internal API network
///     .connect_timeout(Duration::from_secs(2))
///     .max_redirects(3);
/// let runtime = Runtime::builder().outbound_http(outbound).build()?;
/// # drop(runtime);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct OutboundHttp {
    pub(crate) allowed: Vec<AddressRange>,
    pub(crate) connect_timeout: Duration,
    pub(crate) max_redirects: u32,
    pub(crate) root_certificates: Vec<Vec<u8>>,
    pub(crate) webpki_roots: bool,
    pub(crate) pool_idle_timeout: Duration,
    pub(crate) pool_max_idle_per_host: usize,
    pub(crate) max_request_headers: usize,
    pub(crate) simulated: Option<SimulatedNetwork>,
}

/// Answers plugins' outbound requests in place of the network: set with
/// [`OutboundHttp::simulate`].
#[derive(Clone)]
pub(crate) struct SimulatedNetwork(pub(crate) Arc<Answer>);

/// A simulated network's answer to one request: a response, or the reason
/// the connection failed (the plugin sees code `connect-failed`).
pub(crate) type Answer =
    dyn Fn(&http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, String> + Send + Sync + 'static;

impl fmt::Debug for SimulatedNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SimulatedNetwork")
    }
}

impl Default for OutboundHttp {
    fn default() -> Self {
        OutboundHttp {
            allowed: Vec::new(),
            connect_timeout: Duration::from_secs(5),
            max_redirects: 5,
            root_certificates: Vec::new(),
            webpki_roots: true,
            pool_idle_timeout: Duration::from_secs(30),
            pool_max_idle_per_host: 8,
            max_request_headers: 100,
            simulated: None,
        }
    }
}

impl OutboundHttp {
    /// The defaults: no special-purpose range allowed, 5 s connect timeout,
    /// 5 redirects, Mozilla's root certificates.
    pub fn new() -> Self {
        OutboundHttp::default()
    }

    /// Lets plugins connect to addresses in `range` even though it is a
    /// loopback, private, link-local or other special-purpose range. The
    /// plugin's manifest must still allow the host. Call once per range.
    ///
    /// ```
    /// # fn main() -> Result<(), warden::AddressRangeError> {
    /// // Local services on this machine, e.g. in tests.
    /// let outbound = warden::OutboundHttp::new()
    ///     .allow_addresses("127.0.0.0/8".parse()?)
    ///     .allow_addresses("::1/128".parse()?);
    /// # drop(outbound);
    /// # Ok(()) }
    /// ```
    pub fn allow_addresses(mut self, range: AddressRange) -> Self {
        self.allowed.push(range);
        self
    }

    /// How long to wait for a TCP connection to be established (default
    /// 5 s). A plugin call's own deadline bounds every wait too.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Most redirects followed per `fetch` (default 5); the next one fails
    /// with code `too-many-redirects`. 0 returns redirects to the plugin as
    /// they are.
    pub fn max_redirects(mut self, n: u32) -> Self {
        self.max_redirects = n;
        self
    }

    /// Trusts `der`, a DER-encoded CA certificate, for `https` besides the
    /// built-in roots (e.g. an internal CA). Checked by
    /// [`RuntimeBuilder::build`](crate::RuntimeBuilder::build).
    ///
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let ca = std::fs::read("/etc/myapp/internal-ca.der")?;
    /// let outbound = warden::OutboundHttp::new().add_root_certificate(ca);
    /// # drop(outbound);
    /// # Ok(()) }
    /// ```
    pub fn add_root_certificate(mut self, der: impl Into<Vec<u8>>) -> Self {
        self.root_certificates.push(der.into());
        self
    }

    /// Whether to trust Mozilla's root certificates, compiled in (default
    /// true). Turn off to trust only [`add_root_certificate`](Self::add_root_certificate).
    pub fn webpki_roots(mut self, enabled: bool) -> Self {
        self.webpki_roots = enabled;
        self
    }

    /// How long an idle pooled connection is kept for reuse (default 30 s).
    pub fn pool_idle_timeout(mut self, timeout: Duration) -> Self {
        self.pool_idle_timeout = timeout;
        self
    }

    /// Most headers a plugin's request may carry (default 100); more fail
    /// with code `invalid-request` before anything is sent.
    pub fn max_request_headers(mut self, n: usize) -> Self {
        self.max_request_headers = n;
        self
    }

    /// Most idle connections kept per `scheme://host:port` (default 8; 0
    /// turns connection reuse off).
    pub fn pool_max_idle_per_host(mut self, n: usize) -> Self {
        self.pool_max_idle_per_host = n;
        self
    }

    /// Answers every outbound request with `answer` instead of the network,
    /// for tests of plugins (`warden test` uses it). Everything else stays
    /// as with a network: the manifest's `[permissions] network`, the
    /// address policy for IP-literal hosts, the per-call request budget,
    /// redirects (an answer with a `Location` is followed and re-checked)
    /// and the response size limit. An `Err` reaches the plugin as a
    /// failed connection (code `connect-failed`) with that message.
    ///
    /// ```
    /// use warden::{OutboundHttp, Runtime, http};
    ///
    /// # fn main() -> Result<(), warden::Error> {
    /// let outbound = OutboundHttp::new().simulate(|request| match request.uri().path() {
    ///     "/users/1" => Ok(http::Response::new(br#"{"name":"Ada"}"#.to_vec())),
    ///     _ => Err("no such user in this test".to_owned()),
    /// });
    /// let runtime = Runtime::builder().outbound_http(outbound).build()?;
    /// # drop(runtime);
    /// # Ok(()) }
    /// ```
    pub fn simulate<F>(mut self, answer: F) -> Self
    where
        F: Fn(&http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, String> + Send + Sync + 'static,
    {
        self.simulated = Some(SimulatedNetwork(Arc::new(answer)));
        self
    }
}
