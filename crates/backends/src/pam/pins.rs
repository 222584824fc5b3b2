//! Keeping each PAM service's modules loaded between transactions.
//!
//! Linux-PAM `dlopen`s a service's modules in every `pam_start` and `dlclose`s them in every
//! `pam_end` (libpam pam_handlers.c `_pam_load_module` / `_pam_free_handlers`). With nothing else
//! holding them, the last `pam_end` unmaps them and the next `pam_start` maps, relocates and
//! initialises them again: mmap/munmap then dominate a `pam_permit` transaction (about 10× slower,
//! `../shared/bench/pamceiling.c` with and without `PIN=1`). Cyrus pays this on every request.
//!
//! A [`Pins`] holds one extra handle per service seen ("pin"): `pam_start` only, never
//! `pam_authenticate` or any other call that runs a module, with a conversation that answers
//! nothing. Its only effect is the `dlopen` reference count, so the transactions' own `dlopen`s
//! find the modules already mapped. Every transaction still has its own handle: no item, data or
//! conversation is shared between requests. A pin is only started and ended, each under exclusive
//! ownership, so libpam's handles never see concurrent use.
//!
//! The stack *file* is still read by every `pam_start`, so an edited stack (permit → deny) takes
//! effect at once. What a pin does hold is the module code: a module `.so` replaced on disk (a
//! package upgrade) is only mapped anew once the pins are dropped, i.e. at SIGHUP, which builds a
//! new verifier and drops the old one with its pins.

use super::ffi::{
    PAM_CONV_ERR, PAM_SUCCESS, PamConv, PamHandle, PamMessage, PamResponse, pam_end, pam_start,
    pam_start_confdir,
};
use libc::{c_int, c_void};
use lru::LruCache;
use std::ffi::{CStr, CString};
use std::num::NonZeroUsize;
use std::ptr;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// How many services keep their modules loaded at most; beyond, the least recently used pin is
/// ended. Bounds what a client can make us hold by naming many services (any unknown name is a
/// valid, `other`-stack, service to libpam); real deployments use a handful.
pub const MAX_PINNED_SERVICES: usize = 64;

/// One service's pin: a started handle that is never used, ended on drop.
struct Pin {
    raw: *mut PamHandle,
}

// SAFETY: the handle is owned exclusively by this value and only ever passed to `pam_end` (once,
// on drop); libpam handles are not tied to the thread that started them.
unsafe impl Send for Pin {}

impl Drop for Pin {
    fn drop(&mut self) {
        // SAFETY: started by `Pin::start`, never used since, ended exactly once.
        unsafe { pam_end(self.raw, PAM_SUCCESS) };
    }
}

/// The pin's conversation: it must never be called (no module runs); if it were, it answers
/// nothing, so a pin can never supply a password.
unsafe extern "C" fn refuse(
    _num_msg: c_int,
    _msg: *mut *const PamMessage,
    _resp: *mut *mut PamResponse,
    _appdata_ptr: *mut c_void,
) -> c_int {
    PAM_CONV_ERR
}

impl Pin {
    /// `pam_start` for `service` with no user; the error is libpam's status.
    fn start(service: &CStr, confdir: Option<&CStr>) -> Result<Self, c_int> {
        let conv = PamConv { conv: Some(refuse), appdata_ptr: ptr::null_mut() };
        let mut raw: *mut PamHandle = ptr::null_mut();
        // SAFETY: live NUL-terminated strings and struct for the call; libpam copies them. A NULL
        // user is allowed (modules would ask for it; none runs).
        let rc = unsafe {
            match confdir {
                Some(dir) => pam_start_confdir(service.as_ptr(), ptr::null(), &conv, dir.as_ptr(), &mut raw),
                None => pam_start(service.as_ptr(), ptr::null(), &conv, &mut raw),
            }
        };
        if rc != PAM_SUCCESS || raw.is_null() {
            return Err(rc);
        }
        Ok(Self { raw })
    }
}

/// The pins of one `pam` verifier, keyed by service name as libpam sees it (lowercased), in
/// least-recently-used order.
pub(super) struct Pins {
    map: Mutex<LruCache<CString, Pin>>,
}

impl std::fmt::Debug for Pins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pins").field("services", &self.lock().len()).finish()
    }
}

impl Pins {
    /// At most `capacity` pinned services.
    pub(super) fn new(capacity: NonZeroUsize) -> Self {
        Self { map: Mutex::new(LruCache::new(capacity)) }
    }

    fn lock(&self) -> MutexGuard<'_, LruCache<CString, Pin>> {
        // A panic while holding the lock leaves the map consistent (each call is one LRU
        // operation), so a poisoned lock is used as is.
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Make sure `service`'s modules stay loaded; call on a pool thread before the transaction.
    ///
    /// Starts a pin on the first request for a service (the `pam_start` runs outside the lock).
    /// If libpam cannot start the service the transaction will fail the same way and say so; no
    /// pin is kept.
    pub(super) fn ensure(&self, service: &CStr, confdir: Option<&CStr>) {
        // libpam lowercases service names (pam_start.c), so `IMAP` and `imap` are one stack.
        let lowered;
        let key = if service.to_bytes().iter().any(u8::is_ascii_uppercase) {
            lowered = lowercase(service);
            lowered.as_c_str()
        } else {
            service
        };
        if self.lock().get(key).is_some() {
            return;
        }
        let pin = match Pin::start(key, confdir) {
            Ok(pin) => pin,
            Err(rc) => {
                tracing::debug!(service = ?key, rc, "pam: cannot pin the service's modules");
                return;
            }
        };
        // Ended outside the lock: a pin another thread made meanwhile, or the one evicted.
        let dropped = {
            let mut map = self.lock();
            if map.contains(key) {
                Some(pin)
            } else {
                tracing::debug!(service = ?key, "pam: keeping the service's modules loaded");
                map.push(key.to_owned(), pin).map(|(evicted, pin)| {
                    tracing::debug!(service = ?evicted, "pam: unpinned the least recently used service");
                    pin
                })
            }
        };
        drop(dropped);
    }

    /// The pinned services, most recently used first.
    #[cfg(test)]
    pub(super) fn services(&self) -> Vec<String> {
        self.lock().iter().map(|(service, _)| service.to_string_lossy().into_owned()).collect()
    }
}

/// `service` with ASCII letters lowercased, as libpam's `tolower` in the C locale does.
fn lowercase(service: &CStr) -> CString {
    let bytes: Vec<u8> = service.to_bytes().iter().map(u8::to_ascii_lowercase).collect();
    // Lowercasing maps no byte to NUL, so the input's lack of NULs carries over.
    CString::new(bytes).unwrap_or_default()
}
