//! Shadow aging fields and the two expiry checks Cyrus makes after a correct password.

use crate::Reject;
use std::time::{SystemTime, UNIX_EPOCH};

/// The shadow(5) aging fields Cyrus looks at, in days since 1970-01-01; `None` = empty field
/// (`-1` from `getspnam_r`). `sp_min`, `sp_warn` and `sp_inact` are ignored, as in Cyrus.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Aging {
    /// `sp_lstchg`: day of the last password change (`0` = must change at next login).
    pub last_change: Option<i64>,
    /// `sp_max`: days a password stays valid after its last change.
    pub max_age: Option<i64>,
    /// `sp_expire`: day the account expires.
    pub expire: Option<i64>,
}

/// Days since 1970-01-01 in UTC, as Cyrus computes it (`time(NULL) / 86400`).
pub fn today() -> i64 {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    i64::try_from(secs / 86_400).unwrap_or(i64::MAX)
}

/// Why an account whose password was right may not log in on day `today`, if it may not.
///
/// Cyrus's rules, in its order (reference §3.1): the account is expired when `today > expire`,
/// so `expire = 0` (which `usermod -e 1970-01-01` and some tools write to lock an account)
/// counts as expired; the password is expired when `last_change + max_age < today`, with
/// `last_change = 0` not special beyond that sum.
pub fn check(aging: Aging, today: i64) -> Option<Reject> {
    if aging.expire.is_some_and(|expire| today > expire) {
        return Some(Reject::AccountExpired);
    }
    if let (Some(changed), Some(max)) = (aging.last_change, aging.max_age) {
        // Saturating: a huge max (99999 is the usual "never") must not wrap into the past.
        if changed.saturating_add(max) < today {
            return Some(Reject::PasswordExpired);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const TODAY: i64 = 20_000;

    fn aging(last_change: Option<i64>, max_age: Option<i64>, expire: Option<i64>) -> Aging {
        Aging { last_change, max_age, expire }
    }

    #[test]
    fn empty_fields_never_expire() {
        assert_eq!(check(Aging::default(), TODAY), None);
        assert_eq!(check(aging(Some(TODAY - 10), None, None), TODAY), None);
        assert_eq!(check(aging(None, Some(1), None), TODAY), None);
    }

    #[test]
    fn account_expires_the_day_after_sp_expire() {
        assert_eq!(check(aging(None, None, Some(TODAY)), TODAY), None);
        assert_eq!(check(aging(None, None, Some(TODAY + 1)), TODAY), None);
        assert_eq!(check(aging(None, None, Some(TODAY - 1)), TODAY), Some(Reject::AccountExpired));
    }

    #[test]
    fn expire_zero_counts_as_expired() {
        assert_eq!(check(aging(None, None, Some(0)), TODAY), Some(Reject::AccountExpired));
    }

    #[test]
    fn password_expires_when_last_change_plus_max_is_before_today() {
        assert_eq!(check(aging(Some(TODAY - 30), Some(30), None), TODAY), None);
        assert_eq!(check(aging(Some(TODAY - 31), Some(30), None), TODAY), Some(Reject::PasswordExpired));
        assert_eq!(check(aging(Some(TODAY), Some(0), None), TODAY), None);
        assert_eq!(check(aging(Some(TODAY - 10), Some(99_999), None), TODAY), None);
        assert_eq!(check(aging(Some(TODAY), Some(i64::MAX), None), TODAY), None);
    }

    #[test]
    fn last_change_zero_is_only_special_through_max() {
        assert_eq!(check(aging(Some(0), None, None), TODAY), None);
        assert_eq!(check(aging(Some(0), Some(99_999), None), TODAY), None);
        assert_eq!(check(aging(Some(0), Some(90), None), TODAY), Some(Reject::PasswordExpired));
    }

    #[test]
    fn account_expiry_is_reported_before_password_expiry() {
        assert_eq!(check(aging(Some(0), Some(1), Some(1)), TODAY), Some(Reject::AccountExpired));
    }

    #[test]
    fn today_is_after_2024() {
        // 2024-01-01 is day 19723.
        assert!(today() > 19_723);
    }
}
