//! Passwords for locked-down mode (the `password` setting): a GRUB PBKDF2 string as
//! `grub-mkpasswd-pbkdf2` prints it, `grub.pbkdf2.sha512.ITERATIONS.SALT_HEX.HASH_HEX`
//! (grub-core/commands/password_pbkdf2.c stores the same fields), so one tool makes
//! passwords for both loaders. Pure: parsing and constant-time verification.

/// A parsed `grub.pbkdf2.sha512.…` password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordHash {
    iterations: u32,
    salt: Vec<u8>,
    hash: Vec<u8>,
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || s.is_empty() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Most PBKDF2 iterations accepted (a hostile file must not stall the menu for hours).
pub const MAX_ITERATIONS: u32 = 10_000_000;

impl PasswordHash {
    /// Parses `grub.pbkdf2.sha512.ITER.SALT.HASH`.
    pub fn parse(s: &str) -> Result<PasswordHash, String> {
        let parts: Vec<&str> = s.trim().split('.').collect();
        let [grub, pbkdf2, sha512, iter, salt, hash] = parts.as_slice() else {
            return Err(
                "password must be grub.pbkdf2.sha512.ITERATIONS.SALT.HASH (grub-mkpasswd-pbkdf2)"
                    .into(),
            );
        };
        if (*grub, *pbkdf2, *sha512) != ("grub", "pbkdf2", "sha512") {
            return Err(format!(
                "password: only grub.pbkdf2.sha512 hashes are supported, not {grub}.{pbkdf2}.{sha512}"
            ));
        }
        let iterations: u32 = iter
            .parse()
            .map_err(|_| format!("password: iteration count '{iter}' is not a number"))?;
        if iterations == 0 || iterations > MAX_ITERATIONS {
            return Err(format!(
                "password: iteration count {iterations} is not between 1 and {MAX_ITERATIONS}"
            ));
        }
        let salt = unhex(salt).ok_or("password: salt is not hexadecimal")?;
        let hash = unhex(hash).ok_or("password: hash is not hexadecimal")?;
        if hash.len() > 64 {
            return Err("password: hash is longer than SHA-512's 64 bytes".into());
        }
        Ok(PasswordHash {
            iterations,
            salt,
            hash,
        })
    }

    /// True when `password` matches (compared in constant time).
    pub fn verify(&self, password: &str) -> bool {
        let mut out = vec![0u8; self.hash.len()];
        pbkdf2::pbkdf2_hmac::<sha2::Sha512>(
            password.as_bytes(),
            &self.salt,
            self.iterations,
            &mut out,
        );
        out.iter()
            .zip(&self.hash)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Made with grub-mkpasswd-pbkdf2 semantics: PBKDF2-HMAC-SHA512("leap", salt, 1000).
    fn sample() -> String {
        let salt = b"0123456789abcdef";
        let mut out = [0u8; 64];
        pbkdf2::pbkdf2_hmac::<sha2::Sha512>(b"leap", salt, 1000, &mut out);
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02X}")).collect::<String>();
        format!("grub.pbkdf2.sha512.1000.{}.{}", hex(salt), hex(&out))
    }

    #[test]
    fn verifies_right_password_only() {
        let h = PasswordHash::parse(&sample()).unwrap();
        assert!(h.verify("leap"));
        assert!(!h.verify("leap "));
        assert!(!h.verify(""));
    }

    #[test]
    fn rejects_malformed_strings() {
        for bad in [
            "",
            "grub.pbkdf2.sha256.1.00.00",
            "grub.pbkdf2.sha512.x.00.00",
            "grub.pbkdf2.sha512.0.00.00",
            "grub.pbkdf2.sha512.1.0g.00",
            "grub.pbkdf2.sha512.99999999999.00.00",
        ] {
            assert!(PasswordHash::parse(bad).is_err(), "{bad}");
        }
    }

    /// A published vector: RFC 6070-style PBKDF2-HMAC-SHA512("password", "salt", 1),
    /// first 16 bytes 867f70cf1ade02cf f3752599a3a53dc4.
    #[test]
    fn pbkdf2_sha512_vector() {
        let h =
            PasswordHash::parse("grub.pbkdf2.sha512.1.73616c74.867f70cf1ade02cff3752599a3a53dc4")
                .unwrap();
        assert!(h.verify("password"));
    }
}
