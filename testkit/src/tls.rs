//! An HTTPS front for the emulator, with a certificate from a private CA made for the test: what
//! a custom `AWS_ENDPOINT_URL` behind a company's own CA looks like to a client. TLS ends here and
//! the bytes go on to the emulator over plain TCP.

use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

/// A running HTTPS front; it stops when dropped.
pub struct TlsFront {
    endpoint: String,
    ca_pem: String,
    runtime: Option<tokio::runtime::Runtime>,
}

impl TlsFront {
    /// Starts a front for `upstream` (`http://127.0.0.1:PORT`) on a free port of localhost.
    ///
    /// # Panics
    /// When the certificates cannot be made or the port cannot be bound: a broken test machine.
    #[allow(clippy::expect_used)]
    pub fn start(upstream: &str) -> TlsFront {
        let upstream = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let (ca_pem, config) = certificates().expect("the test certificates");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime for the TLS front");
        // Bound here, without blocking on the runtime, so that a test's own runtime may start it.
        let listener =
            std::net::TcpListener::bind("127.0.0.1:0").expect("a port for the TLS front");
        listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        let port = listener.local_addr().expect("its address").port();
        let acceptor = TlsAcceptor::from(Arc::new(config));
        runtime.spawn(async move {
            let Ok(listener) = TcpListener::from_std(listener) else {
                return;
            };
            while let Ok((client, _)) = listener.accept().await {
                let (acceptor, upstream) = (acceptor.clone(), upstream.clone());
                tokio::spawn(async move {
                    // A client that refuses the certificate ends the handshake: nothing to do.
                    let Ok(mut tls) = acceptor.accept(client).await else {
                        return;
                    };
                    if let Ok(mut plain) = TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                    }
                });
            }
        });
        TlsFront {
            endpoint: format!("https://localhost:{port}"),
            ca_pem,
            runtime: Some(runtime),
        }
    }

    /// `https://localhost:PORT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The private CA's certificate, PEM: what `AWS_CA_BUNDLE` would name.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// A CA, and a server configuration with a certificate for `localhost` that it signed.
fn certificates() -> Result<(String, rustls::ServerConfig), Box<dyn std::error::Error>> {
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "testkit private CA");
    let ca = ca_params.self_signed(&ca_key)?;
    let issuer = rcgen::Issuer::new(ca_params, ca_key);

    let key = KeyPair::generate()?;
    let leaf = CertificateParams::new(vec!["localhost".to_string()])?.signed_by(&key, &issuer)?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(
        vec![CertificateDer::from(leaf.der().to_vec())],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    )?;
    Ok((ca.pem(), config))
}
