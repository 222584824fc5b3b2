//! Cyrus's own sasldb code, reached through libsasl2's sasldb plugin (`libsasldb.so.2`, Debian
//! package `libsasl2-modules-db`, a dependency of `libsasl2-2`).
//!
//! Why this and not a reader of our own: the plugin is the code `saslpasswd2` writes the file
//! with, built against the same database library (Berkeley DB 5.3 on Debian; LMDB or GDBM on
//! other builds), so the file format, the key layout (`login\0realm\0userPassword`) and the
//! database library are always the distribution's. Cyrus's saslauthd links exactly these two
//! functions (`_sasl_check_db`, `_sasldb_getdata`) from the same sources (auth_sasldb.c); the
//! plugin exports them. No maintained crate reads Berkeley DB, and libdb's C API is a struct of
//! function pointers whose layout only `db.h` (not installed by default) knows. libsasl2's
//! public route (`sasl_server_init` + `sasl_checkpass` with the sasldb auxprop) would split
//! `user@realm` logins and canonicalise names, which Cyrus's saslauthd does not do.
//!
//! Read-only: `_sasldb_getdata` opens the file with `DB_RDONLY` and no database environment,
//! so it never creates the file and takes no lock that `saslpasswd2` could wait on (exactly as
//! Cyrus's saslauthd). Each lookup opens and closes the file, so edits apply at once.
//!
//! Secrets: the plugin copies the stored password into a buffer it `malloc`s and frees through
//! our `free`, which zeroes every block before freeing it; libdb's own `free` is pointed at the
//! same function (`db_env_set_func_free`), so its page buffers are zeroed too. The buffer we
//! pass for the value is zeroed on drop.

use std::ffi::{CStr, CString, c_char, c_int, c_uint, c_ulong, c_void};
use std::path::{Path, PathBuf};

use zeroize::{Zeroize, Zeroizing};

/// The plugin's file name (soname first).
const PLUGIN_NAMES: [&str; 2] = ["libsasldb.so.2", "libsasldb.so"];
/// The property saslpasswd2 stores the plaintext password under.
const USER_PASSWORD: &CStr = c"userPassword";
/// Largest stored value read. Cyrus reads at most 1024 bytes; a bigger limit costs nothing and
/// keeps the plugin off its `SASL_BUFOVER` path, which returns without freeing the value.
const MAX_VALUE: usize = 8192;
/// The plugin writes one byte past `max_out` (and its NUL after that) for a value of exactly
/// `max_out + 1` bytes: two spare bytes keep that inside our buffer.
const VALUE_BUFFER: usize = MAX_VALUE + 2;

// libsasl2's constants (sasl.h).
const SASL_OK: c_int = 0;
const SASL_FAIL: c_int = -1;
const SASL_BUFOVER: c_int = -3;
const SASL_NOUSER: c_int = -20;
const SASL_CB_GETOPT: c_ulong = 1;
const SASL_CB_VERIFYFILE: c_ulong = 4;

/// The length of each message buffer in [`Call`] (`MESSAGE_LEN` in log_callbacks.c).
const MESSAGE_LEN: usize = 512;

/// One lookup's context, passed to the plugin as its `sasl_conn_t *` and handed back to every
/// callback; the layout is `struct call` in log_callbacks.c.
#[repr(C)]
struct Call {
    /// The database file (`sasldb_path`), NUL-terminated.
    path: *const c_char,
    /// The last message the plugin logged (`utils->log`), NUL-terminated, or empty.
    logged: [u8; MESSAGE_LEN],
    /// The last error the plugin set (`utils->seterror`), NUL-terminated, or empty.
    error: [u8; MESSAGE_LEN],
}

type GetoptFn =
    unsafe extern "C" fn(*mut c_void, *const c_char, *const c_char, *mut *const c_char, *mut c_uint) -> c_int;
type VerifyFileFn = unsafe extern "C" fn(*mut c_void, *const c_char, c_int) -> c_int;
type GetCallbackFn =
    unsafe extern "C" fn(*mut c_void, c_ulong, *mut *const c_void, *mut *mut c_void) -> c_int;
type FreeFn = unsafe extern "C" fn(*mut c_void);
type CheckDbFn = unsafe extern "C" fn(*const SaslUtils, *mut c_void) -> c_int;
type GetDataFn = unsafe extern "C" fn(
    *const SaslUtils,
    *mut c_void,
    *const c_char,
    *const c_char,
    *const c_char,
    *mut c_char,
    usize,
    *mut usize,
) -> c_int;
type SetFuncFreeFn = unsafe extern "C" fn(Option<FreeFn>) -> c_int;

unsafe extern "C" {
    // log_callbacks.c: printf-style, so written in C (see there).
    fn saslauthd_rs_sasldb_log(conn: *mut c_void, level: c_int, fmt: *const c_char, ...);
    fn saslauthd_rs_sasldb_seterror(conn: *mut c_void, flags: c_uint, fmt: *const c_char, ...);
}

/// `sasl_utils_t` of libsasl2 2.1.x (saslplug.h): an `int` then 48 pointers; the sasldb code
/// uses only the allocator, `getcallback`, `log` and `seterror`, the rest stay NULL (as in
/// Cyrus's auth_sasldb.c, which zero-fills the struct). 392 bytes on LP64, checked with gcc.
#[repr(C)]
struct SaslUtils {
    version: c_int,
    conn_rpool_getopt: [*const c_void; 4],
    malloc: unsafe extern "C" fn(usize) -> *mut c_void,
    calloc: unsafe extern "C" fn(usize, usize) -> *mut c_void,
    realloc: unsafe extern "C" fn(*mut c_void, usize) -> *mut c_void,
    free: FreeFn,
    /// mutex_* (4), MD5 (3), hmac_md5 (5), mkchal … setprop (10).
    unused_before_getcallback: [*const c_void; 22],
    getcallback: GetCallbackFn,
    log: unsafe extern "C" fn(*mut c_void, c_int, *const c_char, ...),
    seterror: unsafe extern "C" fn(*mut c_void, c_uint, *const c_char, ...),
    /// spare_fptr, prop_* (11), auxprop_store, spare_fptr1, spare_fptr2.
    unused_after_seterror: [*const c_void; 15],
}

impl SaslUtils {
    fn new() -> Self {
        Self {
            version: 0,
            conn_rpool_getopt: [std::ptr::null(); 4],
            malloc: libc::malloc,
            calloc: libc::calloc,
            realloc: libc::realloc,
            free: zeroing_free,
            unused_before_getcallback: [std::ptr::null(); 22],
            getcallback: get_callback,
            log: saslauthd_rs_sasldb_log,
            seterror: saslauthd_rs_sasldb_seterror,
            unused_after_seterror: [std::ptr::null(); 15],
        }
    }
}

/// `free` that zeroes the whole block first: the plugin frees the stored password through it.
unsafe extern "C" fn zeroing_free(ptr: *mut c_void) {
    if ptr.is_null() {
        return;
    }
    // SAFETY: `ptr` came from libc's malloc/calloc/realloc (the plugin and libdb allocate with
    // them) and is live until the free below; malloc_usable_size gives its writable length.
    unsafe {
        let len = libc::malloc_usable_size(ptr);
        std::slice::from_raw_parts_mut(ptr.cast::<u8>(), len).zeroize();
        libc::free(ptr);
    }
}

/// `sasl_getcallback_t`: the plugin asks for `getopt` (to find `sasldb_path`) and `verifyfile`.
unsafe extern "C" fn get_callback(
    conn: *mut c_void,
    id: c_ulong,
    proc_: *mut *const c_void,
    context: *mut *mut c_void,
) -> c_int {
    let callback: *const c_void = match id {
        SASL_CB_GETOPT => getopt as GetoptFn as *const c_void,
        SASL_CB_VERIFYFILE => verify_file as VerifyFileFn as *const c_void,
        _ => return SASL_FAIL,
    };
    // SAFETY: the plugin passes valid out-pointers (db_berkeley.c, _sasl_check_db).
    unsafe {
        *proc_ = callback;
        *context = conn;
    }
    SASL_OK
}

/// `sasl_getopt_t`: only `sasldb_path` is answered, with the file of this lookup.
unsafe extern "C" fn getopt(
    context: *mut c_void,
    _plugin: *const c_char,
    option: *const c_char,
    result: *mut *const c_char,
    len: *mut c_uint,
) -> c_int {
    if context.is_null() || option.is_null() || result.is_null() {
        return SASL_FAIL;
    }
    // SAFETY: `option` is a NUL-terminated name from the plugin; `context` is our `Call`.
    let (option, call) = unsafe { (CStr::from_ptr(option), &*context.cast::<Call>()) };
    if option != c"sasldb_path" || call.path.is_null() {
        return SASL_FAIL;
    }
    // SAFETY: `result` is a valid out-pointer; `len`, when given, too; `path` is NUL-terminated
    // and outlives the lookup.
    unsafe {
        *result = call.path;
        if !len.is_null() {
            *len = c_uint::try_from(CStr::from_ptr(call.path).count_bytes()).unwrap_or(c_uint::MAX);
        }
    }
    SASL_OK
}

/// `sasl_verifyfile_t`: every file is fine (Cyrus's auth_sasldb.c says the same).
unsafe extern "C" fn verify_file(_context: *mut c_void, _file: *const c_char, _kind: c_int) -> c_int {
    SASL_OK
}

/// What one lookup found.
pub(super) enum Lookup {
    /// The stored `userPassword`, zeroed on drop.
    Found(Zeroizing<Vec<u8>>),
    /// No such (login, realm) in the file.
    NoSuchUser,
    /// The file is missing, unreadable or not a sasldb; the text says which (for the log).
    Unavailable(String),
}

/// The loaded plugin and the two functions used.
pub(super) struct Plugin {
    /// Where it was loaded from (for the start-up log).
    path: PathBuf,
    get_data: GetDataFn,
    /// Keeps the library mapped for as long as the function pointers live.
    _handle: Handle,
}

/// A `dlopen` handle, never closed: libdb keeps global state a `dlclose` would pull away.
struct Handle(*mut c_void);

// SAFETY: the handle is only used by `dlsym` in `Plugin::load`; the plugin's functions are
// reentrant (each lookup opens its own database handle; the only global, `db_ok`, is set once
// in `load` before any lookup).
unsafe impl Send for Handle {}
// SAFETY: as above.
unsafe impl Sync for Handle {}

impl Plugin {
    /// Find and load the plugin: each directory of `SASL_PATH` (colon-separated, as libsasl2
    /// reads it), then the distribution plugin directories. `Err` says where it looked.
    pub(super) fn load() -> Result<Self, String> {
        let mut tried = Vec::new();
        for dir in plugin_dirs() {
            for name in PLUGIN_NAMES {
                let path = dir.join(name);
                if !path.exists() {
                    continue;
                }
                match Self::load_from(&path) {
                    Ok(plugin) => return Ok(plugin),
                    Err(e) => tried.push(format!("{}: {e}", path.display())),
                }
            }
        }
        if tried.is_empty() {
            Err("libsasl2's sasldb plugin (libsasldb.so.2, Debian package libsasl2-modules-db) not found \
                 in $SASL_PATH or the sasl2 plugin directories"
                .to_owned())
        } else {
            Err(format!("libsasl2's sasldb plugin is unusable: {}", tried.join("; ")))
        }
    }

    fn load_from(path: &Path) -> Result<Self, String> {
        let c_path =
            CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| "NUL in path".to_owned())?;
        // SAFETY: a NUL-terminated path; RTLD_LOCAL keeps its symbols out of the global scope.
        let handle = unsafe { libc::dlopen(c_path.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
        if handle.is_null() {
            return Err(dl_error());
        }
        let handle = Handle(handle);
        let symbol = |name: &CStr| {
            // SAFETY: a live handle and a NUL-terminated name.
            let ptr = unsafe { libc::dlsym(handle.0, name.as_ptr()) };
            (!ptr.is_null()).then_some(ptr)
        };
        let (Some(check_db), Some(get_data)) = (symbol(c"_sasl_check_db"), symbol(c"_sasldb_getdata")) else {
            return Err("it exports no _sasl_check_db/_sasldb_getdata".to_owned());
        };
        // SAFETY: these are the plugin's functions of these C signatures (sasldb/sasldb.h).
        let (check_db, get_data) = unsafe {
            (
                std::mem::transmute::<*mut c_void, CheckDbFn>(check_db),
                std::mem::transmute::<*mut c_void, GetDataFn>(get_data),
            )
        };
        // libdb (Berkeley DB builds only) frees its page buffers through this hook from now on.
        if let Some(set_free) = symbol(c"db_env_set_func_free") {
            // SAFETY: Berkeley DB's `int db_env_set_func_free(void (*)(void *))`, called before
            // any database is opened; `zeroing_free` frees what libc's malloc, libdb's default
            // allocator, returned.
            let rc =
                unsafe { std::mem::transmute::<*mut c_void, SetFuncFreeFn>(set_free)(Some(zeroing_free)) };
            if rc != 0 {
                tracing::debug!("sasldb: db_env_set_func_free failed ({rc}); libdb frees without zeroing");
            }
        }
        // Marks the database "checked" (a global in the plugin), as Cyrus does once per request;
        // with our verifyfile callback it cannot fail.
        let mut call = Call::new(c"");
        let utils = SaslUtils::new();
        // SAFETY: `utils` and `call` are live for the call; the plugin only calls back into the
        // functions `utils` names, with `call` as the connection.
        let rc = unsafe { check_db(&utils, (&raw mut call).cast()) };
        if rc != SASL_OK {
            return Err(format!("_sasl_check_db failed ({rc}): {}", call.message()));
        }
        Ok(Self { path: path.to_owned(), get_data, _handle: handle })
    }

    /// Where the plugin was loaded from.
    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// The `userPassword` of (`login`, `realm`) in `file`.
    pub(super) fn user_password(&self, file: &CStr, login: &CStr, realm: &CStr) -> Lookup {
        let mut call = Call::new(file);
        let utils = SaslUtils::new();
        let mut value = Zeroizing::new(vec![0u8; VALUE_BUFFER]);
        let mut len = 0usize;
        // SAFETY: every pointer is live and NUL-terminated where a string is expected; `value`
        // has MAX_VALUE + 2 writable bytes (see VALUE_BUFFER); `len` is a valid out-pointer.
        let rc = unsafe {
            (self.get_data)(
                &utils,
                (&raw mut call).cast(),
                login.as_ptr(),
                realm.as_ptr(),
                USER_PASSWORD.as_ptr(),
                value.as_mut_ptr().cast(),
                MAX_VALUE,
                &mut len,
            )
        };
        match rc {
            SASL_OK if len <= MAX_VALUE => {
                value.truncate(len);
                Lookup::Found(value)
            }
            // The plugin sets an error for a key it did not find; when it sets none, the file
            // itself was missing (it turns ENOENT into "no user" when reading).
            SASL_NOUSER if call.error[0] != 0 => Lookup::NoSuchUser,
            SASL_NOUSER => Lookup::Unavailable("no such file".to_owned()),
            SASL_OK | SASL_BUFOVER => {
                Lookup::Unavailable(format!("stored value longer than {MAX_VALUE} bytes"))
            }
            rc => Lookup::Unavailable(format!("{} ({rc})", call.message())),
        }
    }
}

impl Call {
    fn new(path: &CStr) -> Self {
        Self { path: path.as_ptr(), logged: [0; MESSAGE_LEN], error: [0; MESSAGE_LEN] }
    }

    /// What the plugin said: its log line if it wrote one (it names the cause), else its error.
    fn message(&self) -> String {
        let text = |buf: &[u8]| {
            CStr::from_bytes_until_nul(buf).map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
        };
        let logged = text(&self.logged);
        if logged.is_empty() { text(&self.error) } else { logged }
    }
}

/// `dlerror()`'s text.
fn dl_error() -> String {
    // SAFETY: dlerror returns NULL or a NUL-terminated string valid until the next dl call.
    let err = unsafe { libc::dlerror() };
    if err.is_null() {
        "dlopen failed".to_owned()
    } else {
        // SAFETY: non-NULL, NUL-terminated, not freed before we copy it.
        unsafe { CStr::from_ptr(err) }.to_string_lossy().into_owned()
    }
}

/// Directories to look for the plugin in: `SASL_PATH`, then `/usr/lib/<multiarch>/sasl2` (the
/// Debian/Ubuntu plugin dir; a wrong architecture's copy fails to load and the next is tried),
/// `/usr/lib64/sasl2` (Fedora, SUSE), `/usr/lib/sasl2`, `/usr/local/lib/sasl2`.
fn plugin_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> =
        std::env::var_os("SASL_PATH").map(|p| std::env::split_paths(&p).collect()).unwrap_or_default();
    if let Ok(entries) = std::fs::read_dir("/usr/lib") {
        let mut multiarch: Vec<PathBuf> = entries
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains("-linux-"))
            .map(|e| e.path().join("sasl2"))
            .collect();
        multiarch.sort();
        dirs.extend(multiarch);
    }
    dirs.extend(["/usr/lib64/sasl2", "/usr/lib/sasl2", "/usr/local/lib/sasl2"].map(PathBuf::from));
    dirs
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn utils_has_libsasl2s_layout() {
        // offsetof(sasl_utils_t, free/getcallback/log/seterror) and sizeof, from gcc on Debian 12.
        assert_eq!(std::mem::offset_of!(SaslUtils, free), 64);
        assert_eq!(std::mem::offset_of!(SaslUtils, getcallback), 248);
        assert_eq!(std::mem::offset_of!(SaslUtils, log), 256);
        assert_eq!(std::mem::offset_of!(SaslUtils, seterror), 264);
        assert_eq!(size_of::<SaslUtils>(), 392);
    }

    #[test]
    fn zeroing_free_takes_null_and_live_blocks() {
        // SAFETY: NULL is a no-op, as for free(3); a fresh malloc block is freed exactly once.
        unsafe {
            zeroing_free(std::ptr::null_mut());
            let p = libc::malloc(100);
            assert!(!p.is_null());
            zeroing_free(p);
        }
    }
}
