//! Arbitrary bytes as an uploaded DICOM instance: `DicomFile::from_bytes`, validation under the
//! strict and the lenient profile, and pixel decoding must return errors, never panic, hang or
//! allocate by a declared length. A decoded image's sample count must match its shape.
//!
//! `pixels()` catches codec panics itself and reports them as `ErrorKind::CodecPanic` (a
//! defect of the codec, not of Granska); libfuzzer-sys's panic hook would abort on those, so
//! this target installs its own hook: a panic inside `pixels()` is printed once per location
//! and the run goes on when `pixels()` catches it, while a panic that escapes any call (or
//! cannot unwind) still aborts: a crash. Set `RUST_BACKTRACE=1` when replaying a crash to see
//! the escaped panic's stack.
#![no_main]

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::{Mutex, Once};

use granska_dicom::{DicomFile, Profile};
use libfuzzer_sys::fuzz_target;

thread_local! {
    /// Set while inside `pixels()`, whose codec panics are expected to be caught.
    static QUIET: Cell<bool> = const { Cell::new(false) };
    /// The last quiet panic: its location, and its message with (under RUST_BACKTRACE) stack.
    static LAST: RefCell<(String, String)> = const { RefCell::new((String::new(), String::new())) };
}

/// Locations of panics inside `pixels()` already printed, so a long run prints each once.
static SEEN: Mutex<Option<HashSet<String>>> = Mutex::new(None);

fn install_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if QUIET.get() {
                let at = info.location().map(|l| format!("{}:{}", l.file(), l.line())).unwrap_or_default();
                let bt = std::backtrace::Backtrace::capture();
                let bt = match bt.status() {
                    std::backtrace::BacktraceStatus::Captured => format!("\n{bt}"),
                    _ => String::new(),
                };
                let message = payload_text(info.payload());
                // Printed here, not after the call: a panic that cannot unwind aborts first.
                let mut seen = SEEN.lock().unwrap_or_else(|p| p.into_inner());
                if seen.get_or_insert_with(HashSet::new).insert(at.clone()) {
                    eprintln!("panic inside DicomFile::pixels at {at}: {message}");
                }
                LAST.set((at, format!("{message}{bt}")));
            } else {
                default(info);
            }
        }));
    });
}

fn payload_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic without a message".to_owned())
}

fuzz_target!(|data: &[u8]| {
    install_hook();
    let Ok(file) = DicomFile::from_bytes(data, "fuzz") else { return };
    let _ = file.identifying_uids();
    let _ = file.mammogram(Profile::Strict);
    let _ = file.mammogram(Profile::Lenient);

    QUIET.set(true);
    let decoded = catch_unwind(AssertUnwindSafe(|| file.pixels()));
    QUIET.set(false);
    match decoded {
        Err(payload) => {
            let (at, message) = LAST.take();
            eprintln!("panic escaped DicomFile::pixels at {at}: {message}");
            resume_unwind(payload);
        }
        // A codec panic caught by pixels() (ErrorKind::CodecPanic) is an error like any other.
        Ok(Err(_)) => {}
        Ok(Ok(px)) => {
            let n: usize = px.shape.iter().product();
            assert_eq!(px.samples.len(), n, "decoded sample count does not match shape {:?}", px.shape);
        }
    }
});
