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


def conf_seeds():
    write("conf_file", "ldap-bind", b"""# saslauthd.conf
ldap_servers: ldap://127.0.0.1:3890/ ldaps://ldap2.example.org/
ldap_bind_dn: cn=sasl,dc=example,dc=org
ldap_bind_pw: s3cr:et
ldap_search_base: ou=people,dc=%2,dc=%1
ldap_filter: (&(objectClass=posixAccount)(uid=%U))
ldap_timeout: 3
ldap_tls_check_peer: yes
ldap_tls_cacert_file: /etc/ssl/certs/ca.pem
""")
    write("conf_file", "ldap-fastbind-groups", b"""ldap_auth_method: fastbind
ldap_filter: uid=%u,ou=people,dc=example,dc=org
ldap_group_dn: cn=mail,ou=groups,dc=example,dc=org
ldap_group_attr: memberUid
ldap_group_match_method: attr
ldap_scope: one
ldap_deref: search
ldap_password: other
LDAP_Start_TLS: on\r
ldap_pool_size: 2
""")
    write("conf_file", "ldap-custom-filter-group", b"""  ldap_auth_method: custom
ldap_password_attr: userPassword
ldap_group_filter: (&(cn=mail)(member=%D))
ldap_group_match_method: filter
ldap_group_search_base: ou=groups,dc=example
ldap_default_realm: example.org
ldap_use_sasl: no
ldap_version: 3
ldap_failback_interval: 10
unknown_key: kept
""")
    write("conf_file", "sql-mysql", b"""sql_engine: mysql
sql_hostnames: db1:3307, [::1]:3306 ,/run/mysqld/mysqld.sock, db2
sql_user: sasl
sql_passwd: s3cret
sql_database: mail
sql_select: SELECT password FROM mailbox WHERE username = '%u@%r' AND active = 1
sql_password_scheme: plain
sql_usessl: yes
sql_pool_size: 4
sql_timeout: 0.5
sql_retry_interval: 20
""")
    write("conf_file", "sql-pgsql", b"""sql_engine: pgsql
sql_hostnames: localhost
sql_database: mail
sql_select: SELECT p FROM users WHERE u = '%U' AND d = '%d'
sql_tls: verify-full
sql_default_realm: example.org
""")
    write("conf_file", "sql-sqlite", b"sql_engine: sqlite\nsql_database: /var/lib/mail.db\nsql_select: SELECT p FROM t WHERE u = '%u'\n")
    write("conf_file", "syntax-errors", b"ldap_servers: x\nno colon here\n")


def sql_select_seeds():
    mysql, pgsql, sqlite = b"\x00", b"\x01", b"\x02"
    write("sql_select", "cyrus", mysql + b"SELECT password FROM mailbox WHERE username = '%u@%r' AND active = 1")
    write("sql_select", "pgsql-two", pgsql + b"SELECT p FROM t WHERE u = '%U' AND d = '%d' AND s = 'x'")
    write("sql_select", "every-macro", sqlite + b"SELECT '%u|%U|%d|%r|%s|%%|it''s'")
    write("sql_select", "mysql-escapes", mysql + rb"SELECT p FROM `t` WHERE a = 'it\'s ''x''' AND u = '%u'")
    write("sql_select", "pgsql-identifiers", pgsql + rb"""SELECT "p" FROM t WHERE a = 'c:\' AND u = '%u'""")
    write("sql_select", "refused", mysql + b"SELECT p FROM t WHERE u = %u OR v = ? OR w = '%x'")


def rimap_target_seeds():
    for name, option in [
        ("host", "mail.example.org"),
        ("slash-port", "127.0.0.1/14143"),
        ("colon-port", "127.0.0.1:14143"),
        ("service-name", "host/imaps"),
        ("v6-bracket", "[::1]:1143"),
        ("v6-bare", "fe80::1"),
        ("imaps-options", "imaps://mail.example.org:993/?ca_file=/etc/ssl/ca%20x.pem&tls_name=n.example&timeout=2.5"),
        ("starttls", "imap://[::1]:1143?starttls=yes&connect_timeout=1&read_timeout=7"),
        ("refused", "imap://u:p@h/INBOX?starttls=maybe"),
    ]:
        write("rimap_target", name, option.encode())


def ldap_expand_seeds():
    # Flags: bit 0 = DN (else filter), bit 1 = a user DN is known.
    def seed(name, flags, template, login, service=b"smtp", realm=b"example.org", dn=b""):
        fields = (template, login, service, realm, dn)
        write("ldap_expand", name, bytes([flags]) + b"".join(bytes([len(f)]) + f for f in fields))
    seed("filter-uid", 0, b"(uid=%u)", b"*)(uid=*")
    seed("filter-and", 0, b"(&(objectClass=person)(mail=%U@%d)(o=%1.%2)%R)", rb"jo\e@mail.example.org")
    seed("filter-member", 2, b"(&(cn=%s)(member=%D))", b"joe", dn=b"uid=jo*e,dc=x")
    seed("dn-uid", 1, b"uid=%U,ou=%d,dc=%2,dc=%1", b' #a+b,c=d;<>"@x.org ')
    seed("dn-user-dn", 3, b"cn=%s,%D", b"joe", dn=b"uid=joe,dc=example,dc=org")
    seed("tokens", 0, b"%u|%U|%d|%r|%R|%s|%%|%x|%1|%2|%3|%4|100%", b"alice@mail.example.org", realm=b"realm.test")
    # Accepted by the start-up check: these must parse for every request.
    seed("checked-substring", 0, b"(|(uid=*%u)(mail=%U@%d*))", b"", realm=b"")
    seed("checked-dn-v2", 1, b'cn="%u, x" ; OID.2.5.4.3 = #0a0b + dc=%1', b"a,b@c.d")
    seed("checked-group-base", 3, b"ou=groups,%D", b"joe", dn=b"uid=joe,dc=example,dc=org")


def imap_login_seeds():
    # Mode: 0 synchronizing literals only, 1 LITERAL+, 2 LITERAL-.
    def seed(name, mode, login, password):
        write("imap_login", name, bytes([mode, len(login)]) + login + password)
    seed("atoms", 0, b"joe", b"hunter2")
    seed("quoted", 1, b"joe@example.org", rb'p"w\d two')
    seed("empty", 2, b"joe", b"")
    seed("8bit-sync", 0, "jörg".encode(), "päss".encode())
    seed("8bit-plus", 1, b"joe", "grüße {5}".encode())
    seed("literal-minus-4097", 2, b"joe", b"\xe9" * 4097)
    seed("crlf-refused", 0, b"joe", b"pw\r\na9 LOGOUT")
    seed("atom-ending-in-brace", 1, "jö".encode(), b"or5}")


def control_protocol_seeds():
    # First byte even: a request line as the daemon reads it; odd: a response as the client reads it.
    write("control_protocol", "request", b"\0saslauthd-control/1\tflush-cache\tjoe\texample.org")
    write("control_protocol", "response-ok",
          b"\1saslauthd-control/1\tOK\npenalty\tkind=user\tkey=#0a1b2c3d4e5f\tfailures=3"
          b"\tdelay_seconds=8\tforget_in_seconds=893\nEND\n")
    write("control_protocol", "response-err",
          b"\1saslauthd-control/1\tERR\toff\tthe credential cache is off\\t(-c)\nEND\n")


if __name__ == "__main__":
    frame_seeds()
    passwd_seeds(hash_seeds())
    conf_seeds()
    sql_select_seeds()
    rimap_target_seeds()
    ldap_expand_seeds()
    imap_login_seeds()
    control_protocol_seeds()
