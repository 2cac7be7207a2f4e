//! Arbitrary bytes as an uploaded DICOM instance: `DicomFile::from_bytes`, validation under the
//! strict and the lenient profile, and pixel decoding must return errors, never panic, hang or
//! allocate by a declared length. A decoded image's sample count must match its shape.
//!
//! `pixels()` catches codec panics itself and reports them as `ErrorKind::CodecPanic` (a
//! defect of the codec, not of Granska); libfuzzer-sys's panic hook would abort on those, so
//! this target installs its own hook: caught codec panics are printed once per location and
//! the run goes on, while a panic that escapes any call still aborts (a crash). Set
//! `RUST_BACKTRACE=1` when replaying a crash to see the escaped panic's stack.
#![no_main]

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::{Mutex, Once};

use granska_dicom::{DicomFile, ErrorKind, Profile};
use libfuzzer_sys::fuzz_target;

thread_local! {
    /// Set while inside `pixels()`, whose codec panics are expected to be caught.
    static QUIET: Cell<bool> = const { Cell::new(false) };
    /// The last quiet panic: its location, and its message with (under RUST_BACKTRACE) stack.
    static LAST: RefCell<(String, String)> = const { RefCell::new((String::new(), String::new())) };
}

/// Locations of codec panics already reported, so a long run prints each once.
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
                LAST.set((at, format!("{}{bt}", payload_text(info.payload()))));
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
        Ok(Err(e)) => {
            if let ErrorKind::CodecPanic { ts, .. } = &e.kind {
                let (at, message) = LAST.take();
                let mut seen = SEEN.lock().unwrap_or_else(|p| p.into_inner());
                if seen.get_or_insert_with(HashSet::new).insert(at.clone()) {
                    eprintln!("codec panic caught by pixels() ({ts}) at {at}: {message}");
                }
            }
        }
        Ok(Ok(px)) => {
            let n: usize = px.shape.iter().product();
            assert_eq!(px.samples.len(), n, "decoded sample count does not match shape {:?}", px.shape);
        }
    }
});
