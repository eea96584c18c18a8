//! The one rustls client configuration: the public roots plus an optional private CA file.

use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use tokio_rustls::rustls;

pub fn client_config(ca_file: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca_file {
        let read_error = |e: &dyn std::fmt::Display| format!("CA file {}: {e}", path.display());
        for certificate in CertificateDer::pem_file_iter(path).map_err(|e| read_error(&e))? {
            let certificate = certificate.map_err(|e| read_error(&e))?;
            roots.add(certificate).map_err(|e| read_error(&e))?;
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}
