//! The cluster CA: create or reload it, and issue node and client certificates.
//!
//! All keys are ECDSA P-256. Node certificates are both server and client certificates,
//! because every node dials its peers and accepts their connections with the same identity.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use model::NodeId;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use sha2::{Digest, Sha256};
use x509_parser::time::ASN1Time;

use crate::error::AuthError;
use crate::identity::{client_common_name, node_common_name, node_uri};
use crate::limits::{CA_VALIDITY, LEAF_VALIDITY, NOT_BEFORE_BACKDATE, SAN_COUNT_MAX, SERIAL_BYTES};

/// The cluster's certificate authority: its certificate and its private key.
///
/// `Debug` shows only the fingerprint, never the key.
pub struct ClusterCa {
    issuer: Issuer<'static, KeyPair>,
    cert_pem: String,
    cert_der: CertificateDer<'static>,
}

/// A certificate and the private key that goes with it, both PEM encoded.
///
/// `Debug` hides the key.
#[derive(Clone)]
pub struct CertifiedKey {
    pub cert_pem: String,
    pub key_pem: String,
}

impl fmt::Debug for CertifiedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertifiedKey")
            .field("key_pem", &"<secret>")
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for ClusterCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterCa")
            .field("fingerprint", &self.fingerprint())
            .finish()
    }
}

impl ClusterCa {
    /// New self-signed CA, CN "encluster CA <cluster_name>", valid 10 years.
    pub fn generate(cluster_name: &str) -> Result<ClusterCa, AuthError> {
        ClusterCa::generate_valid_for(cluster_name, CA_VALIDITY)
    }

    /// Like [`ClusterCa::generate`], valid for `validity` (a CA replacement; tests give a
    /// short one to see the expiry warning).
    pub fn generate_valid_for(
        cluster_name: &str,
        validity: Duration,
    ) -> Result<ClusterCa, AuthError> {
        let key_pair = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        params.distinguished_name = common_name(format!("encluster CA {cluster_name}"));
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.serial_number = Some(random_serial());
        set_validity(&mut params, validity);
        let certificate = params.self_signed(&key_pair)?;
        Ok(ClusterCa {
            cert_pem: certificate.pem(),
            cert_der: certificate.der().clone(),
            issuer: Issuer::new(params, key_pair),
        })
    }

    /// Reloads a CA written by [`ClusterCa::cert_pem`] and [`ClusterCa::key_pem`].
    ///
    /// Fails if the certificate is not a CA or the key does not belong to it.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<ClusterCa, AuthError> {
        let cert_der = parse_cert_pem("CA certificate", cert_pem)?;
        let key_pair = KeyPair::from_pem(key_pem).map_err(|error| AuthError::InvalidPem {
            what: "CA key",
            reason: error.to_string(),
        })?;
        let (_, certificate) = x509_parser::parse_x509_certificate(&cert_der).map_err(|error| {
            AuthError::InvalidPem {
                what: "CA certificate",
                reason: error.to_string(),
            }
        })?;
        if !certificate.is_ca() {
            return Err(AuthError::NotACa);
        }
        if certificate.public_key().subject_public_key.data.as_ref() != key_pair.public_key_raw() {
            return Err(AuthError::CaKeyMismatch);
        }
        let issuer = Issuer::from_ca_cert_der(&cert_der, key_pair)?;
        Ok(ClusterCa {
            issuer,
            cert_pem: cert_pem.to_owned(),
            cert_der,
        })
    }

    /// The CA certificate, PEM encoded; public, every node and client trusts it.
    pub fn cert_pem(&self) -> String {
        self.cert_pem.clone()
    }

    /// The CA private key, PEM encoded (PKCS#8). Secret: store it with mode 0600.
    pub fn key_pem(&self) -> String {
        self.issuer.key().serialize_pem()
    }

    /// SHA-256 of the CA certificate's DER, lower-case hex (64 chars). Pinned in join tokens.
    pub fn fingerprint(&self) -> String {
        fingerprint_der(&self.cert_der)
    }

    /// Issues a node certificate and a fresh key.
    ///
    /// The certificate names the node (CN "encluster-node-<id>" and SAN URI
    /// "encluster://node/<id>"), has a SAN for every IP address and DNS name in `sans`, is
    /// valid for serverAuth and clientAuth, and lasts about 5 years.
    pub fn issue_node(&self, node_id: NodeId, sans: &[String]) -> Result<CertifiedKey, AuthError> {
        self.issue_node_valid_for(node_id, sans, LEAF_VALIDITY)
    }

    /// Like [`ClusterCa::issue_node`], valid for `validity` (`encluster cert rotate`).
    pub fn issue_node_valid_for(
        &self,
        node_id: NodeId,
        sans: &[String],
        validity: Duration,
    ) -> Result<CertifiedKey, AuthError> {
        let mut params = node_params(node_id, sans)?;
        set_validity(&mut params, validity);
        let key_pair = KeyPair::generate()?;
        let certificate = params.signed_by(&key_pair, &self.issuer)?;
        Ok(CertifiedKey {
            cert_pem: certificate.pem(),
            key_pem: key_pair.serialize_pem(),
        })
    }

    /// Like [`ClusterCa::issue_node`], but signs a CSR so the node keeps its private key.
    ///
    /// The CSR's signature is checked (the node holds the key), but its subject and SANs are
    /// ignored: the cluster decides the identity from `node_id` and `sans`.
    pub fn sign_node_csr(
        &self,
        csr_pem: &str,
        node_id: NodeId,
        sans: &[String],
    ) -> Result<String, AuthError> {
        let csr = CertificateSigningRequestParams::from_pem(csr_pem).map_err(|error| {
            AuthError::InvalidCsr {
                reason: error.to_string(),
            }
        })?;
        let request = CertificateSigningRequestParams {
            params: node_params(node_id, sans)?,
            public_key: csr.public_key,
        };
        Ok(request.signed_by(&self.issuer)?.pem())
    }

    /// Whether `csr_pem` is a CSR this CA can sign (it parses and its signature holds),
    /// checked before a join reserves a node id for it.
    pub fn check_csr(csr_pem: &str) -> Result<(), AuthError> {
        CertificateSigningRequestParams::from_pem(csr_pem)
            .map(|_| ())
            .map_err(|error| AuthError::InvalidCsr {
                reason: error.to_string(),
            })
    }

    /// A certificate for a client tool (CN "encluster-client <name>"), clientAuth only.
    pub fn issue_client(&self, name: &str) -> Result<CertifiedKey, AuthError> {
        let name_is_usable = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|byte| byte.is_ascii_graphic() || byte == b' ');
        if !name_is_usable {
            return Err(AuthError::InvalidClientName {
                name: name.to_owned(),
            });
        }
        let mut params = leaf_params(client_common_name(name));
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let key_pair = KeyPair::generate()?;
        let certificate = params.signed_by(&key_pair, &self.issuer)?;
        Ok(CertifiedKey {
            cert_pem: certificate.pem(),
            key_pem: key_pair.serialize_pem(),
        })
    }
}

/// Node side of a join: a fresh key pair and a CSR for it, as `(key_pem, csr_pem)`.
///
/// The CSR carries no identity; the CA assigns it when signing.
pub fn new_key_and_csr() -> Result<(String, String), AuthError> {
    let key_pair = KeyPair::generate()?;
    let mut params = CertificateParams::default();
    params.distinguished_name = common_name("encluster-node-request".to_owned());
    let csr_pem = params.serialize_request(&key_pair)?.pem()?;
    Ok((key_pair.serialize_pem(), csr_pem))
}

/// How long a node certificate lasts unless told otherwise.
pub fn leaf_validity_default() -> Duration {
    LEAF_VALIDITY
}

/// How long a CA lasts unless told otherwise.
pub fn ca_validity_default() -> Duration {
    CA_VALIDITY
}

/// The validity of the first certificate in `cert_pem`: (not before, not after), in
/// seconds since the Unix epoch.
pub fn cert_validity(cert_pem: &str) -> Result<(i64, i64), AuthError> {
    let der = parse_cert_pem("certificate", cert_pem)?;
    let (_, certificate) =
        x509_parser::parse_x509_certificate(&der).map_err(|error| AuthError::InvalidPem {
            what: "certificate",
            reason: error.to_string(),
        })?;
    let validity = certificate.validity();
    Ok((
        validity.not_before.timestamp(),
        validity.not_after.timestamp(),
    ))
}

/// The fingerprint of every certificate in a PEM bundle, in order.
pub fn bundle_fingerprints(pem: &str) -> Result<Vec<String>, AuthError> {
    let certificates = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| AuthError::InvalidPem {
            what: "CA bundle",
            reason: error.to_string(),
        })?;
    Ok(certificates
        .iter()
        .map(|der| fingerprint_der(der))
        .collect())
}

/// SHA-256 of the DER of the first certificate in `cert_pem`, lower-case hex.
pub fn fingerprint_pem(cert_pem: &str) -> Result<String, AuthError> {
    Ok(fingerprint_der(&parse_cert_pem("certificate", cert_pem)?))
}

/// SHA-256 of a certificate's DER, lower-case hex (64 chars).
pub fn fingerprint_der(der: &[u8]) -> String {
    hex::encode(Sha256::digest(der))
}

pub(crate) fn parse_cert_pem(
    what: &'static str,
    pem: &str,
) -> Result<CertificateDer<'static>, AuthError> {
    CertificateDer::from_pem_slice(pem.as_bytes()).map_err(|error| AuthError::InvalidPem {
        what,
        reason: error.to_string(),
    })
}

fn node_params(node_id: NodeId, sans: &[String]) -> Result<CertificateParams, AuthError> {
    if sans.len() > SAN_COUNT_MAX {
        return Err(AuthError::TooManySans {
            count: sans.len(),
            max: SAN_COUNT_MAX,
        });
    }
    let mut params = leaf_params(node_common_name(node_id));
    let uri = node_uri(node_id).try_into().expect("a node URI is ASCII");
    params.subject_alt_names.push(SanType::URI(uri));
    for san in sans {
        params.subject_alt_names.push(san_type(san)?);
    }
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    Ok(params)
}

fn leaf_params(common_name_value: String) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = common_name(common_name_value);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.use_authority_key_identifier_extension = true;
    params.serial_number = Some(random_serial());
    set_validity(&mut params, LEAF_VALIDITY);
    params
}

fn san_type(san: &str) -> Result<SanType, AuthError> {
    if let Ok(ip) = san.parse::<IpAddr>() {
        return Ok(SanType::IpAddress(ip));
    }
    let dns_name_is_valid = !san.is_empty()
        && san
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"-.*".contains(&byte));
    if !dns_name_is_valid {
        return Err(AuthError::InvalidSan {
            san: san.to_owned(),
        });
    }
    let dns_name = san.try_into().map_err(|_| AuthError::InvalidSan {
        san: san.to_owned(),
    })?;
    Ok(SanType::DnsName(dns_name))
}

fn common_name(value: String) -> DistinguishedName {
    let mut distinguished_name = DistinguishedName::new();
    distinguished_name.push(DnType::CommonName, value);
    distinguished_name
}

/// Random serials keep two certificates for the same key (a re-signed CSR) distinguishable.
fn random_serial() -> SerialNumber {
    let mut bytes = [0u8; SERIAL_BYTES];
    rand::fill(&mut bytes[..]);
    // A clear top bit keeps the DER integer positive without a padding byte.
    bytes[0] &= 0x7f;
    SerialNumber::from_slice(&bytes)
}

fn set_validity(params: &mut CertificateParams, validity: Duration) {
    let now = ASN1Time::now().timestamp();
    let not_before = now - NOT_BEFORE_BACKDATE.as_secs() as i64;
    let not_after = now + validity.as_secs() as i64;
    params.not_before = ASN1Time::from_timestamp(not_before)
        .expect("an hour ago is a representable time")
        .to_datetime();
    params.not_after = ASN1Time::from_timestamp(not_after)
        .expect("ten years from now is a representable time")
        .to_datetime();
}

// --- witness ---
impl ClusterCa {
    /// A certificate for the cluster's witness (CN "encluster-witness", a DNS SAN
    /// `server_name`), serverAuth only and without a node URI: it lets the witness answer
    /// the nodes, and is no node's identity on the peer listener.
    pub fn issue_witness(&self, server_name: &str) -> Result<CertifiedKey, AuthError> {
        let mut params = leaf_params("encluster-witness".to_owned());
        params.subject_alt_names.push(san_type(server_name)?);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key_pair = KeyPair::generate()?;
        let certificate = params.signed_by(&key_pair, &self.issuer)?;
        Ok(CertifiedKey {
            cert_pem: certificate.pem(),
            key_pem: key_pair.serialize_pem(),
        })
    }
}
