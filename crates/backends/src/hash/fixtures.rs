//! Test fixtures: real hashes of one password, made by the system's own tools on Debian 12.
//!
//! Made with `mkpasswd -m <method> -s` (whois 5.5, libxcrypt 4.4.33), `crypt_gensalt` + `crypt`
//! through Python ctypes for methods mkpasswd does not offer (`$sha1$`, `$2y$`, bigcrypt),
//! `openssl passwd -apr1`, libargon2 1 (`argon2*_hash_encoded` through ctypes) and Python
//! `hashlib`/`base64` for the `{…}` digests.

use super::Scheme;

/// The password every fixture hashes: non-ASCII, a quote and a backslash.
pub const PASSWORD: &[u8] = "päss \"w\\rd".as_bytes();
/// A wrong password differing in its first character: DES crypt reads only the first eight.
pub const WRONG: &[u8] = "qäss \"w\\rd".as_bytes();

/// `mkpasswd -m yescrypt`.
pub const YESCRYPT: &str = "$y$j9T$xKHNO0sgqvtiEoFk8JV7d/$lq42etq2SxPO3.FRai/VDkyQZgZnKlL.MPgjeco7At0";
/// `mkpasswd -m sha-512`.
pub const SHA512_CRYPT: &str = "$6$cbR9Ot4PvNw7k9dL$su.p54UetPJqdIO9SXsZbpGqbNmPmTSrzy54vCu3V7fDaQIp4cMaUIwr5Lz.Rpi0gJygrx.2pg.yatmgmyDti1";
/// `mkpasswd -m md5`.
pub const MD5_CRYPT: &str = "$1$A5R8Eied$GJkh2KMtgkIFUtjkFMfTh1";
/// `openssl passwd -apr1 -salt abcdefgh`.
pub const APR1: &str = "$apr1$abcdefgh$.uW3r8dTkygf0CmPdulP61";
/// libargon2 `argon2id_hash_encoded(t=2, m=19456, p=1)`.
pub const ARGON2ID: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQxNmJ5dGVzIQ$xY7IlRUjDV8hGuVDdYjQIuK2M5c9IoX5Pz+HU5Gxl3g";

/// Every fixture with the scheme it must report.
pub const ALL: &[(&str, Scheme)] = &[
    (YESCRYPT, Scheme::Yescrypt),
    ("$y$j9T$jp.rGVjynYdVKwORHNW3G0$iAWsn5ipBW.dM9tCWaqdMts3tb9JD7qcDpfq5X9FBN0", Scheme::Yescrypt),
    ("$gy$j9T$BmsTxlgKEnXVGalkJB7Sg1$oep0/RGMSt7oSIirWpPKcI8YQDWuECaLD81IHiMxNW6", Scheme::GostYescrypt),
    ("$7$CU..../....89pC0WPL2lUZUQG5B5t/N.$0flFKpklENkmqmOR0sYXCu46Tug7wiRYNKD21WEowx.", Scheme::Scrypt),
    ("$sha1$219693$9Ax9ELT30fmNaVOW3t.k$unuKV7sIwwZDqr8KecrZljOnPxnG", Scheme::Sha1Crypt),
    ("$md5,rounds=66141$sr5bCpJq$$bYfx8rZK1/JmlFe.90.f6.", Scheme::SunMd5),
    (
        "$argon2i$v=19$m=4096,t=2,p=1$c29tZXNhbHQxNmJ5dGVzIQ$3exSavdXEVqX6V6QDH6i32J8CVMT6VcO548ZsXg8vbI",
        Scheme::Argon2i,
    ),
    (
        "$argon2d$v=19$m=4096,t=2,p=1$c29tZXNhbHQxNmJ5dGVzIQ$sYYOkNLZePZ/cyeT/opP/VQMt6tOf8wr6NVKQV2/d1Q",
        Scheme::Argon2d,
    ),
    (ARGON2ID, Scheme::Argon2id),
    (
        "{ARGON2ID}$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQxNmJ5dGVzIQ$xY7IlRUjDV8hGuVDdYjQIuK2M5c9IoX5Pz+HU5Gxl3g",
        Scheme::Argon2id,
    ),
    (
        "{argon2i}$argon2i$v=19$m=4096,t=2,p=1$c29tZXNhbHQxNmJ5dGVzIQ$3exSavdXEVqX6V6QDH6i32J8CVMT6VcO548ZsXg8vbI",
        Scheme::Argon2i,
    ),
    ("{CRYPT}$y$j9T$xKHNO0sgqvtiEoFk8JV7d/$lq42etq2SxPO3.FRai/VDkyQZgZnKlL.MPgjeco7At0", Scheme::Yescrypt),
    (
        "{crypt}$6$cbR9Ot4PvNw7k9dL$su.p54UetPJqdIO9SXsZbpGqbNmPmTSrzy54vCu3V7fDaQIp4cMaUIwr5Lz.Rpi0gJygrx.2pg.yatmgmyDti1",
        Scheme::Sha512Crypt,
    ),
    ("{UNIX}Pztt1b690WDvU", Scheme::DesCrypt),
    ("{BLF-CRYPT}$2y$05$zyAHqb2HnxKJJyZ9P4uogurOgtdtlP0nqJOwNkLpzuAzalea0ziZq", Scheme::Bcrypt),
    ("{CRYPT}$apr1$HWa0rryY$SsCmAsqn4sIdpKQLZaKgW1", Scheme::Apr1),
    ("{MD5}$1$A5R8Eied$GJkh2KMtgkIFUtjkFMfTh1", Scheme::Md5Crypt),
    ("$2y$05$zyAHqb2HnxKJJyZ9P4uogurOgtdtlP0nqJOwNkLpzuAzalea0ziZq", Scheme::Bcrypt),
    ("$2b$05$R4WShlbCDKUWMOtc0h8NEu1THEe8eQGzuzYQfAVQpf.HgR.fo3lMK", Scheme::Bcrypt),
    ("$2b$05$dtbfHEYUy92T1obAhqneeOe8IcSQSQQwxLmUJryYd5Wg7FEPXMzwK", Scheme::Bcrypt),
    ("$2a$05$y43uDRyb/iJM3lHmA/owS.FnxVHz8CzhIBU3Bh0f9x6qEqKsSsJoW", Scheme::Bcrypt),
    ("$gy$j9T$GL/6rk.AsAJFice9b2sg/0$kZSP9fNhJvvVLWXiLw1yK0QTnarEiNkLr04E1wkvY5.", Scheme::GostYescrypt),
    ("$7$CU..../....j7eWMj9jsn17gCMf38sL30$jjqwAhPQYPTl3BNE4bw.knixnk9F/N7sniXGLg8AqjC", Scheme::Scrypt),
    ("$md5,rounds=97081$rJ68gLRy$$jIjk7N3plIGh98B8uKz.2.", Scheme::SunMd5),
];

/// Fixtures cheap enough to check hundreds of times in a property test.
pub const FAST: &[(&str, Scheme)] = &[
    (SHA512_CRYPT, Scheme::Sha512Crypt),
    (
        "$6$oVtIMsfEUs56m0lA$Y47Ma8ukKyKUySSaJ0FB6Y33ZFUtKgzMukIdVBSsbhiVoWOy8B/LK2DLthQKikUbUU3Ddgew0AM0gN0/dk4uB0",
        Scheme::Sha512Crypt,
    ),
    (
        "$6$rounds=7000$W8PFh7zQVuBEuUDr$vgvNIhUU8GKSKPcOcwWn35HRxz9T.32hpOakLj7C6NEswOdGd1d3mu5kCaoabIoZjBUDtbTiNJCGf16v550I1/",
        Scheme::Sha512Crypt,
    ),
    ("$5$n.Hcv77Qba.lBu0t$OilXlKbDPzpxmLEvHTPzacUxaS9t4SG6pbyP4FZf0PC", Scheme::Sha256Crypt),
    ("$5$F8F6.OUJmFfqD.Hm$vB/ku6H0rFAKD7Ia0oEN2cendYr6UN4la.E2bnf3nD/", Scheme::Sha256Crypt),
    (
        "{SHA512-CRYPT}$6$s7FnlyCuvqBHE.d0$KVfuIUdpwhez1o/GSx16nXhTjMA1CggrSWFuO2qfdtJ2C7EIJpOg8KcC6fzucmhHbFOoJhrnPe4N9Pf81kSFk/",
        Scheme::Sha512Crypt,
    ),
    ("{SHA256-CRYPT}$5$tv.bMVEmBx51pxtu$EQg6AkcO78cCdcgWiViEw8g01KpyhMTcyVCAsoGPhZ4", Scheme::Sha256Crypt),
    (MD5_CRYPT, Scheme::Md5Crypt),
    ("{MD5-CRYPT}$1$ewPim.hI$VKozwZSo7qhqAhxCjdp941", Scheme::Md5Crypt),
    (APR1, Scheme::Apr1),
    ("$apr1$HWa0rryY$SsCmAsqn4sIdpKQLZaKgW1", Scheme::Apr1),
    ("Pztt1b690WDvU", Scheme::DesCrypt),
    ("H3hPrdHppHsbs", Scheme::DesCrypt),
    ("{DES-CRYPT}sn9SEBLusufTY", Scheme::DesCrypt),
    ("XyCsh2Y7FPowQ4nD9IjNCuk2", Scheme::BigCrypt),
    ("_J9..DZ94tF/qwEdSck2", Scheme::BsdiCrypt),
    ("_J9..nNQYyFlQ2D9ACbk", Scheme::BsdiCrypt),
    ("$3$$ed32a3a025d3fcc67647dc15c89ffec9", Scheme::NtHash),
    ("{SSHA}HdWhtVFFZtvlce4DMouRfhcMZPlzYWx0", Scheme::Ssha),
    ("{ssha}HdWhtVFFZtvlce4DMouRfhcMZPlzYWx0", Scheme::Ssha),
    ("{SSHA256}ua+uWCGe9LiFekeXz6b1fFLzwMFl5jpTExemWGHQllNzNGx0OGJ5dA==", Scheme::Ssha256),
    (
        "{SSHA512}x6eqzfFgjFphpw01dtjMZAk6cJFtDrSJ1V3IVsy9eNJWU6pbk1UsdRk26w3BDh/R5oRO9uyTZa+6MJg+3Cc1wk5hQ2wxMjM0",
        Scheme::Ssha512,
    ),
    (
        "{SSHA512.HEX}c7a7aacdf1608c5a61a70d3576d8cc64093a70916d0eb489d55dc856ccbd78d25653aa5b93552c751936eb0dc10e1fd1e6844ef6ec9365afba30983edc2735c24e61436c31323334",
        Scheme::Ssha512,
    ),
    ("{SHA}0QajjbAxaNZGk7/cJu7i5MkzbLY=", Scheme::Sha),
    ("{SHA1}0QajjbAxaNZGk7/cJu7i5MkzbLY", Scheme::Sha),
    ("{SHA256}nhZoEx0Ihx3Kfjcg/PBaZUedrcZl5h6QX4+P4myDz7k=", Scheme::Sha256),
    ("{SHA256.hex}9e1668131d08871dca7e3720fcf05a65479dadc665e61e905f8f8fe26c83cfb9", Scheme::Sha256),
    ("{SHA256}9e1668131d08871dca7e3720fcf05a65479dadc665e61e905f8f8fe26c83cfb9", Scheme::Sha256),
    (
        "{SHA512}W+9K3OGWBaYIoto/n2dt5g6G7nB3ZcCTVHBlQRDCqtjJUsA5Kc3/yxIAKFzn6070UGig1EttaZvo73QkUxouJQ==",
        Scheme::Sha512,
    ),
    ("{MD5}xc13gj1tZtG+kZFW58UTsg==", Scheme::Md5),
    ("{LDAP-MD5}xc13gj1tZtG+kZFW58UTsg==", Scheme::Md5),
    ("{PLAIN-MD5}c5cd77823d6d66d1be919156e7c513b2", Scheme::Md5),
    ("{SMD5}8I7h6StbRZSex6Sdgv8y7XNh", Scheme::Smd5),
    ("{PLAIN}päss \"w\\rd", Scheme::Plain),
    ("{CLEARTEXT}päss \"w\\rd", Scheme::Plain),
    ("{Plain.B64}cMOkc3MgIndccmQ=", Scheme::Plain),
    ("{PLAIN.HEX}70c3a473732022775c7264", Scheme::Plain),
];
