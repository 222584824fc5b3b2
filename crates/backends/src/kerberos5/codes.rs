//! The com_err codes of MIT libkrb5 (`<krb5/krb5.h>`, krb5 1.20) that the mechanism tells apart:
//! which failures mean "wrong credentials" (`NO`) and which mean "cannot decide" (tempfail). libkrb5
//! exports them only as C macros, so they are spelled out here, once, for the password check and the
//! keytab check.

pub const KDC_ERR_NAME_EXP: i32 = -1765328383;
pub const KDC_ERR_C_PRINCIPAL_UNKNOWN: i32 = -1765328378;
pub const KDC_ERR_NULL_KEY: i32 = -1765328375;
pub const KDC_ERR_POLICY: i32 = -1765328372;
pub const KDC_ERR_CLIENT_REVOKED: i32 = -1765328366;
pub const KDC_ERR_CLIENT_NOTYET: i32 = -1765328363;
pub const KDC_ERR_KEY_EXP: i32 = -1765328361;
pub const KDC_ERR_PREAUTH_FAILED: i32 = -1765328360;
pub const KDC_ERR_PREAUTH_REQUIRED: i32 = -1765328359;
pub const AP_ERR_BAD_INTEGRITY: i32 = -1765328353;
pub const AP_ERR_BADKEYVER: i32 = -1765328340;
pub const PARSE_ILLCHAR: i32 = -1765328251;
pub const PARSE_MALFORMED: i32 = -1765328250;
pub const REALM_UNKNOWN: i32 = -1765328230;
pub const KT_NOTFOUND: i32 = -1765328203;
pub const PREAUTH_FAILED: i32 = -1765328174;
pub const ERR_HOST_REALM_UNKNOWN: i32 = -1765328167;
pub const REALM_CANT_RESOLVE: i32 = -1765328164;
pub const KT_KVNONOTFOUND: i32 = -1765328154;
