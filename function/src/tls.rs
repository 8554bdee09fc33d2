//! The trust anchors of the function's HTTPS client, compiled in.
//!
//! The SDK's default client reads and parses the system's whole certificate store (on al2023 a
//! bundle of some 140 certificates) on every cold start, for a client that only ever talks to
//! DynamoDB's regional endpoint. Those endpoints present certificates that chain to Amazon Trust
//! Services' roots, so those five roots are all the function trusts by default: no file is
//! opened for them, and the handshake still verifies the whole chain and the host name.
//!
//! `AWS_CA_BUNDLE` (the variable the AWS CLI and SDKs read for the same purpose) names a PEM
//! bundle to trust instead: for an `AWS_ENDPOINT_URL` behind a private CA, or a partition whose
//! endpoints chain elsewhere. It is read once, at init, and a bundle with no usable certificate
//! is an init error, not a failure at the first request.

use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use aws_smithy_http_client::Builder;
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::CertificateDer;

/// Amazon Root CA 1 to 4 and Starfield Services Root CA G2, as `function/roots/` documents.
pub const AMAZON_TRUST_SERVICES: &[u8] = include_bytes!("../roots/amazon-trust-services.pem");

/// The environment variable that names a PEM bundle to trust instead of the compiled-in roots.
pub const CA_BUNDLE: &str = "AWS_CA_BUNDLE";

/// Where the trust anchors come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Roots {
    /// Amazon Trust Services' roots, compiled in.
    Amazon,
    /// The PEM bundle at this path, read at init.
    Bundle(String),
}

impl Roots {
    /// [`CA_BUNDLE`] when it is set and not empty, the compiled-in roots otherwise.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Roots {
        match lookup(CA_BUNDLE).map(|p| p.trim().to_string()) {
            Some(path) if !path.is_empty() => Roots::Bundle(path),
            _ => Roots::Amazon,
        }
    }

    /// The PEM text of the trust anchors, checked to hold at least one usable certificate.
    pub fn pem(&self) -> Result<Vec<u8>, String> {
        match self {
            Roots::Amazon => Ok(AMAZON_TRUST_SERVICES.to_vec()),
            Roots::Bundle(path) => {
                let pem = std::fs::read(path)
                    .map_err(|e| format!("{CA_BUNDLE}={path} cannot be read: {e}"))?;
                let count = certificates(&pem).map_err(|e| format!("{CA_BUNDLE}={path}: {e}"))?;
                if count == 0 {
                    return Err(format!(
                        "{CA_BUNDLE}={path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
                    ));
                }
                Ok(pem)
            }
        }
    }
}

/// The number of certificates in `pem`, each parsed, or why one is unusable.
pub fn certificates(pem: &[u8]) -> Result<usize, String> {
    let mut count = 0;
    for cert in CertificateDer::pem_slice_iter(pem) {
        let cert = cert.map_err(|e| format!("a certificate is not valid PEM: {e}"))?;
        rustls::RootCertStore::empty()
            .add(cert)
            .map_err(|e| format!("a certificate cannot be a trust anchor: {e}"))?;
        count += 1;
    }
    Ok(count)
}

/// The HTTPS client (rustls with aws-lc, as the SDK's default) trusting only `roots`.
pub fn http_client(roots: &Roots) -> Result<SharedHttpClient, String> {
    let store = TrustStore::empty()
        .with_native_roots(false)
        .with_pem_certificate(roots.pem()?);
    let context = TlsContext::builder()
        .with_trust_store(store)
        .build()
        .map_err(|e| format!("the TLS context cannot be built: {e}"))?;
    Ok(Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ))
        .tls_context(context)
        .build_https())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compiled_in_roots_are_five_usable_certificates() {
        assert_eq!(certificates(AMAZON_TRUST_SERVICES), Ok(5));
    }

    #[test]
    fn the_bundle_setting_replaces_the_compiled_in_roots() {
        assert_eq!(Roots::from_lookup(|_| None), Roots::Amazon);
        assert_eq!(Roots::from_lookup(|_| Some(" ".into())), Roots::Amazon);
        assert_eq!(
            Roots::from_lookup(|k| (k == CA_BUNDLE).then(|| "/ca.pem".into())),
            Roots::Bundle("/ca.pem".into())
        );
    }

    #[test]
    fn a_bundle_that_cannot_be_used_is_an_init_error() {
        let dir = std::env::temp_dir().join(format!("tls-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_default();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "no certificate here\n").unwrap_or_default();
        let bundle = |p: &std::path::Path| Roots::Bundle(p.display().to_string()).pem();
        assert!(bundle(&empty).is_err_and(|e| e.contains("holds no PEM certificate")));
        assert!(bundle(&dir.join("missing.pem")).is_err_and(|e| e.contains("cannot be read")));
        let broken = dir.join("broken.pem");
        std::fs::write(
            &broken,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap_or_default();
        assert!(bundle(&broken).is_err());
        std::fs::remove_dir_all(&dir).unwrap_or_default();
    }
}
