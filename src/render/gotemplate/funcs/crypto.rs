//! sprig's checksums (`sha1sum`, `sha256sum`, `adler32sum`), `decryptAES`, and the key,
//! certificate, password and encryption functions appset refuses.
//!
//! Stage: render (pure; no I/O).
//!
//! `decryptAES` is deterministic and runs as sprig's does, AES-256-CBC from aws-lc-rs, with the
//! errors of Go's panics on short or malformed input (text/template reports a function's panic
//! as its error).
//!
//! Refused: `bcrypt`, `htpasswd`, `derivePassword`, `genPrivateKey`, `buildCustomCert`, `genCA`,
//! `genCAWithKey`, `genSelfSignedCert`, `genSelfSignedCertWithKey`, `genSignedCert`,
//! `genSignedCertWithKey`, `encryptAES`. Argo CD allows them, but they generate keys,
//! certificates, salted hashes or a random IV, a new value on every render, so Argo CD itself
//! rewrites the Application on every reconcile with them. A template using one fails when it calls it,
//! with that reason; they keep Go's signatures, so a call with the wrong number of arguments
//! fails as in Go.

use minijinja::Value as J;

use super::encoding::{base64_decode, go_string};
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
    Func::new("decryptAES", 2, false, decrypt_aes),
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

/// sprig's `decryptAES password crypt64`: the key is the password's bytes in 32 zero bytes,
/// the text base64 with the IV first, AES-256-CBC, then as many bytes dropped as the last byte
/// says (unchecked). Go's runtime errors where sprig panics.
fn decrypt_aes(a: &[J]) -> Result<J, String> {
    use aws_lc_rs::cipher::{AES_256, DecryptingKey, DecryptionContext, UnboundCipherKey};
    use aws_lc_rs::iv::FixedLength;

    let (password, crypt64) = (str_at(a, 0), str_at(a, 1));
    if crypt64.is_empty() {
        return Ok(J::from(""));
    }
    let mut key = [0u8; 32];
    let n = password.len().min(key.len());
    key[..n].copy_from_slice(&password.as_bytes()[..n]);
    let crypt =
        base64_decode(crypt64.as_bytes()).map_err(|at| format!("illegal base64 data at input byte {at}"))?;
    // Go's DecodeString returns a slice of a buffer of DecodedLen bytes: `crypt[:16]` may reach
    // past the decoded bytes up to that capacity.
    let capacity = crypt64.len() / 4 * 3;
    if capacity < 16 {
        return Err(format!(
            "runtime error: slice bounds out of range [:16] with capacity {capacity}"
        ));
    }
    let Some((iv, body)) = crypt.split_first_chunk::<16>() else {
        return Err(format!(
            "runtime error: slice bounds out of range [16:{}]",
            crypt.len()
        ));
    };
    if body.len() % 16 != 0 {
        return Err("crypto/cipher: input not full blocks".to_string());
    }
    let mut decrypted = body.to_vec();
    let aes_failed = |_| "decryptAES: AES-256-CBC failed".to_string();
    let cipher =
        DecryptingKey::cbc(UnboundCipherKey::new(&AES_256, &key).map_err(aes_failed)?).map_err(aes_failed)?;
    cipher
        .decrypt(&mut decrypted, DecryptionContext::Iv128(FixedLength::from(*iv)))
        .map_err(aes_failed)?;
    let Some(&pad) = decrypted.last() else {
        return Err("runtime error: index out of range [-1]".to_string());
    };
    let end = decrypted.len() as i64 - i64::from(pad);
    match usize::try_from(end) {
        Ok(end) => Ok(J::from(go_string(&decrypted[..end]))),
        Err(_) => Err(format!("runtime error: slice bounds out of range [:{end}]")),
    }
}

/// Why a refused function does not run.
fn refusal(name: &str) -> String {
    format!(
        "{name} is not supported by appset: it makes a new key, certificate, salt or IV on \
         every render, so the Application would change on every reconcile"
    )
}
