#!/usr/bin/env python3
"""Write the committed seed corpora under fuzz/seeds/ (run from anywhere; needs libcrypt.so.1).

Seeds are starting points, not tests: small, one per interesting shape. The hash seeds use cheap
settings (the fuzz targets skip expensive ones) and the password "pw".
"""
import base64, ctypes, hashlib, os, struct

HERE = os.path.dirname(os.path.abspath(__file__))
PW = b"pw"


def counted(*fields):
    return b"".join(struct.pack(">H", len(f)) + f for f in fields)


def write(target, name, data):
    d = os.path.join(HERE, "seeds", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def frame_seeds():
    limit = struct.pack(">H", 256)
    # `testsaslauthd -u joe -p pw -s imap` as Cyrus's client sends it (reference §1.2).
    cyrus = bytes.fromhex("00036a6f65000270770004696d61700000")
    assert cyrus == counted(b"joe", b"pw", b"imap", b"")
    write("frame_decode", "cyrus-4-fields", limit + cyrus)
    write("frame_decode", "5-fields", limit + counted(b"joe", b"pw", b"smtp", b"example.org", b"192.0.2.1;25"))
    write("frame_decode", "5th-partial", limit + counted(b"joe", b"pw", b"smtp", b"") + b"\x00\x0c192")
    write("frame_decode", "257-password", limit + counted(b"joe", b"p" * 257, b"imap", b""))
    write("frame_decode", "256-password", limit + counted(b"joe", b"p" * 256, b"imap", b""))
    write("frame_decode", "truncated", limit + cyrus[:9])
    write("frame_decode", "pipelined", limit + cyrus + cyrus)
    write("frame_decode", "limit-1", struct.pack(">H", 1) + counted(b"j", b"p", b"i", b""))


def crypt_hashes():
    lib = ctypes.CDLL("libcrypt.so.1")
    lib.crypt.restype = ctypes.c_char_p
    lib.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    lib.crypt_gensalt.restype = ctypes.c_char_p
    lib.crypt_gensalt.argtypes = [ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p, ctypes.c_int]
    settings = {
        "yescrypt": b"$y$j/.$abcdefghijklmnop",  # N = 4, r = 1: far below the default j9T
        "gost-yescrypt": b"$gy$j/.$abcdefghijklmnop",
        "scrypt": b"$7$6/..../..../abcdefgh",
        "bcrypt": lib.crypt_gensalt(b"$2b$", 4, None, 0),
        "sha512-crypt": b"$6$saltsalt",
        "sha512-crypt-rounds": b"$6$rounds=1000$saltsalt",
        "sha256-crypt": b"$5$saltsalt",
        "md5-crypt": b"$1$saltsalt",
        "sha1-crypt": lib.crypt_gensalt(b"$sha1$", 1000, None, 0),
        "sun-md5": b"$md5,rounds=100$saltsalt$",
        "des-crypt": b"ab",
        "bsdi-crypt": b"_/...salt",
        "nt-hash": b"$3$",
    }
    return {name: lib.crypt(PW, s).decode() for name, s in settings.items()}


def hash_seeds():
    b64 = lambda b: base64.b64encode(b).decode()
    salt = b"saltsalt"
    stored = crypt_hashes()
    stored.update({
        # libargon2 argon2*_hash_encoded(t=1, m=8, p=1, "pw", "somesalt16bytes!", 16)
        "argon2id": "$argon2id$v=19$m=8,t=1,p=1$c29tZXNhbHQxNmJ5dGVzIQ$TkQNFtDrdot9JcdPPDn8lA",
        "argon2i": "$argon2i$v=19$m=8,t=1,p=1$c29tZXNhbHQxNmJ5dGVzIQ$OipFD+dIFPq7SCINsw/x7w",
        "argon2d": "$argon2d$v=19$m=8,t=1,p=1$c29tZXNhbHQxNmJ5dGVzIQ$L94gveHCgcAdyMnzClO0Tw",
        "apr1": "$apr1$abcdefgh$5VEbMkemELfbhC5ck.U.z1",  # openssl passwd -apr1 -salt abcdefgh pw
        "plain": "{PLAIN}pw",
        "plain-hex": "{PLAIN.HEX}7077",
        "plain-b64": "{CLEARTEXT.B64}" + b64(PW),
        "md5": "{MD5}" + b64(hashlib.md5(PW).digest()),
        "plain-md5": "{PLAIN-MD5}" + hashlib.md5(PW).hexdigest(),
        "smd5": "{SMD5}" + b64(hashlib.md5(PW + salt).digest() + salt),
        "sha": "{SHA}" + b64(hashlib.sha1(PW).digest()),
        "ssha": "{SSHA}" + b64(hashlib.sha1(PW + salt).digest() + salt),
        "sha256": "{SHA256}" + b64(hashlib.sha256(PW).digest()),
        "ssha256": "{SSHA256}" + b64(hashlib.sha256(PW + salt).digest() + salt),
        "sha512": "{SHA512}" + b64(hashlib.sha512(PW).digest()),
        "ssha512-hex": "{SSHA512.HEX}" + (hashlib.sha512(PW + salt).digest() + salt).hex(),
        "locked": "!$6$saltsalt$x",
        "star": "*",
    })
    stored["crypt-braced"] = "{CRYPT}" + stored["sha512-crypt"]
    stored["blf-crypt"] = "{BLF-CRYPT}" + stored["bcrypt"]
    stored["argon2id-braced"] = "{ARGON2ID}" + stored["argon2id"]
    for name, value in stored.items():
        write("hash_verify", name, bytes([len(PW)]) + PW + value.encode())
    return stored


def passwd_seeds(stored):
    def seed(name, login, text):
        write("passwd_file", name, bytes([len(login)]) + login + text)
    seed("htpasswd", b"alice", b"alice:{SSHA}" + stored["ssha"][6:].encode() + b"\nbob:{PLAIN}pw\n")
    seed("dovecot", b"bob", b"# users\n\nbob:{PLAIN}pw:1000:1000::/home/bob::\r\nalice:{SHA}x\n")
    seed("first-wins", b"carol", b"carol:{PLAIN}pw\ncarol:{PLAIN}other\n")
    seed("malformed", b"dave", b"nohash\n:orphan\n\xff\xfe:{PLAIN}pw\ndave:" + stored["des-crypt"].encode() + b"\n")


if __name__ == "__main__":
    frame_seeds()
    passwd_seeds(hash_seeds())
