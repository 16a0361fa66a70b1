//! sprig's checksums (`sha1sum`, `sha256sum`, `adler32sum`) and the key, certificate, password
//! and encryption functions appset refuses.
//!
//! Stage: render (pure; no I/O).
//!
//! Refused: `bcrypt`, `htpasswd`, `derivePassword`, `genPrivateKey`, `buildCustomCert`, `genCA`,
//! `genCAWithKey`, `genSelfSignedCert`, `genSelfSignedCertWithKey`, `genSignedCert`,
//! `genSignedCertWithKey`, `encryptAES`, `decryptAES`. Argo CD allows them, but they generate
//! keys, certificates or salted hashes, a new value on every render, so Argo CD itself rewrites
//! the Application on every reconcile with them. A template using one fails when it calls it,
//! with that reason; they keep Go's signatures, so a call with the wrong number of arguments
//! fails as in Go.

use minijinja::Value as J;

use super::{Func, str_at};

/// A refused function: Go's signature, and an error when called.
macro_rules! refused {
    ($name:literal, $fixed:literal, $variadic:literal) => {
        Func::new($name, $fixed, $variadic, |_| Err(refusal($name)))
    };
}

pub(super) const FUNCS: &[Func] = &[
    Func::new("adler32sum", 1, false, adler32sum),
    Func::new("sha1sum", 1, false, sha1sum),
    Func::new("sha256sum", 1, false, sha256sum),
    refused!("bcrypt", 1, false),
    refused!("buildCustomCert", 2, false),
    refused!("decryptAES", 2, false),
    refused!("derivePassword", 5, false),
    refused!("encryptAES", 2, false),
    refused!("genCA", 2, false),
    refused!("genCAWithKey", 3, false),
    refused!("genPrivateKey", 1, false),
    refused!("genSelfSignedCert", 4, false),
    refused!("genSelfSignedCertWithKey", 5, false),
    refused!("genSignedCert", 5, false),
    refused!("genSignedCertWithKey", 6, false),
    refused!("htpasswd", 2, false),
];

fn sha256sum(a: &[J]) -> Result<J, String> {
    use sha2::Digest as _;
    Ok(J::from(hex::encode(sha2::Sha256::digest(
        str_at(a, 0).as_bytes(),
    ))))
}

fn sha1sum(a: &[J]) -> Result<J, String> {
    Ok(J::from(sha1_smol::Sha1::from(str_at(a, 0)).digest().to_string()))
}

fn adler32sum(a: &[J]) -> Result<J, String> {
    let mut h = adler2::Adler32::new();
    h.write_slice(str_at(a, 0).as_bytes());
    Ok(J::from(h.checksum().to_string()))
}

/// Why a refused function does not run.
fn refusal(name: &str) -> String {
    format!(
        "{name} is not supported by appset: it makes a new key, certificate or salt on \
         every render, so the Application would change on every reconcile"
    )
}
